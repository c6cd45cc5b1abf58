// SerializeDeterministic: a message's bytes with map fields in key order, so that equal
// messages give equal bytes (snapshots are compared byte for byte; the masters compare stored
// states). Pure function; thread-safe.
#pragma once

#include <string>

#include <google/protobuf/message_lite.h>

namespace paxoskv {

std::string SerializeDeterministic(const google::protobuf::MessageLite& message);

}  // namespace paxoskv
