#include "server/http/blob_http.h"

#include <unistd.h>

#include <cerrno>
#include <limits>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/azure/sas.h"
#include "common/azure/url.h"
#include "common/status.h"
#include "common/uuid.h"
#include "server/blob/blob_names.h"
#include "server/http/blob_body.h"
#include "server/http/blob_request.h"

namespace switchboard::http {
namespace {

using Op = BlobCall::Op;

void SendHead(httpserver::Exchange& ex, int status, Headers headers, int64_t length) {
  headers.emplace_back("x-ms-version", "2021-12-02");
  headers.emplace_back("Date", azure::Rfc1123(absl::Now()));
  ex.WriteHead(status, headers, length);
}

// An answer with a body (none for HEAD).
void Send(httpserver::Exchange& ex, int status, const Headers& headers, absl::string_view body, bool head_only) {
  SendHead(ex, status, headers, static_cast<int64_t>(body.size()));
  if (!head_only) ex.WriteBody(body);
}

// Azure's error answer; 304 and HEAD answers carry the code in the header only.
void SendRefusal(httpserver::Exchange& ex, const BlobRefusal& r, bool head_only) {
  Headers h = {{"x-ms-error-code", r.code}};
  if (r.status == 304 || head_only) return SendHead(ex, r.status, h, 0);
  h.emplace_back("Content-Type", "application/xml");
  Send(ex, r.status, h, ErrorXml(r.code, r.message), false);
}

Headers WriteAnswer(const blob::BlobProperties& p) {
  Headers h = {{"ETag", p.etag}, {"Last-Modified", HttpDate(p.last_modified_us)},
               {"x-ms-request-server-encrypted", "false"}};
  return h;
}

// "scheme://authority" of a URL, and its path and query.
struct UrlParts {
  std::string authority, path, query;
};
std::optional<UrlParts> SplitUrl(absl::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == absl::string_view::npos) return std::nullopt;
  absl::string_view rest = url.substr(scheme + 3);
  size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) return std::nullopt;
  UrlParts p;
  p.authority = absl::AsciiStrToLower(rest.substr(0, slash));
  absl::string_view path = rest.substr(slash);
  size_t q = path.find('?');
  if (q != absl::string_view::npos) {
    p.query = std::string(path.substr(q + 1));
    path = path.substr(0, q);
  }
  p.path = std::string(path);
  return p;
}

}  // namespace

BlobHttp::BlobHttp(BlobHttpOptions options) : options_(std::move(options)) {}

bool BlobHttp::Claims(const httpcore::Request& head) const {
  // "/<account>/..." for an account of the store.
  absl::string_view path = head.path;
  if (!absl::ConsumePrefix(&path, "/")) return false;
  return options_.store->HasAccount(std::string(path.substr(0, path.find('/'))));
}

httpserver::StreamRoute BlobHttp::Route() const {
  httpserver::StreamRoute route;
  route.match = [this](const httpcore::Request& head) { return Claims(head); };
  route.handler = [this](httpserver::Exchange& ex) { Serve(ex); };
  // The largest body of any operation (Put Blob); ClassifyBlobRequest
  // refuses larger ones per operation, in Azure's terms, before reading.
  route.body_limit = static_cast<std::uint64_t>(blob::kMaxPutBlobBytes);
  route.io_timeout = std::chrono::seconds(30);
  return route;
}

namespace {

// One request being answered.
struct BlobExchange {
  httpserver::Exchange& ex;
  const httpcore::Request& r;
  const BlobCall& call;
  const BlobHttpOptions& options;

