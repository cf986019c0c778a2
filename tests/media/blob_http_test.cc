// The blob listener over real HTTP on loopback (libcurl), and SAS URLs
// against both the listener and Azurite.
#include <sys/wait.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "common/azure/http_client.h"
#include "common/azure/sas.h"
#include "common/azure/xml.h"
#include "tests/media/media_test_support.h"

namespace switchboard::testing {
namespace {

using v1::MediaService;

azure::HttpResponse Get(const std::string& url, std::vector<std::pair<std::string, std::string>> headers = {},
                        const std::string& method = "GET") {
  azure::HttpRequest r;
  r.method = method;
  r.url = url;
  r.headers = std::move(headers);
  auto resp = azure::PerformHttp(r);
  EXPECT_TRUE(resp.ok()) << resp.status();
  return resp.ok() ? *resp : azure::HttpResponse{};
}

std::string SasUrl(MediaServer& s, const std::string& uri, int64_t ttl) {
  v1::CreateSasUrlRequest r;
  r.set_blob_uri(uri);
  r.set_sec_to_live(ttl);
  v1::Operation op;
  grpc::Status st = Call(&MediaService::Stub::CreateSasUrl, s.stub(), r, &op);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(op.state(), v1::Operation::SUCCEEDED) << op.failure().log_event_message();
  return op.sas_url();
}

// `url` with one base64 letter of its SAS signature changed, never inside a
// %XX escape: a changed escape can decode to bytes that are no base64 at
// all, which Azurite answers with 500 instead of judging the signature.
std::string Tampered(const std::string& url) {
  std::string out = url;
  size_t at = out.find("sig=");
  EXPECT_NE(at, std::string::npos) << url;
  if (at == std::string::npos) return out;
  at += 4;
  while (at < out.size() && !std::isalnum(static_cast<unsigned char>(out[at]))) at += out[at] == '%' ? 3 : 1;
  EXPECT_LT(at, out.size()) << url;
  if (at < out.size()) out[at] = out[at] == 'A' ? 'B' : 'A';
  return out;
}

void SetAccess(MediaServer& s, const std::string& container, v1::ContainerAccess a) {
  v1::ChangeContainerAccessRequest r;
  r.set_storage_account_name(kAccount);
  r.set_container_name(container);
  r.set_access(a);
  v1::Operation op;
  ASSERT_TRUE(Call(&MediaService::Stub::ChangeContainerAccess, s.stub(), r, &op).ok());
  ASSERT_EQ(op.state(), v1::Operation::SUCCEEDED);
}

TEST(BlobHttp, ContainerAccessLevelsGovernAnonymousReads) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("pub", "a.txt", "hello", {{"who", "me"}}).ok());
  std::string blob = absl::StrCat("http://", s.http(), "/", kAccount, "/pub/a.txt");
  std::string list = absl::StrCat("http://", s.http(), "/", kAccount, "/pub?restype=container&comp=list");
  EXPECT_EQ(Get(blob).status, 404);  // None: hidden
  EXPECT_EQ(Get(list).status, 404);
  SetAccess(s, "pub", v1::BLOB);
  auto r = Get(blob);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.header("x-ms-meta-who"), "me");
  EXPECT_FALSE(r.header("etag").empty());
  EXPECT_EQ(Get(list).status, 404);  // Blob: no listing
  SetAccess(s, "pub", v1::BLOB_CONTAINER);
  auto l = Get(list);
  EXPECT_EQ(l.status, 200);
  EXPECT_NE(l.body.find("<Name>a.txt</Name>"), std::string::npos) << l.body;
  SetAccess(s, "pub", v1::PRIVATE);
  EXPECT_EQ(Get(blob).status, 404);
  // /healthz still reaches the admin handler.
  EXPECT_EQ(Get(absl::StrCat("http://", s.http(), "/healthz")).status, 200);
}

