// Resource run requests (docs/wire-formats.md section 1) in every variant
// the Storage Queue adapter and `sbctl workspace request` accept:
// PascalCase or camelCase keys, a MassTransit envelope, base64 of either.
// A decoded request must survive the wire, and its JSON must decode to the
// same request.

#include "wire/run_request.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text = fuzz::Input(data, size);
  // With and without a request_id given by the transport.
  for (absl::string_view request_id : {absl::string_view(""), absl::string_view("fuzz-request")}) {
    auto r = wire::RunRequestFromJson(text, request_id);
    if (!r.ok()) {
      fuzz::CheckError(r.status(), absl::StatusCode::kInvalidArgument);
      continue;
    }
    fuzz::CheckWireRoundTrip(*r);
    if (!request_id.empty()) SB_FUZZ_CHECK(r->request_id() == request_id, "the given request_id was not kept");
    std::string json = wire::RunRequestToJson(*r);
    // The JSON has no envelope, so the request_id goes beside it, as the
    // transport gives it.
    auto again = wire::RunRequestFromJson(json, r->request_id());
    SB_FUZZ_CHECK(again.ok(), again.status().ToString() + " for " + json);
    fuzz::CheckSameMessage(*r, *again, json);
  }
  return 0;
}
