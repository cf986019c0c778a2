// Event Grid batches as the gateway's POST /api/eventgrid receives them
// (docs/wire-formats.md section 4): the batch, the validation handshake,
// every request type's decoding, and what the gateway answers a request it
// refuses (the acknowledge and failure events, serialized).

#include "wire/eventgrid.h"
#include "wire/json_util.h"
#include "gateway/eventgrid/event.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto batch = wire::ParseEventGridBatch(fuzz::Input(data, size));
  if (!batch.ok()) {
    fuzz::CheckError(batch.status(), absl::StatusCode::kInvalidArgument);
    return 0;
  }
  if (auto v = wire::ValidationResponse(*batch)) (void)v->dump();
  for (const wire::EventGridEvent& e : *batch) {
    (void)gateway::eventgrid::Serialize(e);
    auto decoded = wire::DecodeMediaRequest(e);
    google::protobuf::Struct context;
    if (decoded.ok()) {
      SB_FUZZ_CHECK(decoded->request_case() != v1::MediaRequest::REQUEST_NOT_SET, "decoded into no request");
      fuzz::CheckWireRoundTrip(*decoded);
      context = wire::OperationContextOf(*decoded);
      fuzz::CheckWireRoundTrip(context);
    } else {
      SB_FUZZ_CHECK(decoded.status().code() == absl::StatusCode::kInvalidArgument ||
                        decoded.status().code() == absl::StatusCode::kNotFound,
                    decoded.status().ToString());
      SB_FUZZ_CHECK(!decoded.status().message().empty(), "an error without a message");
    }
    // The gateway's rejection of a request (MediaHandler::Rejection): the
    // acknowledge and the failure event, each serialized for the topic.
    std::string message(decoded.ok() ? "refused by the server" : decoded.status().message());
    if (!wire::IsRollKey(e.event_type)) {
      (void)gateway::eventgrid::Serialize(gateway::eventgrid::FromJson(wire::AcknowledgeEvent(e, context)));
    }
    (void)gateway::eventgrid::Serialize(gateway::eventgrid::FromJson(
        wire::RequestFailureEvent(e, context, wire::kLogRequestInvalid, message, "Fuzz.Handler")));
  }
  return 0;
}
