#include "gateway/adapters/storage_queue/queue_consumer.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/thread_name.h"

namespace switchboard::gateway::storage_queue {

QueueConsumer::QueueConsumer(const QueueClient* client, ConsumerOptions options, Handler handler,
                             ReadyFn server_ready, Hooks hooks)
    : client_(client),
      options_(std::move(options)),
      handler_(std::move(handler)),
      server_ready_(std::move(server_ready)),
      hooks_(std::move(hooks)) {}

QueueConsumer::~QueueConsumer() { Stop(); }

void QueueConsumer::Start() {
  thread_ = NamedThread("queue-consumer", [this] { Loop(); });
}

void QueueConsumer::Stop() {
  stop_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void QueueConsumer::Sleep(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_.load(); });
}

std::string QueueConsumer::PoisonBody(const QueueMessage& m, const std::string& source, const std::string& reason,
                                      bool base64) {
  nlohmann::ordered_json j;
  j["reason"] = reason;
  j["queue"] = source;
  j["messageId"] = m.id;
  j["dequeueCount"] = m.dequeue_count;
  j["insertionTime"] = m.insertion_time;
  j["messageText"] = m.text;
  std::string body = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return base64 ? absl::Base64Escape(body) : body;
}

bool QueueConsumer::EnsureQueues() {
  if (queues_ready_) return true;
  for (const std::string* q : {&options_.queue, &options_.poison_queue}) {
    absl::Status s = client_->CreateQueue(*q);
    if (!s.ok()) {
      log::Warn("cannot create storage queue; retrying", {{"queue", *q}, {"error", std::string(s.message())}});
      hooks_.Error(absl::StrCat(options_.kind, "_queue"));
      return false;
    }
  }
  queues_ready_ = true;
  return true;
}

void QueueConsumer::Poison(const QueueMessage& m, const std::string& reason) {
  auto put = client_->PutMessage(options_.poison_queue,
                                 PoisonBody(m, options_.queue, reason, options_.encode_base64));
  if (!put.ok() && put.status().code() == absl::StatusCode::kInvalidArgument) {
    // The wrapper is too large for a queue message: move the text as it is
    // (the plain Azure Functions convention); the reason is in the log.
    log::Warn("poison wrapper rejected; moving the message text as it is",
              {{"queue", options_.queue}, {"message_id", m.id}, {"reason", reason},
               {"error", std::string(put.status().message())}});
    put = client_->PutMessage(options_.poison_queue, m.text);
  }
  if (!put.ok()) {
    // Left on the source queue: it reappears and is poisoned again later.
    log::Warn("cannot put message on the poison queue; leaving it on its queue",
              {{"queue", options_.queue}, {"message_id", m.id}, {"error", std::string(put.status().message())}});
    hooks_.Error(absl::StrCat(options_.kind, "_poison"));
    return;
  }
  log::Warn("message moved to the poison queue",
            {{"queue", options_.queue}, {"poison_queue", options_.poison_queue}, {"message_id", m.id},
             {"dequeue_count", m.dequeue_count}, {"reason", reason}});
  hooks_.Count(absl::StrCat("storage_queue_", options_.kind, "_poisoned"),
               absl::StrCat("Messages of ", options_.queue, " moved to ", options_.poison_queue, "."));
  absl::Status del = client_->DeleteMessage(options_.queue, m.id, m.pop_receipt);
  if (!del.ok() && del.code() != absl::StatusCode::kNotFound) {
    // It reappears and is poisoned once more: at least once on the poison queue.
    log::Warn("cannot delete a poisoned message from its queue",
              {{"queue", options_.queue}, {"message_id", m.id}, {"error", std::string(del.message())}});
  }
}

absl::StatusOr<int> QueueConsumer::PollOnce() {
  if (server_ready_ && !server_ready_(std::chrono::milliseconds(1000))) {
    return absl::UnavailableError("switchboardd is not reachable; not dequeuing");
  }
  if (!EnsureQueues()) return absl::UnavailableError(absl::StrCat("cannot create queue ", options_.queue));
  auto got = client_->GetMessages(options_.queue, options_.batch, options_.visibility_seconds);
  if (!got.ok()) {
    if (got.status().code() == absl::StatusCode::kNotFound) queues_ready_ = false;  // deleted behind our back
    return got.status();
  }
  for (size_t i = 0; i < got->size(); ++i) {
    const QueueMessage& m = (*got)[i];
    if (m.dequeue_count > options_.max_dequeue_count) {
      Poison(m, absl::StrCat("dequeued ", m.dequeue_count, " times, more than the limit of ",
                             options_.max_dequeue_count));
      continue;
    }
    Verdict v = handler_(m);
    switch (v.kind) {
      case Verdict::kAccepted: {
        hooks_.Count(absl::StrCat("storage_queue_", options_.kind, "_accepted"),
                     absl::StrCat("Messages of ", options_.queue, " accepted by switchboardd."));
        absl::Status del = client_->DeleteMessage(options_.queue, m.id, m.pop_receipt);
        if (!del.ok()) {
          // It reappears; the handler is idempotent on the message id.
          log::Warn("cannot delete an accepted message; it will be delivered again",
                    {{"queue", options_.queue}, {"message_id", m.id}, {"error", std::string(del.message())}});
          hooks_.Error(absl::StrCat(options_.kind, "_delete"));
        }
        break;
      }
      case Verdict::kPoison:
        Poison(m, v.reason);
        break;
      case Verdict::kRetry:
        hooks_.Error(absl::StrCat(options_.kind, "_retry"));
        log::Warn("message not accepted; it will be delivered again after its visibility timeout",
                  {{"queue", options_.queue}, {"message_id", m.id}, {"reason", v.reason}});
        break;
      case Verdict::kUnreachable:
        hooks_.Error(absl::StrCat(options_.kind, "_server_unavailable"));
        // This message and the rest of the batch go back at once; nothing more
        // is dequeued until the server answers again.
        for (size_t k = i; k < got->size(); ++k) {
          const QueueMessage& r = (*got)[k];
          auto upd = client_->UpdateVisibility(options_.queue, r.id, r.pop_receipt, 0);
          if (!upd.ok()) {
            log::Warn("cannot make a message visible again; it reappears after its visibility timeout",
                      {{"queue", options_.queue}, {"message_id", r.id}, {"error", std::string(upd.status().message())}});
          }
        }
        return absl::UnavailableError(absl::StrCat("switchboardd unavailable: ", v.reason));
    }
  }
  return static_cast<int>(got->size());
}

void QueueConsumer::Loop() {
  log::Info("storage queue consumer started", {{"queue", options_.queue}, {"poison_queue", options_.poison_queue}});
  auto backoff = std::chrono::milliseconds(100);
  while (!stop_) {
    absl::StatusOr<int> n = PollOnce();
    if (stop_) break;
    if (!n.ok()) {
      log::Warn("storage queue poll failed; backing off",
                {{"queue", options_.queue}, {"error", std::string(n.status().message())},
                 {"backoff_ms", backoff.count()}});
      Sleep(backoff);
      backoff = std::min(options_.max_backoff, backoff * 2);
      continue;
    }
    backoff = std::chrono::milliseconds(100);
    if (*n == 0) Sleep(options_.idle_poll);
  }
}

}  // namespace switchboard::gateway::storage_queue
