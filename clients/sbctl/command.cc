#include "clients/sbctl/command.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "clients/sbctl/watch_hint.h"
#include "common/auth.h"
#include "common/status.h"

namespace switchboard::sbctl {
namespace {

std::vector<std::string> Words(absl::string_view path) { return absl::StrSplit(path, ' ', absl::SkipEmpty()); }

bool StartsWith(const std::vector<std::string>& words, const std::vector<std::string>& prefix) {
  return words.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), words.begin());
}

// Keeps error output to one line whatever the server put in its message.
std::string OneLine(absl::string_view text) {
  return absl::StrReplaceAll(text, {{"\r\n", " "}, {"\n", " "}, {"\r", " "}});
}

// Global flags that take a value, so that the pre-scan for command words can
// skip "--server HOST:PORT".
bool GlobalFlagTakesValue(absl::string_view name) {
  return name == "server" || name == "token" || name == "tls_ca" || name == "http_ca" || name == "timeout";
}

constexpr char kExitCodesText[] =
    "Exit codes: 0 success; 1 the server answered with an error or a check failed;\n"
    "2 usage or local input error; 3 the server could not be reached.";

std::string CommandList(const CommandRegistry& registry, const std::vector<std::string>& prefix) {
  std::vector<const CommandSpec*> commands = registry.Under(prefix);
  size_t width = 0;
  for (const auto* c : commands) width = std::max(width, c->path.size() + 1 + c->args.size());
  std::ostringstream out;
  out << "Commands:\n";
  for (const auto* c : commands) {
    std::string head = c->args.empty() ? c->path : absl::StrCat(c->path, " ", c->args);
    out << "  " << head << std::string(width + 2 - head.size(), ' ') << c->summary << "\n";
  }
  return out.str();
}

int GroupHelp(const CommandRegistry& registry, const std::vector<std::string>& prefix, bool asked, std::ostream& out,
              std::ostream& err) {
  std::string group = absl::StrJoin(prefix, " ");
  std::string text = absl::StrCat("Usage: sbctl ", group.empty() ? "" : group + " ", "COMMAND [args] [flags]\n\n",
                                  CommandList(registry, prefix), "\nRun 'sbctl ", group.empty() ? "" : group + " ",
                                  "COMMAND --help' for a command's flags; 'sbctl --help' for the global flags.\n");
  if (asked) {
    out << text;
    return kExitOk;
  }
  err << "sbctl: " << (group.empty() ? "" : group + ": ") << "missing command\n\n" << text;
  return kExitUsage;
}

std::string TopUsage() {
  return "sbctl [global flags] COMMAND [args] [flags]\n\n"
         "Command-line client of switchboardd, the Switchboard control plane.";
}

std::string TopEpilog(const CommandRegistry& registry) {
  return absl::StrCat(CommandList(registry, {}),
                      "\nRun 'sbctl COMMAND --help' for a command's own flags.\n"
                      "Global flags may come before or after the command; a command's own flags come after it.\n\n",
                      kExitCodesText);
}

}  // namespace

void CommandRegistry::Add(CommandSpec spec) { commands_.push_back(std::move(spec)); }

const CommandSpec* CommandRegistry::Find(const std::vector<std::string>& words) const {
  for (const auto& c : commands_) {
    if (Words(c.path) == words) return &c;
  }
  return nullptr;
}

bool CommandRegistry::IsPrefix(const std::vector<std::string>& words) const {
  for (const auto& c : commands_) {
    if (StartsWith(Words(c.path), words)) return true;
  }
  return false;
}

std::vector<const CommandSpec*> CommandRegistry::Under(const std::vector<std::string>& prefix) const {
  std::vector<const CommandSpec*> out;
  for (const auto& c : commands_) {
    if (StartsWith(Words(c.path), prefix)) out.push_back(&c);
  }
  return out;
}

