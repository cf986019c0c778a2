// Azure managed-application notifications (docs/wire-formats.md section 5)
// as the gateway's /managedapp endpoint reads them. A decoded notification
// must survive the wire, and its JSON must decode to the same notification.

#include "wire/managed_app.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto n = wire::ManagedAppNotificationFromJson(fuzz::Input(data, size));
  if (!n.ok()) {
    fuzz::CheckError(n.status(), absl::StatusCode::kInvalidArgument);
    return 0;
  }
  fuzz::CheckWireRoundTrip(*n);
  SB_FUZZ_CHECK(wire::IsValidManagedAppPair(n->event_type(), n->provisioning_state()), n->DebugString());
  std::string json = wire::ManagedAppNotificationToJson(*n);
  auto again = wire::ManagedAppNotificationFromJson(json);
  SB_FUZZ_CHECK(again.ok(), again.status().ToString() + " for " + json);
  fuzz::CheckSameMessage(*n, *again, json);
  return 0;
}
