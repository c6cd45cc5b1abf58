// The backup file of kvctl snapshot (services/client/snapshot_file.h): what is written reads
// back as each shard's final contents (records applied in order), and a file cut short at any
// point, with any byte changed, out of order or not a snapshot at all is refused before
// anything is applied.
#include "services/client/snapshot_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace paxoskv::client {
namespace {

namespace pb = paxoskv::v1;

std::string Dir() {
  const std::string dir = ::testing::TempDir() + "/snapshot_file_test";
  std::filesystem::create_directories(dir);
  return dir;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

pb::BackupChunk Header(std::vector<uint32_t> shards) {
  pb::BackupChunk chunk;
  chunk.mutable_header()->set_epoch(7);
  chunk.mutable_header()->set_virtual_nodes(128);
  for (uint32_t id : shards) chunk.mutable_header()->add_shard_ids(id);
  return chunk;
}
pb::BackupChunk Start(uint32_t shard) {
  pb::BackupChunk chunk;
  chunk.mutable_shard_start()->set_shard_id(shard);
  return chunk;
}
pb::BackupChunk Records(std::map<std::string, std::string> puts,
                        std::vector<std::string> deletes = {}) {
  pb::BackupChunk chunk;
  for (auto& [key, value] : puts) {
    pb::KeyValue* put = chunk.mutable_records()->add_puts();
    put->set_key(key);
    put->set_value(value);
  }
  for (auto& key : deletes) chunk.mutable_records()->add_deletes(key);
  return chunk;
}
pb::BackupChunk End(uint32_t shard, uint64_t slot) {
  pb::BackupChunk chunk;
  chunk.mutable_shard_end()->set_shard_id(shard);
  chunk.mutable_shard_end()->set_slot(slot);
  return chunk;
}

// Two shards; shard 1's second pass overwrites "a" and deletes "b".
std::string WriteSample(const std::string& name) {
  const std::string path = Dir() + "/" + name;
  std::filesystem::remove(path);
  auto writer = SnapshotFileWriter::Create(path);
  EXPECT_TRUE(writer.ok()) << writer.status();
  for (const pb::BackupChunk& chunk :
       {Header({1, 2}), Start(1), Records({{"a", "1"}, {"b", "2"}, {"c", "3"}}),
        Records({{"a", "10"}}, {"b"}), End(1, 40), Start(2), Records({{"x", "9"}}), End(2, 12)}) {
    EXPECT_TRUE((*writer)->Append(chunk).ok());
  }
  EXPECT_TRUE((*writer)->Finish().ok());
  return path;
}

std::map<uint32_t, std::map<std::string, std::string>> ReadShards(const std::string& path,
                                                                  absl::Status* status) {
  std::map<uint32_t, std::map<std::string, std::string>> shards;
  *status =
      ReadSnapshotFile(path, [&](uint32_t id, const std::map<std::string, std::string>& keys) {
        shards[id] = keys;
        return true;
      });
  return shards;
}

TEST(SnapshotFileTest, RecordsReadBackAsEachShardsFinalContents) {
  const std::string path = WriteSample("sample");
  EXPECT_FALSE(std::filesystem::exists(path + ".part"));
  auto summary = VerifySnapshotFile(path);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->header.epoch(), 7u);
  ASSERT_EQ(summary->shards.size(), 2u);
  EXPECT_EQ(summary->shards[0].slot, 40u);
  EXPECT_EQ(summary->shards[0].puts, 4u);
  EXPECT_EQ(summary->shards[0].deletes, 1u);
  EXPECT_EQ(summary->frames, 8u);
  absl::Status status;
  auto shards = ReadShards(path, &status);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(shards[1], (std::map<std::string, std::string>{{"a", "10"}, {"c", "3"}}));
  EXPECT_EQ(shards[2], (std::map<std::string, std::string>{{"x", "9"}}));
}

TEST(SnapshotFileTest, AnExistingFileIsNotOverwritten) {
  const std::string path = WriteSample("exists");
  EXPECT_TRUE(absl::IsAlreadyExists(SnapshotFileWriter::Create(path).status()));
}

TEST(SnapshotFileTest, AnUnfinishedFileLeavesNothing) {
  const std::string path = Dir() + "/unfinished";
  std::filesystem::remove(path);
  {
    auto writer = SnapshotFileWriter::Create(path);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(Header({1})).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".part"));
}

TEST(SnapshotFileTest, EveryTruncationAndEveryChangedByteIsRefused) {
  const std::string bytes = ReadAll(WriteSample("whole"));
  const std::string path = Dir() + "/damaged";
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    WriteAll(path, bytes.substr(0, cut));
    auto summary = VerifySnapshotFile(path);
    ASSERT_FALSE(summary.ok()) << "cut at " << cut;
    EXPECT_TRUE(absl::IsDataLoss(summary.status())) << cut << ": " << summary.status();
    absl::Status status;
    auto shards = ReadShards(path, &status);
    EXPECT_FALSE(status.ok());
    EXPECT_TRUE(shards.empty()) << "nothing is handed out from a bad file";
  }
  for (size_t at = 0; at < bytes.size(); ++at) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x20);
    WriteAll(path, damaged);
    auto summary = VerifySnapshotFile(path);
    EXPECT_FALSE(summary.ok()) << "byte " << at << " changed";
  }
  WriteAll(path, bytes + "x");
  EXPECT_FALSE(VerifySnapshotFile(path).ok());
  WriteAll(path, "{\"not\": \"a snapshot\"}\n");
  auto other = VerifySnapshotFile(path);
  EXPECT_TRUE(absl::StrContains(other.status().message(), "not a paxoskv snapshot"))
      << other.status();
  EXPECT_TRUE(absl::IsNotFound(VerifySnapshotFile(Dir() + "/missing").status()));
}

TEST(SnapshotFileTest, ChunksOutOfOrderAreRefused) {
  const std::vector<std::vector<pb::BackupChunk>> bad = {
      {Start(1), End(1, 1)},                            // no header
      {Header({1}), Records({{"a", "1"}}), End(1, 1)},  // records outside a shard
      {Header({1, 2}), Start(1), End(1, 1)},            // shard 2 missing
      {Header({1}), Start(2), End(2, 1)},               // a shard the header lacks
      {Header({1}), Start(1)},                          // shard 1 never ends
      {Header({1}), Header({1}), Start(1), End(1, 1)},  // two headers
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    const std::string path = Dir() + "/order-" + std::to_string(i);
    std::filesystem::remove(path);
    auto writer = SnapshotFileWriter::Create(path);
    ASSERT_TRUE(writer.ok());
    for (const auto& chunk : bad[i]) ASSERT_TRUE((*writer)->Append(chunk).ok());
    ASSERT_TRUE((*writer)->Finish().ok());
    auto summary = VerifySnapshotFile(path);
    EXPECT_TRUE(absl::IsDataLoss(summary.status())) << i << ": " << summary.status();
  }
}

}  // namespace
}  // namespace paxoskv::client
