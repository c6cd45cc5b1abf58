// The fuzz harnesses of tests/fuzz, as plain functions: libFuzzer's entry point calls one
// (fuzz_main.cc, one binary per harness with -DPAXOSKV_FUZZ_ENTRY=...), and replay_test.cc
// calls them on the checked-in corpus and regression inputs in every build. Each returns 0;
// a broken property aborts (FUZZ_CHECK, PAXOSKV_CHECK, a sanitizer). Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace paxoskv::fuzz {

// paxos_node_fuzz: member 1 of a 3-member paxos::Node group, invariants checked after every
// input, driven by a stream of operations decoded from the bytes (paxos_node_fuzz.cc).
int FuzzPaxosNode(const uint8_t* data, size_t size);

// The input format of FuzzPaxosNode (make_corpus.cc writes seeds in it): a byte of config
// knobs, a seed byte, then operations, each an op byte ((byte & 0x7f) % kOpCount, plus
// kKeepReadyBit) followed by the bytes that op reads (paxos_node_fuzz.cc).
enum PaxosNodeOp : uint8_t {
  kTick,             // count byte: 1..8 ticks
  kCampaign,         // Campaign() and one Tick
  kPropose,          // a command
  kReadIndex,
  kTakeReady,        // nothing else (the Ready is taken after every op anyway)
  kCompact,          // byte: how far below applied_through
  kRestart,          // Restore from what the driver made durable
  kRawMessage,       // PaxosMessage bytes, then a flag: force `to` to the node
  kPrepare,          // structured messages from a peer: envelope, ballot, slots, values
  kPromise,
  kAccept,
  kAccepted,
  kLearn,
  kInstallSnapshot,
  kReply,            // byte: which sent message (0 = the latest), byte: ok (b % 4 != 0), ...
  kReplyAgain,       // the same as kReply (replies get the node elected and slots chosen)
  kOpCount,
};
constexpr uint8_t kKeepReadyBit = 0x80;   // in the op byte: let the Ready accumulate

// kv_snapshot_fuzz: KvStateMachine::AddSnapshotChunk on chunks cut from the bytes; a snapshot
// it accepts must survive WriteSnapshot and a restore with the same Digest().
int FuzzKvSnapshot(const uint8_t* data, size_t size);

// command_fuzz: the command validators, CommandFingerprint and KvStateMachine::Apply on
// paxoskv.v1.Command messages parsed from the bytes.
int FuzzCommand(const uint8_t* data, size_t size);

}  // namespace paxoskv::fuzz
