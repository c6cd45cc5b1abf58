// Membership of one replica group: who votes, who only learns, and by which data-directory
// incarnation each member is known (libs/paxos README, "Membership"). Configuration is one
// membership with the quorum rule it implies; ApplyConfChange is the one place that says
// which changes are allowed. Pure value types and functions; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "paxoskv/v1/membership.pb.h"

namespace paxoskv::paxos {

class Configuration {
 public:
  // Validates `membership`: ids non-zero and unique, at least one voter, no removed id
  // among the members. Members come out sorted by id.
  static absl::StatusOr<Configuration> Make(paxoskv::v1::Membership membership);
  // A founding membership: `voters` with no incarnation yet (the founding entry names them),
  // and `learner` (0: none) as a learner, e.g. a replica started to join.
  // `addresses` (id -> host:port, may be empty) fills in the members' addresses.
  static Configuration Founding(const std::vector<uint32_t>& voters, uint32_t learner = 0,
                                const std::map<uint32_t, std::string>& addresses = {});

  const paxoskv::v1::Membership& membership() const { return membership_; }
  const paxoskv::v1::Member* Find(uint32_t id) const;
  bool Contains(uint32_t id) const { return Find(id) != nullptr; }
  bool IsVoter(uint32_t id) const;
  bool WasRemoved(uint32_t id) const;
  // Every member but `self` (voters and learners): whom the leader sends to.
  std::vector<uint32_t> Others(uint32_t self) const;
  const std::vector<uint32_t>& voters() const { return voters_; }
  // Every voter's incarnation is known. A voter not pinned yet (a founding member before
  // the founding entry named it) is any incarnation of its id (README, "Founding").
  bool pinned() const { return pinned_; }
  size_t QuorumSize() const { return voters_.size() / 2 + 1; }
  bool IsQuorum(const std::set<uint32_t>& ids) const;
  // The incarnation messages to `id` name (0: not known).
  uint64_t IncarnationOf(uint32_t id) const;
  std::string ToString() const;

 private:
  paxoskv::v1::Membership membership_;
  std::vector<uint32_t> voters_;  // sorted
  bool pinned_ = false;
};

// One membership change, as an operator asks for it (kvctl member ...).
struct ConfChange {
  enum class Type {
    kAddLearner,  // a new id at `address`; `promote`: the leader promotes it once caught up
    kPromote,     // a learner becomes a voter, known by `incarnation` (what the leader heard)
    kRemove,      // a voter or learner leaves for good; its id is never reused
    kSetAddress,  // a member moved to `address`
  };
  Type type = Type::kAddLearner;
  uint32_t id = 0;
  std::string address;
  bool promote = true;
  uint64_t incarnation = 0;
};

// The membership after `change`, or why it is refused (kFailedPrecondition: not allowed from
// `current`; kInvalidArgument: malformed). One voter at most joins or leaves per change, so
// any two majorities of consecutive memberships intersect; a removal never leaves no voter;
// a promotion needs the learner's incarnation; no two members share an address.
absl::StatusOr<paxoskv::v1::Membership> ApplyConfChange(const Configuration& current,
                                                        const ConfChange& change);

// Whether `current` already says what `change` asks for (a retried or repeated request):
// the learner is a member at that address, the member votes, the id was removed, the member
// has that address. The owner answers such a request at once, without a proposal.
bool ChangeInEffect(const Configuration& current, const ConfChange& change);

// The founding entry's membership: `current` with the incarnation of every voter not pinned
// yet filled in from `heard` (id -> incarnation), where known. kFailedPrecondition when it
// would pin none.
absl::StatusOr<paxoskv::v1::Membership> PinIncarnations(
    const Configuration& current, const std::vector<std::pair<uint32_t, uint64_t>>& heard);

}  // namespace paxoskv::paxos
