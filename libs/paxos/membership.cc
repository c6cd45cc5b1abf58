// See membership.h.
#include "libs/paxos/membership.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libs/common/check.h"

namespace paxoskv::paxos {

namespace pb = ::paxoskv::v1;

absl::StatusOr<Configuration> Configuration::Make(pb::Membership membership) {
  std::sort(membership.mutable_members()->begin(), membership.mutable_members()->end(),
            [](const pb::Member& a, const pb::Member& b) { return a.id() < b.id(); });
  std::sort(membership.mutable_removed()->begin(), membership.mutable_removed()->end());
  Configuration c;
  c.pinned_ = true;
  for (int i = 0; i < membership.members_size(); ++i) {
    const pb::Member& m = membership.members(i);
    if (m.id() == 0) return absl::InvalidArgumentError("member id 0");
    if (i > 0 && membership.members(i - 1).id() == m.id()) {
      return absl::InvalidArgumentError(absl::StrCat("member ", m.id(), " listed twice"));
    }
    if (std::binary_search(membership.removed().begin(), membership.removed().end(), m.id())) {
      return absl::InvalidArgumentError(absl::StrCat("member ", m.id(), " is also removed"));
    }
    if (!m.learner()) {
      c.voters_.push_back(m.id());
      if (m.incarnation() == 0) c.pinned_ = false;
    }
  }
  if (c.voters_.empty()) return absl::InvalidArgumentError("a membership without a voter");
  c.membership_ = std::move(membership);
  return c;
}

Configuration Configuration::Founding(const std::vector<uint32_t>& voters, uint32_t learner,
                                      const std::map<uint32_t, std::string>& addresses) {
  pb::Membership m;
  for (uint32_t id : voters) {
    if (id != learner) m.add_members()->set_id(id);
  }
  if (learner != 0) {
    pb::Member* l = m.add_members();
    l->set_id(learner);
    l->set_learner(true);
  }
  for (pb::Member& member : *m.mutable_members()) {
    if (auto it = addresses.find(member.id()); it != addresses.end()) {
      member.set_address(it->second);
    }
  }
  absl::StatusOr<Configuration> c = Make(std::move(m));
  // The callers pass checked flags (Node::Restore: non-zero, unique, an odd count).
  PAXOSKV_CHECK(c.ok()) << "founding membership: " << c.status().ToString();
  return *std::move(c);
}

const pb::Member* Configuration::Find(uint32_t id) const {
  auto it = std::lower_bound(membership_.members().begin(), membership_.members().end(), id,
                             [](const pb::Member& m, uint32_t want) { return m.id() < want; });
  return it != membership_.members().end() && it->id() == id ? &*it : nullptr;
}

bool Configuration::IsVoter(uint32_t id) const {
  return std::binary_search(voters_.begin(), voters_.end(), id);
}

bool Configuration::WasRemoved(uint32_t id) const {
  return std::binary_search(membership_.removed().begin(), membership_.removed().end(), id);
}

std::vector<uint32_t> Configuration::Others(uint32_t self) const {
  std::vector<uint32_t> out;
  for (const pb::Member& m : membership_.members()) {
    if (m.id() != self) out.push_back(m.id());
  }
  return out;
}

bool Configuration::IsQuorum(const std::set<uint32_t>& ids) const {
  size_t votes = 0;
  for (uint32_t v : voters_) votes += ids.count(v);
  return !voters_.empty() && votes >= QuorumSize();
}

uint64_t Configuration::IncarnationOf(uint32_t id) const {
  const pb::Member* m = Find(id);
  return m == nullptr ? 0 : m->incarnation();
}

std::string Configuration::ToString() const {
  std::string out;
  for (const pb::Member& m : membership_.members()) {
    absl::StrAppend(&out, out.empty() ? "" : ",", m.id(), m.learner() ? "(learner)" : "");
  }
  if (!pinned_) absl::StrAppend(&out, " unpinned");
  return out;
}

absl::StatusOr<pb::Membership> ApplyConfChange(const Configuration& current,
                                               const ConfChange& change) {
  if (change.id == 0) return absl::InvalidArgumentError("member id 0");
  pb::Membership next = current.membership();
  const pb::Member* member = current.Find(change.id);
  auto find = [&next](uint32_t id) -> pb::Member* {
    for (pb::Member& m : *next.mutable_members()) {
      if (m.id() == id) return &m;
    }
    return nullptr;
  };
  // One member per address, as etcd refuses a peer URL twice: two members at one address
  // would be one replica answering for both.
  if (!change.address.empty()) {
    for (const pb::Member& m : current.membership().members()) {
      if (m.address() == change.address && m.id() != change.id) {
        return absl::FailedPreconditionError(
            absl::StrCat("address ", change.address, " is member ", m.id(),
                         "'s: remove that member first (kvctl member remove)"));
      }
    }
  }
  switch (change.type) {
    case ConfChange::Type::kAddLearner: {
      if (current.WasRemoved(change.id)) {
        return absl::FailedPreconditionError(
            absl::StrCat("id ", change.id,
                         " was a member and was removed; ids are never "
                         "reused: add the replacement under a new id"));
      }
      if (member != nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("id ", change.id, " is already a member"));
      }
      if (change.address.empty())
        return absl::InvalidArgumentError("a new member needs an address");
      pb::Member* m = next.add_members();
      m->set_id(change.id);
      m->set_learner(true);
      m->set_address(change.address);
      m->set_promote(change.promote);
      break;
    }
    case ConfChange::Type::kPromote:
      if (member == nullptr || !member->learner()) {
        return absl::FailedPreconditionError(
            absl::StrCat("id ", change.id, " is not a learner of this shard"));
      }
      if (change.incarnation == 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "learner ", change.id, " has not been heard from: its incarnation is unknown"));
      }
      find(change.id)->set_learner(false);
      find(change.id)->set_promote(false);
      find(change.id)->set_incarnation(change.incarnation);
      break;
    case ConfChange::Type::kRemove: {
      if (member == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("id ", change.id, " is not a member of this shard"));
      }
      if (!member->learner() && current.voters().size() == 1) {
        return absl::FailedPreconditionError("cannot remove the last voter");
      }
      auto* members = next.mutable_members();
      members->erase(std::remove_if(members->begin(), members->end(),
                                    [&](const pb::Member& m) { return m.id() == change.id; }),
                     members->end());
      next.add_removed(change.id);
      break;
    }
    case ConfChange::Type::kSetAddress:
      if (member == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat("id ", change.id, " is not a member of this shard"));
      }
      if (change.address.empty()) return absl::InvalidArgumentError("empty address");
      find(change.id)->set_address(change.address);
      break;
  }
  absl::StatusOr<Configuration> checked = Configuration::Make(next);
  if (!checked.ok()) return checked.status();
  return checked->membership();
}

bool ChangeInEffect(const Configuration& current, const ConfChange& change) {
  const pb::Member* member = current.Find(change.id);
  switch (change.type) {
    case ConfChange::Type::kAddLearner:
    case ConfChange::Type::kSetAddress:
      return member != nullptr && member->address() == change.address;
    case ConfChange::Type::kPromote:
      return current.IsVoter(change.id);
    case ConfChange::Type::kRemove:
      return current.WasRemoved(change.id);
  }
  return false;
}

absl::StatusOr<pb::Membership> PinIncarnations(
    const Configuration& current, const std::vector<std::pair<uint32_t, uint64_t>>& heard) {
  pb::Membership next = current.membership();
  bool pinned_any = false;
  for (pb::Member& m : *next.mutable_members()) {
    if (m.learner() || m.incarnation() != 0) continue;
    auto it = std::find_if(heard.begin(), heard.end(),
                           [&](const auto& h) { return h.first == m.id() && h.second != 0; });
    if (it == heard.end()) continue;
    m.set_incarnation(it->second);
    pinned_any = true;
  }
  if (!pinned_any) return absl::FailedPreconditionError("no voter left to pin");
  return next;
}

}  // namespace paxoskv::paxos
