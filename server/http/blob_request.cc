#include "server/http/blob_request.h"

#include "common/azure/xml.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/azure/url.h"
#include "server/blob/blob_names.h"

namespace switchboard::http {
namespace {

using Op = BlobCall::Op;

BlobRefusal NotImplemented(absl::string_view what) {
  return BlobRefusal{501, "NotImplemented",
                     absl::StrCat(what, " is not supported by Switchboard's local blob listener (docs/media.md lists "
                                        "what is)")};
}

// comp values Azure's Blob service has that the listener does not serve.
bool AzureKnowsComp(absl::string_view comp) {
  for (const char* c : {"properties", "lease", "snapshot", "tags", "page", "pagelist", "appendblock", "seal",
                        "incrementalcopy", "immutabilityPolicies", "legalhold", "expiry", "query", "tier", "acl",
                        "undelete", "rename", "blobs", "stats", "userdelegationkey", "batch", "list", "metadata",
                        "block", "blocklist", "copy"}) {
    if (comp == c) return true;
  }
  return false;
}

// Headers that ask for something the listener cannot honour; a request
// with one is refused rather than served without it.
std::optional<BlobRefusal> UnsupportedHeader(const httpcore::Request& r) {
  const bool set_tier = r.method == "PUT" && r.Query("comp") == "tier";
  if (r.headers.count("x-ms-lease-id")) {
    // No blob here is ever leased, so Azure would say the same.
    return BlobRefusal{412, "LeaseNotPresentWithBlobOperation",
                       "there is currently no lease on the blob (leases are not supported by the local listener)"};
  }
  for (const char* h : {"x-ms-if-tags", "x-ms-tags", "x-ms-encryption-key", "x-ms-encryption-scope",
                        "x-ms-immutability-policy-until-date", "x-ms-immutability-policy-mode", "x-ms-legal-hold",
                        "x-ms-access-tier", "x-ms-copy-source-authorization", "x-ms-source-if-tags",
                        "x-ms-blob-sequence-number", "x-ms-source-range", "x-ms-source-content-md5",
                        "x-ms-source-content-crc64"}) {
    if (r.headers.count(h) && !(set_tier && absl::string_view(h) == "x-ms-access-tier")) {
      return BlobRefusal{400, "UnsupportedHeader",
                         absl::StrCat("header ", h, " is not supported by the local blob listener; send the request "
                                      "without it")};
    }
  }
  for (const char* h : {"x-ms-range-get-content-md5", "x-ms-range-get-content-crc64"}) {
    if (absl::AsciiStrToLower(r.Header(h)) == "true") {
      return BlobRefusal{400, "UnsupportedHeader",
                         absl::StrCat("header ", h, " is not supported by the local blob listener; read the range "
                                      "without a range hash")};
    }
  }
  return std::nullopt;
}

std::optional<int64_t> ParseDate(const std::string& value) {
  if (value.empty()) return std::nullopt;
  absl::Time t;
  if (!azure::ParseRfc1123(value, &t)) return std::nullopt;
  return absl::ToUnixSeconds(t);
}

std::string Unquote(absl::string_view etag) {
  etag = absl::StripAsciiWhitespace(etag);
  absl::ConsumePrefix(&etag, "W/");
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return std::string(etag);
}

// True if `list` ("*" or comma-separated ETags) names `etag`.
bool EtagListMatches(absl::string_view list, absl::string_view etag) {
  std::string mine = Unquote(etag);
  for (absl::string_view e : absl::StrSplit(list, ',')) {
    std::string u = Unquote(e);
    if (u == "*" || u == mine) return true;
  }
  return false;
}

absl::StatusOr<int64_t> ContentLength(const httpcore::Request& r) {
  auto it = r.headers.find("content-length");
  int64_t size = -1;
  if (it == r.headers.end() || !absl::SimpleAtoi(it->second, &size) || size < 0) {
    return absl::InvalidArgumentError("a Content-Length header (no chunked bodies)");
  }
  return size;
}

}  // namespace

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 206: return "Partial Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 416: return "Range Not Satisfiable";
    case 501: return "Not Implemented";
    default: return status >= 500 ? "Server Error" : "Error";
  }
}

