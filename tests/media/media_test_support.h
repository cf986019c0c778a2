#pragma once
// Shared pieces of the media tests: a server with the media section set,
// direct access to its local blob store, operation helpers.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "server/blob/azure_blob_store.h"
#include "server/blob/local_blob_store.h"
#include "switchboard/v1/media.grpc.pb.h"
#include "tests/core/test_support.h"

namespace switchboard::testing {

inline constexpr char kAccount[] = "devstoreaccount1";

inline std::string AzureUri(const std::string& container, const std::string& blob = "") {
  return absl::StrCat("https://", kAccount, ".blob.core.windows.net/", container, "/", blob);
}

// The Azurite account as a media config entry; ADD_FAILURE when the
// environment is missing (tests that need it must not pass without it).
inline nlohmann::json AzuriteAccountJson(const std::string& name) {
  const char* blob = std::getenv("SWITCHBOARD_TEST_AZURITE_BLOB");
  const char* key = std::getenv("SWITCHBOARD_TEST_AZURITE_KEY");
  if (!blob || !key) {
    ADD_FAILURE() << "SWITCHBOARD_TEST_AZURITE_BLOB/_KEY are not set: run tools/services.sh start and eval "
                     "\"$(tools/services.sh env)\" (tools/test.sh does both)";
    return nlohmann::json::object();
  }
  (void)name;
  return {{"name", "devstoreaccount1"}, {"endpoint", blob}, {"key1", key}};
}

class MediaServer {
 public:
  // `data_dir` empty: a new temp dir (removed at the end); else that one
  // (for restarts on the same data). `base`: the rest of the server's config
  // (HTTPS files, say).
  explicit MediaServer(nlohmann::json media = nlohmann::json::object(), std::string data_dir = "",
                       core::ServerConfig base = {})
      : data_dir_(data_dir.empty() ? dir_.path() : std::move(data_dir)) {
    core::ServerConfig c = std::move(base);
    if (!media.empty()) c.media_json = media.dump();
    server_ = std::make_unique<TestServer>(data_dir_, c);
    stub_ = v1::MediaService::NewStub(server_->Channel());
  }
  v1::MediaService::Stub& stub() { return *stub_; }
  Server& server() { return server_->server(); }
  const std::string& data_dir() const { return data_dir_; }
  std::string http() const { return server_->server().http_address(); }

  // A second handle on the server's local store (same files).
  blob::LocalBlobStore& local() {
    if (!local_) {
      blob::LocalBlobStoreOptions o;
      o.root = data_dir_ + "/blobs";
      auto s = blob::LocalBlobStore::Open(o);
      EXPECT_TRUE(s.ok()) << s.status();
      local_ = std::move(*s);
    }
    return *local_;
  }

  absl::Status PutLocal(const std::string& container, const std::string& name, const std::string& body,
                        blob::Metadata md = {}) {
    auto& l = local();
    (void)l.CreateContainer(kAccount, container);
    auto pos = std::make_shared<size_t>(0);
    blob::PutOptions o;
    o.metadata = std::move(md);
    auto r = l.PutBlob(blob::BlobRef{kAccount, container, name}, static_cast<int64_t>(body.size()),
                       [body, pos](char* buf, size_t cap) -> absl::StatusOr<size_t> {
                         size_t n = std::min(cap, body.size() - *pos);
                         std::memcpy(buf, body.data() + *pos, n);
                         *pos += n;
                         return n;
                       },
                       o);
    return r.status();
  }

  v1::Operation GetOp(const std::string& name) {
    grpc::ClientContext ctx;
    v1::GetOperationRequest req;
    req.set_name(name);
    v1::Operation op;
    grpc::Status s = stub_->GetOperation(&ctx, req, &op);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return op;
  }

  // Polls until the operation leaves ACCEPTED/SCHEDULED/RUNNING.
  v1::Operation WaitDone(const std::string& name, int seconds = 60) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    v1::Operation op;
    while (std::chrono::steady_clock::now() < until) {
      op = GetOp(name);
      if (op.state() == v1::Operation::SUCCEEDED || op.state() == v1::Operation::FAILED ||
          op.state() == v1::Operation::CANCELED) {
        return op;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << name << " did not finish in " << seconds << " s";
    return op;
  }

  // Every event of the operation so far (replayed from the log).
  std::vector<v1::MediaEvent> Events(const std::string& name, int64_t through_sequence) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::WatchOperationRequest req;
    req.set_name(name);
    auto reader = stub_->WatchOperation(&ctx, req);
    std::vector<v1::MediaEvent> out;
    v1::MediaEvent e;
    while (reader->Read(&e)) {
      out.push_back(e);
      if (e.sequence() >= through_sequence) break;
    }
    ctx.TryCancel();
    return out;
  }

 private:
  TempDir dir_;
  std::string data_dir_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<v1::MediaService::Stub> stub_;
  std::unique_ptr<blob::LocalBlobStore> local_;
};

// Calls a unary media RPC; returns its status and fills `out`. A request
// whose request_id is left empty gets a fresh one (every mutating call needs
// one); tests about request_id set theirs.
template <class Req, class Resp>
grpc::Status Call(grpc::Status (v1::MediaService::Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                  v1::MediaService::Stub& stub, const Req& req, Resp* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  const auto* id = Req::descriptor()->FindFieldByName("request_id");
  if (id != nullptr && req.GetReflection()->GetString(req, id).empty()) {
    Req with_id = req;
    with_id.GetReflection()->SetString(&with_id, id, testing::NewRequestId());
    return (stub.*method)(&ctx, with_id, out);
  }
  return (stub.*method)(&ctx, req, out);
}

// A clip of `seconds` of testsrc video and a sine tone, made by ffmpeg.
inline std::string GenerateClip(const std::string& path, int seconds, const std::string& size = "320x240") {
  std::string cmd = absl::StrCat(
      "ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc=duration=", seconds, ":size=", size,
      ":rate=25 -f lavfi -i sine=frequency=440:duration=", seconds,
      " -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest '", path, "'");
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline google::protobuf::Struct Context(const std::string& id) {
  google::protobuf::Struct s;
  (*s.mutable_fields())["traceId"].set_string_value(id);
  (*s.mutable_fields())["n"].set_number_value(7);
  return s;
}

// A SetBlobMetadata of `uri` (metadata camera=`camera`) with request_id `id`
// and the operation context of "ctx-" + id.
inline v1::SetBlobMetadataRequest BlobMetadataRequest(const std::string& id, const std::string& uri,
                                                      const std::string& camera) {
  v1::SetBlobMetadataRequest r;
  r.set_request_id(id);
  *r.mutable_operation_context() = Context("ctx-" + id);
  r.set_blob_uri(uri);
  (*r.mutable_blob_metadata())["camera"] = camera;
  return r;
}

}  // namespace switchboard::testing
