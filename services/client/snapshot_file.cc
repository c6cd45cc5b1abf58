// See snapshot_file.h.
#include "services/client/snapshot_file.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "libs/common/status_macros.h"

namespace paxoskv::client {
namespace {

namespace pb = paxoskv::v1;

constexpr char kMagic[] = "PAXOSKV-SNAPSHOT 1\n";
constexpr size_t kMagicSize = sizeof(kMagic) - 1;
constexpr char kTrailer[] = "END\n";
constexpr size_t kTrailerSize = sizeof(kTrailer) - 1;
// A frame is one chunk: a page of at most 10,000 keys or 4 MiB of records (the replicas'
// bounds), well under this.
constexpr uint32_t kFrameBytesMax = 64 << 20;

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

void PutU64(uint64_t value, char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
}
uint64_t GetU64(const char* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= uint64_t{static_cast<uint8_t>(in[i])} << (8 * i);
  return value;
}

absl::Status SyncDirectoryOf(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Errno(absl::StrCat("open ", dir));
  const int synced = fsync(fd);
  close(fd);
  if (synced != 0) return Errno(absl::StrCat("fsync ", dir));
  return absl::OkStatus();
}

// Reads the whole file's frames, checking everything but the order of the chunks.
class FrameReader {
 public:
  explicit FrameReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {}

  absl::Status Open() {
    if (!std::filesystem::exists(path_))
      return absl::NotFoundError(absl::StrCat(path_, ": no such file"));
    if (!in_) return Errno(absl::StrCat("cannot open ", path_));
    std::string magic(kMagicSize, '\0');
    if (!Read(magic.data(), kMagicSize) || magic != kMagic) {
      return Bad("not a paxoskv snapshot (no \"PAXOSKV-SNAPSHOT 1\" header)");
    }
    return absl::OkStatus();
  }

  // The next chunk, or nullopt at the trailer (checked: count and checksum).
  absl::StatusOr<std::optional<pb::BackupChunk>> Next() {
    char length_bytes[4];
    if (!Read(length_bytes, 4)) return Bad("truncated: it ends before its trailer");
    if (std::memcmp(length_bytes, kTrailer, kTrailerSize) == 0) {
      char tail[16];  // the frame count (hashed), then the checksum
      if (!Read(tail, 8)) return Bad("truncated inside its trailer");
      const uint64_t hashed_through_count = XXH64_digest(hash_);
      if (!ReadRaw(tail + 8, 8)) return Bad("truncated inside its trailer");
      if (GetU64(tail) != frames_) {
        return Bad(
            absl::StrCat("the trailer counts ", GetU64(tail), " chunks, the file has ", frames_));
      }
      checksum_ = GetU64(tail + 8);
      if (checksum_ != hashed_through_count) {
        return Bad(absl::StrCat("checksum mismatch (file says ", checksum_, ", contents hash to ",
                                hashed_through_count, "): the file is corrupted"));
      }
      char extra;
      if (in_.read(&extra, 1); in_.gcount() != 0) return Bad("bytes after its trailer");
      return std::optional<pb::BackupChunk>();
    }
    uint32_t length = 0;
    for (int i = 0; i < 4; ++i)
      length |= uint32_t{static_cast<uint8_t>(length_bytes[i])} << (8 * i);
    if (length > kFrameBytesMax) return Bad(absl::StrCat("a chunk of ", length, " bytes"));
    std::string bytes(length, '\0');
    if (!Read(bytes.data(), length)) return Bad("truncated inside a chunk");
    pb::BackupChunk chunk;
    if (!chunk.ParseFromString(bytes) || chunk.body_case() == pb::BackupChunk::BODY_NOT_SET) {
      return Bad(absl::StrCat("chunk ", frames_ + 1, " does not parse"));
    }
    ++frames_;
    return std::optional<pb::BackupChunk>(std::move(chunk));
  }

