#pragma once
// Azure Blob semantics of the blob listener, with no store and no socket:
// what a request asks for, decided from its head alone (ClassifyBlobRequest
// -> BlobCall or BlobRefusal), the conditions it sets and whether a blob
// meets them, the headers it stores and those served back, the XML bodies
// (block lists, listings, errors), and Azure's answer for a store error.
// The listener (server/http/blob_http.cc) checks access, runs the call on
// the store and sends what these functions say; the fuzz target
// tools/fuzz/blob_request_fuzzer.cc feeds ClassifyBlobRequest arbitrary heads.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/http/request.h"
#include "server/blob/blob_store.h"
#include "server/blob/local_blob_store.h"

namespace switchboard::http {

// An answer in Azure's terms: the HTTP status, the x-ms-error-code and a
// message for the client.
struct BlobRefusal {
  int status = 400;
  std::string code;
  std::string message;
};

// If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since (or the
// x-ms-source-if-* ones of a copy's source). A date that does not parse is
// ignored, as HTTP says.
struct BlobConditions {
  std::string if_match;       // "" / "*" / "\"etag\"[, ...]"
  std::string if_none_match;  // the same
  std::optional<int64_t> if_modified_since;    // Unix seconds
  std::optional<int64_t> if_unmodified_since;  // Unix seconds
  bool any() const {
    return !if_match.empty() || !if_none_match.empty() || if_modified_since || if_unmodified_since;
  }
};

// `prefix`: "" for the request's own conditions, "x-ms-source-" for a copy's.
BlobConditions ParseConditions(const httpcore::Request& request, absl::string_view prefix = "");

// Whether `current` (nullptr: no blob) meets the conditions, as Azure
// answers: a read gets 304 ConditionNotMet for If-None-Match /
// If-Modified-Since and 412 ConditionNotMet for If-Match /
// If-Unmodified-Since; a write gets 412 ConditionNotMet, or 409
// BlobAlreadyExists for If-None-Match: * on an existing blob. `source`:
// the conditions are a copy source's (412 SourceConditionNotMet).
std::optional<BlobRefusal> CheckConditions(const BlobConditions& conditions, const blob::BlobProperties* current,
                                           bool write, bool source = false);

struct BlobCall {
  enum class Op {
    kList,                 // GET  container ?restype=container&comp=list
    kContainerProperties,  // GET/HEAD container ?restype=container
    kRead,                 // GET/HEAD blob
    kGetMetadata,          // GET/HEAD blob ?comp=metadata
    kPut,                  // PUT  blob (Put Blob)
    kPutBlock,             // PUT  blob ?comp=block&blockid=
    kPutBlockList,         // PUT  blob ?comp=blocklist
    kGetBlockList,         // GET  blob ?comp=blocklist
    kSetMetadata,          // PUT  blob ?comp=metadata
    kSetProperties,        // PUT  blob ?comp=properties (Set Blob Properties)
    kSetTier,              // PUT  blob ?comp=tier, x-ms-access-tier
    kDelete,               // DELETE blob
    kCopy,                 // PUT  blob, x-ms-copy-source (Copy Blob, Copy Blob From URL)
    kPutFromUrl,           // PUT  blob, x-ms-copy-source and x-ms-blob-type (Put Blob From URL)
    kAbortCopy,            // PUT  blob ?comp=copy&copyid= (x-ms-copy-action: abort)
  };
  enum class BlockListType { kCommitted, kUncommitted, kAll };
  Op op = Op::kRead;
  blob::BlobRef ref;
  bool head_only = false;  // HEAD: the answer has no body
  // The SAS permission the call needs: r, w, l or d; 0 for an operation no
  // service SAS grants (Get Container Properties: 403, as Azure answers).
  char permission = 'r';
  BlobConditions conditions;
  // The body's length (Content-Length) of a PUT; -1 when it has none.
  int64_t content_length = -1;
  std::string block_id;  // kPutBlock: the decoded id (1 to 64 bytes)
  BlockListType list_type = BlockListType::kCommitted;  // kGetBlockList
  // kList.
  std::string prefix, delimiter, marker;
  int max_results = 5000;
  bool include_metadata = false;
  std::string copy_source;  // kCopy, kPutFromUrl: the source URL
  blob::Tier tier = blob::Tier::kHot;  // kSetTier
  blob::Rehydrate rehydrate = blob::Rehydrate::kStandard;
};

// /<account>/<container>[/<blob>] with what Azure's Blob service does with
// it. What the listener does not serve is refused with Azure's own codes:
// 501 NotImplemented for an operation Azure has and the listener lacks, 400
// UnsupportedHeader / UnsupportedQueryParameter for what it cannot honour,
// 400 InvalidQueryParameterValue for a comp Azure does not know either.
std::variant<BlobCall, BlobRefusal> ClassifyBlobRequest(const httpcore::Request& request);

// "bytes=a-b", "bytes=a-", "bytes=-n" against a blob of `size` bytes, as
// [start, end). False when the range is malformed or not satisfiable.
bool ParseRange(absl::string_view spec, int64_t size, int64_t* start, int64_t* end);

// What a Put Blob / Put Block List / copy stores from the request:
// x-ms-blob-content-{type,encoding,language,disposition,md5} and
// x-ms-blob-cache-control (Put Blob also takes Content-Type, -Encoding,
// -Language and Cache-Control), x-ms-meta-*, x-ms-client-request-id.
blob::PutOptions PutOptionsFromRequest(const httpcore::Request& request, bool blob_headers_only);

using Headers = std::vector<std::pair<std::string, std::string>>;
// The headers Get Blob / Get Blob Properties answer with. `whole`: the read
// covers the whole blob (Content-MD5), else x-ms-blob-content-md5.
Headers BlobHeaders(const blob::BlobProperties& props, bool whole);

// Put Block List's body: <BlockList><Latest|Committed|Uncommitted>base64
// id</...>...</BlockList>. INVALID_ARGUMENT (InvalidXmlDocument /
// InvalidBlockList) naming what is wrong.
absl::StatusOr<std::vector<blob::BlockListEntry>> ParseBlockListXml(absl::string_view xml);
// Get Block List's body.
std::string BlockListXml(const blob::BlockList& list, BlobCall::BlockListType type);

// One page of List Blobs over every blob of the container whose name starts
// with the call's prefix (`blobs`, sorted by name): with a delimiter, names
// that go on past it after the prefix are one BlobPrefix each; at most
// max_results entries (blobs and prefixes), from the marker on. The marker
// is the name of the first blob the page starts at.
struct ListingPage {
  // Entries in name order: a blob (index into `blobs`) or a prefix.
  std::vector<std::variant<size_t, std::string>> entries;
  std::string next_marker;
};
ListingPage PageBlobs(const std::vector<blob::BlobProperties>& blobs, const BlobCall& call);
std::string ListBlobsXml(const std::vector<blob::BlobProperties>& blobs, const ListingPage& page,
                         const BlobCall& call, absl::string_view service_endpoint);

// Azure's error body.
std::string ErrorXml(absl::string_view code, absl::string_view message);
// Azure's answer to a failed store operation (by its AzureCode, else its
// status code).
BlobRefusal RefusalFromStatus(const absl::Status& status);
// A status carrying a refusal (for a Precondition), and back.
absl::Status StatusFromRefusal(const BlobRefusal& refusal);

// The Reason-Phrase of an HTTP status.
const char* ReasonPhrase(int status);
// Unix microseconds as an HTTP date.
std::string HttpDate(int64_t us);
std::string XmlEscape(absl::string_view s);

}  // namespace switchboard::http