Invocation::Invocation(const CommandSpec& spec, const Cli& cli, std::vector<std::string> args, std::ostream& out,
                       std::ostream& err)
    : spec_(spec), cli_(cli), args_(std::move(args)), out_(out), err_(err) {}

bool Invocation::json() const { return cli_.GetBool("json"); }

absl::StatusOr<client::Connection*> Invocation::connection() {
  if (connection_ == nullptr) {
    auto options = client::OptionsFromCli(cli_);
    if (!options.ok()) return options.status();
    auto conn = client::Connection::Open(*options);
    if (!conn.ok()) return conn.status();
    connection_ = std::move(*conn);
    const std::string& server = connection_->options().server;
    bool local = IsLoopbackAddress(server) || absl::StartsWith(server, "unix:");
    if (!connection_->options().token.empty() && !connection_->tls() && !local) {
      Note(absl::StrCat("warning: sending the token to ", server,
                        " without TLS; anyone on the network path can read it (use --tls_ca)"));
    }
  }
  return connection_.get();
}

int Invocation::Fail(absl::string_view message) {
  Note(message);
  return kExitError;
}

void Invocation::Note(absl::string_view message) {
  err_ << "sbctl: " << spec_.path << ": " << OneLine(message) << "\n";
}

int Invocation::UsageError(absl::string_view message) {
  err_ << "sbctl: " << spec_.path << ": " << OneLine(message) << " (see 'sbctl " << spec_.path << " --help')\n";
  return kExitUsage;
}

int Invocation::LocalError(const absl::Status& status) {
  err_ << "sbctl: " << spec_.path << ": " << CodeName(status.code()) << ": "
       << OneLine(WithoutResumeAdvice(status.message())) << "\n";
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
      return kExitUsage;
    default:
      return kExitError;
  }
}

int Invocation::RpcError(const grpc::Status& status, absl::string_view hint) {
  absl::Status s = FromGrpcStatus(status);
  std::string message = OneLine(WithoutResumeAdvice(s.message()));
  std::string tail = hint.empty() ? "" : absl::StrCat("; ", hint);
  std::string server = connection_ != nullptr ? connection_->options().server : cli_.GetString("server");
  if (connection_ != nullptr && connection_->IsUnreachable(status)) {
    err_ << "sbctl: " << spec_.path << ": " << CodeName(s.code()) << ": cannot reach switchboardd at " << server << ": "
         << message << " (is the server running? check --server or " << client::kServerEnv << ")" << tail
         << "\n";
    return kExitUnavailable;
  }
  err_ << "sbctl: " << spec_.path << ": " << CodeName(s.code()) << ": " << message << tail << "\n";
  return kExitError;
}

void AddGlobalFlags(Cli& cli) {
  client::AddConnectionFlags(cli);
  cli.AddBool("json", false, "Print JSON (one object per line) instead of text.");
}

