// sb_bench_media: the media service against the tools it wraps, side by
// side in one run (docs/media.md, docs/performance.md "Media"):
//  * AnalyzeBlob (libmediainfo in-process, over gRPC, local store) against
//    the `mediainfo --Full --Output=JSON FILE` CLI on the same clip;
//  * an Encode (profile h264, from the RPC until the success event on
//    WatchOperation, including the upload of the output to the store)
//    against running the same ffmpeg command directly;
//  * SetBlobMetadata operations per second (each one a durable, logged
//    operation), from --threads concurrent synchronous clients.
// The server is an in-process switchboardd with its local blob store under
// a scratch folder; the clip is generated with ffmpeg (testsrc + sine).
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/azure/http_client.h"
#include "common/cli.h"
#include "server/server.h"
#include "switchboard/v1/media.grpc.pb.h"

extern char** environ;

namespace fs = std::filesystem;
namespace v1 = switchboard::v1;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kAccount[] = "devstoreaccount1";

// The server's built-in h264 profile (server/media/media_config.cc).
const std::vector<std::string> kH264 = {"-c:v", "libx264", "-preset", "veryfast", "-crf",   "23",
                                        "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
                                        "-movflags", "+faststart"};

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Stats {
  double p50 = 0, mean = 0, min = 0;
};

Stats Summarize(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.p50 = v[v.size() / 2];
  s.min = v.front();
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  return s;
}

// Runs argv with stdout and stderr to /dev/null; the exit code, or -1.
int RunQuiet(const std::vector<std::string>& argv) {
  std::vector<char*> c;
  for (const auto& a : argv) c.push_back(const_cast<char*>(a.c_str()));
  c.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, c[0], &fa, nullptr, c.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Uri(const std::string& container, const std::string& blob = "") {
  return absl::StrCat("https://", kAccount, ".blob.core.windows.net/", container, "/", blob);
}

template <class Req>
bool Call(grpc::Status (v1::MediaService::Stub::*m)(grpc::ClientContext*, const Req&, v1::Operation*),
          v1::MediaService::Stub& stub, const Req& req, v1::Operation* op) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(600));
  grpc::Status s = (stub.*m)(&ctx, req, op);
  if (!s.ok()) std::cerr << "sb_bench_media: " << s.error_message() << "\n";
  return s.ok();
}

// Uploads through the server's own HTTP listener with a write SAS.
bool Upload(v1::MediaService::Stub& stub, const std::string& file, const std::string& uri) {
  v1::CreateSasUrlRequest sas;
  sas.set_request_id(absl::StrCat("bench-sas-", uri));
  sas.set_blob_uri(uri);
  sas.set_sec_to_live(3600);
  sas.set_permissions("cw");
  v1::Operation op;
  if (!Call(&v1::MediaService::Stub::CreateSasUrl, stub, sas, &op) || op.sas_url().empty()) return false;
  std::ifstream in(file, std::ios::binary);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  switchboard::azure::HttpRequest put;
  put.method = "PUT";
  put.url = op.sas_url();
  put.headers = {{"x-ms-blob-type", "BlockBlob"}, {"Content-Type", "video/mp4"}};
  put.body = std::move(body);
  auto r = switchboard::azure::PerformHttp(put);
  if (!r.ok() || r->status >= 300) {
    std::cerr << "sb_bench_media: upload failed: " << (r.ok() ? std::to_string(r->status) : r.status().ToString())
              << "\n";
    return false;
  }
  return true;
}

// Encode through the service: from the RPC until its success event.
double ServiceEncode(v1::MediaService::Stub& stub, const std::string& id) {
  auto t0 = Clock::now();
  v1::EncodeRequest req;
  req.set_request_id(id);
  req.set_encoder(v1::FLIP);
  req.add_input_uris(Uri("bench", "clip.mp4"));
  req.set_output_container(Uri("out-" + id));
  req.set_profiles("h264");
  req.set_sec_to_live(3600);
  v1::Operation op;
  if (!Call(&v1::MediaService::Stub::Encode, stub, req, &op)) return -1;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(600));
  v1::WatchOperationRequest w;
  w.set_name(op.name());
  auto reader = stub.WatchOperation(&ctx, w);
  v1::MediaEvent e;
  while (reader->Read(&e)) {
    if (e.has_failure()) {
      std::cerr << "sb_bench_media: encode failed: " << e.failure().log_event_message() << "\n";
      ctx.TryCancel();
      return -1;
    }
    if (e.has_encode() && e.encode().state() == v1::SUCCESS) {
      double ms = Ms(Clock::now() - t0);
      ctx.TryCancel();
      reader->Finish();
      return ms;
    }
  }
  return -1;
}

