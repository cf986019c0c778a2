#include "server/core/event_hub.h"

#include <algorithm>

#include "common/thread_name.h"

namespace switchboard::core {
namespace {

std::string KeyString(std::string_view service, std::string_view kind, std::string_view resource) {
  if (service.empty()) return std::string(2, '\0');  // every service
  std::string key;
  key.reserve(service.size() + kind.size() + resource.size() + 2);
  key.append(service).push_back('\0');
  key.append(kind).push_back('\0');
  key.append(resource);
  return key;
}

// Calls f with every index key an event has: the global key, its service's,
// with and without its kind, and the same for its resource and related.
template <class F>
void ForEachEventKey(const EventRecord& e, F f) {
  f(KeyString("", "", ""));
  f(KeyString(e.service, "", ""));
  if (!e.kind.empty()) f(KeyString(e.service, e.kind, ""));
  for (const std::string* r : {&e.resource, &e.related}) {
    if (r->empty() || (r == &e.related && e.related == e.resource)) continue;
    f(KeyString(e.service, "", *r));
    if (!e.kind.empty()) f(KeyString(e.service, e.kind, *r));
  }
}

std::vector<std::string> KeyStrings(const WatchFilter& filter) {
  std::vector<std::string> out;
  for (const WatchKey& k : KeysOf(filter)) out.push_back(KeyString(k.service, k.kind, k.resource));
  return out;
}

}  // namespace

bool WatchFilter::Matches(const EventRecord& e) const {
  if (!service.empty() && e.service != service) return false;
  if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), e.kind) == kinds.end()) return false;
  if (!resource.empty() && e.resource != resource && e.related != resource) return false;
  if (!resource_prefix.empty() && e.resource.compare(0, resource_prefix.size(), resource_prefix) != 0) return false;
  return true;
}

std::vector<WatchKey> KeysOf(const WatchFilter& filter) {
  if (filter.service.empty()) return {WatchKey{}};
  std::vector<WatchKey> keys;
  if (filter.kinds.empty()) {
    keys.push_back({filter.service, "", filter.resource});
  } else {
    for (const auto& kind : filter.kinds) keys.push_back({filter.service, kind, filter.resource});
  }
  return keys;
}

// A listener's state; guarded by the hub's mutex.
class EventHub::Listener {
 public:
  std::weak_ptr<Waiter> waiter;
  // Key string -> how many times it was added.
  absl::flat_hash_map<std::string, int> keys;
  bool registered = true;
  // Parked: it found nothing at parked_at (the head then) and waits for a
  // wake.
  bool parked = false;
  int64_t parked_at = 0;
  // The hub's count of parkings when it parked: listeners are woken in the
  // order they parked (see DispatchLocked).
  uint64_t park_order = 0;
  // When woken: no event in (parked_at, wake_from) has one of its keys.
  int64_t wake_from = 0;
  uint64_t woken_round = 0;
  // The head when its last new key was added: events up to it were never
  // looked at for that key.
  int64_t keys_since = 0;
  // For the one-filter NextEvent: the keys it was registered with.
  std::vector<std::string> filter_keys;
};

struct EventHub::WakeBatch {
  std::vector<std::weak_ptr<Waiter>> waiters;
  std::atomic<size_t> next{0};
  bool claimed() const { return next.load(std::memory_order_relaxed) >= waiters.size(); }
};

EventHub::EventHub(Store* store, Options options) : store_(store), options_(options) {
  head_ = store_->HeadSequence();
  dispatched_through_ = head_;
  woken_through_ = head_;
  const int threads = std::max(1, options_.wake_threads);
  for (int i = 0; i < threads; ++i) threads_.push_back(NamedThread("hub-wake", [this] { WorkLoop(); }));
}

EventHub::~EventHub() {
  std::deque<Read> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    work_cv_.notify_all();
  }
  for (auto& t : threads_) t.join();
  std::lock_guard<std::mutex> lock(mu_);
  dropped.swap(reads_);  // destroyed after the lock is released (they may hold streams)
  batches_.clear();
  listeners_.clear();
  index_.clear();
  implicit_.clear();
}

void EventHub::OnCommitted(std::vector<std::shared_ptr<const EventRecord>> events) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& e : events) {
    // The ring must stay contiguous: events arrive in order, without gaps.
    head_ = e->sequence;
    ring_.push_back(std::move(e));
    if (ring_.size() > options_.ring_capacity) ring_.pop_front();
  }
  work_cv_.notify_one();
}

std::shared_ptr<EventHub::Listener> EventHub::Listen(std::weak_ptr<Waiter> waiter) {
  auto l = std::make_shared<Listener>();
  l->waiter = std::move(waiter);
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) {
    l->registered = false;
    return l;
  }
  listeners_.insert(l.get());
  return l;
}

void EventHub::Unlisten(Listener* l) {
  std::lock_guard<std::mutex> lock(mu_);
  UnlistenLocked(l);
}

void EventHub::UnlistenLocked(Listener* l) {
  if (!l->registered) return;
  l->registered = false;
  for (const auto& [key, count] : l->keys) {
    auto it = index_.find(key);
    if (it == index_.end()) continue;
    it->second.erase(l);
    if (it->second.empty()) index_.erase(it);
  }
  l->keys.clear();
  l->parked = false;
  listeners_.erase(l);
}

