// See member_admin.h.
#include "services/master/member_admin.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/common/grpc_status.h"
#include "libs/common/status_macros.h"
#include "libs/common/status_markers.h"
#include "services/master/config_store.h"

namespace paxoskv::master {

namespace pb = paxoskv::v1;

namespace {

absl::Status ValidateChange(const pb::MembershipChange& change) {
  if (change.shard_id() == 0) return absl::InvalidArgumentError("shard_id must be non-zero");
  if (change.replica_id() == 0) return absl::InvalidArgumentError("replica_id must be non-zero");
  switch (change.type()) {
    case pb::MembershipChange::ADD_LEARNER:
    case pb::MembershipChange::SET_ADDRESS:
      return ValidateAddress(change.address());
    case pb::MembershipChange::PROMOTE:
    case pb::MembershipChange::REMOVE:
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError("unknown membership change type");
  }
}

}  // namespace

void MemberAdmin::Publish(uint32_t shard_id, const pb::ReplicaStatus& status) {
  std::vector<std::string> addresses;
  for (const pb::Member& m : status.membership().members()) {
    auto it = status.member_address().find(m.id());
    if (it != status.member_address().end()) addresses.push_back(it->second);
  }
  if (!addresses.empty()) on_addresses_(shard_id, std::move(addresses));
}

absl::StatusOr<pb::MemberListResponse> MemberAdmin::List(uint32_t shard_id, absl::Time deadline) {
  ASSIGN_OR_RETURN(pb::ReplicaStatus leader, router_->LeaderStatus(shard_id, deadline));
  Publish(shard_id, leader);
  pb::MemberListResponse out;
  out.set_shard_id(shard_id);
  out.set_leader_id(leader.replica_id());
  out.set_leader_chosen_slot(leader.chosen_slot());
  *out.mutable_removed() = leader.membership().removed();
  std::vector<std::string> addresses;
  for (const pb::Member& m : leader.membership().members()) {
    auto it = leader.member_address().find(m.id());
    const std::string address = it == leader.member_address().end() ? "" : it->second;
    addresses.push_back(address);
    pb::MemberStatus* member = out.add_members();
    member->set_id(m.id());
    member->set_address(address);
    member->set_role(m.learner() ? "learner" : "voter");
    member->set_incarnation(m.incarnation());
    member->set_promote(m.promote());
    member->set_leader(m.id() == leader.replica_id());
    auto chosen = leader.member_chosen_slot().find(m.id());
    const uint64_t theirs = member->leader()                              ? leader.chosen_slot()
                            : chosen == leader.member_chosen_slot().end() ? 0
                                                                          : chosen->second;
    member->set_behind(leader.chosen_slot() > theirs ? leader.chosen_slot() - theirs : 0);
  }
  // Every member at once (a dead one costs one probe timeout, not one each).
  std::vector<ShardDirectory::Probed> probes =
      router_->directory()->ProbeAll(addresses, options_.probe_timeout);
  for (int i = 0; i < out.members_size(); ++i) {
    pb::MemberStatus* member = out.mutable_members(i);
    auto& status = probes[static_cast<size_t>(i)].status;
    auto& error = probes[static_cast<size_t>(i)].error;
    if (error.ok() && (status.replica_id() != member->id() || status.shard_id() != shard_id)) {
      error = absl::FailedPreconditionError(
          absl::StrCat("answered as shard ", status.shard_id(), " replica ", status.replica_id()));
    }
    member->set_healthy(error.ok());
    if (!error.ok()) {
      member->set_error(std::string(error.message()));
      continue;
    }
    member->set_chosen_slot(status.chosen_slot());
    if (status.incarnation() != member->incarnation() && member->incarnation() != 0) {
      member->set_error(absl::StrCat("its data directory is incarnation ",
                                     absl::Hex(status.incarnation()),
                                     ", not the member's: it was wiped; remove it and add a "
                                     "replacement under a new id"));
    }
  }
  return out;
}

absl::StatusOr<pb::MemberChangeResponse> MemberAdmin::Change(pb::MembershipChange change,
                                                             absl::Time deadline) {
  RETURN_IF_ERROR(ValidateChange(change));
  const uint32_t shard_id = change.shard_id();
  if (!router_->directory()->Replicas(shard_id).has_value()) {
    return absl::NotFoundError(absl::StrCat("unknown shard ", shard_id));
  }
  pb::MembershipChangeResult result;
  RETURN_IF_ERROR(router_->Call(
      shard_id, deadline, options_.change_attempt_timeout,
      [&](const std::string& target, absl::Time attempt_deadline) -> absl::Status {
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(attempt_deadline));
        result.Clear();
        return FromGrpcStatus(
            router_->directory()->Stub(target)->ChangeMembership(&context, change, &result),
            &context);
      }));
  log_->info("shard {} membership change {} of replica {}{}: {}", shard_id,
             pb::MembershipChange::Type_Name(change.type()), change.replica_id(),
             change.address().empty() ? "" : absl::StrCat(" at ", change.address()),
             result.already() ? "already in effect" : "chosen");
  // The addresses to route by, as the leader knows them now.
  absl::StatusOr<pb::ReplicaStatus> leader = router_->LeaderStatus(shard_id, deadline);
  if (leader.ok()) Publish(shard_id, *leader);
  pb::MemberChangeResponse out;
  *out.mutable_membership() = result.membership();
  out.set_already(result.already());
  return out;
}

}  // namespace paxoskv::master
