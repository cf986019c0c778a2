// Gorg bus envelopes (docs/wire-formats.md section 3) as the gateway's
// RabbitMQ adapter and `sbctl bus publish` read them. A decoded envelope
// must survive the wire, and encoding it must give JSON that decodes to the
// same envelope (the adapter re-publishes what it decoded).

#include "wire/gorg_envelope.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto envelope = wire::GorgEnvelopeFromJson(fuzz::Input(data, size));
  if (!envelope.ok()) {
    fuzz::CheckError(envelope.status(), absl::StatusCode::kInvalidArgument);
    return 0;
  }
  fuzz::CheckWireRoundTrip(*envelope);
  std::string json = wire::GorgEnvelopeToJson(*envelope);
  auto again = wire::GorgEnvelopeFromJson(json);
  SB_FUZZ_CHECK(again.ok(), again.status().ToString() + " for " + json);
  fuzz::CheckSameMessage(*envelope, *again, json);
  (void)wire::ValidateRoutingKey(envelope->event_name(), "event_name");
  return 0;
}
