#include "server/http/blob_request.h"

#include <algorithm>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/blob/blob_names.h"

namespace switchboard::http {

std::variant<BlobCall, BlobRefusal> ClassifyBlobRequest(const httpcore::Request& r) {
  BlobCall call;
  call.head_only = r.method == "HEAD";
  absl::string_view path = r.path;
  absl::ConsumePrefix(&path, "/");
  std::vector<std::string> parts = absl::StrSplit(path, absl::MaxSplits('/', 2));
  call.ref.account = parts[0];
  if (parts.size() >= 2) call.ref.container = parts[1];
  if (parts.size() == 3) call.ref.name = parts[2];
  if (call.ref.container.empty() || !blob::ValidateContainerName(call.ref.container, "container").ok()) {
    return BlobRefusal{400, "InvalidResourceName", "the container name is missing or not valid"};
  }
  const bool list = call.ref.name.empty();
  if (list && !(r.method == "GET" && r.Query("comp") == "list")) {
    return BlobRefusal{400, "UnsupportedHttpVerb", "give a blob name, or ?restype=container&comp=list"};
  }
  if (!list) {
    if (auto s = blob::ValidateBlobName(call.ref.name, "blob"); !s.ok()) {
      return BlobRefusal{400, "InvalidResourceName", std::string(s.message())};
    }
  }
  if (r.method != "GET" && r.method != "HEAD" && r.method != "PUT") {
    return BlobRefusal{405, "UnsupportedHttpVerb", "GET, HEAD and PUT are served"};
  }
  if (list) {
    call.op = BlobCall::Op::kList;
    call.permission = 'l';
  } else if (r.method == "PUT") {
    call.op = BlobCall::Op::kPut;
    call.permission = 'w';
  }
  return call;
}

bool ParseRange(absl::string_view spec, int64_t size, int64_t* start, int64_t* end) {
  if (!absl::ConsumePrefix(&spec, "bytes=")) return false;
  auto dash = spec.find('-');
  if (dash == absl::string_view::npos || spec.find(',') != absl::string_view::npos) return false;
  absl::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  int64_t x = 0, y = 0;
  if (a.empty()) {
    if (!absl::SimpleAtoi(b, &y) || y <= 0) return false;
    *start = std::max<int64_t>(0, size - y);
    *end = size;
  } else {
    if (!absl::SimpleAtoi(a, &x) || x < 0) return false;
    *start = x;
    if (b.empty()) {
      *end = size;
    } else {
      if (!absl::SimpleAtoi(b, &y) || y < x) return false;
      *end = y >= size ? size : y + 1;  // never y + 1 past INT64_MAX
    }
  }
  return *start < size;
}

}  // namespace switchboard::http
