// RocksDbStore: acceptor state, chosen watermark and snapshots on disk (layout in the header).
#include "libs/storage/rocksdb_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <xxhash.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "libs/common/durable_file.h"
#include "libs/common/logging.h"
#include "libs/common/status_macros.h"
#include "libs/storage/invariants.h"
#include "libs/storage/memory_state.h"

namespace paxoskv::storage {
namespace {

namespace fs = std::filesystem;

constexpr char kIdentityKey[] = "I";
constexpr char kPromisedKey[] = "P";
constexpr char kChosenKey[] = "C";
constexpr char kSnapshotKey[] = "S";
constexpr char kEntryPrefix = 'E';

void AppendBigEndian64(std::string* out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

uint64_t ReadBigEndian64(std::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

std::string EntryKey(SlotId slot) {
  std::string key(1, kEntryPrefix);
  AppendBigEndian64(&key, slot);
  return key;
}

std::string EncodeU64(uint64_t value) {
  std::string out;
  AppendBigEndian64(&out, value);
  return out;
}

absl::Status FromRocks(const rocksdb::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  std::string message = absl::StrCat("rocksdb ", what, ": ", status.ToString());
  if (status.IsCorruption()) return absl::DataLossError(message);
  if (status.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  return absl::InternalError(message);
}

// The "S" record: which snapshot file is current, and how to verify it.
struct SnapshotMeta {
  SlotId last_slot = 0;
  uint64_t size = 0;
  uint64_t hash = 0;
  bool present = false;

  std::string Encode() const {
    std::string out;
    AppendBigEndian64(&out, last_slot);
    AppendBigEndian64(&out, size);
    AppendBigEndian64(&out, hash);
    return out;
  }
  std::string FileName() const {
    return absl::StrFormat("snapshot-%020u-%016x.bin", last_slot, hash);
  }
};

absl::StatusOr<std::string> ReadWholeFile(int fd, const std::string& path) {
  std::string data;
  char buffer[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", path);
    }
    if (n == 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

class RocksDbStore : public AcceptorStore {
 public:
  RocksDbStore(std::string directory, RocksDbStoreOptions options)
      : directory_(std::move(directory)),
        snapshot_dir_(directory_ + "/snapshots"),
        options_(options) {}

  ~RocksDbStore() override {
    if (db_) db_->Close().PermitUncheckedError();
  }

  absl::Status Open() ABSL_LOCKS_EXCLUDED(mu_) {
    std::error_code error;
    fs::create_directories(directory_ + "/rocksdb", error);
    if (!error) fs::create_directories(snapshot_dir_, error);
    if (error) {
      return absl::InternalError(
          absl::StrCat("cannot create data directory ", directory_, ": ", error.message()));
    }
    rocksdb::Options db_options;
    db_options.create_if_missing = true;
    db_options.write_buffer_size = options_.write_buffer_bytes;
    db_options.max_write_buffer_number = 2;
    db_options.max_total_wal_size = options_.max_total_wal_bytes;
    db_options.max_background_jobs = 2;
    db_options.keep_log_file_num = 2;
    db_options.max_log_file_size = 1 << 20;
    db_options.max_manifest_file_size = 4 << 20;
    db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
    rocksdb::BlockBasedTableOptions table_options;
    table_options.block_cache = rocksdb::NewLRUCache(options_.block_cache_bytes);
    db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));

    rocksdb::DB* db = nullptr;
    RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(db_options, directory_ + "/rocksdb", &db),
                              absl::StrCat("open ", directory_)));
    db_.reset(db);

    absl::MutexLock lock(&mu_);
    std::string value;
    rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), kPromisedKey, &value);
    if (status.ok()) {
      if (!promised_.ParseFromString(value)) {
        return absl::DataLossError(absl::StrCat("corrupt promised ballot in ", directory_));
      }
    } else if (!status.IsNotFound()) {
      return FromRocks(status, "get promised");
    }
    status = db_->Get(rocksdb::ReadOptions(), kChosenKey, &value);
    if (status.ok() && value.size() == 8) {
      chosen_through_ = ReadBigEndian64(value);
    } else if (!status.IsNotFound()) {
      return status.ok() ? absl::DataLossError("corrupt chosen_through")
                         : FromRocks(status, "get chosen_through");
    }
    SnapshotMeta meta;
    status = db_->Get(rocksdb::ReadOptions(), kSnapshotKey, &value);
    if (status.ok() && value.size() == 24) {
      meta.last_slot = ReadBigEndian64(value);
      meta.size = ReadBigEndian64(std::string_view(value).substr(8));
      meta.hash = ReadBigEndian64(std::string_view(value).substr(16));
      meta.present = true;
    } else if (!status.IsNotFound()) {
      return status.ok() ? absl::DataLossError("corrupt snapshot record")
                         : FromRocks(status, "get snapshot");
    }
    snapshot_slot_ = meta.last_slot;
    {
      absl::MutexLock snapshot_lock(&snapshot_mu_);
      snapshot_meta_ = meta;
    }
    RemoveStaleSnapshotFiles(meta);
    return absl::OkStatus();
  }

