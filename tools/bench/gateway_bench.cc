// sb_bench_gateway: Event Grid ingestion through switchboard-gateway, and
// the same load sent to switchboardd's gRPC API directly, in one run
// (docs/performance.md, section "Gateway: Event Grid ingestion").
//
// Setup: switchboardd and switchboard-gateway as child processes on a fresh
// data dir; one blob (devstoreaccount1/media/input/clip.mp4) written through
// switchboardd's public APIs before the load (CreateContainer and a write SAS
// over gRPC, the PUT to its blob listener); this process plays the Event Grid
// topic (clients/lib's loopback receiver, counting the response events the
// gateway's publisher POSTs).
//
// Load: `clients` threads, each sending batches of `batch` events of type
// request.blob.metadata.create, one batch at a time, for `duration_s`:
//  * gRPC direct: a batch is one MediaService.SubmitBatch of `batch`
//    requests (--direct=batch, as the gateway calls it), or `batch`
//    concurrent MediaService.SetBlobMetadata calls (--direct=calls); the
//    batch is done when all are answered.
//  * gateway: a batch is one POST /api/eventgrid with `batch` events; done
//    when it answered 200 (every event durably accepted by switchboardd).
// Every event has a new id (request_id), so every one is a new operation.
//  * gateway over HTTPS (--https=1, the default): the same POSTs to a
//    second gateway process serving TLS (a certificate made with openssl
//    for the run; each client keeps its connection, as Event Grid does),
//    started after the plain gateway stopped, on the same cursor.
// Reported: accepted events/s, and p50/p99 of the time to ack a batch (the
// 200 / the last gRPC answer). After each phase, the time until the
// publisher delivered every response event (acknowledge + success per
// accepted event) to the topic. The direct path's requests carry origin
// REQUEST_ORIGIN_EVENT_GRID, so the publisher sends their responses as it
// does the gateway's (it sends only those), and every phase does the same
// work.
#include <curl/curl.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/cli.h"
#include "clients/lib/webhook_receiver.h"
#include "common/uuid.h"
#include "process.h"
#include "switchboard/v1/media.grpc.pb.h"

namespace fs = std::filesystem;
namespace sb = switchboard::bench;
namespace v1 = switchboard::v1;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

constexpr char kAccount[] = "devstoreaccount1";
constexpr char kContainer[] = "media";
constexpr char kBlob[] = "input/clip.mp4";
constexpr char kBlobUri[] = "https://devstoreaccount1.blob.core.windows.net/media/input/clip.mp4";
constexpr char kKey[] = "bench-eventgrid-key";

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// The one blob every request names, written through switchboardd's public
// APIs: the container and a write SAS over gRPC (a gRPC client's own
// operations: none of their events goes to the topic), then a PUT of 4 KB to
// the blob listener at the SAS URL (its storage event may reach the topic as
// one response.blob.created.success; the counts below ignore it).
bool SeedBlob(const std::string& sbd_addr) {
  auto stub = v1::MediaService::NewStub(grpc::CreateChannel(sbd_addr, grpc::InsecureChannelCredentials()));
  auto call = [&](auto method, const auto& req, v1::Operation* op) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status s = ((*stub).*method)(&ctx, req, op);
    if (!s.ok()) std::cerr << "sb_bench_gateway: seeding the blob: " << s.error_message() << "\n";
    return s.ok();
  };
  v1::CreateContainerRequest container;
  container.set_request_id("bench-seed-container");
  container.set_storage_account_name(kAccount);
  container.set_container_name(kContainer);
  v1::Operation op;
  if (!call(&v1::MediaService::Stub::CreateContainer, container, &op)) return false;
  v1::CreateSasUrlRequest sas;
  sas.set_request_id("bench-seed-sas");
  sas.set_blob_uri(kBlobUri);
  sas.set_sec_to_live(3600);
  sas.set_permissions("cw");
  if (!call(&v1::MediaService::Stub::CreateSasUrl, sas, &op)) return false;
  if (op.sas_url().empty()) return std::cerr << "sb_bench_gateway: CreateSasUrl answered no sasUrl\n", false;
  const std::string bytes(4096, 'x');
  CURL* c = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "x-ms-blob-type: BlockBlob");
  headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
  curl_easy_setopt(c, CURLOPT_URL, op.sas_url().c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, bytes.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(bytes.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Discard);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  CURLcode rc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK || code != 201) {
    std::cerr << "sb_bench_gateway: the PUT of " << kBlob << " to the blob listener answered "
              << (rc == CURLE_OK ? std::to_string(code) : std::string(curl_easy_strerror(rc))) << "\n";
    return false;
  }
  return true;
}

