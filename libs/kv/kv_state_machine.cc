// The replicated KV state machine: keys in (hash, key) order, the client dedup table with
// its sessions, fences, scans by hash range and the chunked snapshot format (README.md).
#include "libs/kv/kv_state_machine.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#define XXH_STATIC_LINKING_ONLY  // XXH64_state_t on the stack
#include <xxhash.h>

#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"
#include "libs/common/deterministic_bytes.h"
#include "libs/common/limits.h"
#include "libs/kv/record_store.h"
#include "libs/ring/hash_ring.h"

namespace paxoskv::kv {
namespace {

namespace pb = paxoskv::v1;
using google::protobuf::io::CodedOutputStream;
using ring::HashRing;
using ring::StableHash;

// A scan page stops early once it holds this many key + value bytes (at least one entry is
// always returned), so a page of large values still fits one gRPC message.
constexpr size_t kScanPageBytesMax = 4 << 20;
// Bounds on one migration command, so that no single command (or its result) can grow
// without limit: a page of keys the master imports or deletes, the ranges of one fence.
constexpr int kCommandItemsMax = 100000;
// Ranges tracked at once (OP_TRACK_CHANGES): every write checks its key against each. A
// migration tracks one range of each old shard at a time.
constexpr size_t kTrackedRangesMax = 1024;

using Record = RecordStore::Record;

// A key that a tracking (OP_TRACK_CHANGES) saw change, present now or not.
struct ChangedKey {
  uint64_t key_hash;
  std::string key;
  uint64_t tracking_id;

  uint64_t hash() const { return key_hash; }
  KeyRef ref() const { return {key_hash, key}; }
};

// (hash, key, tracking_id); a KeyRef compares with (hash, key) only, so upper_bound(KeyRef)
// passes every tracking's copy of that key.
struct ChangedLess {
  using is_transparent = void;
  bool operator()(const ChangedKey& a, const ChangedKey& b) const {
    if (KeyLess(a.ref(), b.ref())) return true;
    if (KeyLess(b.ref(), a.ref())) return false;
    return a.tracking_id < b.tracking_id;
  }
  bool operator()(const ChangedKey& a, const KeyRef& b) const { return KeyLess(a.ref(), b); }
  bool operator()(const KeyRef& a, const ChangedKey& b) const { return KeyLess(a, b.ref()); }
};

using ChangedSet = absl::btree_set<ChangedKey, ChangedLess>;

// Visits the elements of `set` (ordered by (hash, key) first) whose hash lies in `range`, in
// that order, strictly after `*after` when it is given. Wrapping ranges are walked in plain
// order too ([0, end) first, then [begin, 2^64)), so a cursor is always just a position in
// that one order. `visit` returns false to stop before the element it was given. Returns
// whether the walk reached the end of the range.
template <typename Set, typename Visit>
bool WalkRange(const Set& set, const pb::HashRange& range, const KeyRef* after, Visit visit) {
  auto it = after != nullptr ? set.upper_bound(*after) : set.begin();
  while (it != set.end()) {
    const uint64_t hash = it->hash();
    if (!HashRing::RangeContains(range, hash)) {
      if (range.begin() < range.end() && hash >= range.end()) return true;  // past the range
      // Before the (start of the) range: jump to its beginning.
      it = set.lower_bound(KeyRef{range.begin(), std::string_view()});
      continue;
    }
    if (!visit(*it)) return false;
    ++it;
  }
  return true;
}

// One remembered result: the first outcome of (client_id, seq) and which command it was.
struct StoredResult {
  pb::CommandResult result;
  uint64_t fingerprint = 0;   // 0: unknown (a table from an older version)
  uint64_t stored_slot = 0;   // when this table stored it; 0: unknown (an older version)
};

// One client's session: its dedup window and how recently it was active.
struct ClientWindow {
  uint64_t forgotten_below = 0;
  uint64_t last_slot = 0;
  uint64_t last_active_ms = 0;
  std::map<uint64_t, StoredResult> results;  // seq -> first result
  uint64_t bytes = 0;                        // sum of results' ByteSizeLong
};

absl::Status CheckKey(const std::string& key, absl::string_view what) {
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(what, "key is empty"));
  if (key.size() > kKeySizeMax) {
    return absl::InvalidArgumentError(absl::StrCat(what, "key is ", key.size(),
                                                   " bytes; the limit is ", kKeySizeMax));
  }
  return absl::OkStatus();
}

absl::Status CheckValue(const std::string& value, absl::string_view what) {
  if (value.size() > kValueSizeMax) {
    return absl::InvalidArgumentError(absl::StrCat(what, "value is ", value.size(),
                                                   " bytes; the limit is ", kValueSizeMax));
  }
  return absl::OkStatus();
}

absl::Status CheckCount(int count, absl::string_view what) {
  if (count > kCommandItemsMax) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has ", count, " items; the limit is ", kCommandItemsMax));
  }
  return absl::OkStatus();
}

pb::CommandResult ErrorResult(pb::ResultCode code, std::string message, SlotId slot = 0) {
  pb::CommandResult result;
  result.set_code(code);
  result.set_message(std::move(message));
  result.set_applied_slot(slot);
  return result;
}

// ---- The snapshot encoding -------------------------------------------------------------------

void AppendVarint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// Appends a length-delimited field (wire type 2).
void AppendBytesField(std::string* out, uint32_t field, std::string_view bytes) {
  AppendVarint(out, (field << 3) | 2);
  AppendVarint(out, bytes.size());
  out->append(bytes.data(), bytes.size());
}