void Row(const char* what, const char* side, const Stats& s, size_t n, const std::string& note) {
  std::printf("| %-28s | %-26s | %9.1f | %9.1f | %9.1f | %4zu | %s |\n", what, side, s.p50, s.mean, s.min, n,
              note.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  switchboard::Cli cli("sb_bench_media",
                       "sb_bench_media [flags]: AnalyzeBlob vs the mediainfo CLI, an Encode vs the same\n"
                       "ffmpeg command run directly, and SetBlobMetadata ops/s, side by side in one run.\n"
                       "Needs ffmpeg and mediainfo on PATH. See docs/performance.md (Media).");
  cli.AddInt("clip_seconds", 10, "Length of the generated test clip.");
  cli.AddString("clip_size", "1280x720", "Frame size of the generated test clip.");
  cli.AddInt("analyze_iterations", 20, "AnalyzeBlob calls and mediainfo runs measured (after one warm-up each).");
  cli.AddInt("encode_iterations", 4, "Encodes measured per side (alternating sides).");
  cli.AddInt("metadata_seconds", 5, "How long SetBlobMetadata is driven.");
  cli.AddInt("threads", 4, "Concurrent SetBlobMetadata clients.");
  cli.AddString("work_dir", "", "Scratch folder (default: a new one under $TMPDIR, removed at the end).");
  auto parsed = cli.Parse(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "sb_bench_media: " << parsed.status().message() << "\n";
    return 2;
  }
  if (!*parsed) return 0;
  std::string work = cli.GetString("work_dir");
  bool cleanup = work.empty();
  if (work.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "sb-bench-media-XXXXXX").string();
    work = mkdtemp(tmpl.data());
  }
  fs::create_directories(work);
  const std::string clip = work + "/clip.mp4";
  const std::string secs = std::to_string(cli.GetInt("clip_seconds"));
  if (RunQuiet({"ffmpeg", "-nostdin", "-y", "-f", "lavfi", "-i",
                absl::StrCat("testsrc=duration=", secs, ":size=", cli.GetString("clip_size"), ":rate=25"), "-f",
                "lavfi", "-i", absl::StrCat("sine=frequency=440:duration=", secs), "-c:v", "libx264", "-preset",
                "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", clip}) != 0) {
    std::cerr << "sb_bench_media: generating the clip with ffmpeg failed\n";
    return 1;
  }

  switchboard::core::ServerConfig config;
  config.data_dir = work + "/data";
  config.grpc_address = "127.0.0.1:0";
  config.http_address = "127.0.0.1:0";
  auto server = switchboard::Server::Start(config);
  if (!server.ok()) {
    std::cerr << server.status() << "\n";
    return 1;
  }
  auto channel = grpc::CreateChannel((*server)->grpc_address(), grpc::InsecureChannelCredentials());
  auto stub = v1::MediaService::NewStub(channel);
  v1::CreateContainerRequest cc;
  cc.set_request_id("bench-container");
  cc.set_storage_account_name(kAccount);
  cc.set_container_name("bench");
  v1::Operation op;
  if (!Call(&v1::MediaService::Stub::CreateContainer, *stub, cc, &op) || !Upload(*stub, clip, Uri("bench", "clip.mp4"))) {
    return 1;
  }
  std::printf("clip: %s s of %s testsrc + sine, %ju bytes; CPU threads: %u\n\n", secs.c_str(),
              cli.GetString("clip_size").c_str(), static_cast<uintmax_t>(fs::file_size(clip)),
              std::thread::hardware_concurrency());
  std::printf("| %-28s | %-26s | %9s | %9s | %9s | %4s | %s |\n", "what", "side", "p50 ms", "mean ms", "min ms", "n",
              "ratio (p50)");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(30, '-').c_str(), std::string(28, '-').c_str(),
              std::string(11, '-').c_str(), std::string(11, '-').c_str(), std::string(11, '-').c_str(),
              std::string(6, '-').c_str(), std::string(13, '-').c_str());

  // ---- AnalyzeBlob vs mediainfo ----
  const int an = static_cast<int>(cli.GetInt("analyze_iterations"));
  std::vector<double> svc, cmd;
  for (int i = -1; i < an; ++i) {  // i = -1: warm-up
    v1::AnalyzeBlobRequest a;
    a.set_request_id(absl::StrCat("bench-analyze-", i));
    a.set_blob_uri(Uri("bench", "clip.mp4"));
    (*a.mutable_mediainfo_options())["Complete"] = "1";
    (*a.mutable_mediainfo_options())["Output"] = "JSON";
    auto t0 = Clock::now();
    if (!Call(&v1::MediaService::Stub::AnalyzeBlob, *stub, a, &op) || op.state() != v1::Operation::SUCCEEDED) {
      std::cerr << "sb_bench_media: AnalyzeBlob failed: " << op.failure().log_event_message() << "\n";
      return 1;
    }
    double s_ms = Ms(Clock::now() - t0);
    t0 = Clock::now();
    if (RunQuiet({"mediainfo", "--Full", "--Output=JSON", clip}) != 0) {
      std::cerr << "sb_bench_media: mediainfo failed (apt-get install mediainfo)\n";
      return 1;
    }
    double c_ms = Ms(Clock::now() - t0);
    if (i >= 0) {
      svc.push_back(s_ms);
      cmd.push_back(c_ms);
    }
  }
  Stats sa = Summarize(svc), ca = Summarize(cmd);
  Row("analyze", "AnalyzeBlob (gRPC)", sa, svc.size(), Fmt("%.2fx", sa.p50 / ca.p50));
  Row("analyze", "mediainfo --Full JSON", ca, cmd.size(), "1x");

  // ---- Encode vs ffmpeg ----
  const int en = static_cast<int>(cli.GetInt("encode_iterations"));
  svc.clear();
  cmd.clear();
  std::vector<std::string> ff = {"ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-y", "-i", clip};
  ff.insert(ff.end(), kH264.begin(), kH264.end());
  ff.push_back(work + "/direct.mp4");
  // The sides alternate which goes first, so neither always runs on a
  // machine still busy with the other.
  for (int i = 0; i < en; ++i) {
    for (int side = 0; side < 2; ++side) {
      if ((side == 0) == (i % 2 == 0)) {
        double s_ms = ServiceEncode(*stub, absl::StrCat("e", i));
        if (s_ms < 0) return 1;
        svc.push_back(s_ms);
      } else {
        auto t0 = Clock::now();
        if (RunQuiet(ff) != 0) {
          std::cerr << "sb_bench_media: direct ffmpeg failed\n";
          return 1;
        }
        cmd.push_back(Ms(Clock::now() - t0));
      }
    }
  }
  Stats se = Summarize(svc), ce = Summarize(cmd);
  Row("encode h264", "Encode (RPC to success)", se, svc.size(),
      Fmt("%+.1f%% overhead", (se.p50 / ce.p50 - 1) * 100));
  Row("encode h264", "ffmpeg directly", ce, cmd.size(), "");

  // ---- SetBlobMetadata ops/s ----
  const int threads = static_cast<int>(cli.GetInt("threads"));
  std::atomic<bool> stop{false};
  std::atomic<long> ok{0}, failed{0};
  std::vector<std::thread> pool;
  auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto stub_t = v1::MediaService::NewStub(channel);
      long n = 0;
      while (!stop.load()) {
        v1::SetBlobMetadataRequest m;
        m.set_request_id(absl::StrCat("bench-md-", t, "-", n));
        m.set_blob_uri(Uri("bench", "clip.mp4"));
        (*m.mutable_blob_metadata())["title"] = absl::StrCat("t", t, "n", n++);
        v1::Operation o;
        grpc::ClientContext ctx;
        grpc::Status s = stub_t->SetBlobMetadata(&ctx, m, &o);
        (s.ok() && o.state() == v1::Operation::SUCCEEDED ? ok : failed)++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(cli.GetInt("metadata_seconds")));
  stop = true;
  for (auto& th : pool) th.join();
  double secs_run = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("\nSetBlobMetadata: %.0f ops/s (%ld ok, %ld failed, %d clients, %.1f s)\n",
              static_cast<double>(ok.load()) / secs_run, ok.load(), failed.load(), threads, secs_run);
  std::printf("\ndirect ffmpeg command: ");
  for (const auto& a : ff) std::printf("%s ", a.c_str());
  std::printf("\nmediainfo command: mediainfo --Full --Output=JSON %s\n", clip.c_str());

  (*server)->Shutdown();
  if (cleanup) {
    std::error_code ec;
    fs::remove_all(work, ec);
  }
  return failed.load() == 0 ? 0 : 1;
}
