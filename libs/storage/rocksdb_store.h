// RocksDbStore: the durable AcceptorStore of a replica, in one data directory:
//   <dir>/rocksdb/                 RocksDB (WAL on, every synced Write fsyncs the WAL)
//     "I"                -> identity: shard_id, replica_id, incarnation (3 x 8 bytes big-endian;
//                           16 bytes, without the incarnation, before it existed)
//     "P"                -> promised ballot (serialized paxoskv.v1.Ballot)
//     "C"                -> chosen_through (8 bytes big-endian)
//     "S"                -> snapshot meta: last_slot, bytes, chunks, digest (4 x 8 bytes BE)
//     "E" + slot (8 B BE)-> serialized paxoskv.v1.Entry; big-endian keys iterate in slot order
//   <dir>/snapshots/snapshot-<slot>-<digest>.bin   chunked snapshot data (written, fsynced,
//                    renamed, directory fsynced, then made current by the "S" record)
// Thread-safe for one writer of acceptor state (Write/CheckIdentity), snapshot writers on
// other threads (commits are serialised) and concurrent readers (OpenSnapshot, Load,
// ApproximateSizeBytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "libs/storage/acceptor_store.h"

namespace paxoskv::storage {

// Small-footprint defaults: a replica holds little besides its log tail.
struct RocksDbStoreOptions {
  // The log is written once, read back only on restart and deleted by the next snapshot, so
  // big memtables and caches buy nothing but resident memory (two memtables may be live).
  size_t write_buffer_bytes = 4 << 20;     // memtable size before a flush
  size_t block_cache_bytes = 4 << 20;
  uint64_t max_total_wal_bytes = 64 << 20; // forces flushes so old WAL files go away
  // Every N snapshots, compact the deleted log range so its space is really reclaimed.
  int compact_every_snapshots = 4;
};

// Opens (creating if needed) the store in `directory`. Errors: kInternal/kDataLoss from
// RocksDB (e.g. the directory is locked by another process, or is corrupt).
absl::StatusOr<std::unique_ptr<AcceptorStore>> OpenRocksDbStore(
    const std::string& directory, const RocksDbStoreOptions& options);

}  // namespace paxoskv::storage
