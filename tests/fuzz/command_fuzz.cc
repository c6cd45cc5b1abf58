// command_fuzz: the command validators of libs/kv (ValidateCommand, ValidateClientCommand,
// ValidateMigrationCommand), CommandFingerprint and KvStateMachine::Apply, on a sequence of
// paxoskv.v1.Command messages parsed from the fuzzer's bytes (a length byte before each; the
// first byte picks default or tiny KvLimits and where a snapshot is taken). Properties:
//   - no crash and no sanitizer report, whatever the commands;
//   - the validators agree: a command valid for clients or for migration is valid, and a
//     valid command is exactly one of the two;
//   - CommandFingerprint is never 0 and ignores who sent the command, when and how
//     (client_id, seq, ack_below, shard_id, proposed_ms);
//   - Apply of an invalid command returns RESULT_CODE_INVALID_ARGUMENT and changes nothing;
//   - an immediate retry of a GET/PUT/DELETE with a client id returns the first result (or,
//     with a window too small to keep it, STALE_REQUEST): never a second execution;
//   - a state machine restored from a snapshot taken mid-sequence behaves exactly like the
//     one that wrote it: same result for every later command, same Digest() at the end.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "libs/kv/kv_state_machine.h"
#include "paxoskv/v1/command.pb.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_targets.h"

namespace paxoskv::fuzz {
namespace {

namespace pb = ::paxoskv::v1;

constexpr size_t kCommandsMax = 64;

void CheckFingerprint(const pb::Command& command) {
  const uint64_t fingerprint = kv::CommandFingerprint(command);
  FUZZ_CHECK(fingerprint != 0, "CommandFingerprint returned 0");
  pb::Command resent = command;
  resent.set_client_id(command.client_id() + 1);
  resent.set_seq(command.seq() ^ 0x5555);
  resent.set_ack_below(command.ack_below() + 7);
  resent.set_shard_id(command.shard_id() + 1);
  resent.set_proposed_ms(command.proposed_ms() + 1000);
  FUZZ_CHECK(kv::CommandFingerprint(resent) == fingerprint,
             "the fingerprint depends on the sender's identity or timing");
}

// Returns whether the command is valid.
bool CheckValidators(const pb::Command& command) {
  const bool valid = kv::ValidateCommand(command).ok();
  const bool client = kv::ValidateClientCommand(command).ok();
  const bool migration = kv::ValidateMigrationCommand(command).ok();
  FUZZ_CHECK(!client || valid, "valid for clients but not valid");
  FUZZ_CHECK(!migration || valid, "valid for migration but not valid");
  FUZZ_CHECK(!valid || client != migration, "valid: client=%d migration=%d", client, migration);
  return valid;
}

bool IsKeyOp(pb::Op op) { return op == pb::OP_GET || op == pb::OP_PUT || op == pb::OP_DELETE; }

}  // namespace

int FuzzCommand(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint8_t knobs = in.Byte();
  kv::KvLimits limits;
  if (knobs & 1) {   // tiny: windows trimmed, sessions evicted, scans paged
    limits.dedup_window_per_client = 2;
    limits.dedup_clients_max = 2;
    limits.client_idle_ms = 100;
    limits.client_retry_ms = 50;
    limits.scan_limit_max = 3;
  }
  const size_t snapshot_after = (knobs >> 1) % 8;   // commands applied before the snapshot
  const size_t chunk_bytes = 1 + (knobs >> 4) * 16;

  kv::KvStateMachine machine(limits);
  std::optional<kv::KvStateMachine> twin;   // restored from a snapshot, once it is taken
  SlotId slot = 1;
  auto apply = [&](const pb::Command& command) {
    const pb::CommandResult result = machine.Apply(slot, command);
    if (twin.has_value()) {
      const pb::CommandResult again = twin->Apply(slot, command);
      FUZZ_CHECK(again.SerializeAsString() == result.SerializeAsString(),
                 "a machine restored from a snapshot answered slot %llu differently",
                 static_cast<unsigned long long>(slot));
    }
    ++slot;
    return result;
  };

  for (size_t applied = 0; applied < kCommandsMax && !in.empty(); ++applied) {
    if (applied == snapshot_after) {
      std::vector<std::string> chunks;
      const absl::Status written = machine.WriteSnapshot(chunk_bytes, [&](std::string_view c) {
        chunks.emplace_back(c);
        return absl::OkStatus();
      });
      FUZZ_CHECK(written.ok(), "WriteSnapshot: %s", written.ToString().c_str());
      twin.emplace(limits);
      for (const std::string& chunk : chunks) {
        const absl::Status added = twin->AddSnapshotChunk(chunk);
        FUZZ_CHECK(added.ok(), "our own snapshot refused: %s", added.ToString().c_str());
      }
      FUZZ_CHECK(twin->Digest() == machine.Digest(), "digest changed by a snapshot round trip");
    }
    pb::Command command;
    const std::string_view bytes = in.Bytes(4096);
    if (!command.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) continue;
    CheckFingerprint(command);
    const bool valid = CheckValidators(command);
    const uint64_t digest_before = machine.Digest();
    const pb::CommandResult result = apply(command);
    if (!valid) {
      FUZZ_CHECK(result.code() == pb::RESULT_CODE_INVALID_ARGUMENT,
                 "an invalid command was applied (code %d)", static_cast<int>(result.code()));
      FUZZ_CHECK(machine.Digest() == digest_before, "an invalid command changed the state");
      continue;
    }
    if (IsKeyOp(command.op()) && command.client_id() != 0 &&
        (result.code() == pb::RESULT_CODE_OK || result.code() == pb::RESULT_CODE_NOT_FOUND) &&
        in.Bool()) {
      const pb::CommandResult retry = apply(command);
      FUZZ_CHECK(retry.SerializeAsString() == result.SerializeAsString() ||
                     retry.code() == pb::RESULT_CODE_STALE_REQUEST,
                 "a retry of client %llu seq %llu was executed again (code %d)",
                 static_cast<unsigned long long>(command.client_id()),
                 static_cast<unsigned long long>(command.seq()), static_cast<int>(retry.code()));
    }
  }
  if (twin.has_value()) {
    FUZZ_CHECK(twin->Digest() == machine.Digest(), "a restored machine's state diverged");
  }
  return 0;
}

}  // namespace paxoskv::fuzz