// KvSnapshot field numbers (protos/paxoskv/v1/command.proto).
constexpr uint32_t kSnapshotEntries = 1;
constexpr uint32_t kSnapshotDedup = 2;
constexpr uint32_t kSnapshotLegacyFrozen = 3;
constexpr uint32_t kSnapshotFrozenRanges = 4;
constexpr uint32_t kSnapshotSessions = 5;
constexpr uint32_t kSnapshotMembership = 6;
constexpr uint32_t kSnapshotAlarms = 7;
constexpr uint32_t kSnapshotTracked = 8;
constexpr uint32_t kSnapshotChanged = 9;

}  // namespace

uint64_t CommandFingerprint(const pb::Command& command) {
  uint64_t fingerprint = 0;
  if (command.op() == pb::OP_GET || command.op() == pb::OP_PUT || command.op() == pb::OP_DELETE) {
    // The hot path: no copy. op, then key and value each with its length.
    XXH64_state_t state;
    XXH64_reset(&state, 0);
    const uint64_t header[3] = {static_cast<uint64_t>(command.op()), command.key().size(),
                                command.value().size()};
    XXH64_update(&state, header, sizeof(header));
    XXH64_update(&state, command.key().data(), command.key().size());
    XXH64_update(&state, command.value().data(), command.value().size());
    fingerprint = XXH64_digest(&state);
  } else {
    pb::Command what = command;
    what.clear_client_id();
    what.clear_seq();
    what.clear_ack_below();
    what.clear_shard_id();
    what.clear_proposed_ms();
    const std::string bytes = SerializeDeterministic(what);
    fingerprint = XXH64(bytes.data(), bytes.size(), 1);
  }
  return fingerprint == 0 ? 1 : fingerprint;
}

struct KvStateMachine::Impl {
  KvLimits limits;
  RecordStore records;      // keys and values
  uint64_t data_bytes = 0;  // keys + values
  std::map<uint64_t, ClientWindow> clients;
  std::set<std::pair<uint64_t, uint64_t>> clients_by_activity;  // (last_active_ms, client_id)
  uint64_t dedup_bytes = 0;
  pb::SessionState sessions;
  // Ranges fenced by OP_FREEZE_RANGES: moved (or moving) to another shard, until the fence
  // that set them is lifted (OP_UNFREEZE_RANGES with the same freeze_id), or the ranges come
  // back (OP_UNFREEZE_RANGES naming them: a shard removed gives them back to their owner).
  std::vector<pb::FrozenRange> frozen;
  // The latest membership applied (a Value that carried one); no members: none yet.
  pb::Membership membership;
  // Raised alarms: (member_id, AlarmType).
  std::set<std::pair<uint32_t, int>> alarms;
  // OP_TRACK_CHANGES: the ranges tracked (each named by its tracking id, in arrival order) and
  // the keys they saw change since.
  std::vector<pb::FrozenRange> tracked;
  ChangedSet changed;

  // A command put or deleted `key`: every tracking whose range holds it remembers it.
  void NoteChanged(std::string_view key) {
    if (tracked.empty()) return;
    const uint64_t hash = StableHash(key);
    for (const pb::FrozenRange& tracking : tracked) {
      if (HashRing::RangeContains(tracking.range(), hash)) {
        changed.insert(ChangedKey{hash, std::string(key), tracking.freeze_id()});
      }
    }
  }

  // OP_TRACK_CHANGES. Starting: whether every range was tracked already. Stopping: whether any
  // was tracked. RESOURCE_EXHAUSTED, changing nothing, past kTrackedRangesMax.
  pb::CommandResult Track(SlotId slot, const pb::Command& command) {
    const uint64_t id = command.freeze_id();
    auto same = [id](const pb::FrozenRange& t, const pb::HashRange& range) {
      return t.freeze_id() == id && t.range().begin() == range.begin() &&
             t.range().end() == range.end();
    };
    pb::CommandResult result;
    result.set_applied_slot(slot);
    if (command.track_stop()) {
      for (const pb::HashRange& range : command.freeze_ranges()) {
        const size_t removed =
            std::erase_if(tracked, [&](const pb::FrozenRange& t) { return same(t, range); });
        if (removed == 0) continue;
        result.set_existed(true);
        absl::erase_if(changed, [&](const ChangedKey& c) {
          return c.tracking_id == id && HashRing::RangeContains(range, c.key_hash);
        });
      }
      return result;
    }
    std::vector<pb::HashRange> added;
    for (const pb::HashRange& range : command.freeze_ranges()) {
      const bool known = std::any_of(tracked.begin(), tracked.end(),
                                     [&](const pb::FrozenRange& t) { return same(t, range); });
      if (!known) added.push_back(range);
    }
    if (tracked.size() + added.size() > kTrackedRangesMax) {
      return ErrorResult(pb::RESULT_CODE_RESOURCE_EXHAUSTED,
                         absl::StrCat("at most ", kTrackedRangesMax, " ranges are tracked at once"),
                         slot);
    }
    result.set_existed(added.empty());
    for (pb::HashRange& range : added) {
      pb::FrozenRange& tracking = tracked.emplace_back();
      *tracking.mutable_range() = std::move(range);
      tracking.set_freeze_id(id);
    }
    return result;
  }

  bool NoSpace() const {
    return std::any_of(alarms.begin(), alarms.end(),
                       [](const auto& alarm) { return alarm.second == pb::ALARM_NOSPACE; });
  }

