// `terraform output -json` maps (docs/wire-formats.md section 2) as the
// pipeline output queue carries them, as JSON or base64.

#include "wire/terraform_output.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = wire::TerraformOutputFromJson(fuzz::Input(data, size), "fuzz-request");
  if (!r.ok()) {
    fuzz::CheckError(r.status(), absl::StatusCode::kInvalidArgument);
    return 0;
  }
  fuzz::CheckWireRoundTrip(*r);
  return 0;
}