// Error bodies are well-formed XML even when the message repeats what the
// client sent: Azure's SDKs parse them, and fail with PARSE_ERROR otherwise.
TEST(BlobHttp, ErrorBodiesEscapeWhatTheyRepeat) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("media", "a.txt", "hello", {}).ok());
  auto r = Get(absl::StrCat("http://", s.http(), "/", kAccount, "/media/a.txt?sv=1%26%3Cx%3E&sr=b&sig=abc"));
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.header("x-ms-error-code"), "AuthenticationFailed");
  EXPECT_EQ(r.body.find("1&<x>"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("1&amp;&lt;x&gt;"), std::string::npos) << r.body;
  EXPECT_EQ(azure::TagText(r.body, "Message"), "SAS version 1&<x> is not supported");
}

TEST(BlobHttp, RangeHeadAndMetadataHeaders) {
  MediaServer s;
  std::string body;
  for (int i = 0; i < 1000; ++i) body += static_cast<char>('a' + i % 26);
  ASSERT_TRUE(s.PutLocal("media", "dir/r.bin", body, {{"k", "v"}}).ok());
  std::string url = SasUrl(s, AzureUri("media", "dir/r.bin"), 300);
  auto r = Get(url, {{"Range", "bytes=10-19"}});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, body.substr(10, 10));
  EXPECT_EQ(r.header("content-range"), "bytes 10-19/1000");
  r = Get(url, {{"x-ms-range", "bytes=-5"}});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, body.substr(995));
  EXPECT_EQ(Get(url, {{"Range", "bytes=5000-"}}).status, 416);
  r = Get(url, {}, "HEAD");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-length"), "1000");
  EXPECT_EQ(r.header("x-ms-meta-k"), "v");
  EXPECT_TRUE(r.body.empty());
}

TEST(BlobHttp, SasWorksBeforeExpiryAndFailsAfterTamperingExpiryAndKeyRoll) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("media", "a.mp4", "secret").ok());
  std::string url = SasUrl(s, AzureUri("media", "a.mp4"), 2);
  auto ok = Get(url);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "secret");
  // Tampered signature.
  auto t = Get(Tampered(url));
  EXPECT_EQ(t.status, 403);
  EXPECT_EQ(t.header("x-ms-error-code"), "AuthenticationFailed");
  // For another blob.
  std::string other = url;
  other.replace(other.find("a.mp4"), 5, "b.mp4");
  EXPECT_EQ(Get(other).status, 403);
  // Expired.
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  auto expired = Get(url);
  EXPECT_EQ(expired.status, 403);
  EXPECT_NE(expired.body.find("expired"), std::string::npos) << expired.body;
  // Key roll: a fresh SAS works, then stops working when key1 rolls.
  std::string fresh = SasUrl(s, AzureUri("media", "a.mp4"), 300);
  EXPECT_EQ(Get(fresh).status, 200);
  v1::RollStorageKeyRequest roll;
  roll.set_account(kAccount);
  roll.set_key_name("key1");
  v1::Operation op;
  ASSERT_TRUE(Call(&MediaService::Stub::RollStorageKey, s.stub(), roll, &op).ok());
  EXPECT_EQ(Get(fresh).status, 403);
  EXPECT_EQ(Get(SasUrl(s, AzureUri("media", "a.mp4"), 300)).status, 200);
}

