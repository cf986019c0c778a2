// Requests to switchboardd's blob listener, from bytes to what it would do:
// the head as the listener parses it (common/http/parse.h, head only), what
// the request asks (server/http/blob_request.h), the SAS in its query
// checked against a fixed key, and its Range against blobs of a few sizes.
// Beyond "no crash": a refusal is 400, 405, 411, 412, 413 or 501 with an
// Azure error code and a message; a call names a valid container (and a
// valid blob unless it is a container operation), its operation fits its
// method and needs the matching SAS permission; a block id decodes to 1 to
// 64 bytes; a PUT that stores a body has its length; a SAS check is passed
// or PERMISSION_DENIED; a range stays inside the blob.

#include <limits>
#include <variant>

#include "absl/time/time.h"
#include "common/azure/sas.h"
#include "common/http/parse.h"
#include "server/blob/blob_names.h"
#include "server/http/blob_request.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;
using http::BlobCall;
using http::BlobRefusal;

namespace {
// base64 of 32 bytes, like the local store's account keys.
constexpr char kKey[] = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view in = fuzz::Input(data, size);
  httpcore::Parsed p = httpcore::ParseRequest(in, {16 * 1024, 0, true});
  if (p.state != httpcore::Parsed::State::kComplete) return 0;
  const httpcore::Request& r = p.request;
  auto classified = http::ClassifyBlobRequest(r);
  if (auto* refusal = std::get_if<BlobRefusal>(&classified)) {
    SB_FUZZ_CHECK(refusal->status == 400 || refusal->status == 405 || refusal->status == 411 ||
                      refusal->status == 412 || refusal->status == 413 || refusal->status == 501,
                  std::to_string(refusal->status));
    SB_FUZZ_CHECK(!refusal->code.empty() && !refusal->message.empty(), "a refusal without a code or message");
    return 0;
  }
  const BlobCall& call = std::get<BlobCall>(classified);
  SB_FUZZ_CHECK(blob::ValidateContainerName(call.ref.container, "container").ok(), call.ref.container);
  const bool read = r.method == "GET" || r.method == "HEAD";
  const bool container_op = call.op == BlobCall::Op::kList || call.op == BlobCall::Op::kContainerProperties;
  SB_FUZZ_CHECK(container_op == call.ref.name.empty(), fuzz::Printable(call.ref.name));
  switch (call.op) {
    case BlobCall::Op::kList:
      SB_FUZZ_CHECK(r.method == "GET" && call.permission == 'l', r.method);
      break;
    case BlobCall::Op::kContainerProperties:
      SB_FUZZ_CHECK(read && call.permission == 0, r.method);
      break;
    case BlobCall::Op::kRead:
    case BlobCall::Op::kGetMetadata:
    case BlobCall::Op::kGetBlockList:
      SB_FUZZ_CHECK(read && call.permission == 'r', r.method);
      SB_FUZZ_CHECK(call.head_only == (r.method == "HEAD"), r.method);
      break;
    case BlobCall::Op::kDelete:
      SB_FUZZ_CHECK(r.method == "DELETE" && call.permission == 'd', r.method);
      break;
    case BlobCall::Op::kPut:
    case BlobCall::Op::kPutBlock:
    case BlobCall::Op::kPutBlockList:
      SB_FUZZ_CHECK(call.content_length >= 0, "a body without a length");
      [[fallthrough]];
    case BlobCall::Op::kSetMetadata:
    case BlobCall::Op::kSetProperties:
    case BlobCall::Op::kSetTier:
    case BlobCall::Op::kCopy:
    case BlobCall::Op::kPutFromUrl:
    case BlobCall::Op::kAbortCopy:
      SB_FUZZ_CHECK(r.method == "PUT" && call.permission == 'w', r.method);
      break;
  }
  if (call.op == BlobCall::Op::kPutBlock) {
    SB_FUZZ_CHECK(!call.block_id.empty() && call.block_id.size() <= blob::kMaxBlockIdBytes,
                  fuzz::Printable(call.block_id));
  }
  if (call.op == BlobCall::Op::kCopy || call.op == BlobCall::Op::kPutFromUrl) {
    SB_FUZZ_CHECK(call.content_length <= 0, "a copy with a body");
  }
  if (call.op == BlobCall::Op::kList) {
    SB_FUZZ_CHECK(call.max_results >= 1 && call.max_results <= 5000, std::to_string(call.max_results));
  }
  if (azure::HasSas(r.query)) {
    absl::Status s = call.permission == 0 ? absl::OkStatus() : azure::VerifyBlobSas(r.query, call.ref.account, call.ref.container, call.ref.name,
                                          call.permission, {kKey}, absl::FromUnixSeconds(1700000000));
    if (!s.ok()) fuzz::CheckError(s, absl::StatusCode::kPermissionDenied);
  }
  for (const char* header : {"range", "x-ms-range"}) {
    const std::string& spec = r.Header(header);
    if (spec.empty()) continue;
    for (int64_t blob_size : {int64_t{0}, int64_t{1}, int64_t{1000}, std::numeric_limits<int64_t>::max()}) {
      int64_t start = -1, end = -1;
      if (http::ParseRange(spec, blob_size, &start, &end)) {
        SB_FUZZ_CHECK(0 <= start && start < end && end <= blob_size, fuzz::Printable(spec));
      }
    }
  }
  return 0;
}
