#include "server/blob/azure_blob_store.h"

#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/azure/crypto.h"
#include "common/azure/http_client.h"
#include "common/azure/sas.h"
#include "common/azure/shared_key.h"
#include "common/azure/url.h"
#include "common/azure/xml.h"
#include "common/status.h"
#include "server/blob/blob_names.h"

namespace switchboard::blob {
namespace {

using azure::HttpRequest;
using azure::HttpResponse;
using azure::XmlDocument;
using azure::XmlElement;

struct Call {
  std::string method = "GET";
  std::string container;
  std::string blob;  // empty for container calls
  std::map<std::string, std::string> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int64_t body_size = -1;
  ChunkSource body_source;
  ChunkSink sink;
};

// A call on a container itself (restype=container), with `comp` if given.
Call ContainerCall(const char* method, absl::string_view container, const char* comp = nullptr) {
  Call c;
  c.method = method;
  c.container = std::string(container);
  c.query = {{"restype", "container"}};
  if (comp) c.query.emplace("comp", comp);
  return c;
}

std::string PathOf(const std::string& endpoint) {
  // "http://host:port/acct" -> "/acct"; "https://acct.blob..." -> "".
  auto scheme = endpoint.find("://");
  auto slash = endpoint.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return "";
  std::string p = endpoint.substr(slash);
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

absl::StatusOr<HttpResponse> Send(const AzureAccount& a, const std::string& version, Call call) {
  std::string rel = absl::StrCat("/", call.container);
  if (!call.blob.empty()) absl::StrAppend(&rel, "/", azure::PercentEncode(call.blob, true));
  HttpRequest req;
  req.method = call.method;
  req.url = absl::StrCat(Trimmed(a.endpoint), rel);
  if (!call.query.empty()) absl::StrAppend(&req.url, "?", azure::BuildQuery(call.query));
  azure::SignableRequest s;
  s.method = call.method;
  s.path = PathOf(a.endpoint) + rel;
  s.query = call.query;
  call.headers.emplace_back("x-ms-date", azure::Rfc1123(absl::Now()));
  call.headers.emplace_back("x-ms-version", version);
  for (const auto& [k, v] : call.headers) s.headers[k] = v;
  if (call.body_source) {
    s.content_length = call.body_size;
  } else {
    s.content_length = static_cast<int64_t>(call.body.size());
  }
  ASSIGN_OR_RETURN(std::string auth, azure::SharedKeyAuthorization(a.name, a.key1, s));
  call.headers.emplace_back("Authorization", auth);
  req.headers = std::move(call.headers);
  req.body = std::move(call.body);
  req.body_size = call.body_size;
  req.body_source = std::move(call.body_source);
  req.sink = std::move(call.sink);
  return azure::PerformHttp(req);
}

// One mapping from Azure's answers to status codes.
absl::Status ErrorOf(const HttpResponse& r, absl::string_view what) {
  std::string code = r.header("x-ms-error-code");
  if (code.empty()) code = azure::TagText(r.body, "Code");
  std::string msg = absl::StrCat(what, ": Azure answered ", r.status, code.empty() ? "" : " ", code);
  switch (r.status) {
    case 400: return absl::InvalidArgumentError(msg);
    case 403: return absl::PermissionDeniedError(msg);
    case 404: return absl::NotFoundError(msg);
    case 409:
      if (code == "ContainerAlreadyExists" || code == "BlobAlreadyExists") return absl::AlreadyExistsError(msg);
      return absl::FailedPreconditionError(msg);
    case 412: return absl::FailedPreconditionError(msg);
    case 416: return absl::OutOfRangeError(msg);
    case 500:
    case 503: return absl::UnavailableError(msg);
    default: return absl::UnknownError(msg);
  }
}

bool Ok(const HttpResponse& r) { return r.status >= 200 && r.status < 300; }

void AddMetadata(const Metadata& md, std::vector<std::pair<std::string, std::string>>* headers) {
  for (const auto& [k, v] : md) headers->emplace_back(absl::StrCat("x-ms-meta-", k), v);
}

int64_t ParseHttpTime(const std::string& s) {
  absl::Time t;
  return azure::ParseRfc1123(s, &t) ? absl::ToUnixMicros(t) : 0;
}

BlobProperties FromHeaders(const std::string& name, const HttpResponse& r) {
  BlobProperties p;
  p.name = name;
  (void)absl::SimpleAtoi(r.header("content-length"), &p.size);
  p.content_type = r.header("content-type");
  p.etag = r.header("etag");
  p.last_modified_us = ParseHttpTime(r.header("last-modified"));
  for (const auto& [k, v] : r.headers) {
    if (absl::StartsWith(k, "x-ms-meta-")) p.metadata[k.substr(10)] = v;
  }
  p.tier = ParseTier(r.header("x-ms-access-tier")).value_or(Tier::kHot);
  p.rehydrating = absl::StartsWith(r.header("x-ms-archive-status"), "rehydrate-pending");
  return p;
}

// Metadata children of <Metadata>: <name>value</name>...
Metadata ParseMetadataXml(const XmlElement& metadata) {
  Metadata md;
  for (const XmlElement& e : metadata.Children()) md[e.name()] = e.text();
  return md;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AzureBlobStore>> AzureBlobStore::Open(AzureBlobStoreOptions options) {
  if (options.accounts.empty()) return absl::InvalidArgumentError("azure blob store: no accounts configured");
  for (const auto& a : options.accounts) {
    RETURN_IF_ERROR(ValidateAccountName(a.name, "blob_azure_accounts.name"));
    if (!absl::StartsWith(a.endpoint, "http://") && !absl::StartsWith(a.endpoint, "https://")) {
      return absl::InvalidArgumentError(
          absl::StrCat("blob_azure_accounts.endpoint of '", a.name, "' must start with http:// or https://"));
    }
    if (!azure::SignBase64(a.key1, "probe").ok()) {
      return absl::InvalidArgumentError(absl::StrCat("blob_azure_accounts.key1 of '", a.name, "' is not base64"));
    }
  }
  return std::unique_ptr<AzureBlobStore>(new AzureBlobStore(std::move(options)));
}

std::vector<std::string> AzureBlobStore::accounts() const {
  std::vector<std::string> out;
  for (const auto& a : options_.accounts) out.push_back(a.name);
  return out;
}

const AzureAccount* AzureBlobStore::Find(absl::string_view account) const {
  for (const auto& a : options_.accounts) {
    if (a.name == account) return &a;
  }
  return nullptr;
}

std::string AzureBlobStore::BlobUrl(const BlobRef& ref) const {
  const AzureAccount* a = Find(ref.account);
  std::string base = a ? Trimmed(a->endpoint) : absl::StrCat("https://", ref.account, ".blob.core.windows.net");
  return absl::StrCat(base, "/", ref.container, "/", azure::PercentEncode(ref.name, true));
}

absl::Status AzureBlobStore::CheckContainer(absl::string_view account, absl::string_view container) const {
  if (!Find(account)) {
    return absl::InvalidArgumentError(absl::StrCat("storage account '", account, "' is not served by this store"));
  }
  return ValidateContainerName(container, "container");
}

absl::Status AzureBlobStore::CheckRef(const BlobRef& ref) const {
  RETURN_IF_ERROR(CheckContainer(ref.account, ref.container));
  return ValidateBlobName(ref.name, "blob");
}

absl::Status AzureBlobStore::CreateContainer(absl::string_view account, absl::string_view container) {
  RETURN_IF_ERROR(CheckContainer(account, container));
  Call c = ContainerCall("PUT", container);
  ASSIGN_OR_RETURN(auto r, Send(*Find(account), options_.api_version, std::move(c)));
  if (!Ok(r)) return ErrorOf(r, absl::StrCat("create container '", container, "'"));
  return absl::OkStatus();
}

absl::Status AzureBlobStore::DeleteContainer(absl::string_view account, absl::string_view container) {
  RETURN_IF_ERROR(CheckContainer(account, container));
  Call c = ContainerCall("DELETE", container);
  ASSIGN_OR_RETURN(auto r, Send(*Find(account), options_.api_version, std::move(c)));
  if (!Ok(r)) return ErrorOf(r, absl::StrCat("delete container '", container, "'"));
  return absl::OkStatus();
}

absl::StatusOr<bool> AzureBlobStore::ContainerExists(absl::string_view account, absl::string_view container) {
  RETURN_IF_ERROR(CheckContainer(account, container));
  Call c = ContainerCall("HEAD", container);
  ASSIGN_OR_RETURN(auto r, Send(*Find(account), options_.api_version, std::move(c)));
  if (r.status == 404) return false;
  if (!Ok(r)) return ErrorOf(r, absl::StrCat("container '", container, "'"));
  return true;
}

absl::Status AzureBlobStore::SetContainerAccess(absl::string_view account, absl::string_view container,
                                                Access access) {
  RETURN_IF_ERROR(CheckContainer(account, container));
  Call c = ContainerCall("PUT", container, "acl");
  if (access == Access::kBlob) c.headers.emplace_back("x-ms-blob-public-access", "blob");
  if (access == Access::kContainer) c.headers.emplace_back("x-ms-blob-public-access", "container");
  ASSIGN_OR_RETURN(auto r, Send(*Find(account), options_.api_version, std::move(c)));
  if (!Ok(r)) return ErrorOf(r, absl::StrCat("set access of container '", container, "'"));
  return absl::OkStatus();
}

absl::StatusOr<Access> AzureBlobStore::GetContainerAccess(absl::string_view account, absl::string_view container) {
  RETURN_IF_ERROR(CheckContainer(account, container));
  Call c = ContainerCall("HEAD", container);
  ASSIGN_OR_RETURN(auto r, Send(*Find(account), options_.api_version, std::move(c)));
  if (!Ok(r)) return ErrorOf(r, absl::StrCat("container '", container, "'"));
  std::string level = r.header("x-ms-blob-public-access");
  if (level == "blob") return Access::kBlob;
  if (level == "container") return Access::kContainer;
  return Access::kPrivate;
}

absl::StatusOr<BlobProperties> AzureBlobStore::PutBlob(const BlobRef& ref, int64_t size, const ChunkSource& source,
                                                       const PutOptions& options) {
  RETURN_IF_ERROR(CheckRef(ref));
  RETURN_IF_ERROR(ValidateMetadata(options.metadata, "metadata"));
  if (size < 0) return absl::InvalidArgumentError("size must be >= 0");
  Call c;
  c.method = "PUT";
  c.container = ref.container;
  c.blob = ref.name;
  c.headers.emplace_back("x-ms-blob-type", "BlockBlob");
  c.headers.emplace_back("Content-Type",
                         options.content_type.empty() ? "application/octet-stream" : options.content_type);
  if (!options.client_request_id.empty()) c.headers.emplace_back("x-ms-client-request-id", options.client_request_id);
  AddMetadata(options.metadata, &c.headers);
  if (size > 0) {
    c.body_size = size;
    c.body_source = source;
  }
  ASSIGN_OR_RETURN(auto r, Send(*Find(ref.account), options_.api_version, std::move(c)));
  if (!Ok(r)) return ErrorOf(r, absl::StrCat("put blob '", ref.name, "'"));
  return GetProperties(ref);
}

absl::StatusOr<BlobProperties> AzureBlobStore::GetProperties(const BlobRef& ref) {
  RETURN_IF_ERROR(CheckRef(ref));
  Call c;
  c.method = "HEAD";
  c.container = ref.container;
  c.blob = ref.name;
  ASSIGN_OR_RETURN(auto r, Send(*Find(ref.account), options_.api_version, std::move(c)));
  if (!Ok(r)) return ErrorOf(r, absl::StrCat("blob '", ref.name, "'"));
  return FromHeaders(ref.name, r);
}

absl::Status AzureBlobStore::Read(const BlobRef& ref, int64_t offset, int64_t length, const ChunkSink& sink) {
  RETURN_IF_ERROR(CheckRef(ref));
  if (offset < 0) return absl::OutOfRangeError("offset must be >= 0");
  if (length == 0) return absl::OkStatus();
  Call c;
  c.container = ref.container;
  c.blob = ref.name;
  if (offset > 0 || length > 0) {
    c.headers.emplace_back("x-ms-range", length > 0 ? absl::StrCat("bytes=", offset, "-", offset + length - 1)
                                                    : absl::StrCat("bytes=", offset, "-"));
  }
  c.sink = sink;
  ASSIGN_OR_RETURN(auto r, Send(*Find(ref.account), options_.api_version, std::move(c)));
  if (r.status == 416) {
    // Reading at the very end of a blob (or any read of an empty one).
    ASSIGN_OR_RETURN(auto props, GetProperties(ref));
    if (offset == props.size) return absl::OkStatus();
  }
  if (!Ok(r)) {
    if (r.status == 409) {
      return absl::FailedPreconditionError(absl::StrCat("blob '", ref.name,
                                                        "' is archived; change its tier to Hot or Cool and wait "
                                                        "for the rehydration before reading it"));
    }
    return ErrorOf(r, absl::StrCat("read blob '", ref.name, "'"));
  }
  return absl::OkStatus();
}

absl::Status AzureBlobStore::SetMetadata(const BlobRef& ref, const Metadata& metadata,
                                         const std::string& client_request_id) {
  RETURN_IF_ERROR(CheckRef(ref));
  RETURN_IF_ERROR(ValidateMetadata(metadata, "metadata"));
  Call c;
  c.method = "PUT";
  c.container = ref.container;
  c.blob = ref.name;
  c.query = {{"comp", "metadata"}};
  if (!client_request_id.empty()) c.headers.emplace_back("x-ms-client-request-id", client_request_id);
  AddMetadata(metadata, &c.headers);
  ASSIGN_OR_RETURN(auto r, Send(*Find(ref.account), options_.api_version, std::move(c)));
  if (!Ok(r)) return ErrorOf(r, absl::StrCat("set metadata of blob '", ref.name, "'"));
  return absl::OkStatus();
}

absl::Status AzureBlobStore::DeleteBlob(const BlobRef& ref, const std::string& client_request_id) {
  RETURN_IF_ERROR(CheckRef(ref));
  Call c;
  c.method = "DELETE";
  c.container = ref.container;
  c.blob = ref.name;
  if (!client_request_id.empty()) c.headers.emplace_back("x-ms-client-request-id", client_request_id);
  ASSIGN_OR_RETURN(auto r, Send(*Find(ref.account), options_.api_version, std::move(c)));
  if (!Ok(r)) return ErrorOf(r, absl::StrCat("delete blob '", ref.name, "'"));
  return absl::OkStatus();
}

absl::StatusOr<BlobProperties> AzureBlobStore::CopyBlob(const BlobRef& source, const BlobRef& dest,
                                                        const std::string& client_request_id) {
  RETURN_IF_ERROR(CheckRef(source));
  RETURN_IF_ERROR(CheckRef(dest));
  // The source is named by URL with a short read SAS, so that copies across
  // accounts work too.
  azure::BlobSasValues v;
  v.expiry = absl::Now() + absl::Hours(1);
  v.start = absl::Now() - absl::Minutes(5);
  ASSIGN_OR_RETURN(std::string sas,
                   azure::CreateBlobSas(source.account, source.container, source.name, Find(source.account)->key1, v));
  Call c;
  c.method = "PUT";
  c.container = dest.container;
  c.blob = dest.name;
  c.headers.emplace_back("x-ms-copy-source", absl::StrCat(BlobUrl(source), "?", sas));
  if (!client_request_id.empty()) c.headers.emplace_back("x-ms-client-request-id", client_request_id);
  ASSIGN_OR_RETURN(auto r, Send(*Find(dest.account), options_.api_version, std::move(c)));
  if (!Ok(r)) return ErrorOf(r, absl::StrCat("copy blob '", source.name, "' to '", dest.name, "'"));
  // Wait for an asynchronous copy to finish.
  for (int i = 0; i < 600; ++i) {
    Call h;
    h.method = "HEAD";
    h.container = dest.container;
    h.blob = dest.name;
    ASSIGN_OR_RETURN(auto hr, Send(*Find(dest.account), options_.api_version, std::move(h)));
    std::string status = hr.header("x-ms-copy-status");
    if (!Ok(hr)) return ErrorOf(hr, absl::StrCat("blob '", dest.name, "'"));
    if (status.empty() || status == "success") return FromHeaders(dest.name, hr);
    if (status != "pending") {
      return absl::AbortedError(absl::StrCat("copy to '", dest.name, "' ended with status ", status, ": ",
                                             hr.header("x-ms-copy-status-description")));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat("copy to '", dest.name, "' still pending after 60 s"));
}

absl::Status AzureBlobStore::SetTier(const BlobRef& ref, Tier tier, Rehydrate priority) {
  RETURN_IF_ERROR(CheckRef(ref));
  Call c;
  c.method = "PUT";
  c.container = ref.container;
  c.blob = ref.name;
  c.query = {{"comp", "tier"}};
  c.headers.emplace_back("x-ms-access-tier", TierName(tier));
  c.headers.emplace_back("x-ms-rehydrate-priority", priority == Rehydrate::kHigh ? "High" : "Standard");
  ASSIGN_OR_RETURN(auto r, Send(*Find(ref.account), options_.api_version, std::move(c)));
  if (!Ok(r)) return ErrorOf(r, absl::StrCat("set tier of blob '", ref.name, "'"));
  return absl::OkStatus();
}

absl::StatusOr<BlobPage> AzureBlobStore::ListBlobs(absl::string_view account, absl::string_view container,
                                                   absl::string_view prefix, absl::string_view marker,
                                                   int max_results) {
  RETURN_IF_ERROR(CheckContainer(account, container));
  Call c;
  c.container = std::string(container);
  c.query = {{"restype", "container"}, {"comp", "list"}, {"include", "metadata"}};
  if (!prefix.empty()) c.query["prefix"] = std::string(prefix);
  if (!marker.empty()) c.query["marker"] = std::string(marker);
  if (max_results > 0) c.query["maxresults"] = absl::StrCat(max_results);
  ASSIGN_OR_RETURN(auto r, Send(*Find(account), options_.api_version, std::move(c)));
  if (!Ok(r)) return ErrorOf(r, absl::StrCat("list container '", container, "'"));
  BlobPage page;
  XmlDocument xml(r.body);
  if (!xml.ok()) {
    // A page cut short would end the listing early, without a NextMarker.
    return absl::UnavailableError(
        absl::StrCat("list container '", container, "': Azure's answer is ", xml.error()));
  }
  for (const XmlElement& blob : xml.FindAll("Blob")) {
    BlobProperties p;
    p.name = blob.Child("Name").text();
    const XmlElement props = blob.Child("Properties");
    (void)absl::SimpleAtoi(props.Child("Content-Length").text(), &p.size);
    p.content_type = props.Child("Content-Type").text();
    p.etag = props.Child("Etag").text();
    p.last_modified_us = ParseHttpTime(props.Child("Last-Modified").text());
    p.tier = ParseTier(props.Child("AccessTier").text()).value_or(Tier::kHot);
    p.rehydrating = absl::StartsWith(props.Child("ArchiveStatus").text(), "rehydrate-pending");
    p.metadata = ParseMetadataXml(blob.Child("Metadata"));
    page.blobs.push_back(std::move(p));
  }
  page.next_marker = xml.Find("NextMarker").text();
  return page;
}

absl::StatusOr<std::string> AzureBlobStore::AccountKey(absl::string_view account, absl::string_view key_name) {
  const AzureAccount* a = Find(account);
  if (!a) return absl::InvalidArgumentError(absl::StrCat("storage account '", account, "' is not configured"));
  if (key_name == "key1") return a->key1;
  if (key_name == "key2") {
    if (a->key2.empty()) return absl::FailedPreconditionError(absl::StrCat("no key2 configured for '", account, "'"));
    return a->key2;
  }
  return absl::InvalidArgumentError(absl::StrCat("keyName '", key_name, "' must be key1 or key2"));
}

absl::Status AzureBlobStore::RollKey(absl::string_view account, absl::string_view key_name) {
  if (!Find(account)) return absl::InvalidArgumentError(absl::StrCat("account '", account, "' is not configured"));
  if (key_name != "key1" && key_name != "key2") {
    return absl::InvalidArgumentError(absl::StrCat("keyName '", key_name, "' must be key1 or key2"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "account '", account, "' is served by Azure (or Azurite), whose keys cannot be rolled through the data "
      "plane; roll them with the Azure management API (az storage account keys renew) and update the config"));
}

}  // namespace switchboard::blob
