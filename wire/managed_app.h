#pragma once
// Azure managed-application notifications (docs/wire-formats.md section 5, seed 002)
// <-> ManagedAppNotification.
//
//   { "eventType": "PUT", "applicationId": "/subscriptions/...",
//     "eventTime": "2019-08-14T19:20:08.1707163Z", "provisioningState": "Succeeded",
//     "applicationDefinitionId": "...",             // service catalog only
//     "billingDetails": { "resourceUsageId": "..." }, // marketplace only
//     "plan": { "publisher", "product", "name", "version" },  // marketplace only
//     "error": { "code", "message", "details": [ { "code", "message" } ] } }
//
// Pure functions: no network, no gRPC, no exceptions.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "switchboard/v1/notification.pb.h"

namespace switchboard::wire {

// Decodes and validates a notification body. Every failure is
// INVALID_ARGUMENT naming the field, e.g.
//   "provisioningState: 'Deleted' is not valid with eventType PUT; valid pairs are ...".
// Rules:
//  * eventType (PUT, PATCH, DELETE), applicationId, eventTime and
//    provisioningState (Accepted, Succeeded, Failed, Deleting, Deleted) are
//    required; both enums are matched case-insensitively, as Azure's own
//    deserializers do.
//  * The pair must be one of PUT Accepted/Succeeded/Failed, PATCH Succeeded,
//    DELETE Deleting/Deleted/Failed.
//  * applicationId gets a leading "/" if it lacks one, must then start with
//    "/subscriptions/" and name a Microsoft.Solutions application
//    (".../providers/Microsoft.Solutions/applications/<name>", matched
//    case-insensitively), and be at most 1024 characters.
//  * eventTime is ISO 8601 with an offset; .NET's 7 fractional digits are kept.
//  * applicationDefinitionId, billingDetails, plan and error are optional
//    (null = absent); when present they must have the documented shape, with
//    string members.
//  * Unknown keys are ignored, at every level: Azure adds fields to this
//    payload over time, and a 400 would make it retry for 10 hours.
absl::StatusOr<v1::ManagedAppNotification> ManagedAppNotificationFromJson(absl::string_view json);

// Encodes as compact JSON in the order above, with eventTime in .NET's
// round-trip form ("2019-08-14T19:20:08.1707163Z"; 9 digits only when the
// time has sub-100 ns precision). Empty optional members are left out.
// receive_time and stale (set by the server) are not part of the wire format.
std::string ManagedAppNotificationToJson(const v1::ManagedAppNotification& notification);

// The wire names: "PUT", "Succeeded"... ("" for UNSPECIFIED).
const char* ManagedAppEventTypeName(v1::ManagedAppEventType type);
const char* ProvisioningStateName(v1::ProvisioningState state);

// True for the seven valid eventType x provisioningState pairs.
bool IsValidManagedAppPair(v1::ManagedAppEventType type, v1::ProvisioningState state);

}  // namespace switchboard::wire
