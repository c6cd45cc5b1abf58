// kvctl: command-line client of the paxoskv master.
//
//   kvctl [--master HOST:PORT] [--timeout_ms N] put KEY VALUE
//   kvctl [--master HOST:PORT] get KEY
//   kvctl [--master HOST:PORT] delete KEY
//   kvctl [--master HOST:PORT] add-shard ID ADDR,ADDR,ADDR
//   kvctl [--master HOST:PORT] remove-shard ID
//   kvctl [--master HOST:PORT] status [--json]
//   kvctl [--master HOST:PORT] member list SHARD [--json]
//   kvctl [--master HOST:PORT] member add SHARD ID ADDR [--no_promote] [--wait]
//   kvctl [--master HOST:PORT] member remove SHARD ID
//   kvctl [--master HOST:PORT] member promote SHARD ID
//   kvctl [--master HOST:PORT] member update SHARD ID ADDR
//   kvctl [--master HOST:PORT] alarm list [SHARD] [--json]   (etcdctl alarm list)
//   kvctl [--master HOST:PORT] alarm disarm [SHARD]          (clears; prints what was raised)
//   kvctl [--master HOST:PORT] endpoint health [--json]      (etcdctl endpoint health)
//   kvctl [--master HOST:PORT] snapshot save FILE            (etcdctl snapshot save)
//   kvctl snapshot status FILE [--json]
//   kvctl [--master HOST:PORT] snapshot restore FILE [--force]
// Mutual TLS with --cert_dir DIR (DIR/ca.crt, DIR/tls.crt, DIR/tls.key: a certificate naming
// "admin", or "client" for put/get/delete only), --cacert/--cert/--key, or $PAXOSKV_CERT_DIR;
// plaintext only with --insecure.
//
// --direct: put, get and delete go straight to the key's shard leader by the masters' ring
// (KvClient's direct mode, services/client/kv_client.h); the replicas' addresses must be
// reachable from here.
//
// --master takes one address or several (HOST:PORT,HOST:PORT,...): a call that cannot reach
// one master goes on at the next with the same (client_id, seq). The master defaults to
// $PAXOSKV_MASTER, else 127.0.0.1:50051. Exit codes: 0 success,
// 1 key not found (get, delete), 2 usage error, 3 any other failure. Errors go to stderr as
// one line: "kvctl: put failed: UNAVAILABLE: ...".
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "libs/common/tls.h"
#include "services/client/kv_client.h"
#include "services/client/kvctl_commands.h"

