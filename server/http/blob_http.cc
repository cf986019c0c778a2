#include "server/http/blob_http.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/azure/sas.h"
#include "common/azure/url.h"
#include "server/blob/blob_names.h"
#include "server/http/blob_request.h"

namespace switchboard::http {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 206: return "Partial Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 416: return "Range Not Satisfiable";
    default: return status >= 500 ? "Server Error" : "Error";
  }
}

bool SendAll(int fd, absl::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

using Headers = std::vector<std::pair<std::string, std::string>>;

void SendHead(int fd, int status, const Headers& headers, int64_t length) {
  std::string out = absl::StrCat("HTTP/1.1 ", status, " ", Reason(status), "\r\n");
  for (const auto& [k, v] : headers) absl::StrAppend(&out, k, ": ", v, "\r\n");
  absl::StrAppend(&out, "Content-Length: ", length, "\r\nx-ms-version: 2021-12-02\r\nConnection: close\r\n\r\n");
  SendAll(fd, out);
}

std::string XmlEscape(absl::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// An Azure-style error answer.
void SendError(int fd, int status, absl::string_view code, absl::string_view message, bool head_only = false) {
  std::string body = absl::StrCat("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>", XmlEscape(code),
                                  "</Code><Message>", XmlEscape(message), "</Message></Error>");
  SendHead(fd, status, {{"Content-Type", "application/xml"}, {"x-ms-error-code", std::string(code)}},
           head_only ? 0 : static_cast<int64_t>(body.size()));
  if (!head_only) SendAll(fd, body);
}

// Closes a connection whose request body may be partly unread (a refused
// PUT). Closing with unread input makes the kernel answer RST, which can
// destroy our error response before the client reads it; so stop sending
// first, then read and discard what still arrives, bounded in time and bytes.
void LingeringClose(int fd) {
  ::shutdown(fd, SHUT_WR);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char scratch[64 * 1024];
  size_t drained = 0;
  while (drained < (64u << 20)) {
    ssize_t n = ::recv(fd, scratch, sizeof(scratch), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    drained += static_cast<size_t>(n);
  }
  ::close(fd);
}

std::string HttpDate(int64_t us) { return azure::Rfc1123(absl::FromUnixMicros(us)); }

}  // namespace

BlobHttp::BlobHttp(BlobHttpOptions options) : options_(std::move(options)) {
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { Loop(); });
}

BlobHttp::~BlobHttp() { Stop(); }

void BlobHttp::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    cv_.notify_all();
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  for (auto& job : queue_) ::close(job.fd);
  queue_.clear();
}

bool BlobHttp::Claim(int fd, httpcore::Request& head, std::string& body_start) {
  // "/<account>/..." for an account of the store.
  absl::string_view path = head.path;
  if (!absl::ConsumePrefix(&path, "/")) return false;
  if (!options_.store->HasAccount(std::string(path.substr(0, path.find('/'))))) return false;
  std::lock_guard<std::mutex> l(mu_);
  if (stopping_) return false;
  queue_.push_back(Job{fd, std::move(head), std::move(body_start)});
  cv_.notify_one();
  return true;
}

void BlobHttp::Loop() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    timeval tv{30, 0};
    setsockopt(job.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(job.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    const bool put = job.request.method == "PUT";
    Serve(job.fd, job.request, std::move(job.body_start));
    if (put) {
      LingeringClose(job.fd);
    } else {
      ::close(job.fd);
    }
  }
}

