// See random_id.h.
#include "libs/common/random_id.h"

#include <random>

namespace paxoskv {

uint64_t RandomId() {
  std::random_device device;
  uint64_t id = 0;
  while (id == 0) id = (uint64_t{device()} << 32) ^ uint64_t{device()};
  return id;
}

}  // namespace paxoskv
