// The real sbctl binary against an in-process server: every Event Grid
// fixture through `sbctl media exec`, `sbctl encode --watch` with its
// progress bar, and `sbctl blob upload/download/list` against the local
// store and Azurite.
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/clients/subprocess.h"
#include "server/media/encoder.h"
#include "tests/media/media_test_support.h"

namespace switchboard::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string kEventGrid = std::string(SB_FIXTURES_DIR) + "/eventgrid/";

RunResult Sbctl(const MediaServer& s, std::vector<std::string> args) {
  args.insert(args.begin(), SBCTL_PATH);
  args.push_back("--server=" + const_cast<MediaServer&>(s).server().grpc_address());
  Subprocess::Options o;
  o.unset_env = {"SWITCHBOARD_SERVER", "SWITCHBOARD_TOKEN"};
  return RunCommand(args, o, 180s);
}

std::vector<json> Lines(const std::string& out) {
  std::vector<json> v;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    json j = json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
    if (!j.is_discarded()) v.push_back(j);
  }
  return v;
}

json FixtureEvent(const std::string& name) {
  std::ifstream in(kEventGrid + name);
  EXPECT_TRUE(in.good()) << name;
  json j = json::parse(in, nullptr, false);
  return j.is_array() && !j.empty() ? j[0] : json();
}

json FixtureData(const std::string& name) { return FixtureEvent(name).value("data", json()); }

// A fixture with changes, written to `dir`; returns its path.
std::string VariantFile(const std::string& dir, const std::string& fixture, const json& patch) {
  json batch = json::array({FixtureEvent(fixture)});
  batch[0].merge_patch(patch);
  std::string path = dir + "/variant-" + fixture;
  std::ofstream(path) << batch.dump();
  return path;
}

std::vector<std::string> Types(const std::vector<json>& events) {
  std::vector<std::string> t;
  for (const auto& e : events) t.push_back(e.value("eventType", ""));
  return t;
}

// Runs one fixture (or `path`, a variant of it); checks exit 0, that each
// event's operationContext is the fixture's and an ack's subject is the
// request's subject plus its id, and returns the events. sbctl encodes the
// responses without the request, as the stateless gateway does, so all of
// this came from the server's events.
std::vector<json> Exec(const MediaServer& s, const std::string& fixture, const std::string& path = "") {
  SCOPED_TRACE(fixture);
  RunResult r = Sbctl(s, {"media", "exec", "--file=" + (path.empty() ? kEventGrid + fixture : path)});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto events = Lines(r.out);
  json data = FixtureData(fixture);
  std::string subject = FixtureEvent(fixture).value("subject", "");
  if (!path.empty()) {
    std::ifstream in(path);
    subject = json::parse(in)[0].value("subject", "");
  }
  for (const auto& e : events) {
    EXPECT_EQ(e["dataVersion"], "1.0");
    if (e["eventType"] == "response.acknowledge") {
      EXPECT_FALSE(subject.empty());
      EXPECT_EQ(e["subject"], subject + "/" + e["id"].get<std::string>()) << e.dump();
    }
    if (fixture == "request.rollkey.storage.json") {
      EXPECT_FALSE(e["data"].contains("operationContext")) << e.dump();
    } else if (data.contains("operationContext")) {
      EXPECT_EQ(e["data"]["operationContext"], data["operationContext"]) << e.dump();
    }
  }
  return events;
}

class SbctlMediaExec : public ::testing::Test {
 protected:
  SbctlMediaExec()
      : server_(json{{"workflows", {{"TestWorkflow2", {"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"}}}},
                     {"progress_interval_seconds", 0.2}}) {}
  MediaServer server_;
  TempDir tmp_;
};

