#include "common/azure/sas.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/azure/crypto.h"
#include "common/azure/url.h"

namespace switchboard::azure {
namespace {

std::string Get(const std::map<std::string, std::string>& m, const char* k) {
  auto it = m.find(k);
  return it == m.end() ? std::string() : it->second;
}

}  // namespace

std::string BlobSasStringToSign(absl::string_view account, absl::string_view container, absl::string_view blob,
                                const std::map<std::string, std::string>& p) {
  std::string sr = Get(p, "sr");
  std::string canonical = absl::StrCat("/blob/", account, "/", container);
  if (sr == "b" || sr == "bs" || sr == "bv") absl::StrAppend(&canonical, "/", blob);
  std::vector<std::string> parts = {Get(p, "sp"),  Get(p, "st"),  Get(p, "se"), canonical,
                                    Get(p, "si"),  Get(p, "sip"), Get(p, "spr"), Get(p, "sv"),
                                    sr,            Get(p, "snapshot")};
  if (Get(p, "sv") >= "2020-12-06") parts.push_back(Get(p, "ses"));
  for (const char* k : {"rscc", "rscd", "rsce", "rscl", "rsct"}) parts.push_back(Get(p, k));
  return absl::StrJoin(parts, "\n");
}

absl::StatusOr<std::string> CreateBlobSas(absl::string_view account, absl::string_view container,
                                          absl::string_view blob, absl::string_view key_b64,
                                          const BlobSasValues& v) {
  std::map<std::string, std::string> p;
  p["sv"] = v.version;
  if (v.start != absl::InfinitePast()) p["st"] = Iso8601(v.start);
  p["se"] = Iso8601(v.expiry);
  p["sr"] = v.resource;
  p["sp"] = v.permissions;
  if (!v.protocol.empty()) p["spr"] = v.protocol;
  auto sig = SignBase64(key_b64, BlobSasStringToSign(account, container, blob, p));
  if (!sig.ok()) return sig.status();
  p["sig"] = *sig;
  return BuildQuery(p);
}

bool HasSas(const std::map<std::string, std::string>& query) { return query.count("sig") > 0; }

absl::Status VerifyBlobSas(const std::map<std::string, std::string>& q, absl::string_view account,
                           absl::string_view container, absl::string_view blob, char permission,
                           const std::vector<std::string>& keys_b64, absl::Time now) {
  std::string sig = Get(q, "sig"), sv = Get(q, "sv"), sr = Get(q, "sr"), sp = Get(q, "sp");
  if (sig.empty() || sv.empty() || sr.empty()) {
    return absl::PermissionDeniedError("the SAS lacks sig, sv or sr; ask for a new SAS URL");
  }
  if (sv < "2018-11-09") return absl::PermissionDeniedError(absl::StrCat("SAS version ", sv, " is not supported"));
  if (sr != "b" && sr != "c") return absl::PermissionDeniedError(absl::StrCat("SAS resource sr=", sr, " is not supported"));
  if (sr == "b" && blob.empty()) return absl::PermissionDeniedError("a blob SAS (sr=b) cannot list a container");
  if (!Get(q, "si").empty()) return absl::PermissionDeniedError("stored access policies (si) are not supported");
  bool matched = false;
  std::string to_sign = BlobSasStringToSign(account, container, blob, q);
  for (const auto& key : keys_b64) {
    auto want = SignBase64(key, to_sign);
    if (want.ok() && ConstantTimeEquals(*want, sig)) matched = true;
  }
  if (!matched) {
    return absl::PermissionDeniedError(
        "the SAS signature does not match (tampered, for another resource, or signed with a key that has since "
        "been rolled); ask for a new SAS URL");
  }
  absl::Time expiry, start;
  if (!ParseIso8601(Get(q, "se"), &expiry)) return absl::PermissionDeniedError("the SAS expiry (se) is not a time");
  if (now > expiry) return absl::PermissionDeniedError(absl::StrCat("the SAS expired at ", Get(q, "se")));
  if (!Get(q, "st").empty()) {
    if (!ParseIso8601(Get(q, "st"), &start)) return absl::PermissionDeniedError("the SAS start (st) is not a time");
    if (now < start) return absl::PermissionDeniedError(absl::StrCat("the SAS is valid only from ", Get(q, "st")));
  }
  if (sp.find(permission) == std::string::npos) {
    return absl::PermissionDeniedError(
        absl::StrCat("the SAS grants '", sp, "' but this request needs '", std::string(1, permission), "'"));
  }
  return absl::OkStatus();
}

}  // namespace switchboard::azure
