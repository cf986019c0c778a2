// SAS query strings as the local blob listener checks them (common/azure/
// sas.h, url.h). The input is "<blob name>\n<query string>": the query is
// verified against a fixed key, and a SAS made here for the name must
// verify for that name (what CreateSasUrl hands out, the listener accepts).

#include "absl/time/time.h"
#include "common/azure/sas.h"
#include "common/azure/url.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;

namespace {
// base64 of 32 bytes, like the local store's account keys.
constexpr char kKey[] = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view in = fuzz::Input(data, size);
  absl::string_view name = in.substr(0, in.find('\n'));
  absl::string_view query = in.size() > name.size() ? in.substr(name.size() + 1) : in;
  const absl::Time now = absl::FromUnixSeconds(1700000000);

  std::map<std::string, std::string> q = azure::ParseQuery(query);
  for (char permission : {'r', 'w', 'd', 'l'}) {
    absl::Status s = azure::VerifyBlobSas(q, "devstoreaccount1", "media", name, permission, {kKey}, now);
    if (!s.ok()) SB_FUZZ_CHECK(s.code() == absl::StatusCode::kPermissionDenied, s.ToString());
  }
  (void)azure::HasSas(q);
  // Building a query and parsing it back gives the same parameters.
  SB_FUZZ_CHECK(azure::ParseQuery(azure::BuildQuery(q)) == q, fuzz::Printable(query));
  SB_FUZZ_CHECK(azure::PercentDecode(azure::PercentEncode(in)) == in, fuzz::Printable(in));
  SB_FUZZ_CHECK(azure::PercentDecode(azure::PercentEncode(in, true)) == in, fuzz::Printable(in));
  absl::Time t;
  if (azure::ParseIso8601(query, &t)) (void)azure::Iso8601(t);
  if (azure::ParseRfc1123(query, &t)) (void)azure::Rfc1123(t);

  // A SAS made for the name (the container's, for an empty name) verifies
  // for it.
  azure::BlobSasValues values;
  values.permissions = "r";
  values.resource = name.empty() ? "c" : "b";
  values.expiry = now + absl::Hours(1);
  auto sas = azure::CreateBlobSas("devstoreaccount1", "media", name, kKey, values);
  if (sas.ok()) {
    absl::Status s =
        azure::VerifyBlobSas(azure::ParseQuery(*sas), "devstoreaccount1", "media", name, 'r', {kKey}, now);
    SB_FUZZ_CHECK(s.ok(), s.ToString() + " for " + fuzz::Printable(name));
  }
  return 0;
}