namespace {

namespace pb = paxoskv::v1;
using paxoskv::client::CallOptions;
using paxoskv::client::KvClient;
using paxoskv::kvctl::Fail;
using paxoskv::kvctl::kExitFailure;
using paxoskv::kvctl::kExitNotFound;
using paxoskv::kvctl::kExitOk;
using paxoskv::kvctl::kExitUsage;

constexpr char kUsageLine[] =
    "usage: kvctl [--master HOST:PORT[,HOST:PORT...]] [--timeout_ms N] [--direct] "
    "[--cert_dir DIR | --cacert F --cert F --key F | --insecure] "
    "put KEY VALUE | get KEY | delete KEY | add-shard ID ADDR,ADDR,ADDR | remove-shard ID | "
    "status [--json] | "
    "member list SHARD [--json] | member add SHARD ID ADDR [--no_promote] [--wait] | "
    "member remove SHARD ID | member promote SHARD ID | member update SHARD ID ADDR | "
    "alarm list [SHARD] [--json] | alarm disarm [SHARD] | endpoint health [--json] | "
    "snapshot save FILE | snapshot status FILE [--json] | snapshot restore FILE [--force]";

int Usage(const std::string& problem) {
  std::cerr << "kvctl: " << problem << "\n" << kUsageLine << "\n";
  return kExitUsage;
}

// A shard or replica id: a positive integer.
bool ParseId(const std::string& text, uint32_t* id) {
  return absl::SimpleAtoi(text, id) && *id != 0;
}

struct Args {
  std::string master;
  paxoskv::TlsFiles tls;  // --cacert, --cert, --key, --insecure
  std::string cert_dir;   // --cert_dir
  std::optional<int64_t> timeout_ms;
  bool json = false;
  bool direct = false;  // put/get/delete straight to the shard leader
  bool help = false;
  bool no_promote = false;  // member add
  bool wait = false;        // member add: until the new member votes
  bool force = false;       // snapshot restore: into a cluster that holds keys
  std::vector<std::string> positional;
};

// Flags may appear anywhere; both "--flag value" and "--flag=value" work.
std::optional<std::string> ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto take_value = [&](const std::string& name, std::string* out) -> bool {
      const std::string prefix = "--" + name;
      if (arg == prefix || arg == "-" + prefix) {
        if (i + 1 >= argc) return false;
        *out = argv[++i];
        return true;
      }
      for (const std::string& p : {prefix + "=", "-" + prefix + "="}) {
        if (absl::StartsWith(arg, p)) {
          *out = arg.substr(p.size());
          return true;
        }
      }
      return false;
    };
    std::string value;
    if (arg == "--") {
      for (++i; i < argc; ++i) args->positional.push_back(argv[i]);
      break;
    } else if (take_value("master", &value)) {
      args->master = value;
    } else if (take_value("cacert", &args->tls.ca_file) ||
               take_value("cert", &args->tls.cert_file) || take_value("key", &args->tls.key_file) ||
               take_value("cert_dir", &args->cert_dir)) {
    } else if (arg == "--insecure") {
      args->tls.insecure = true;
    } else if (take_value("timeout_ms", &value)) {
      int64_t ms = 0;
      if (!absl::SimpleAtoi(value, &ms) || ms <= 0) return "--timeout_ms needs a positive integer";
      args->timeout_ms = ms;
    } else if (arg == "--json") {
      args->json = true;
    } else if (arg == "--direct") {
      args->direct = true;
    } else if (arg == "--no_promote" || arg == "--no-promote") {
      args->no_promote = true;
    } else if (arg == "--wait") {
      args->wait = true;
    } else if (arg == "--force") {
      args->force = true;
    } else if (arg == "--help" || arg == "-h") {
      args->help = true;
    } else if (absl::StartsWith(arg, "-") && arg.size() > 1) {
      for (const char* name :
           {"--master", "--timeout_ms", "--cacert", "--cert", "--key", "--cert_dir"}) {
        if (arg == name) return arg + " needs a value";
      }
      return "unknown flag " + arg;
    } else {
      args->positional.push_back(arg);
    }
  }
  return std::nullopt;
}

std::string Percent(uint64_t done, uint64_t total) {
  if (total == 0) return "?";
  return absl::StrFormat("%.0f%%", 100.0 * static_cast<double>(std::min(done, total)) /
                                       static_cast<double>(total));
}

// ---- status ---------------------------------------------------------------------------------

// "NOSPACE(member 2)" for each alarm the replica has applied.
std::vector<std::string> AlarmNames(const pb::ReplicaInfo& replica) {
  std::vector<std::string> names;
  for (const pb::Alarm& alarm : replica.alarms()) {
    names.push_back(absl::StrCat(alarm.type() == pb::ALARM_NOSPACE ? "NOSPACE" : "UNKNOWN",
                                 "(member ", alarm.member_id(), ")"));
  }
  return names;
}

// 1.5 MB, 320 kB, 12 B (etcdctl's table uses the same decimal units).
std::string Bytes(uint64_t bytes) {
  if (bytes >= 1000 * 1000 * 1000) return absl::StrFormat("%.1f GB", bytes / 1e9);
  if (bytes >= 1000 * 1000) return absl::StrFormat("%.1f MB", bytes / 1e6);
  if (bytes >= 1000) return absl::StrFormat("%.0f kB", bytes / 1e3);
  return absl::StrFormat("%d B", bytes);
}

