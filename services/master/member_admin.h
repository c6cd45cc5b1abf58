// MemberAdmin: the Admin.Member* methods. A shard's membership lives in the shard's own log
// (libs/paxos README, "Membership"); this module reads it from the shard's leader
// (Replica.Status) and changes it there (Replica.ChangeMembership), through the Router's one
// leader-following retry loop. After every change, and at every list, it hands the shard's
// member addresses to `on_addresses` (the master routes by them and records them in its ring).
// Thread-safe: no state of its own besides what it is given; holds no lock across an RPC.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "paxoskv/v1/admin.pb.h"
#include "paxoskv/v1/replica.pb.h"
#include "services/master/router.h"

namespace paxoskv::master {

struct MemberAdminOptions {
  // One ChangeMembership attempt: the leader answers once the change is chosen, which waits
  // for the slots in flight ahead of it.
  absl::Duration change_attempt_timeout = absl::Seconds(5);
  absl::Duration probe_timeout = absl::Seconds(1);  // each member's Replica.Status
};

class MemberAdmin {
 public:
  // Every member's address of `shard_id`, in id order.
  using OnAddresses = std::function<void(uint32_t shard_id, std::vector<std::string> addresses)>;
  MemberAdmin(Router* router, MemberAdminOptions options, OnAddresses on_addresses,
              std::shared_ptr<spdlog::logger> log)
      : router_(router),
        options_(options),
        on_addresses_(std::move(on_addresses)),
        log_(std::move(log)) {}

  // The membership as the leader knows it, with each member probed (health, chosen slot).
  // kNotFound for an unknown shard; the Router's errors when no leader answers.
  absl::StatusOr<paxoskv::v1::MemberListResponse> List(uint32_t shard_id, absl::Time deadline);

  // One change, through the leader, returned once chosen. kInvalidArgument for a malformed
  // request (nothing sent); kNotFound for an unknown shard; the replica's refusals.
  absl::StatusOr<paxoskv::v1::MemberChangeResponse> Change(paxoskv::v1::MembershipChange change,
                                                           absl::Time deadline);

 private:
  // Hands the addresses `status` names to on_addresses_.
  void Publish(uint32_t shard_id, const paxoskv::v1::ReplicaStatus& status);

  Router* const router_;
  const MemberAdminOptions options_;
  const OnAddresses on_addresses_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace paxoskv::master
