#pragma once
// Status messages (docs/wire-formats.md section 2, seeds 000 and 001): the
// `terraform output -json` map <-> ReportPipelineOutputsRequest, and the
// status message Switchboard emits from a StatusReport event. Pure
// functions.
//
//  * Decoding: the body is an object of name -> {"sensitive": bool, "type":
//    any, "value": any}; `value` is required, the rest optional. Keys of the
//    inner objects match case-insensitively. Base64 bodies are accepted as
//    for run requests.
//  * Encoding: project_cd, then one status key per template, with the text
//    "Requested", "Pending Approval", "In Progress", "Completed", "Failed"
//    (the raw text for UNKNOWN). The workspace template's key is
//    new_project_template (as the portal expects); any other template's is
//    "<template with - as _>_status". Outputs follow; redacted (sensitive)
//    outputs are left out.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::wire {

absl::StatusOr<v1::ReportPipelineOutputsRequest> TerraformOutputFromJson(absl::string_view text,
                                                                         absl::string_view request_id = "");

std::string StatusReportToJson(const v1::StatusReport& report);

}  // namespace switchboard::wire