nlohmann::ordered_json StatusJson(const pb::ClusterStatusResponse& status) {
  nlohmann::ordered_json out;
  out["epoch"] = status.epoch();
  out["virtual_nodes"] = status.virtual_nodes();
  out["shards"] = nlohmann::ordered_json::array();
  for (const pb::ShardInfo& shard : status.shards()) {
    nlohmann::ordered_json s;
    s["shard_id"] = shard.shard_id();
    s["leader"] = shard.leader();
    s["replicas"] = nlohmann::ordered_json::array();
    for (const pb::ReplicaInfo& replica : shard.replicas()) {
      nlohmann::ordered_json r;
      r["address"] = replica.address();
      r["replica_id"] = replica.replica_id();
      r["incarnation"] = absl::StrFormat("%016x", replica.incarnation());
      r["healthy"] = replica.healthy();
      r["role"] = replica.role();
      r["chosen_slot"] = replica.chosen_slot();
      r["applied_slot"] = replica.applied_slot();
      r["member_role"] = replica.member_role();
      r["behind"] = replica.behind();
      r["ballot_round"] = replica.ballot_round();
      r["snapshot_slot"] = replica.snapshot_slot();
      r["key_count"] = replica.key_count();
      r["db_size"] = replica.state_bytes();
      r["quota_bytes"] = replica.quota_bytes();
      r["alarms"] = AlarmNames(replica);
      r["took_ms"] = static_cast<double>(replica.status_micros()) / 1000.0;
      r["error"] = replica.error();
      s["replicas"].push_back(std::move(r));
    }
    out["shards"].push_back(std::move(s));
  }
  const pb::MigrationInfo& m = status.migration();
  out["migration"] = {{"running", m.running()},           {"kind", m.kind()},
                      {"shard_id", m.shard_id()},         {"phase", m.phase()},
                      {"keys_moved", m.keys_moved()},     {"keys_to_move", m.keys_to_move()},
                      {"ranges_moved", m.ranges_moved()}, {"ranges_to_move", m.ranges_to_move()}};
  return out;
}

std::string StatusTable(const pb::ClusterStatusResponse& status) {
  std::string out = absl::StrFormat("ring epoch %d, %d virtual nodes per shard, %d shards\n",
                                    status.epoch(), status.virtual_nodes(), status.shards_size());
  for (const pb::ShardInfo& shard : status.shards()) {
    absl::StrAppendFormat(&out, "\nshard %d  leader %s\n", shard.shard_id(),
                          shard.leader().empty() ? "(none)" : shard.leader());
    // As etcdctl endpoint status -w table: the ballot round is etcd's raft term, the chosen
    // and applied slots its raft index and applied index, the state's size its db size.
    absl::StrAppendFormat(&out,
                          "  %-22s %4s %-16s %-10s %-8s %-6s %8s %10s %10s %10s %8s %9s %9s %8s "
                          "%-8s %s\n",
                          "REPLICA", "ID", "INCARNATION", "ROLE", "MEMBER", "HEALTH", "BALLOT",
                          "CHOSEN", "APPLIED", "SNAPSHOT", "BEHIND", "KEYS", "DB SIZE", "TOOK",
                          "ALARMS", "ERROR");
    for (const pb::ReplicaInfo& r : shard.replicas()) {
      const std::vector<std::string> alarms = AlarmNames(r);
      absl::StrAppendFormat(
          &out,
          "  %-22s %4s %-16s %-10s %-8s %-6s %8d %10d %10d %10d %8s %9d %9s %6.1fms %-8s %s\n",
          r.address(), r.healthy() ? absl::StrCat(r.replica_id()) : "-",
          r.healthy() ? absl::StrFormat("%016x", r.incarnation()) : "-",
          r.role().empty() ? "-" : r.role(), r.member_role().empty() ? "-" : r.member_role(),
          r.healthy() ? "ok" : "DOWN", r.ballot_round(), r.chosen_slot(), r.applied_slot(),
          r.snapshot_slot(),
          r.healthy() && !r.member_role().empty() ? absl::StrCat(r.behind()) : "-", r.key_count(),
          r.healthy() ? Bytes(r.state_bytes()) : "-",
          static_cast<double>(r.status_micros()) / 1000.0,
          alarms.empty() ? "-" : absl::StrJoin(alarms, ","), r.error());
    }
  }
  const pb::MigrationInfo& m = status.migration();
  if (m.running()) {
    absl::StrAppendFormat(
        &out, "\nmigration: %s shard %d, phase %s, %d/%d ranges, %d/%d keys moved (%s)\n",
        m.kind() == "remove" ? "removing" : "adding", m.shard_id(), m.phase(), m.ranges_moved(),
        m.ranges_to_move(), m.keys_moved(), m.keys_to_move(),
        Percent(m.keys_moved(), m.keys_to_move()));
  } else {
    absl::StrAppend(&out, "\nmigration: none running\n");
  }
  return out;
}

int RunStatus(KvClient& client, const CallOptions& call, bool json) {
  auto status = client.ClusterStatus(call);
  if (!status.ok()) return Fail("status", status.status());
  if (json) {
    std::cout << StatusJson(*status).dump(2) << "\n";
  } else {
    std::cout << StatusTable(*status);
  }
  return kExitOk;
}

