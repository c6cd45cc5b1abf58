// The file of `kvctl snapshot save` and `kvctl snapshot restore` (etcdctl snapshot save /
// restore): what Admin.Backup streamed, framed, with a checksum over all of it.
//
//   "PAXOSKV-SNAPSHOT 1\n"                      magic and format version (19 bytes)
//   frames: u32 length (little-endian) + one BackupChunk (admin.proto), in stream order
//   "END\n" + u64 frame count + u64 XXH64 (seed 0) of every byte before this checksum
//
// The frames are the header, then per shard its start, its records (puts and deletes, applied
// in order) and its end. A file is written under FILE.part, fsynced and renamed, so FILE is
// complete or absent. Reading verifies the whole file first (magic, every frame, the structure,
// the count and the checksum): a truncated or corrupted file is refused before anything is
// applied. Not thread-safe; one writer or reader per file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "paxoskv/v1/admin.pb.h"

namespace paxoskv::client {

class SnapshotFileWriter {
 public:
  // Creates `path`.part (kAlreadyExists if `path` exists: nothing is overwritten).
  static absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> Create(const std::string& path);
  ~SnapshotFileWriter();  // an unfinished file's .part is removed
  absl::Status Append(const paxoskv::v1::BackupChunk& chunk);
  // Writes the trailer, fsyncs, renames to `path` and fsyncs its directory.
  absl::Status Finish();
  uint64_t bytes() const { return bytes_; }

  SnapshotFileWriter(const SnapshotFileWriter&) = delete;
  SnapshotFileWriter& operator=(const SnapshotFileWriter&) = delete;

 private:
  SnapshotFileWriter(std::string path, std::FILE* file);
  absl::Status Write(const void* data, size_t size);
  const std::string path_;
  std::FILE* file_;
  struct Hash;
  std::unique_ptr<Hash> hash_;
  uint64_t frames_ = 0;
  uint64_t bytes_ = 0;
  bool finished_ = false;
};

// What a verified file holds.
struct SnapshotSummary {
  paxoskv::v1::BackupHeader header;
  struct Shard {
    uint32_t shard_id = 0;
    uint64_t slot = 0;  // copied as of this slot of its log
    uint64_t puts = 0;  // put records (a key may have several)
    uint64_t deletes = 0;
  };
  std::vector<Shard> shards;
  uint64_t frames = 0;
  uint64_t bytes = 0;
  uint64_t checksum = 0;
};

// Reads and checks all of `path`; kDataLoss names what is wrong (truncated, checksum
// mismatch, a frame that does not parse, chunks out of order), kNotFound when it is missing.
absl::StatusOr<SnapshotSummary> VerifySnapshotFile(const std::string& path);

// Verifies `path`, then calls `shard` once per shard with its final contents (records applied
// in order: key -> value), in file order. A false return stops (kCancelled).
absl::Status ReadSnapshotFile(
    const std::string& path,
    const std::function<bool(uint32_t shard_id, const std::map<std::string, std::string>& keys)>&
        shard);

}  // namespace paxoskv::client
