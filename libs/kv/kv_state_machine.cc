// The replicated KV state machine: keys in (hash, key) order, the client dedup table, scans
// by hash range and a deterministic snapshot format (see README.md).
#include "libs/kv/kv_state_machine.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <xxhash.h>

#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"
#include "libs/common/limits.h"
#include "libs/kv/key_hash.h"

namespace paxoskv::kv {
namespace {

namespace pb = paxoskv::v1;

// A scan page stops early once it holds this many key + value bytes (at least one entry is
// always returned), so a page of large values still fits one gRPC message.
constexpr size_t kScanPageBytesMax = 4 << 20;

// A position in the key order: (hash, key).
struct KeyRef {
  uint64_t hash;
  std::string_view key;
};

// One key and its value in a single heap block (key bytes then value bytes): 24 bytes of
// bookkeeping per key, which keeps 1 M small keys well under 2x their raw size.
// The value is `mutable` so that it can be replaced in place inside the ordered set; the
// ordering depends only on (hash, key), which never change.
class Record {
 public:
  Record(uint64_t hash, std::string_view key, std::string_view value)
      : hash_(hash),
        key_size_(static_cast<uint32_t>(key.size())),
        value_size_(static_cast<uint32_t>(value.size())) {
    data_.reset(new char[key.size() + value.size()]);
    std::memcpy(data_.get(), key.data(), key.size());
    if (!value.empty()) std::memcpy(data_.get() + key.size(), value.data(), value.size());
  }

  uint64_t hash() const { return hash_; }
  std::string_view key() const { return {data_.get(), key_size_}; }
  std::string_view value() const { return {data_.get() + key_size_, value_size_}; }
  KeyRef ref() const { return {hash_, key()}; }

  void set_value(std::string_view value) const {
    std::unique_ptr<char[]> data(new char[key_size_ + value.size()]);
    std::memcpy(data.get(), data_.get(), key_size_);
    if (!value.empty()) std::memcpy(data.get() + key_size_, value.data(), value.size());
    data_ = std::move(data);
    value_size_ = static_cast<uint32_t>(value.size());
  }

 private:
  uint64_t hash_;
  mutable std::unique_ptr<char[]> data_;
  uint32_t key_size_;
  mutable uint32_t value_size_;
};

bool KeyLess(const KeyRef& a, const KeyRef& b) {
  if (a.hash != b.hash) return a.hash < b.hash;
  return a.key < b.key;
}

struct RecordLess {
  using is_transparent = void;
  bool operator()(const Record& a, const Record& b) const { return KeyLess(a.ref(), b.ref()); }
  bool operator()(const Record& a, const KeyRef& b) const { return KeyLess(a.ref(), b); }
  bool operator()(const KeyRef& a, const Record& b) const { return KeyLess(a, b.ref()); }
};

using RecordSet = absl::btree_set<Record, RecordLess>;

// One client's dedup window.
struct ClientWindow {
  uint64_t forgotten_below = 0;
  uint64_t last_slot = 0;
  std::map<uint64_t, pb::CommandResult> results;  // seq -> first result
  uint64_t bytes = 0;                              // sum of results' ByteSizeLong
};

bool RangeContains(const pb::HashRange& range, uint64_t hash) {
  if (range.begin() == range.end()) return true;
  if (range.begin() < range.end()) return hash >= range.begin() && hash < range.end();
  return hash >= range.begin() || hash < range.end();  // wraps past 2^64 - 1
}

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

pb::CommandResult ErrorResult(pb::ResultCode code, std::string message) {
  pb::CommandResult result;
  result.set_code(code);
  result.set_message(std::move(message));
  return result;
}

// Output of the snapshot writer: a string, or a running hash (Digest) without the copy.
class StringSink {
 public:
  explicit StringSink(std::string* out) : out_(out) {}
  void Append(const char* data, size_t size) { out_->append(data, size); }

 private:
  std::string* out_;
};

class HashSink {
 public:
  HashSink() : state_(XXH64_createState()) { XXH64_reset(state_, 0); }
  ~HashSink() { XXH64_freeState(state_); }
  HashSink(const HashSink&) = delete;
  HashSink& operator=(const HashSink&) = delete;
  void Append(const char* data, size_t size) { XXH64_update(state_, data, size); }
  uint64_t Digest() const { return XXH64_digest(state_); }