  // OP_ALARM: whether it changed anything.
  bool ChangeAlarm(const pb::AlarmChange& change) {
    const uint32_t member = change.alarm().member_id();
    const int type = change.alarm().type();
    if (change.activate()) return alarms.emplace(member, type).second;
    return std::erase_if(alarms, [&](const auto& alarm) {
             return alarm.second == type && (member == 0 || alarm.first == member);
           }) > 0;
  }

  bool IsFrozen(std::string_view key) const {
    if (frozen.empty()) return false;
    const uint64_t hash = StableHash(key);
    return std::any_of(frozen.begin(), frozen.end(), [hash](const pb::FrozenRange& f) {
      return HashRing::RangeContains(f.range(), hash);
    });
  }

  void Freeze(const pb::Command& command) {
    for (const pb::HashRange& range : command.freeze_ranges()) {
      const bool known = std::any_of(frozen.begin(), frozen.end(), [&](const pb::FrozenRange& f) {
        return f.freeze_id() == command.freeze_id() && f.range().begin() == range.begin() &&
               f.range().end() == range.end();
      });
      if (known) continue;
      pb::FrozenRange& added = frozen.emplace_back();
      *added.mutable_range() = range;
      added.set_freeze_id(command.freeze_id());
    }
  }

  // Returns how many ranges the fence `freeze_id` held.
  size_t Unfreeze(uint64_t freeze_id) {
    const size_t before = frozen.size();
    std::erase_if(frozen, [freeze_id](const pb::FrozenRange& f) {
      return f.freeze_id() == freeze_id;
    });
    return before - frozen.size();
  }

  // Lifts every fence from `ranges` (what is fenced outside them stays fenced). Whether any
  // fenced hash was lifted.
  bool UnfreezeRanges(const google::protobuf::RepeatedPtrField<pb::HashRange>& ranges) {
    bool lifted = false;
    for (const pb::HashRange& cut : ranges) {
      std::vector<pb::FrozenRange> left;
      for (const pb::FrozenRange& fence : frozen) {
        std::vector<pb::HashRange> pieces = HashRing::RangeMinus(fence.range(), cut);
        const bool unchanged = pieces.size() == 1 && pieces[0].begin() == fence.range().begin() &&
                               pieces[0].end() == fence.range().end();
        lifted |= !unchanged;
        for (pb::HashRange& piece : pieces) {
          pb::FrozenRange& kept = left.emplace_back();
          *kept.mutable_range() = std::move(piece);
          kept.set_freeze_id(fence.freeze_id());
        }
      }
      frozen = std::move(left);
    }
    return lifted;
  }

  const Record* Find(std::string_view key) const {
    return records.Find(KeyRef{StableHash(key), key});
  }

  void Put(std::string_view key, std::string_view value) {
    data_bytes += records.Put(KeyRef{StableHash(key), key}, value);
  }

  bool Erase(std::string_view key) {
    const size_t erased = records.Erase(KeyRef{StableHash(key), key});
    data_bytes -= erased;
    return erased > 0;
  }

  pb::CommandResult Get(const pb::Command& command) const {
    const Record* record = Find(command.key());
    if (record == nullptr) return ErrorResult(pb::RESULT_CODE_NOT_FOUND, "key not found");
    pb::CommandResult result;
    result.set_value(std::string(record->value()));
    return result;
  }

  // OP_CAS: puts the value if the key holds cas_expected (or is absent, cas_expect_absent).
  pb::CommandResult CompareAndSet(const pb::Command& command) {
    pb::CommandResult result;
    const Record* record = Find(command.key());
    result.set_existed(record != nullptr);
    const bool holds = command.cas_expect_absent()
                           ? record == nullptr
                           : record != nullptr && record->value() == command.cas_expected();
    if (holds) {
      Put(command.key(), command.value());
      result.set_succeeded(true);
    } else if (record != nullptr) {
      result.set_value(std::string(record->value()));
    }
    return result;
  }

  // Keys whose hash is in command.range, in (hash, key) order (WalkRange), strictly after the
  // cursor when scan_started; with scan_changed, only those that tracking freeze_id recorded,
  // present or absent. The first page (not scan_started) also carries the dedup table.
  void Scan(const pb::Command& command, pb::CommandResult* result) const {
    const size_t limit =
        std::max<size_t>(1, std::min<size_t>(command.scan_limit(), limits.scan_limit_max));
    const KeyRef after{command.scan_after_hash(), command.scan_after_key()};
    const KeyRef* cursor = command.scan_started() ? &after : nullptr;
    size_t count = 0;
    size_t bytes = 0;
    auto full = [&] { return count >= limit || bytes >= kScanPageBytesMax; };
    bool done = false;
    if (!command.scan_changed()) {
      done = WalkRange(records.set(), command.range(), cursor, [&](const Record& record) {
        if (full()) return false;
        pb::KeyValue* entry = result->add_entries();
        entry->set_key(std::string(record.key()));
        entry->set_value(std::string(record.value()));
        ++count;
        bytes += record.key().size() + record.value().size();
        return true;
      });
    } else {
      done = WalkRange(changed, command.range(), cursor, [&](const ChangedKey& c) {
        if (c.tracking_id != command.freeze_id()) return true;
        if (full()) return false;
        const Record* record = records.Find(c.ref());
        if (record == nullptr) {
          result->add_absent_keys(c.key);
        } else {
          pb::KeyValue* entry = result->add_entries();
          entry->set_key(c.key);
          entry->set_value(std::string(record->value()));
          bytes += record->value().size();
        }
        ++count;
        bytes += c.key.size();
        return true;
      });
    }
    result->set_scan_done(done);
    if (!command.scan_started()) {
      for (const auto& [client_id, window] : clients) {
        *result->add_dedup() = ExportClient(client_id, window, command.dedup_since_slot());
      }
      *result->mutable_sessions() = sessions;
    }
  }

