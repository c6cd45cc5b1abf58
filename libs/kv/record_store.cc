// RecordStore: B-tree handles over records packed in kernel-mapped chunks (record_store.h).
#include "libs/kv/record_store.h"

#include <google/protobuf/io/coded_stream.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "libs/common/check.h"
#include "libs/ring/hash_ring.h"

namespace paxoskv::kv {
namespace {

using google::protobuf::io::CodedOutputStream;

// A chunk is mapped at an address aligned to its size, so the chunk of any record in it is
// the record's address rounded down. A record of its own mapping starts in that mapping's
// first kChunkBytes as well.
constexpr size_t kChunkBytes = 256 << 10;
// Larger records get a mapping of their own, so a chunk wastes at most this at its end.
constexpr size_t kOwnMappingAbove = kChunkBytes / 4;

size_t PageBytes() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// A record: varint key size, varint value size, key bytes, value bytes.
const char* ReadSize(const char* p, uint32_t* size) {
  uint32_t value = 0;
  for (int shift = 0;; shift += 7) {
    const auto byte = static_cast<uint8_t>(*p++);
    value |= static_cast<uint32_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) break;
  }
  *size = value;
  return p;
}

size_t RecordBytes(size_t key_size, size_t value_size) {
  return CodedOutputStream::VarintSize32(static_cast<uint32_t>(key_size)) +
         CodedOutputStream::VarintSize32(static_cast<uint32_t>(value_size)) + key_size + value_size;
}

struct Decoded {
  std::string_view key;
  std::string_view value;
  size_t bytes;  // the whole record
};

Decoded Decode(const char* record) {
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  const char* p = ReadSize(ReadSize(record, &key_size), &value_size);
  return {{p, key_size},
          {p + key_size, value_size},
          static_cast<size_t>(p - record) + key_size + value_size};
}

void Encode(char* to, std::string_view key, std::string_view value) {
  auto* p = reinterpret_cast<uint8_t*>(to);
  p = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(key.size()), p);
  p = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(value.size()), p);
  std::memcpy(p, key.data(), key.size());
  if (!value.empty()) std::memcpy(p + key.size(), value.data(), value.size());
}

}  // namespace

// At the start of every mapping.
struct RecordStore::Chunk {
  Chunk* prev = nullptr;
  Chunk* next = nullptr;
  size_t mapped = 0;     // bytes mapped, this header included
  size_t used = 0;       // bytes handed out, this header included
  size_t live = 0;       // bytes of live records
  bool waiting = false;  // in to_compact_

  char* base() { return reinterpret_cast<char*>(this); }
  // Worth compacting: less than half of what it maps is live (what a chunk wastes at its end,
  // less than a quarter of it, counts against it too).
  bool sparse() const { return live * 2 < mapped; }

  static Chunk* Of(const char* record) {
    return reinterpret_cast<Chunk*>(reinterpret_cast<uintptr_t>(record) & ~(kChunkBytes - 1));
  }
};

std::string_view RecordStore::Record::key() const { return Decode(bytes_).key; }
std::string_view RecordStore::Record::value() const { return Decode(bytes_).value; }

RecordStore::~RecordStore() {
  while (chunks_ != nullptr) {
    Chunk* next = chunks_->next;
    PAXOSKV_CHECK(munmap(chunks_, chunks_->mapped) == 0) << "munmap: " << std::strerror(errno);
    chunks_ = next;
  }
}

const RecordStore::Record* RecordStore::Find(const KeyRef& key) const {
  auto it = set_.find(key);
  return it == set_.end() ? nullptr : &*it;
}

int64_t RecordStore::Put(const KeyRef& key, std::string_view value) {
  auto it = set_.find(key);
  if (it != set_.end() && it->value().size() == value.size()) {
    // In place: the same bytes, so no chunk's accounting changes.
    if (!value.empty())
      std::memcpy(const_cast<char*>(it->value().data()), value.data(), value.size());
    return 0;
  }
  int64_t change = static_cast<int64_t>(value.size());
  const size_t bytes = RecordBytes(key.key.size(), value.size());
  char* record = Allocate(bytes);
  Encode(record, key.key, value);
  if (it == set_.end()) {
    set_.insert(Record(key.hash, record));
    change += static_cast<int64_t>(key.key.size());
  } else {
    const char* old = it->bytes_;
    const Decoded decoded = Decode(old);
    change -= static_cast<int64_t>(decoded.value.size());
    it->bytes_ = record;
    Release(old, decoded.bytes);
  }
  CompactOne();
  return change;
}

