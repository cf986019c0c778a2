// Token files (common/auth.h) and the bearer values checked against them.
// The input is "<token file JSON>\n--\n<authorization value>".

#include "common/auth.h"
#include "tools/fuzz/fuzz_check.h"

using namespace switchboard;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view in = fuzz::Input(data, size);
  auto sep = in.find("\n--\n");
  absl::string_view file = in.substr(0, sep);
  absl::string_view header = sep == absl::string_view::npos ? "" : in.substr(sep + 4);
  auto auth = TokenAuthenticator::FromJson(file);
  if (!auth.ok()) {
    fuzz::CheckError(auth.status(), absl::StatusCode::kInvalidArgument);
    return 0;
  }
  SB_FUZZ_CHECK((*auth)->requires_tokens(), "a token file that requires no token");
  for (Role role : {Role::kReader, Role::kOperator, Role::kAdmin}) {
    auto p = (*auth)->Authorize(header, role);
    if (p.ok()) {
      SB_FUZZ_CHECK(p->role >= role, p->name);
      SB_FUZZ_CHECK(!p->local, "a token file's principal is not the local admin");
    } else {
      // An error never repeats the secret it was given.
      absl::string_view token = header.substr(std::min(header.size(), size_t{7}));
      if (token.size() >= 12) SB_FUZZ_CHECK(p.status().message().find(token) == absl::string_view::npos, "echoed");
      SB_FUZZ_CHECK(p.status().code() == absl::StatusCode::kUnauthenticated ||
                        p.status().code() == absl::StatusCode::kPermissionDenied,
                    p.status().ToString());
    }
    SB_FUZZ_CHECK(!(*auth)->Authorize(std::nullopt, role).ok(), "no token accepted");
  }
  return 0;
}
