#include "server/core/programs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace switchboard::core {
namespace {

// Why `path` cannot be run, or "" when it can.
std::string WhyNotRunnable(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "does not exist";
  if (S_ISDIR(st.st_mode)) return "is a folder, not a program";
  if (!S_ISREG(st.st_mode)) return "is not a regular file";
  if (::access(path.c_str(), X_OK) != 0) return "is not executable";
  return "";
}

}  // namespace

absl::StatusOr<std::string> FindProgram(absl::string_view program) {
  if (program.empty()) return absl::InvalidArgumentError("the program name is empty");
  if (absl::StrContains(program, '/')) {
    std::string path(program);
    std::string why = WhyNotRunnable(path);
    if (why.empty()) return path;
    if (why == "does not exist") return absl::NotFoundError(why);
    return absl::PermissionDeniedError(why);
  }
  const char* env = std::getenv("PATH");
  const std::string search = env != nullptr ? env : "/bin:/usr/bin";
  std::string denied;
  for (absl::string_view dir : absl::StrSplit(search, ':')) {
    std::string path = dir.empty() ? std::string(program) : absl::StrCat(dir, "/", program);
    std::string why = WhyNotRunnable(path);
    if (why.empty()) return path;
    if (why != "does not exist" && denied.empty()) denied = absl::StrCat(path, " ", why);
  }
  if (!denied.empty()) return absl::PermissionDeniedError(absl::StrCat("was found only as ", denied));
  return absl::NotFoundError(absl::StrCat("was not found on PATH (", search, ")"));
}

absl::StatusOr<std::string> CheckProgram(absl::string_view program, absl::string_view config_key,
                                         absl::string_view used_for) {
  auto found = FindProgram(program);
  if (found.ok()) return found;
  return absl::FailedPreconditionError(absl::StrCat("program '", program, "' (", config_key,
                                                    used_for.empty() ? "" : ", ", used_for, ") ",
                                                    found.status().message(), "; install it or set ", config_key));
}

}  // namespace switchboard::core
