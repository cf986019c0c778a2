#include "server/media/blob_router.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "common/azure/url.h"
#include "common/status.h"
#include "server/blob/blob_names.h"

namespace switchboard::media {

namespace {
constexpr absl::string_view kAzureSuffix = ".blob.core.windows.net";
}

void BlobRouter::Add(blob::BlobStore* store, std::vector<std::string> hosts) {
  entries_.push_back(Entry{store, std::move(hosts)});
}

std::vector<blob::BlobStore*> BlobRouter::stores() const {
  std::vector<blob::BlobStore*> out;
  for (const auto& e : entries_) out.push_back(e.store);
  return out;
}

absl::StatusOr<blob::BlobStore*> BlobRouter::StoreFor(absl::string_view account, absl::string_view field) const {
  for (const auto& e : entries_) {
    if (e.store->HasAccount(account)) return e.store;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": storage account '", account, "' is not configured here; use one of the accounts in "
                   "the media config (local_accounts or azure_accounts)"));
}

absl::StatusOr<ResolvedBlob> BlobRouter::ResolveBlob(absl::string_view uri, absl::string_view field) const {
  return Resolve(uri, field, false);
}

absl::StatusOr<ResolvedBlob> BlobRouter::ResolveContainer(absl::string_view uri, absl::string_view field) const {
  return Resolve(uri, field, true);
}

absl::StatusOr<ResolvedBlob> BlobRouter::Resolve(absl::string_view uri, absl::string_view field,
                                                 bool container) const {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " '", uri, "' ", why, "; write it as https://<account>.blob.core.windows.net/<container>",
        container ? "/" : "/<blob>"));
  };
  if (uri.empty()) return bad("is empty");
  absl::string_view rest = uri;
  if (!absl::ConsumePrefix(&rest, "https://") && !absl::ConsumePrefix(&rest, "http://")) {
    return bad("is not an http(s) URL");
  }
  rest = rest.substr(0, rest.find_first_of("?#"));
  auto slash = rest.find('/');
  std::string host = absl::AsciiStrToLower(rest.substr(0, slash));
  absl::string_view path = slash == absl::string_view::npos ? "" : rest.substr(slash + 1);
  std::string account;
  if (absl::EndsWith(host, kAzureSuffix)) {
    account = host.substr(0, host.size() - kAzureSuffix.size());
  } else {
    bool known = false;
    std::string local = local_host_ ? local_host_() : "";
    if (!local.empty()) {
      const size_t colon = local.rfind(':');
      std::string port = colon == std::string::npos ? "" : local.substr(colon);  // ":8081", or none
      known = host == local || host == absl::StrCat("localhost", port) || host == absl::StrCat("127.0.0.1", port);
    }
    for (const auto& e : entries_) {
      for (const auto& h : e.hosts) known = known || h == host;
    }
    if (!known) return bad(absl::StrCat("names host '", host, "', which is not a storage endpoint configured here"));
    auto s = path.find('/');
    account = std::string(path.substr(0, s));
    path = s == absl::string_view::npos ? "" : path.substr(s + 1);
  }
  ResolvedBlob out;
  ASSIGN_OR_RETURN(out.store, StoreFor(account, field));
  out.ref.account = account;
  auto s = path.find('/');
  out.ref.container = azure::PercentDecode(path.substr(0, s));
  std::string name = s == absl::string_view::npos ? "" : azure::PercentDecode(path.substr(s + 1));
  if (out.ref.container.empty()) return bad("has no container");
  RETURN_IF_ERROR(blob::ValidateContainerName(out.ref.container, field));
  if (container) {
    if (!name.empty()) return bad("names a blob, not a container");
    return out;
  }
  if (name.empty()) return bad("has no blob name");
  RETURN_IF_ERROR(blob::ValidateBlobName(name, field));
  out.ref.name = std::move(name);
  return out;
}

}  // namespace switchboard::media
