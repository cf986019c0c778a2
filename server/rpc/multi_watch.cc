#include "server/rpc/multi_watch.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "server/rpc/watch_stream.h"
#include "switchboard/v1/media.pb.h"
#include "switchboard/v1/notification.pb.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::rpc {

template <class Resp>
MultiWatchStream<Resp>::MultiWatchStream(grpc::CallbackServerContext* ctx, const Guard* guard, core::EventHub* hub,
                                   const char* service)
    : ctx_(ctx), guard_(guard), hub_(hub) {
  filter_.service = service;
}

template <class Resp>
grpc::ServerBidiReactor<v1::WatchManyRequest, Resp>* MultiWatchStream<Resp>::Start(
    grpc::CallbackServerContext* ctx, const Guard* guard, core::EventHub* hub, const char* service) {
  auto w = std::shared_ptr<MultiWatchStream<Resp>>(new MultiWatchStream<Resp>(ctx, guard, hub, service));
  w->self_ = w;
  hub->AddWatcher(1);
  auto admitted = guard->Admit(ctx, v1::WatchManyRequest());
  if (!admitted.ok()) {
    std::lock_guard<std::mutex> lock(w->mu_);
    w->FinishLocked(ToGrpcStatus(admitted.status()));
    return w.get();
  }
  w->StartSendInitialMetadata();
  w->StartRead(&w->in_);
  return w.get();
}

template <class Resp>
void MultiWatchStream<Resp>::OnReadDone(bool ok) {
  auto keep = this->shared_from_this();
  bool pump = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // !ok: the client is done sending; its watches go on.
    if (!ok || finished_) return;
    pump = HandleRequestLocked(in_);
    in_.Clear();
    if (finished_) return;
  }
  this->StartRead(&in_);
  // Adding a watch at the head of an idle stream needs no work: each add
  // would otherwise cost a pass over every watch.
  if (pump) Pump();
}

template <class Resp>
bool MultiWatchStream<Resp>::HandleRequestLocked(const v1::WatchManyRequest& req) {
  auto admitted = guard_->Admit(ctx_, req);
  if (!admitted.ok()) {
    FinishLocked(ToGrpcStatus(admitted.status()));
    return false;
  }
  auto end = [this](int64_t id, absl::Status why) {
    ended_.push_back({{id}, static_cast<int>(why.code()), std::string(why.message())});
    return true;
  };
  switch (req.request_case()) {
    case v1::WatchManyRequest::kAdd: {
      const auto& add = req.add();
      const int64_t id = add.watch_id();
      if (id <= 0) {
        return end(id, absl::InvalidArgumentError(absl::StrCat("add.watch_id is ", id, "; it must be positive")));
      }
      if (watches_.size() >= kMaxWatchesPerStream) {
        return end(id, absl::ResourceExhaustedError(absl::StrCat(
                           "this stream already holds ", kMaxWatchesPerStream,
                           " watches; cancel some or open another stream")));
      }
      if (watches_.count(id)) {
        return end(id, absl::InvalidArgumentError(
                           absl::StrCat("add.watch_id ", id, " is already a watch on this stream; pick another")));
      }
      if (absl::Status s = CheckAfterSequence(add.after_sequence(), hub_->head()); !s.ok()) {
        return end(id, absl::Status(s.code(), absl::StrCat("add.", s.message())));
      }
      watches_[id] = Watch{add.after_sequence(), add.resource()};
      if (parked_ && add.after_sequence() >= hub_->head()) return false;
      // The new watch may be behind the others: walk the log from it again.
      live_ = false;
      replay_.clear();
      replay_next_ = 0;
      replay_scanned_ = 0;
      return true;
    }
    case v1::WatchManyRequest::kCancel: {
      const int64_t id = req.cancel().watch_id();
      if (watches_.erase(id) == 0) {
        return end(id, absl::InvalidArgumentError(
                           absl::StrCat("cancel.watch_id ", id, " is not a watch on this stream")));
      }
      return end(id, absl::CancelledError("watch cancelled"));
    }
    case v1::WatchManyRequest::REQUEST_NOT_SET:
      FinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                "WatchManyRequest: set add (a new watch) or cancel (end one)"));
      return false;
  }
  return false;
}

template <class Resp>
void MultiWatchStream<Resp>::OnWriteDone(bool ok) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    out_.Clear();
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch stream closed by the client"));
      return;
    }
  }
  Pump();
}

template <class Resp>
void MultiWatchStream<Resp>::OnCancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  if (!writing_) FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
}

template <class Resp>
void MultiWatchStream<Resp>::OnDone() {
  hub_->AddWatcher(-1);
  auto keep = std::move(self_);  // may destroy `this` when it goes
}