TEST_F(SbctlMediaExec, EveryFixtureRunsAndAnswers) {
  std::string clip = GenerateClip(tmp_.path() + "/clip.mp4", 3);
  ASSERT_TRUE(server_.PutLocal("media", "input/clip.mp4", clip).ok());
  std::set<std::string> run;
  auto exec = [&](const std::string& f) {
    run.insert(f);
    return Exec(server_, f);
  };

  {
    RunResult r = Sbctl(server_, {"media", "exec", "--file=" + kEventGrid + "subscription-validation.json"});
    run.insert("subscription-validation.json");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto v = Lines(r.out);
    ASSERT_EQ(v.size(), 1u) << r.out;
    EXPECT_EQ(v[0], json({{"validationResponse", FixtureData("subscription-validation.json")["validationCode"]}}));
  }
  {
    auto ev = exec("request.blob.container.create.json");
    EXPECT_EQ(Types(ev), (std::vector<std::string>{"response.acknowledge", "response.blob.container.create.success"}));
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0]["data"]["eventType"], "request.blob.container.create");
    EXPECT_EQ(ev[1]["data"]["containerName"], "newcontainer");
    EXPECT_EQ(ev[1]["data"]["storageAccountName"], kAccount);
    EXPECT_TRUE(server_.local().ContainerExists(kAccount, "newcontainer").value_or(false));
  }
  {
    auto ev = exec("request.blob.container.access.change.json");
    EXPECT_EQ(Types(ev),
              (std::vector<std::string>{"response.acknowledge", "response.blob.container.access.change.success"}));
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[1]["data"]["accessType"], "Blob");
  }
  {
    auto ev = exec("request.blob.metadata.create.json");
    EXPECT_EQ(Types(ev), (std::vector<std::string>{"response.acknowledge", "response.blob.metadata.success"}));
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[1]["data"]["blobMetadata"], FixtureData("request.blob.metadata.create.json")["blobMetadata"]);
  }
  {
    auto ev = exec("request.blob.analysis.create.json");
    EXPECT_EQ(Types(ev), (std::vector<std::string>{"response.acknowledge", "response.blob.analysis.success"}));
    ASSERT_EQ(ev.size(), 2u);
    const json& res = ev[1]["data"]["analysisResult"];
    ASSERT_TRUE(res.contains("media")) << res.dump().substr(0, 300);
    EXPECT_GE(res["media"]["track"].size(), 3u) << "General, Video and Audio tracks";
    EXPECT_EQ(ev[1]["data"]["analysisResults"], res);
    EXPECT_EQ(ev[1]["data"]["blobMetadata"]["programId"], "1234") << "metadata set by the previous fixture";
  }
  {
    auto ev = exec("request.blob.sas-url.create.json");
    EXPECT_EQ(Types(ev), (std::vector<std::string>{"response.acknowledge", "response.blob.sas-url.success"}));
    ASSERT_EQ(ev.size(), 2u);
    std::string url = ev[1]["data"]["sasUrl"];
    EXPECT_TRUE(absl::StartsWith(url, "http://" + server_.http() + "/devstoreaccount1/media/input/clip.mp4?")) << url;
    EXPECT_TRUE(absl::StrContains(url, "sp=r&")) << url;
  }
  {
    auto ev = exec("request.blob.tier.change.json");
    EXPECT_EQ(Types(ev), (std::vector<std::string>{"response.acknowledge", "response.blob.tier.success"}));
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[1]["data"]["accessTier"], "Cool");
    EXPECT_EQ(ev[1]["data"]["rehydratePriority"], "Standard");
    EXPECT_EQ(ev[1]["data"]["blobUri"], FixtureData("request.blob.tier.change.json")["blobUri"]);
  }
  {
    // Back to Hot with High: the priority comes back as given.
    std::string f = VariantFile(tmp_.path(), "request.blob.tier.change.json",
                                {{"id", "tier-high-1"},
                                 {"subject", "/requests/tier-high"},
                                 {"data", {{"accessTier", "Hot"}, {"rehydratePriority", "High"}}}});
    auto ev = Exec(server_, "request.blob.tier.change.json", f);
    EXPECT_EQ(Types(ev), (std::vector<std::string>{"response.acknowledge", "response.blob.tier.success"}));
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_TRUE(absl::StartsWith(ev[0]["subject"].get<std::string>(), "/requests/tier-high/")) << ev[0]["subject"];
    EXPECT_EQ(ev[1]["data"]["accessTier"], "Hot");
    EXPECT_EQ(ev[1]["data"]["rehydratePriority"], "High");
  }
  {
    auto ev = exec("request.blob.copy.json");
    EXPECT_EQ(Types(ev), (std::vector<std::string>{"response.acknowledge", "response.blob.copy.scheduled",
                                                   "response.blob.created.success"}));
    ASSERT_EQ(ev.size(), 3u);
    json d = FixtureData("request.blob.copy.json");
    EXPECT_EQ(ev[1]["data"]["sourceUri"], d["sourceUri"]);
    EXPECT_EQ(ev[1]["data"]["destinationUri"], d["destinationUri"]);
    EXPECT_EQ(ev[2]["data"]["blobUri"], d["destinationUri"]);
    EXPECT_EQ(ev[2]["data"]["contentLength"], clip.size());
    EXPECT_TRUE(server_.local().GetProperties(blob::BlobRef{kAccount, "archive", "clip.mp4"}).ok());
  }
  for (std::string enc : {"flip", "cloudport"}) {
    auto ev = exec("request.encode." + enc + ".create.json");
    auto types = Types(ev);
    ASSERT_GE(types.size(), 4u);
    EXPECT_EQ(types.front(), "response.acknowledge");
    EXPECT_EQ(types[1], "response.encode." + enc + ".dispatched");
    EXPECT_EQ(types.back(), "response.encode." + enc + ".success");
    int processing = 0, last = -1;
    for (const auto& e : ev) {
      if (e["eventType"] == "response.encode." + enc + ".processing") {
        ++processing;
        int pc = e["data"]["percentComplete"];
        EXPECT_GE(pc, last) << "progress never goes back";
        last = pc;
      }
      if (absl::StartsWith(e.value("eventType", ""), "response.encode.")) {
        EXPECT_FALSE(e["data"]["workflowJobName"].get<std::string>().empty());
        EXPECT_TRUE(e["data"]["encoderContext"].is_object());
      }
    }
    EXPECT_GE(processing, 1);
    const json& outs = ev.back()["data"]["outputs"];
    ASSERT_EQ(outs.size(), 1u);
    std::string out_uri = outs[0]["blobUri"];
    // Outputs point where the blob is really served: the local listener.
    const std::string prefix = "http://" + server_.http() + "/devstoreaccount1/encoded/";
    ASSERT_TRUE(absl::StartsWith(out_uri, prefix)) << out_uri;
    std::string name = out_uri.substr(prefix.size());
    auto props = server_.local().GetProperties(blob::BlobRef{kAccount, "encoded", name});
    ASSERT_TRUE(props.ok()) << props.status();
    EXPECT_GT(props->size, 1000);
  }
  {
    auto ev = exec("microsoft.storage.blobcreated.json");
    EXPECT_EQ(Types(ev), (std::vector<std::string>{"response.blob.created.success"}));
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0]["data"]["operationContext"], json({{"prodID", 10}, {"dc", "abc"}})) << "from clientRequestId";
    EXPECT_EQ(ev[0]["data"]["blobUri"], FixtureData("microsoft.storage.blobcreated.json")["url"]);
  }
  {
    auto ev = exec("request.rollkey.storage.json");
    EXPECT_EQ(Types(ev), (std::vector<std::string>{"response.rollkey.storage.success"})) << "no ack for rollkey";
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0]["data"]["account"], kAccount);
    EXPECT_EQ(ev[0]["data"]["keyName"], "key1");
  }
  {
    std::string f = VariantFile(tmp_.path(), "request.rollkey.storage.json",
                                {{"id", "rollkey-key2-1"}, {"data", {{"keyName", "key2"}}}});
    auto ev = Exec(server_, "request.rollkey.storage.json", f);
    EXPECT_EQ(Types(ev), (std::vector<std::string>{"response.rollkey.storage.success"}));
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0]["data"]["account"], kAccount);
    EXPECT_EQ(ev[0]["data"]["keyName"], "key2");
  }
  {
    auto ev = exec("request.blob.container.delete.json");
    EXPECT_EQ(Types(ev), (std::vector<std::string>{"response.acknowledge", "response.blob.container.delete.success"}));
    EXPECT_FALSE(server_.local().ContainerExists(kAccount, "newcontainer").value_or(true));
  }
  {
    auto ev = exec("request.blob.delete.json");
    EXPECT_EQ(Types(ev), (std::vector<std::string>{"response.acknowledge", "response.blob.delete.scheduled",
                                                   "response.blob.delete.success"}));
    ASSERT_EQ(ev.size(), 3u);
    EXPECT_EQ(ev[1]["data"]["blobMetadata"]["title"], "Clip one");
    EXPECT_FALSE(server_.local().GetProperties(blob::BlobRef{kAccount, "media", "input/clip.mp4"}).ok());
  }
  // Every fixture file was run.
  for (const auto& entry : std::filesystem::directory_iterator(kEventGrid)) {
    EXPECT_EQ(run.count(entry.path().filename().string()), 1u) << entry.path() << " was not run through media exec";
  }
}

