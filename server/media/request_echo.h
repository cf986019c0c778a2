#pragma once
// The RequestEcho of each request: what its response events repeat that the
// operation does not otherwise hold (docs/wire-formats.md section 4), and
// where the request came from (origin: the gateway publishes only Event
// Grid requests' events to the topic). OpRecorder copies it onto the
// operation and every event of it.

#include "switchboard/v1/media.pb.h"

namespace switchboard::media {

// Requests with an acknowledge: the subject only.
template <typename Request>
v1::RequestEcho EchoOf(const Request& req) {
  v1::RequestEcho e;
  e.set_subject(req.event_subject());
  e.set_origin(req.origin());
  return e;
}

inline v1::RequestEcho EchoOf(const v1::CopyBlobRequest& req) {
  v1::RequestEcho e;
  e.set_subject(req.event_subject());
  e.set_origin(req.origin());
  e.set_source_uri(req.source_uri());
  return e;
}

inline v1::RequestEcho EchoOf(const v1::ChangeBlobTierRequest& req) {
  v1::RequestEcho e;
  e.set_subject(req.event_subject());
  e.set_origin(req.origin());
  e.set_rehydrate_priority(req.rehydrate_priority() == v1::REHYDRATE_PRIORITY_UNSPECIFIED ? v1::STANDARD
                                                                                            : req.rehydrate_priority());
  e.set_access_tier(req.access_tier());
  return e;
}

inline v1::RequestEcho EchoOf(const v1::ChangeContainerAccessRequest& req) {
  v1::RequestEcho e;
  e.set_subject(req.event_subject());
  e.set_origin(req.origin());
  e.set_access(req.access());
  return e;
}

// No acknowledge, so no subject.
inline v1::RequestEcho EchoOf(const v1::RollStorageKeyRequest& req) {
  v1::RequestEcho e;
  e.set_origin(req.origin());
  e.set_account(req.account());
  e.set_key_name(req.key_name());
  return e;
}

}  // namespace switchboard::media
