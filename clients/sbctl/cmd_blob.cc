// sbctl blob ...: upload, download and list blobs in either store. The
// server hands out a short-lived SAS URL (CreateSasUrl) that points where
// the blob is really served (the local HTTP listener, Azurite or Azure);
// sbctl then streams the bytes over HTTP itself, never whole in memory.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clients/sbctl/cmd_media.h"
#include "clients/sbctl/output.h"
#include "common/azure/http_client.h"
#include "common/status.h"

namespace switchboard::sbctl {
namespace {

// Upload and download URLs live this long: long enough for big files.
constexpr int64_t kTransferSasSeconds = 6 * 3600;

absl::StatusOr<std::string> SasUrl(Invocation& inv, client::Connection* conn, const std::string& blob_uri,
                                   const std::string& permissions) {
  auto stub = v1::MediaService::NewStub(conn->channel());
  v1::CreateSasUrlRequest req;
  req.set_request_id(MediaRequestId(inv));
  req.set_blob_uri(blob_uri);
  req.set_sec_to_live(kTransferSasSeconds);
  req.set_permissions(permissions);
  v1::Operation op;
  auto ctx = conn->NewUnaryContext();
  grpc::Status s = stub->CreateSasUrl(ctx.get(), req, &op);
  if (!s.ok()) return FromGrpcStatus(s);
  if (op.state() != v1::Operation::SUCCEEDED) {
    return absl::FailedPreconditionError(absl::StrCat("no SAS URL for ", blob_uri, ": ",
                                                      op.failure().log_event_message()));
  }
  return op.sas_url();
}

std::string GuessContentType(const std::string& path) {
  std::string ext = absl::AsciiStrToLower(std::filesystem::path(path).extension().string());
  if (ext == ".mp4" || ext == ".m4v") return "video/mp4";
  if (ext == ".mov") return "video/quicktime";
  if (ext == ".mkv") return "video/x-matroska";
  if (ext == ".webm") return "video/webm";
  if (ext == ".ts") return "video/mp2t";
  if (ext == ".mp3") return "audio/mpeg";
  if (ext == ".m4a") return "audio/mp4";
  if (ext == ".wav") return "audio/wav";
  if (ext == ".json") return "application/json";
  if (ext == ".txt") return "text/plain";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".png") return "image/png";
  return "application/octet-stream";
}

// "404 BlobNotFound: ..." from an HTTP error answer.
std::string HttpProblem(const azure::HttpResponse& r) {
  std::string code = r.header("x-ms-error-code");
  return absl::StrCat("HTTP ", r.status, code.empty() ? "" : absl::StrCat(" ", code),
                      r.body.empty() ? "" : absl::StrCat(": ", Shorten(r.body, 300)));
}

int RunUpload(Invocation& inv) {
  const std::string& file = inv.args()[0];
  const std::string& uri = inv.args()[1];
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec || !std::filesystem::is_regular_file(file)) {
    return inv.LocalError(absl::NotFoundError(absl::StrCat("FILE '", file, "' is not a readable file")));
  }
  auto in = std::make_shared<std::ifstream>(file, std::ios::binary);
  if (!*in) return inv.LocalError(absl::NotFoundError(absl::StrCat("cannot open '", file, "'")));
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto url = SasUrl(inv, conn, uri, "cw");
  if (!url.ok()) return inv.LocalError(url.status());
  std::string type = inv.cli().GetString("content_type");
  if (type.empty()) type = GuessContentType(file);
  azure::HttpRequest req;
  req.method = "PUT";
  req.url = *url;
  req.headers = {{"x-ms-blob-type", "BlockBlob"}, {"x-ms-version", "2021-08-06"}, {"Content-Type", type}};
  req.body_size = static_cast<int64_t>(size);
  req.body_source = [in](char* buf, size_t cap) -> absl::StatusOr<size_t> {
    in->read(buf, static_cast<std::streamsize>(cap));
    if (in->bad()) return absl::DataLossError("reading the file failed");
    return static_cast<size_t>(in->gcount());
  };
  req.timeout_ms = 6 * 3600 * 1000L;
  req.ca_file = inv.cli().GetString("http_ca");
  auto r = azure::PerformHttp(req);
  if (!r.ok()) return inv.LocalError(r.status());
  if (r->status < 200 || r->status >= 300) {
    inv.err() << "sbctl: blob upload: " << HttpProblem(*r) << "\n";
    return kExitError;
  }
  if (inv.json()) {
    inv.out() << nlohmann::json({{"blobUri", uri}, {"size", size}, {"contentType", type}, {"etag", r->header("etag")}})
                     .dump()
              << "\n";
  } else {
    inv.out() << "uploaded " << size << " bytes to " << uri << " (" << type << ")\n";
  }
  return kExitOk;
}

