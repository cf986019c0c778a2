#include "tests/core/chaos_load.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/core/test_support.h"

namespace switchboard::testing {
namespace {

// Each call's own deadline: a stopped replica costs a client this much.
constexpr absl::Duration kCallDeadline = absl::Seconds(3);
// How long one request is retried before the test fails it: past a
// postmaster restart or a replica's lease running out.
constexpr absl::Duration kGiveUp = absl::Seconds(45);

void SetDeadline(grpc::ClientContext* ctx, absl::Duration d) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + d));
}

std::string Describe(const grpc::Status& s) { return absl::StrCat(s.error_code(), ": ", s.error_message()); }

}  // namespace

bool Retryable(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
      return true;
    default:
      return false;
  }
}

void ChaosClients::Error(std::string e) {
  std::lock_guard<std::mutex> lock(mu);
  if (errors.size() < 50) errors.push_back(std::move(e));
}

std::vector<std::string> ChaosClients::TakeErrors() {
  std::lock_guard<std::mutex> lock(mu);
  return std::move(errors);
}

// --- Publishers ---

std::string Publishers::Uuid(uint32_t run, int thread, int i) {
  char uuid[40];
  std::snprintf(uuid, sizeof uuid, "%08x-%04x-4000-8000-%012d", run, thread, i);
  return uuid;
}

void Publishers::Start() {
  for (int t = 0; t < threads_; ++t) running_.emplace_back([this, t] { Loop(t); });
}

void Publishers::Join() {
  for (auto& t : running_) t.join();
  running_.clear();
}

void Publishers::Loop(int t) {
  const int n = c_->procs->size();
  for (int i = 0; !c_->stop.load(); ++i) {
    const std::string uuid = Uuid(c_->run, t, i);
    v1::PublishRequest req;
    req.set_request_id(uuid);
    *req.mutable_envelope() = Envelope(uuid);
    v1::PublishResponse resp;
    int attempts = 0, answered_by = -1;
    grpc::Status s = OnAnyReplica(
        n, (t + i) % n, absl::Now() + kGiveUp,
        [&](int r) {
          auto stub = v1::NotificationService::NewStub(c_->procs->channel(r));
          grpc::ClientContext ctx;
          SetDeadline(&ctx, kCallDeadline);
          answered_by = r;
          return stub->Publish(&ctx, req, &resp);
        },
        &attempts);
    if (!s.ok()) {
      c_->Error(absl::StrCat("publish ", uuid, " not acknowledged after ", attempts, " attempts: ", Describe(s)));
      continue;
    }
    if (attempts > 1) retried_.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu_);
    acked_[uuid] = Ack{resp.sequence(), answered_by, attempts};
  }
}

std::map<std::string, Publishers::Ack> Publishers::acked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return acked_;
}

// --- MediaLoad ---

std::string MediaLoad::BlobUri(const std::string& container, const std::string& blob) {
  const char* account = std::getenv("SWITCHBOARD_TEST_AZURITE_ACCOUNT");
  return absl::StrCat("https://", account ? account : "", ".blob.core.windows.net/", container, "/", blob);
}

void MediaLoad::Start() {
  running_ = std::thread([this] { Loop(); });
}

void MediaLoad::Join() {
  if (running_.joinable()) running_.join();
}

void MediaLoad::Loop() {
  while (!c_->stop.load()) {
    SubmitOne(n_.load() % c_->procs->size());
    absl::SleepFor(every_);
  }
}

std::string MediaLoad::SubmitOne(int replica_first) {
  const int i = n_.fetch_add(1);
  const std::string request_id = absl::StrCat("chaos-", c_->run, "-media-", i);
  const int n = c_->procs->size();
  v1::Operation op;
  int attempts = 0;
  grpc::Status s = OnAnyReplica(
      n, replica_first, absl::Now() + kGiveUp,
      [&](int r) {
        auto stub = v1::MediaService::NewStub(c_->procs->channel(r));
        grpc::ClientContext ctx;
        SetDeadline(&ctx, kCallDeadline);
        if (i % 2 == 0) {
          v1::CopyBlobRequest req;
          req.set_request_id(request_id);
          req.set_source_uri(BlobUri(container_, "source.txt"));
          req.set_destination_uri(BlobUri(container_, absl::StrCat("copy-", i, ".txt")));
          req.set_return_when_accepted(true);
          return stub->CopyBlob(&ctx, req, &op);
        }
        v1::ChangeContainerAccessRequest req;
        req.set_request_id(request_id);
        req.set_storage_account_name(std::getenv("SWITCHBOARD_TEST_AZURITE_ACCOUNT"));
        req.set_container_name(container_);
        req.set_access(i % 4 == 1 ? v1::BLOB : v1::PRIVATE);
        req.set_return_when_accepted(true);
        return stub->ChangeContainerAccess(&ctx, req, &op);
      },
      &attempts);
  if (!s.ok()) {
    c_->Error(absl::StrCat("media ", request_id, " not acknowledged after ", attempts, " attempts: ", Describe(s)));
    return "";
  }
  std::lock_guard<std::mutex> lock(mu_);
  acked_[request_id] = op.name();
  return op.name();
}

