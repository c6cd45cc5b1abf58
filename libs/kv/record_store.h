// The keys and values of a KvStateMachine in (hash, key) order, packed for memory.
// The B-tree holds a 16-byte handle per key: its hash and where its bytes are. The bytes
// (key size, value size, key, value) are packed into 256 KiB chunks that are mapped from the
// kernel and given back whole; a record larger than 64 KiB gets a mapping of its own. There
// is no per-key heap block, so no allocator header or rounding per key.
// A value replaced by one of the same size is overwritten in place. Otherwise the old bytes
// become garbage in their chunk. A chunk less than half live is compacted by a later write
// (one chunk per write at most): its live records move to the chunk being filled and the
// chunk is unmapped. The bytes mapped thus stay within about twice the live bytes, and close
// to them while values keep their sizes.
// Not thread-safe: owned by one KvStateMachine. The const members may run concurrently with
// each other (they never compact); the others need exclusive access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/container/btree_set.h"

namespace paxoskv::kv {

// A position in the key order: (hash, key).
struct KeyRef {
  uint64_t hash;
  std::string_view key;
};

inline bool KeyLess(const KeyRef& a, const KeyRef& b) {
  if (a.hash != b.hash) return a.hash < b.hash;
  return a.key < b.key;
}

class RecordStore {
 public:
  // One key's handle: its hash and where its bytes are.
  class Record {
   public:
    uint64_t hash() const { return hash_; }
    std::string_view key() const;
    std::string_view value() const;
    KeyRef ref() const { return {hash_, key()}; }

   private:
    friend class RecordStore;
    Record(uint64_t hash, const char* bytes) : hash_(hash), bytes_(bytes) {}

    uint64_t hash_;
    // Moved by compaction, which never changes the order (it depends on the hash and the key).
    mutable const char* bytes_;
  };

  struct Less {
    using is_transparent = void;
    bool operator()(const Record& a, const Record& b) const { return KeyLess(a.ref(), b.ref()); }
    bool operator()(const Record& a, const KeyRef& b) const { return KeyLess(a.ref(), b); }
    bool operator()(const KeyRef& a, const Record& b) const { return KeyLess(a, b.ref()); }
  };
  using Set = absl::btree_set<Record, Less>;

  RecordStore() = default;
  ~RecordStore();
  RecordStore(const RecordStore&) = delete;
  RecordStore& operator=(const RecordStore&) = delete;

  // The keys in order, for walks and lookups (a handle is valid until the next Put or Erase).
  const Set& set() const { return set_; }
  size_t size() const { return set_.size(); }
  const Record* Find(const KeyRef& key) const;

  // Sets the key's value, inserting the key if absent; returns the change in key + value
  // bytes. key.hash must be ring::StableHash(key.key): compaction looks keys up by it.
  int64_t Put(const KeyRef& key, std::string_view value);
  // Removes the key; returns its key + value bytes, 0 when it was absent (no key is empty).
  size_t Erase(const KeyRef& key);

  // For tests and stats: bytes of the records that are live (with their two sizes each), and
  // bytes of every chunk mapped.
  size_t live_bytes() const { return live_bytes_; }
  size_t mapped_bytes() const { return mapped_bytes_; }

 private:
  struct Chunk;

  // Room for `size` record bytes: at the end of the chunk being filled, or a new one.
  char* Allocate(size_t size);
  // The record of `size` bytes at `bytes` is no longer live.
  void Release(const char* bytes, size_t size);
  // Compacts one chunk waiting for it, if any.
  void CompactOne();
  void Unmap(Chunk* chunk);

  Set set_;
  Chunk* filling_ = nullptr;  // the chunk new records go to
  Chunk* chunks_ = nullptr;   // every chunk mapped (a doubly linked list)
  std::vector<Chunk*> to_compact_;
  size_t live_bytes_ = 0;
  size_t mapped_bytes_ = 0;
};

}  // namespace paxoskv::kv
