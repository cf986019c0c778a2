#pragma once
// Connecting to switchboardd from a C++ client.
//
//   switchboard::Cli cli("mytool", "mytool [flags]");
//   switchboard::client::AddConnectionFlags(cli);
//   ... cli.Parse(argc, argv) ...
//   ASSIGN_OR_RETURN(auto options, switchboard::client::OptionsFromCli(cli));
//   ASSIGN_OR_RETURN(auto conn, switchboard::client::Connection::Open(options));
//   auto stub = switchboard::v1::NotificationService::NewStub(conn->channel());
//   auto ctx = conn->NewUnaryContext();        // token + deadline
//   grpc::Status s = stub->Publish(ctx.get(), req, &resp);
//
// The token goes in per-call `authorization: Bearer <token>` metadata rather
// than in call credentials, because gRPC refuses call credentials on a
// plaintext channel and the default server listens in plaintext on loopback.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/cli.h"

namespace switchboard::client {

inline constexpr char kDefaultServer[] = "127.0.0.1:50051";
// The longest wait between two attempts to reconnect to a server that is
// gone (gRPC's own default is 120 s), so that a client notices within that
// time that the server is back.
inline constexpr int kMaxReconnectBackoffMs = 2000;
inline constexpr char kServerEnv[] = "SWITCHBOARD_SERVER";
inline constexpr char kTokenEnv[] = "SWITCHBOARD_TOKEN";
// PEM CA for the https:// URLs a client fetches itself (blob SAS URLs).
inline constexpr char kHttpCaEnv[] = "SWITCHBOARD_HTTP_CA";
// Trailing metadata of a watch that ended with a resume point (ABORTED when
// it lagged, UNAVAILABLE when the server shut down).
inline constexpr char kResumeAfterTrailer[] = "x-switchboard-resume-after";
// Trailing metadata ("true") of a mutating call the server answered from an
// earlier request with the same request_id: nothing was done again.
inline constexpr char kReplayedTrailer[] = "x-switchboard-replayed";

struct ClientOptions {
  // host:port, or any gRPC target ("unix:/path", "dns:///host:port").
  std::string server = kDefaultServer;
  // Bearer token; empty sends no authorization metadata.
  std::string token;
  // PEM file of the CA that signed the server's certificate; empty means a
  // plaintext channel.
  std::string tls_ca_file;
  // Deadline of unary calls. Streams have none.
  absl::Duration timeout = absl::Seconds(30);
};

// Declares --server, --token, --tls_ca and --timeout (seconds) on `cli`.
void AddConnectionFlags(Cli& cli);

// Reads the flags declared by AddConnectionFlags. INVALID_ARGUMENT for a
// non-positive timeout or a token that cannot travel as a header value.
absl::StatusOr<ClientOptions> OptionsFromCli(const Cli& cli);

class Connection {
 public:
  // Creates the channel; it connects lazily on the first call. Fails only on
  // local problems: an unreadable --tls_ca file (NOT_FOUND) or a bad token
  // (INVALID_ARGUMENT).
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const ClientOptions& options);

  const ClientOptions& options() const { return options_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  bool tls() const { return !options_.tls_ca_file.empty(); }

  // A context for a unary call: authorization metadata and the deadline.
  std::unique_ptr<grpc::ClientContext> NewUnaryContext() const;
  // A context for a stream: authorization metadata, no deadline.
  std::unique_ptr<grpc::ClientContext> NewStreamContext() const;
  // Adds the authorization metadata to a context made elsewhere.
  void Authorize(grpc::ClientContext* ctx) const;

  // True when a failed call means the server could not be reached: UNAVAILABLE,
  // or DEADLINE_EXCEEDED while the channel never became ready.
  bool IsUnreachable(const grpc::Status& status) const;

 private:
  Connection(ClientOptions options, std::shared_ptr<grpc::Channel> channel)
      : options_(std::move(options)), channel_(std::move(channel)) {}

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Sets the context's deadline to now + timeout.
void SetDeadline(grpc::ClientContext* ctx, absl::Duration timeout);

// The sequence in the `x-switchboard-resume-after` trailer of a finished
// call, if present and a valid integer.
std::optional<int64_t> ResumeAfter(const grpc::ClientContext& ctx);

// True when a finished call carried the kReplayedTrailer: the answer is the
// one of an earlier request with the same request_id.
inline bool Replayed(const grpc::ClientContext& ctx) {
  const auto& trailers = ctx.GetServerTrailingMetadata();
  auto it = trailers.find(kReplayedTrailer);
  return it != trailers.end() && absl::string_view(it->second.data(), it->second.size()) == "true";
}

// Checks that a token can be sent as an HTTP/2 header value: printable ASCII
// without spaces.
absl::Status ValidateToken(absl::string_view token);

}  // namespace switchboard::client