std::string HttpDate(int64_t us) { return azure::Rfc1123(absl::FromUnixMicros(us)); }

std::string XmlEscape(absl::string_view s) { return azure::XmlEscape(s); }

std::string ErrorXml(absl::string_view code, absl::string_view message) {
  return absl::StrCat("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>", XmlEscape(code), "</Code><Message>",
                      XmlEscape(message), "</Message></Error>");
}

BlobConditions ParseConditions(const httpcore::Request& r, absl::string_view prefix) {
  auto h = [&](const char* name) -> const std::string& { return r.Header(absl::StrCat(prefix, name)); };
  BlobConditions c;
  c.if_match = h("if-match");
  c.if_none_match = h("if-none-match");
  c.if_modified_since = ParseDate(h("if-modified-since"));
  c.if_unmodified_since = ParseDate(h("if-unmodified-since"));
  return c;
}

std::optional<BlobRefusal> CheckConditions(const BlobConditions& c, const blob::BlobProperties* current, bool write,
                                           bool source) {
  const char* failed = source ? "SourceConditionNotMet" : "ConditionNotMet";
  const std::string message = absl::StrCat("the condition specified using HTTP conditional header(s) is not met",
                                           source ? " by the copy source" : "");
  BlobRefusal precondition{412, failed, message};
  if (current == nullptr) {
    if (!c.if_match.empty()) return precondition;
    return std::nullopt;
  }
  const int64_t modified_s = current->last_modified_us / 1000000;
  if (!c.if_match.empty() && !EtagListMatches(c.if_match, current->etag)) return precondition;
  if (c.if_unmodified_since && modified_s > *c.if_unmodified_since) return precondition;
  BlobRefusal not_modified = write || source ? precondition : BlobRefusal{304, failed, ""};
  if (!c.if_none_match.empty() && EtagListMatches(c.if_none_match, current->etag)) {
    if (write && !source && Unquote(c.if_none_match) == "*") {
      return BlobRefusal{409, "BlobAlreadyExists", "the specified blob already exists"};
    }
    return not_modified;
  }
  if (c.if_modified_since && modified_s <= *c.if_modified_since) return not_modified;
  return std::nullopt;
}

