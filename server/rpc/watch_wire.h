#pragma once
// The bytes the watch streams write, built without parsing or re-serializing
// an event: the log already holds each event serialized
// (core::EventRecord::data), so every watcher sends the same bytes
// (fan-out to thousands of watchers is one reference-counted slice per
// event).

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/core/store.h"

namespace switchboard::rpc {

// A slice that points into the event's own bytes and keeps the event alive
// until gRPC is done with it.
grpc::Slice EventSlice(std::shared_ptr<const core::EventRecord> event);

// One message of a WatchEvents-like stream: the event itself.
grpc::ByteBuffer EventBytes(std::shared_ptr<const core::EventRecord> event);

// Appends field `field` (length-delimited: a message or bytes) holding
// `bytes` to the serialized message `out`.
void AppendMessageField(std::string* out, int field, std::string_view bytes);

// A message built in `bytes`, handed over without a copy.
grpc::ByteBuffer OwnedBytes(std::string bytes);

// One <Service>WatchManyResponse carrying an event: field 1 (watch_ids,
// packed) and field 2 (event), as the three services' WatchMany responses
// declare them. The event's bytes are not copied.
grpc::ByteBuffer WatchManyEventBytes(const std::vector<int64_t>& watch_ids,
                                     std::shared_ptr<const core::EventRecord> event);

}  // namespace switchboard::rpc
