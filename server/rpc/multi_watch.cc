#include "server/rpc/multi_watch.h"

#include <algorithm>
#include <cstdlib>

#include <google/protobuf/descriptor.h>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "server/rpc/watch_stream.h"
#include "server/rpc/watch_wire.h"
#include "switchboard/v1/media.pb.h"
#include "switchboard/v1/notification.pb.h"
#include "switchboard/v1/resourcing.pb.h"

namespace switchboard::rpc {

template <class Resp>
grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* MultiWatchStream<Resp>::Start(
    grpc::CallbackServerContext* ctx, const Guard* guard, core::EventHub* hub, const char* service) {
  auto w = std::shared_ptr<MultiWatchStream<Resp>>(new MultiWatchStream<Resp>(ctx, guard, hub, service));
  w->Attach(w);
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
    std::lock_guard<std::mutex> lock(this->mu_);
    // !ok: the client is done sending; its watches go on.
    if (!ok || this->finished_) return;
    v1::WatchManyRequest req;
    absl::Status parsed = ParseRawRequest(&in_, &req);
    in_.Clear();
    if (!parsed.ok()) {
      this->FinishLocked(ToGrpcStatus(parsed));
      return;
    }
    pump = HandleRequestLocked(req);
    if (this->finished_) return;
  }
  this->StartRead(&in_);
  // Adding a watch at the head of a parked stream needs no work.
  if (pump) this->Pump();
}

template <class Resp>
bool MultiWatchStream<Resp>::HandleRequestLocked(const v1::WatchManyRequest& req) {
  auto admitted = guard_->Admit(this->ctx_, req);
  if (!admitted.ok()) {
    this->FinishLocked(ToGrpcStatus(admitted.status()));
    return false;
  }
  switch (req.request_case()) {
    case v1::WatchManyRequest::kAdd:
      return AddLocked(req.add());
    case v1::WatchManyRequest::kCancel: {
      const int64_t id = req.cancel().watch_id();
      auto it = watches_.find(id);
      if (it == watches_.end()) {
        ended_.push_back({{id},
                          static_cast<int>(absl::StatusCode::kInvalidArgument),
                          absl::StrCat("cancel.watch_id ", id, " is not a watch on this stream")});
        return true;
      }
      IndexLocked(id, it->second.resource, /*insert=*/false);
      watches_.erase(it);
      ended_.push_back({{id}, static_cast<int>(absl::StatusCode::kCancelled), "watch cancelled"});
      return true;
    }
    case v1::WatchManyRequest::REQUEST_NOT_SET:
      this->FinishLocked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                      "WatchManyRequest: set add (a new watch) or cancel (end one)"));
      return false;
  }
  return false;
}

template <class Resp>
bool MultiWatchStream<Resp>::AddLocked(const v1::WatchManyRequest::AddWatch& add) {
  const int64_t id = add.watch_id();
  auto end = [this, id](absl::Status why) {
    ended_.push_back({{id}, static_cast<int>(why.code()), std::string(why.message())});
    return true;
  };
  if (id <= 0) {
    return end(absl::InvalidArgumentError(absl::StrCat("add.watch_id is ", id, "; it must be positive")));
  }
  if (watches_.size() >= kMaxWatchesPerStream) {
    return end(absl::ResourceExhaustedError(absl::StrCat("this stream already holds ", kMaxWatchesPerStream,
                                                         " watches; cancel some or open another stream")));
  }
  if (watches_.count(id)) {
    return end(absl::InvalidArgumentError(
        absl::StrCat("add.watch_id ", id, " is already a watch on this stream; pick another")));
  }
  const int64_t after = add.after_sequence();
  if (absl::Status s = CheckAfterSequence(after, this->hub_->head()); !s.ok()) {
    return end(absl::Status(s.code(), absl::StrCat("add.", s.message())));
  }
  const bool first = watches_.empty();
  // Events read ahead were kept only if some watch matched them.
  const bool covered = !every_.empty() || (!add.resource().empty() && by_resource_.contains(add.resource()));
  Watch w{after, add.resource(), /*behind=*/false};
  if (first) {
    pos_ = after;
    rewind_to_ = -1;
    this->ResetReplayLocked();
  } else if (after < pos_) {
    // Walk back to it at the next step.
    w.behind = true;
    rewind_to_ = rewind_to_ < 0 ? after : std::min(rewind_to_, after);
  } else if (!covered) {
    this->ResetReplayLocked();
  }
  max_cursor_ = std::max(max_cursor_, after);
  watches_.emplace(id, std::move(w));
  const int64_t head = IndexLocked(id, add.resource(), /*insert=*/true);
  // Parked at the head: the hub wakes the stream for the new watch's events.
  if (this->parked_ && after >= head && pos_ <= after) return false;
  if (after < head) this->live_ = false;
  return true;
}