void BlobHttp::Serve(int fd, const httpcore::Request& r, std::string body_start) {
  auto classified = ClassifyBlobRequest(r);
  if (auto* refusal = std::get_if<BlobRefusal>(&classified)) {
    return SendError(fd, refusal->status, refusal->code, refusal->message, r.method == "HEAD");
  }
  const BlobCall& call = std::get<BlobCall>(classified);
  const blob::BlobRef& ref = call.ref;
  const bool head_only = call.head_only;
  const bool list = call.op == BlobCall::Op::kList;
  const char permission = call.permission;
  blob::BlobStore* store = options_.store;

  // Access check.
  if (azure::HasSas(r.query)) {
    std::vector<std::string> keys;
    for (const char* k : {"key1", "key2"}) {
      auto key = store->AccountKey(ref.account, k);
      if (key.ok()) keys.push_back(*key);
    }
    absl::Status s = azure::VerifyBlobSas(r.query, ref.account, ref.container, ref.name, permission, keys, absl::Now());
    if (!s.ok() && permission == 'w') {
      // Put Blob accepts 'c' (create) as well as 'w'.
      s = azure::VerifyBlobSas(r.query, ref.account, ref.container, ref.name, 'c', keys, absl::Now());
    }
    if (!s.ok()) return SendError(fd, 403, "AuthenticationFailed", s.message(), head_only);
  } else {
    auto access = store->GetContainerAccess(ref.account, ref.container);
    if (!access.ok()) return SendError(fd, 404, "ContainerNotFound", "the container does not exist", head_only);
    bool allowed = permission == 'r' ? *access != blob::Access::kPrivate
                                     : (permission == 'l' && *access == blob::Access::kContainer);
    if (!allowed) {
      // Azure hides private resources from anonymous callers.
      return SendError(fd, 404, "ResourceNotFound",
                       "not found, or not public: use a SAS URL (sbctl media sas) or change the container access",
                       head_only);
    }
  }

  if (list) {
    auto page = store->ListBlobs(ref.account, ref.container, r.Query("prefix"), r.Query("marker"), 5000);
    if (!page.ok()) return SendError(fd, 404, "ContainerNotFound", page.status().message());
    std::string xml = absl::StrCat("<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ContainerName=\"",
                                   XmlEscape(ref.container), "\"><Blobs>");
    for (const auto& b : page->blobs) {
      absl::StrAppend(&xml, "<Blob><Name>", XmlEscape(b.name), "</Name><Properties><Content-Length>", b.size,
                      "</Content-Length><Content-Type>", XmlEscape(b.content_type), "</Content-Type><Etag>",
                      XmlEscape(b.etag), "</Etag><Last-Modified>", HttpDate(b.last_modified_us),
                      "</Last-Modified><AccessTier>", blob::TierName(b.tier), "</AccessTier></Properties></Blob>");
    }
    absl::StrAppend(&xml, "</Blobs><NextMarker>", XmlEscape(page->next_marker), "</NextMarker></EnumerationResults>");
    SendHead(fd, 200, {{"Content-Type", "application/xml"}}, static_cast<int64_t>(xml.size()));
    SendAll(fd, xml);
    return;
  }

  if (call.op == BlobCall::Op::kPut) {
    auto it = r.headers.find("content-length");
    int64_t size = -1;
    if (it == r.headers.end() || !absl::SimpleAtoi(it->second, &size) || size < 0) {
      return SendError(fd, 411, "MissingContentLengthHeader", "Put Blob needs a Content-Length (no chunked bodies)");
    }
    if (r.Header("x-ms-blob-type") != "BlockBlob") {
      return SendError(fd, 400, "InvalidHeaderValue", "x-ms-blob-type must be BlockBlob");
    }
    blob::PutOptions o;
    if (r.headers.count("content-type")) o.content_type = r.Header("content-type");
    o.client_request_id = r.Header("x-ms-client-request-id");
    for (const auto& [k, v] : r.headers) {
      if (absl::StartsWith(k, "x-ms-meta-")) o.metadata[k.substr(10)] = v;
    }
    std::string pending = std::move(body_start);
    size_t pending_off = 0;
    auto source = [&](char* buf, size_t cap) -> absl::StatusOr<size_t> {
      if (pending_off < pending.size()) {
        size_t n = std::min(cap, pending.size() - pending_off);
        std::memcpy(buf, pending.data() + pending_off, n);
        pending_off += n;
        return n;
      }
      while (true) {
        ssize_t n = ::recv(fd, buf, cap, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return absl::DeadlineExceededError("the upload stalled");
        return static_cast<size_t>(n);
      }
    };
    auto put = store->PutBlob(ref, size, source, o);
    if (!put.ok()) {
      int status = absl::IsNotFound(put.status()) ? 404 : absl::IsInvalidArgument(put.status()) ? 400 : 500;
      const char* code = status == 404 ? "ContainerNotFound" : status == 400 ? "InvalidInput" : "InternalError";
      return SendError(fd, status, code, put.status().message());
    }
    if (options_.on_upload) options_.on_upload(store->BlobUrl(ref), *put, o.client_request_id);
    SendHead(fd, 201, {{"ETag", put->etag}, {"Last-Modified", HttpDate(put->last_modified_us)},
                       {"x-ms-request-server-encrypted", "false"}}, 0);
    return;
  }

  // GET / HEAD
  auto props = store->GetProperties(ref);
  if (!props.ok()) {
    return SendError(fd, absl::IsNotFound(props.status()) ? 404 : 500, "BlobNotFound", props.status().message(),
                     head_only);
  }
  Headers h = {{"Content-Type", props->content_type},
               {"ETag", props->etag},
               {"Last-Modified", HttpDate(props->last_modified_us)},
               {"Accept-Ranges", "bytes"},
               {"x-ms-blob-type", "BlockBlob"},
               {"x-ms-access-tier", blob::TierName(props->tier)}};
  if (props->rehydrating) h.emplace_back("x-ms-archive-status", "rehydrate-pending-to-hot");
  for (const auto& [k, v] : props->metadata) h.emplace_back(absl::StrCat("x-ms-meta-", k), v);
  if (props->tier == blob::Tier::kArchive && !head_only) {
    return SendError(fd, 409, "BlobArchived", "the blob is archived; rehydrate it (change its tier) to read it");
  }
  int64_t start = 0, end = props->size;
  int status = 200;
  std::string range = r.headers.count("x-ms-range") ? r.Header("x-ms-range") : r.Header("range");
  if (!range.empty()) {
    if (!ParseRange(range, props->size, &start, &end)) {
      h.emplace_back("Content-Range", absl::StrCat("bytes */", props->size));
      return SendError(fd, 416, "InvalidRange", "the range is not satisfiable", head_only);
    }
    status = 206;
    h.emplace_back("Content-Range", absl::StrCat("bytes ", start, "-", end - 1, "/", props->size));
  }
  SendHead(fd, status, h, end - start);
  if (head_only || end == start) return;
  (void)store->Read(ref, start, end - start, [fd](absl::string_view piece) { return SendAll(fd, piece); });
}

}  // namespace switchboard::http
