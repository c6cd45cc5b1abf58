// Durable file writes shared by the replica's snapshot store and the master's ring store:
// write + fsync + rename + directory fsync, so a file holds all of its new contents or none.
// Thread-safe (no shared state).
#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace paxoskv {

// kInternal naming the call, the path and errno's text.
absl::Status ErrnoError(absl::string_view what, const std::string& path);
// Opens `path` with `flags` (O_CLOEXEC added) and fsyncs it.
absl::Status FsyncPath(const std::string& path, int flags);
// Writes `data` to directory/name through directory/name.tmp, durably (see above).
absl::Status WriteFileDurably(const std::string& directory, const std::string& name,
                              absl::string_view data);

}  // namespace paxoskv