// ---- add-shard, remove-shard -----------------------------------------------------------------

// Shows migration progress while AddShard or RemoveShard runs: a bar redrawn in place on a
// terminal, otherwise a plain line every few seconds (logs, pipes).
class ProgressReporter {
 public:
  ProgressReporter(const std::string& master, const std::string& command, uint32_t shard_id,
                   std::shared_ptr<grpc::ChannelCredentials> credentials)
      : client_(master, paxoskv::client::KvClientOptions{.retry = false,
                                                         .credentials = std::move(credentials)}),
        command_(command),
        shard_id_(shard_id),
        tty_(isatty(STDOUT_FILENO) == 1) {}

  void Run(absl::Notification* done) {
    const absl::Duration period = tty_ ? absl::Milliseconds(200) : absl::Seconds(2);
    std::string last_line;
    while (!done->WaitForNotificationWithTimeout(period)) {
      auto status = client_.ClusterStatus(CallOptions{.timeout = absl::Seconds(1)});
      if (!status.ok()) continue;  // The master may be busy; the final answer tells.
      const pb::MigrationInfo& m = status->migration();
      if (!m.running() || m.shard_id() != shard_id_) continue;
      if (tty_) {
        std::string line =
            absl::StrFormat("\r%s %4s %d/%d keys, %d/%d ranges (%s)",
                            paxoskv::kvctl::ProgressBar(m.keys_moved(), m.keys_to_move()),
                            Percent(m.keys_moved(), m.keys_to_move()), m.keys_moved(),
                            m.keys_to_move(), m.ranges_moved(), m.ranges_to_move(), m.phase());
        std::cout << line << std::flush;
        drew_ = true;
      } else {
        std::string line = absl::StrFormat("%s %d: phase %s, %d/%d keys, %d/%d ranges moved",
                                           command_, shard_id_, m.phase(), m.keys_moved(),
                                           m.keys_to_move(), m.ranges_moved(), m.ranges_to_move());
        if (line != last_line) std::cout << line << std::endl;
        last_line = line;
      }
    }
    if (drew_) std::cout << "\n" << std::flush;
  }

 private:
  KvClient client_;
  const std::string command_;
  const uint32_t shard_id_;
  const bool tty_;
  bool drew_ = false;
};

// Runs `call` (an AddShard or RemoveShard) with a progress reporter beside it. Moving keys can
// take long: without --timeout_ms, the call may take an hour.
template <typename Call>
auto WithProgress(const std::string& master, const std::string& command, uint32_t shard_id,
                  const Args& args, std::shared_ptr<grpc::ChannelCredentials> credentials,
                  Call call) {
  CallOptions options{.timeout = args.timeout_ms.has_value() ? absl::Milliseconds(*args.timeout_ms)
                                                             : absl::Hours(1)};
  absl::Notification done;
  ProgressReporter reporter(master, command, shard_id, std::move(credentials));
  std::thread progress([&] { reporter.Run(&done); });
  auto response = call(options);
  done.Notify();
  progress.join();
  return response;
}

int RunAddShard(const std::string& master, KvClient& client, const Args& args,
                std::shared_ptr<grpc::ChannelCredentials> credentials) {
  if (args.positional.size() != 3) return Usage("add-shard takes ID ADDR,ADDR,ADDR");
  uint32_t shard_id = 0;
  if (!ParseId(args.positional[1], &shard_id)) {
    return Usage("shard id must be a positive integer");
  }
  std::vector<std::string> replicas =
      absl::StrSplit(args.positional[2], ',', absl::SkipWhitespace());
  if (replicas.empty()) return Usage("add-shard needs replica addresses ADDR,ADDR,ADDR");
  auto response =
      WithProgress(master, "add-shard", shard_id, args, std::move(credentials),
                   [&](CallOptions call) { return client.AddShard(shard_id, replicas, call); });
  if (!response.ok()) return Fail("add-shard", response.status());
  std::cout << "shard " << shard_id << " added: ring epoch " << response->epoch() << ", "
            << response->keys_moved() << " keys moved\n";
  return kExitOk;
}