TEST_F(SbctlMediaExec, FailuresBecomeFailureEvents) {
  // The blob does not exist: the operation fails with its logEventId.
  RunResult r = Sbctl(server_, {"media", "exec", "--file=" + kEventGrid + "request.blob.delete.json"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto ev = Lines(r.out);
  ASSERT_EQ(Types(ev), (std::vector<std::string>{"response.acknowledge", "response.failure"})) << r.out;
  EXPECT_EQ(ev[1]["data"]["logEventId"], 313001);
  EXPECT_EQ(ev[1]["data"]["eventHandlerClassName"], "BlobDeleteHandler");
  EXPECT_EQ(ev[1]["subject"], "gridwichFailure/BlobDeleteHandler/313001");
  EXPECT_EQ(ev[1]["data"]["operationContext"], json({{"prodID", 10}, {"dc", "abc"}}));

  // Rejected before an operation exists (bad tier word): response.failure
  // with the request-decoding id, naming the field.
  json bad = json::parse(std::ifstream(kEventGrid + "request.blob.tier.change.json"));
  bad[0]["data"]["accessTier"] = "Lukewarm";
  std::string path = tmp_.path() + "/bad.json";
  std::ofstream(path) << bad.dump();
  r = Sbctl(server_, {"media", "exec", "--file=" + path});
  EXPECT_EQ(r.exit_code, 1);
  ev = Lines(r.out);
  ASSERT_EQ(ev.size(), 1u) << r.out;
  EXPECT_EQ(ev[0]["eventType"], "response.failure");
  EXPECT_EQ(ev[0]["data"]["logEventId"], 230001);
  EXPECT_TRUE(absl::StrContains(ev[0]["data"]["logEventMessage"].get<std::string>(), "data.accessTier"));

  // Unknown eventType.
  bad[0]["eventType"] = "request.blob.teleport";
  std::ofstream(path) << bad.dump();
  r = Sbctl(server_, {"media", "exec", "--file=" + path});
  EXPECT_EQ(r.exit_code, 1);
  ev = Lines(r.out);
  ASSERT_EQ(ev.size(), 1u) << r.out;
  EXPECT_EQ(ev[0]["data"]["logEventId"], 230002);

  // Engine validation (secToLive over 7 days) also answers with a failure.
  json sas = json::parse(std::ifstream(kEventGrid + "request.blob.sas-url.create.json"));
  sas[0]["data"]["secToLive"] = 604801;
  std::ofstream(path) << sas.dump();
  r = Sbctl(server_, {"media", "exec", "--file=" + path});
  EXPECT_EQ(r.exit_code, 1);
  ev = Lines(r.out);
  ASSERT_EQ(ev.size(), 1u) << r.out;
  EXPECT_TRUE(absl::StrContains(ev[0]["data"]["logEventMessage"].get<std::string>(), "sec_to_live")) << r.out;

  // Not an Event Grid array at all: a usage error, exit 2, nothing printed.
  std::ofstream(path) << "{\"id\": 1}";
  r = Sbctl(server_, {"media", "exec", "--file=" + path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_TRUE(absl::StrContains(r.err, "array")) << r.err;
}

TEST_F(SbctlMediaExec, EncodeWatchShowsProgressAndOutputs) {
  std::string clip = GenerateClip(tmp_.path() + "/clip.mp4", 6, "640x360");
  std::string upload = tmp_.path() + "/clip.mp4";
  // Upload through sbctl (PUT to the local HTTP listener with a write SAS).
  (void)server_.local().CreateContainer(kAccount, "inbox");
  RunResult r = Sbctl(server_, {"blob", "upload", upload, AzureUri("inbox", "clip.mp4")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Sbctl(server_, {"encode", AzureUri("inbox", "clip.mp4"), "--output=" + AzureUri("out"), "--profile=h264",
                      "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "dispatched as ")) << r.out;
  // Progress speaks plainly ("h264: encoding 3.0 s of 6.0 s"), not in
  // ffmpeg's words ("h264: continue at 3.0s").
  EXPECT_FALSE(absl::StrContains(r.out, "continue")) << r.out;
  EXPECT_FALSE(absl::StrContains(r.out, "\r")) << "not a terminal: one line per update\n" << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "elapsed ")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "ETA ")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "] 100%")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "outputs:")) << r.out;
  std::string out_uri;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::StartsWith(line, "  http")) out_uri = std::string(line.substr(2));
  }
  ASSERT_TRUE(absl::StartsWith(out_uri, "http://" + server_.http() + "/devstoreaccount1/out/")) << r.out;
  // The output downloads and is real MP4.
  std::string file = tmp_.path() + "/out.mp4";
  r = Sbctl(server_, {"blob", "download", out_uri, file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(file, std::ios::binary);
  std::string head(12, '\0');
  in.read(head.data(), 12);
  EXPECT_EQ(head.substr(4, 4), "ftyp");
  EXPECT_FALSE(std::filesystem::exists(file + ".sbctl-part"));

  // CloudPort by workflow name (a built-in one).
  r = Sbctl(server_, {"encode", AzureUri("inbox", "clip.mp4"), "--output=" + AzureUri("out"),
                      "--encoder=cloudport", "--workflow=CloudPortH264", "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "dispatched as cloudport-")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "/devstoreaccount1/out/cloudport-")) << r.out;
  r = Sbctl(server_, {"encode", AzureUri("inbox", "clip.mp4"), "--output=" + AzureUri("out"), "--encoder=cloudport"});
  EXPECT_EQ(r.exit_code, 2) << "cloudport needs --workflow";

  // An encode of something that is not media fails cleanly, exit 1.
  std::string junk = tmp_.path() + "/junk.mp4";
  std::ofstream(junk) << std::string(5000, 'x');
  ASSERT_EQ(Sbctl(server_, {"blob", "upload", junk, AzureUri("inbox", "junk.mp4")}).exit_code, 0);
  r = Sbctl(server_, {"encode", AzureUri("inbox", "junk.mp4"), "--output=" + AzureUri("out"), "--watch"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(absl::StrContains(r.err, "failed: 3200")) << r.err;
}

// The encode status in progress events, in plain words.
TEST(EncodeProgressText, SaysHowMuchIsEncoded) {
  EXPECT_EQ(media::EncodeProgressText(58.06, 60, false), "encoding 58.1 s of 60.0 s");
  EXPECT_EQ(media::EncodeProgressText(3, -1, false), "encoding 3.0 s");  // duration unknown
  EXPECT_EQ(media::EncodeProgressText(60.04, 60, true), "encoded 60.0 s");
  EXPECT_EQ(media::EncodeProgressText(61.5, 60, false), "encoding 60.0 s of 60.0 s");  // never past the end
  EXPECT_EQ(media::EncodeProgressText(-1, 60, false), "encoding 0.0 s of 60.0 s");
}

// The same blob commands against the local store and Azurite.
void BlobRoundTrip(MediaServer& s, const std::string& dir) {
  std::string container = absl::StrCat("sbctl-", absl::ToUnixMicros(absl::Now()));
  RunResult r = Sbctl(s, {"media", "container", "create", kAccount, container});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string src = dir + "/data.bin";
  std::string body;
  for (int i = 0; i < 300000; ++i) body.push_back(static_cast<char>('a' + i % 26));
  std::ofstream(src, std::ios::binary) << body;
  r = Sbctl(s, {"blob", "upload", src, AzureUri(container, "dir/data.bin"), "--content_type=application/x-test"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "uploaded 300000 bytes")) << r.out;
  r = Sbctl(s, {"blob", "list", AzureUri(container), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto blobs = Lines(r.out);
  ASSERT_EQ(blobs.size(), 1u) << r.out;
  EXPECT_EQ(blobs[0]["blob_uri"], AzureUri(container, "dir/data.bin"));
  EXPECT_EQ(blobs[0]["size"], "300000");
  EXPECT_EQ(blobs[0]["content_type"], "application/x-test");
  std::string back = dir + "/back.bin";
  r = Sbctl(s, {"blob", "download", AzureUri(container, "dir/data.bin"), back});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(back, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), body);
  // A missing blob: exit 1 with the HTTP problem, and no file left behind.
  std::string none = dir + "/none.bin";
  r = Sbctl(s, {"blob", "download", AzureUri(container, "missing.bin"), none});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "404")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(none));
  EXPECT_FALSE(std::filesystem::exists(none + ".sbctl-part"));
  // A foreign host is rejected by the server, naming the field.
  r = Sbctl(s, {"blob", "upload", src, "https://evil.example.com/c/b"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // a local error: no SAS URL to upload to
  EXPECT_TRUE(absl::StrContains(r.err, "blob_uri")) << r.err;
  r = Sbctl(s, {"media", "container", "delete", kAccount, container});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(SbctlBlob, UploadListDownloadLocalStore) {
  MediaServer s;
  TempDir tmp;
  BlobRoundTrip(s, tmp.path());
}

TEST(SbctlBlob, UploadListDownloadAzurite) {
  MediaServer s(json{{"local_accounts", json::array()}, {"azure_accounts", {AzuriteAccountJson(kAccount)}}});
  TempDir tmp;
  BlobRoundTrip(s, tmp.path());
}

TEST(SbctlMedia, OperationCommands) {
  MediaServer s;
  TempDir tmp;
  ASSERT_TRUE(s.PutLocal("cone", "a.txt", "hello").ok());
  RunResult r = Sbctl(s, {"media", "metadata", AzureUri("cone", "a.txt"), "title=Hi", "--context={\"k\":1}"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "SUCCEEDED")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "title = Hi")) << r.out;
  // Server-side rejections exit 1 (the server answered with an error).
  r = Sbctl(s, {"media", "metadata", AzureUri("cone", "a.txt"), "1bad=x"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "INVALID_ARGUMENT")) << r.err;
  EXPECT_TRUE(absl::StrContains(r.err, "1bad")) << r.err;
  r = Sbctl(s, {"media", "sas", AzureUri("cone", "a.txt"), "--ttl=60"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "http://" + s.http() + "/")) << r.out;
  r = Sbctl(s, {"media", "sas", AzureUri("cone", "a.txt"), "--ttl=0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.err, "sec_to_live")) << r.err;
  r = Sbctl(s, {"media", "copy", AzureUri("cone", "a.txt"), AzureUri("ctwo", "b.txt")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "SUCCEEDED")) << r.out;
  r = Sbctl(s, {"media", "tier", AzureUri("ctwo", "b.txt"), "Lukewarm"});
  EXPECT_EQ(r.exit_code, 2);
  r = Sbctl(s, {"media", "tier", AzureUri("ctwo", "b.txt"), "Archive"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "ARCHIVE")) << r.out;
  r = Sbctl(s, {"media", "delete", AzureUri("ctwo", "b.txt")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Sbctl(s, {"media", "delete", AzureUri("ctwo", "b.txt")});
  EXPECT_EQ(r.exit_code, 1) << "a missing blob is a failure";
  EXPECT_TRUE(absl::StrContains(r.out, "313001")) << r.out;
  r = Sbctl(s, {"media", "container", "access", kAccount, "cone", "Public"});
  EXPECT_EQ(r.exit_code, 2);
  r = Sbctl(s, {"media", "container", "access", kAccount, "cone", "BlobContainer"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Sbctl(s, {"media", "rollkey", kAccount, "key2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Sbctl(s, {"media", "operations", "--type=COPY_BLOB", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ops = Lines(r.out);
  ASSERT_EQ(ops.size(), 1u) << r.out;
  std::string name = ops[0]["name"];
  r = Sbctl(s, {"media", "get", name.substr(std::string("operations/").size())});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, name)) << r.out;
  r = Sbctl(s, {"media", "operations", "--type=TELEPORT"});
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace switchboard::testing
