#pragma once
// v1::MediaRequest, the one type every decoded Event Grid request is
// (wire::DecodeMediaRequest in wire/eventgrid.h): a visitor over its oneof,
// for code that does the same to each request message (set its origin, make
// its RPC, check it).

#include <type_traits>

#include "switchboard/v1/media.pb.h"

namespace switchboard::wire {

// Calls f with the request message `request` holds (a const reference for a
// const request, a mutable one otherwise) and returns what f returns; f is
// not called, and a value-initialized result is returned, when no request
// is set. f must return the same type for every message.
template <class Request, class F>
  requires std::is_same_v<std::remove_const_t<Request>, v1::MediaRequest>
auto VisitMediaRequest(Request& request, F&& f) {
  constexpr bool kConst = std::is_const_v<Request>;
#define SB_VISIT_CASE(Case, field) \
  case v1::MediaRequest::Case:     \
    if constexpr (kConst) return f(request.field()); else return f(*request.mutable_##field());
  using First = std::conditional_t<kConst, const v1::SetBlobMetadataRequest&, v1::SetBlobMetadataRequest&>;
  using Result = std::invoke_result_t<F&, First>;
  switch (request.request_case()) {
    SB_VISIT_CASE(kSetBlobMetadata, set_blob_metadata)
    SB_VISIT_CASE(kAnalyzeBlob, analyze_blob)
    SB_VISIT_CASE(kCopyBlob, copy_blob)
    SB_VISIT_CASE(kDeleteBlob, delete_blob)
    SB_VISIT_CASE(kCreateSasUrl, create_sas_url)
    SB_VISIT_CASE(kChangeBlobTier, change_blob_tier)
    SB_VISIT_CASE(kCreateContainer, create_container)
    SB_VISIT_CASE(kDeleteContainer, delete_container)
    SB_VISIT_CASE(kChangeContainerAccess, change_container_access)
    SB_VISIT_CASE(kRollStorageKey, roll_storage_key)
    SB_VISIT_CASE(kEncode, encode)
    SB_VISIT_CASE(kReportStorageEvent, report_storage_event)
    case v1::MediaRequest::REQUEST_NOT_SET:
      break;
  }
#undef SB_VISIT_CASE
  return Result();
}

}  // namespace switchboard::wire