struct Result {
  std::string label;
  Clock::time_point start;
  // From the load's start until the topic held the success of every
  // accepted event (-1: never).
  double completed_s = -1;
  int64_t events = 0;
  int64_t failed_batches = 0;
  double seconds = 0;
  std::vector<double> batch_ms;
  // CPU seconds from the load's start until drained: switchboardd, the
  // gateway, this process (the load and the topic).
  double cpu_sbd = 0, cpu_gw = 0, cpu_self = 0;
  double CpuUsPerEvent(double cpu) const { return events > 0 ? 1e6 * cpu / static_cast<double>(events) : 0; }
  double Rate() const { return seconds > 0 ? static_cast<double>(events) / seconds : 0; }
  double CompletedRate() const { return completed_s > 0 ? static_cast<double>(events) / completed_s : 0; }
  double Pct(double p) const {
    if (batch_ms.empty()) return 0;
    std::vector<double> v = batch_ms;
    size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    return v[k];
  }
};

// Runs `clients` threads calling `one_batch(thread)` (true: accepted)
// until `duration` has passed.
template <class F>
Result RunLoad(const std::string& label, int clients, int batch, double duration_s, F one_batch) {
  Result r;
  r.label = label;
  std::mutex mu;
  std::vector<std::thread> threads;
  auto start = Clock::now();
  r.start = start;
  auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration_s));
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      std::vector<double> lat;
      int64_t events = 0, failed = 0;
      while (Clock::now() < end) {
        auto t0 = Clock::now();
        bool ok = one_batch(t);
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (ok) {
          lat.push_back(ms);
          events += batch;
        } else {
          ++failed;
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      r.batch_ms.insert(r.batch_ms.end(), lat.begin(), lat.end());
      r.events += events;
      r.failed_batches += failed;
    });
  }
  for (auto& th : threads) th.join();
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

// The eventType of each event in a JSON array of events: a one-pass scan
// that tracks nesting and strings (an "eventType" inside an event's data is
// not the event's), with no document built.
std::vector<std::string> EventTypes(const std::string& body) {
  std::vector<std::string> out;
  int depth = 0;
  bool want_value = false;  // just read the key "eventType" of an event
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == '"') {
      size_t end = i + 1;
      while (end < body.size() && body[end] != '"') end += body[end] == '\\' ? 2 : 1;
      if (end >= body.size()) break;
      std::string_view text(body.data() + i + 1, end - i - 1);
      if (want_value) {
        out.emplace_back(text);
        want_value = false;
      } else if (depth == 2 && text == "eventType") {
        want_value = true;
      }
      i = end;
    } else if (c == ',') {
      want_value = false;
    }
  }
  return out;
}

// One request.blob.metadata.create event as Event Grid sends it, written
// straight to text: the load generator shares the CPU with what it measures.
void AppendRequestEvent(std::string* out, const std::string& id, int i) {
  absl::StrAppend(out, R"({"id":")", id,
                  R"(","topic":"/subscriptions/bench/resourceGroups/sb/providers/Microsoft.EventGrid/topics/in",)",
                  R"("subject":"/requests/bench","eventType":"request.blob.metadata.create",)",
                  R"("eventTime":"2026-11-22T10:00:00.000Z","dataVersion":"1.0","metadataVersion":"1",)",
                  R"("data":{"operationContext":{"prodID":)", i, R"(},"blobUri":")", kBlobUri,
                  R"(","blobMetadata":{"title":"Clip one","programId":")", i, R"("}}})");
}

