// MediaEngine::SubmitBatch: many requests in one call, each accepted (or
// refused) exactly as its own RPC with return_when_accepted would be. Their
// BeginAsync commits reach the store together, so they share transactions.

#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "server/media/media_engine.h"

namespace switchboard::media {
namespace {

absl::StatusOr<MediaJob> Accepting(absl::StatusOr<MediaJob> job) {
  if (job.ok()) job->return_when_accepted = true;
  return job;
}

struct BatchState {
  std::mutex mu;
  v1::SubmitBatchResponse response;
  int left = 0;
  // Results that were replays of an earlier request_id.
  int replayed = 0;
  std::function<void(core::Reply<v1::SubmitBatchResponse>)> done;

  void Set(int i, core::Reply<v1::Operation> result) {
    bool last;
    {
      std::lock_guard<std::mutex> lock(mu);
      v1::SubmitBatchResult* out = response.mutable_results(i);
      if (result.ok()) {
        out->set_replayed(result.replayed());
        replayed += result.replayed() ? 1 : 0;
        *out->mutable_operation() = std::move(*result);
      } else {
        out->mutable_error()->set_code(static_cast<int>(result.status().code()));
        out->mutable_error()->set_message(std::string(result.status().message()));
      }
      last = --left == 0;
    }
    if (last) {
      const bool all = replayed == response.results_size();
      done(core::MaybeReplayed<v1::SubmitBatchResponse>(std::move(response), all));
    }
  }
};

}  // namespace

void MediaEngine::SubmitBatch(const v1::SubmitBatchRequest& req,
                              std::function<void(core::Reply<v1::SubmitBatchResponse>)> done) {
  const int n = req.requests_size();
  if (n == 0) return done(absl::InvalidArgumentError("requests: give 1 to 1000 requests"));
  if (n > kMaxBatch) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("requests: at most ", kMaxBatch, " per batch, got ", n, "; split the batch")));
  }
  auto state = std::make_shared<BatchState>();
  state->left = n;
  state->done = std::move(done);
  for (int i = 0; i < n; ++i) state->response.add_results();
  for (int i = 0; i < n; ++i) {
    Done finish = [state, i](core::Reply<v1::Operation> r) { state->Set(i, std::move(r)); };
    const v1::MediaRequest& item = req.requests(i);
    switch (item.request_case()) {
#define SB_BATCH_CASE(Case, field)                                     \
  case v1::MediaRequest::Case:                                         \
    Start(Accepting(Prepare(item.field())), std::move(finish));        \
    break;
      SB_BATCH_CASE(kSetBlobMetadata, set_blob_metadata)
      SB_BATCH_CASE(kAnalyzeBlob, analyze_blob)
      SB_BATCH_CASE(kCopyBlob, copy_blob)
      SB_BATCH_CASE(kDeleteBlob, delete_blob)
      SB_BATCH_CASE(kCreateSasUrl, create_sas_url)
      SB_BATCH_CASE(kChangeBlobTier, change_blob_tier)
      SB_BATCH_CASE(kCreateContainer, create_container)
      SB_BATCH_CASE(kDeleteContainer, delete_container)
      SB_BATCH_CASE(kChangeContainerAccess, change_container_access)
      SB_BATCH_CASE(kRollStorageKey, roll_storage_key)
#undef SB_BATCH_CASE
      case v1::MediaRequest::kEncode:
        finish(absl::InvalidArgumentError(
            absl::StrCat("requests[", i, "].encode: SubmitBatch does not take encodes; call Encode")));
        break;
      case v1::MediaRequest::kReportStorageEvent:
        finish(absl::InvalidArgumentError(absl::StrCat(
            "requests[", i, "].report_storage_event: SubmitBatch does not take storage events; call ReportStorageEvent")));
        break;
      default:
        finish(absl::InvalidArgumentError(absl::StrCat(
            "requests[", i, "]: set one request (set_blob_metadata, analyze_blob, copy_blob, delete_blob, "
            "create_sas_url, change_blob_tier, create_container, delete_container, change_container_access or "
            "roll_storage_key)")));
    }
  }
}

}  // namespace switchboard::media
