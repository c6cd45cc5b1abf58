// FuzzInput: reads small integers, flags and byte strings off a fuzzer's input, front to back,
// so that a harness can decode a structured stream of operations from arbitrary bytes. Past
// the end every read returns zeros / empty strings, so any input decodes to something.
// Plain C++ (no libFuzzer header): the harnesses also build with GCC, where the GoogleTest in
// replay_test.cc replays the corpus and the regression inputs through them.
// Not thread-safe; one per harness call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace paxoskv::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  size_t remaining() const { return empty() ? 0 : size_ - pos_; }

  uint8_t Byte() { return empty() ? 0 : data_[pos_++]; }
  bool Bool() { return (Byte() & 1) != 0; }
  // Little-endian; each read is its own statement (operands of | are unsequenced).
  uint16_t U16() {
    const uint16_t low = Byte();
    return static_cast<uint16_t>(low | (Byte() << 8));
  }
  uint32_t U32() {
    const uint32_t low = U16();
    return low | (static_cast<uint32_t>(U16()) << 16);
  }
  uint64_t U64() {
    const uint64_t low = U32();
    return low | (static_cast<uint64_t>(U32()) << 32);
  }
  // A value in [0, n) (0 when n is 0).
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Byte() % n; }

  // Up to `max` bytes, the length first (one byte; 255 announces a two-byte length).
  std::string_view Bytes(size_t max) {
    size_t n = Byte();
    if (n == 255) n = U16();
    if (n > max) n = max;
    if (n > remaining()) n = remaining();
    std::string_view out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace paxoskv::fuzz

// A property the harness checks broke: print it and abort, which libFuzzer reports as a crash
// (and the replay test as a death). Used for the harness's own checks; the code under test
// reports its broken invariants through PAXOSKV_CHECK, which aborts the same way.
#define FUZZ_CHECK(condition, ...)                                                 \
  do {                                                                             \
    if (!(condition)) {                                                            \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: ", __FILE__, __LINE__,   \
                   #condition);                                                    \
      std::fprintf(stderr, __VA_ARGS__);                                           \
      std::fprintf(stderr, "\n");                                                  \
      std::abort();                                                                \
    }                                                                              \
  } while (0)