int RunDownload(Invocation& inv) {
  const std::string& uri = inv.args()[0];
  const std::string& file = inv.args()[1];
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto url = SasUrl(inv, conn, uri, "r");
  if (!url.ok()) return inv.LocalError(url.status());
  // Written next to the target and renamed at the end: no half files.
  std::string tmp = absl::StrCat(file, ".sbctl-part");
  auto out = std::make_shared<std::ofstream>(tmp, std::ios::binary | std::ios::trunc);
  if (!*out) return inv.LocalError(absl::NotFoundError(absl::StrCat("cannot write '", tmp, "'")));
  auto written = std::make_shared<int64_t>(0);
  azure::HttpRequest req;
  req.url = *url;
  req.headers = {{"x-ms-version", "2021-08-06"}};
  req.sink = [out, written](absl::string_view piece) {
    out->write(piece.data(), static_cast<std::streamsize>(piece.size()));
    *written += static_cast<int64_t>(piece.size());
    return static_cast<bool>(*out);
  };
  req.timeout_ms = 6 * 3600 * 1000L;
  req.ca_file = inv.cli().GetString("http_ca");
  auto r = azure::PerformHttp(req);
  out->close();
  std::error_code ec;
  if (!r.ok() || r->status < 200 || r->status >= 300 || !*out) {
    std::filesystem::remove(tmp, ec);
    if (!r.ok()) return inv.LocalError(r.status());
    if (r->status >= 300) {
      inv.err() << "sbctl: blob download: " << HttpProblem(*r) << "\n";
      return kExitError;
    }
    return inv.LocalError(absl::DataLossError(absl::StrCat("writing '", file, "' failed")));
  }
  std::filesystem::rename(tmp, file, ec);
  if (ec) return inv.LocalError(absl::InternalError(absl::StrCat("rename to '", file, "': ", ec.message())));
  if (inv.json()) {
    inv.out() << nlohmann::json({{"blobUri", uri}, {"file", file}, {"size", *written}}).dump() << "\n";
  } else {
    inv.out() << "downloaded " << *written << " bytes to " << file << "\n";
  }
  return kExitOk;
}

int RunList(Invocation& inv) {
  SBCTL_CONNECT_OR_EXIT(conn, inv);
  auto stub = v1::MediaService::NewStub(conn->channel());
  v1::ListBlobsRequest req;
  req.set_container_uri(inv.args()[0]);
  req.set_prefix(inv.cli().GetString("prefix"));
  req.set_page_size(500);
  std::vector<std::vector<std::string>> rows;
  do {
    v1::ListBlobsResponse resp;
    auto ctx = conn->NewUnaryContext();
    grpc::Status s = stub->ListBlobs(ctx.get(), req, &resp);
    if (!s.ok()) return inv.RpcError(s);
    for (const auto& b : resp.blobs()) {
      if (inv.json()) {
        inv.out() << MessageJson(b) << "\n";
      } else {
        rows.push_back({b.blob_uri(), std::to_string(b.size()), b.content_type(),
                        v1::AccessTier_Name(b.access_tier()), TimeText(b.last_modified())});
      }
    }
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty());
  if (!inv.json()) PrintTable(inv.out(), {"BLOB", "SIZE", "CONTENT_TYPE", "TIER", "MODIFIED"}, rows);
  return kExitOk;
}

}  // namespace

void RegisterBlobCommands(CommandRegistry& registry) {
  registry.Add({.path = "blob upload",
                .args = "FILE BLOB_URI",
                .summary = "Upload a file as a block blob (local store, Azurite or Azure).",
                .details = "Asks the server for a create/write SAS URL, then PUTs the file to it, streamed.\n"
                           "On the local store the upload emits a BlobCreated storage event.",
                .min_args = 2,
                .max_args = 2,
                .flags =
                    [](Cli& cli) {
                      cli.AddString("content_type", "", "Content-Type; guessed from the extension if empty.");
                      cli.AddString("request_id", "", "Idempotency key of the SAS request; new per run if empty.");
                    },
                .run = RunUpload});
  registry.Add({.path = "blob download",
                .args = "BLOB_URI FILE",
                .summary = "Download a blob to a file (written whole or not at all).",
                .details = "",
                .min_args = 2,
                .max_args = 2,
                .flags = [](Cli& cli) { cli.AddString("request_id", "", "Idempotency key; new per run if empty."); },
                .run = RunDownload});
  registry.Add({.path = "blob list",
                .args = "CONTAINER_URI",
                .summary = "List the blobs of a container (https://ACCOUNT.blob.core.windows.net/CONTAINER/).",
                .details = "",
                .min_args = 1,
                .max_args = 1,
                .flags = [](Cli& cli) { cli.AddString("prefix", "", "Only blobs whose names start with this."); },
                .run = RunList});
}

}  // namespace switchboard::sbctl
