#pragma once
// The sbctl command framework. A command is a CommandSpec: its words
// ("bus publish"), a one-line summary, its own flags and a Run function. A
// command group lives in one cmd_<group>.cc that defines
// Register<Group>Commands(CommandRegistry&), listed once in command_list.h.
//
// Exit codes are part of sbctl's interface (docs/sbctl.md):
//   0 success, 1 the server answered with an error (or a check failed, or a
//   local operation such as listening on a port failed), 2 usage or local
//   input error, 3 the server could not be reached. No command ever aborts:
//   Main turns an escaped exception into a one-line error and exit 1.

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "clients/lib/client.h"
#include "common/cli.h"

namespace switchboard::sbctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnavailable = 3;

class Invocation;

struct CommandSpec {
  // Space-separated words after "sbctl": "health", "bus publish".
  std::string path;
  // Positional arguments as shown in the usage line: "NAME|EVENT_UUID".
  std::string args;
  // One line for the command list.
  std::string summary;
  // More text for `sbctl <path> --help` (may be empty).
  std::string details;
  // Number of positional arguments accepted; max_args < 0 means no limit.
  int min_args = 0;
  int max_args = 0;
  // Declares the command's own flags (may be empty).
  std::function<void(Cli&)> flags;
  // Does the work; returns the exit code. Errors go through Invocation.
  std::function<int(Invocation&)> run;
};

class CommandRegistry {
 public:
  void Add(CommandSpec spec);
  // The command whose words are exactly `words`, or nullptr.
  const CommandSpec* Find(const std::vector<std::string>& words) const;
  // True if some command's words start with `words`.
  bool IsPrefix(const std::vector<std::string>& words) const;
  // Commands whose words start with `prefix` (all for an empty prefix), in
  // registration order.
  std::vector<const CommandSpec*> Under(const std::vector<std::string>& prefix) const;

 private:
  std::vector<CommandSpec> commands_;
};

// One run of one command: parsed flags, positional arguments, the lazily
// opened connection, and the error reporting that gives every failure the
// same one-line shape: "sbctl: <command>: <CODE>: <message>".
class Invocation {
 public:
  Invocation(const CommandSpec& spec, const Cli& cli, std::vector<std::string> args, std::ostream& out,
             std::ostream& err);

  const Cli& cli() const { return cli_; }
  const std::vector<std::string>& args() const { return args_; }
  const std::string& command() const { return spec_.path; }
  bool json() const;
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }

  // The connection, opened on first use from the global flags.
  absl::StatusOr<client::Connection*> connection();

  // Prints "sbctl: <command>: <message> (see 'sbctl <command> --help')";
  // returns kExitUsage.
  int UsageError(absl::string_view message);
  // A local failure (bad file, bad input): prints the code and message;
  // returns kExitUsage for INVALID_ARGUMENT / NOT_FOUND / FAILED_PRECONDITION,
  // else kExitError.
  int LocalError(const absl::Status& status);
  // A failed RPC: returns kExitUnavailable when the server could not be
  // reached, else kExitError. `hint` (may be empty) is appended after "; ".
  // The server's own advice to reconnect "with after_sequence=N" (written
  // for API clients) is left out; watch commands give theirs, naming
  // --after (watch_hint.h).
  int RpcError(const grpc::Status& status, absl::string_view hint = "");
  // A local operation failed (e.g. a port in use): prints
  // "sbctl: <command>: <message>"; returns kExitError.
  int Fail(absl::string_view message);
  // Prints a note on stderr: "sbctl: <command>: <message>".
  void Note(absl::string_view message);

 private:
  const CommandSpec& spec_;
  const Cli& cli_;
  std::vector<std::string> args_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<client::Connection> connection_;
};

// Opens the connection or reports why it cannot; helper for Run functions:
//   SBCTL_CONNECT_OR_EXIT(conn, inv);
#define SBCTL_CONNECT_OR_EXIT(conn, inv)                              \
  auto conn##_or_ = (inv).connection();                               \
  if (!conn##_or_.ok()) return (inv).LocalError(conn##_or_.status()); \
  client::Connection* conn = *conn##_or_

// Declares the flags every command takes (--server, --token, --tls_ca,
// --timeout, --json).
void AddGlobalFlags(Cli& cli);

// Runs sbctl: finds the command in argv, parses its flags, runs it. Never
// throws: an exception that escapes a command is reported as
// "sbctl: <command>: internal error: <what>" with exit 1.
int Main(const CommandRegistry& registry, int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace switchboard::sbctl
