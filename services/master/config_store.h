// ConfigStore: where masters keep their durable state (MasterState: the ring of shards and
// replica addresses with its epoch, and an unfinished AddShard / RemoveShard plan). Every
// change is a compare-and-set against the state the master last loaded or saved, so that two
// masters can never both change the same state: the loser gets kAborted and reloads.
//  - FileConfigStore: one file on one master's volume, `<data_dir>/master_state.pb`, replaced
//    atomically (temp file, fsync, rename, fsync the directory). For a single master.
//  - GroupConfigStore: a configuration group, three (or five) paxoskv-replica processes that
//    agree on the state with the same Multi-Paxos core as any shard; the state is one key
//    (its bytes in base64) written with OP_CAS (exactly once: the store's own client id and seqs).
//    Any number of masters share it (README "Several masters").
// Also parses the --shards and --config_group flags and checks replica addresses.
// Thread-compatible: the owner (Master) serialises Save calls; Load may run beside them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "paxoskv/v1/master_state.pb.h"
#include "services/master/router.h"

namespace paxoskv::master {

class ConfigStore {
 public:
  virtual ~ConfigStore() = default;

  // The state as stored now (for the group: a linearizable read at its leader). kNotFound
  // when nothing was ever saved; kDataLoss when it does not parse; kUnavailable or
  // kDeadlineExceeded when the store cannot be reached.
  virtual absl::StatusOr<paxoskv::v1::MasterState> Load() = 0;
  // Replaces `expected` (the state the caller last loaded or saved; nullptr: nothing saved
  // yet) with `next`. OK: `next` is durable. kAborted: the stored state is no longer
  // `expected` (another master changed it); nothing was written. Any other error: the outcome
  // is unknown (Load tells).
  virtual absl::Status Save(const paxoskv::v1::MasterState* expected,
                            const paxoskv::v1::MasterState& next) = 0;
  // Whether other masters may share this store (they may change the state at any time).
  virtual bool shared() const = 0;
  // Where the state lives, for logs and messages.
  virtual std::string Describe() const = 0;
};

class FileConfigStore : public ConfigStore {
 public:
  // Creates `data_dir` if missing. kInternal (with errno text) if it cannot.
  static absl::StatusOr<std::unique_ptr<FileConfigStore>> Open(const std::string& data_dir);

  absl::StatusOr<paxoskv::v1::MasterState> Load() override;
  // kAborted when the file no longer holds `expected` (another process wrote it); kInternal
  // (with errno text) on an I/O failure, in which case the file holds the previous state.
  absl::Status Save(const paxoskv::v1::MasterState* expected,
                    const paxoskv::v1::MasterState& next) override;
  bool shared() const override { return false; }
  std::string Describe() const override { return path_; }

 private:
  FileConfigStore(std::string dir, std::string path)
      : dir_(std::move(dir)), path_(std::move(path)) {}
  std::string dir_;
  std::string path_;
};

// The configuration group's replicas (its shard id and addresses, as --config_group gives
// them).
struct ConfigGroup {
  uint32_t shard_id = 0;
  std::vector<std::string> replicas;
};

class GroupConfigStore : public ConfigStore {
 public:
  // The key that holds the state in the group's KV state machine.
  static constexpr char kStateKey[] = "paxoskv/master_state";

  // Calls go through `router` (its directory must know `group`), each within `deadline`.
  GroupConfigStore(ConfigGroup group, Router* router, absl::Duration deadline);

  absl::StatusOr<paxoskv::v1::MasterState> Load() override;
  absl::Status Save(const paxoskv::v1::MasterState* expected,
                    const paxoskv::v1::MasterState& next) override;
  bool shared() const override { return true; }
  std::string Describe() const override;

 private:
  const ConfigGroup group_;
  Router* const router_;
  const absl::Duration deadline_;
  const uint64_t client_id_;  // this store's exactly-once id for its writes
  uint64_t next_seq_ = 1;     // one write at a time (the owner serialises Save)
};

// Checks "host:port" (or "[v6]:port"): non-empty host, numeric port 1..65535.
// kInvalidArgument naming the address otherwise.
absl::Status ValidateAddress(const std::string& address);

// Parses "1=h:p,h:p,h:p;2=h:p,..." into shard configs (sorted by id). kInvalidArgument on an
// empty spec, a bad or duplicated shard id, a shard without replicas or a malformed address.
absl::StatusOr<std::vector<paxoskv::v1::ShardConfig>> ParseShardsFlag(const std::string& spec);
// Parses --config_group, "ID=h:p,h:p,h:p" (one entry of --shards' form): an odd number of
// replicas, at most 7.
absl::StatusOr<ConfigGroup> ParseConfigGroupFlag(const std::string& spec);

}  // namespace paxoskv::master