std::string Fmt(double v, int prec = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  switchboard::Cli cli("sb_bench_gateway",
                       "sb_bench_gateway [flags]: Event Grid ingestion through switchboard-gateway against\n"
                       "calling switchboardd's gRPC API directly, same load, same run. See docs/performance.md.");
  cli.AddString("switchboardd", "build/server/switchboardd", "The switchboardd binary.");
  cli.AddString("gateway", "build/gateway/switchboard-gateway", "The switchboard-gateway binary.");
  cli.AddInt("clients", 8, "Concurrent clients, each with one batch in flight.");
  cli.AddInt("batch", 100, "Events per batch (per POST, or concurrent gRPC calls).");
  cli.AddInt("duration_s", 10, "Seconds per phase.");
  cli.AddInt("gateway_workers", 16, "The gateway's --http_worker_threads.");
  cli.AddInt("media_workers", 0,
             "switchboardd's media.workers (storage operations at once); 0 leaves switchboardd's default.");
  cli.AddString("direct", "batch",
                "gRPC direct: 'batch' sends each batch as one SubmitBatch (as the gateway does); 'calls' as "
                "concurrent SetBlobMetadata calls.");
  cli.AddInt("return_when_accepted", 1,
             "gRPC direct with --direct=calls: 1 sets return_when_accepted (answer at ACCEPTED, as the gateway "
             "does); 0 waits for the outcome.");
  cli.AddInt("direct_channels", 8, "gRPC direct: connections the clients share (the gateway has one).");
  cli.AddInt("max_queued_operations", 20000, "switchboardd's media.max_queued_operations.");
  cli.AddInt("bus_status_events", 1, "switchboardd's bus_status_events (1: every status change is also a bus event).");
  cli.AddString("work_dir", "", "Scratch folder (default: a new one under $TMPDIR, removed at the end).");
  cli.AddInt("https", 1,
             "1: a third phase, the gateway serving HTTPS (TLS overhead against the plain-HTTP phase); 0: none.");
  auto parsed = cli.Parse(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "sb_bench_gateway: " << parsed.status().message() << "\n";
    return 2;
  }
  if (!*parsed) return 0;
  const int clients = static_cast<int>(cli.GetInt("clients"));
  const int batch = static_cast<int>(cli.GetInt("batch"));
  const double duration = static_cast<double>(cli.GetInt("duration_s"));
  std::string work = cli.GetString("work_dir");
  const bool own_work = work.empty();
  if (own_work) {
    work = (fs::temp_directory_path() / ("sb_bench_gateway_" + std::to_string(getpid()))).string();
  }
  fs::create_directories(work + "/data");

  // The topic: counts response events by type.
  std::atomic<int64_t> topic_events{0}, topic_acks{0}, topic_success{0}, topic_failure{0};
  // clients/lib's receiver also keeps a copy of every POST it is sent (about
  // 0.5 KB per response event: some hundreds of MB in a 10 s run).
  auto topic = switchboard::client::WebhookReceiver::Listen(
      [&](const switchboard::client::WebhookReceiver::Request& req) {
        // The topic stands for Azure, not for Switchboard: it counts
        // eventType values with a scan rather than a parse, so that it takes
        // little of the CPU the measured processes share with it.
        for (const std::string& t : EventTypes(req.body)) {
          topic_events++;
          if (t == "response.acknowledge") topic_acks++;
          if (t == "response.blob.metadata.success") topic_success++;
          if (t == "response.failure") topic_failure++;
        }
        return switchboard::client::WebhookReceiver::Reply{};
      });
  if (!topic.ok()) return std::cerr << topic.status() << "\n", 1;

  {
    json media = {{"max_queued_operations", cli.GetInt("max_queued_operations")}};
    if (cli.GetInt("media_workers") > 0) media["workers"] = cli.GetInt("media_workers");
    std::ofstream cfg(work + "/switchboardd.json");
    cfg << json{{"media", media}}.dump() << "\n";
  }
  sb::ChildProcess sbd({cli.GetString("switchboardd"), "--data_dir=" + work + "/data", "--grpc_address=127.0.0.1:0",
                        "--http_address=127.0.0.1:0", "--config=" + work + "/switchboardd.json",
                        "--bus_status_events=" + std::to_string(cli.GetInt("bus_status_events"))},
                       work + "/switchboardd.log");
  const std::string sbd_addr =
      sb::Extract(sbd.WaitForLine("\"msg\":\"serving\"", 30), "\"grpc_address\":\"([^\"]+)\"");
  if (sbd_addr.empty()) return std::cerr << "switchboardd did not start:\n" << sbd.LogTail(4000), 1;
  if (!SeedBlob(sbd_addr)) return 1;
  // A gateway process; with `tls_dir`, serving HTTPS with its certificate.
  auto start_gateway = [&](const std::string& tls_dir, const std::string& log, std::string* address) {
    std::vector<std::string> argv = {cli.GetString("gateway"), "--server=" + sbd_addr, "--http_address=127.0.0.1:0",
                                     std::string("--eventgrid_key=") + kKey,
                                     "--eventgrid_topic_url=http://127.0.0.1:" + std::to_string((*topic)->port()) + "/api/events",
                                     "--eventgrid_topic_key=bench",
                                     "--http_worker_threads=" + std::to_string(cli.GetInt("gateway_workers"))};
    if (!tls_dir.empty()) {
      argv.push_back("--http_tls_cert_file=" + tls_dir + "/cert.pem");
      argv.push_back("--http_tls_key_file=" + tls_dir + "/key.pem");
    }
    auto gw = std::make_unique<sb::ChildProcess>(argv, log);
    *address = sb::Extract(gw->WaitForLine("\"msg\":\"serving\"", 30), "\"http_address\":\"([^\"]+)\"");
    if (address->empty()) std::cerr << "switchboard-gateway did not start:\n" << gw->LogTail(4000);
    return gw;
  };
  std::string gw_addr;
  std::unique_ptr<sb::ChildProcess> gw_process = start_gateway("", work + "/gateway.log", &gw_addr);
  if (gw_addr.empty()) return 1;
  sb::ChildProcess* gw = gw_process.get();

  // --- gRPC direct -------------------------------------------------------
  const bool return_when_accepted = cli.GetInt("return_when_accepted") != 0;
  const std::string direct_mode = cli.GetString("direct");
  if (direct_mode != "batch" && direct_mode != "calls") {
    std::cerr << "sb_bench_gateway: --direct must be 'batch' or 'calls', not '" << direct_mode << "'\n";
    return 2;
  }
  const int direct_channels = static_cast<int>(cli.GetInt("direct_channels"));
  if (direct_channels < 1) {
    std::cerr << "sb_bench_gateway: --direct_channels must be 1 or more, not " << direct_channels << "\n";
    return 2;
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::vector<std::unique_ptr<v1::MediaService::Stub>> stubs;
  for (int i = 0; i < clients; ++i) {
    args.SetInt("sb.bench.channel", i % direct_channels);  // which connection
    stubs.push_back(
        v1::MediaService::NewStub(grpc::CreateCustomChannel(sbd_addr, grpc::InsecureChannelCredentials(), args)));
  }
  auto fill = [&](v1::SetBlobMetadataRequest& req, int i) {
    req.set_request_id(switchboard::NewUuid());
    req.set_origin(v1::REQUEST_ORIGIN_EVENT_GRID);
    req.set_blob_uri(kBlobUri);
    (*req.mutable_blob_metadata())["title"] = "Clip one";
    (*req.mutable_blob_metadata())["programId"] = std::to_string(i);
    (*req.mutable_operation_context()->mutable_fields())["prodID"].set_number_value(i);
  };
  auto submit_batch = [&](int t) {
    v1::SubmitBatchRequest req;
    for (int i = 0; i < batch; ++i) fill(*req.add_requests()->mutable_set_blob_metadata(), i);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::SubmitBatchResponse resp;
    grpc::Status s = stubs[static_cast<size_t>(t)]->SubmitBatch(&ctx, req, &resp);
    if (!s.ok() || resp.results_size() != batch) return false;
    for (const auto& r : resp.results()) {
      if (!r.has_operation()) return false;
    }
    return true;
  };
  auto grpc_batch = [&](int t) {
    std::mutex mu;
    std::condition_variable cv;
    int pending = batch;
    bool all_ok = true;
    std::vector<std::unique_ptr<grpc::ClientContext>> ctxs(static_cast<size_t>(batch));
    std::vector<v1::SetBlobMetadataRequest> reqs(static_cast<size_t>(batch));
    std::vector<v1::Operation> resps(static_cast<size_t>(batch));
    for (int i = 0; i < batch; ++i) {
      auto& req = reqs[static_cast<size_t>(i)];
      fill(req, i);
      req.set_return_when_accepted(return_when_accepted);
      ctxs[static_cast<size_t>(i)] = std::make_unique<grpc::ClientContext>();
      ctxs[static_cast<size_t>(i)]->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      stubs[static_cast<size_t>(t)]->async()->SetBlobMetadata(
          ctxs[static_cast<size_t>(i)].get(), &req, &resps[static_cast<size_t>(i)], [&](grpc::Status s) {
            std::lock_guard<std::mutex> lock(mu);
            if (!s.ok()) all_ok = false;
            if (--pending == 0) cv.notify_all();
          });
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return pending == 0; });
    return all_ok;
  };

  // --- gateway -----------------------------------------------------------
  std::vector<CURL*> curls;
  for (int i = 0; i < clients; ++i) curls.push_back(curl_easy_init());
  std::string url = "http://" + gw_addr + "/api/eventgrid";
  std::string ca_file;  // set for the HTTPS phase
  auto http_batch = [&](int t) {
    std::string body = "[";
    body.reserve(static_cast<size_t>(batch) * 420);
    for (int i = 0; i < batch; ++i) {
      if (i) body.push_back(',');
      AppendRequestEvent(&body, switchboard::NewUuid(), i);
    }
    body.push_back(']');
    CURL* c = curls[static_cast<size_t>(t)];
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, (std::string("aeg-sas-key: ") + kKey).c_str());
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (!ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file.c_str());
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(headers);
    return rc == CURLE_OK && code == 200;
  };

  // The topic receives the success of every accepted event, of either
  // path (the gateway's publisher follows the whole media log). Each phase
  // waits until the topic holds all successes so far, so no phase's work
  // runs on in the next; it gives up after 10 s without a new event.
  int64_t accepted_total = 0;
  auto cpu_now = [&] {
    return std::array<double, 3>{sb::CpuSeconds(sbd.pid()), sb::CpuSeconds(gw->pid()), sb::SelfCpuSeconds()};
  };
  std::array<double, 3> cpu_at_start{};
  auto wait_drained = [&](Result* r) {
    auto note_cpu = [&] {
      auto now = cpu_now();
      r->cpu_sbd = now[0] - cpu_at_start[0];
      r->cpu_gw = now[1] - cpu_at_start[1];
      r->cpu_self = now[2] - cpu_at_start[2];
    };
    accepted_total += r->events;
    int64_t last_seen = topic_events.load();
    auto last_progress = Clock::now();
    while (Clock::now() - last_progress < std::chrono::seconds(10)) {
      if (topic_success.load() >= accepted_total) {
        r->completed_s = std::chrono::duration<double>(Clock::now() - r->start).count();
        note_cpu();
        return;
      }
      if (topic_events.load() != last_seen) {
        last_seen = topic_events.load();
        last_progress = Clock::now();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    note_cpu();
  };
  std::cerr << "[bench] warm-up\n";
  std::function<bool(int)> direct_batch = grpc_batch;
  std::string direct_label = "gRPC direct (SetBlobMetadata calls)";
  if (direct_mode == "batch") {
    direct_batch = submit_batch;
    direct_label = "gRPC direct (SubmitBatch)";
  }
  Result warm1 = RunLoad("warm-up grpc", clients, batch, 1, direct_batch);
  wait_drained(&warm1);
  Result warm2 = RunLoad("warm-up gateway", clients, batch, 1, http_batch);
  wait_drained(&warm2);
  std::cerr << "[bench] gRPC direct, " << duration << " s\n";
  cpu_at_start = cpu_now();
  Result direct = RunLoad(direct_label, clients, batch, duration, direct_batch);
  wait_drained(&direct);
  std::cerr << "[bench] gateway, " << duration << " s\n";
  cpu_at_start = cpu_now();
  Result via = RunLoad("gateway (POST /api/eventgrid)", clients, batch, duration, http_batch);
  wait_drained(&via);

  // The same gateway serving HTTPS: a new process (the plain one stopped),
  // a certificate made for the run, new connections warmed up first.
  Result via_tls;
  const bool https = cli.GetInt("https") != 0;
  if (https) {
    const std::string tls_dir = work + "/tls";
    fs::create_directories(tls_dir);
    const std::string make_cert = "openssl req -x509 -newkey rsa:2048 -nodes -keyout '" + tls_dir +
                                  "/key.pem' -out '" + tls_dir + "/cert.pem' -days 1 -subj /CN=localhost -addext "
                                  "subjectAltName=DNS:localhost,IP:127.0.0.1 > '" + tls_dir + "/openssl.log' 2>&1";
    if (std::system(make_cert.c_str()) != 0) {
      std::cerr << "sb_bench_gateway: openssl could not make a certificate (see " << tls_dir << "/openssl.log)\n";
      return 1;
    }
    gw->Stop();
    std::string tls_addr;
    gw_process = start_gateway(tls_dir, work + "/gateway-tls.log", &tls_addr);
    if (tls_addr.empty()) return 1;
    gw = gw_process.get();
    url = "https://" + tls_addr + "/api/eventgrid";
    ca_file = tls_dir + "/cert.pem";
    Result warm3 = RunLoad("warm-up gateway https", clients, batch, 1, http_batch);
    wait_drained(&warm3);
    if (warm3.failed_batches > 0 || warm3.events == 0) {
      std::cerr << "sb_bench_gateway: the HTTPS gateway refused the warm-up:\n" << gw->LogTail(4000);
      return 1;
    }
    std::cerr << "[bench] gateway over HTTPS, " << duration << " s\n";
    cpu_at_start = cpu_now();
    via_tls = RunLoad("gateway over HTTPS (POST /api/eventgrid)", clients, batch, duration, http_batch);
    wait_drained(&via_tls);
  }

  std::cout << "\n## Gateway: Event Grid ingestion (" << clients << " clients, batches of " << batch
            << " request.blob.metadata.create, " << duration << " s per phase)\n\n";
  std::cout << "| path | accepted events/s | completed events/s | batches | failed batches | p50 time to ack (ms) | "
               "p99 time to ack (ms) | CPU µs/event: switchboardd, gateway, bench |\n";
  std::cout << "|---|---|---|---|---|---|---|---|\n";
  std::vector<const Result*> rows = {&direct, &via};
  if (https) rows.push_back(&via_tls);
  for (const Result* r : rows) {
    std::cout << "| " << r->label << " | " << Fmt(r->Rate()) << " | "
              << (r->completed_s > 0 ? Fmt(r->CompletedRate()) : std::string("not all")) << " | "
              << r->batch_ms.size() << " | "
              << r->failed_batches << " | " << Fmt(r->Pct(0.50), 1) << " | " << Fmt(r->Pct(0.99), 1) << " | "
              << Fmt(r->CpuUsPerEvent(r->cpu_sbd), 1) << ", " << Fmt(r->CpuUsPerEvent(r->cpu_gw), 1) << ", "
              << Fmt(r->CpuUsPerEvent(r->cpu_self), 1) << " |\n";
  }
  std::cout << "\nGateway throughput vs direct: " << Fmt(direct.Rate() > 0 ? 100.0 * via.Rate() / direct.Rate() : 0, 1)
            << " %; p99 overhead: " << Fmt(via.Pct(0.99) - direct.Pct(0.99), 1) << " ms.\n";
  if (https) {
    std::cout << "HTTPS vs plain HTTP through the gateway: throughput "
              << Fmt(via.Rate() > 0 ? 100.0 * via_tls.Rate() / via.Rate() : 0, 1) << " %; gateway CPU per event "
              << Fmt(via.CpuUsPerEvent(via.cpu_gw) > 0
                         ? via_tls.CpuUsPerEvent(via_tls.cpu_gw) / via.CpuUsPerEvent(via.cpu_gw)
                         : 0,
                     2)
              << "x; p99 time to ack " << Fmt(via_tls.Pct(0.99), 1) << " ms against " << Fmt(via.Pct(0.99), 1)
              << " ms.\n";
  }
  std::cout << "Publisher: topic received " << topic_events.load() << " response events in total ("
            << topic_acks.load() << " acknowledge, " << topic_success.load() << " metadata success, "
            << topic_failure.load() << " failure); ";
  if (direct_mode == "calls") {
    std::cout << "gRPC direct " << (return_when_accepted ? "with" : "without") << " return_when_accepted. ";
  }
  std::cout << "\"Completed\" = accepted events / time from the load's start until the "
               "topic held every success.\n";
  for (CURL* c : curls) curl_easy_cleanup(c);
  gw->Stop();
  sbd.Stop();
  (*topic)->Stop();
  if (own_work) fs::remove_all(work);
  return 0;
}