  absl::Status CheckIdentity(const Identity& identity) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    std::string value;
    rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), kIdentityKey, &value);
    if (status.ok()) {
      if (value.size() != 16) return absl::DataLossError("corrupt identity record");
      Identity stored{.shard_id = static_cast<uint32_t>(ReadBigEndian64(value)),
                      .replica_id = static_cast<uint32_t>(
                          ReadBigEndian64(std::string_view(value).substr(8)))};
      if (stored.shard_id != identity.shard_id || stored.replica_id != identity.replica_id) {
        return IdentityMismatchError(directory_, stored, identity);
      }
      return absl::OkStatus();
    }
    if (!status.IsNotFound()) return FromRocks(status, "get identity");
    rocksdb::WriteOptions write_options;
    write_options.sync = true;
    std::string record = EncodeU64(identity.shard_id) + EncodeU64(identity.replica_id);
    return FromRocks(db_->Put(write_options, kIdentityKey, record), "put identity");
  }

  absl::StatusOr<paxos::DurableState> Load() override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    paxos::DurableState state;
    state.promised = promised_;
    state.chosen_through = chosen_through_;
    state.snapshot_slot = snapshot_slot_;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const std::string start = EntryKey(snapshot_slot_ + 1);
    for (it->Seek(start); it->Valid(); it->Next()) {
      rocksdb::Slice key = it->key();
      if (key.size() == 0 || key[0] != kEntryPrefix) break;
      if (key.size() != 9) return absl::DataLossError("corrupt entry key");
      paxoskv::v1::Entry entry;
      if (!entry.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) ||
          entry.slot() != ReadBigEndian64(std::string_view(key.data() + 1, 8))) {
        return absl::DataLossError(absl::StrCat("corrupt log entry in ", directory_));
      }
      state.entries.push_back(std::move(entry));
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "iterate log"));
    CheckDurableStateOrDie(state);
    return state;
  }

  absl::Status Write(const WriteBatch& batch) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    CheckBatchOrDie(promised_, chosen_through_, batch);
    rocksdb::WriteBatch write;
    if (batch.promised) {
      RETURN_IF_ERROR(FromRocks(write.Put(kPromisedKey, batch.promised->SerializeAsString()),
                                "batch promised"));
    }
    for (const auto& entry : batch.accepted) {
      if (entry.slot() <= snapshot_slot_) continue;  // covered by the snapshot
      RETURN_IF_ERROR(
          FromRocks(write.Put(EntryKey(entry.slot()), entry.SerializeAsString()), "batch entry"));
    }
    SlotId chosen = chosen_through_;
    if (batch.chosen_through && *batch.chosen_through > chosen_through_) {
      chosen = *batch.chosen_through;
      RETURN_IF_ERROR(FromRocks(write.Put(kChosenKey, EncodeU64(chosen)), "batch chosen"));
    }
    if (write.Count() > 0) {
      rocksdb::WriteOptions write_options;
      write_options.sync = batch.sync;
      RETURN_IF_ERROR(FromRocks(db_->Write(write_options, &write), "write"));
    } else if (batch.sync) {
      // Nothing new, but the caller relies on earlier unsynced writes being durable now.
      RETURN_IF_ERROR(FromRocks(db_->SyncWAL(), "sync wal"));
    }
    if (batch.promised) promised_ = *batch.promised;
    chosen_through_ = chosen;
    return absl::OkStatus();
  }

  absl::Status SaveSnapshot(const Snapshot& snapshot) override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (snapshot.last_slot < snapshot_slot_) return absl::OkStatus();  // keep the newer
    }
    SnapshotMeta meta{.last_slot = snapshot.last_slot,
                      .size = snapshot.data.size(),
                      .hash = XXH64(snapshot.data.data(), snapshot.data.size(), 0),
                      .present = true};
    // 1. The data file, durable under its final name (named by slot and content hash, so
    //    it never overwrites the current file with different bytes).
    RETURN_IF_ERROR(WriteFileDurably(snapshot_dir_, meta.FileName(), snapshot.data));

    const std::string end = meta.last_slot == std::numeric_limits<SlotId>::max()
                                ? std::string(1, kEntryPrefix + 1)
                                : EntryKey(meta.last_slot + 1);
    bool compact = false;
    {
      absl::MutexLock lock(&mu_);
      RETURN_IF_ERROR(CommitSnapshotLocked(meta, end, &compact));
    }
    if (compact) {
      // Outside mu_ (RocksDB is thread-safe) so persisting Paxos state is not held up.
      const std::string begin = EntryKey(0);
      rocksdb::Slice begin_slice(begin), end_slice(end);
      rocksdb::Status status =
          db_->CompactRange(rocksdb::CompactRangeOptions(), &begin_slice, &end_slice);
      if (!status.ok()) {
        // Space reclamation is best effort; the truncation itself is already durable.
        GetLogger("storage")->warn("compaction failed dir={} error={}", directory_,
                                   status.ToString());
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Snapshot> LoadSnapshot() override ABSL_LOCKS_EXCLUDED(snapshot_mu_) {
    SnapshotMeta meta;
    int fd = -1;
    std::string path;
    {
      // Open under the lock so SaveSnapshot cannot delete the file first; read outside it.
      absl::MutexLock lock(&snapshot_mu_);
      meta = snapshot_meta_;
      if (!meta.present) return Snapshot{};
      path = snapshot_dir_ + "/" + meta.FileName();
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return ErrnoError("open", path);
    }
    absl::StatusOr<std::string> data = ReadWholeFile(fd, path);
    ::close(fd);
    if (!data.ok()) return data.status();
    if (data->size() != meta.size || XXH64(data->data(), data->size(), 0) != meta.hash) {
      return absl::DataLossError(absl::StrCat("snapshot file ", path, " is corrupt"));
    }
    return Snapshot{.last_slot = meta.last_slot, .data = *std::move(data)};
  }

  uint64_t ApproximateSizeBytes() override {
    uint64_t bytes = 0;
    std::error_code error;
    for (fs::recursive_directory_iterator it(directory_, error), end; !error && it != end;
         it.increment(error)) {
      std::error_code size_error;
      if (it->is_regular_file(size_error)) {
        uintmax_t size = it->file_size(size_error);
        if (!size_error) bytes += size;
      }
    }
    return bytes;
  }

 private:
  // 2. One synced RocksDB write makes the snapshot current, truncates the log behind it and
  //    raises chosen_through; 3. the previous file goes. Sets *compact when the deleted range
  //    is due for compaction.
  absl::Status CommitSnapshotLocked(const SnapshotMeta& meta, const std::string& end,
                                    bool* compact) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    mu_.AssertHeld();
    rocksdb::WriteBatch write;
    RETURN_IF_ERROR(FromRocks(write.Put(kSnapshotKey, meta.Encode()), "batch snapshot"));
    RETURN_IF_ERROR(FromRocks(write.DeleteRange(EntryKey(0), end), "batch truncate"));
    const SlotId chosen = std::max(chosen_through_, meta.last_slot);
    if (chosen != chosen_through_) {
      RETURN_IF_ERROR(FromRocks(write.Put(kChosenKey, EncodeU64(chosen)), "batch chosen"));
    }
    rocksdb::WriteOptions write_options;
    write_options.sync = true;
    RETURN_IF_ERROR(FromRocks(db_->Write(write_options, &write), "write snapshot"));
    chosen_through_ = chosen;
    snapshot_slot_ = meta.last_slot;
    SnapshotMeta previous;
    {
      absl::MutexLock snapshot_lock(&snapshot_mu_);
      previous = snapshot_meta_;
      snapshot_meta_ = meta;
    }
    // Readers holding the previous file open keep their copy.
    if (previous.present && previous.FileName() != meta.FileName()) {
      std::error_code error;
      fs::remove(snapshot_dir_ + "/" + previous.FileName(), error);
    }
    if (++snapshots_since_compaction_ >= options_.compact_every_snapshots) {
      snapshots_since_compaction_ = 0;
      *compact = true;
    }
    return absl::OkStatus();
  }

  // Deletes snapshot files other than the current one (left by a crash mid-save).
  void RemoveStaleSnapshotFiles(const SnapshotMeta& current) {
    std::error_code error;
    for (fs::directory_iterator it(snapshot_dir_, error), end; !error && it != end;
         it.increment(error)) {
      if (current.present && it->path().filename() == current.FileName()) continue;
      std::error_code remove_error;
      fs::remove(it->path(), remove_error);
    }
  }

  const std::string directory_;
  const std::string snapshot_dir_;
  const RocksDbStoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;  // set once by Open(); RocksDB is thread-safe

  absl::Mutex mu_ ABSL_ACQUIRED_BEFORE(snapshot_mu_);
  paxoskv::v1::Ballot promised_ ABSL_GUARDED_BY(mu_);
  SlotId chosen_through_ ABSL_GUARDED_BY(mu_) = 0;
  SlotId snapshot_slot_ ABSL_GUARDED_BY(mu_) = 0;
  int snapshots_since_compaction_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex snapshot_mu_;
  SnapshotMeta snapshot_meta_ ABSL_GUARDED_BY(snapshot_mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<AcceptorStore>> OpenRocksDbStore(
    const std::string& directory, const RocksDbStoreOptions& options) {
  auto store = std::make_unique<RocksDbStore>(directory, options);
  RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<AcceptorStore>(std::move(store));
}

absl::StatusOr<std::unique_ptr<AcceptorStore>> OpenRocksDbStore(const std::string& directory) {
  return OpenRocksDbStore(directory, RocksDbStoreOptions());
}

}  // namespace paxoskv::storage
