#pragma once
// SubmitRun input rules (docs/wire-formats.md section 1). Every failure is
// INVALID_ARGUMENT naming the field and saying what to fix.

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::resourcing {

// Most users one workspace request may carry.
inline constexpr int kMaxUsers = 1000;

// Checks `req` and normalizes it in place: the acronym upper-cased, module
// names without "templates/", an empty version as "latest", and the
// workspace template moved first.
absl::Status ValidateAndNormalize(v1::SubmitRunRequest* req);

// A template (module) name after normalization: [A-Za-z0-9._-], no "..",
// 1-200 characters.
absl::Status ValidateTemplateName(absl::string_view field, absl::string_view name);

// local@domain.tld, no spaces, at most 254 characters.
bool IsValidEmail(absl::string_view email);

}  // namespace switchboard::resourcing