  blob::LocalBlobStore& store() const { return *options.store; }
  void Refuse(const BlobRefusal& refusal) const { SendRefusal(ex, refusal, call.head_only); }
  void Refuse(const absl::Status& s) const { Refuse(RefusalFromStatus(s)); }
  void Uploaded(const blob::BlobProperties& props) const {
    if (options.on_upload) options.on_upload(store().BlobUrl(call.ref), props, r.Header("x-ms-client-request-id"));
  }
  // The conditions checked against the blob before its body is read (the
  // store checks them again when it replaces the blob).
  bool ConditionsHoldNow() const {
    if (!call.conditions.any()) return true;
    auto current = store().GetProperties(call.ref);
    if (!current.ok() && !absl::IsNotFound(current.status())) {
      Refuse(current.status());
      return false;
    }
    if (auto refusal = CheckConditions(call.conditions, current.ok() ? &*current : nullptr, true)) {
      Refuse(*refusal);
      return false;
    }
    return true;
  }
  blob::Precondition WritePrecondition(BlobBody* body) const {
    return [this, body](const blob::BlobProperties* current) -> absl::Status {
      if (body != nullptr) RETURN_IF_ERROR(body->CheckHashes());
      if (auto refusal = CheckConditions(call.conditions, current, true)) return StatusFromRefusal(*refusal);
      return absl::OkStatus();
    };
  }
};

// The account's keys, for SAS checks.
std::vector<std::string> Keys(blob::BlobStore& store, const std::string& account) {
  std::vector<std::string> keys;
  for (const char* k : {"key1", "key2"}) {
    auto key = store.AccountKey(account, k);
    if (key.ok()) keys.push_back(*key);
  }
  return keys;
}

// Whether the query (a SAS or none) lets its bearer do what needs
// `permission` to `ref` ('r' reads, 'l' lists, 0 container properties);
// the refusal otherwise. `copy_source`: the refusal is CannotVerifyCopySource.
std::optional<BlobRefusal> CheckAccess(blob::BlobStore& store, const std::map<std::string, std::string>& query,
                                       const blob::BlobRef& ref, char permission, bool copy_source) {
  if (azure::HasSas(query)) {
    if (permission == 0) {
      return BlobRefusal{403, "AuthorizationPermissionMismatch",
                         "a service SAS does not grant Get Container Properties (Azure answers the same); read the "
                         "container's blobs or list them instead"};
    }
    std::vector<std::string> keys = Keys(store, ref.account);
    absl::Status s = azure::VerifyBlobSas(query, ref.account, ref.container, ref.name, permission, keys, absl::Now());
    if (!s.ok() && permission == 'w') {
      // Writes accept 'c' (create) as well as 'w'.
      s = azure::VerifyBlobSas(query, ref.account, ref.container, ref.name, 'c', keys, absl::Now());
    }
    if (s.ok()) return std::nullopt;
    auto sp = query.find("sp");
    if (!copy_source && sp != query.end() && !sp->second.empty() &&
        azure::VerifyBlobSas(query, ref.account, ref.container, ref.name, sp->second[0], keys, absl::Now()).ok()) {
      // A valid SAS without the permission: Azure's own code for that.
      return BlobRefusal{403, "AuthorizationPermissionMismatch", std::string(s.message())};
    }
    if (copy_source) {
      return BlobRefusal{403, "CannotVerifyCopySource", absl::StrCat("the copy source's SAS: ", s.message())};
    }
    return BlobRefusal{403, "AuthenticationFailed", std::string(s.message())};
  }
  auto access = store.GetContainerAccess(ref.account, ref.container);
  const char* code = copy_source ? "CannotVerifyCopySource" : "ResourceNotFound";
  if (!access.ok()) {
    return BlobRefusal{404, copy_source ? code : "ContainerNotFound", "the container does not exist"};
  }
  bool allowed = permission == 'r' ? *access != blob::Access::kPrivate
                                   : ((permission == 'l' || permission == 0) && *access == blob::Access::kContainer);
  if (allowed) return std::nullopt;
  // Azure hides private resources from anonymous callers.
  return BlobRefusal{404, code,
                     "not found, or not public: use a SAS URL (sbctl media sas) or change the container access"};
}

void List(const BlobExchange& x) {
  auto all = x.store().ListBlobs(x.call.ref.account, x.call.ref.container, x.call.prefix, "",
                                 std::numeric_limits<int>::max());
  if (!all.ok()) return x.Refuse(all.status());
  ListingPage page = PageBlobs(all->blobs, x.call);
  std::string endpoint = absl::StrCat("http://", x.r.Header("host"), "/", x.call.ref.account, "/");
  Send(x.ex, 200, {{"Content-Type", "application/xml"}}, ListBlobsXml(all->blobs, page, x.call, endpoint), false);
}

void ContainerProperties(const BlobExchange& x) {
  auto info = x.store().GetContainerInfo(x.call.ref.account, x.call.ref.container);
  if (!info.ok()) return x.Refuse(info.status());
  Headers h = {{"ETag", absl::StrCat("\"0x", absl::Hex(info->created_us), "\"")},
               {"Last-Modified", HttpDate(info->created_us)},
               {"x-ms-lease-status", "unlocked"},
               {"x-ms-lease-state", "available"},
               {"x-ms-has-immutability-policy", "false"},
               {"x-ms-has-legal-hold", "false"}};
  if (info->access == blob::Access::kContainer) h.emplace_back("x-ms-blob-public-access", "container");
  if (info->access == blob::Access::kBlob) h.emplace_back("x-ms-blob-public-access", "blob");
  SendHead(x.ex, 200, h, 0);
}

void Read(const BlobExchange& x) {
  const bool head_only = x.call.head_only || x.call.op == Op::kGetMetadata;
  if (head_only) {
    // Properties only: an archived blob answers too.
    auto props = x.store().GetProperties(x.call.ref);
    if (!props.ok()) return x.Refuse(props.status());
    if (auto refusal = CheckConditions(x.call.conditions, &*props, false)) return x.Refuse(*refusal);
    Headers h = BlobHeaders(*props, true);
    if (x.call.op == Op::kGetMetadata) {
      h = {{"ETag", props->etag}, {"Last-Modified", HttpDate(props->last_modified_us)}};
      for (const auto& [k, v] : props->metadata) h.emplace_back(absl::StrCat("x-ms-meta-", k), v);
      return SendHead(x.ex, 200, h, 0);
    }
    return SendHead(x.ex, 200, h, props->size);
  }
  auto opened = x.store().OpenBlob(x.call.ref);
  if (!opened.ok()) return x.Refuse(opened.status());
  const blob::BlobProperties& props = opened->props();
  if (auto refusal = CheckConditions(x.call.conditions, &props, false)) return x.Refuse(*refusal);
  int64_t start = 0, end = props.size;
  std::string range = x.r.headers.count("x-ms-range") ? x.r.Header("x-ms-range") : x.r.Header("range");
  int status = 200;
  Headers h;
  if (!range.empty()) {
    if (!ParseRange(range, props.size, &start, &end)) {
      return SendHead(x.ex, 416,
                      {{"x-ms-error-code", "InvalidRange"}, {"Content-Range", absl::StrCat("bytes */", props.size)}},
                      0);
    }
    status = 206;
    h = BlobHeaders(props, false);
    h.emplace_back("Content-Range", absl::StrCat("bytes ", start, "-", end - 1, "/", props.size));
  } else {
    h = BlobHeaders(props, true);
  }
  SendHead(x.ex, status, h, end - start);
  std::vector<char> buf(1 << 16);
  for (int64_t pos = start; pos < end;) {
    size_t want = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(buf.size()), end - pos));
    ssize_t n = ::pread(opened->fd(), buf.data(), want, pos);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || !x.ex.WriteBody(absl::string_view(buf.data(), static_cast<size_t>(n)))) return;
    pos += n;
  }
}