  // The client's window bounds and its entries stored at `since_slot` or later (all if 0;
  // those of unknown slot always).
  pb::DedupClient ExportClient(uint64_t client_id, const ClientWindow& window,
                               uint64_t since_slot = 0) const {
    pb::DedupClient client;
    client.set_client_id(client_id);
    client.set_forgotten_below(window.forgotten_below);
    client.set_last_slot(window.last_slot);
    client.set_last_active_ms(window.last_active_ms);
    for (const auto& [seq, stored] : window.results) {
      if (stored.stored_slot != 0 && stored.stored_slot < since_slot) continue;
      pb::DedupEntry* entry = client.add_entries();
      entry->set_seq(seq);
      *entry->mutable_result() = stored.result;
      entry->set_fingerprint(stored.fingerprint);
      entry->set_stored_slot(stored.stored_slot);
    }
    return client;
  }

  // Returns the client's window (created if absent), last active at `active_ms` and `slot`
  // at the latest.
  ClientWindow& TouchClient(uint64_t client_id, SlotId slot, uint64_t active_ms) {
    auto [it, inserted] = clients.try_emplace(client_id);
    ClientWindow& window = it->second;
    if (!inserted) clients_by_activity.erase({window.last_active_ms, client_id});
    window.last_slot = std::max(window.last_slot, slot);
    window.last_active_ms = std::max(window.last_active_ms, active_ms);
    clients_by_activity.insert({window.last_active_ms, client_id});
    return window;
  }

  void StoreResult(ClientWindow& window, uint64_t seq, const pb::CommandResult& result,
                   uint64_t fingerprint, uint64_t stored_slot) {
    auto [it, inserted] =
        window.results.try_emplace(seq, StoredResult{result, fingerprint, stored_slot});
    if (!inserted) return;
    const uint64_t size = it->second.result.ByteSizeLong();
    window.bytes += size;
    dedup_bytes += size;
  }

  void EraseResult(ClientWindow& window, std::map<uint64_t, StoredResult>::iterator it) {
    const uint64_t size = it->second.result.ByteSizeLong();
    window.bytes -= size;
    dedup_bytes -= size;
    window.results.erase(it);
  }

  // The client has every result below ack_below: forget them.
  void Acknowledge(ClientWindow& window, uint64_t ack_below) {
    if (ack_below <= window.forgotten_below) return;
    while (!window.results.empty() && window.results.begin()->first < ack_below) {
      EraseResult(window, window.results.begin());
    }
    window.forgotten_below = ack_below;
  }

  // Bounds the window: forgets the smallest seqs beyond dedup_window_per_client (a retry of
  // one of them is then refused as stale: loudly, never applied twice).
  void TrimWindow(ClientWindow& window) {
    while (window.results.size() > limits.dedup_window_per_client) {
      const uint64_t seq = window.results.begin()->first;
      EraseResult(window, window.results.begin());
      window.forgotten_below = std::max(window.forgotten_below, seq + 1);
    }
  }

  // Evicts the least recently active client if it has been idle for client_idle_ms; false if
  // every client is younger. The eviction watermark lets a late copy of an evicted client's
  // command be recognised (Apply) instead of being applied a second time.
  bool EvictIdleClient() {
    if (clients_by_activity.empty()) return false;
    const auto [active_ms, client_id] = *clients_by_activity.begin();
    if (active_ms + limits.client_idle_ms > sessions.now_ms()) return false;
    auto client = clients.find(client_id);
    dedup_bytes -= client->second.bytes;
    clients.erase(client);
    clients_by_activity.erase(clients_by_activity.begin());
    sessions.set_evicted_active_ms(std::max(sessions.evicted_active_ms(), active_ms));
    return true;
  }

  // Whether a command of a client without a session may be a copy of one applied before its
  // session was evicted: the copy was proposed within client_retry_ms of the first attempt.
  bool MayBeEvictedClient(const pb::Command& command) const {
    return sessions.evicted_active_ms() > 0 &&
           command.proposed_ms() <= sessions.evicted_active_ms() + limits.client_retry_ms;
  }

  // Import of another shard's table: union of windows (our results win on a clash), the
  // higher forgotten_below, last_slot raised to the importing slot, and the source's
  // eviction watermark, so a client evicted there is recognised here too.
  void MergeClient(SlotId slot, const pb::DedupClient& imported) {
    ClientWindow& window = TouchClient(imported.client_id(), slot, imported.last_active_ms());
    for (const auto& entry : imported.entries()) {
      StoreResult(window, entry.seq(), entry.result(), entry.fingerprint(), slot);
    }
    window.forgotten_below = std::max(window.forgotten_below, imported.forgotten_below());
    TrimWindow(window);
  }

  void MergeSessions(const pb::SessionState& imported) {
    sessions.set_now_ms(std::max(sessions.now_ms(), imported.now_ms()));
    sessions.set_evicted_active_ms(
        std::max(sessions.evicted_active_ms(), imported.evicted_active_ms()));
  }

