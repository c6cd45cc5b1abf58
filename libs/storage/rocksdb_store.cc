// RocksDbStore: acceptor state, chosen watermark and snapshots on disk (layout in the header).
#include "libs/storage/rocksdb_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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
#include "libs/common/check.h"
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

// The "S" record: which snapshot file is current, and how to verify it. 32 bytes
// (last_slot, bytes, chunks, digest: a chunked file, see kChunkedMagic); a 24-byte record
// (last_slot, size, XXH64 of the file) names a file of one unframed chunk, as written before
// snapshots were chunked.
struct StoredMeta {
  SnapshotMeta meta;
  bool legacy = false;
  bool present = false;

  std::string Encode() const {
    std::string out;
    AppendBigEndian64(&out, meta.last_slot);
    AppendBigEndian64(&out, meta.bytes);
    AppendBigEndian64(&out, meta.chunks);
    AppendBigEndian64(&out, meta.digest);
    return out;
  }
  static absl::StatusOr<StoredMeta> Decode(std::string_view value) {
    StoredMeta stored;
    stored.present = true;
    if (value.size() == 32) {
      stored.meta.last_slot = ReadBigEndian64(value);
      stored.meta.bytes = ReadBigEndian64(value.substr(8));
      stored.meta.chunks = ReadBigEndian64(value.substr(16));
      stored.meta.digest = ReadBigEndian64(value.substr(24));
      return stored;
    }
    if (value.size() == 24) {
      stored.legacy = true;
      stored.meta.last_slot = ReadBigEndian64(value);
      stored.meta.bytes = ReadBigEndian64(value.substr(8));
      stored.meta.chunks = 1;
      stored.meta.digest = ReadBigEndian64(value.substr(16));
      return stored;
    }
    return absl::DataLossError("corrupt snapshot record");
  }
  std::string FileName() const {
    return absl::StrFormat("snapshot-%020u-%016x.bin", meta.last_slot, meta.digest);
  }
};

// A chunked snapshot file: this magic, then per chunk its length (8 bytes little-endian) and
// its bytes.
constexpr char kChunkedMagic[] = "PKVSNAP2";
constexpr size_t kMagicSize = 8;

