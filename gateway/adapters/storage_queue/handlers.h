#pragma once
// What the queue adapter does with each message: decode it with the wire
// codec, make one gRPC call with the queue message id as request_id, and
// turn the answer into a Verdict (the only place gRPC codes are mapped for
// the adapter):
//   OK                                          -> accepted (delete)
//   undecodable; INVALID_ARGUMENT, NOT_FOUND,
//   FAILED_PRECONDITION, ALREADY_EXISTS,
//   OUT_OF_RANGE from the server                -> poison, with the reason
//   server unreachable (UNAVAILABLE...)         -> unreachable (stays queued)
//   anything else                               -> retry (stays queued; the
//                                                  dequeue limit ends it)

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "clients/lib/client.h"
#include "gateway/adapters/storage_queue/queue_consumer.h"

namespace switchboard::gateway::storage_queue {

Verdict VerdictFor(const client::Connection& conn, const grpc::Status& status, const char* rpc);

// resource-run-request -> ResourcingService.SubmitRun.
QueueConsumer::Handler RunRequestHandler(const client::Connection* conn);
// pipeline outputs (`terraform output -json`) -> ReportPipelineOutputs.
QueueConsumer::Handler PipelineOutputHandler(const client::Connection* conn);

// True once the connection's channel is READY (connecting if idle), waiting
// at most `timeout`.
bool ServerReady(const client::Connection& conn, std::chrono::milliseconds timeout);

}  // namespace switchboard::gateway::storage_queue
