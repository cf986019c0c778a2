#pragma once
// What a request to the blob listener asks for, decided from its head alone
// (no store, no socket), or Azure's refusal of it. The listener
// (server/http/blob_http.cc) then checks access and runs the call; the fuzz
// target tools/fuzz/blob_request_fuzzer.cc feeds it arbitrary heads.

#include <cstdint>
#include <string>
#include <variant>

#include "absl/strings/string_view.h"
#include "common/http/request.h"
#include "server/blob/blob_store.h"

namespace switchboard::http {

// An answer in Azure's terms: the HTTP status, the x-ms-error-code and a
// message for the client.
struct BlobRefusal {
  int status = 400;
  std::string code;
  std::string message;
};

struct BlobCall {
  enum class Op { kList, kRead, kPut };
  Op op = Op::kRead;
  blob::BlobRef ref;
  bool head_only = false;  // HEAD: the answer has no body
  char permission = 'r';   // the SAS permission the call needs: r, w or l
};

// /<account>/<container>[/<blob>] with GET, HEAD or PUT; a container
// listing is GET ?restype=container&comp=list.
std::variant<BlobCall, BlobRefusal> ClassifyBlobRequest(const httpcore::Request& request);

// "bytes=a-b", "bytes=a-", "bytes=-n" against a blob of `size` bytes, as
// [start, end). False when the range is malformed or not satisfiable.
bool ParseRange(absl::string_view spec, int64_t size, int64_t* start, int64_t* end);

}  // namespace switchboard::http
