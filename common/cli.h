#pragma once
// A small command-line flag parser shared by every binary, so that each one
// answers --help the same way: `--name=value` or `--name value`, booleans as
// `--name` / `--name=false`, and an optional environment variable fallback.

#include "absl/strings/string_view.h"
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace switchboard {

class Cli {
 public:
  // `usage` is printed first by --help, e.g. "sbctl [flags] COMMAND ...".
  Cli(std::string program, std::string usage);

  // Declares a flag. `env` (may be empty) is read when the flag is absent.
  void AddString(std::string name, std::string default_value, std::string help, std::string env = "");
  void AddInt(std::string name, long long default_value, std::string help, std::string env = "");
  void AddBool(std::string name, bool default_value, std::string help);

  // Parses argv. Non-flag arguments are kept in order as positionals; "--"
  // ends flag parsing. Unknown flags are INVALID_ARGUMENT naming the flag.
  // Returns false (and the caller should exit 0) when --help was given, after
  // printing the help text to stdout.
  absl::StatusOr<bool> Parse(int argc, char** argv);

  std::string GetString(absl::string_view name) const;
  long long GetInt(absl::string_view name) const;
  bool GetBool(absl::string_view name) const;
  // True when the flag was given on the command line or through its env var.
  bool IsSet(absl::string_view name) const;

  const std::vector<std::string>& positionals() const { return positionals_; }
  std::string HelpText() const;
  // Extra text printed after the flag list by --help.
  void SetEpilog(std::string text) { epilog_ = std::move(text); }

 private:
  enum class Kind { kString, kInt, kBool };
  struct Flag {
    Kind kind;
    std::string value;
    std::string default_value;
    std::string help;
    std::string env;
    bool set = false;
  };
  const Flag* Find(absl::string_view name) const;

  std::string program_;
  std::string usage_;
  std::string epilog_;
  std::vector<std::string> order_;
  std::map<std::string, Flag> flags_;
  std::vector<std::string> positionals_;
};

}  // namespace switchboard