int RunRemoveShard(const std::string& master, KvClient& client, const Args& args,
                   std::shared_ptr<grpc::ChannelCredentials> credentials) {
  if (args.positional.size() != 2) return Usage("remove-shard takes ID");
  uint32_t shard_id = 0;
  if (!ParseId(args.positional[1], &shard_id)) {
    return Usage("shard id must be a positive integer");
  }
  auto response =
      WithProgress(master, "remove-shard", shard_id, args, std::move(credentials),
                   [&](CallOptions call) { return client.RemoveShard(shard_id, call); });
  if (!response.ok()) return Fail("remove-shard", response.status());
  std::cout << "shard " << shard_id << " removed: ring epoch " << response->epoch() << ", "
            << response->keys_moved() << " keys moved; its replicas hold no key now: stop them\n";
  return kExitOk;
}

// ---- member ---------------------------------------------------------------------------------

std::string MembersTable(const pb::MemberListResponse& list) {
  std::string out = absl::StrFormat(
      "shard %d  leader %s  chosen %d\n", list.shard_id(),
      list.leader_id() == 0 ? "(none)" : absl::StrCat(list.leader_id()), list.leader_chosen_slot());
  absl::StrAppendFormat(&out, "  %4s %-22s %-8s %-16s %-7s %-8s %10s %8s  %s\n", "ID", "ADDRESS",
                        "ROLE", "INCARNATION", "LEADER", "HEALTH", "CHOSEN", "BEHIND", "ERROR");
  for (const pb::MemberStatus& m : list.members()) {
    std::string role = m.role();
    if (m.role() == "learner" && m.promote()) role = "learner*";
    absl::StrAppendFormat(&out, "  %4d %-22s %-8s %-16s %-7s %-8s %10s %8d  %s\n", m.id(),
                          m.address(), role,
                          m.incarnation() == 0 ? "-" : absl::StrFormat("%016x", m.incarnation()),
                          m.leader() ? "yes" : "", m.healthy() ? "ok" : "DOWN",
                          m.healthy() ? absl::StrCat(m.chosen_slot()) : "-", m.behind(), m.error());
  }
  if (!list.removed().empty()) {
    absl::StrAppend(&out, "  removed for good: ", absl::StrJoin(list.removed(), ","), "\n");
  }
  bool any_auto = false;
  for (const pb::MemberStatus& m : list.members()) any_auto |= m.role() == "learner" && m.promote();
  if (any_auto) absl::StrAppend(&out, "  learner*: promoted to voter once caught up\n");
  return out;
}

nlohmann::ordered_json MembersJson(const pb::MemberListResponse& list) {
  nlohmann::ordered_json out;
  out["shard_id"] = list.shard_id();
  out["leader_id"] = list.leader_id();
  out["leader_chosen_slot"] = list.leader_chosen_slot();
  out["members"] = nlohmann::ordered_json::array();
  for (const pb::MemberStatus& m : list.members()) {
    out["members"].push_back({{"id", m.id()},
                              {"address", m.address()},
                              {"role", m.role()},
                              {"incarnation", absl::StrFormat("%016x", m.incarnation())},
                              {"leader", m.leader()},
                              {"promote", m.promote()},
                              {"healthy", m.healthy()},
                              {"chosen_slot", m.chosen_slot()},
                              {"behind", m.behind()},
                              {"error", m.error()}});
  }
  out["removed"] = std::vector<uint32_t>(list.removed().begin(), list.removed().end());
  return out;
}

std::string MembershipLine(const pb::Membership& membership) {
  std::vector<std::string> members;
  for (const pb::Member& m : membership.members()) {
    members.push_back(absl::StrCat(m.id(), m.learner() ? " (learner)" : ""));
  }
  return absl::StrJoin(members, ", ");
}

// ---- alarm ----------------------------------------------------------------------------------

// etcdctl's line per alarm: "memberID:2 alarm:NOSPACE", with the shard first.
std::string AlarmLine(const pb::ShardAlarm& a) {
  return absl::StrCat("shard:", a.shard_id(), " memberID:", a.alarm().member_id(),
                      " alarm:", absl::StripPrefix(pb::AlarmType_Name(a.alarm().type()), "ALARM_"));
}