std::variant<BlobCall, BlobRefusal> ClassifyBlobRequest(const httpcore::Request& r) {
  BlobCall call;
  call.head_only = r.method == "HEAD";
  absl::string_view path = r.path;
  absl::ConsumePrefix(&path, "/");
  std::vector<std::string> parts = absl::StrSplit(path, absl::MaxSplits('/', 2));
  call.ref.account = parts[0];
  if (parts.size() >= 2) call.ref.container = parts[1];
  if (parts.size() == 3) call.ref.name = parts[2];
  const std::string& comp = r.Query("comp");
  const std::string& restype = r.Query("restype");
  if (call.ref.container.empty() && (!comp.empty() || !restype.empty())) {
    return NotImplemented("an account operation (List Containers, service properties and stats)");
  }
  if (call.ref.container.empty() || !blob::ValidateContainerName(call.ref.container, "container").ok()) {
    return BlobRefusal{400, "InvalidResourceName", "the container name is missing or not valid"};
  }
  if (r.method != "GET" && r.method != "HEAD" && r.method != "PUT" && r.method != "DELETE") {
    return BlobRefusal{405, "UnsupportedHttpVerb", "GET, HEAD, PUT and DELETE are served"};
  }
  if (auto refusal = UnsupportedHeader(r)) return *refusal;
  call.conditions = ParseConditions(r);

  // The container.
  if (call.ref.name.empty()) {
    const bool read = r.method == "GET" || r.method == "HEAD";
    if (comp == "list" && r.method == "GET") {
      call.op = Op::kList;
      call.permission = 'l';
      call.prefix = r.Query("prefix");
      call.delimiter = r.Query("delimiter");
      call.marker = r.Query("marker");
      if (r.query.count("maxresults")) {
        if (!absl::SimpleAtoi(r.Query("maxresults"), &call.max_results) || call.max_results < 1) {
          return BlobRefusal{400, "OutOfRangeQueryParameterValue",
                             "maxresults must be a number from 1 to 5000"};
        }
        call.max_results = std::min(call.max_results, 5000);
      }
      for (absl::string_view what : absl::StrSplit(r.Query("include"), ',', absl::SkipEmpty())) {
        if (what == "metadata") {
          call.include_metadata = true;
        } else if (what == "uncommittedblobs") {
          return BlobRefusal{400, "UnsupportedQueryParameter",
                             "include=uncommittedblobs is not supported: list a blob's staged blocks with Get Block "
                             "List"};
        }
        // Others (snapshots, versions, deleted, tags, copy, ...) add
        // nothing here: the listener keeps none of them.
      }
      return call;
    }
    if (restype == "container" && comp.empty() && read) {
      call.op = Op::kContainerProperties;
      call.permission = 0;
      return call;
    }
    if (restype == "container" || comp == "list") {
      return NotImplemented(absl::StrCat(
          r.method, " of a container", comp.empty() ? "" : absl::StrCat(" with comp=", comp),
          " (containers are created, deleted and opened to the public through Switchboard's MediaService)"));
    }
    return BlobRefusal{400, "InvalidQueryParameterValue",
                       "a container URL needs ?restype=container (Get Container Properties) or "
                       "?restype=container&comp=list (List Blobs)"};
  }

  // A blob.
  if (auto s = blob::ValidateBlobName(call.ref.name, "blob"); !s.ok()) {
    return BlobRefusal{400, "InvalidResourceName", std::string(s.message())};
  }
  for (const char* q : {"snapshot", "versionid", "versionId"}) {
    if (r.query.count(q)) {
      return BlobRefusal{400, "UnsupportedQueryParameter",
                         absl::StrCat("query parameter ", q,
                                      " is not supported: the local blob listener keeps no snapshots or versions")};
    }
  }
  if (!comp.empty() && !AzureKnowsComp(comp)) {
    return BlobRefusal{400, "InvalidQueryParameterValue", absl::StrCat("comp=", comp, " is not a Blob operation")};
  }
  const bool has_copy_source = r.headers.count("x-ms-copy-source") > 0;
  if (r.method == "GET" || r.method == "HEAD") {
    if (comp.empty()) {
      call.op = Op::kRead;
    } else if (comp == "metadata") {
      call.op = Op::kGetMetadata;
    } else if (comp == "blocklist" && r.method == "GET") {
      call.op = Op::kGetBlockList;
      const std::string& type = r.Query("blocklisttype");
      if (type.empty() || type == "committed") call.list_type = BlobCall::BlockListType::kCommitted;
      else if (type == "uncommitted") call.list_type = BlobCall::BlockListType::kUncommitted;
      else if (type == "all") call.list_type = BlobCall::BlockListType::kAll;
      else {
        return BlobRefusal{400, "InvalidQueryParameterValue",
                           "blocklisttype must be committed, uncommitted or all"};
      }
    } else {
      return NotImplemented(absl::StrCat(r.method, " with comp=", comp));
    }
    return call;
  }
  if (r.method == "DELETE") {
    if (!comp.empty()) return NotImplemented(absl::StrCat("DELETE with comp=", comp));
    call.op = Op::kDelete;
    call.permission = 'd';
    return call;
  }

  // PUT.
  call.permission = 'w';
  auto length = ContentLength(r);
  if (length.ok()) call.content_length = *length;
  if (comp == "block") {
    if (has_copy_source) return NotImplemented("Put Block From URL (x-ms-copy-source with comp=block)");
    call.op = Op::kPutBlock;
    const std::string& id = r.Query("blockid");
    if (id.empty()) {
      return BlobRefusal{400, "MissingRequiredQueryParameter", "Put Block needs a blockid (base64, same length "
                                                               "for every block of the blob)"};
    }
    if (!absl::Base64Unescape(id, &call.block_id) || call.block_id.empty() ||
        call.block_id.size() > blob::kMaxBlockIdBytes) {
      return BlobRefusal{400, "InvalidQueryParameterValue",
                         "blockid must be base64 of 1 to 64 bytes, the same length for every block of the blob"};
    }
  } else if (comp == "blocklist") {
    call.op = Op::kPutBlockList;
  } else if (comp == "metadata") {
    call.op = Op::kSetMetadata;
    return call;
  } else if (comp == "properties") {
    call.op = Op::kSetProperties;
    return call;
  } else if (comp == "tier") {
    call.op = Op::kSetTier;
    auto tier = blob::ParseTier(r.Header("x-ms-access-tier"));
    if (!tier) {
      return BlobRefusal{400, "InvalidHeaderValue", "x-ms-access-tier must be Hot, Cool, Cold or Archive"};
    }
    call.tier = *tier;
    const std::string& priority = r.Header("x-ms-rehydrate-priority");
    if (priority == "High") call.rehydrate = blob::Rehydrate::kHigh;
    else if (!priority.empty() && priority != "Standard") {
      return BlobRefusal{400, "InvalidHeaderValue", "x-ms-rehydrate-priority must be Standard or High"};
    }
    return call;
  } else if (comp == "copy") {
    if (absl::AsciiStrToLower(r.Header("x-ms-copy-action")) != "abort") {
      return BlobRefusal{400, "MissingRequiredHeader", "comp=copy needs x-ms-copy-action: abort"};
    }
    call.op = Op::kAbortCopy;
    return call;
  } else if (!comp.empty()) {
    return NotImplemented(absl::StrCat("PUT with comp=", comp));
  } else if (has_copy_source) {
    call.copy_source = r.Header("x-ms-copy-source");
    if (r.headers.count("x-ms-blob-type")) {
      if (r.Header("x-ms-blob-type") != "BlockBlob") {
        return BlobRefusal{400, "UnsupportedHeader", "x-ms-blob-type must be BlockBlob: page and append blobs are "
                                                     "not supported by the local blob listener"};
      }
      call.op = Op::kPutFromUrl;
    } else {
      call.op = Op::kCopy;
    }
    if (call.content_length > 0) {
      return BlobRefusal{400, "InvalidHeaderValue", "a copy (x-ms-copy-source) has no body: Content-Length must be 0"};
    }
    return call;
  } else {
    call.op = Op::kPut;
    if (!r.headers.count("x-ms-blob-type")) {
      return BlobRefusal{400, "MissingRequiredHeader", "Put Blob needs x-ms-blob-type: BlockBlob"};
    }
    if (r.Header("x-ms-blob-type") != "BlockBlob") {
      return BlobRefusal{400, "UnsupportedHeader", "x-ms-blob-type must be BlockBlob: page and append blobs are not "
                                                   "supported by the local blob listener"};
    }
  }
  if (!length.ok()) {
    return BlobRefusal{411, "MissingContentLengthHeader", absl::StrCat("this PUT needs ", length.status().message())};
  }
  const int64_t limit = call.op == Op::kPut         ? blob::kMaxPutBlobBytes
                        : call.op == Op::kPutBlock ? blob::kMaxBlockBytes
                                                   : int64_t{8} << 20;  // a block list of 50,000 ids fits
  if (call.content_length > limit) {
    return BlobRefusal{413, "RequestBodyTooLarge",
                       absl::StrCat("the body is larger than the limit of ", limit, " bytes for this operation",
                                    call.op == Op::kPut ? "; upload it in blocks (Put Block, Put Block List)" : "")};
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

blob::PutOptions PutOptionsFromRequest(const httpcore::Request& r, bool blob_headers_only) {
  blob::PutOptions o;
  auto pick = [&](const char* blob_header, const char* plain_header) -> std::string {
    if (r.headers.count(blob_header)) return r.Header(blob_header);
    if (!blob_headers_only && plain_header != nullptr) return r.Header(plain_header);
    return "";
  };
  o.content_type = pick("x-ms-blob-content-type", "content-type");
  if (o.content_type.empty()) o.content_type = "application/octet-stream";
  o.content_encoding = pick("x-ms-blob-content-encoding", "content-encoding");
  o.content_language = pick("x-ms-blob-content-language", "content-language");
  o.content_disposition = pick("x-ms-blob-content-disposition", nullptr);
  o.cache_control = pick("x-ms-blob-cache-control", "cache-control");
  o.content_md5 = pick("x-ms-blob-content-md5", nullptr);
  o.client_request_id = r.Header("x-ms-client-request-id");
  for (const auto& [k, v] : r.headers) {
    if (absl::StartsWith(k, "x-ms-meta-")) o.metadata[k.substr(10)] = v;
  }
  return o;
}

Headers BlobHeaders(const blob::BlobProperties& p, bool whole) {
  Headers h = {{"Content-Type", p.content_type},
               {"ETag", p.etag},
               {"Last-Modified", HttpDate(p.last_modified_us)},
               {"Accept-Ranges", "bytes"},
               {"x-ms-blob-type", "BlockBlob"},
               {"x-ms-access-tier", blob::TierName(p.tier)},
               {"x-ms-lease-status", "unlocked"},
               {"x-ms-lease-state", "available"},
               {"x-ms-server-encrypted", "false"}};
  auto add = [&](const char* name, const std::string& v) {
    if (!v.empty()) h.emplace_back(name, v);
  };
  add("Content-Encoding", p.content_encoding);
  add("Content-Language", p.content_language);
  add("Content-Disposition", p.content_disposition);
  add("Cache-Control", p.cache_control);
  add(whole ? "Content-MD5" : "x-ms-blob-content-md5", p.content_md5);
  if (p.rehydrating) h.emplace_back("x-ms-archive-status", "rehydrate-pending-to-hot");
  for (const auto& [k, v] : p.metadata) h.emplace_back(absl::StrCat("x-ms-meta-", k), v);
  return h;
}

absl::StatusOr<std::vector<blob::BlockListEntry>> ParseBlockListXml(absl::string_view xml) {
  auto bad = [](absl::string_view why) {
    return blob::WithAzureCode(
        absl::InvalidArgumentError(absl::StrCat("the block list is not valid XML: ", why,
                                                " (send <BlockList><Latest>base64 id</Latest>...</BlockList>)")),
        "InvalidXmlDocument");
  };
  std::vector<blob::BlockListEntry> out;
  size_t i = 0;
  auto skip_space = [&] {
    while (i < xml.size() && absl::ascii_isspace(static_cast<unsigned char>(xml[i]))) ++i;
  };
  // Prolog and the opening tag.
  skip_space();
  if (absl::StartsWith(xml.substr(i), "\xEF\xBB\xBF")) i += 3;
  skip_space();
  if (absl::StartsWith(xml.substr(i), "<?")) {
    size_t end = xml.find("?>", i);
    if (end == absl::string_view::npos) return bad("an unterminated <?xml ...?>");
    i = end + 2;
  }
  skip_space();
  if (!absl::StartsWith(xml.substr(i), "<BlockList>")) return bad("no <BlockList> element");
  i += 11;
  while (true) {
    skip_space();
    if (absl::StartsWith(xml.substr(i), "</BlockList>")) {
      i += 12;
      skip_space();
      if (i != xml.size()) return bad("text after </BlockList>");
      return out;
    }
    if (i >= xml.size() || xml[i] != '<') return bad("expected <Latest>, <Committed>, <Uncommitted> or </BlockList>");
    size_t close = xml.find('>', i);
    if (close == absl::string_view::npos) return bad("an unterminated tag");
    absl::string_view tag = xml.substr(i + 1, close - i - 1);
    blob::BlockListEntry e;
    if (tag == "Latest") e.kind = blob::BlockListEntry::Kind::kLatest;
    else if (tag == "Committed") e.kind = blob::BlockListEntry::Kind::kCommitted;
    else if (tag == "Uncommitted") e.kind = blob::BlockListEntry::Kind::kUncommitted;
    else return bad(absl::StrCat("unexpected element <", tag.substr(0, 40), ">"));
    std::string end_tag = absl::StrCat("</", tag, ">");
    size_t end = xml.find(end_tag, close + 1);
    if (end == absl::string_view::npos) return bad(absl::StrCat("<", tag, "> is not closed"));
    absl::string_view text = absl::StripAsciiWhitespace(xml.substr(close + 1, end - close - 1));
    if (!absl::Base64Unescape(text, &e.id) || e.id.empty() || e.id.size() > blob::kMaxBlockIdBytes) {
      return blob::WithAzureCode(
          absl::InvalidArgumentError(absl::StrCat("block id '", text.substr(0, 100),
                                                  "' is not base64 of 1 to 64 bytes")),
          "InvalidBlockList");
    }
    if (out.size() >= blob::kMaxCommittedBlocks) {
      return blob::WithAzureCode(absl::InvalidArgumentError(absl::StrCat(
                                     "a blob has at most ", blob::kMaxCommittedBlocks, " committed blocks")),
                                 "InvalidBlockList");
    }
    out.push_back(std::move(e));
    i = end + end_tag.size();
  }
}

std::string BlockListXml(const blob::BlockList& list, BlobCall::BlockListType type) {
  auto blocks = [](const std::vector<blob::BlockInfo>& v) {
    std::string out;
    for (const auto& b : v) {
      absl::StrAppend(&out, "<Block><Name>", absl::Base64Escape(b.id), "</Name><Size>", b.size, "</Size></Block>");
    }
    return out;
  };
  std::string xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>";
  if (type != BlobCall::BlockListType::kUncommitted) {
    absl::StrAppend(&xml, "<CommittedBlocks>", blocks(list.committed), "</CommittedBlocks>");
  }
  if (type != BlobCall::BlockListType::kCommitted) {
    absl::StrAppend(&xml, "<UncommittedBlocks>", blocks(list.uncommitted), "</UncommittedBlocks>");
  }
  absl::StrAppend(&xml, "</BlockList>");
  return xml;
}

ListingPage PageBlobs(const std::vector<blob::BlobProperties>& blobs, const BlobCall& call) {
  ListingPage page;
  size_t count = 0;
  std::string last_prefix;
  for (size_t i = 0; i < blobs.size(); ++i) {
    const std::string& name = blobs[i].name;
    if (!absl::StartsWith(name, call.prefix) || name < call.marker) continue;
    std::string group;
    if (!call.delimiter.empty()) {
      size_t at = name.find(call.delimiter, call.prefix.size());
      if (at != std::string::npos) group = name.substr(0, at + call.delimiter.size());
    }
    if (!group.empty() && group == last_prefix) continue;  // already listed
    if (count == static_cast<size_t>(call.max_results)) {
      page.next_marker = name;
      break;
    }
    ++count;
    if (group.empty()) {
      page.entries.emplace_back(i);
    } else {
      last_prefix = group;
      page.entries.emplace_back(group);
    }
  }
  return page;
}

std::string ListBlobsXml(const std::vector<blob::BlobProperties>& blobs, const ListingPage& page,
                         const BlobCall& call, absl::string_view service_endpoint) {
  std::string xml = absl::StrCat("<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"",
                                 XmlEscape(service_endpoint), "\" ContainerName=\"", XmlEscape(call.ref.container),
                                 "\">");
  if (!call.prefix.empty()) absl::StrAppend(&xml, "<Prefix>", XmlEscape(call.prefix), "</Prefix>");
  if (!call.marker.empty()) absl::StrAppend(&xml, "<Marker>", XmlEscape(call.marker), "</Marker>");
  absl::StrAppend(&xml, "<MaxResults>", call.max_results, "</MaxResults>");
  if (!call.delimiter.empty()) absl::StrAppend(&xml, "<Delimiter>", XmlEscape(call.delimiter), "</Delimiter>");
  absl::StrAppend(&xml, "<Blobs>");
  for (const auto& entry : page.entries) {
    if (const std::string* prefix = std::get_if<std::string>(&entry)) {
      absl::StrAppend(&xml, "<BlobPrefix><Name>", XmlEscape(*prefix), "</Name></BlobPrefix>");
      continue;
    }
    const blob::BlobProperties& b = blobs[std::get<size_t>(entry)];
    absl::StrAppend(&xml, "<Blob><Name>", XmlEscape(b.name), "</Name><Properties><Last-Modified>",
                    HttpDate(b.last_modified_us), "</Last-Modified><Etag>", XmlEscape(b.etag),
                    "</Etag><Content-Length>", b.size, "</Content-Length><Content-Type>", XmlEscape(b.content_type),
                    "</Content-Type><Content-Encoding>", XmlEscape(b.content_encoding),
                    "</Content-Encoding><Content-Language>", XmlEscape(b.content_language),
                    "</Content-Language><Content-MD5>", XmlEscape(b.content_md5), "</Content-MD5><Cache-Control>",
                    XmlEscape(b.cache_control), "</Cache-Control><Content-Disposition>",
                    XmlEscape(b.content_disposition),
                    "</Content-Disposition><BlobType>BlockBlob</BlobType><AccessTier>", blob::TierName(b.tier),
                    "</AccessTier>", b.rehydrating ? "<ArchiveStatus>rehydrate-pending-to-hot</ArchiveStatus>" : "",
                    "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
                    "<ServerEncrypted>false</ServerEncrypted></Properties>");
    if (call.include_metadata && !b.metadata.empty()) {  // Azure and Azurite leave an empty one out
      absl::StrAppend(&xml, "<Metadata>");
      for (const auto& [k, v] : b.metadata) absl::StrAppend(&xml, "<", k, ">", XmlEscape(v), "</", k, ">");
      absl::StrAppend(&xml, "</Metadata>");
    }
    absl::StrAppend(&xml, "</Blob>");
  }
  absl::StrAppend(&xml, "</Blobs><NextMarker>", XmlEscape(page.next_marker), "</NextMarker></EnumerationResults>");
  return xml;
}

BlobRefusal RefusalFromStatus(const absl::Status& s) {
  std::string code = blob::AzureCode(s);
  std::string message(s.message());
  struct Known {
    const char* code;
    int status;
  };
  static constexpr Known kKnown[] = {
      {"BlobNotFound", 404},          {"ContainerNotFound", 404},         {"InvalidBlockList", 400},
      {"InvalidBlobOrBlock", 400},    {"BlockCountExceedsLimit", 409},    {"RequestBodyTooLarge", 413},
      {"InvalidQueryParameterValue", 400}, {"BlobArchived", 409},         {"ConditionNotMet", 412},
      {"SourceConditionNotMet", 412}, {"BlobAlreadyExists", 409},         {"Md5Mismatch", 400},
      {"Crc64Mismatch", 400},         {"InvalidXmlDocument", 400},        {"CannotVerifyCopySource", 404},
      {"InvalidHeaderValue", 400},    {"LeaseNotPresentWithBlobOperation", 412}};
  // A status made by StatusFromRefusal: its HTTP status rides along.
  int status = 0;
  auto p = s.GetPayload("type.switchboard/azure-http-status");
  if (!code.empty() && p && absl::SimpleAtoi(std::string(*p), &status)) return BlobRefusal{status, code, message};
  for (const Known& k : kKnown) {
    if (code == k.code) return BlobRefusal{k.status, code, message};
  }
  switch (s.code()) {
    case absl::StatusCode::kNotFound: return BlobRefusal{404, "ResourceNotFound", message};
    case absl::StatusCode::kInvalidArgument: return BlobRefusal{400, "InvalidInput", message};
    case absl::StatusCode::kFailedPrecondition: return BlobRefusal{409, "OperationNotAllowedInCurrentState", message};
    case absl::StatusCode::kDeadlineExceeded: return BlobRefusal{400, "InvalidInput", message};
    default: return BlobRefusal{500, "InternalError", message};
  }
}

absl::Status StatusFromRefusal(const BlobRefusal& refusal) {
  absl::Status s = blob::WithAzureCode(absl::FailedPreconditionError(refusal.message), refusal.code);
  s.SetPayload("type.switchboard/azure-http-status", absl::Cord(absl::StrCat(refusal.status)));
  return s;
}

}  // namespace switchboard::http
