// See history.h.
#include "services/client/lincheck/history.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace paxoskv::lincheck {
namespace {

using nlohmann::json;

absl::StatusOr<int64_t> IntField(const json& object, const char* name, bool optional,
                                 int64_t fallback) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    if (optional) return fallback;
    return absl::InvalidArgumentError(absl::StrCat("missing field \"", name, "\""));
  }
  if (!it->is_number_integer()) {
    return absl::InvalidArgumentError(absl::StrCat("field \"", name, "\" is not an integer"));
  }
  return it->get<int64_t>();
}

absl::StatusOr<std::string> StringField(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("missing string field \"", name, "\""));
  }
  return it->get<std::string>();
}

}  // namespace

const char* OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kGet:
      return "get";
    case OpKind::kPut:
      return "put";
    case OpKind::kDelete:
      return "delete";
  }
  return "?";
}

absl::StatusOr<Operation> ParseOperation(std::string_view line) {
  json object = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object()) {
    return absl::InvalidArgumentError("not a JSON object");
  }
  Operation op;
  auto client = IntField(object, "client", /*optional=*/true, 0);
  if (!client.ok()) return client.status();
  op.client = *client;
  auto kind = StringField(object, "op");
  if (!kind.ok()) return kind.status();
  if (*kind == "get") {
    op.kind = OpKind::kGet;
  } else if (*kind == "put") {
    op.kind = OpKind::kPut;
  } else if (*kind == "delete") {
    op.kind = OpKind::kDelete;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown op \"", *kind, "\""));
  }
  auto key = StringField(object, "key");
  if (!key.ok()) return key.status();
  op.key = *std::move(key);
  if (op.kind == OpKind::kPut) {
    auto value = StringField(object, "value");
    if (!value.ok()) return value.status();
    op.value = *std::move(value);
  }
  auto call = IntField(object, "call_ns", /*optional=*/false, 0);
  if (!call.ok()) return call.status();
  op.call_ns = *call;
  auto ret = IntField(object, "return_ns", /*optional=*/true, kNeverReturned);
  if (!ret.ok()) return ret.status();
  op.return_ns = *ret;
  if (op.return_ns < op.call_ns) {
    return absl::InvalidArgumentError("return_ns is before call_ns");
  }
  auto status = StringField(object, "status");
  if (!status.ok()) return status.status();
  op.status = *std::move(status);
  if (auto it = object.find("output"); it != object.end() && !it->is_null()) {
    if (op.kind == OpKind::kGet && it->is_string()) {
      op.output = it->get<std::string>();
    } else if (op.kind == OpKind::kDelete && it->is_boolean()) {
      op.deleted = it->get<bool>();
    } else if (op.kind == OpKind::kPut) {
      // A put has no output; tolerate and ignore one.
    } else {
      return absl::InvalidArgumentError("field \"output\" has the wrong type");
    }
  }
  return op;
}

absl::StatusOr<std::vector<Operation>> ParseHistory(std::istream& in) {
  std::vector<Operation> ops;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto op = ParseOperation(line);
    if (!op.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": ", op.status().message()));
    }
    ops.push_back(*std::move(op));
  }
  return ops;
}

std::string ToJsonLine(const Operation& op) {
  nlohmann::ordered_json object = nlohmann::ordered_json::object();  // Fields in doc order.
  object["client"] = op.client;
  object["op"] = std::string(OpKindName(op.kind));
  object["key"] = op.key;
  if (op.kind == OpKind::kPut) {
    object["value"] = op.value;
  } else {
    object["value"] = nullptr;
  }
  object["call_ns"] = op.call_ns;
  if (op.return_ns == kNeverReturned) {
    object["return_ns"] = nullptr;
  } else {
    object["return_ns"] = op.return_ns;
  }
  object["status"] = op.status;
  if (op.kind == OpKind::kGet && op.output.has_value()) {
    object["output"] = *op.output;
  } else if (op.kind == OpKind::kDelete && op.deleted.has_value()) {
    object["output"] = *op.deleted;
  } else {
    object["output"] = nullptr;
  }
  // Replace invalid UTF-8 rather than throw: keys and values are meant to be UTF-8.
  return object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string Describe(const Operation& op, int64_t origin_ns) {
  auto seconds = [&](int64_t ns) {
    if (ns == kNeverReturned) return std::string("inf");
    return absl::StrFormat("%.3fms", static_cast<double>(ns - origin_ns) / 1e6);
  };
  std::string text = absl::StrCat("[c", op.client, "] ", OpKindName(op.kind), " ", op.key);
  switch (op.kind) {
    case OpKind::kPut:
      absl::StrAppend(&text, "=", op.value);
      break;
    case OpKind::kGet:
      absl::StrAppend(&text, " -> ", op.output.has_value() ? *op.output : "<absent>");
      break;
    case OpKind::kDelete:
      if (op.deleted.has_value()) absl::StrAppend(&text, " -> deleted=", *op.deleted);
      break;
  }
  absl::StrAppend(&text, " @", seconds(op.call_ns), "..", seconds(op.return_ns), " ",
                  op.status);
  return text;
}

}  // namespace paxoskv::lincheck