void PutBlob(const BlobExchange& x) {
  if (!x.ConditionsHoldNow()) return;
  BlobBody body(x.ex);
  blob::PutOptions o = PutOptionsFromRequest(x.r, false);
  auto put = x.store().PutBlobIf(x.call.ref, x.call.content_length, body.Source(), o, x.WritePrecondition(&body));
  if (!put.ok()) return x.Refuse(put.status());
  x.Uploaded(*put);
  Headers h = WriteAnswer(*put);
  body.AddHashHeaders(&h);
  if (!body.AddsMd5()) h.emplace_back("Content-MD5", put->content_md5);
  SendHead(x.ex, 201, h, 0);
}

void PutBlock(const BlobExchange& x) {
  BlobBody body(x.ex);
  absl::Status s = x.store().PutBlock(x.call.ref, x.call.block_id, x.call.content_length, body.Source(),
                                      [&body] { return body.CheckHashes(); });
  if (!s.ok()) return x.Refuse(s);
  Headers h = {{"x-ms-request-server-encrypted", "false"}};
  body.AddHashHeaders(&h);
  SendHead(x.ex, 201, h, 0);
}

void PutBlockList(const BlobExchange& x) {
  if (!x.ConditionsHoldNow()) return;
  BlobBody body(x.ex);
  auto xml = body.ReadAll(x.call.content_length);
  if (!xml.ok()) return x.Refuse(xml.status());
  if (auto s = body.CheckHashes(); !s.ok()) return x.Refuse(s);
  auto entries = ParseBlockListXml(*xml);
  if (!entries.ok()) return x.Refuse(entries.status());
  blob::PutOptions o = PutOptionsFromRequest(x.r, true);
  auto put = x.store().CommitBlockList(x.call.ref, *entries, o, x.WritePrecondition(nullptr));
  if (!put.ok()) return x.Refuse(put.status());
  x.Uploaded(*put);
  Headers h = WriteAnswer(*put);
  body.AddHashHeaders(&h);
  SendHead(x.ex, 201, h, 0);
}

