#pragma once
// A validated media request, ready to record and run (MediaEngine::Start).

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "common/proto_bytes.h"
#include "server/core/fingerprint.h"
#include "server/media/op_recorder.h"
#include "server/media/request_echo.h"
#include "switchboard/v1/media.pb.h"

namespace switchboard::media {

struct MediaJob {
  OpRecorder::BeginArgs begin;
  // Answer once ACCEPTED; the work's outcome only goes to the log.
  bool return_when_accepted = false;
  // Does the work, given the ACCEPTED operation, and records its outcome
  // with OpRecorder's asynchronous calls, which end by calling `done`.
  std::function<void(v1::Operation, OpRecorder::Done done)> work;
  // Set before `work` runs again for an operation an earlier attempt left
  // unfinished (a crash, a lost replica): that attempt may have done the
  // work already, so `work` may take "already done" for success.
  std::shared_ptr<bool> resumed = std::make_shared<bool>(false);
};

// The Job of a request: its BeginArgs, with return_when_accepted and origin
// (how the request arrived, kept in the echo) left out of the fingerprint
// and of the request kept for a resume.
template <class Req>
MediaJob JobFor(v1::OperationType type, const Req& req, std::string target) {
  // One deterministic serialization is both the kept request and what the
  // fingerprint hashes; the flags are left out of the bytes (the same bytes
  // as the request serialized with them cleared, without copying it).
  std::string bytes = DeterministicBytes(req);
  if (req.return_when_accepted() || req.origin() != v1::REQUEST_ORIGIN_UNSPECIFIED) {
    bytes = WithoutFields(std::move(bytes), {Req::kReturnWhenAcceptedFieldNumber, Req::kOriginFieldNumber});
  }
  MediaJob job;
  job.return_when_accepted = req.return_when_accepted();
  OpRecorder::BeginArgs& a = job.begin;
  a.type = type;
  a.request_id = req.request_id();
  if constexpr (requires { req.operation_context(); }) a.context = req.operation_context();
  a.target = std::move(target);
  a.fingerprint = core::FingerprintOf(bytes);
  a.echo = EchoOf(req);
  a.request = std::move(bytes);
  return job;
}

}  // namespace switchboard::media
