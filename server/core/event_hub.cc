#include "server/core/event_hub.h"

#include <algorithm>

namespace switchboard::core {

bool WatchFilter::Matches(const EventRecord& e) const {
  if (!service.empty() && e.service != service) return false;
  if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), e.kind) == kinds.end()) return false;
  if (!resource.empty() && e.resource != resource && e.related != resource) return false;
  if (!resource_prefix.empty() && e.resource.compare(0, resource_prefix.size(), resource_prefix) != 0) return false;
  return true;
}

EventHub::EventHub(Store* store, Options options) : store_(store), options_(options) {
  head_ = store_->HeadSequence();
  const int threads = std::max(1, options_.wake_threads);
  for (int i = 0; i < threads; ++i) notify_threads_.emplace_back([this] { NotifyLoop(); });
}

EventHub::~EventHub() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    notify_cv_.notify_all();
  }
  for (auto& t : notify_threads_) t.join();
}

void EventHub::OnCommitted(std::vector<std::shared_ptr<const EventRecord>> events) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& e : events) {
    // The ring must stay contiguous: events arrive in order, without gaps.
    head_ = e->sequence;
    ring_.push_back(std::move(e));
    if (ring_.size() > options_.ring_capacity) ring_.pop_front();
  }
  notify_pending_ = true;
  notify_cv_.notify_one();
}

void EventHub::NotifyLoop() {
  constexpr size_t kChunk = 64;
  for (;;) {
    std::shared_ptr<WakeBatch> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      notify_cv_.wait(lock, [&] { return stopping_ || notify_pending_ || (batch_ && !batch_->claimed()); });
      if (stopping_ && !notify_pending_) return;
      if (notify_pending_ && (!batch_ || batch_->claimed())) {
        notify_pending_ = false;
        batch_ = std::make_shared<WakeBatch>();
        batch_->waiters.swap(parked_);
        if (batch_->waiters.size() > kChunk) notify_cv_.notify_all();
      }
      batch = batch_;
    }
    const size_t n = batch->waiters.size();
    for (;;) {
      const size_t begin = batch->next.fetch_add(kChunk);
      if (begin >= n) break;
      for (size_t i = begin; i < std::min(n, begin + kChunk); ++i) {
        if (auto s = batch->waiters[i].lock()) s->Wake();
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (batch_ == batch) batch_.reset();  // every chunk is claimed; drop the references
  }
}

EventHub::Next EventHub::NextEvent(int64_t after, const WatchFilter& filter, bool live,
                                   const std::weak_ptr<Waiter>& waiter) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return {NextKind::kClosed, nullptr, 0};
  if (live && head_ - after > options_.max_lag) return {NextKind::kLagging, nullptr, 0};
  if (after < head_) {
    const int64_t first = ring_.empty() ? head_ + 1 : ring_.front()->sequence;
    if (after + 1 < first) return {NextKind::kReadStore, nullptr, 0};
    for (size_t i = static_cast<size_t>(after + 1 - first); i < ring_.size(); ++i) {
      if (filter.Matches(*ring_[i])) return {NextKind::kEvent, ring_[i], 0};
    }
  }
  parked_.push_back(waiter);
  return {NextKind::kWait, nullptr, std::max(after, head_)};
}

int64_t EventHub::head() const {
  std::lock_guard<std::mutex> lock(mu_);
  return head_;
}

void EventHub::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    notify_pending_ = true;
    notify_cv_.notify_one();
  }
}

bool EventHub::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

void EventHub::AddWatcher(int delta) {
  std::lock_guard<std::mutex> lock(mu_);
  watchers_ += delta;
}

int64_t EventHub::watchers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watchers_;
}

}  // namespace switchboard::core
