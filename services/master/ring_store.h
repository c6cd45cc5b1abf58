// RingStore: the master's durable state (ring + unfinished migration plan) in one file,
// `<data_dir>/master_state.pb`, replaced atomically: write a temp file, fsync it, rename it
// over the old one, fsync the directory. A crash at any point leaves either the old or the new
// state, never a mix. Also parses and validates the `--shards` flag and replica addresses.
// Thread-compatible: the owner (Master) serialises Save calls.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "paxoskv/v1/master_state.pb.h"

namespace paxoskv::master {

class RingStore {
 public:
  // Creates `data_dir` if missing. kInternal (with errno text) if it cannot.
  static absl::StatusOr<RingStore> Open(const std::string& data_dir);

  // kNotFound when no state was ever saved; kDataLoss when the file does not parse.
  absl::StatusOr<paxoskv::v1::MasterState> Load() const;
  // Durable when it returns OK. kInternal (with errno text) on any I/O failure, in which case
  // the previously saved state is still the one on disk.
  absl::Status Save(const paxoskv::v1::MasterState& state) const;

  const std::string& path() const { return path_; }

 private:
  RingStore(std::string dir, std::string path) : dir_(std::move(dir)), path_(std::move(path)) {}
  std::string dir_;
  std::string path_;
};

// Checks "host:port" (or "[v6]:port"): non-empty host, numeric port 1..65535.
// kInvalidArgument naming the address otherwise.
absl::Status ValidateAddress(const std::string& address);

// Parses "1=h:p,h:p,h:p;2=h:p,..." into shard configs (sorted by id). kInvalidArgument on an
// empty spec, a bad or duplicated shard id, a shard without replicas or a malformed address.
absl::StatusOr<std::vector<paxoskv::v1::ShardConfig>> ParseShardsFlag(const std::string& spec);

}  // namespace paxoskv::master