 private:
  XXH64_state_t* state_;
};

size_t VarintSize(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

template <typename Sink>
void AppendVarint(Sink& sink, uint64_t value) {
  char buffer[10];
  size_t size = 0;
  while (value >= 0x80) {
    buffer[size++] = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  buffer[size++] = static_cast<char>(value);
  sink.Append(buffer, size);
}

// Appends a length-delimited field (wire type 2).
template <typename Sink>
void AppendBytesField(Sink& sink, uint32_t field, std::string_view bytes) {
  AppendVarint(sink, (field << 3) | 2);
  AppendVarint(sink, bytes.size());
  sink.Append(bytes.data(), bytes.size());
}

}  // namespace

struct KvStateMachine::Impl {
  KvLimits limits;
  RecordSet records;
  uint64_t data_bytes = 0;  // keys + values
  std::map<uint64_t, ClientWindow> clients;
  // Ranges fenced by OP_FREEZE_RANGES: moved (or moving) to another shard. Never shrinks:
  // shards are only ever added, so a range that left never comes back.
  std::vector<pb::HashRange> frozen;

  bool IsFrozen(std::string_view key) const {
    if (frozen.empty()) return false;
    const uint64_t hash = KeyHash(key);
    for (const pb::HashRange& range : frozen) {
      const bool inside = range.begin() < range.end()
                              ? hash >= range.begin() && hash < range.end()
                              : hash >= range.begin() || hash < range.end();
      if (inside) return true;
    }
    return false;
  }

  void Freeze(const pb::Command& command) {
    for (const pb::HashRange& range : command.freeze_ranges()) {
      const bool known = std::any_of(frozen.begin(), frozen.end(), [&](const pb::HashRange& r) {
        return r.begin() == range.begin() && r.end() == range.end();
      });
      if (!known) frozen.push_back(range);
    }
  }
  std::set<std::pair<uint64_t, uint64_t>> clients_by_slot;  // (last_slot, client_id)
  uint64_t dedup_bytes = 0;

  const Record* Find(std::string_view key) const {
    auto it = records.find(KeyRef{KeyHash(key), key});
    return it == records.end() ? nullptr : &*it;
  }

  void Put(std::string_view key, std::string_view value) {
    const uint64_t hash = KeyHash(key);
    auto it = records.find(KeyRef{hash, key});
    if (it != records.end()) {
      data_bytes -= it->value().size();
      it->set_value(value);
    } else {
      records.emplace(hash, key, value);
      data_bytes += key.size();
    }
    data_bytes += value.size();
  }

  bool Erase(std::string_view key) {
    auto it = records.find(KeyRef{KeyHash(key), key});
    if (it == records.end()) return false;
    data_bytes -= it->key().size() + it->value().size();
    records.erase(it);
    return true;
  }

  pb::CommandResult Get(const pb::Command& command) const {
    const Record* record = Find(command.key());
    if (record == nullptr) return ErrorResult(pb::RESULT_CODE_NOT_FOUND, "key not found");
    pb::CommandResult result;
    result.set_value(std::string(record->value()));
    return result;
  }

  // Keys whose hash is in command.range, in (hash, key) order, strictly after the cursor when
  // scan_started. Wrapping ranges are walked in plain key order too ([0, end) first, then
  // [begin, 2^64)), so a cursor is always just a position in that one order.
  void Scan(const pb::Command& command, pb::CommandResult* result) const {
    const pb::HashRange& range = command.range();
    const size_t limit =
        std::max<size_t>(1, std::min<size_t>(command.scan_limit(), limits.scan_limit_max));
    auto it = command.scan_started()
                  ? records.upper_bound(KeyRef{command.scan_after_hash(), command.scan_after_key()})
                  : records.begin();
    size_t count = 0;
    size_t bytes = 0;
    bool done = true;
    while (it != records.end()) {
      const uint64_t hash = it->hash();
      if (!RangeContains(range, hash)) {
        if (range.begin() < range.end() && hash >= range.end()) break;  // past the range
        // Before the (start of the) range: jump to its beginning.
        it = records.lower_bound(KeyRef{range.begin(), std::string_view()});
        continue;
      }
      if (count >= limit || bytes >= kScanPageBytesMax) {
        done = false;  // `it` is one more key in range
        break;
      }
      pb::KeyValue* entry = result->add_entries();
      entry->set_key(std::string(it->key()));
      entry->set_value(std::string(it->value()));
      ++count;
      bytes += it->key().size() + it->value().size();
      ++it;
    }
    result->set_scan_done(done);
    if (!command.scan_started()) {
      for (const auto& [client_id, window] : clients) {
        *result->add_dedup() = ExportClient(client_id, window);
      }
    }
  }

  pb::DedupClient ExportClient(uint64_t client_id, const ClientWindow& window) const {
    pb::DedupClient client;
    client.set_client_id(client_id);
    client.set_forgotten_below(window.forgotten_below);
    client.set_last_slot(window.last_slot);
    for (const auto& [seq, stored] : window.results) {
      pb::DedupEntry* entry = client.add_entries();
      entry->set_seq(seq);
      *entry->mutable_result() = stored;
    }
    return client;
  }

  // Returns the client's window (created if absent) with last_slot raised to `slot`.
  ClientWindow& TouchClient(uint64_t client_id, SlotId slot) {
    auto [it, inserted] = clients.try_emplace(client_id);
    ClientWindow& window = it->second;
    if (inserted || slot > window.last_slot) {
      if (!inserted) clients_by_slot.erase({window.last_slot, client_id});
      window.last_slot = std::max(window.last_slot, slot);
      clients_by_slot.insert({window.last_slot, client_id});
    }
    return window;
  }

  void StoreResult(ClientWindow& window, uint64_t seq, const pb::CommandResult& result) {
    auto [it, inserted] = window.results.try_emplace(seq, result);
    if (!inserted) return;
    const uint64_t size = it->second.ByteSizeLong();
    window.bytes += size;
    dedup_bytes += size;
  }

  void EraseResult(ClientWindow& window, std::map<uint64_t, pb::CommandResult>::iterator it) {
    const uint64_t size = it->second.ByteSizeLong();
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

  // Bounds the window: forgets the smallest seqs beyond dedup_window_per_client.
  void TrimWindow(ClientWindow& window) {
    while (window.results.size() > limits.dedup_window_per_client) {
      const uint64_t seq = window.results.begin()->first;
      EraseResult(window, window.results.begin());
      window.forgotten_below = std::max(window.forgotten_below, seq + 1);
    }
  }

  // Bounds the table: forgets the clients with the smallest last_slot (then smallest id),
  // never `keep` (the client being served).
  void EvictClients(uint64_t keep) {
    auto it = clients_by_slot.begin();
    while (clients.size() > limits.dedup_clients_max && it != clients_by_slot.end()) {
      const uint64_t client_id = it->second;
      if (client_id == keep) {
        ++it;
        continue;
      }
      auto client = clients.find(client_id);
      dedup_bytes -= client->second.bytes;
      clients.erase(client);
      it = clients_by_slot.erase(it);
    }
  }

  // Import of another shard's table: union of windows (our results win on a clash), the
  // higher forgotten_below, and last_slot raised to the importing slot so the imported
  // clients count as recently active here.
  void MergeClient(SlotId slot, const pb::DedupClient& imported) {
    if (imported.client_id() == 0) return;
    ClientWindow& window = TouchClient(imported.client_id(), slot);
    for (const auto& entry : imported.entries()) StoreResult(window, entry.seq(), entry.result());
    window.forgotten_below = std::max(window.forgotten_below, imported.forgotten_below());
    TrimWindow(window);
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
        break;
      case pb::OP_DELETE:
        result.set_existed(Erase(command.key()));
        break;
      case pb::OP_SCAN_RANGE:
        Scan(command, &result);
        break;
      case pb::OP_IMPORT:
        for (const auto& entry : command.import_entries()) Put(entry.key(), entry.value());
        for (const auto& client : command.import_dedup()) MergeClient(slot, client);
        EvictClients(/*keep=*/0);
        break;
      case pb::OP_DELETE_KEYS:
        for (const auto& key : command.keys()) Erase(key);
        break;
      case pb::OP_FREEZE_RANGES:
        Freeze(command);
        break;
      default:  // unreachable: validated by the caller
        return ErrorResult(pb::RESULT_CODE_INVALID_ARGUMENT, "unknown op");
    }
    return result;
  }

  // The snapshot bytes: exactly the deterministic serialisation of a KvSnapshot proto
  // (entries in (hash, key) order, dedup in client_id order), written without building one.
  template <typename Sink>
  void WriteSnapshot(Sink& sink) const {
    for (const Record& record : records) {
      const std::string_view key = record.key();
      const std::string_view value = record.value();
      size_t inner = 1 + VarintSize(key.size()) + key.size();
      if (!value.empty()) inner += 1 + VarintSize(value.size()) + value.size();
      AppendVarint(sink, (1 << 3) | 2);  // KvSnapshot.entries
      AppendVarint(sink, inner);
      AppendBytesField(sink, 1, key);  // KeyValue.key
      if (!value.empty()) AppendBytesField(sink, 2, value);  // KeyValue.value (proto3: omit "")
    }
    std::string bytes;
    for (const auto& [client_id, window] : clients) {
      bytes.clear();
      {
        google::protobuf::io::StringOutputStream stream(&bytes);
        google::protobuf::io::CodedOutputStream coded(&stream);
        coded.SetSerializationDeterministic(true);
        ExportClient(client_id, window).SerializeToCodedStream(&coded);
      }
      AppendBytesField(sink, 2, bytes);  // KvSnapshot.dedup
    }
    for (const pb::HashRange& range : frozen) {
      bytes.clear();
      range.SerializeToString(&bytes);
      AppendBytesField(sink, 3, bytes);  // KvSnapshot.frozen
    }
  }
};

namespace {

bool IsKeyOp(pb::Op op) { return op == pb::OP_GET || op == pb::OP_PUT || op == pb::OP_DELETE; }

pb::CommandResult WrongShard(SlotId slot) {
  pb::CommandResult result = ErrorResult(
      pb::RESULT_CODE_WRONG_SHARD, "the key's hash range has moved to another shard");
  result.set_applied_slot(slot);
  return result;
}

}  // namespace

absl::Status ValidateCommand(const pb::Command& command) {
  switch (command.op()) {
    case pb::OP_GET:
    case pb::OP_DELETE:
      return CheckKey(command.key(), "");
    case pb::OP_PUT: {
      absl::Status status = CheckKey(command.key(), "");
      if (!status.ok()) return status;
      return CheckValue(command.value(), "");
    }
    case pb::OP_SCAN_RANGE:
      if (command.scan_limit() == 0) {
        return absl::InvalidArgumentError("scan_limit must be positive");
      }
      return absl::OkStatus();
    case pb::OP_IMPORT:
      for (int i = 0; i < command.import_entries_size(); ++i) {
        const std::string what = absl::StrCat("import_entries[", i, "]: ");
        absl::Status status = CheckKey(command.import_entries(i).key(), what);
        if (status.ok()) status = CheckValue(command.import_entries(i).value(), what);
        if (!status.ok()) return status;
      }
      for (int i = 0; i < command.import_dedup_size(); ++i) {
        if (command.import_dedup(i).client_id() == 0) {
          return absl::InvalidArgumentError(absl::StrCat("import_dedup[", i, "]: client_id is 0"));
        }
      }
      return absl::OkStatus();
    case pb::OP_DELETE_KEYS:
      for (int i = 0; i < command.keys_size(); ++i) {
        absl::Status status = CheckKey(command.keys(i), absl::StrCat("keys[", i, "]: "));
        if (!status.ok()) return status;
      }
      return absl::OkStatus();
    case pb::OP_FREEZE_RANGES:
      if (command.freeze_ranges_size() == 0) {
        return absl::InvalidArgumentError("freeze_ranges is empty");
      }
      return absl::OkStatus();
    case pb::OP_UNSPECIFIED:
      return absl::InvalidArgumentError("op is unspecified");
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown op ", command.op()));
  }
}

KvStateMachine::KvStateMachine(KvLimits limits) : impl_(std::make_shared<Impl>()) {
  impl_->limits = limits;
}

pb::CommandResult KvStateMachine::Apply(SlotId slot, const pb::Command& command) {
  Impl& impl = *impl_;
  if (absl::Status valid = ValidateCommand(command); !valid.ok()) {
    pb::CommandResult result =
        ErrorResult(pb::RESULT_CODE_INVALID_ARGUMENT, std::string(valid.message()));
    result.set_applied_slot(slot);
    return result;
  }
  // Scans are reads without side effects and their pages are large: never remembered, a
  // retried scan simply runs again. client_id 0 bypasses dedup by contract.
  if (command.client_id() == 0 || command.op() == pb::OP_SCAN_RANGE) {
    if (IsKeyOp(command.op()) && impl.IsFrozen(command.key())) return WrongShard(slot);
    pb::CommandResult result = impl.Execute(slot, command);
    result.set_applied_slot(slot);
    return result;
  }
  auto client = impl.clients.find(command.client_id());
  if (client != impl.clients.end()) {
    ClientWindow& window = client->second;
    auto stored = window.results.find(command.seq());
    if (stored != window.results.end()) {
      pb::CommandResult result = stored->second;  // the first result, not re-applied
      impl.TouchClient(command.client_id(), slot);
      return result;
    }
    if (command.seq() < window.forgotten_below) {
      pb::CommandResult result = ErrorResult(
          pb::RESULT_CODE_STALE_REQUEST, "request too old to deduplicate; outcome unknown");
      result.set_applied_slot(slot);
      return result;
    }
  }
  if (IsKeyOp(command.op()) && impl.IsFrozen(command.key())) {
    // Not executed, so not remembered: a retry at the key's new shard must run there.
    return WrongShard(slot);
  }
  pb::CommandResult result = impl.Execute(slot, command);
  result.set_applied_slot(slot);
  ClientWindow& window = impl.TouchClient(command.client_id(), slot);
  impl.StoreResult(window, command.seq(), result);
  impl.Acknowledge(window, command.ack_below());
  impl.TrimWindow(window);
  impl.EvictClients(/*keep=*/command.client_id());
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

std::string KvStateMachine::Snapshot() const {
  std::string out;
  out.reserve(impl_->data_bytes + impl_->records.size() * 8 + impl_->dedup_bytes);
  StringSink sink(&out);
  impl_->WriteSnapshot(sink);
  return out;
}

uint64_t KvStateMachine::Digest() const {
  HashSink sink;
  impl_->WriteSnapshot(sink);
  return sink.Digest();
}

absl::Status KvStateMachine::Restore(std::string_view data) {
  if (data.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("snapshot larger than 2 GiB");
  }
  auto fresh = std::make_shared<Impl>();
  fresh->limits = impl_->limits;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(data.data()),
                                            static_cast<int>(data.size()));
  in.SetTotalBytesLimit(INT_MAX);
  const auto corrupt = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot does not parse: ", what));
  };
  while (uint32_t tag = in.ReadTag()) {
    const uint32_t field = tag >> 3;
    const uint32_t wire_type = tag & 7;
    if (wire_type != 2 || (field != 1 && field != 2 && field != 3)) {
      if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) {
        return corrupt("bad field");
      }
      continue;
    }
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return corrupt("bad length");
    if (field == 1) {
      const auto limit = in.PushLimit(static_cast<int>(length));
      std::string key;
      std::string value;
      while (uint32_t inner = in.ReadTag()) {
        if (inner == ((1 << 3) | 2)) {
          if (!in.ReadVarint32(&length) || !in.ReadString(&key, static_cast<int>(length))) {
            return corrupt("bad key");
          }
        } else if (inner == ((2 << 3) | 2)) {
          if (!in.ReadVarint32(&length) || !in.ReadString(&value, static_cast<int>(length))) {
            return corrupt("bad value");
          }
        } else if (!google::protobuf::internal::WireFormatLite::SkipField(&in, inner)) {
          return corrupt("bad entry field");
        }
      }
      if (!in.ConsumedEntireMessage()) return corrupt("truncated entry");
      in.PopLimit(limit);
      if (key.empty()) return corrupt("empty key");
      fresh->Put(key, value);
    } else if (field == 3) {
      std::string bytes;
      pb::HashRange range;
      if (!in.ReadString(&bytes, static_cast<int>(length)) || !range.ParseFromString(bytes)) {
        return corrupt("bad frozen range");
      }
      fresh->frozen.push_back(range);
    } else {
      std::string bytes;
      if (!in.ReadString(&bytes, static_cast<int>(length))) return corrupt("truncated dedup");
      pb::DedupClient client;
      if (!client.ParseFromString(bytes) || client.client_id() == 0) {
        return corrupt("bad dedup client");
      }
      ClientWindow& window = fresh->TouchClient(client.client_id(), client.last_slot());
      window.forgotten_below = client.forgotten_below();
      for (const auto& entry : client.entries()) {
        fresh->StoreResult(window, entry.seq(), entry.result());
      }
    }
  }
  if (!in.ConsumedEntireMessage()) return corrupt("trailing bytes");
  impl_ = std::move(fresh);
  return absl::OkStatus();
}

size_t KvStateMachine::key_count() const { return impl_->records.size(); }

uint64_t KvStateMachine::approximate_bytes() const {
  return impl_->data_bytes + impl_->dedup_bytes;
}

}  // namespace paxoskv::kv
