// See config_store.h.
#include "services/master/config_store.h"

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

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "libs/common/deterministic_bytes.h"
#include "libs/common/durable_file.h"
#include "libs/common/random_id.h"
#include "libs/common/status_macros.h"

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

// ---- FileConfigStore ------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<FileConfigStore>> FileConfigStore::Open(
    const std::string& data_dir) {
  if (data_dir.empty()) return absl::InvalidArgumentError("--data_dir must not be empty");
  if (absl::Status status = MakeDirs(data_dir); !status.ok()) return status;
  return std::unique_ptr<FileConfigStore>(
      new FileConfigStore(data_dir, absl::StrCat(data_dir, "/", kStateFile)));
}

absl::StatusOr<paxoskv::v1::MasterState> FileConfigStore::Load() {
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

absl::Status FileConfigStore::Save(const paxoskv::v1::MasterState* expected,
                                   const paxoskv::v1::MasterState& next) {
  absl::StatusOr<paxoskv::v1::MasterState> stored = Load();
  if (!stored.ok() && stored.status().code() != absl::StatusCode::kNotFound) {
    return stored.status();
  }
  const bool holds = expected == nullptr ? !stored.ok()
                                         : stored.ok() && SerializeDeterministic(*stored) ==
                                                              SerializeDeterministic(*expected);
  if (!holds) {
    return absl::AbortedError(absl::StrCat(path_, " was changed by another process; reload it"));
  }
  return WriteFileDurably(dir_, kStateFile, SerializeDeterministic(next));
}

// ---- GroupConfigStore -----------------------------------------------------------------------

GroupConfigStore::GroupConfigStore(ConfigGroup group, Router* router, absl::Duration deadline)
    : group_(std::move(group)), router_(router), deadline_(deadline), client_id_(RandomId()) {}

std::string GroupConfigStore::Describe() const {
  return absl::StrCat("configuration group ", group_.shard_id, " (",
                      absl::StrJoin(group_.replicas, ","), ")");
}

absl::StatusOr<paxoskv::v1::MasterState> GroupConfigStore::Load() {
  paxoskv::v1::Command get;
  get.set_op(paxoskv::v1::OP_GET);
  get.set_key(kStateKey);
  get.set_shard_id(group_.shard_id);
  absl::StatusOr<paxoskv::v1::CommandResult> result =
      router_->Execute(group_.shard_id, get, absl::Now() + deadline_);
  if (!result.ok()) {
    if (result.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat("no master state in ", Describe(), " yet"));
    }
    return result.status();
  }
  std::string bytes;
  paxoskv::v1::MasterState state;
  if (!absl::Base64Unescape(result->value(), &bytes) || !state.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("the master state in ", Describe(), " does not parse"));
  }
  return state;
}

absl::Status GroupConfigStore::Save(const paxoskv::v1::MasterState* expected,
                                    const paxoskv::v1::MasterState& next) {
  paxoskv::v1::Command cas;
  cas.set_op(paxoskv::v1::OP_CAS);
  cas.set_key(kStateKey);
  // Base64: a command's values are UTF-8 strings (proto3 `string`), the state is binary.
  cas.set_value(absl::Base64Escape(SerializeDeterministic(next)));
  if (expected == nullptr) {
    cas.set_cas_expect_absent(true);
  } else {
    cas.set_cas_expected(absl::Base64Escape(SerializeDeterministic(*expected)));
  }
  cas.set_shard_id(group_.shard_id);
  // Exactly once: a retry after a lost answer gets the first answer, never a failed compare
  // against the state it wrote itself. One write at a time, so every earlier one is answered.
  cas.set_client_id(client_id_);
  cas.set_seq(next_seq_);
  cas.set_ack_below(next_seq_);
  ++next_seq_;
  absl::StatusOr<paxoskv::v1::CommandResult> result =
      router_->Execute(group_.shard_id, cas, absl::Now() + deadline_);
  if (!result.ok()) return result.status();
  if (!result->succeeded()) {
    std::string bytes;
    paxoskv::v1::MasterState now;
    if (absl::Base64Unescape(result->value(), &bytes)) now.ParseFromString(bytes);
    return absl::AbortedError(absl::StrCat(
        "the configuration was changed by another master (now ring epoch ", now.ring().epoch(),
        now.has_migration() ? ", a shard being added or removed" : "", "); retry"));
  }
  return absl::OkStatus();
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
    return absl::InvalidArgumentError(
        absl::StrCat("replica address '", address, "' has a malformed host"));
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

absl::StatusOr<ConfigGroup> ParseConfigGroupFlag(const std::string& spec) {
  absl::StatusOr<std::vector<paxoskv::v1::ShardConfig>> parsed = ParseShardsFlag(spec);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--config_group must look like 100=host:port,host:port,host:port: ",
                     parsed.status().message()));
  }
  if (parsed->size() != 1) {
    return absl::InvalidArgumentError("--config_group names one group");
  }
  ConfigGroup group;
  group.shard_id = (*parsed)[0].shard_id();
  group.replicas.assign((*parsed)[0].replicas().begin(), (*parsed)[0].replicas().end());
  if (group.replicas.size() % 2 == 0 || group.replicas.size() > 7) {
    return absl::InvalidArgumentError(
        absl::StrCat("--config_group needs an odd number of replicas, at most 7 (it has ",
                     group.replicas.size(), ")"));
  }
  return group;
}

}  // namespace paxoskv::master