  // Executes a valid command without dedup.
  pb::CommandResult Execute(SlotId slot, const pb::Command& command) {
    pb::CommandResult result;
    switch (command.op()) {
      case pb::OP_GET:
        result = Get(command);
        break;
      case pb::OP_PUT:
        Put(command.key(), command.value());
        NoteChanged(command.key());
        break;
      case pb::OP_DELETE:
        result.set_existed(Erase(command.key()));
        if (result.existed()) NoteChanged(command.key());
        break;
      case pb::OP_CAS:
        result = CompareAndSet(command);
        if (result.succeeded()) NoteChanged(command.key());
        break;
      case pb::OP_SCAN_RANGE:
        Scan(command, &result);
        break;
      case pb::OP_IMPORT:
        for (const auto& entry : command.import_entries()) {
          Put(entry.key(), entry.value());
          NoteChanged(entry.key());
        }
        for (const auto& key : command.keys()) {
          if (Erase(key)) NoteChanged(key);
        }
        for (const auto& client : command.import_dedup()) MergeClient(slot, client);
        MergeSessions(command.import_sessions());
        while (clients.size() > limits.dedup_clients_max && EvictIdleClient()) {
        }
        break;
      case pb::OP_DELETE_KEYS:
        for (const auto& key : command.keys()) {
          if (Erase(key)) NoteChanged(key);
        }
        break;
      case pb::OP_TRACK_CHANGES:
        return Track(slot, command);
      case pb::OP_FREEZE_RANGES:
        Freeze(command);
        break;
      case pb::OP_UNFREEZE_RANGES:
        result.set_existed(command.freeze_ranges_size() > 0
                               ? UnfreezeRanges(command.freeze_ranges())
                               : Unfreeze(command.freeze_id()) > 0);
        break;
      case pb::OP_ALARM:
        result.set_existed(ChangeAlarm(command.alarm()));
        break;
      case pb::OP_BARRIER:
        break;
      default:  // unreachable: validated by the caller
        return ErrorResult(pb::RESULT_CODE_INVALID_ARGUMENT, "unknown op");
    }
    result.set_applied_slot(slot);
    return result;
  }

