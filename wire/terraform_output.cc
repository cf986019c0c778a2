#include "wire/terraform_output.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "wire/json_util.h"

namespace switchboard::wire {
namespace {

using nlohmann::json;

const char* StatusWireText(v1::ResourceStatus s) {
  switch (s) {
    case v1::REQUESTED: return "Requested";
    case v1::PENDING_APPROVAL: return "Pending Approval";
    case v1::IN_PROGRESS: return "In Progress";
    case v1::COMPLETED: return "Completed";
    case v1::FAILED: return "Failed";
    default: return "Unknown";
  }
}

}  // namespace

absl::StatusOr<v1::ReportPipelineOutputsRequest> TerraformOutputFromJson(absl::string_view text,
                                                                         absl::string_view request_id) {
  absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  std::string decoded;
  if (!trimmed.empty() && trimmed.front() != '{') {
    if (!absl::Base64Unescape(trimmed, &decoded)) return absl::InvalidArgumentError("body: neither JSON nor base64 of JSON");
    trimmed = decoded;
  }
  absl::StatusOr<json> root = ParseJson(trimmed);
  if (!root.ok()) return root.status();
  if (!root->is_object()) return FieldError("body", absl::StrCat("must be a JSON object, got ", JsonTypeName(*root)));
  v1::ReportPipelineOutputsRequest req;
  req.set_request_id(std::string(request_id));
  for (auto it = root->begin(); it != root->end(); ++it) {
    const std::string& key = it.key();
    const json& entry = it.value();
    if (!entry.is_object()) {
      return FieldError(key, absl::StrCat("must be an object {sensitive, type, value}, got ", JsonTypeName(entry)));
    }
    v1::OutputValue out;
    bool has_value = false;
    for (auto f = entry.begin(); f != entry.end(); ++f) {
      std::string k = absl::AsciiStrToLower(f.key());
      if (k == "sensitive") {
        if (!f.value().is_boolean()) return FieldError(absl::StrCat(key, ".sensitive"), "must be true or false");
        out.set_sensitive(f.value().get<bool>());
      } else if (k == "type") {
        absl::StatusOr<google::protobuf::Value> v = JsonToValue(f.value(), absl::StrCat(key, ".type"));
        if (!v.ok()) return v.status();
        *out.mutable_type() = std::move(*v);
      } else if (k == "value") {
        absl::StatusOr<google::protobuf::Value> v = JsonToValue(f.value(), absl::StrCat(key, ".value"));
        if (!v.ok()) return v.status();
        *out.mutable_value() = std::move(*v);
        has_value = true;
      }
    }
    if (!has_value) return FieldError(absl::StrCat(key, ".value"), "required key is missing");
    (*req.mutable_outputs())[key] = std::move(out);
  }
  if (req.outputs().find("project_cd") == req.outputs().end()) {
    return FieldError("project_cd", "required key is missing; it names the workspace");
  }
  return req;
}

std::string StatusReportToJson(const v1::StatusReport& report) {
  nlohmann::ordered_json out;
  auto entry = [](const json& value) {
    nlohmann::ordered_json e;
    e["sensitive"] = false;
    e["type"] = "string";
    e["value"] = value;
    return e;
  };
  out["project_cd"] = entry(report.project_cd());
  for (const auto& t : report.templates()) {
    const bool workspace = t.template_() == "new-workspace-template" || t.template_() == "new-project-template";
    std::string key = workspace ? "new_project_template"
                                : absl::StrCat(absl::StrReplaceAll(t.template_(), {{"-", "_"}}), "_status");
    out[key] = entry(t.status() == v1::UNKNOWN ? t.raw_status() : StatusWireText(t.status()));
  }
  std::vector<std::string> keys;
  for (const auto& [k, v] : report.outputs()) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  for (const auto& k : keys) {
    const v1::OutputValue& v = report.outputs().at(k);
    if (v.redacted() || out.contains(k)) continue;
    nlohmann::ordered_json e;
    e["sensitive"] = v.sensitive();
    e["type"] = v.has_type() ? ValueToJson(v.type()) : json("string");
    e["value"] = ValueToJson(v.value());
    out[k] = std::move(e);
  }
  return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace switchboard::wire