template <class Resp>
void MultiWatchStream<Resp>::Pump() {
  auto keep = this->shared_from_this();  // Finish may lead to OnDone
  RunPumpLoop(mu_, pumping_, repump_, [this] { return Step(); }, [this] { return writing_ || finished_; });
}

template <class Resp>
void MultiWatchStream<Resp>::AdvanceAllLocked(int64_t to) {
  for (auto& [id, w] : watches_) w.cursor = std::max(w.cursor, to);
}

template <class Resp>
bool MultiWatchStream<Resp>::DeliverLocked(const std::shared_ptr<const core::EventRecord>& event) {
  std::vector<int64_t> ids;
  for (auto& [id, w] : watches_) {
    if (w.cursor >= event->sequence) continue;
    if (w.resource.empty() || w.resource == event->resource || w.resource == event->related) ids.push_back(id);
    w.cursor = event->sequence;
  }
  if (ids.empty()) return false;
  out_.Clear();
  for (int64_t id : ids) out_.add_watch_ids(id);
  if (!out_.mutable_event()->ParseFromString(event->data)) {
    FinishLocked(grpc::Status(grpc::StatusCode::DATA_LOSS,
                              absl::StrCat("log event ", event->sequence, " is corrupt")));
    return false;
  }
  writing_ = true;
  return true;
}


// One step: start a write, park, or read ahead from the store. Returns true
// when it should run again at once.
template <class Resp>
bool MultiWatchStream<Resp>::Step() {
  std::unique_lock<std::mutex> lock(mu_);
  if (writing_ || finished_) return false;
  if (cancelled_) {
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
    return false;
  }
  if (!ended_.empty()) {
    Ended e = std::move(ended_.front());
    ended_.erase(ended_.begin());
    out_.Clear();
    for (int64_t id : e.ids) out_.add_watch_ids(id);
    out_.mutable_ended()->set_code(e.code);
    out_.mutable_ended()->set_message(e.message);
    writing_ = true;
  } else if (watches_.empty()) {
    return false;  // an Add pumps again
  } else if (replay_next_ < replay_.size()) {
    auto event = std::move(replay_[replay_next_++]);
    const bool delivered = DeliverLocked(event);
    if (replay_next_ == replay_.size()) {
      // Nothing else of the service up to scanned_through.
      replay_.clear();
      replay_.shrink_to_fit();
      replay_next_ = 0;
      AdvanceAllLocked(replay_scanned_);
    }
    if (!delivered) return !finished_;
  } else {
    int64_t from = watches_.begin()->second.cursor;
    for (const auto& [id, w] : watches_) from = std::min(from, w.cursor);
    core::EventHub::Next next = hub_->NextEvent(from, filter_, live_, this->weak_from_this());
    switch (next.kind) {
      case core::EventHub::NextKind::kEvent:
        if (!DeliverLocked(next.event)) return !finished_;
        break;
      case core::EventHub::NextKind::kWait:
        live_ = true;
        parked_ = true;
        AdvanceAllLocked(next.advance_to);
        return false;
      case core::EventHub::NextKind::kReadStore: {
        lock.unlock();
        auto batch = hub_->store()->ReadEvents(from, kReplayBatch, filter_.service);
        lock.lock();
        if (!batch.ok()) {
          FinishLocked(ToGrpcStatus(batch.status()));
          return false;
        }
        // A watch added meanwhile may be behind `from`: read again.
        for (const auto& [id, w] : watches_) {
          if (w.cursor < from) return true;
        }
        replay_.clear();
        replay_next_ = 0;
        for (auto& e : batch->events) replay_.push_back(std::make_shared<core::EventRecord>(std::move(e)));
        replay_scanned_ = batch->scanned_through;
        if (replay_.empty()) AdvanceAllLocked(replay_scanned_);
        return true;
      }
      case core::EventHub::NextKind::kLagging:
        FinishLocked(grpc::Status(grpc::StatusCode::ABORTED,
                                  absl::StrCat("watch stream fell more than ", hub_->options().max_lag,
                                               " events behind the log; open a new stream and add each watch with "
                                               "after_sequence = the last sequence it got")));
        return false;
      case core::EventHub::NextKind::kClosed:
        FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                  "server is shutting down; reconnect and add each watch with after_sequence = "
                                  "the last sequence it got"));
        return false;
    }
  }
  lock.unlock();
  this->StartWrite(&out_);
  return false;
}

template <class Resp>
void MultiWatchStream<Resp>::FinishLocked(grpc::Status status) {
  if (finished_) return;
  finished_ = true;
  replay_.clear();
  replay_next_ = 0;
  this->Finish(std::move(status));
}

template class MultiWatchStream<v1::ResourcingWatchManyResponse>;
template class MultiWatchStream<v1::MediaWatchManyResponse>;
template class MultiWatchStream<v1::NotificationWatchManyResponse>;

}  // namespace switchboard::rpc