  // The state as a sequence of encoded KvSnapshot records (one field each, in field order,
  // so their concatenation is the deterministic serialization of one KvSnapshot): entries in
  // (hash, key) order, dedup clients in client_id order, fences in arrival order, the
  // session state. `emit` returns non-OK to stop.
  template <typename Emit>
  absl::Status ForEachRecord(Emit emit) const {
    std::string record;
    for (const Record& entry : records.set()) {
      const std::string_view key = entry.key();
      const std::string_view value = entry.value();
      size_t inner = 1 + CodedOutputStream::VarintSize64(key.size()) + key.size();
      if (!value.empty()) inner += 1 + CodedOutputStream::VarintSize64(value.size()) + value.size();
      record.clear();
      AppendVarint(&record, (kSnapshotEntries << 3) | 2);
      AppendVarint(&record, inner);
      AppendBytesField(&record, 1, key);                        // KeyValue.key
      if (!value.empty()) AppendBytesField(&record, 2, value);  // KeyValue.value (omit "")
      if (absl::Status s = emit(record); !s.ok()) return s;
    }
    for (const auto& [client_id, window] : clients) {
      record.clear();
      AppendBytesField(&record, kSnapshotDedup,
                       SerializeDeterministic(ExportClient(client_id, window)));
      if (absl::Status s = emit(record); !s.ok()) return s;
    }
    for (const pb::FrozenRange& range : frozen) {
      record.clear();
      AppendBytesField(&record, kSnapshotFrozenRanges, SerializeDeterministic(range));
      if (absl::Status s = emit(record); !s.ok()) return s;
    }
    if (sessions.ByteSizeLong() > 0) {
      record.clear();
      AppendBytesField(&record, kSnapshotSessions, SerializeDeterministic(sessions));
      if (absl::Status s = emit(record); !s.ok()) return s;
    }
    if (membership.members_size() > 0) {
      record.clear();
      AppendBytesField(&record, kSnapshotMembership, SerializeDeterministic(membership));
      if (absl::Status s = emit(record); !s.ok()) return s;
    }
    for (const auto& [member, type] : alarms) {
      pb::Alarm alarm;
      alarm.set_member_id(member);
      alarm.set_type(static_cast<pb::AlarmType>(type));
      record.clear();
      AppendBytesField(&record, kSnapshotAlarms, SerializeDeterministic(alarm));
      if (absl::Status s = emit(record); !s.ok()) return s;
    }
    for (const pb::FrozenRange& tracking : tracked) {
      record.clear();
      AppendBytesField(&record, kSnapshotTracked, SerializeDeterministic(tracking));
      if (absl::Status s = emit(record); !s.ok()) return s;
    }
    for (const ChangedKey& c : changed) {
      pb::TrackedKey key;
      key.set_key(c.key);
      key.set_tracking_id(c.tracking_id);
      record.clear();
      AppendBytesField(&record, kSnapshotChanged, SerializeDeterministic(key));
      if (absl::Status s = emit(record); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
};

namespace {

bool IsKeyOp(pb::Op op) {
  return op == pb::OP_GET || op == pb::OP_PUT || op == pb::OP_DELETE || op == pb::OP_CAS;
}

pb::CommandResult WrongShard(SlotId slot) {
  return ErrorResult(pb::RESULT_CODE_WRONG_SHARD,
                     "the key's hash range has moved to another shard", slot);
}

// A put while a NOSPACE alarm is raised: refused, not remembered (nothing was applied, so a
// retry after the alarm is cleared applies it).
pb::CommandResult NoSpace(SlotId slot) {
  return ErrorResult(pb::RESULT_CODE_NOSPACE,
                     "NOSPACE alarm: a replica of this shard is out of space; delete keys, "
                     "then clear it (kvctl alarm disarm)",
                     slot);
}

}  // namespace

absl::Status ValidateCommand(const pb::Command& command) {
  if (command.client_id() != 0 && command.seq() == 0) {
    return absl::InvalidArgumentError(
        "seq must be positive when client_id is set (the pair identifies the request)");
  }
  if (command.ack_below() > command.seq() && command.seq() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ack_below ", command.ack_below(), " is above seq ", command.seq(),
        ": a client cannot have every result below a request it has not been answered"));
  }
  switch (command.op()) {
    case pb::OP_GET:
    case pb::OP_DELETE:
      return CheckKey(command.key(), "");
    case pb::OP_PUT: {
      absl::Status status = CheckKey(command.key(), "");
      if (!status.ok()) return status;
      return CheckValue(command.value(), "");
    }
    case pb::OP_CAS: {
      absl::Status status = CheckKey(command.key(), "");
      if (status.ok()) status = CheckValue(command.value(), "");
      if (status.ok()) status = CheckValue(command.cas_expected(), "cas_expected: ");
      if (status.ok() && command.cas_expect_absent() && !command.cas_expected().empty()) {
        status = absl::InvalidArgumentError(
            "cas_expect_absent with a cas_expected value: compare with one or the other");
      }
      return status;
    }
    case pb::OP_SCAN_RANGE:
      if (command.scan_limit() == 0) {
        return absl::InvalidArgumentError("scan_limit must be positive");
      }
      if (command.scan_changed() && command.freeze_id() == 0) {
        return absl::InvalidArgumentError("scan_changed needs the tracking's id (freeze_id)");
      }
      return absl::OkStatus();
    case pb::OP_IMPORT: {
      absl::Status status = CheckCount(command.import_entries_size(), "import_entries");
      if (status.ok()) status = CheckCount(command.import_dedup_size(), "import_dedup");
      if (status.ok()) status = CheckCount(command.keys_size(), "keys");
      for (int i = 0; status.ok() && i < command.keys_size(); ++i) {
        status = CheckKey(command.keys(i), absl::StrCat("keys[", i, "]: "));
      }
      if (!status.ok()) return status;
      for (int i = 0; i < command.import_entries_size(); ++i) {
        const std::string what = absl::StrCat("import_entries[", i, "]: ");
        status = CheckKey(command.import_entries(i).key(), what);
        if (status.ok()) status = CheckValue(command.import_entries(i).value(), what);
        if (!status.ok()) return status;
      }
      for (int i = 0; i < command.import_dedup_size(); ++i) {
        if (command.import_dedup(i).client_id() == 0) {
          return absl::InvalidArgumentError(absl::StrCat("import_dedup[", i, "]: client_id is 0"));
        }
        // No client's seq is 0 (see above), and a snapshot holding one does not restore
        // (AddSnapshotChunk): a state that cannot be snapshotted must never be reached.
        for (const pb::DedupEntry& entry : command.import_dedup(i).entries()) {
          if (entry.seq() == 0) {
            return absl::InvalidArgumentError(
                absl::StrCat("import_dedup[", i, "]: an entry has seq 0"));
          }
        }
      }
      return absl::OkStatus();
    }
    case pb::OP_DELETE_KEYS: {
      absl::Status status = CheckCount(command.keys_size(), "keys");
      for (int i = 0; status.ok() && i < command.keys_size(); ++i) {
        status = CheckKey(command.keys(i), absl::StrCat("keys[", i, "]: "));
      }
      return status;
    }
    case pb::OP_FREEZE_RANGES:
    case pb::OP_TRACK_CHANGES:  // both name ranges and the fence or tracking they make
      if (command.freeze_ranges_size() == 0) {
        return absl::InvalidArgumentError("freeze_ranges is empty");
      }
      if (command.freeze_id() == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("freeze_id must be set (it names the ",
                         command.op() == pb::OP_FREEZE_RANGES ? "fence" : "tracking", ")"));
      }
      return CheckCount(command.freeze_ranges_size(), "freeze_ranges");
    case pb::OP_UNFREEZE_RANGES:
      if (command.freeze_ranges_size() > 0) {
        if (command.freeze_id() != 0) {
          return absl::InvalidArgumentError(
              "name either the fence to lift (freeze_id) or the ranges to lift (freeze_ranges)");
        }
        return CheckCount(command.freeze_ranges_size(), "freeze_ranges");
      }
      if (command.freeze_id() == 0) {
        return absl::InvalidArgumentError("freeze_id must name the fence to lift");
      }
      return absl::OkStatus();
    case pb::OP_ALARM:
      if (command.alarm().alarm().type() != pb::ALARM_NOSPACE) {
        return absl::InvalidArgumentError("alarm.type must be ALARM_NOSPACE");
      }
      if (command.alarm().activate() && command.alarm().alarm().member_id() == 0) {
        return absl::InvalidArgumentError("an alarm is raised for one member (member_id)");
      }
      return absl::OkStatus();
    case pb::OP_BARRIER:
      if (command.client_id() == 0) {
        return absl::InvalidArgumentError("a barrier needs a client_id and seq (it is one)");
      }
      return absl::OkStatus();
    case pb::OP_UNSPECIFIED:
      return absl::InvalidArgumentError("op is unspecified");
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown op ", command.op()));
  }
}

