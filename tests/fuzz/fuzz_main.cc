// libFuzzer's entry point for one harness of fuzz_targets.h: tests/fuzz/CMakeLists.txt builds
// this file once per harness, with -DPAXOSKV_FUZZ_ENTRY=<the harness function>.
#include <cstddef>
#include <cstdint>

#include <google/protobuf/stubs/logging.h>

#include "tests/fuzz/fuzz_targets.h"

// Raw inputs that do not parse make libprotobuf log an error each: silence it, the fuzzer's
// own output is what matters.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return paxoskv::fuzz::PAXOSKV_FUZZ_ENTRY(data, size);
}
