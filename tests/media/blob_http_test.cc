// The blob listener over real HTTP on loopback (libcurl), and SAS URLs
// against both the listener and Azurite.
#include <sys/wait.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "common/azure/http_client.h"
#include "common/azure/sas.h"
#include "common/azure/url.h"
#include "common/azure/xml.h"
#include "absl/strings/escaping.h"
#include "server/http/blob_request.h"
#include "tests/clients/subprocess.h"
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

// Azure's Blob SDK runs the same operations against the listener and
// against Azurite (tests/azure-sdk/run.mjs) and compares the answers; over
// HTTPS, the listener serves a certificate the SDK trusts through
// NODE_EXTRA_CA_CERTS, as a user's would with tools/run.sh's local CA.
void RunAzureSdkSuite(bool https) {
  const char* endpoint = std::getenv("SWITCHBOARD_TEST_AZURITE_BLOB");
  const char* azurite_key = std::getenv("SWITCHBOARD_TEST_AZURITE_KEY");
  ASSERT_TRUE(endpoint != nullptr && azurite_key != nullptr)
      << "SWITCHBOARD_TEST_AZURITE_BLOB/_KEY are not set: run tools/services.sh start and eval "
         "\"$(tools/services.sh env)\" (tools/test.sh does both)";
  const std::string dir = AzureSdkDir();
  ASSERT_TRUE(std::ifstream(dir + "/node_modules/@azure/storage-blob/package.json").good())
      << "@azure/storage-blob is not installed in " << dir << ": run tools/bootstrap.sh --test";
  const std::string container = absl::StrCat("sdk-", absl::ToUnixMicros(absl::Now()));

  TempDir certs;
  core::ServerConfig base;
  std::string env;
  if (https) {
    auto made = MakeTestCertificate(certs.path());
    ASSERT_TRUE(made.made) << "cannot make a test certificate with /usr/bin/openssl: " << made.result.err;
    base.http_tls_cert_file = made.cert;
    base.http_tls_key_file = made.key;
    env = absl::StrCat("NODE_EXTRA_CA_CERTS='", made.cert, "' ");
  }
  MediaServer s(nlohmann::json::object(), "", base);
  ASSERT_TRUE(s.local().CreateContainer(kAccount, container).ok());
  auto key = s.local().AccountKey(kAccount, "key1");
  ASSERT_TRUE(key.ok());
  std::string local = absl::StrCat(https ? "https://" : "http://", s.http(), "/", kAccount, "/", container, "?",
                                   ContainerSas(container, *key));

  blob::AzureBlobStoreOptions ao;
  ao.accounts.push_back({kAccount, endpoint, azurite_key, ""});
  auto azure_store = blob::AzureBlobStore::Open(ao);
  ASSERT_TRUE(azure_store.ok()) << azure_store.status();
  ASSERT_TRUE((*azure_store)->CreateContainer(kAccount, container).ok());
  std::string azurite = absl::StrCat(endpoint, "/", container, "?", ContainerSas(container, azurite_key));

  std::string output;
  int status = RunCommand(
      absl::StrCat(env, "node '", dir, "/run.mjs' --local '", local, "' --azurite '", azurite, "'"), &output);
  (void)(*azure_store)->DeleteContainer(kAccount, container);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("operations answer as Azurite does"), std::string::npos) << output;
  std::cout << output;
}

TEST(BlobHttp, AzureSdkAnswersLikeAzurite) { RunAzureSdkSuite(/*https=*/false); }

TEST(BlobHttp, AzureSdkReadsAndWritesOverHttps) { RunAzureSdkSuite(/*https=*/true); }

// A container SAS URL base ("http://host/account/container") and its query.
struct ContainerUrl {
  std::string base;
  std::string sas;
  std::string Blob(const std::string& name, const std::string& extra = "") const {
    return absl::StrCat(base, "/", name, "?", extra, extra.empty() ? "" : "&", sas);
  }
};

ContainerUrl MakeContainer(MediaServer& s, const std::string& container, const std::string& permissions = "racwdl") {
  EXPECT_TRUE(s.local().CreateContainer(kAccount, container).ok());
  auto key = s.local().AccountKey(kAccount, "key1");
  azure::BlobSasValues v;
  v.permissions = permissions;
  v.resource = "c";
  v.expiry = absl::Now() + absl::Hours(1);
  auto sas = azure::CreateBlobSas(kAccount, container, "", *key, v);
  EXPECT_TRUE(sas.ok());
  return ContainerUrl{absl::StrCat("http://", s.http(), "/", kAccount, "/", container), sas.value_or("")};
}

