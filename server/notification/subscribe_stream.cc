#include "server/notification/subscribe_stream.h"

#include "common/status.h"

namespace switchboard::notification {

grpc::ServerWriteReactor<v1::Delivery>* SubscribeStream::Start(QueueEngine* queues,
                                                               const v1::SubscribeRequest& request,
                                                               absl::Status precheck) {
  auto stream = std::shared_ptr<SubscribeStream>(new SubscribeStream(queues));
  stream->self_ = stream;
  if (precheck.ok()) precheck = queues->Attach(request.subscription(), request.max_in_flight(), stream);
  if (!precheck.ok()) {
    std::lock_guard<std::mutex> lock(stream->mu_);
    stream->FinishLocked(precheck);
  } else {
    // Headers go out now, so a client knows it is attached before the first
    // delivery arrives.
    stream->StartSendInitialMetadata();
  }
  return stream.get();
}

void SubscribeStream::Deliver(v1::Delivery delivery) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;  // the engine has already taken it back
  pending_.push_back(std::move(delivery));
  if (!writing_) WriteNextLocked();
}

void SubscribeStream::WriteNextLocked() {
  if (pending_.empty() || finished_) return;
  writing_msg_ = std::move(pending_.front());
  pending_.pop_front();
  writing_ = true;
  StartWrite(&writing_msg_);
}

void SubscribeStream::OnWriteDone(bool ok) {
  std::unique_lock<std::mutex> lock(mu_);
  writing_ = false;
  if (deferred_finish_.has_value()) {
    Finish(*deferred_finish_);
    deferred_finish_.reset();
    return;
  }
  if (!ok) {
    FinishLocked(absl::CancelledError("the client went away"));
    lock.unlock();
    queues_->Quiesce(this);
    return;
  }
  WriteNextLocked();
}

void SubscribeStream::End(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  FinishLocked(status);
}

void SubscribeStream::OnCancel() {
  // First, so that nothing more is handed to a stream that cannot take it.
  queues_->Quiesce(this);
  std::lock_guard<std::mutex> lock(mu_);
  FinishLocked(absl::CancelledError("cancelled by the client"));
}

void SubscribeStream::FinishLocked(const absl::Status& status) {
  if (finished_) return;
  finished_ = true;
  pending_.clear();
  // gRPC wants no Finish while a write is outstanding: OnWriteDone does it.
  if (writing_) {
    deferred_finish_ = ToGrpcStatus(status);
    return;
  }
  Finish(ToGrpcStatus(status));
}

void SubscribeStream::OnDone() {
  queues_->Detach(this);
  self_.reset();  // may delete this
}

}  // namespace switchboard::notification
