// Bounds every Paxos message must respect before it may change a node (node.cc Validate),
// and the size the core keeps its own messages under. They protect a replica from a peer
// that is buggy, misconfigured or hostile: no ballot round can overflow, no slot can be
// pushed absurdly far ahead (a leader fills every hole below a slot it proposes), no message
// can carry an unbounded number of entries. Pure constants; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace paxoskv::paxos {

// A ballot round above this is refused: 2^62 leaves 2^62 rounds of room above any round a
// node may take, so `round + 1` never overflows, whatever a peer sends. Real groups use a
// few rounds a day.
constexpr uint64_t kRoundMax = uint64_t{1} << 62;
// A round more than this above every round the receiver has seen is refused: one message
// cannot move a group most of the way to kRoundMax. 2^32 elections is centuries of
// campaigning, even by a node cut off and retrying every few hundred milliseconds.
constexpr uint64_t kRoundJumpMax = uint64_t{1} << 32;
// No slot number in a message may exceed this (a new leader's next slot is one above the
// highest it hears of: it must not overflow).
constexpr uint64_t kSlotMax = uint64_t{1} << 62;
// An entry more than this many slots above the receiver's chosen_through is refused, and so
// is a Promise or Accepted reporting a chosen prefix that far ahead. A leader keeps at most
// inflight_slots_max (64) slots open, and a follower that lags further catches up through
// Learn or InstallSnapshot, which heartbeats trigger; a new leader fills every hole below the
// highest slot it is told of, so the window also bounds that work.
constexpr uint64_t kSlotWindow = uint64_t{1} << 16;
// Entries in one Accept, Promise or Learn.
constexpr size_t kEntriesPerMessageMax = size_t{1} << 16;
// Commands in one entry (a leader packs batch_commands_max, 512 by default).
constexpr size_t kCommandsPerEntryMax = size_t{1} << 16;
// Bytes of one entry's value (a leader packs batch_bytes_max, 4 MiB, but always takes one
// command whole, and a migration import carries a whole page plus a dedup table).
constexpr size_t kEntryBytesMax = size_t{64} << 20;
// The core splits its Accepts and Learns so that each carries about this many bytes of
// entries at most (a single larger entry travels alone).
constexpr size_t kMessageEntryBytesTarget = size_t{16} << 20;

}  // namespace paxoskv::paxos
