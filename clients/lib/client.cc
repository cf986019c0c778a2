#include "clients/lib/client.h"

#include <chrono>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/lib/server_address.h"

namespace switchboard::client {

void AddConnectionFlags(Cli& cli) {
  cli.AddString("server", kDefaultServer,
                "Address of switchboardd's gRPC endpoint: HOST[:PORT] (port 50051 if omitted; [::1] for IPv6), "
                "or a gRPC target such as unix:/path.",
                kServerEnv);
  cli.AddString("token", "",
                "Bearer token sent as 'authorization: Bearer <token>'. Prefer the environment variable: "
                "a flag is visible to other users in the process list.",
                kTokenEnv);
  cli.AddString("tls_ca", "", "PEM file of the CA that signed the server certificate; enables TLS.");
  cli.AddString("http_ca", "",
                "PEM CA file for the https:// blob URLs sbctl uploads to and downloads from (tools/run.sh's local "
                "CA, for example). Default: the system's CAs.",
                kHttpCaEnv);
  cli.AddInt("timeout", 30, "Deadline of each unary call, in seconds. Watches have no deadline.");
}

absl::Status ValidateToken(absl::string_view token) {
  for (char c : token) {
    if (c <= ' ' || c > '~') {
      return absl::InvalidArgumentError(
          "--token: the token may only hold printable ASCII without spaces (check for a trailing newline)");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ClientOptions> OptionsFromCli(const Cli& cli) {
  ClientOptions o;
  auto server = NormalizeServerAddress(cli.GetString("server"));
  if (!server.ok()) return server.status();
  o.server = *server;
  o.token = cli.GetString("token");
  if (auto s = ValidateToken(o.token); !s.ok()) return s;
  o.tls_ca_file = cli.GetString("tls_ca");
  long long timeout = cli.GetInt("timeout");
  if (timeout <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("--timeout: must be a positive number of seconds, got ", timeout));
  }
  o.timeout = absl::Seconds(timeout);
  return o;
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const ClientOptions& options) {
  if (auto s = ValidateToken(options.token); !s.ok()) return s;
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (options.tls_ca_file.empty()) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    std::ifstream in(options.tls_ca_file, std::ios::binary);
    if (!in) {
      return absl::NotFoundError(absl::StrCat("--tls_ca: cannot read '", options.tls_ca_file, "'"));
    }
    std::stringstream pem;
    pem << in.rdbuf();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pem.str();
    if (ssl.pem_root_certs.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--tls_ca: '", options.tls_ca_file, "' holds no PEM certificate"));
    }
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  // Watches may stay quiet for a long time; keepalive pings notice a dead
  // server instead of waiting forever.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  // gRPC's reconnect backoff may grow to 120 s by default, and a call made
  // while the channel waits fails at once (UNAVAILABLE): a long-lived
  // client (the gateway) could go on answering 503 for that long after
  // switchboardd came back. An attempt every 2 s at most costs one refused
  // connect each.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  auto channel = grpc::CreateCustomChannel(options.server, creds, args);
  return std::unique_ptr<Connection>(new Connection(options, std::move(channel)));
}

void Connection::Authorize(grpc::ClientContext* ctx) const {
  if (!options_.token.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
}

std::unique_ptr<grpc::ClientContext> Connection::NewUnaryContext() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  Authorize(ctx.get());
  SetDeadline(ctx.get(), options_.timeout);
  return ctx;
}

std::unique_ptr<grpc::ClientContext> Connection::NewStreamContext() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  Authorize(ctx.get());
  return ctx;
}

bool Connection::IsUnreachable(const grpc::Status& status) const {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) return true;
  return status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
         channel_->GetState(/*try_to_connect=*/false) != GRPC_CHANNEL_READY;
}

void SetDeadline(grpc::ClientContext* ctx, absl::Duration timeout) {
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
}

std::optional<int64_t> ResumeAfter(const grpc::ClientContext& ctx) {
  const auto& trailers = ctx.GetServerTrailingMetadata();
  auto it = trailers.find(kResumeAfterTrailer);
  if (it == trailers.end()) return std::nullopt;
  int64_t seq = 0;
  if (!absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &seq) || seq < 0) {
    return std::nullopt;
  }
  return seq;
}

}  // namespace switchboard::client
