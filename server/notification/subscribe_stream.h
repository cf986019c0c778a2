#pragma once
// The Subscribe RPC: a server-streaming reactor that is a Consumer of the
// QueueEngine. One write in flight; deliveries that arrive meanwhile wait in
// a queue bounded by the stream's max_in_flight (the engine never hands out
// more). When the stream ends, for any reason, its unanswered deliveries go
// back on the subscription's queue.

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include "server/notification/queues.h"
#include "switchboard/v1/notification.pb.h"

namespace switchboard::notification {

class SubscribeStream final : public grpc::ServerWriteReactor<v1::Delivery>,
                              public Consumer,
                              public std::enable_shared_from_this<SubscribeStream> {
 public:
  // Ends at once with `precheck` when it is not OK.
  static grpc::ServerWriteReactor<v1::Delivery>* Start(QueueEngine* queues, const v1::SubscribeRequest& request,
                                                       absl::Status precheck);

  void Deliver(v1::Delivery delivery) override;
  void End(absl::Status status) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  explicit SubscribeStream(QueueEngine* queues) : queues_(queues) {}
  void WriteNextLocked();
  void FinishLocked(const absl::Status& status);

  QueueEngine* queues_;
  std::shared_ptr<SubscribeStream> self_;
  std::mutex mu_;
  std::deque<v1::Delivery> pending_;
  v1::Delivery writing_msg_;
  bool writing_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> deferred_finish_;
};

}  // namespace switchboard::notification