azure::HttpResponse Put(const std::string& url, const std::string& body,
                        std::vector<std::pair<std::string, std::string>> headers = {}) {
  azure::HttpRequest r;
  r.method = "PUT";
  r.url = url;
  r.headers = std::move(headers);
  r.body = body;
  auto resp = azure::PerformHttp(r);
  EXPECT_TRUE(resp.ok()) << resp.status();
  return resp.ok() ? *resp : azure::HttpResponse{};
}

std::string Base64(absl::string_view s) { return absl::Base64Escape(s); }

TEST(BlobHttp, WhatIsNotServedIsRefusedWithAzureCodesAndCreatesNothing) {
  MediaServer s;
  ContainerUrl c = MakeContainer(s, "media");
  // A comp Azure has, that the listener lacks: 501, and no blob.
  auto r = Put(c.Blob("a.txt", "comp=snapshot"), "", {{"x-ms-blob-type", "BlockBlob"}});
  EXPECT_EQ(r.status, 501) << r.body;
  EXPECT_EQ(r.header("x-ms-error-code"), "NotImplemented");
  EXPECT_EQ(azure::TagText(r.body, "Code"), "NotImplemented");
  // A comp Azure does not know either: 400.
  r = Put(c.Blob("a.txt", "comp=bogus"), "data", {{"x-ms-blob-type", "BlockBlob"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("x-ms-error-code"), "InvalidQueryParameterValue");
  // Page and append blobs; snapshots; leases.
  r = Put(c.Blob("a.txt"), "", {{"x-ms-blob-type", "PageBlob"}});
  EXPECT_EQ(r.header("x-ms-error-code"), "UnsupportedHeader");
  EXPECT_EQ(Get(c.Blob("a.txt", "snapshot=2024-01-01T00:00:00Z")).header("x-ms-error-code"),
            "UnsupportedQueryParameter");
  EXPECT_EQ(Get(c.Blob("a.txt"), {{"x-ms-lease-id", "x"}}).status, 412);
  // Container operations other than listing and properties.
  EXPECT_EQ(Put(absl::StrCat(c.base, "?restype=container&", c.sas), "").status, 501);
  EXPECT_EQ(Get(absl::StrCat("http://", s.http(), "/", kAccount, "?comp=list")).status, 501);
  // Abort Copy: every copy is already over.
  r = Put(c.Blob("a.txt", "comp=copy&copyid=x"), "", {{"x-ms-copy-action", "abort"}});
  EXPECT_EQ(r.header("x-ms-error-code"), "NoPendingCopyOperation");
  EXPECT_EQ(s.local().GetProperties({kAccount, "media", "a.txt"}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Get(c.Blob("a.txt")).status, 404);
}

TEST(BlobHttp, BlocksAreStagedApartAndCommittedInListOrder) {
  MediaServer s;
  ContainerUrl c = MakeContainer(s, "media");
  const std::string one = Base64("id-1"), two = Base64("id-2");
  EXPECT_EQ(Put(c.Blob("b.bin", "comp=block&blockid=" + azure::PercentEncode(one)), "AAA").status, 201);
  EXPECT_EQ(Put(c.Blob("b.bin", "comp=block&blockid=" + azure::PercentEncode(two)), "BB").status, 201);
  // Staged blocks are no blob yet.
  EXPECT_EQ(Get(c.Blob("b.bin")).status, 404);
  // Ids: base64, at most 64 bytes, one length per blob.
  auto r = Put(c.Blob("b.bin", "comp=block&blockid=" + Base64(std::string(65, 'x'))), "x");
  EXPECT_EQ(r.header("x-ms-error-code"), "InvalidQueryParameterValue");
  r = Put(c.Blob("b.bin", "comp=block&blockid=" + Base64("id-10")), "x");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("x-ms-error-code"), "InvalidBlobOrBlock");
  r = Put(c.Blob("b.bin", "comp=block&blockid=%25%25"), "x");
  EXPECT_EQ(r.header("x-ms-error-code"), "InvalidQueryParameterValue");
  // Hashes are checked when sent, and a block that fails is not kept.
  r = Put(c.Blob("b.bin", "comp=block&blockid=" + azure::PercentEncode(Base64("id-3"))), "CCC",
          {{"x-ms-content-crc64", blob::Crc64Base64(blob::Crc64Update(0, "CCD"))}});
  EXPECT_EQ(r.header("x-ms-error-code"), "Crc64Mismatch");
  r = Put(c.Blob("b.bin", "comp=block&blockid=" + azure::PercentEncode(Base64("id-3"))), "CCC",
          {{"x-ms-content-crc64", blob::Crc64Base64(blob::Crc64Update(0, "CCC"))}});
  EXPECT_EQ(r.status, 201) << r.body;
  auto list = Get(c.Blob("b.bin", "comp=blocklist&blocklisttype=all"));
  EXPECT_EQ(list.status, 200);
  EXPECT_NE(list.body.find(absl::StrCat("<UncommittedBlocks><Block><Name>", one, "</Name><Size>3</Size></Block>")),
            std::string::npos) << list.body;
  // A list naming a block that is not staged: InvalidBlockList, no blob.
  std::string xml = absl::StrCat("<?xml version=\"1.0\"?><BlockList><Latest>", two, "</Latest><Uncommitted>",
                                 Base64("id-9"), "</Uncommitted></BlockList>");
  r = Put(c.Blob("b.bin", "comp=blocklist"), xml);
  EXPECT_EQ(r.header("x-ms-error-code"), "InvalidBlockList");
  EXPECT_EQ(Put(c.Blob("b.bin", "comp=blocklist"), "<BlockList><Latest>").header("x-ms-error-code"),
            "InvalidXmlDocument");
  xml = absl::StrCat("<BlockList><Latest>", two, "</Latest><Uncommitted>", one, "</Uncommitted><Latest>", two,
                     "</Latest></BlockList>");
  r = Put(c.Blob("b.bin", "comp=blocklist"), xml,
          {{"x-ms-blob-content-type", "text/x-test"}, {"x-ms-blob-cache-control", "no-store"},
           {"x-ms-meta-who", "blocks"}});
  EXPECT_EQ(r.status, 201) << r.body;
  r = Get(c.Blob("b.bin"));
  EXPECT_EQ(r.body, "BBAAABB");
  EXPECT_EQ(r.header("content-type"), "text/x-test");
  EXPECT_EQ(r.header("cache-control"), "no-store");
  EXPECT_EQ(r.header("x-ms-meta-who"), "blocks");
  // Like Azure, a block list commit keeps only an MD5 the client sent.
  EXPECT_EQ(r.header("content-md5"), "");
  // The commit dropped id-3, which it did not list; id-2 can be reused as committed.
  list = Get(c.Blob("b.bin", "comp=blocklist&blocklisttype=all"));
  EXPECT_NE(list.body.find("<UncommittedBlocks></UncommittedBlocks>"), std::string::npos) << list.body;
  r = Put(c.Blob("b.bin", "comp=blocklist"), absl::StrCat("<BlockList><Committed>", one, "</Committed></BlockList>"));
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Get(c.Blob("b.bin")).body, "AAA");
  EXPECT_EQ(Get(c.Blob("b.bin")).header("content-type"), "application/octet-stream");
}

TEST(BlobHttp, ConditionsOnReadsAndWrites) {
  MediaServer s;
  ContainerUrl c = MakeContainer(s, "media");
  auto r = Put(c.Blob("c.txt"), "v1", {{"x-ms-blob-type", "BlockBlob"}, {"If-None-Match", "*"}});
  EXPECT_EQ(r.status, 201);
  const std::string etag = r.header("etag");
  const std::string modified = r.header("last-modified");
  r = Put(c.Blob("c.txt"), "v2", {{"x-ms-blob-type", "BlockBlob"}, {"If-None-Match", "*"}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.header("x-ms-error-code"), "BlobAlreadyExists");
  r = Put(c.Blob("c.txt"), "v2", {{"x-ms-blob-type", "BlockBlob"}, {"If-Match", "\"0x1\""}});
  EXPECT_EQ(r.header("x-ms-error-code"), "ConditionNotMet");
  EXPECT_EQ(Get(c.Blob("c.txt")).body, "v1");
  EXPECT_EQ(Get(c.Blob("c.txt"), {{"If-Match", "\"0x1\""}}).status, 412);
  EXPECT_EQ(Get(c.Blob("c.txt"), {{"If-None-Match", etag}}).status, 304);
  EXPECT_EQ(Get(c.Blob("c.txt"), {{"If-Modified-Since", modified}}).status, 304);
  EXPECT_EQ(Get(c.Blob("c.txt"), {{"If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"}}).status, 412);
  EXPECT_EQ(Get(c.Blob("c.txt"), {{"If-Modified-Since", "not a date"}}).status, 200);
  azure::HttpRequest del;
  del.method = "DELETE";
  del.url = c.Blob("c.txt");
  del.headers = {{"If-Match", "\"0x1\""}};
  EXPECT_EQ(azure::PerformHttp(del)->status, 412);
  del.headers = {{"If-Match", etag}};
  EXPECT_EQ(azure::PerformHttp(del)->status, 202);
  EXPECT_EQ(Get(c.Blob("c.txt")).status, 404);
  // The pure check: If-Match on a missing blob fails a write.
  http::BlobConditions cond;
  cond.if_match = "*";
  EXPECT_EQ(http::CheckConditions(cond, nullptr, true)->status, 412);
}

TEST(BlobHttp, DeleteNeedsTheDeletePermission) {
  MediaServer s;
  ContainerUrl rw = MakeContainer(s, "media", "rw");
  ASSERT_EQ(Put(rw.Blob("d.txt"), "x", {{"x-ms-blob-type", "BlockBlob"}}).status, 201);
  azure::HttpRequest del;
  del.method = "DELETE";
  del.url = rw.Blob("d.txt");
  auto r = azure::PerformHttp(del);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->header("x-ms-error-code"), "AuthorizationPermissionMismatch");
  EXPECT_EQ(Get(rw.Blob("d.txt")).status, 200);
}

TEST(BlobHttp, ListingWithDelimiterMarkerAndMaxResults) {
  MediaServer s;
  ContainerUrl c = MakeContainer(s, "media");
  for (const char* n : {"a/1", "a/2", "b", "c/x/1", "d"}) ASSERT_TRUE(s.PutLocal("media", n, "x").ok());
  std::string marker;
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    auto r = Get(absl::StrCat(c.base, "?restype=container&comp=list&delimiter=/&maxresults=2",
                              marker.empty() ? "" : "&marker=" + azure::PercentEncode(marker), "&", c.sas));
    ASSERT_EQ(r.status, 200) << r.body;
    for (absl::string_view rest = r.body; !rest.empty();) {
      size_t at = rest.find("<Name>");
      if (at == absl::string_view::npos) break;
      size_t end = rest.find("</Name>", at);
      seen.emplace_back(rest.substr(at + 6, end - at - 6));
      rest = rest.substr(end);
    }
    marker = azure::TagText(r.body, "NextMarker");
    if (marker.empty()) break;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a/", "b", "c/", "d"}));
  EXPECT_EQ(Get(absl::StrCat(c.base, "?restype=container&comp=list&maxresults=0&", c.sas)).status, 400);
}

TEST(BlobHttp, ContainerPropertiesAnonymouslyOnlyWhenPublic) {
  MediaServer s;
  ContainerUrl c = MakeContainer(s, "pub");
  std::string url = absl::StrCat(c.base, "?restype=container");
  EXPECT_EQ(Get(url).status, 404);
  // A service SAS does not grant it (Azure and Azurite answer the same).
  EXPECT_EQ(Get(absl::StrCat(url, "&", c.sas)).header("x-ms-error-code"), "AuthorizationPermissionMismatch");
  SetAccess(s, "pub", v1::BLOB_CONTAINER);
  auto r = Get(url);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-ms-blob-public-access"), "container");
  EXPECT_FALSE(r.header("etag").empty());
}

TEST(BlobHttp, CopiesReadTheSourceThroughItsOwnSasAndNeverCopyNothing) {
  MediaServer s;
  ContainerUrl c = MakeContainer(s, "media");
  ContainerUrl other = MakeContainer(s, "other");
  std::string body(100000, 'z');
  ASSERT_TRUE(s.PutLocal("other", "src.bin", body, {{"from", "src"}}).ok());
  // No SAS on the source, private container: refused.
  auto r = Put(c.Blob("dst.bin"), "", {{"x-ms-copy-source", absl::StrCat(other.base, "/src.bin")},
                                       {"x-ms-blob-type", "BlockBlob"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header("x-ms-error-code"), "CannotVerifyCopySource");
  // The destination's SAS does not open another container.
  r = Put(c.Blob("dst.bin"), "", {{"x-ms-copy-source", absl::StrCat(other.base, "/src.bin?", c.sas)},
                                  {"x-ms-blob-type", "BlockBlob"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.header("x-ms-error-code"), "CannotVerifyCopySource");
  // Elsewhere: refused, not fetched.
  r = Put(c.Blob("dst.bin"), "", {{"x-ms-copy-source", "http://192.0.2.1/devstoreaccount1/x/y"},
                                  {"x-ms-blob-type", "BlockBlob"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("x-ms-error-code"), "CannotVerifyCopySource");
  EXPECT_EQ(Get(c.Blob("dst.bin")).status, 404);
  // With the source's own SAS: the bytes (Put Blob From URL: the request's metadata).
  r = Put(c.Blob("dst.bin"), "", {{"x-ms-copy-source", other.Blob("src.bin")}, {"x-ms-blob-type", "BlockBlob"},
                                  {"x-ms-meta-to", "dst"}});
  EXPECT_EQ(r.status, 201) << r.body;
  auto got = Get(c.Blob("dst.bin"));
  EXPECT_TRUE(got.body == body);
  EXPECT_EQ(got.header("x-ms-meta-to"), "dst");
  EXPECT_EQ(got.header("x-ms-meta-from"), "");
  // Copy Blob: 202, success at once, the source's metadata.
  r = Put(c.Blob("copy.bin"), "", {{"x-ms-copy-source", other.Blob("src.bin")}});
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.header("x-ms-copy-status"), "success");
  got = Get(c.Blob("copy.bin"));
  EXPECT_EQ(got.body.size(), body.size());
  EXPECT_EQ(got.header("x-ms-meta-from"), "src");
}

TEST(BlobHttp, PureListingAndBlockListParsing) {
  std::vector<blob::BlobProperties> blobs;
  for (const char* n : {"p/a", "p/b/1", "p/b/2", "p/c", "q"}) {
    blob::BlobProperties b;
    b.name = n;
    blobs.push_back(b);
  }
  http::BlobCall call;
  call.prefix = "p/";
  call.delimiter = "/";
  call.max_results = 2;
  auto page = http::PageBlobs(blobs, call);
  ASSERT_EQ(page.entries.size(), 2u);
  EXPECT_EQ(std::get<size_t>(page.entries[0]), 0u);
  EXPECT_EQ(std::get<std::string>(page.entries[1]), "p/b/");
  EXPECT_EQ(page.next_marker, "p/c");
  call.marker = page.next_marker;
  page = http::PageBlobs(blobs, call);
  ASSERT_EQ(page.entries.size(), 1u);
  EXPECT_EQ(page.next_marker, "");

  auto entries = http::ParseBlockListXml(absl::StrCat(
      "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<BlockList>\n  <Committed>", Base64("a"),
      "</Committed>\n  <Uncommitted>", Base64("b"), "</Uncommitted><Latest>", Base64("c"), "</Latest>\n</BlockList>"));
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[1].id, "b");
  EXPECT_EQ((*entries)[1].kind, blob::BlockListEntry::Kind::kUncommitted);
  for (const char* bad : {"", "<BlockList>", "<BlockList><Other>YQ==</Other></BlockList>",
                          "<BlockList><Latest>!!</Latest></BlockList>", "<BlockList></BlockList>trailing"}) {
    EXPECT_FALSE(http::ParseBlockListXml(bad).ok()) << bad;
  }
  // Azure's CRC-64 (CRC-64/NVME's check value).
  EXPECT_EQ(blob::Crc64Update(0, "123456789"), 0xAE8B14860A799888ULL);
  EXPECT_EQ(blob::Crc64Update(blob::Crc64Update(0, "1234"), "56789"), 0xAE8B14860A799888ULL);
}

}  // namespace
}  // namespace switchboard::testing