TEST(BlobHttp, PutBlobWithWriteSasStreamsToDiskAndEmitsBlobCreated) {
  MediaServer s;
  ASSERT_TRUE(s.local().CreateContainer(kAccount, "inbox").ok());
  auto key = s.local().AccountKey(kAccount, "key1");
  ASSERT_TRUE(key.ok());
  azure::BlobSasValues v;
  v.permissions = "cw";
  v.expiry = absl::Now() + absl::Minutes(5);
  auto sas = azure::CreateBlobSas(kAccount, "inbox", "up/clip.bin", *key, v);
  ASSERT_TRUE(sas.ok());
  std::string url = absl::StrCat("http://", s.http(), "/", kAccount, "/inbox/up/clip.bin?", *sas);
  std::string body(3 << 20, 'x');  // 3 MiB, more than any single read
  for (size_t i = 0; i < body.size(); i += 4097) body[i] = static_cast<char>(i % 251);
  azure::HttpRequest put;
  put.method = "PUT";
  put.url = url;
  put.headers = {{"x-ms-blob-type", "BlockBlob"},
                 {"Content-Type", "video/mp4"},
                 {"x-ms-meta-source", "camera"},
                 {"x-ms-client-request-id", "crid-42"}};
  put.body = body;
  auto resp = azure::PerformHttp(put);
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->status, 201) << resp->body;
  auto props = s.local().GetProperties({kAccount, "inbox", "up/clip.bin"});
  ASSERT_TRUE(props.ok()) << props.status();
  EXPECT_EQ(props->size, static_cast<int64_t>(body.size()));
  EXPECT_EQ(props->content_type, "video/mp4");
  EXPECT_EQ(props->metadata.at("source"), "camera");
  std::string got;
  ASSERT_TRUE(s.local().Read({kAccount, "inbox", "up/clip.bin"}, 0, -1, [&](absl::string_view p) {
    got.append(p.data(), p.size());
    return true;
  }).ok());
  EXPECT_TRUE(got == body);
  // The BlobCreated storage event.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::WatchStorageEventsRequest w;
  auto reader = s.stub().WatchStorageEvents(&ctx, w);
  v1::MediaEvent e;
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_TRUE(e.has_storage());
  EXPECT_EQ(e.storage().kind(), v1::StorageEvent::BLOB_CREATED);
  EXPECT_EQ(e.storage().blob_uri(), absl::StrCat("http://", s.http(), "/", kAccount, "/inbox/up/clip.bin"));
  EXPECT_EQ(e.storage().client_request_id(), "crid-42");
  EXPECT_EQ(e.storage().content_length(), static_cast<int64_t>(body.size()));
  ctx.TryCancel();

  // A read-only SAS cannot write; no SAS cannot write.
  std::string read_url = SasUrl(s, AzureUri("inbox", "up/clip.bin"), 60);
  put.url = read_url;
  put.body = "overwrite";
  EXPECT_EQ(azure::PerformHttp(put)->status, 403);
  put.url = absl::StrCat("http://", s.http(), "/", kAccount, "/inbox/up/clip.bin");
  EXPECT_EQ(azure::PerformHttp(put)->status, 404);
  EXPECT_EQ(s.local().GetProperties({kAccount, "inbox", "up/clip.bin"})->size, static_cast<int64_t>(body.size()));
}

TEST(BlobHttp, SasUrlAgainstAzuriteWorksAndFailsWhenTamperedOrExpired) {
  MediaServer s(nlohmann::json{{"local_accounts", nlohmann::json::array()},
                               {"azure_accounts", {AzuriteAccountJson(kAccount)}}});
  std::string container = absl::StrCat("sas-", absl::ToUnixMicros(absl::Now()));
  v1::CreateContainerRequest c;
  c.set_storage_account_name(kAccount);
  c.set_container_name(container);
  v1::Operation op;
  ASSERT_TRUE(Call(&MediaService::Stub::CreateContainer, s.stub(), c, &op).ok());
  ASSERT_EQ(op.state(), v1::Operation::SUCCEEDED) << op.failure().log_event_message();
  // Upload through the store API (the Azure REST path).
  const char* endpoint = std::getenv("SWITCHBOARD_TEST_AZURITE_BLOB");
  ASSERT_NE(endpoint, nullptr);
  blob::AzureBlobStoreOptions ao;
  ao.accounts.push_back({kAccount, endpoint, std::getenv("SWITCHBOARD_TEST_AZURITE_KEY"), ""});
  auto store = blob::AzureBlobStore::Open(ao);
  ASSERT_TRUE(store.ok());
  std::string body = "azurite bytes";
  size_t pos = 0;
  ASSERT_TRUE((*store)
                  ->PutBlob({kAccount, container, "a.txt"}, static_cast<int64_t>(body.size()),
                            [&](char* buf, size_t cap) -> absl::StatusOr<size_t> {
                              size_t n = std::min(cap, body.size() - pos);
                              std::memcpy(buf, body.data() + pos, n);
                              pos += n;
                              return n;
                            },
                            {})
                  .ok());
  std::string url = SasUrl(s, AzureUri(container, "a.txt"), 2);
  EXPECT_EQ(url.rfind(endpoint, 0), 0u) << url;  // it points where the blob really is
  auto r = Get(url);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(Get(Tampered(url)).status, 403);
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  EXPECT_EQ(Get(url).status, 403);
  (void)(*store)->DeleteContainer(kAccount, container);
}

