// Azure's XML through pugixml (common/azure/xml.h), and the blob store's
// listing read with it from a loopback server that plays Azure: every blob,
// its properties and metadata; a page cut short is an error, not a short
// listing.

#include "common/azure/xml.h"

#include <gtest/gtest.h>

#include <string>

#include "common/http/server.h"
#include "server/blob/azure_blob_store.h"

namespace switchboard::azure {
namespace {

constexpr char kList[] =
    "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<EnumerationResults ServiceEndpoint=\"http://127.0.0.1/acct\" ContainerName=\"media\">\n"
    "  <Blobs>\n"
    "    <Blob>\n"
    "      <Name>a &amp; b.mp4</Name>\n"
    "      <Properties><Content-Length>1234</Content-Length><Content-Type>video/mp4</Content-Type>"
    "<Etag>\"0x1\"</Etag><Last-Modified>Tue, 14 Nov 2023 22:13:20 GMT</Last-Modified>"
    "<AccessTier>Cool</AccessTier></Properties>\n"
    "      <Metadata><Owner>Ann</Owner><Name>not the blob's name</Name><empty/></Metadata>\n"
    "    </Blob>\n"
    "    <BlobPrefix><Name>dir/</Name></BlobPrefix>\n"
    "    <Blob><Name><![CDATA[x<y]]></Name><Properties><ArchiveStatus>rehydrate-pending-to-hot</ArchiveStatus>"
    "</Properties></Blob>\n"
    "  </Blobs>\n"
    "  <NextMarker>m&#x41;rker</NextMarker>\n"
    "</EnumerationResults>\n";

TEST(AzureXml, FindsElementsAndDecodesTheirText) {
  XmlDocument doc(kList);
  ASSERT_TRUE(doc.ok()) << doc.error();
  auto blobs = doc.FindAll("Blob");
  ASSERT_EQ(blobs.size(), 2u);
  EXPECT_EQ(blobs[0].Child("Name").text(), "a & b.mp4");
  EXPECT_EQ(blobs[0].Child("Properties").Child("Content-Length").text(), "1234");
  EXPECT_EQ(blobs[1].Child("Name").text(), "x<y");  // CDATA
  auto md = blobs[0].Child("Metadata").Children();
  ASSERT_EQ(md.size(), 3u);
  EXPECT_EQ(md[0].name(), "Owner");
  EXPECT_EQ(md[0].text(), "Ann");
  EXPECT_EQ(md[2].name(), "empty");
  EXPECT_EQ(md[2].text(), "");
  EXPECT_EQ(doc.Find("NextMarker").text(), "mArker");
  // Missing elements answer "" and find nothing.
  EXPECT_FALSE(doc.Find("Nope").found());
  EXPECT_EQ(doc.Find("Nope").Child("x").text(), "");
  EXPECT_TRUE(doc.Find("Nope").FindAll("x").empty());
}

TEST(AzureXml, ADocumentCutShortSaysWhereAndKeepsWhatCameBefore) {
  XmlDocument doc("<Error><Code>AuthenticationFailed</Code><Message>Server fail");
  EXPECT_FALSE(doc.ok());
  EXPECT_NE(doc.error().find("not well-formed XML"), std::string::npos) << doc.error();
  EXPECT_NE(doc.error().find("at byte"), std::string::npos) << doc.error();
  EXPECT_EQ(doc.Find("Code").text(), "AuthenticationFailed");
  EXPECT_FALSE(XmlDocument("").ok());
}

TEST(AzureXml, TagKeepsEntitiesAndTagTextDecodesThem) {
  std::string raw;
  ASSERT_TRUE(Tag("<Error><Message>1 &lt; 2</Message></Error>", "Message", &raw));
  EXPECT_EQ(raw, "1 &lt; 2");
  EXPECT_FALSE(Tag("<Error/>", "Message", &raw));
  EXPECT_EQ(TagText("<Error><Message>1 &lt; 2</Message></Error>", "Message"), "1 < 2");
  EXPECT_EQ(TagText("not xml at all", "Message"), "");
}

// A loopback "Azure" that answers every request with `body`.
std::unique_ptr<httpserver::HttpServer> Answering(std::string body) {
  httpserver::ServerOptions o;
  o.address = "127.0.0.1:0";
  auto s = httpserver::HttpServer::Start(o, [body](httpserver::Request, httpserver::Responder respond) {
    httpserver::Response r;
    r.content_type = "application/xml";
    r.body = body;
    respond(r);
  });
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

std::unique_ptr<blob::AzureBlobStore> StoreAt(const httpserver::HttpServer& server) {
  blob::AzureBlobStoreOptions o;
  o.accounts.push_back({"acct", "http://" + server.address() + "/acct", "a2V5", ""});
  auto store = blob::AzureBlobStore::Open(o);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

TEST(AzureXml, TheBlobStoreReadsAListing) {
  auto server = Answering(kList);
  ASSERT_TRUE(server);
  auto store = StoreAt(*server);
  ASSERT_TRUE(store);
  auto page = store->ListBlobs("acct", "media", "", "", 0);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->blobs.size(), 2u);
  const blob::BlobProperties& a = page->blobs[0];
  EXPECT_EQ(a.name, "a & b.mp4");
  EXPECT_EQ(a.size, 1234);
  EXPECT_EQ(a.content_type, "video/mp4");
  EXPECT_EQ(a.etag, "\"0x1\"");
  EXPECT_EQ(a.last_modified_us, int64_t{1700000000} * 1000000);
  EXPECT_EQ(a.tier, blob::Tier::kCool);
  EXPECT_FALSE(a.rehydrating);
  EXPECT_EQ(a.metadata, (blob::Metadata{{"Owner", "Ann"}, {"Name", "not the blob's name"}, {"empty", ""}}));
  EXPECT_EQ(page->blobs[1].name, "x<y");
  EXPECT_TRUE(page->blobs[1].rehydrating);
  EXPECT_EQ(page->next_marker, "mArker");
}

TEST(AzureXml, TheBlobStoreRefusesAListingCutShort) {
  std::string cut(kList);
  cut.resize(cut.find("<BlobPrefix>"));
  auto server = Answering(cut);
  ASSERT_TRUE(server);
  auto store = StoreAt(*server);
  ASSERT_TRUE(store);
  auto page = store->ListBlobs("acct", "media", "", "", 0);
  ASSERT_FALSE(page.ok());
  EXPECT_EQ(page.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(page.status().message().find("list container 'media'"), std::string::npos) << page.status();
  EXPECT_NE(page.status().message().find("not well-formed XML"), std::string::npos) << page.status();
}

}  // namespace
}  // namespace switchboard::azure