std::vector<std::string> MediaLoad::SubmitBatch(int replica, int count) {
  v1::SubmitBatchRequest req;
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    ids.push_back(absl::StrCat("chaos-", c_->run, "-batch-", i));
    v1::CopyBlobRequest* copy = req.add_requests()->mutable_copy_blob();
    copy->set_request_id(ids.back());
    copy->set_source_uri(BlobUri(container_, "source.txt"));
    copy->set_destination_uri(BlobUri(container_, absl::StrCat("batch-", i, ".txt")));
  }
  auto stub = v1::MediaService::NewStub(c_->procs->channel(replica));
  grpc::ClientContext ctx;
  SetDeadline(&ctx, absl::Seconds(20));
  v1::SubmitBatchResponse resp;
  grpc::Status s = stub->SubmitBatch(&ctx, req, &resp);
  std::vector<std::string> names(static_cast<size_t>(count));
  if (!s.ok() || resp.results_size() != count) {
    c_->Error(absl::StrCat("batch of ", count, " on replica ", replica, " failed: ", Describe(s)));
    return names;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < count; ++i) {
    const v1::SubmitBatchResult& r = resp.results(i);
    if (!r.has_operation()) {
      c_->Error(absl::StrCat(ids[i], " refused in its batch: ", r.error().code(), ": ", r.error().message()));
      continue;
    }
    names[i] = r.operation().name();
    acked_[ids[i]] = names[i];
  }
  return names;
}

std::map<std::string, std::string> MediaLoad::acked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return acked_;
}

// --- Watchers ---

void Watchers::Start() {
  for (int i = 0; i < c_->procs->size(); ++i) watchers_.push_back(std::make_unique<Watcher>());
  for (int i = 0; i < c_->procs->size(); ++i) {
    Watcher* w = watchers_[i].get();
    w->thread = std::thread([this, w, i] { Loop(w, i); });
  }
}

void Watchers::Loop(Watcher* w, int home) {
  const int n = c_->procs->size();
  int64_t last = 0;
  int r = home;
  for (;;) {
    grpc::ClientContext ctx;
    {
      std::lock_guard<std::mutex> lock(w->mu);
      if (w->done) return;
      w->ctx = &ctx;
      w->seen.replicas.push_back(r);
    }
    auto stub = v1::NotificationService::NewStub(c_->procs->channel(r));
    v1::WatchEventsRequest req;
    req.set_after_sequence(last);
    auto reader = stub->WatchEvents(&ctx, req);
    v1::NotificationEvent ev;
    while (reader->Read(&ev)) {
      std::lock_guard<std::mutex> lock(w->mu);
      w->seen.sequences.push_back(ev.sequence());
      last = std::max(last, ev.sequence());
      w->seen.last = last;
    }
    grpc::Status s = reader->Finish();
    {
      std::lock_guard<std::mutex> lock(w->mu);
      w->ctx = nullptr;
      if (w->done) return;
      ++w->seen.resumes;
      w->seen.endings.push_back(absl::StrCat("on replica ", r, " after ", last, ": ", Describe(s)));
      if (s.error_code() == grpc::StatusCode::OUT_OF_RANGE) ++w->seen.out_of_range;
    }
    if (!Retryable(s) && s.error_code() != grpc::StatusCode::OUT_OF_RANGE) {
      c_->Error(absl::StrCat("watcher ", home, " on replica ", r, " after ", last, " ended: ", Describe(s)));
    }
    // A new stream, on the next replica, after the last sequence seen.
    r = (r + 1) % n;
    absl::SleepFor(absl::Milliseconds(100));
  }
}

bool Watchers::WaitFor(int64_t head, absl::Time deadline) {
  bool all = false;
  while (!all && absl::Now() < deadline) {
    all = true;
    for (auto& w : watchers_) {
      std::lock_guard<std::mutex> lock(w->mu);
      if (w->seen.last < head) all = false;
    }
    if (!all) absl::SleepFor(absl::Milliseconds(50));
  }
  for (auto& w : watchers_) {
    std::lock_guard<std::mutex> lock(w->mu);
    w->done = true;
    if (w->ctx) w->ctx->TryCancel();
  }
  Join();
  return all;
}

void Watchers::Join() {
  for (auto& w : watchers_) {
    {
      std::lock_guard<std::mutex> lock(w->mu);
      w->done = true;
      if (w->ctx) w->ctx->TryCancel();
    }
    if (w->thread.joinable()) w->thread.join();
  }
}

Watchers::Seen Watchers::seen(int watcher) const {
  std::lock_guard<std::mutex> lock(watchers_[watcher]->mu);
  return watchers_[watcher]->seen;
}

}  // namespace switchboard::testing
