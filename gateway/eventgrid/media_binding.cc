#include "gateway/eventgrid/media_binding.h"

#include <deque>
#include <future>
#include <mutex>
#include <type_traits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "wire/eventgrid.h"
#include "wire/json_util.h"
#include "wire/media_request.h"
#include "gateway/eventgrid/responses.h"
#include "gateway/eventgrid/topic_rule.h"
#include "switchboard/v1/media.grpc.pb.h"

namespace switchboard::gateway::eventgrid {
namespace {

// SubmitBatch takes at most this many requests (MediaEngine::kMaxBatch).
constexpr int kMaxBatch = 1000;
using Stub = v1::MediaService::Stub;
using Callback = std::function<void(grpc::Status)>;

// One overload per request message: the async call it makes.
void Call(Stub* s, grpc::ClientContext* c, const v1::SetBlobMetadataRequest* r, v1::Operation* o, Callback f) {
  s->async()->SetBlobMetadata(c, r, o, std::move(f));
}
void Call(Stub* s, grpc::ClientContext* c, const v1::AnalyzeBlobRequest* r, v1::Operation* o, Callback f) {
  s->async()->AnalyzeBlob(c, r, o, std::move(f));
}
void Call(Stub* s, grpc::ClientContext* c, const v1::CopyBlobRequest* r, v1::Operation* o, Callback f) {
  s->async()->CopyBlob(c, r, o, std::move(f));
}
void Call(Stub* s, grpc::ClientContext* c, const v1::DeleteBlobRequest* r, v1::Operation* o, Callback f) {
  s->async()->DeleteBlob(c, r, o, std::move(f));
}
void Call(Stub* s, grpc::ClientContext* c, const v1::CreateSasUrlRequest* r, v1::Operation* o, Callback f) {
  s->async()->CreateSasUrl(c, r, o, std::move(f));
}
void Call(Stub* s, grpc::ClientContext* c, const v1::ChangeBlobTierRequest* r, v1::Operation* o, Callback f) {
  s->async()->ChangeBlobTier(c, r, o, std::move(f));
}
void Call(Stub* s, grpc::ClientContext* c, const v1::CreateContainerRequest* r, v1::Operation* o, Callback f) {
  s->async()->CreateContainer(c, r, o, std::move(f));
}
void Call(Stub* s, grpc::ClientContext* c, const v1::DeleteContainerRequest* r, v1::Operation* o, Callback f) {
  s->async()->DeleteContainer(c, r, o, std::move(f));
}
void Call(Stub* s, grpc::ClientContext* c, const v1::ChangeContainerAccessRequest* r, v1::Operation* o,
          Callback f) {
  s->async()->ChangeContainerAccess(c, r, o, std::move(f));
}
void Call(Stub* s, grpc::ClientContext* c, const v1::RollStorageKeyRequest* r, v1::Operation* o, Callback f) {
  s->async()->RollStorageKey(c, r, o, std::move(f));
}
void Call(Stub* s, grpc::ClientContext* c, const v1::EncodeRequest* r, v1::Operation* o, Callback f) {
  s->async()->Encode(c, r, o, std::move(f));
}
void Call(Stub* s, grpc::ClientContext* c, const v1::ReportStorageEventRequest* r, v1::StorageEvent* o,
          Callback f) {
  s->async()->ReportStorageEvent(c, r, o, std::move(f));
}

// SubmitBatch takes every request but encodes and storage events, which go
// as their own calls.
bool InBatch(const v1::MediaRequest& r) {
  return r.request_case() != v1::MediaRequest::kEncode && r.request_case() != v1::MediaRequest::kReportStorageEvent;
}

// The request came through POST /api/eventgrid: its operation's events are
// published to the topic (topic_rule.h). Storage events have no origin:
// those are published anyway.
template <class Req>
void MarkFromEventGrid(Req& r) {
  if constexpr (requires { r.set_origin(v1::REQUEST_ORIGIN_EVENT_GRID); }) r.set_origin(v1::REQUEST_ORIGIN_EVENT_GRID);
}

grpc::Status StatusOf(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// One request sent as its own call: the decoded request, and the call's
// context and answer (an Operation; a StorageEvent for a storage event).
struct Single {
  std::unique_ptr<grpc::ClientContext> ctx;
  v1::MediaRequest req;
  v1::Operation operation;
  v1::StorageEvent storage;

  template <class Req>
  auto* ResponseFor(const Req&) {
    if constexpr (std::is_same_v<Req, v1::ReportStorageEventRequest>) {
      return &storage;
    } else {
      return &operation;
    }
  }
};

bool IsStorageEventType(const std::string& t) {
  return t == "Microsoft.Storage.BlobCreated" || t == "Microsoft.Storage.BlobDeleted";
}

class MediaHandler : public Handler {
 public:
  explicit MediaHandler(const client::Connection* conn)
      : conn_(conn), stub_(v1::MediaService::NewStub(conn->channel())) {}

  bool Handles(const std::string& t) const override {
    return absl::StartsWith(t, "request.") || IsStorageEventType(t);
  }

  grpc::Status Submit(const Event& event, const std::string& request_id) override {
    std::promise<grpc::Status> p;
    auto f = p.get_future();
    SubmitAsync(event, request_id, [&p](grpc::Status s) { p.set_value(std::move(s)); });
    return f.get();
  }

  void SubmitAsync(const Event& event, const std::string& request_id, Callback done) override {
    auto single = std::make_shared<Single>();
    absl::Status decoded = wire::DecodeMediaRequest(event, &single->req);
    if (!decoded.ok()) return done(StatusOf(decoded));
    (void)request_id;  // the codec already made the event id the request_id
    Send(std::move(single), std::move(done));
  }

  // The requests SubmitBatch takes go in SubmitBatch calls of up to
  // kMaxBatch; encodes and storage events go as their own calls.
  void SubmitBatchAsync(const std::vector<const Event*>& events,
                        std::function<void(std::vector<grpc::Status>)> done) override;

  // The Gridwich table's handler (wire/gridwich.h).
  std::string HandlerClassName(const std::string& t) const override { return wire::HandlerFor(t); }

  std::vector<Event> Rejection(const Event& request, const grpc::Status& status) const override;

 private:
  // One call for a decoded request, which `st` holds until it answers.
  void Send(std::shared_ptr<Single> st, Callback done) {
    if (st->req.request_case() == v1::MediaRequest::REQUEST_NOT_SET) {
      return done(grpc::Status(grpc::StatusCode::INTERNAL, "the codec decoded no request"));
    }
    st->ctx = conn_->NewUnaryContext();
    Single* one = st.get();
    wire::VisitMediaRequest(one->req, [&](auto& req) {
      // Event Grid is answered once the batch is durably accepted; the
      // outcomes reach the topic through the publisher.
      if constexpr (requires { req.set_return_when_accepted(true); }) req.set_return_when_accepted(true);
      MarkFromEventGrid(req);
      Call(stub_.get(), one->ctx.get(), &req, one->ResponseFor(req),
           [st = std::move(st), done = std::move(done)](grpc::Status s) { done(std::move(s)); });
    });
  }

  const client::Connection* conn_;
  std::unique_ptr<Stub> stub_;
};

void MediaHandler::SubmitBatchAsync(const std::vector<const Event*>& events,
                                    std::function<void(std::vector<grpc::Status>)> done) {
  struct Chunk {
    std::unique_ptr<grpc::ClientContext> ctx;
    v1::SubmitBatchRequest req;
    v1::SubmitBatchResponse resp;
    std::vector<size_t> index;  // of each request, in `events`
  };
  struct State {
    std::mutex mu;
    std::vector<grpc::Status> status;
    size_t left = 1;  // one for this function, until every call is out
    std::function<void(std::vector<grpc::Status>)> done;
    void Finish() {
      bool last;
      {
        std::lock_guard<std::mutex> lock(mu);
        last = --left == 0;
      }
      if (last) done(std::move(status));
    }
  };
  auto st = std::make_shared<State>();
  st->status.resize(events.size());
  st->done = std::move(done);
  std::vector<std::shared_ptr<Chunk>> chunks;
  std::vector<std::pair<size_t, std::shared_ptr<Single>>> single;  // sent as their own calls
  for (size_t i = 0; i < events.size(); ++i) {
    if (chunks.empty() || chunks.back()->req.requests_size() == kMaxBatch) chunks.push_back(std::make_shared<Chunk>());
    // Decoded in place, into the batch.
    v1::MediaRequest* item = chunks.back()->req.add_requests();
    absl::Status decoded = wire::DecodeMediaRequest(*events[i], item);
    if (!decoded.ok()) {
      st->status[i] = StatusOf(decoded);
      chunks.back()->req.mutable_requests()->RemoveLast();
      continue;
    }
    if (!InBatch(*item)) {
      auto one = std::make_shared<Single>();
      one->req.Swap(item);
      chunks.back()->req.mutable_requests()->RemoveLast();
      single.emplace_back(i, std::move(one));
      continue;
    }
    wire::VisitMediaRequest(*item, [](auto& req) { MarkFromEventGrid(req); });
    chunks.back()->index.push_back(i);
  }
  {
    std::lock_guard<std::mutex> lock(st->mu);
    st->left += single.size() + chunks.size();
  }
  for (auto& chunk : chunks) {
    if (chunk->req.requests_size() == 0) {
      st->Finish();
      continue;
    }
    chunk->ctx = conn_->NewUnaryContext();
    stub_->async()->SubmitBatch(chunk->ctx.get(), &chunk->req, &chunk->resp, [st, chunk](grpc::Status s) {
      {
        std::lock_guard<std::mutex> lock(st->mu);
        for (size_t k = 0; k < chunk->index.size(); ++k) {
          grpc::Status& out = st->status[chunk->index[k]];
          if (!s.ok()) {
            out = s;
          } else if (static_cast<int>(k) >= chunk->resp.results_size()) {
            out = grpc::Status(grpc::StatusCode::INTERNAL, "SubmitBatch answered fewer results than requests");
          } else if (chunk->resp.results(k).has_error()) {
            const v1::RequestError& e = chunk->resp.results(k).error();
            out = grpc::Status(static_cast<grpc::StatusCode>(e.code()), e.message());
          }
        }
      }
      st->Finish();
    });
  }
  for (auto& [i, one] : single) {
    Send(std::move(one), [st, i = i](grpc::Status s) {
      {
        std::lock_guard<std::mutex> lock(st->mu);
        st->status[i] = std::move(s);
      }
      st->Finish();
    });
  }
  st->Finish();
}

std::vector<Event> MediaHandler::Rejection(const Event& request, const grpc::Status& status) const {
  google::protobuf::Struct context;  // the request's operationContext, when it decodes
  if (const auto* c = wire::FindMember(request.data, "operationContext"); c && c->is_object()) {
    auto parsed = wire::JsonToStruct(*c, "data.operationContext");
    if (parsed.ok()) context = *parsed;
  }
  const nlohmann::json context_json = wire::StructToJson(context);
  int id = status.error_code() == grpc::StatusCode::NOT_FOUND && !IsStorageEventType(request.event_type)
               ? wire::kLogRequestUnknownType
               : wire::kLogRequestInvalid;
  std::vector<Event> out;
  if (!wire::IsRollKey(request.event_type) && !IsStorageEventType(request.event_type)) {
    out.push_back(wire::Acknowledge(request, context_json));
  }
  out.push_back(wire::RequestFailure(request, context_json, id, status.error_message(),
                                     wire::HandlerFor(request.event_type)));
  return out;
}

}  // namespace

void BindMedia(const client::Connection* conn, HandlerRegistry* handlers, MediaBinding* binding) {
  handlers->Add(std::make_unique<MediaHandler>(conn));
  binding->encode = [](const v1::MediaEvent& e) {
    std::vector<Event> out;
    if (!PublishedToTopic(e)) return out;  // a gRPC client's own operation
    if (auto r = wire::ResponseEventFor(e, nullptr)) out.push_back(std::move(*r));
    return out;
  };
}

}  // namespace switchboard::gateway::eventgrid