absl::Status WriteAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Reads exactly `size` bytes; false at a clean end of file before the first byte.
absl::StatusOr<bool> ReadExactly(int fd, char* data, size_t size, const std::string& path) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", path);
    }
    if (n == 0) {
      if (done == 0) return false;
      return absl::DataLossError(absl::StrCat("snapshot file ", path, " is truncated"));
    }
    done += static_cast<size_t>(n);
  }
  return true;
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
    StoredMeta stored;
    status = db_->Get(rocksdb::ReadOptions(), kSnapshotKey, &value);
    if (status.ok()) {
      ASSIGN_OR_RETURN(stored, StoredMeta::Decode(value));
    } else if (!status.IsNotFound()) {
      return FromRocks(status, "get snapshot");
    }
    snapshot_slot_ = stored.meta.last_slot;
    {
      absl::MutexLock snapshot_lock(&snapshot_mu_);
      snapshot_meta_ = stored;
    }
    RemoveStaleSnapshotFiles(stored);
    return absl::OkStatus();
  }

  absl::StatusOr<Identity> CheckIdentity(const Identity& wanted) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    std::string value;
    rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), kIdentityKey, &value);
    if (!status.ok() && !status.IsNotFound()) return FromRocks(status, "get identity");
    Identity stored = wanted;
    if (status.ok()) {
      // 24 bytes; 16 in a directory written before incarnations (it gets one below, once).
      if (value.size() != 16 && value.size() != 24) {
        return absl::DataLossError("corrupt identity record");
      }
      const std::string_view v(value);
      stored.shard_id = static_cast<uint32_t>(ReadBigEndian64(v));
      stored.replica_id = static_cast<uint32_t>(ReadBigEndian64(v.substr(8)));
      if (stored.shard_id != wanted.shard_id || stored.replica_id != wanted.replica_id) {
        return IdentityMismatchError(directory_, stored, wanted);
      }
      if (value.size() == 24) {
        stored.incarnation = ReadBigEndian64(v.substr(16));
        if (stored.incarnation == 0) return absl::DataLossError("identity with incarnation 0");
        return stored;
      }
    }
    if (stored.incarnation == 0) return ZeroIncarnationError(directory_);
    rocksdb::WriteOptions write_options;
    write_options.sync = true;
    const std::string record = EncodeU64(stored.shard_id) + EncodeU64(stored.replica_id) +
                               EncodeU64(stored.incarnation);
    RETURN_IF_ERROR(FromRocks(db_->Put(write_options, kIdentityKey, record), "put identity"));
    return stored;
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

  absl::StatusOr<std::unique_ptr<SnapshotWriter>> NewSnapshot(SlotId last_slot) override;
  absl::StatusOr<std::unique_ptr<SnapshotReader>> OpenSnapshot() override
      ABSL_LOCKS_EXCLUDED(snapshot_mu_);

  // SnapshotFileWriter::Commit, after its file is durable under its final name: makes it the
  // current snapshot, unless a newer one is (then the file goes).
  absl::Status CommitSnapshot(const StoredMeta& stored) ABSL_LOCKS_EXCLUDED(mu_);

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
  // One synced RocksDB write makes the snapshot current, truncates the log behind it and
  // raises chosen_through; the previous file then goes. Sets *compact when the deleted range
  // is due for compaction. A snapshot older than the current one is dropped here, under mu_,
  // so two writers committing at once cannot replace a newer snapshot with an older one.
  absl::Status CommitSnapshotLocked(const StoredMeta& stored, const std::string& end,
                                    bool* compact) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    mu_.AssertHeld();
    if (stored.meta.last_slot < snapshot_slot_) {
      std::error_code error;
      fs::remove(snapshot_dir_ + "/" + stored.FileName(), error);
      return absl::OkStatus();
    }
    rocksdb::WriteBatch write;
    RETURN_IF_ERROR(FromRocks(write.Put(kSnapshotKey, stored.Encode()), "batch snapshot"));
    RETURN_IF_ERROR(FromRocks(write.DeleteRange(EntryKey(0), end), "batch truncate"));
    const SlotId chosen = std::max(chosen_through_, stored.meta.last_slot);
    if (chosen != chosen_through_) {
      RETURN_IF_ERROR(FromRocks(write.Put(kChosenKey, EncodeU64(chosen)), "batch chosen"));
    }
    rocksdb::WriteOptions write_options;
    write_options.sync = true;
    RETURN_IF_ERROR(FromRocks(db_->Write(write_options, &write), "write snapshot"));
    chosen_through_ = chosen;
    snapshot_slot_ = stored.meta.last_slot;
    StoredMeta previous;
    {
      absl::MutexLock snapshot_lock(&snapshot_mu_);
      previous = snapshot_meta_;
      snapshot_meta_ = stored;
    }
    // Readers holding the previous file open keep their copy.
    if (previous.present && previous.FileName() != stored.FileName()) {
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
  void RemoveStaleSnapshotFiles(const StoredMeta& current) {
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
  StoredMeta snapshot_meta_ ABSL_GUARDED_BY(snapshot_mu_);
  std::atomic<uint64_t> next_writer_id_{0};

  friend class SnapshotFileWriter;
};

// Writes a chunked snapshot file under a temporary name; Commit makes it durable (fsync,
// rename, directory fsync) and current (RocksDbStore::CommitSnapshot).
class SnapshotFileWriter final : public SnapshotWriter {
 public:
  SnapshotFileWriter(RocksDbStore* store, SlotId last_slot, std::string tmp_path, int fd)
      : store_(store), tmp_path_(std::move(tmp_path)), fd_(fd) {
    meta_.last_slot = last_slot;
  }
  ~SnapshotFileWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_path_.c_str());
  }

  SlotId last_slot() const override { return meta_.last_slot; }

  absl::Status Append(std::string_view chunk) override {
    PAXOSKV_CHECK(!committed_ && fd_ >= 0) << "append to a committed snapshot";
    char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<char>(uint64_t{chunk.size()} >> (8 * i));
    RETURN_IF_ERROR(WriteAll(fd_, length, sizeof(length), tmp_path_));
    RETURN_IF_ERROR(WriteAll(fd_, chunk.data(), chunk.size(), tmp_path_));
    digest_.Add(chunk);
    meta_.bytes += chunk.size();
    ++meta_.chunks;
    return absl::OkStatus();
  }

  absl::Status Commit() override {
    PAXOSKV_CHECK(!committed_ && fd_ >= 0) << "snapshot committed twice";
    if (::fsync(fd_) != 0) return ErrnoError("fsync", tmp_path_);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoError("close", tmp_path_);
    StoredMeta stored;
    stored.meta = meta();
    stored.present = true;
    const std::string path = store_->snapshot_dir_ + "/" + stored.FileName();
    if (::rename(tmp_path_.c_str(), path.c_str()) != 0) return ErrnoError("rename", tmp_path_);
    committed_ = true;
    RETURN_IF_ERROR(FsyncPath(store_->snapshot_dir_, O_RDONLY | O_DIRECTORY));
    return store_->CommitSnapshot(stored);
  }

  SnapshotMeta meta() const override {
    SnapshotMeta meta = meta_;
    meta.digest = digest_.value();
    return meta;
  }

 private:
  RocksDbStore* const store_;
  const std::string tmp_path_;
  int fd_;
  SnapshotMeta meta_;
  SnapshotDigest digest_;
  bool committed_ = false;
};

