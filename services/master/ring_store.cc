// See ring_store.h.
#include "services/master/ring_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/common/durable_file.h"

namespace paxoskv::master {
namespace {

constexpr char kStateFile[] = "master_state.pb";

absl::Status MakeDirs(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::InternalError(absl::StrCat("mkdir ", dir, ": ", error.message()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RingStore> RingStore::Open(const std::string& data_dir) {
  if (data_dir.empty()) return absl::InvalidArgumentError("--data_dir must not be empty");
  if (absl::Status status = MakeDirs(data_dir); !status.ok()) return status;
  return RingStore(data_dir, absl::StrCat(data_dir, "/", kStateFile));
}

absl::StatusOr<paxoskv::v1::MasterState> RingStore::Load() const {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("no master state at ", path_));
  std::stringstream buffer;
  buffer << in.rdbuf();
  paxoskv::v1::MasterState state;
  if (!state.ParseFromString(buffer.str())) {
    return absl::DataLossError(absl::StrCat("master state ", path_, " does not parse"));
  }
  return state;
}

absl::Status RingStore::Save(const paxoskv::v1::MasterState& state) const {
  std::string bytes;
  if (!state.SerializeToString(&bytes)) return absl::InternalError("serialize master state");
  return WriteFileDurably(dir_, kStateFile, bytes);
}

absl::Status ValidateAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("replica address '", address, "' is not host:port"));
  }
  const std::string host = address.substr(0, colon);
  if (host.find_first_of(" /,;=") != std::string::npos ||
      (host.find(':') != std::string::npos && (host.front() != '[' || host.back() != ']'))) {
    return absl::InvalidArgumentError(absl::StrCat("replica address '", address,
                                                   "' has a malformed host"));
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port == 0 || port > 65535 ||
      address.substr(colon + 1).find_first_not_of("0123456789") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("replica address '", address, "' needs a port in 1..65535"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<paxoskv::v1::ShardConfig>> ParseShardsFlag(const std::string& spec) {
  std::vector<paxoskv::v1::ShardConfig> shards;
  std::set<uint32_t> seen;
  for (absl::string_view group : absl::StrSplit(spec, ';', absl::SkipWhitespace())) {
    group = absl::StripAsciiWhitespace(group);
    std::vector<absl::string_view> parts = absl::StrSplit(group, absl::MaxSplits('=', 1));
    uint32_t id = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &id) || id == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--shards entry '", group, "' must look like 1=host:port,host:port"));
    }
    if (!seen.insert(id).second) {
      return absl::InvalidArgumentError(absl::StrCat("--shards names shard ", id, " twice"));
    }
    paxoskv::v1::ShardConfig shard;
    shard.set_shard_id(id);
    for (absl::string_view address : absl::StrSplit(parts[1], ',', absl::SkipWhitespace())) {
      std::string addr(absl::StripAsciiWhitespace(address));
      if (absl::Status status = ValidateAddress(addr); !status.ok()) return status;
      shard.add_replicas(addr);
    }
    if (shard.replicas_size() == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--shards: shard ", id, " has no replicas"));
    }
    shards.push_back(std::move(shard));
  }
  if (shards.empty()) return absl::InvalidArgumentError("--shards names no shard");
  std::sort(shards.begin(), shards.end(),
            [](const auto& a, const auto& b) { return a.shard_id() < b.shard_id(); });
  return shards;
}

}  // namespace paxoskv::master
