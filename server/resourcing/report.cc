#include "server/resourcing/report.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "server/resourcing/names.h"
#include "server/resourcing/validation.h"

namespace switchboard::resourcing {
namespace {

// Which template a key names, given the workspace's templates; empty if none.
std::string TemplateForKey(const std::string& key, const v1::Workspace& ws, const v1::OutputValue& v) {
  absl::string_view base = key;
  bool has_suffix = absl::ConsumeSuffix(&base, "_status");
  if (base == "new_project_template" || base == "new_workspace_template") {
    for (const auto& t : ws.templates()) {
      if (IsWorkspaceTemplate(t.template_())) return t.template_();
    }
    return kWorkspaceTemplate;
  }
  for (const auto& t : ws.templates()) {
    if (StatusKeyBase(t.template_()) == base) return t.template_();
  }
  if (has_suffix && v.value().kind_case() == google::protobuf::Value::kStringValue) {
    return absl::StrReplaceAll(base, {{"_", "-"}});
  }
  return "";
}

}  // namespace

absl::StatusOr<std::string> ReportProjectCd(const google::protobuf::Map<std::string, v1::OutputValue>& outputs) {
  auto it = outputs.find("project_cd");
  if (it == outputs.end()) {
    return absl::InvalidArgumentError("outputs.project_cd: required; it names the workspace (its acronym)");
  }
  if (it->second.value().kind_case() != google::protobuf::Value::kStringValue) {
    return absl::InvalidArgumentError("outputs.project_cd.value: must be a string (the workspace acronym)");
  }
  std::string cd = absl::AsciiStrToUpper(it->second.value().string_value());
  if (cd.empty() || cd.size() > 10 ||
      !std::all_of(cd.begin(), cd.end(), [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); })) {
    return absl::InvalidArgumentError(
        absl::StrCat("outputs.project_cd.value: '", cd, "' is not a workspace acronym (1-10 of [A-Za-z0-9])"));
  }
  return cd;
}

std::vector<v1::TemplateStatus> ApplyReport(const google::protobuf::Map<std::string, v1::OutputValue>& outputs,
                                            v1::Workspace* ws, bool* outputs_changed) {
  std::vector<v1::TemplateStatus> changed;
  *outputs_changed = false;
  // Sorted keys, so that the result does not depend on map order.
  std::vector<std::string> keys;
  for (const auto& [k, v] : outputs) keys.push_back(k);
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    const v1::OutputValue& v = outputs.at(key);
    if (key == "project_cd") continue;
    std::string tmpl = TemplateForKey(key, *ws, v);
    if (tmpl.empty() || ValidateTemplateName("key", tmpl).ok() == false) {
      auto& slot = (*ws->mutable_outputs())[key];
      if (slot.SerializeAsString() != v.SerializeAsString()) {
        slot = v;
        *outputs_changed = true;
      }
      continue;
    }
    std::string raw = v.value().kind_case() == google::protobuf::Value::kStringValue ? v.value().string_value() : "";
    v1::ResourceStatus status = ParseStatusText(raw);
    v1::TemplateStatus* t = nullptr;
    for (auto& x : *ws->mutable_templates()) {
      if (SameTemplate(x.template_(), tmpl)) t = &x;
    }
    if (t == nullptr) {
      t = ws->add_templates();
      t->set_template_(tmpl);
    }
    if (t->status() == status && (status != v1::UNKNOWN || t->raw_status() == raw)) continue;
    t->set_status(status);
    t->set_raw_status(raw);
    if (status != v1::FAILED) t->clear_message();
    SetNow(t->mutable_update_time());
    changed.push_back(*t);
  }
  return changed;
}

}  // namespace switchboard::resourcing
