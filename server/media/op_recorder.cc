#include "server/media/op_recorder.h"

#include <algorithm>
#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/proto_bytes.h"
#include "common/status.h"
#include "common/uuid.h"
#include "common/wait.h"
#include "server/core/fingerprint.h"

namespace switchboard::media {
namespace {

void SetNow(google::protobuf::Timestamp* ts) {
  int64_t us = absl::ToUnixMicros(absl::Now());
  ts->set_seconds(us / 1000000);
  ts->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
}

const char* KindOf(const v1::MediaEvent& e) {
  switch (e.payload_case()) {
    case v1::MediaEvent::kAcknowledged: return "acknowledged";
    case v1::MediaEvent::kSucceeded: return "succeeded";
    case v1::MediaEvent::kScheduled: return "scheduled";
    case v1::MediaEvent::kStorage: return "storage";
    case v1::MediaEvent::kEncode: return "encode";
    case v1::MediaEvent::kFailure: return "failure";
    default: return "other";
  }
}

// "operations/" and 20 hex digits: 13 of a strictly increasing microsecond
// clock, then 7 random ones. Names sort in creation order (ListOperations,
// and new rows land at the end of the store's index instead of all over
// it), never repeat within a process, and the random part keeps names apart
// across restarts even if the clock stepped back.
std::string NewOperationName() {
  static std::atomic<int64_t> last{0};
  int64_t now = absl::ToUnixMicros(absl::Now());
  int64_t prev = last.load(std::memory_order_relaxed);
  int64_t mine;
  do {
    mine = std::max(now, prev + 1);
  } while (!last.compare_exchange_weak(prev, mine, std::memory_order_relaxed));
  return absl::StrCat("operations/", absl::Hex(mine, absl::kZeroPad13), absl::Hex(UniqueRandom64() & 0xfffffff, absl::kZeroPad7));
}

// `e` serialized with the operation's context (when it has one) and echo,
// as if copied into it: the two are appended as fields straight from `op`
// (common/proto_bytes.h), instead of copying a Struct into every event.
std::string EventBytes(const v1::MediaEvent& e, const v1::Operation& op) {
  std::string bytes = e.SerializeAsString();
  if (op.has_operation_context()) {
    AppendMessageField(bytes, v1::MediaEvent::kOperationContextFieldNumber, op.operation_context());
  }
  AppendMessageField(bytes, v1::MediaEvent::kEchoFieldNumber, op.echo());
  return bytes;
}

// `serialized` (an Operation) with last_sequence set to `seq`: appended as
// a second occurrence of the field, which wins when the row is parsed. The
// operation is serialized on the caller's thread; only this small append
// waits for the store's writer, which alone knows the sequence.
std::string WithLastSequence(std::string serialized, int64_t seq) {
  AppendVarintField(serialized, v1::Operation::kLastSequenceFieldNumber, static_cast<uint64_t>(seq));
  return serialized;
}

// Inside the writer's transaction: gives the operation (serialized as
// `bytes`) the sequence of the mutation's last event, if it has events,
// and adds its row to the mutation's writes.
void PutOperation(v1::Operation& o, std::string bytes, core::TxnReader& txn, core::Mutation& self) {
  if (!self.events.empty()) {
    o.set_last_sequence(txn.NextSequence() + static_cast<int64_t>(self.events.size()) - 1);
    bytes = WithLastSequence(std::move(bytes), o.last_sequence());
  }
  self.writes.push_back({kOperationKind, o.name(), std::move(bytes), false});
}

}  // namespace

absl::StatusOr<OpRecorder::Begun> OpRecorder::Begin(v1::OperationType type, const std::string& request_id,
                                                    const google::protobuf::Struct* context,
                                                    const std::string& target, const std::string& fingerprint,
                                                    bool acknowledge, const v1::RequestEcho& echo) {
  BeginArgs args;
  args.type = type;
  args.request_id = request_id;
  if (context) args.context = *context;
  args.target = target;
  args.fingerprint = fingerprint;
  args.acknowledge = acknowledge;
  args.echo = echo;
  return Wait<Begun>([&](std::function<void(absl::StatusOr<Begun>)> d) { BeginAsync(std::move(args), std::move(d)); });
}

void OpRecorder::BeginAsync(BeginArgs args, std::function<void(absl::StatusOr<Begun>)> done) {
  v1::Operation op;
  op.set_name(NewOperationName());
  op.set_request_id(args.request_id);
  op.set_type(args.type);
  op.set_state(v1::Operation::ACCEPTED);
  if (args.context) op.mutable_operation_context()->Swap(&*args.context);
  SetNow(op.mutable_create_time());
  *op.mutable_update_time() = op.create_time();
  op.set_target_uri(args.target);
  op.mutable_echo()->Swap(&args.echo);

  core::Mutation m;
  m.scope = absl::StrCat("media.", v1::OperationType_Name(args.type));
  m.request_id = args.request_id;
  m.fingerprint = args.fingerprint;
  if (args.acknowledge) {
    v1::MediaEvent e;
    e.set_request_id(op.request_id());
    e.set_operation(op.name());
    e.set_operation_type(op.type());
    e.set_acknowledged(op.type());
    m.events.push_back({"media", "acknowledged", op.name(), op.target_uri(), EventBytes(e, op)});
  }
  if (!args.request.empty()) {
    m.jobs.push_back(jobs_ ? core::JobWrite::EnqueueClaimed(kJobKind, op.name(), args.request, jobs_->owner(),
                                                           jobs_->lease())
                           : core::JobWrite::Enqueue(kJobKind, op.name(), args.request));
    // The operation's name was made just now: no other job has it.
    m.jobs.back().deduplicate = false;
  }
  auto shared_op = std::make_shared<v1::Operation>(std::move(op));
  // Only the operation waits for the writer: it names the acknowledge
  // event's sequence.
  m.prepare = [shared_op, bytes = shared_op->SerializeAsString()](core::TxnReader& txn,
                                                                   core::Mutation& self) mutable -> absl::Status {
    PutOperation(*shared_op, std::move(bytes), txn, self);
    return absl::OkStatus();
  };
  m.make_response = [name = shared_op->name()](int64_t) { return name; };
  store_->CommitAsync(std::move(m), [this, shared_op, done = std::move(done)](absl::StatusOr<core::CommitResult> r) {
    if (!r.ok()) return done(r.status());
    // The engine runs it now: its lease is kept alive until the outcome.
    if (jobs_ && !r->replayed && !r->jobs.empty() && r->jobs.front().job_id > 0) {
      jobs_->Hold(shared_op->name(), r->jobs.front());
    }
    Begun b;
    if (r->replayed) {
      auto op = Get(r->response);
      if (!op.ok()) return done(op.status());
      b.op = std::move(*op);
      b.replayed = true;
      return done(std::move(b));
    }
    b.op = std::move(*shared_op);
    done(std::move(b));
  });
}

void OpRecorder::Record(v1::Operation op, std::vector<v1::MediaEvent> events, Done done) {
  SetNow(op.mutable_update_time());
  core::Mutation m;
  auto shared_op = std::make_shared<v1::Operation>(std::move(op));
  // The events are made here, on the caller's thread; only what needs the
  // log's sequence (the operation's last_sequence) waits for the writer.
  std::vector<core::EventDraft> drafts;
  drafts.reserve(events.size());
  for (auto& e : events) {
    e.set_request_id(shared_op->request_id());
    e.set_operation(shared_op->name());
    e.set_operation_type(shared_op->type());
    std::string resource = shared_op->name(), related = shared_op->target_uri();
    if (e.has_storage()) {
      resource = e.storage().blob_uri();
      related = shared_op->name();
    }
    drafts.push_back({"media", KindOf(e), std::move(resource), std::move(related), EventBytes(e, *shared_op)});
  }
  m.events = std::move(drafts);
  m.prepare = [shared_op, bytes = shared_op->SerializeAsString()](core::TxnReader& txn,
                                                                   core::Mutation& self) mutable -> absl::Status {
    PutOperation(*shared_op, std::move(bytes), txn, self);
    return absl::OkStatus();
  };
  // Every write of a held operation names its lease: the outcome and the
  // job's completion commit together, and a stage renews the lease. A
  // holder whose lease was taken over writes nothing.
  const v1::Operation::State state = shared_op->state();
  const bool finished =
      state == v1::Operation::SUCCEEDED || state == v1::Operation::FAILED || state == v1::Operation::CANCELED;
  // A lease lost meanwhile (taken over after a stall) is still named, so
  // the write is refused rather than made unfenced (JobWorker::Fence).
  std::optional<core::JobLease> held = jobs_ ? jobs_->Fence(shared_op->name()) : std::nullopt;
  if (held) {
    m.jobs.push_back(finished ? core::JobWrite::Complete(*held) : core::JobWrite::Heartbeat(*held, jobs_->lease()));
  }
  Submit(std::move(m), [this, shared_op, held, finished, done = std::move(done)](absl::StatusOr<core::CommitResult> r) {
    if (held) {
      if (r.ok() && !finished && !r->jobs.empty()) {
        jobs_->Hold(shared_op->name(), r->jobs.front());  // renewed
      } else if (finished || absl::IsFailedPrecondition(r.status())) {
        // Done with, or lost: then the lease expires and the job runs again.
        jobs_->Drop(shared_op->name(), held->token);
      } else if (!r.ok()) {
        // Not recorded (the store unreachable): the work stops here, so the
        // lease is no longer renewed; once it expires the job runs again
        // from what was recorded, here or on another replica.
        jobs_->Abandon(shared_op->name(), held->token);
      }
    }
    if (!r.ok()) return done(r.status());
    done(std::move(*shared_op));
  });
}

namespace {
// The Release loop running on this thread, if any: a record that fails at
// once (the store is closing) releases again from inside it, and is
// counted there instead of recursing once per waiting record.
struct ReleaseLoop {
  const OpRecorder* recorder;
  int more;
};
thread_local ReleaseLoop* t_release_loop = nullptr;
}  // namespace

void OpRecorder::Submit(core::Mutation m, core::Store::CommitCallback done) {
  core::Store::CommitCallback release = [this, done = std::move(done)](absl::StatusOr<core::CommitResult> r) {
    Release();
    done(std::move(r));
  };
  {
    std::lock_guard<std::mutex> lock(in_flight_mu_);
    if (in_flight_ >= kMaxRecordsInFlight || !waiting_.empty()) {
      waiting_.push_back(Waiting{std::move(m), std::move(release)});
      return;
    }
    ++in_flight_;
  }
  store_->CommitAsync(std::move(m), std::move(release));
}

void OpRecorder::Release() {
  if (t_release_loop != nullptr && t_release_loop->recorder == this) {
    ++t_release_loop->more;
    return;
  }
  ReleaseLoop loop{this, 1};
  ReleaseLoop* outer = t_release_loop;
  t_release_loop = &loop;
  while (loop.more > 0) {
    --loop.more;
    Waiting next;
    {
      std::lock_guard<std::mutex> lock(in_flight_mu_);
      if (waiting_.empty()) {
        --in_flight_;
        continue;
      }
      next = std::move(waiting_.front());
      waiting_.pop_front();
    }
    // Takes the released place in the store's queue.
    store_->CommitAsync(std::move(next.m), std::move(next.done));
  }
  t_release_loop = outer;
}

size_t OpRecorder::waiting() const {
  std::lock_guard<std::mutex> lock(in_flight_mu_);
  return waiting_.size();
}

absl::StatusOr<v1::Operation> OpRecorder::Record(v1::Operation op, std::vector<v1::MediaEvent> events) {
  return Wait<v1::Operation>([&](Done d) { Record(std::move(op), std::move(events), std::move(d)); });
}

void OpRecorder::Record(v1::Operation op, v1::MediaEvent event, Done done) {
  std::vector<v1::MediaEvent> events;
  events.push_back(std::move(event));
  Record(std::move(op), std::move(events), std::move(done));
}

absl::StatusOr<v1::Operation> OpRecorder::Record(v1::Operation op, v1::MediaEvent event) {
  return Wait<v1::Operation>([&](Done d) { Record(std::move(op), std::move(event), std::move(d)); });
}

void OpRecorder::Succeed(v1::Operation op, Done done) {
  op.set_state(v1::Operation::SUCCEEDED);
  v1::MediaEvent e;
  *e.mutable_succeeded() = op;
  Record(std::move(op), std::move(e), std::move(done));
}

absl::StatusOr<v1::Operation> OpRecorder::Succeed(v1::Operation op) {
  return Wait<v1::Operation>([&](Done d) { Succeed(std::move(op), std::move(d)); });
}

void OpRecorder::Schedule(v1::Operation op, Done done) {
  op.set_state(v1::Operation::SCHEDULED);
  v1::MediaEvent e;
  *e.mutable_scheduled() = op;
  Record(std::move(op), std::move(e), std::move(done));
}

absl::StatusOr<v1::Operation> OpRecorder::Schedule(v1::Operation op) {
  return Wait<v1::Operation>([&](Done d) { Schedule(std::move(op), std::move(d)); });
}

void OpRecorder::Fail(v1::Operation op, const LogEventId& id, const absl::Status& status, Done done) {
  op.set_state(v1::Operation::FAILED);
  *op.mutable_failure() = MakeFailure(id, status);
  v1::MediaEvent e;
  *e.mutable_failure() = op.failure();
  Record(std::move(op), std::move(e), std::move(done));
}

absl::StatusOr<v1::Operation> OpRecorder::Fail(v1::Operation op, const LogEventId& id, const absl::Status& status) {
  return Wait<v1::Operation>([&](Done d) { Fail(std::move(op), id, status, std::move(d)); });
}

core::Mutation OpRecorder::StorageMutation(const v1::Operation* op, const v1::StorageEvent& event,
                                           const std::string& request_id) const {
  v1::MediaEvent e;
  *e.mutable_storage() = event;
  if (op) {
    e.set_request_id(op->request_id());
    e.set_operation(op->name());
    e.set_operation_type(op->type());
  } else {
    e.set_request_id(request_id);
  }
  core::Mutation m;
  m.events.push_back({"media", "storage", event.blob_uri(), op ? op->name() : event.operation(),
                      op ? EventBytes(e, *op) : e.SerializeAsString()});
  return m;
}

absl::Status OpRecorder::Storage(const v1::Operation* op, const v1::StorageEvent& event,
                                 const std::string& request_id) {
  return store_->Commit(StorageMutation(op, event, request_id)).status();
}

void OpRecorder::ReportedStorage(const v1::StorageEvent& event, const std::string& request_id,
                                 std::function<void(absl::StatusOr<bool>)> done) {
  core::Mutation m = StorageMutation(nullptr, event, request_id);
  if (!request_id.empty()) {
    m.scope = "media.ReportStorageEvent";
    m.request_id = request_id;
    m.fingerprint = core::Fingerprint(event);
  }
  store_->CommitAsync(std::move(m), [done = std::move(done)](absl::StatusOr<core::CommitResult> r) {
    if (!r.ok()) return done(r.status());
    done(r->replayed);
  });
}

absl::StatusOr<v1::Operation> OpRecorder::Get(absl::string_view name) const {
  if (!absl::StartsWith(name, "operations/") || name.size() <= 11) {
    return absl::InvalidArgumentError(absl::StrCat("name '", Echo(name), "' must be an operation name such as operations/ab12"));
  }
  ASSIGN_OR_RETURN(std::optional<std::string> value, store_->GetResource(kOperationKind, name));
  if (!value) return absl::NotFoundError(absl::StrCat("operation '", Echo(name), "' does not exist"));
  v1::Operation op;
  if (!op.ParseFromString(*value)) return absl::DataLossError(absl::StrCat("stored ", name, " is corrupt"));
  return op;
}

}  // namespace switchboard::media