// Reads a snapshot file chunk by chunk and checks it against its meta at the end (and the
// framing on the way: a length that runs past the end is kDataLoss, never a huge buffer).
class SnapshotFileReader final : public SnapshotReader {
 public:
  SnapshotFileReader(StoredMeta stored, std::string path, int fd, uint64_t file_bytes)
      : stored_(std::move(stored)), path_(std::move(path)), fd_(fd), left_(file_bytes) {}
  ~SnapshotFileReader() override {
    if (fd_ >= 0) ::close(fd_);
  }

  const SnapshotMeta& meta() const override { return stored_.meta; }

  absl::StatusOr<bool> Next(std::string* chunk) override {
    if (done_) return false;
    if (stored_.legacy) return NextLegacy(chunk);
    if (!magic_checked_) {
      char magic[kMagicSize];
      ASSIGN_OR_RETURN(bool read, ReadExactly(fd_, magic, kMagicSize, path_));
      if (!read || std::memcmp(magic, kChunkedMagic, kMagicSize) != 0) return Corrupt();
      left_ -= kMagicSize;
      magic_checked_ = true;
    }
    char length_bytes[8];
    ASSIGN_OR_RETURN(bool more, ReadExactly(fd_, length_bytes, sizeof(length_bytes), path_));
    if (!more) {
      done_ = true;
      if (bytes_ != stored_.meta.bytes || chunks_ != stored_.meta.chunks ||
          digest_.value() != stored_.meta.digest) {
        return Corrupt();
      }
      return false;
    }
    uint64_t length = 0;
    for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(length_bytes[i]);
    left_ -= sizeof(length_bytes);
    if (length > left_) return Corrupt();
    chunk->resize(length);
    ASSIGN_OR_RETURN(bool read, ReadExactly(fd_, chunk->data(), length, path_));
    if (!read && length > 0) return Corrupt();
    left_ -= length;
    digest_.Add(*chunk);
    bytes_ += length;
    ++chunks_;
    return true;
  }

 private:
  // A file of one unframed chunk whose record holds the XXH64 of the whole file.
  absl::StatusOr<bool> NextLegacy(std::string* chunk) {
    done_ = true;
    if (left_ != stored_.meta.bytes) return Corrupt();
    chunk->resize(left_);
    ASSIGN_OR_RETURN(bool read, ReadExactly(fd_, chunk->data(), left_, path_));
    if ((!read && left_ > 0) || XXH64(chunk->data(), chunk->size(), 0) != stored_.meta.digest) {
      return Corrupt();
    }
    return true;
  }
  absl::Status Corrupt() const {
    return absl::DataLossError(absl::StrCat("snapshot file ", path_, " is corrupt"));
  }

  const StoredMeta stored_;
  const std::string path_;
  int fd_;
  uint64_t left_;
  bool magic_checked_ = false;
  bool done_ = false;
  SnapshotDigest digest_;
  uint64_t bytes_ = 0;
  uint64_t chunks_ = 0;
};

absl::StatusOr<std::unique_ptr<SnapshotWriter>> RocksDbStore::NewSnapshot(SlotId last_slot) {
  const std::string tmp = absl::StrFormat("%s/snapshot-%020u-w%u.tmp", snapshot_dir_, last_slot,
                                          next_writer_id_.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("open", tmp);
  auto writer = std::make_unique<SnapshotFileWriter>(this, last_slot, tmp, fd);
  RETURN_IF_ERROR(WriteAll(fd, kChunkedMagic, kMagicSize, tmp));
  return writer;
}

absl::StatusOr<std::unique_ptr<SnapshotReader>> RocksDbStore::OpenSnapshot() {
  // Open under the lock so a commit cannot delete the file first; read outside it.
  absl::MutexLock lock(&snapshot_mu_);
  const StoredMeta stored = snapshot_meta_;
  if (!stored.present) return NewMemorySnapshotReader(MemorySnapshot{});
  const std::string path = snapshot_dir_ + "/" + stored.FileName();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    absl::Status status = ErrnoError("stat", path);
    ::close(fd);
    return status;
  }
  return std::make_unique<SnapshotFileReader>(stored, path, fd, static_cast<uint64_t>(st.st_size));
}

absl::Status RocksDbStore::CommitSnapshot(const StoredMeta& stored) {
  const std::string end = stored.meta.last_slot == std::numeric_limits<SlotId>::max()
                              ? std::string(1, kEntryPrefix + 1)
                              : EntryKey(stored.meta.last_slot + 1);
  bool compact = false;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(CommitSnapshotLocked(stored, end, &compact));
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