int RunAlarm(KvClient& client, const Args& args, CallOptions call) {
  const std::vector<std::string>& p = args.positional;
  if (p.size() < 2 || p.size() > 3 || (p[1] != "list" && p[1] != "disarm")) {
    return Usage("alarm takes list|disarm [SHARD]");
  }
  uint32_t shard_id = 0;  // every shard
  if (p.size() == 3 && !ParseId(p[2], &shard_id)) {
    return Usage("shard id must be a positive integer");
  }
  google::protobuf::RepeatedPtrField<pb::ShardAlarm> alarms;
  if (p[1] == "list") {
    auto list = client.AlarmList(shard_id, call);
    if (!list.ok()) return Fail("alarm list", list.status());
    alarms = list->alarms();
  } else {
    auto disarmed = client.AlarmDisarm(shard_id, call);
    if (!disarmed.ok()) return Fail("alarm disarm", disarmed.status());
    alarms = disarmed->disarmed();
  }
  if (args.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const pb::ShardAlarm& a : alarms) {
      out.push_back({{"shard_id", a.shard_id()},
                     {"member_id", a.alarm().member_id()},
                     {"alarm", absl::StripPrefix(pb::AlarmType_Name(a.alarm().type()), "ALARM_")}});
    }
    std::cout << out.dump(2) << "\n";
  } else {
    for (const pb::ShardAlarm& a : alarms) std::cout << AlarmLine(a) << "\n";
  }
  return kExitOk;
}