size_t RecordStore::Erase(const KeyRef& key) {
  auto it = set_.find(key);
  if (it == set_.end()) return 0;
  const char* record = it->bytes_;
  set_.erase(it);
  const Decoded decoded = Decode(record);
  Release(record, decoded.bytes);
  CompactOne();
  return decoded.key.size() + decoded.value.size();
}

char* RecordStore::Allocate(size_t bytes) {
  const bool own = bytes > kOwnMappingAbove;
  if (own || filling_ == nullptr || filling_->used + bytes > filling_->mapped) {
    const size_t page = PageBytes();
    const size_t size = own ? (sizeof(Chunk) + bytes + page - 1) / page * page : kChunkBytes;
    // Map size + kChunkBytes and trim both ends to an aligned span.
    const size_t span = size + kChunkBytes;
    void* mapped = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    PAXOSKV_CHECK(mapped != MAP_FAILED)
        << "mapping " << span << " bytes for records: " << std::strerror(errno);
    const auto start = reinterpret_cast<uintptr_t>(mapped);
    const uintptr_t aligned = (start + kChunkBytes - 1) & ~(kChunkBytes - 1);
    if (aligned > start) munmap(mapped, aligned - start);
    if (start + span > aligned + size) {
      munmap(reinterpret_cast<void*>(aligned + size), start + span - aligned - size);
    }
    Chunk* chunk = new (reinterpret_cast<void*>(aligned)) Chunk;
    chunk->mapped = size;
    chunk->used = sizeof(Chunk);
    chunk->next = chunks_;
    if (chunks_ != nullptr) chunks_->prev = chunk;
    chunks_ = chunk;
    mapped_bytes_ += size;
    if (!own) {
      Chunk* sealed = filling_;
      filling_ = chunk;
      if (sealed != nullptr) {
        // Sealed: from now on only compaction or the death of its records changes it.
        if (sealed->live == 0) {
          Unmap(sealed);
        } else if (sealed->sparse()) {
          sealed->waiting = true;
          to_compact_.push_back(sealed);
        }
      }
    }
    if (own) {
      chunk->used += bytes;
      chunk->live = bytes;
      live_bytes_ += bytes;
      return chunk->base() + sizeof(Chunk);
    }
  }
  char* record = filling_->base() + filling_->used;
  filling_->used += bytes;
  filling_->live += bytes;
  live_bytes_ += bytes;
  return record;
}

void RecordStore::Release(const char* record, size_t bytes) {
  Chunk* chunk = Chunk::Of(record);
  PAXOSKV_CHECK(chunk->live >= bytes) << "record store: releasing more than is live";
  chunk->live -= bytes;
  live_bytes_ -= bytes;
  if (chunk == filling_) return;  // judged when sealed
  if (chunk->live == 0) {
    Unmap(chunk);
  } else if (!chunk->waiting && chunk->sparse()) {
    chunk->waiting = true;
    to_compact_.push_back(chunk);
  }
}

void RecordStore::CompactOne() {
  if (to_compact_.empty()) return;
  Chunk* chunk = to_compact_.back();
  to_compact_.pop_back();
  chunk->waiting = false;
  const char* end = chunk->base() + chunk->used;
  for (const char* p = chunk->base() + sizeof(Chunk); p < end && chunk->live > 0;) {
    const Decoded record = Decode(p);
    // Live when the key's handle points here; otherwise a value replaced or a key erased.
    auto it = set_.find(KeyRef{ring::StableHash(record.key), record.key});
    if (it != set_.end() && it->bytes_ == p) {
      char* to = Allocate(record.bytes);  // in the filling chunk, never this sealed one
      std::memcpy(to, p, record.bytes);
      it->bytes_ = to;
      chunk->live -= record.bytes;
      live_bytes_ -= record.bytes;
    }
    p += record.bytes;
  }
  PAXOSKV_CHECK(chunk->live == 0) << "record store: " << chunk->live
                                  << " live bytes left in a compacted chunk";
  Unmap(chunk);
}

void RecordStore::Unmap(Chunk* chunk) {
  if (chunk->waiting) std::erase(to_compact_, chunk);
  if (chunk->prev != nullptr) chunk->prev->next = chunk->next;
  if (chunk->next != nullptr) chunk->next->prev = chunk->prev;
  if (chunks_ == chunk) chunks_ = chunk->next;
  if (filling_ == chunk) filling_ = nullptr;
  mapped_bytes_ -= chunk->mapped;
  PAXOSKV_CHECK(munmap(chunk, chunk->mapped) == 0) << "munmap: " << std::strerror(errno);
}

}  // namespace paxoskv::kv
