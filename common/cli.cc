#include "common/cli.h"

#include <cstdlib>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace switchboard {

Cli::Cli(std::string program, std::string usage)
    : program_(std::move(program)), usage_(std::move(usage)) {}

void Cli::AddString(std::string name, std::string default_value, std::string help, std::string env) {
  order_.push_back(name);
  flags_[name] = Flag{Kind::kString, default_value, default_value, std::move(help), std::move(env)};
}

void Cli::AddInt(std::string name, long long default_value, std::string help, std::string env) {
  order_.push_back(name);
  std::string v = std::to_string(default_value);
  flags_[name] = Flag{Kind::kInt, v, v, std::move(help), std::move(env)};
}

void Cli::AddBool(std::string name, bool default_value, std::string help) {
  order_.push_back(name);
  std::string v = default_value ? "true" : "false";
  flags_[name] = Flag{Kind::kBool, v, v, std::move(help), ""};
}

absl::StatusOr<bool> Cli::Parse(int argc, char** argv) {
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (flags_done || arg.size() < 2 || arg.substr(0, 2) != "--") {
      if (!flags_done && arg.size() > 1 && arg[0] == '-' && arg != "-") {
        return absl::InvalidArgumentError(absl::StrCat(
            "unknown flag '", arg, "': flags are written --name=value; see ", program_, " --help"));
      }
      positionals_.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    absl::string_view body = arg.substr(2);
    std::string name(body.substr(0, body.find('=')));
    bool has_value = body.find('=') != absl::string_view::npos;
    if (name == "help" || name == "h") {
      std::cout << HelpText();
      return false;
    }
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, "; see ", program_, " --help for the flags"));
    }
    Flag& f = it->second;
    std::string value;
    if (has_value) {
      value = std::string(body.substr(body.find('=') + 1));
    } else if (f.kind == Kind::kBool) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
    }
    if (f.kind == Kind::kInt) {
      long long n;
      if (!absl::SimpleAtoi(value, &n)) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", name, " must be an integer, got '", value, "'"));
      }
    }
    if (f.kind == Kind::kBool && value != "true" && value != "false" && value != "1" && value != "0") {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " must be true or false, got '", value, "'"));
    }
    if (f.kind == Kind::kBool) value = (value == "true" || value == "1") ? "true" : "false";
    f.value = value;
    f.set = true;
  }
  for (auto& [name, f] : flags_) {
    if (f.set || f.env.empty()) continue;
    if (const char* e = std::getenv(f.env.c_str()); e != nullptr && *e != '\0') {
      f.value = e;
      f.set = true;
    }
  }
  return true;
}

const Cli::Flag* Cli::Find(absl::string_view name) const {
  auto it = flags_.find(std::string(name));
  if (it == flags_.end()) {
    std::cerr << "internal error: flag --" << name << " was never declared\n";
    std::abort();  // a programming error, not input
  }
  return &it->second;
}

std::string Cli::GetString(absl::string_view name) const { return Find(name)->value; }

long long Cli::GetInt(absl::string_view name) const {
  long long n = 0;
  (void)absl::SimpleAtoi(Find(name)->value, &n);
  return n;
}

bool Cli::GetBool(absl::string_view name) const { return Find(name)->value == "true"; }

bool Cli::IsSet(absl::string_view name) const { return Find(name)->set; }

std::string Cli::HelpText() const {
  std::ostringstream out;
  out << "Usage: " << usage_ << "\n\nFlags:\n";
  for (const auto& name : order_) {
    const Flag& f = flags_.at(name);
    out << "  --" << name;
    if (f.kind != Kind::kBool) out << "=" << (f.kind == Kind::kInt ? "N" : "VALUE");
    out << "\n      " << f.help;
    if (!f.default_value.empty()) out << " (default: " << f.default_value << ")";
    if (!f.env.empty()) out << " [env " << f.env << "]";
    out << "\n";
  }
  out << "  --help\n      Print this help and exit.\n";
  if (!epilog_.empty()) out << "\n" << epilog_ << "\n";
  return out.str();
}

}  // namespace switchboard