void GetBlockList(const BlobExchange& x) {
  auto list = x.store().GetBlockList(x.call.ref);
  if (!list.ok()) return x.Refuse(list.status());
  Headers h = {{"Content-Type", "application/xml"}};
  if (list->blob) {
    h.emplace_back("ETag", list->blob->etag);
    h.emplace_back("Last-Modified", HttpDate(list->blob->last_modified_us));
    h.emplace_back("x-ms-blob-content-length", absl::StrCat(list->blob->size));
  }
  Send(x.ex, 200, h, BlockListXml(*list, x.call.list_type), false);
}

void SetMetadata(const BlobExchange& x) {
  auto current = x.store().GetProperties(x.call.ref);
  if (!current.ok()) return x.Refuse(current.status());
  if (auto refusal = CheckConditions(x.call.conditions, &*current, true)) return x.Refuse(*refusal);
  blob::PutOptions o = PutOptionsFromRequest(x.r, true);
  if (auto s = x.store().SetMetadata(x.call.ref, o.metadata, o.client_request_id); !s.ok()) return x.Refuse(s);
  auto props = x.store().GetProperties(x.call.ref);
  if (!props.ok()) return x.Refuse(props.status());
  SendHead(x.ex, 200, WriteAnswer(*props), 0);
}

void SetProperties(const BlobExchange& x) {
  auto current = x.store().GetProperties(x.call.ref);
  if (!current.ok()) return x.Refuse(current.status());
  if (auto refusal = CheckConditions(x.call.conditions, &*current, true)) return x.Refuse(*refusal);
  auto props = x.store().SetContentHeaders(x.call.ref, PutOptionsFromRequest(x.r, true));
  if (!props.ok()) return x.Refuse(props.status());
  SendHead(x.ex, 200, WriteAnswer(*props), 0);
}

void SetTier(const BlobExchange& x) {
  if (auto s = x.store().SetTier(x.call.ref, x.call.tier, x.call.rehydrate); !s.ok()) return x.Refuse(s);
  auto props = x.store().GetProperties(x.call.ref);
  if (!props.ok()) return x.Refuse(props.status());
  // 202 while an archived blob is being rehydrated, as Azure answers.
  SendHead(x.ex, props->rehydrating ? 202 : 200, {}, 0);
}

void Delete(const BlobExchange& x) {
  if (absl::AsciiStrToLower(x.r.Header("x-ms-delete-snapshots")) == "only") {
    // The listener keeps no snapshots: there is nothing to delete.
    auto props = x.store().GetProperties(x.call.ref);
    if (!props.ok()) return x.Refuse(props.status());
    return SendHead(x.ex, 202, {}, 0);
  }
  blob::Precondition check = nullptr;
  if (x.call.conditions.any()) {
    check = [&x](const blob::BlobProperties* current) -> absl::Status {
      if (auto refusal = CheckConditions(x.call.conditions, current, true)) return StatusFromRefusal(*refusal);
      return absl::OkStatus();
    };
  }
  if (auto s = x.store().DeleteBlobIf(x.call.ref, check); !s.ok()) return x.Refuse(s);
  SendHead(x.ex, 202, {{"x-ms-delete-type-permanent", "true"}}, 0);
}