  uint64_t frames() const { return frames_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t checksum() const { return checksum_; }
  absl::Status Bad(const std::string& what) const {
    return absl::DataLossError(absl::StrCat(path_, ": ", what, "; refusing it"));
  }

  ~FrameReader() { XXH64_freeState(hash_); }

 private:
  bool Read(char* out, size_t size) {
    if (!ReadRaw(out, size)) return false;
    XXH64_update(hash_, out, size);
    return true;
  }
  bool ReadRaw(char* out, size_t size) {
    in_.read(out, static_cast<std::streamsize>(size));
    bytes_ += static_cast<uint64_t>(in_.gcount());
    return static_cast<size_t>(in_.gcount()) == size;
  }

  const std::string path_;
  std::ifstream in_;
  XXH64_state_t* hash_ = [] {
    XXH64_state_t* state = XXH64_createState();
    XXH64_reset(state, 0);
    return state;
  }();
  uint64_t frames_ = 0;
  uint64_t bytes_ = 0;
  uint64_t checksum_ = 0;
};

// Checks that the chunks come in the order snapshot_file.h gives, as they are read.
class StructureCheck {
 public:
  absl::Status See(const pb::BackupChunk& chunk, SnapshotSummary* summary) {
    switch (chunk.body_case()) {
      case pb::BackupChunk::kHeader:
        if (seen_header_) return absl::DataLossError("a second header");
        seen_header_ = true;
        summary->header = chunk.header();
        for (uint32_t id : chunk.header().shard_ids()) expected_.push_back(id);
        return absl::OkStatus();
      case pb::BackupChunk::kShardStart:
        if (!seen_header_ || in_shard_) return absl::DataLossError("a shard starts out of place");
        if (next_ >= expected_.size() || expected_[next_] != chunk.shard_start().shard_id()) {
          return absl::DataLossError(
              absl::StrCat("shard ", chunk.shard_start().shard_id(), " is not the one expected"));
        }
        in_shard_ = true;
        summary->shards.push_back({.shard_id = chunk.shard_start().shard_id()});
        return absl::OkStatus();
      case pb::BackupChunk::kRecords:
        if (!in_shard_) return absl::DataLossError("records outside a shard");
        summary->shards.back().puts += static_cast<uint64_t>(chunk.records().puts_size());
        summary->shards.back().deletes += static_cast<uint64_t>(chunk.records().deletes_size());
        return absl::OkStatus();
      case pb::BackupChunk::kShardEnd:
        if (!in_shard_ || chunk.shard_end().shard_id() != expected_[next_]) {
          return absl::DataLossError("a shard ends out of place");
        }
        in_shard_ = false;
        ++next_;
        summary->shards.back().slot = chunk.shard_end().slot();
        return absl::OkStatus();
      case pb::BackupChunk::BODY_NOT_SET:
        break;
    }
    return absl::DataLossError("an empty chunk");
  }
  absl::Status Finished() const {
    if (!seen_header_) return absl::DataLossError("no header");
    if (in_shard_ || next_ != expected_.size()) {
      return absl::DataLossError(absl::StrCat("it holds ", next_, " of the ", expected_.size(),
                                              " shards its header names"));
    }
    return absl::OkStatus();
  }

 private:
  bool seen_header_ = false;
  bool in_shard_ = false;
  std::vector<uint32_t> expected_;
  size_t next_ = 0;
};

// Reads `path` through, calling `visit` for every chunk after checking its place.
absl::StatusOr<SnapshotSummary> Walk(
    const std::string& path, const std::function<absl::Status(const pb::BackupChunk&)>& visit) {
  FrameReader reader(path);
  RETURN_IF_ERROR(reader.Open());
  StructureCheck structure;
  SnapshotSummary summary;
  while (true) {
    ASSIGN_OR_RETURN(std::optional<pb::BackupChunk> chunk, reader.Next());
    if (!chunk.has_value()) break;
    if (absl::Status placed = structure.See(*chunk, &summary); !placed.ok()) {
      return reader.Bad(std::string(placed.message()));
    }
    RETURN_IF_ERROR(visit(*chunk));
  }
  if (absl::Status finished = structure.Finished(); !finished.ok()) {
    return reader.Bad(std::string(finished.message()));
  }
  summary.frames = reader.frames();
  summary.bytes = reader.bytes();
  summary.checksum = reader.checksum();
  return summary;
}

}  // namespace

struct SnapshotFileWriter::Hash {
  Hash() { XXH64_reset(state, 0); }
  ~Hash() { XXH64_freeState(state); }
  XXH64_state_t* state = XXH64_createState();
};

SnapshotFileWriter::SnapshotFileWriter(std::string path, std::FILE* file)
    : path_(std::move(path)), file_(file), hash_(std::make_unique<Hash>()) {}

SnapshotFileWriter::~SnapshotFileWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!finished_) std::remove((path_ + ".part").c_str());
}

absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> SnapshotFileWriter::Create(
    const std::string& path) {
  if (std::filesystem::exists(path)) {
    return absl::AlreadyExistsError(absl::StrCat(path, " exists; not overwriting it"));
  }
  std::FILE* file = std::fopen((path + ".part").c_str(), "wb");
  if (file == nullptr) return Errno(absl::StrCat("cannot create ", path, ".part"));
  std::unique_ptr<SnapshotFileWriter> writer(new SnapshotFileWriter(path, file));
  RETURN_IF_ERROR(writer->Write(kMagic, kMagicSize));
  return writer;
}

absl::Status SnapshotFileWriter::Write(const void* data, size_t size) {
  if (std::fwrite(data, 1, size, file_) != size)
    return Errno(absl::StrCat("write ", path_, ".part"));
  XXH64_update(hash_->state, data, size);
  bytes_ += size;
  return absl::OkStatus();
}

absl::Status SnapshotFileWriter::Append(const pb::BackupChunk& chunk) {
  const std::string bytes = chunk.SerializeAsString();
  if (bytes.size() > kFrameBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat("a chunk of ", bytes.size(), " bytes"));
  }
  char length[4];
  for (int i = 0; i < 4; ++i) length[i] = static_cast<char>((bytes.size() >> (8 * i)) & 0xff);
  RETURN_IF_ERROR(Write(length, 4));
  RETURN_IF_ERROR(Write(bytes.data(), bytes.size()));
  ++frames_;
  return absl::OkStatus();
}

absl::Status SnapshotFileWriter::Finish() {
  char count[8];
  PutU64(frames_, count);
  RETURN_IF_ERROR(Write(kTrailer, kTrailerSize));
  RETURN_IF_ERROR(Write(count, 8));
  char checksum[8];
  PutU64(XXH64_digest(hash_->state), checksum);
  if (std::fwrite(checksum, 1, 8, file_) != 8) return Errno(absl::StrCat("write ", path_, ".part"));
  bytes_ += 8;
  if (std::fflush(file_) != 0 || fsync(fileno(file_)) != 0) {
    return Errno(absl::StrCat("fsync ", path_, ".part"));
  }
  std::fclose(file_);
  file_ = nullptr;
  if (std::rename((path_ + ".part").c_str(), path_.c_str()) != 0) {
    return Errno(absl::StrCat("rename to ", path_));
  }
  finished_ = true;
  return SyncDirectoryOf(path_);
}

absl::StatusOr<SnapshotSummary> VerifySnapshotFile(const std::string& path) {
  return Walk(path, [](const pb::BackupChunk&) { return absl::OkStatus(); });
}

absl::Status ReadSnapshotFile(
    const std::string& path,
    const std::function<bool(uint32_t shard_id, const std::map<std::string, std::string>& keys)>&
        shard) {
  RETURN_IF_ERROR(VerifySnapshotFile(path).status());
  std::map<std::string, std::string> keys;
  uint32_t shard_id = 0;
  return Walk(path,
              [&](const pb::BackupChunk& chunk) -> absl::Status {
                if (chunk.has_shard_start()) {
                  keys.clear();
                  shard_id = chunk.shard_start().shard_id();
                } else if (chunk.has_records()) {
                  for (const pb::KeyValue& put : chunk.records().puts()) {
                    keys[put.key()] = put.value();
                  }
                  for (const std::string& key : chunk.records().deletes()) keys.erase(key);
                } else if (chunk.has_shard_end()) {
                  if (!shard(shard_id, keys)) return absl::CancelledError("stopped");
                }
                return absl::OkStatus();
              })
      .status();
}

}  // namespace paxoskv::client
