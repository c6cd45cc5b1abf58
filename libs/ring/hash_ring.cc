// See hash_ring.h. Positions come from stable_hash.h.
#include "libs/ring/hash_ring.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/common/check.h"
#include "libs/ring/stable_hash.h"

namespace paxoskv::ring {

absl::StatusOr<HashRing> HashRing::Create(uint64_t epoch, std::vector<uint32_t> shard_ids,
                                          uint32_t virtual_nodes) {
  if (shard_ids.empty()) {
    return absl::InvalidArgumentError("hash ring needs at least one shard");
  }
  if (virtual_nodes == 0) {
    return absl::InvalidArgumentError("hash ring needs at least one virtual node per shard");
  }
  std::sort(shard_ids.begin(), shard_ids.end());
  for (size_t i = 0; i < shard_ids.size(); ++i) {
    if (shard_ids[i] == 0) return absl::InvalidArgumentError("shard id 0 is reserved");
    if (i > 0 && shard_ids[i] == shard_ids[i - 1]) {
      return absl::InvalidArgumentError(absl::StrCat("shard id ", shard_ids[i], " is duplicated"));
    }
  }
  HashRing ring;
  ring.epoch_ = epoch;
  ring.virtual_nodes_ = virtual_nodes;
  ring.shard_ids_ = std::move(shard_ids);
  ring.points_.reserve(ring.shard_ids_.size() * virtual_nodes);
  for (uint32_t shard : ring.shard_ids_) {
    for (uint32_t v = 0; v < virtual_nodes; ++v) {
      ring.points_.emplace_back(VirtualNodePosition(shard, v), shard);
    }
  }
  // On an (astronomically unlikely) position collision the lower shard id sorts first and
  // therefore wins: still deterministic everywhere.
  std::sort(ring.points_.begin(), ring.points_.end());
  return ring;
}

uint32_t HashRing::OwnerOfHash(uint64_t hash) const {
  PAXOSKV_CHECK(!points_.empty()) << "empty ring";
  auto it = std::lower_bound(points_.begin(), points_.end(), hash,
                             [](const std::pair<uint64_t, uint32_t>& point, uint64_t h) {
                               return point.first < h;
                             });
  if (it == points_.end()) it = points_.begin();  // Wrap past 2^64-1.
  return it->second;
}

uint32_t HashRing::OwnerOf(std::string_view key) const { return OwnerOfHash(StableHash(key)); }

absl::StatusOr<HashRing> HashRing::WithShard(uint32_t shard_id) const {
  if (std::find(shard_ids_.begin(), shard_ids_.end(), shard_id) != shard_ids_.end()) {
    return absl::AlreadyExistsError(absl::StrCat("shard ", shard_id, " is already in the ring"));
  }
  std::vector<uint32_t> ids = shard_ids_;
  ids.push_back(shard_id);
  return Create(epoch_ + 1, std::move(ids), virtual_nodes_);
}

absl::StatusOr<HashRing> HashRing::WithoutShard(uint32_t shard_id) const {
  std::vector<uint32_t> ids = shard_ids_;
  auto it = std::find(ids.begin(), ids.end(), shard_id);
  if (it == ids.end()) {
    return absl::NotFoundError(absl::StrCat("shard ", shard_id, " is not in the ring"));
  }
  if (ids.size() == 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("shard ", shard_id, " is the last shard: its keys would have nowhere to go"));
  }
  ids.erase(it);
  return Create(epoch_ + 1, std::move(ids), virtual_nodes_);
}

std::vector<MovingRange> HashRing::Diff(const HashRing& next) const {
  // Every owner change happens at a virtual-node position of either ring, so between two
  // consecutive distinct positions p_{i-1} < p_i both owners are constant: the segment
  // (p_{i-1}, p_i] = [p_{i-1} + 1, p_i + 1) belongs to OwnerOfHash(p_i) in each ring.
  // Segment 0 wraps: (p_{n-1}, 2^64) + [0, p_0]. Unsigned arithmetic makes +1 wrap correctly.
  std::vector<uint64_t> positions;
  positions.reserve(points_.size() + next.points_.size());
  for (const auto& p : points_) positions.push_back(p.first);
  for (const auto& p : next.points_) positions.push_back(p.first);
  std::sort(positions.begin(), positions.end());
  positions.erase(std::unique(positions.begin(), positions.end()), positions.end());

  std::vector<MovingRange> out;
  const size_t n = positions.size();
  for (size_t i = 0; i < n; ++i) {
    const uint64_t begin = positions[(i + n - 1) % n] + 1;
    const uint64_t end = positions[i] + 1;
    const uint32_t from = OwnerOfHash(positions[i]);
    const uint32_t to = next.OwnerOfHash(positions[i]);
    if (from == to) continue;
    if (!out.empty() && out.back().range.end() == begin && out.back().from_shard == from &&
        out.back().to_shard == to) {
      out.back().range.set_end(end);
      continue;
    }
    MovingRange moving;
    moving.range.set_begin(begin);
    moving.range.set_end(end);
    moving.from_shard = from;
    moving.to_shard = to;
    out.push_back(std::move(moving));
  }
  // Join the last range with the first when they meet across the wrap point.
  if (out.size() > 1 && out.back().range.end() == out.front().range.begin() &&
      out.back().from_shard == out.front().from_shard &&
      out.back().to_shard == out.front().to_shard) {
    out.front().range.set_begin(out.back().range.begin());
    out.pop_back();
  }
  return out;
}

namespace {

// A range as half-open intervals of [0, 2^64], which need 65 bits: a wrapping one is two.
using Wide = unsigned __int128;
constexpr Wide kRingSize = Wide{1} << 64;

std::vector<std::pair<Wide, Wide>> Intervals(const paxoskv::v1::HashRange& range) {
  const Wide begin = range.begin(), end = range.end();
  if (end > begin) return {{begin, end}};
  std::vector<std::pair<Wide, Wide>> out = {{begin, kRingSize}};  // end <= begin: wraps
  if (end > 0) out.emplace_back(0, end);
  return out;
}

}  // namespace

std::vector<paxoskv::v1::HashRange> HashRing::RangeMinus(const paxoskv::v1::HashRange& from,
                                                         const paxoskv::v1::HashRange& cut) {
  std::vector<std::pair<Wide, Wide>> pieces = Intervals(from);
  for (const auto& [cut_begin, cut_end] : Intervals(cut)) {
    std::vector<std::pair<Wide, Wide>> left;
    for (const auto& [begin, end] : pieces) {
      if (cut_end <= begin || end <= cut_begin) {  // disjoint
        left.emplace_back(begin, end);
        continue;
      }
      if (begin < cut_begin) left.emplace_back(begin, cut_begin);
      if (cut_end < end) left.emplace_back(cut_end, end);
    }
    pieces = std::move(left);
  }
  std::vector<paxoskv::v1::HashRange> out;
  for (const auto& [begin, end] : pieces) {
    paxoskv::v1::HashRange& range = out.emplace_back();
    range.set_begin(static_cast<uint64_t>(begin));
    range.set_end(static_cast<uint64_t>(end));  // 2^64 becomes 0: [begin, 2^64) wraps to 0
  }
  return out;
}

bool HashRing::RangeContains(const paxoskv::v1::HashRange& range, uint64_t hash) {
  if (range.begin() < range.end()) return range.begin() <= hash && hash < range.end();
  // end <= begin: wraps ([begin, 2^64) + [0, end)); begin == end is the whole ring.
  return hash >= range.begin() || hash < range.end();
}

}  // namespace paxoskv::ring