void EventHub::AddKeyLocked(Listener* l, const std::string& key) {
  if (!l->registered) return;
  if (l->keys[key]++ == 0) {
    index_[key].insert(l);
    l->keys_since = head_;
  }
}

int64_t EventHub::AddKey(Listener* l, const WatchKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  AddKeyLocked(l, KeyString(key.service, key.kind, key.resource));
  return head_;
}

void EventHub::RemoveKey(Listener* l, const WatchKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = l->keys.find(KeyString(key.service, key.kind, key.resource));
  if (it == l->keys.end() || --it->second > 0) return;
  auto bucket = index_.find(it->first);
  if (bucket != index_.end()) {
    bucket->second.erase(l);
    if (bucket->second.empty()) index_.erase(bucket);
  }
  l->keys.erase(it);
}

EventHub::Next EventHub::NextEvent(int64_t after, absl::FunctionRef<bool(const EventRecord&)> matches, bool live,
                                   Listener* l) {
  std::lock_guard<std::mutex> lock(mu_);
  // Running, so not parked. A wake's hint holds only for a cursor that has
  // not gone back behind where it parked, and for the keys it had then (a
  // key added since may match events the hint passes over).
  const int64_t wake_from = l->wake_from;
  const bool hinted = wake_from > 0 && after >= l->parked_at && l->keys_since <= l->parked_at;
  l->parked = false;
  l->wake_from = 0;
  if (closed_) return {NextKind::kClosed, nullptr, 0};
  if (live && head_ - after > options_.max_lag) return {NextKind::kLagging, nullptr, 0};
  if (after < head_) {
    // Nothing before wake_from can match: start there.
    const int64_t start = hinted ? std::max(after + 1, wake_from) : after + 1;
    const int64_t first = ring_.empty() ? head_ + 1 : ring_.front()->sequence;
    if (start < first) return {NextKind::kReadStore, nullptr, 0};
    for (size_t i = static_cast<size_t>(start - first); i < ring_.size(); ++i) {
      if (matches(*ring_[i])) return {NextKind::kEvent, ring_[i], 0};
    }
  }
  l->parked = true;
  l->parked_at = head_;
  l->park_order = ++parkings_;
  return {NextKind::kWait, nullptr, std::max(after, head_)};
}

EventHub::Next EventHub::NextEvent(int64_t after, const WatchFilter& filter, bool live,
                                   const std::weak_ptr<Waiter>& waiter) {
  std::shared_ptr<Listener> l;
  {
    std::vector<std::string> keys = KeyStrings(filter);
    std::lock_guard<std::mutex> lock(mu_);
    const Waiter* id = waiter.lock().get();
    auto it = implicit_.find(id);
    if (it != implicit_.end()) {
      const auto& old = it->second;
      const bool same_owner = !old->waiter.owner_before(waiter) && !waiter.owner_before(old->waiter);
      if (same_owner && !old->waiter.expired() && old->filter_keys == keys) {
        l = old;
      } else {
        UnlistenLocked(old.get());
        implicit_.erase(it);
      }
    }
    if (!l) {
      l = std::make_shared<Listener>();
      l->waiter = waiter;
      l->filter_keys = keys;
      l->registered = !stopping_;
      if (l->registered) {
        listeners_.insert(l.get());
        for (const auto& k : keys) AddKeyLocked(l.get(), k);
        implicit_[id] = l;
      }
    }
  }
  return NextEvent(after, [&filter](const EventRecord& e) { return filter.Matches(e); }, live, l.get());
}

bool EventHub::ReadEventsAsync(int64_t after, int limit, std::string service, ReadDone done) {
  return RunReadAsync([this, after, limit, service = std::move(service), done = std::move(done)] {
    done(store_->ReadEvents(after, limit, service));
  });
}

bool EventHub::RunReadAsync(std::function<void()> read) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return false;
  reads_.push_back(std::move(read));
  work_cv_.notify_one();
  return true;
}

bool EventHub::WakeWorkLocked() const {
  for (const auto& b : batches_) {
    if (!b->claimed()) return true;
  }
  return close_pending_ || (!dispatching_ && head_ > dispatched_through_);
}

void EventHub::StartBatchLocked(std::vector<std::weak_ptr<Waiter>> waiters) {
  constexpr size_t kChunk = 64;
  if (waiters.empty()) return;
  wakes_ += static_cast<int64_t>(waiters.size());
  auto batch = std::make_shared<WakeBatch>();
  batch->waiters = std::move(waiters);
  if (batch->waiters.size() > kChunk) work_cv_.notify_all();
  batches_.push_back(std::move(batch));
}

