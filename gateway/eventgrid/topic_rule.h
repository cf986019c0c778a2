#pragma once
// Which media log events the publisher sends to the Event Grid topic
// (docs/gateway.md, "Which operations Event Grid hears about"):
//
//  * every event of an operation whose request came through the gateway's
//    POST /api/eventgrid (the gateway sets the request's origin to
//    REQUEST_ORIGIN_EVENT_GRID; the server keeps it in the operation's echo
//    and puts it on each of its log events);
//  * storage events that no operation caused: a blob written through
//    switchboardd's blob listener, or a storage event reported with
//    ReportStorageEvent (Microsoft.Storage.BlobCreated / BlobDeleted).
//
// A gRPC client's own operations (sbctl, `sbctl media exec`, any client),
// and the storage events of its copies and deletes, stay on gRPC
// (WatchOperation, WatchEvents). Whatever passes this rule, TopicJson
// (outbound.h) still withholds any write-capable SAS URL.

#include "switchboard/v1/media.pb.h"

namespace switchboard::gateway::eventgrid {

bool PublishedToTopic(const v1::MediaEvent& event);

}  // namespace switchboard::gateway::eventgrid