template <class Resp>
int64_t MultiWatchStream<Resp>::IndexLocked(int64_t id, const std::string& resource, bool insert) {
  const core::WatchKey key{this->service_, "", resource};
  if (resource.empty()) {
    if (insert) {
      every_.insert(id);
    } else {
      every_.erase(id);
    }
  } else if (insert) {
    by_resource_[resource].insert(id);
  } else if (auto it = by_resource_.find(resource); it != by_resource_.end()) {
    it->second.erase(id);
    if (it->second.empty()) by_resource_.erase(it);
  }
  if (insert) return this->hub_->AddKey(this->listener(), key);
  this->hub_->RemoveKey(this->listener(), key);
  return 0;
}

template <class Resp>
WatchControl MultiWatchStream<Resp>::ControlLocked() {
  if (rewind_to_ >= 0) {
    // The watches already here keep what they have been given; the stream
    // walks back to the earliest watch added behind it.
    for (auto& [id, w] : watches_) {
      if (w.behind) {
        w.behind = false;
      } else {
        w.cursor = std::max(w.cursor, pos_);
      }
    }
    max_cursor_ = std::max(max_cursor_, pos_);
    pos_ = rewind_to_;
    rewind_to_ = -1;
    this->ResetReplayLocked();
    this->live_ = false;
  }
  if (!ended_.empty()) {
    Ended e = std::move(ended_.front());
    ended_.pop_front();
    Resp out;
    for (int64_t id : e.ids) out.add_watch_ids(id);
    out.mutable_ended()->set_code(e.code);
    out.mutable_ended()->set_message(e.message);
    grpc::Slice slice(out.SerializeAsString());
    this->out_ = grpc::ByteBuffer(&slice, 1);
    return WatchControl::kSend;
  }
  return watches_.empty() ? WatchControl::kIdle : WatchControl::kNone;
}

template <class Resp>
bool MultiWatchStream<Resp>::MatchesLocked(const core::EventRecord& e) const {
  if (e.service != this->service_) return false;
  if (!every_.empty()) return true;
  return (!e.resource.empty() && by_resource_.contains(e.resource)) ||
         (!e.related.empty() && by_resource_.contains(e.related));
}

template <class Resp>
bool MultiWatchStream<Resp>::SendEventLocked(std::shared_ptr<const core::EventRecord> event) {
  const int64_t seq = event->sequence;
  pos_ = std::max(pos_, seq);
  std::vector<int64_t> ids;
  int buckets = 0;
  auto take = [&](const absl::btree_set<int64_t>& bucket) {
    if (bucket.empty()) return;
    ++buckets;
    // A watch's cursor can only be at or past `seq` if one was added ahead
    // of the stream's position.
    if (seq > max_cursor_) {
      ids.insert(ids.end(), bucket.begin(), bucket.end());
      return;
    }
    for (int64_t id : bucket) {
      if (watches_.at(id).cursor < seq) ids.push_back(id);
    }
  };
  if (event->service == this->service_) {
    take(every_);
    if (!event->resource.empty()) {
      if (auto it = by_resource_.find(event->resource); it != by_resource_.end()) take(it->second);
    }
    if (!event->related.empty() && event->related != event->resource) {
      if (auto it = by_resource_.find(event->related); it != by_resource_.end()) take(it->second);
    }
  }
  if (ids.empty()) return false;
  if (buckets > 1) std::sort(ids.begin(), ids.end());
  this->out_ = WatchManyEventBytes(ids, std::move(event));
  return true;
}

template <class Resp>
grpc::Status MultiWatchStream<Resp>::EndStatusLocked(core::EventHub::NextKind why) {
  if (why == core::EventHub::NextKind::kLagging) {
    return grpc::Status(grpc::StatusCode::ABORTED,
                        absl::StrCat("watch stream fell more than ", this->hub_->options().max_lag,
                                     " events behind the log; open a new stream and add each watch with "
                                     "after_sequence = the last sequence it got"));
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "server is shutting down; reconnect and add each watch with after_sequence = "
                      "the last sequence it got");
}

int WatchManyIndex(const char* service_full_name) {
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service_full_name);
  const auto* method = service != nullptr ? service->FindMethodByName("WatchMany") : nullptr;
  if (method == nullptr) std::abort();  // a programming error: every service declares WatchMany
  return method->index();
}

template class MultiWatchStream<v1::ResourcingWatchManyResponse>;
template class MultiWatchStream<v1::MediaWatchManyResponse>;
template class MultiWatchStream<v1::NotificationWatchManyResponse>;

}  // namespace switchboard::rpc