absl::Status ValidateClientCommand(const pb::Command& command) {
  if (command.op() == pb::OP_ALARM && !command.alarm().activate()) {
    return ValidateCommand(command);  // an admin's disarm, through the master
  }
  if (command.op() == pb::OP_ALARM) {
    return absl::InvalidArgumentError(
        "only a replica raises an alarm (for itself, through its leader); clear alarms only");
  }
  if (!IsKeyOp(command.op()) && command.op() != pb::OP_UNSPECIFIED &&
      pb::Op_IsValid(command.op())) {
    return absl::InvalidArgumentError(absl::StrCat(
        pb::Op_Name(command.op()),
        " is a migration operation: only the master sends it, through the Migration service"));
  }
  return ValidateCommand(command);
}

absl::Status ValidateMigrationCommand(const pb::Command& command) {
  if (IsKeyOp(command.op()) || command.op() == pb::OP_ALARM) {
    return absl::InvalidArgumentError(
        absl::StrCat(pb::Op_Name(command.op()), " is not a migration operation"));
  }
  return ValidateCommand(command);
}

KvStateMachine::KvStateMachine(KvLimits limits) : impl_(std::make_shared<Impl>()) {
  impl_->limits = limits;
}

pb::CommandResult KvStateMachine::Apply(SlotId slot, const pb::Command& command) {
  Impl& impl = *impl_;
  if (absl::Status valid = ValidateCommand(command); !valid.ok()) {
    return ErrorResult(pb::RESULT_CODE_INVALID_ARGUMENT, std::string(valid.message()), slot);
  }
  impl.sessions.set_now_ms(std::max(impl.sessions.now_ms(), command.proposed_ms()));
  // Scans are reads without side effects and their pages are large: never remembered, a
  // retried scan simply runs again. client_id 0 bypasses dedup by contract.
  const bool refused_for_space =
      (command.op() == pb::OP_PUT || command.op() == pb::OP_CAS) && impl.NoSpace();
  if (command.client_id() == 0 || command.op() == pb::OP_SCAN_RANGE) {
    if (IsKeyOp(command.op()) && impl.IsFrozen(command.key())) return WrongShard(slot);
    if (refused_for_space) return NoSpace(slot);
    return impl.Execute(slot, command);
  }
  const uint64_t fingerprint = CommandFingerprint(command);
  auto client = impl.clients.find(command.client_id());
  if (client != impl.clients.end()) {
    ClientWindow& window = client->second;
    auto stored = window.results.find(command.seq());
    if (stored != window.results.end()) {
      if (stored->second.fingerprint != 0 && stored->second.fingerprint != fingerprint) {
        return ErrorResult(pb::RESULT_CODE_INVALID_ARGUMENT,
                           absl::StrCat("client_id ", command.client_id(), " seq ",
                                        command.seq(),
                                        " was already used for another command; use a new seq"),
                           slot);
      }
      pb::CommandResult result = stored->second.result;  // the first result, not re-applied
      impl.TouchClient(command.client_id(), slot, command.proposed_ms());
      return result;
    }
    if (command.seq() < window.forgotten_below) {
      return ErrorResult(pb::RESULT_CODE_STALE_REQUEST,
                         "request too old to deduplicate; outcome unknown", slot);
    }
    // After the lookup: a copy of a put applied before the alarm still gets its result.
    if (refused_for_space) return NoSpace(slot);
  } else {
    if (refused_for_space) return NoSpace(slot);
    if (impl.MayBeEvictedClient(command)) {
      return ErrorResult(pb::RESULT_CODE_STALE_REQUEST,
                         "client session expired (evicted while idle); outcome unknown", slot);
    }
    if (impl.clients.size() >= impl.limits.dedup_clients_max && !impl.EvictIdleClient()) {
      return ErrorResult(pb::RESULT_CODE_RESOURCE_EXHAUSTED,
                         absl::StrCat("too many active client sessions (",
                                      impl.limits.dedup_clients_max, "); retry later"),
                         slot);
    }
  }
  if (IsKeyOp(command.op()) && impl.IsFrozen(command.key())) {
    // Not executed, so not remembered: a retry at the key's new shard must run there.
    return WrongShard(slot);
  }
  pb::CommandResult result = impl.Execute(slot, command);
  ClientWindow& window = impl.TouchClient(command.client_id(), slot, command.proposed_ms());
  impl.StoreResult(window, command.seq(), result, fingerprint, slot);
  impl.Acknowledge(window, command.ack_below());
  impl.TrimWindow(window);
  return result;
}

pb::CommandResult KvStateMachine::Read(const pb::Command& command) const {
  if (command.op() != pb::OP_GET) {
    return ErrorResult(pb::RESULT_CODE_INVALID_ARGUMENT, "Read serves only OP_GET");
  }
  if (absl::Status valid = ValidateCommand(command); !valid.ok()) {
    return ErrorResult(pb::RESULT_CODE_INVALID_ARGUMENT, std::string(valid.message()));
  }
  if (impl_->IsFrozen(command.key())) return WrongShard(0);
  return impl_->Get(command);
}