namespace {

int Dispatch(const CommandRegistry& registry, int argc, char** argv, std::ostream& out, std::ostream& err,
             std::string* command) {
  // "-h" is the common spelling of --help; Cli only knows the long form.
  std::vector<std::string> arg_strings(argv, argv + argc);
  for (auto& a : arg_strings) {
    if (a == "-h") a = "--help";
  }
  // "sbctl help bus publish" is "sbctl bus publish --help".
  if (arg_strings.size() >= 2 && arg_strings[1] == "help") {
    arg_strings.erase(arg_strings.begin() + 1);
    arg_strings.push_back("--help");
  }

  // Find the command words: the leading positional arguments, skipping
  // global flags (and their values when written "--flag VALUE").
  std::vector<std::string> words;
  bool help = false;
  const CommandSpec* spec = nullptr;
  for (size_t i = 1; i < arg_strings.size() && spec == nullptr; ++i) {
    absl::string_view a = arg_strings[i];
    if (a == "--") break;
    if (absl::StartsWith(a, "--")) {
      absl::string_view name =
          a.substr(2, a.find('=') == absl::string_view::npos ? absl::string_view::npos : a.find('=') - 2);
      if (name == "help") help = true;
      if (a.find('=') == absl::string_view::npos && GlobalFlagTakesValue(name)) ++i;
      continue;
    }
    if (absl::StartsWith(a, "-") && a != "-") continue;  // Cli reports it below
    words.emplace_back(a);
    if (!registry.IsPrefix(words)) break;
    spec = registry.Find(words);
  }

  std::vector<char*> args_c;
  for (auto& a : arg_strings) args_c.push_back(a.data());
  args_c.push_back(nullptr);
  int args_n = static_cast<int>(arg_strings.size());

  if (spec == nullptr) {
    if (words.empty() || registry.IsPrefix(words)) {
      if (words.empty()) {
        // Only global flags: validate them so that "sbctl --bogus" is an
        // error, then show the top-level help.
        Cli cli("sbctl", TopUsage());
        AddGlobalFlags(cli);
        cli.SetEpilog(TopEpilog(registry));
        auto parsed = cli.Parse(args_n, args_c.data());
        if (!parsed.ok()) {
          err << "sbctl: " << parsed.status().message() << "\n";
          return kExitUsage;
        }
        if (!*parsed) return kExitOk;  // --help printed
        err << cli.HelpText();
        return kExitUsage;
      }
      return GroupHelp(registry, words, help, out, err);
    }
    std::vector<std::string> known(words.begin(), words.end() - 1);
    std::string where = known.empty() ? "" : absl::StrCat(absl::StrJoin(known, " "), ": ");
    err << "sbctl: " << where << "unknown command '" << words.back() << "'; see 'sbctl "
        << (known.empty() ? "" : absl::StrJoin(known, " ") + " ") << "--help' for the commands\n";
    return kExitUsage;
  }

  std::string usage =
      absl::StrCat("sbctl ", spec->path, spec->args.empty() ? "" : " " + spec->args, " [flags]\n\n", spec->summary);
  if (!spec->details.empty()) absl::StrAppend(&usage, "\n\n", spec->details);
  Cli cli(absl::StrCat("sbctl ", spec->path), usage);
  if (spec->flags) spec->flags(cli);
  AddGlobalFlags(cli);
  cli.SetEpilog(kExitCodesText);
  auto parsed = cli.Parse(args_n, args_c.data());
  if (!parsed.ok()) {
    err << "sbctl: " << spec->path << ": " << parsed.status().message() << "\n";
    return kExitUsage;
  }
  if (!*parsed) return kExitOk;  // --help printed

  const auto& positionals = cli.positionals();
  size_t n_words = Words(spec->path).size();
  std::vector<std::string> args(positionals.begin() + std::min(n_words, positionals.size()), positionals.end());
  *command = spec->path;
  Invocation inv(*spec, cli, std::move(args), out, err);
  int n = static_cast<int>(inv.args().size());
  if (n < spec->min_args) {
    return inv.UsageError(absl::StrCat("missing argument", spec->args.empty() ? "" : " " + spec->args));
  }
  if (spec->max_args >= 0 && n > spec->max_args) {
    return inv.UsageError(absl::StrCat("unexpected argument '", inv.args()[spec->max_args], "'"));
  }
  return spec->run(inv);
}

}  // namespace

int Main(const CommandRegistry& registry, int argc, char** argv, std::ostream& out, std::ostream& err) {
  // The last resort: whatever a command lets escape (a library's exception,
  // std::bad_alloc) is one line and exit 1, never std::terminate's abort.
  std::string command;
  auto report = [&](absl::string_view what) {
    out.flush();
    err << "sbctl: " << (command.empty() ? "" : command + ": ") << "internal error: " << OneLine(what)
        << " (please report it)\n";
    return kExitError;
  };
  try {
    return Dispatch(registry, argc, argv, out, err, &command);
  } catch (const std::exception& e) {
    return report(e.what());
  } catch (...) {
    return report("unknown exception");
  }
}

}  // namespace switchboard::sbctl
