#include "server/notification/status_bridge.h"

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "server/notification/status_routes.h"

namespace switchboard::notification {
namespace {

constexpr char kCursorKind[] = "status_bridge";
constexpr char kCursorName[] = "cursor";

}  // namespace

// Parked in the hub while the bridge is caught up; woken on each commit.
class StatusBridge::Wakeup : public core::Waiter {
 public:
  void Wake() override {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
    cv_.notify_all();
  }
  // Waits for a wake (or at most `ms`), then re-arms.
  void WaitFor(int ms) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return woken_; });
    woken_ = false;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
};

StatusBridge::StatusBridge(core::Store* store, core::EventHub* hub, BusEngine* bus, Options options)
    : store_(store), hub_(hub), bus_(bus), options_(options), wakeup_(std::make_shared<Wakeup>()) {}

StatusBridge::~StatusBridge() { Stop(); }

absl::Status StatusBridge::Start() {
  auto saved = store_->GetResource(kCursorKind, kCursorName);
  if (!saved.ok()) return saved.status();
  int64_t cursor = 0;
  if (saved->has_value() && !absl::SimpleAtoi(**saved, &cursor)) {
    return absl::DataLossError(absl::StrCat("status bridge cursor '", **saved, "' is not a number"));
  }
  cursor_ = cursor;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void StatusBridge::Stop() {
  stop_ = true;
  wakeup_->Wake();
  if (thread_.joinable()) thread_.join();
}

absl::Status StatusBridge::SaveCursor(int64_t sequence) {
  core::Mutation m;
  m.scope = "notification.StatusBridge";
  m.writes.push_back({kCursorKind, kCursorName, std::to_string(sequence), false});
  return store_->Commit(std::move(m)).status();
}

bool StatusBridge::AnyStatusKeyWanted() const {
  for (const std::string& key : AllStatusRoutingKeys()) {
    if (bus_->AnyRouteWants(key)) return true;
  }
  return false;
}

bool StatusBridge::PublishBatch(const core::EventBatch& batch) {
  static const Principal kBridge{"status-bridge", Role::kAdmin, false};
  struct Pending {
    std::mutex mu;
    std::condition_variable cv;
    int outstanding = 0;
    bool closing = false;
  };
  auto pending = std::make_shared<Pending>();
  // Submitted in log order from this one thread, so the store commits them
  // (group-committed together) in that order.
  for (const auto& record : batch.events) {
    // As a topic exchange drops what no queue binds, a status change that no
    // subscription or webhook wants is not published (nor converted).
    auto envelope = StatusEnvelope(record, [this](const std::string& key) { return bus_->AnyRouteWants(key); });
    if (!envelope.ok()) {
      log::Error("status bridge skipped an event", {{"sequence", record.sequence}, {"error", envelope.status().ToString()}});
      continue;
    }
    if (!envelope->has_value()) continue;
    v1::PublishRequest req;
    req.set_request_id((*envelope)->event_uuid());
    *req.mutable_envelope() = std::move(**envelope);
    {
      std::lock_guard<std::mutex> lock(pending->mu);
      ++pending->outstanding;
    }
    bus_->Publish(kBridge, req, [pending, seq = record.sequence](absl::StatusOr<v1::PublishResponse> r) {
      std::lock_guard<std::mutex> lock(pending->mu);
      if (!r.ok()) {
        if (absl::IsUnavailable(r.status())) {
          pending->closing = true;
        } else {
          log::Error("status bridge could not publish", {{"sequence", seq}, {"error", r.status().ToString()}});
        }
      }
      if (--pending->outstanding == 0) pending->cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(pending->mu);
  pending->cv.wait(lock, [&] { return pending->outstanding == 0; });
  return !pending->closing;
}

void StatusBridge::Run() {
  const core::WatchFilter all;
  int64_t saved = cursor_.load();
  auto wait_for_more = [&] {
    auto next = hub_->NextEvent(cursor_.load(), all, /*live=*/false, wakeup_);
    if (next.kind == core::EventHub::NextKind::kWait) wakeup_->WaitFor(1000);
    return next.kind != core::EventHub::NextKind::kClosed;
  };
  while (!stop_) {
    // When no subscription or webhook binds any status key, nothing up to
    // the log's head would be published (as a topic exchange drops what no
    // queue binds): pass it by without reading or parsing it. The head is
    // read before the routes are asked, so no event committed after a route
    // appeared is passed by.
    const int64_t head = store_->HeadSequence();
    if (head > cursor_.load() && !AnyStatusKeyWanted()) {
      cursor_ = head;
      if (cursor_.load() - saved >= 16 * options_.batch_size && SaveCursor(cursor_.load()).ok()) saved = cursor_.load();
      if (!wait_for_more()) break;
      continue;
    }
    auto batch = store_->ReadEvents(cursor_.load(), options_.batch_size, "");
    if (!batch.ok()) {
      log::Error("status bridge cannot read the log", {{"error", batch.status().ToString()}});
      wakeup_->WaitFor(1000);
      continue;
    }
    if (batch->events.empty()) {
      if (saved != cursor_.load() && SaveCursor(cursor_.load()).ok()) saved = cursor_.load();
      if (!wait_for_more()) break;
      continue;
    }
    if (!PublishBatch(*batch)) break;
    cursor_ = std::max(batch->scanned_through, batch->events.back().sequence);
    // A busy log is never idle: save now and then, so a restart re-scans
    // little (re-publishing is harmless, only slower).
    if (cursor_.load() - saved >= 16 * options_.batch_size && SaveCursor(cursor_.load()).ok()) saved = cursor_.load();
  }
  if (saved != cursor_.load()) (void)SaveCursor(cursor_.load());
}

}  // namespace switchboard::notification
