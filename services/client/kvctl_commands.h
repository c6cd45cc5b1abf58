// kvctl's commands that live outside kvctl_main.cc (which parses the command line and runs the
// rest): backups (snapshot save, restore, status) and endpoint health. Each returns kvctl's
// exit code and prints errors to stderr as one line, as every kvctl command does.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>

#include "services/client/kv_client.h"

namespace paxoskv::kvctl {

constexpr int kExitOk = 0;
constexpr int kExitNotFound = 1;
constexpr int kExitUsage = 2;
constexpr int kExitFailure = 3;

// "[#########.....................]": `done` of `total` as a bar 30 wide (empty when total is 0).
std::string ProgressBar(uint64_t done, uint64_t total);

// "kvctl: WHAT failed: CODE: message" on stderr; kExitNotFound for NOT_FOUND, else
// kExitFailure.
int Fail(const std::string& what, const absl::Status& status);

// kvctl snapshot save FILE: Admin.Backup into FILE (snapshot_file.h), with progress on stderr.
int SnapshotSave(client::KvClient& client, const std::string& path);
// kvctl snapshot status FILE [--json]: verifies FILE and prints what it holds.
int SnapshotStatus(const std::string& path, bool json);
// kvctl snapshot restore FILE [--force]: verifies FILE, then writes every key of it through
// the masters (16 writers), with progress on stderr. Refused unless the cluster holds no key
// (a restore builds a new cluster), or with `force`.
int SnapshotRestore(const std::string& masters, const client::KvClientOptions& options,
                    const std::string& path, bool force);

// kvctl endpoint health [--json]: every master of `masters` (a linearizable get, as etcdctl's
// endpoint health does) and every replica the first answering master knows (its status
// probe), each healthy or not, with how long it took. kExitFailure when any is unhealthy.
int EndpointHealth(const std::string& masters, const client::KvClientOptions& options, bool json);

}  // namespace paxoskv::kvctl