absl::Status KvStateMachine::WriteSnapshot(size_t chunk_bytes, ChunkSink emit) const {
  std::string chunk;
  absl::Status status = impl_->ForEachRecord([&](const std::string& record) -> absl::Status {
    if (!chunk.empty() && chunk.size() + record.size() > chunk_bytes) {
      absl::Status emitted = emit(chunk);
      if (!emitted.ok()) return emitted;
      chunk.clear();
    }
    chunk += record;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  if (!chunk.empty()) return emit(chunk);
  return absl::OkStatus();
}

uint64_t KvStateMachine::Digest() const {
  XXH64_state_t* state = XXH64_createState();
  XXH64_reset(state, 0);
  impl_->ForEachRecord([state](const std::string& record) {
        XXH64_update(state, record.data(), record.size());
        return absl::OkStatus();
      })
      .IgnoreError();   // the sink never fails
  const uint64_t digest = XXH64_digest(state);
  XXH64_freeState(state);
  return digest;
}

absl::Status KvStateMachine::AddSnapshotChunk(std::string_view chunk) {
  const auto corrupt = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot chunk does not parse: ", what));
  };
  if (chunk.size() > static_cast<size_t>(INT_MAX)) return corrupt("chunk larger than 2 GiB");
  Impl& impl = *impl_;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(chunk.data()),
                                            static_cast<int>(chunk.size()));
  in.SetTotalBytesLimit(INT_MAX);
  std::string bytes;
  while (uint32_t tag = in.ReadTag()) {
    const uint32_t field = tag >> 3;
    if ((tag & 7) != 2 || field < kSnapshotEntries || field > kSnapshotChanged) {
      if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) {
        return corrupt("bad field");
      }
      continue;
    }
    uint32_t length = 0;
    if (!in.ReadVarint32(&length) || !in.ReadString(&bytes, static_cast<int>(length))) {
      return corrupt("truncated record");
    }
    switch (field) {
      case kSnapshotEntries: {
        pb::KeyValue entry;
        if (!entry.ParseFromString(bytes)) return corrupt("bad entry");
        if (absl::Status s = CheckKey(entry.key(), "entry: "); !s.ok()) return corrupt(s.message());
        if (absl::Status s = CheckValue(entry.value(), "entry: "); !s.ok()) {
          return corrupt(s.message());
        }
        impl.Put(entry.key(), entry.value());
        break;
      }
      case kSnapshotDedup: {
        pb::DedupClient client;
        if (!client.ParseFromString(bytes) || client.client_id() == 0) {
          return corrupt("bad dedup client");
        }
        if (impl.clients.contains(client.client_id())) return corrupt("dedup client twice");
        ClientWindow& window =
            impl.TouchClient(client.client_id(), client.last_slot(), client.last_active_ms());
        window.forgotten_below = client.forgotten_below();
        for (const auto& entry : client.entries()) {
          if (entry.seq() == 0) return corrupt("dedup entry with seq 0");
          impl.StoreResult(window, entry.seq(), entry.result(), entry.fingerprint(),
                           entry.stored_slot());
        }
        break;
      }
      case kSnapshotLegacyFrozen: {
        pb::FrozenRange& range = impl.frozen.emplace_back();
        if (!range.mutable_range()->ParseFromString(bytes)) return corrupt("bad frozen range");
        break;
      }
      case kSnapshotFrozenRanges: {
        pb::FrozenRange& range = impl.frozen.emplace_back();
        if (!range.ParseFromString(bytes)) return corrupt("bad frozen range");
        break;
      }
      case kSnapshotSessions: {
        pb::SessionState sessions;
        if (!sessions.ParseFromString(bytes)) return corrupt("bad session state");
        impl.MergeSessions(sessions);
        break;
      }
      case kSnapshotMembership: {
        if (!impl.membership.ParseFromString(bytes) || impl.membership.members_size() == 0) {
          return corrupt("bad membership");
        }
        break;
      }
      case kSnapshotAlarms: {
        pb::Alarm alarm;
        if (!alarm.ParseFromString(bytes) || alarm.member_id() == 0 ||
            alarm.type() != pb::ALARM_NOSPACE) {
          return corrupt("bad alarm");
        }
        impl.alarms.emplace(alarm.member_id(), alarm.type());
        break;
      }
      case kSnapshotTracked: {
        pb::FrozenRange& tracking = impl.tracked.emplace_back();
        if (!tracking.ParseFromString(bytes) || tracking.freeze_id() == 0 ||
            impl.tracked.size() > kTrackedRangesMax) {
          return corrupt("bad tracked range");
        }
        break;
      }
      case kSnapshotChanged: {
        pb::TrackedKey key;
        if (!key.ParseFromString(bytes)) return corrupt("bad changed key");
        if (absl::Status s = CheckKey(key.key(), "changed key: "); !s.ok()) {
          return corrupt(s.message());
        }
        const uint64_t hash = StableHash(key.key());
        const bool tracked =
            std::any_of(impl.tracked.begin(), impl.tracked.end(), [&](const pb::FrozenRange& t) {
              return t.freeze_id() == key.tracking_id() && HashRing::RangeContains(t.range(), hash);
            });
        if (!tracked) return corrupt("a changed key outside every tracked range");
        impl.changed.insert(ChangedKey{hash, key.key(), key.tracking_id()});
        break;
      }
    }
  }
  if (!in.ConsumedEntireMessage()) return corrupt("trailing bytes");
  return absl::OkStatus();
}

void KvStateMachine::SetMembership(const pb::Membership& membership) {
  impl_->membership = membership;
}

const pb::Membership& KvStateMachine::membership() const { return impl_->membership; }

std::vector<pb::Alarm> KvStateMachine::alarms() const {
  std::vector<pb::Alarm> out;
  for (const auto& [member, type] : impl_->alarms) {
    pb::Alarm& alarm = out.emplace_back();
    alarm.set_member_id(member);
    alarm.set_type(static_cast<pb::AlarmType>(type));
  }
  return out;
}

bool KvStateMachine::HasAlarm(uint32_t member_id, pb::AlarmType type) const {
  return impl_->alarms.contains({member_id, type});
}

size_t KvStateMachine::key_count() const { return impl_->records.size(); }

uint64_t KvStateMachine::approximate_bytes() const {
  return impl_->data_bytes + impl_->dedup_bytes;
}

}  // namespace paxoskv::kv