// tests/azure-sdk: Azure's own Blob SDK (@azure/storage-blob, pinned) runs
// the same operations against this listener and against Azurite, and
// run.mjs compares the answers operation by operation.
std::string AzureSdkDir() {
  std::string here = __FILE__;  // <repo>/tests/media/blob_http_test.cc
  return here.substr(0, here.rfind("/tests/")) + "/tests/azure-sdk";
}

// Runs `command`, returning its exit status and its output (stdout+stderr).
int RunCommand(const std::string& command, std::string* output) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ContainerSas(const std::string& container, const std::string& key) {
  azure::BlobSasValues v;
  v.permissions = "racwdl";
  v.resource = "c";
  v.expiry = absl::Now() + absl::Hours(1);
  auto sas = azure::CreateBlobSas(kAccount, container, "", key, v);
  EXPECT_TRUE(sas.ok()) << sas.status();
  return sas.ok() ? *sas : "";
}

TEST(BlobHttp, AzureSdkAnswersLikeAzurite) {
  const char* endpoint = std::getenv("SWITCHBOARD_TEST_AZURITE_BLOB");
  const char* azurite_key = std::getenv("SWITCHBOARD_TEST_AZURITE_KEY");
  ASSERT_TRUE(endpoint != nullptr && azurite_key != nullptr)
      << "SWITCHBOARD_TEST_AZURITE_BLOB/_KEY are not set: run tools/services.sh start and eval "
         "\"$(tools/services.sh env)\" (tools/test.sh does both)";
  const std::string dir = AzureSdkDir();
  ASSERT_TRUE(std::ifstream(dir + "/node_modules/@azure/storage-blob/package.json").good())
      << "@azure/storage-blob is not installed in " << dir << ": run tools/bootstrap.sh --test";
  const std::string container = absl::StrCat("sdk-", absl::ToUnixMicros(absl::Now()));

  MediaServer s;
  ASSERT_TRUE(s.local().CreateContainer(kAccount, container).ok());
  auto key = s.local().AccountKey(kAccount, "key1");
  ASSERT_TRUE(key.ok());
  std::string local = absl::StrCat("http://", s.http(), "/", kAccount, "/", container, "?", ContainerSas(container, *key));

  blob::AzureBlobStoreOptions ao;
  ao.accounts.push_back({kAccount, endpoint, azurite_key, ""});
  auto azure_store = blob::AzureBlobStore::Open(ao);
  ASSERT_TRUE(azure_store.ok()) << azure_store.status();
  ASSERT_TRUE((*azure_store)->CreateContainer(kAccount, container).ok());
  std::string azurite = absl::StrCat(endpoint, "/", container, "?", ContainerSas(container, azurite_key));

  std::string output;
  int status = RunCommand(absl::StrCat("node '", dir, "/run.mjs' --local '", local, "' --azurite '", azurite, "'"),
                          &output);
  (void)(*azure_store)->DeleteContainer(kAccount, container);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("operations answer as Azurite does"), std::string::npos) << output;
  std::cout << output;
}

}  // namespace
}  // namespace switchboard::testing
