#pragma once
// The one table of what each RPC of the switchboard.v1 services requires:
// the role of its caller, and whether its request_id may be empty. The Guard
// looks a request up here by its message type; docs/api.md's role table is
// checked against this one by tests/core/method_rules_test.cc.

#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "common/auth.h"

namespace switchboard::rpc {

struct MethodRule {
  // "NotificationService.PurgeDeadLetters" (package switchboard.v1).
  const char* method;
  Role role;
  // The request has a request_id that may be empty because another field is
  // the idempotency key (Publish: the envelope's event_uuid).
  bool request_id_from_payload = false;
};

// Every RPC of every switchboard.v1 service, in proto order.
const std::vector<MethodRule>& MethodRules();

// The rule for the RPC that takes `request_type`: when several RPCs take the
// same message (WatchEventsRequest, WatchManyRequest), the one with the
// highest role. Null for a type no RPC takes.
const MethodRule* RuleForRequest(const google::protobuf::Descriptor* request_type);

// The method of a gRPC path ("/switchboard.v1.MediaService/GetOperation"),
// of any service linked into this binary; null if there is none.
const google::protobuf::MethodDescriptor* FindMethod(const std::string& grpc_path);

// The full name of a rule's method ("switchboard.v1.NotificationService.PurgeDeadLetters").
std::string FullMethodName(const MethodRule& rule);

}  // namespace switchboard::rpc