int RunMember(KvClient& client, const Args& args, CallOptions call) {
  const std::vector<std::string>& p = args.positional;
  if (p.size() < 3) return Usage("member takes list|add|remove|promote|update SHARD ...");
  const std::string& verb = p[1];
  uint32_t shard_id = 0;
  if (!ParseId(p[2], &shard_id)) {
    return Usage("shard id must be a positive integer");
  }
  if (verb == "list") {
    if (p.size() != 3) return Usage("member list takes SHARD");
    auto list = client.MemberList(shard_id, call);
    if (!list.ok()) return Fail("member list", list.status());
    if (args.json) {
      std::cout << MembersJson(*list).dump(2) << "\n";
    } else {
      std::cout << MembersTable(*list);
    }
    return kExitOk;
  }
  uint32_t id = 0;
  if (p.size() < 4 || !ParseId(p[3], &id)) {
    return Usage("member " + verb + " needs a positive replica ID");
  }
  absl::StatusOr<pb::MemberChangeResponse> changed;
  if (verb == "add") {
    if (p.size() != 5) return Usage("member add takes SHARD ID ADDR");
    pb::MemberAddRequest request;
    request.set_shard_id(shard_id);
    request.set_replica_id(id);
    request.set_address(p[4]);
    request.set_no_promote(args.no_promote);
    changed = client.MemberAdd(request, call);
  } else if (verb == "remove" || verb == "promote") {
    if (p.size() != 4) return Usage("member " + verb + " takes SHARD ID");
    if (verb == "remove") {
      pb::MemberRemoveRequest request;
      request.set_shard_id(shard_id);
      request.set_replica_id(id);
      changed = client.MemberRemove(request, call);
    } else {
      pb::MemberPromoteRequest request;
      request.set_shard_id(shard_id);
      request.set_replica_id(id);
      changed = client.MemberPromote(request, call);
    }
  } else if (verb == "update") {
    if (p.size() != 5) return Usage("member update takes SHARD ID ADDR");
    pb::MemberUpdateRequest request;
    request.set_shard_id(shard_id);
    request.set_replica_id(id);
    request.set_address(p[4]);
    changed = client.MemberUpdate(request, call);
  } else {
    return Usage("unknown member command \"" + verb + "\"");
  }
  if (!changed.ok()) return Fail("member " + verb, changed.status());
  std::cout << "shard " << shard_id << ": member " << verb << " " << id
            << (changed->already() ? " was already in effect" : " done") << "; members now "
            << MembershipLine(changed->membership()) << "\n";
  if (verb != "add" || !args.wait) return kExitOk;
  // --wait: until the new member votes (the leader promotes it once it has caught up).
  const absl::Time deadline =
      absl::Now() +
      (args.timeout_ms.has_value() ? absl::Milliseconds(*args.timeout_ms) : absl::Minutes(10));
  std::string last;
  while (absl::Now() < deadline) {
    auto list = client.MemberList(shard_id, CallOptions{.timeout = absl::Seconds(5)});
    if (list.ok()) {
      for (const pb::MemberStatus& m : list->members()) {
        if (m.id() != id) continue;
        if (m.role() == "voter") {
          std::cout << "shard " << shard_id << ": member " << id << " is a voter\n";
          return kExitOk;
        }
        std::string line = absl::StrFormat("member %d: learner, %d slots behind", id, m.behind());
        if (line != last) std::cout << line << std::endl;
        last = line;
      }
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  return Fail("member add --wait",
              absl::DeadlineExceededError(absl::StrCat("member ", id, " is not a voter yet")));
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (auto problem = ParseArgs(argc, argv, &args); problem.has_value()) return Usage(*problem);
  if (args.help) {
    std::cout << kUsageLine << "\n";
    return kExitOk;
  }
  if (args.positional.empty()) return Usage("missing command");
  if (args.master.empty()) {
    const char* env = std::getenv("PAXOSKV_MASTER");
    args.master = env != nullptr && *env != '\0' ? env : "127.0.0.1:50051";
  }
  const std::string& command = args.positional[0];
  const size_t n = args.positional.size();
  if (args.json && command != "status" && command != "member" && command != "alarm" &&
      command != "endpoint" && command != "snapshot") {
    return Usage("--json only applies to status, member list, alarm, endpoint and snapshot status");
  }
  if (args.force && command != "snapshot") return Usage("--force only applies to snapshot restore");
  if (args.direct && command != "put" && command != "get" && command != "delete") {
    return Usage("--direct only applies to put, get and delete");
  }
  if (command == "snapshot" && n == 3 && args.positional[1] == "status") {
    return paxoskv::kvctl::SnapshotStatus(args.positional[2], args.json);  // no master needed
  }

  auto credentials = paxoskv::TlsCredentials::Load(
      paxoskv::ResolveTlsFiles(args.tls, args.cert_dir, std::getenv("PAXOSKV_CERT_DIR")));
  if (!credentials.ok()) return Usage(std::string(credentials.status().message()));
  const paxoskv::client::KvClientOptions client_options{.credentials =
                                                            credentials->ChannelCredentials()};
  paxoskv::client::KvClientOptions kv_options = client_options;
  kv_options.direct = args.direct;
  KvClient client(args.master, kv_options);
  CallOptions call;
  if (args.timeout_ms.has_value()) call.timeout = absl::Milliseconds(*args.timeout_ms);

  if (command == "put") {
    if (n != 3) return Usage("put takes KEY VALUE");
    absl::Status status = client.Put(args.positional[1], args.positional[2], call);
    if (!status.ok()) return Fail("put", status);
    std::cout << "OK\n";
    return kExitOk;
  }
  if (command == "get") {
    if (n != 2) return Usage("get takes KEY");
    auto value = client.Get(args.positional[1], call);
    if (!value.ok()) {
      if (value.status().code() == absl::StatusCode::kNotFound) {
        std::cerr << "kvctl: get: key not found: " << args.positional[1] << "\n";
        return kExitNotFound;
      }
      return Fail("get", value.status());
    }
    std::cout << *value << "\n";
    return kExitOk;
  }
  if (command == "delete") {
    if (n != 2) return Usage("delete takes KEY");
    auto deleted = client.Delete(args.positional[1], call);
    if (!deleted.ok()) return Fail("delete", deleted.status());
    if (!*deleted) {
      std::cerr << "kvctl: delete: key not found: " << args.positional[1] << "\n";
      return kExitNotFound;
    }
    std::cout << "deleted\n";
    return kExitOk;
  }
  if (command == "add-shard")
    return RunAddShard(args.master, client, args, credentials->ChannelCredentials());
  if (command == "remove-shard")
    return RunRemoveShard(args.master, client, args, credentials->ChannelCredentials());
  if (command == "member") return RunMember(client, args, call);
  if (command == "alarm") return RunAlarm(client, args, call);
  if (command == "status") {
    if (n != 1) return Usage("status takes no arguments");
    return RunStatus(client, call, args.json);
  }
  if (command == "endpoint") {
    if (n != 2 || args.positional[1] != "health") return Usage("endpoint takes health");
    return paxoskv::kvctl::EndpointHealth(args.master, client_options, args.json);
  }
  if (command == "snapshot") {
    const std::string verb = n >= 2 ? args.positional[1] : "";
    if (n != 3 || (verb != "save" && verb != "restore")) {
      return Usage("snapshot takes save FILE, status FILE or restore FILE");
    }
    if (args.json) return Usage("--json only applies to snapshot status");
    if (verb == "save") {
      if (args.force) return Usage("--force only applies to snapshot restore");
      return paxoskv::kvctl::SnapshotSave(client, args.positional[2]);
    }
    return paxoskv::kvctl::SnapshotRestore(args.master, client_options, args.positional[2],
                                           args.force);
  }
  return Usage("unknown command \"" + command + "\"");
}
