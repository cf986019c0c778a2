// AnalyzeBlob with the real libmediainfo on clips made by ffmpeg, from the
// local store (file access) and from Azurite (ranged reads).
#include "server/media/log_events.h"
#include "tests/media/media_test_support.h"

namespace switchboard::testing {
namespace {

using v1::MediaService;

// Track @type values of an analysis result.
std::vector<std::string> TrackTypes(const v1::Operation& op) {
  std::vector<std::string> out;
  const auto& media = op.analysis_result().fields().at("media").struct_value();
  for (const auto& t : media.fields().at("track").list_value().values()) {
    out.push_back(t.struct_value().fields().at("@type").string_value());
  }
  return out;
}

double GeneralDuration(const v1::Operation& op) {
  const auto& media = op.analysis_result().fields().at("media").struct_value();
  for (const auto& t : media.fields().at("track").list_value().values()) {
    const auto& f = t.struct_value().fields();
    if (f.at("@type").string_value() == "General") return std::stod(f.at("Duration").string_value());
  }
  return -1;
}

v1::AnalyzeBlobRequest Request(const std::string& uri) {
  v1::AnalyzeBlobRequest r;
  r.set_request_id("an-" + uri);
  *r.mutable_operation_context() = Context("ctx-an");
  r.set_blob_uri(uri);
  (*r.mutable_mediainfo_options())["Complete"] = "1";
  (*r.mutable_mediainfo_options())["Output"] = "JSON";
  return r;
}

TEST(Analyze, LocalClipHasVideoAndAudioAndItsDuration) {
  MediaServer s;
  std::string clip = GenerateClip(s.data_dir() + "/clip.mp4", 3);
  ASSERT_FALSE(clip.empty());
  ASSERT_TRUE(s.PutLocal("media", "clip.mp4", clip, {{"camera", "a"}}).ok());
  v1::Operation op;
  grpc::Status st = Call(&MediaService::Stub::AnalyzeBlob, s.stub(), Request(AzureUri("media", "clip.mp4")), &op);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(op.state(), v1::Operation::SUCCEEDED) << op.failure().log_event_message();
  auto types = TrackTypes(op);
  EXPECT_NE(std::find(types.begin(), types.end(), "Video"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "Audio"), types.end());
  EXPECT_NEAR(GeneralDuration(op), 3.0, 0.2);
  EXPECT_EQ(op.blob_metadata().at("camera"), "a");
  // The report names the blob, not a file of the server.
  EXPECT_EQ(op.analysis_result().fields().at("media").struct_value().fields().at("@ref").string_value(),
            AzureUri("media", "clip.mp4"));
  // No path of the server's data dir anywhere in the answer.
  std::string all = op.analysis_result().DebugString();
  EXPECT_EQ(all.find(s.data_dir()), std::string::npos) << "the analysis leaks a server path";
  const auto& general = op.analysis_result().fields().at("media").struct_value().fields().at("track")
                            .list_value().values(0).struct_value().fields();
  EXPECT_EQ(general.at("CompleteName").string_value(), AzureUri("media", "clip.mp4"));
  EXPECT_EQ(general.at("FileName").string_value(), "clip");
  EXPECT_EQ(general.at("FileExtension").string_value(), "mp4");
}

TEST(Analyze, AzuriteClipIsReadByRanges) {
  MediaServer s(nlohmann::json{{"local_accounts", nlohmann::json::array()},
                               {"azure_accounts", {AzuriteAccountJson(kAccount)}}});
  TempDir tmp;
  std::string clip = GenerateClip(tmp.path() + "/clip.mp4", 2);
  std::string container = absl::StrCat("an-", absl::ToUnixMicros(absl::Now()));
  blob::AzureBlobStoreOptions ao;
  ao.accounts.push_back({kAccount, std::getenv("SWITCHBOARD_TEST_AZURITE_BLOB") ?: "",
                         std::getenv("SWITCHBOARD_TEST_AZURITE_KEY") ?: "", ""});
  auto store = blob::AzureBlobStore::Open(ao);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->CreateContainer(kAccount, container).ok());
  size_t pos = 0;
  ASSERT_TRUE((*store)
                  ->PutBlob({kAccount, container, "clip.mp4"}, static_cast<int64_t>(clip.size()),
                            [&](char* buf, size_t cap) -> absl::StatusOr<size_t> {
                              size_t n = std::min(cap, clip.size() - pos);
                              std::memcpy(buf, clip.data() + pos, n);
                              pos += n;
                              return n;
                            },
                            {})
                  .ok());
  v1::Operation op;
  ASSERT_TRUE(Call(&MediaService::Stub::AnalyzeBlob, s.stub(), Request(AzureUri(container, "clip.mp4")), &op).ok());
  ASSERT_EQ(op.state(), v1::Operation::SUCCEEDED) << op.failure().log_event_message();
  auto types = TrackTypes(op);
  EXPECT_NE(std::find(types.begin(), types.end(), "Video"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "Audio"), types.end());
  EXPECT_NEAR(GeneralDuration(op), 2.0, 0.2);
  (void)(*store)->DeleteContainer(kAccount, container);
}

TEST(Analyze, NotMediaFailsCleanlyAndBadOptionsAreInvalid) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("media", "notes.txt", std::string(5000, 'z')).ok());
  v1::Operation op;
  ASSERT_TRUE(Call(&MediaService::Stub::AnalyzeBlob, s.stub(), Request(AzureUri("media", "notes.txt")), &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::FAILED);
  EXPECT_EQ(op.failure().log_event_id(), media::log_events::kAnalysisNotMedia.id);
  auto missing = Request(AzureUri("media", "missing.mp4"));
  ASSERT_TRUE(Call(&MediaService::Stub::AnalyzeBlob, s.stub(), missing, &op).ok());
  EXPECT_EQ(op.state(), v1::Operation::FAILED);
  EXPECT_EQ(op.failure().log_event_id(), media::log_events::kAnalysisFailed.id);
  auto bad = Request(AzureUri("media", "notes.txt"));
  (*bad.mutable_mediainfo_options())["Output"] = "XML";
  grpc::Status st = Call(&MediaService::Stub::AnalyzeBlob, s.stub(), bad, &op);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("mediainfo_options.Output"), std::string::npos) << st.error_message();
  bad = Request(AzureUri("media", "notes.txt"));
  (*bad.mutable_mediainfo_options())["NoSuchOption"] = "1";
  st = Call(&MediaService::Stub::AnalyzeBlob, s.stub(), bad, &op);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
}

}  // namespace
}  // namespace switchboard::testing