void EventHub::DispatchLocked(std::unique_lock<std::mutex>& lock) {
  const int64_t from = dispatched_through_;
  const int64_t to = head_;
  dispatched_through_ = to;
  const uint64_t round = ++round_;
  // Events that fell out of the ring before this round cannot be looked at:
  // then every parked listener is woken, without a hint.
  const bool missed = ring_.empty() || ring_.front()->sequence > from + 1;
  std::vector<std::shared_ptr<const EventRecord>> events;
  if (!ring_.empty()) {
    const int64_t first = ring_.front()->sequence;
    for (size_t i = static_cast<size_t>(std::max<int64_t>(0, from + 1 - first)); i < ring_.size(); ++i) {
      if (ring_[i]->sequence > to) break;
      events.push_back(ring_[i]);
    }
  }
  lock.unlock();
  // Key -> the first and last sequence of this round with it.
  struct Span {
    int64_t first, last;
  };
  absl::flat_hash_map<std::string, Span> spans;
  for (const auto& e : events) {
    ForEachEventKey(*e, [&](std::string key) {
      auto [it, fresh] = spans.try_emplace(std::move(key), Span{e->sequence, e->sequence});
      if (!fresh) it->second.last = e->sequence;
    });
  }
  events.clear();
  lock.lock();

  std::vector<Listener*> woken;
  // A listener parked before `last` is woken; its hint is the first event
  // of the span after it parked. A listener woken by another key of this
  // round keeps the smallest hint.
  auto visit = [&](Listener* l, int64_t first, int64_t last) {
    if (l->parked_at >= last) return;
    const int64_t hint = std::max(first, l->parked_at + 1);
    if (l->parked) {
      l->parked = false;
      l->woken_round = round;
      l->wake_from = hint;
      woken.push_back(l);
    } else if (l->woken_round == round && l->wake_from > 0) {
      l->wake_from = std::min(l->wake_from, hint);
    }
  };
  for (const auto& [key, span] : spans) {
    auto it = index_.find(key);
    if (it == index_.end()) continue;
    for (Listener* l : it->second) visit(l, span.first, span.last);
  }
  if (missed) {
    for (Listener* l : listeners_) {
      if (l->parked && l->parked_at < to) {
        l->parked = false;
        l->woken_round = round;
        woken.push_back(l);
      }
      if (l->woken_round == round) l->wake_from = 0;
    }
  }
  // In the order they parked, not the index's (a hash set's): streams that
  // parked together, as their writes on one connection completed together,
  // are woken together, so the wake threads' chunks of them seldom meet on
  // one connection's lock in gRPC.
  std::sort(woken.begin(), woken.end(), [](const Listener* a, const Listener* b) {
    return a->park_order < b->park_order;
  });
  std::vector<std::weak_ptr<Waiter>> wake;
  wake.reserve(woken.size());
  for (Listener* l : woken) wake.push_back(l->waiter);
  StartBatchLocked(std::move(wake));
  woken_through_ = to;
}

void EventHub::WorkLoop() {
  constexpr size_t kChunk = 64;
  bool read_last = false;  // take turns between wakes and reads, so neither starves
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stopping_ || WakeWorkLocked() || !reads_.empty(); });
    if (stopping_) return;
    const bool wake_work = WakeWorkLocked();
    if (!reads_.empty() && (!wake_work || !read_last)) {
      read_last = true;
      Read r = std::move(reads_.front());
      reads_.pop_front();
      ++store_reads_;
      lock.unlock();
      r();
      r = nullptr;  // drop what the read holds before taking the lock
      lock.lock();
      continue;
    }
    read_last = false;
    while (!batches_.empty() && batches_.front()->claimed()) batches_.pop_front();
    if (!batches_.empty()) {
      std::shared_ptr<WakeBatch> batch = batches_.front();
      lock.unlock();
      const size_t n = batch->waiters.size();
      for (;;) {
        const size_t begin = batch->next.fetch_add(kChunk);
        if (begin >= n) break;
        for (size_t i = begin; i < std::min(n, begin + kChunk); ++i) {
          if (auto s = batch->waiters[i].lock()) s->Wake();
        }
      }
      batch.reset();
      lock.lock();
      // Every chunk is claimed: drop the references.
      if (!batches_.empty() && batches_.front()->claimed()) batches_.pop_front();
      continue;
    }
    if (close_pending_) {
      close_pending_ = false;
      std::vector<std::weak_ptr<Waiter>> wake;
      for (Listener* l : listeners_) {
        if (!l->parked) continue;
        l->parked = false;
        l->wake_from = 0;
        wake.push_back(l->waiter);
      }
      StartBatchLocked(std::move(wake));
      continue;
    }
    if (!dispatching_ && head_ > dispatched_through_) {
      dispatching_ = true;
      DispatchLocked(lock);
      dispatching_ = false;
      // Events may have committed while this round was worked out.
      if (head_ > dispatched_through_) work_cv_.notify_one();
    }
  }
}

int64_t EventHub::head() const {
  std::lock_guard<std::mutex> lock(mu_);
  return head_;
}

void EventHub::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  close_pending_ = true;
  work_cv_.notify_one();
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

EventHub::Stats EventHub::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s;
  s.wakes = wakes_;
  s.dispatched_through = woken_through_;
  s.listeners = static_cast<int64_t>(listeners_.size());
  for (Listener* l : listeners_) s.parked += l->parked ? 1 : 0;
  s.store_reads = store_reads_;
  return s;
}

}  // namespace switchboard::core
