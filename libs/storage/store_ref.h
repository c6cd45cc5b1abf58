// StoreRef: a non-owning AcceptorStore that forwards to a store owned elsewhere. Lets a test
// (or simulator) keep a FaultyStore across a simulated crash while each incarnation of a
// replica receives its own std::unique_ptr<AcceptorStore>.
// Thread-safety: that of the target store. REQUIRES: the target outlives the StoreRef.
#pragma once

#include <memory>

#include "libs/storage/acceptor_store.h"

namespace paxoskv::storage {

std::unique_ptr<AcceptorStore> MakeStoreRef(AcceptorStore* target);

}  // namespace paxoskv::storage
