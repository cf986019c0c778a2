#pragma once
// Applying a `terraform output -json` map (docs/wire-formats.md section 2) to a
// workspace record. Pure: no store, no logging (values may be secret).
//
//  * project_cd names the workspace.
//  * "<template with - as _>" and "<template with - as _>_status" are that
//    template's status; new_project_template and new_workspace_template both
//    name the workspace template. Any other "<x>_status" key holding a
//    string is the status of template <x with _ as ->.
//  * Every other key is an output, stored as given (sensitive ones too).
//  * Status values are read case-insensitively with separators ignored; an
//    unknown value is kept as raw_status with status UNKNOWN.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/map.h"
#include "switchboard/v1/common.pb.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::resourcing {

// The acronym in project_cd, or INVALID_ARGUMENT naming what is wrong.
absl::StatusOr<std::string> ReportProjectCd(const google::protobuf::Map<std::string, v1::OutputValue>& outputs);

// Applies the report to `ws`; returns the templates whose status changed.
// `outputs_changed` tells whether any output value changed.
std::vector<v1::TemplateStatus> ApplyReport(const google::protobuf::Map<std::string, v1::OutputValue>& outputs,
                                            v1::Workspace* ws, bool* outputs_changed);

}  // namespace switchboard::resourcing
