#pragma once
// The managed-app fixtures of examples/wire/managedapp/, decoded with
// the gateway's production codec.

#include <string>

#include "switchboard/v1/notification.pb.h"

namespace switchboard::testing {

// Fails the test (and returns an empty message) if the file is missing or
// does not decode.
v1::ManagedAppNotification AppFixture(const std::string& file);

}  // namespace switchboard::testing