// Copy Blob and Put Blob From URL: the bytes of a blob this listener serves,
// read through the source URL's own SAS (or its container's public access).
void Copy(const BlobExchange& x) {
  const std::string& source_url = x.call.copy_source;
  auto refuse_source = [&](int status, absl::string_view why) {
    x.Refuse(BlobRefusal{status, "CannotVerifyCopySource", std::string(why)});
  };
  auto parts = SplitUrl(source_url);
  std::string own = SplitUrl(x.store().BlobUrl(x.call.ref)).value_or(UrlParts{}).authority;
  if (!parts || (parts->authority != absl::AsciiStrToLower(x.r.Header("host")) && parts->authority != own)) {
    return refuse_source(400, absl::StrCat("the local blob listener copies only blobs it serves itself (",
                                           x.r.Header("host"), "); download '", source_url.substr(0, 200),
                                           "' and upload its bytes instead"));
  }
  absl::string_view path = parts->path;
  absl::ConsumePrefix(&path, "/");
  std::vector<std::string> segs = absl::StrSplit(path, absl::MaxSplits('/', 2));
  if (segs.size() != 3 || !x.store().HasAccount(segs[0])) {
    return refuse_source(400, "the copy source must be a blob URL: http://host/<account>/<container>/<blob>");
  }
  blob::BlobRef source{segs[0], httpcore::UrlDecode(segs[1], false), httpcore::UrlDecode(segs[2], false)};
  if (!blob::ValidateContainerName(source.container, "container").ok() ||
      !blob::ValidateBlobName(source.name, "blob").ok()) {
    return refuse_source(400, "the copy source does not name a valid container and blob");
  }
  if (auto refusal = CheckAccess(x.store(), httpcore::ParseQuery(parts->query), source, 'r', true)) {
    return x.Refuse(*refusal);
  }
  auto opened = x.store().OpenBlob(source);
  if (!opened.ok()) {
    if (absl::IsNotFound(opened.status())) return refuse_source(404, "the copy source blob does not exist");
    return x.Refuse(opened.status());
  }
  const blob::BlobProperties& src = opened->props();
  if (auto refusal = CheckConditions(ParseConditions(x.r, "x-ms-source-"), &src, false, true)) {
    return x.Refuse(*refusal);
  }
  if (!x.ConditionsHoldNow()) return;
  // Content headers: the source's, unless the request sets them (Put Blob
  // From URL); metadata: the request's, or else the source's (Copy Blob).
  blob::PutOptions o = PutOptionsFromRequest(x.r, true);
  blob::PutOptions from_source;
  from_source.content_type = src.content_type;
  from_source.content_encoding = src.content_encoding;
  from_source.content_language = src.content_language;
  from_source.content_disposition = src.content_disposition;
  from_source.cache_control = src.cache_control;
  from_source.content_md5 = src.content_md5;
  if (!x.r.headers.count("x-ms-blob-content-type")) o.content_type = from_source.content_type;
  if (!x.r.headers.count("x-ms-blob-content-encoding")) o.content_encoding = from_source.content_encoding;
  if (!x.r.headers.count("x-ms-blob-content-language")) o.content_language = from_source.content_language;
  if (!x.r.headers.count("x-ms-blob-content-disposition")) o.content_disposition = from_source.content_disposition;
  if (!x.r.headers.count("x-ms-blob-cache-control")) o.cache_control = from_source.cache_control;
  if (!x.r.headers.count("x-ms-blob-content-md5")) o.content_md5 = from_source.content_md5;
  if (x.call.op == Op::kCopy && o.metadata.empty()) o.metadata = src.metadata;
  auto put = x.store().PutBlobIf(x.call.ref, src.size, opened->Source(), o, x.WritePrecondition(nullptr));
  if (!put.ok()) return x.Refuse(put.status());
  x.Uploaded(*put);
  Headers h = WriteAnswer(*put);
  if (x.call.op == Op::kPutFromUrl) {
    h.emplace_back("Content-MD5", put->content_md5);
    return SendHead(x.ex, 201, h, 0);
  }
  h.emplace_back("x-ms-copy-id", NewUuid());
  h.emplace_back("x-ms-copy-status", "success");
  SendHead(x.ex, 202, h, 0);
}

}  // namespace

void BlobHttp::Serve(httpserver::Exchange& ex) const {
  const httpcore::Request& r = ex.request();
  auto classified = ClassifyBlobRequest(r);
  if (auto* refusal = std::get_if<BlobRefusal>(&classified)) return SendRefusal(ex, *refusal, r.method == "HEAD");
  const BlobCall& call = std::get<BlobCall>(classified);
  BlobExchange x{ex, r, call, options_};
  if (auto refusal = CheckAccess(*options_.store, r.query, call.ref, call.permission, false)) {
    return x.Refuse(*refusal);
  }
  switch (call.op) {
    case Op::kList: return List(x);
    case Op::kContainerProperties: return ContainerProperties(x);
    case Op::kRead:
    case Op::kGetMetadata: return Read(x);
    case Op::kPut: return PutBlob(x);
    case Op::kPutBlock: return PutBlock(x);
    case Op::kPutBlockList: return PutBlockList(x);
    case Op::kGetBlockList: return GetBlockList(x);
    case Op::kSetMetadata: return SetMetadata(x);
    case Op::kSetProperties: return SetProperties(x);
    case Op::kSetTier: return SetTier(x);
    case Op::kDelete: return Delete(x);
    case Op::kCopy:
    case Op::kPutFromUrl: return Copy(x);
    case Op::kAbortCopy:
      return x.Refuse(BlobRefusal{409, "NoPendingCopyOperation",
                                  "every copy on the local blob listener completes before it is answered; there is "
                                  "no copy to abort"});
  }
}

}  // namespace switchboard::http
