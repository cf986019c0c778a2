// Encodes with the real ffmpeg: progress, success with uploaded outputs,
// cancel, and a non-media input that fails cleanly.
#include "server/media/log_events.h"
#include "tests/media/media_test_support.h"

namespace switchboard::testing {
namespace {

using v1::MediaService;

nlohmann::json FastProgress() {
  return {{"progress_interval_seconds", 0.05},
          {"profiles",
           {{"slow",
             {"-c:v", "libx264", "-preset", "veryslow", "-crf", "10", "-pix_fmt", "yuv420p", "-c:a", "aac"}}}}};
}

v1::EncodeRequest FlipRequest(const std::string& input, const std::string& profiles) {
  v1::EncodeRequest r;
  r.set_request_id("enc-" + input + profiles);
  *r.mutable_operation_context() = Context("ctx-enc");
  r.set_encoder(v1::FLIP);
  r.add_input_uris(input);
  r.set_output_container(AzureUri("encoded"));
  r.set_factory_name("sb-dev-flip");
  r.set_profiles(profiles);
  (*r.add_parameters()->mutable_fields())["someProperty1"].set_string_value("someValue1");
  r.set_sec_to_live(3600);
  return r;
}

TEST(Encode, FlipH264GoesThroughEveryStageAndUploadsTheOutput) {
  MediaServer s(FastProgress());
  std::string clip = GenerateClip(s.data_dir() + "/in.mp4", 4);
  ASSERT_TRUE(s.PutLocal("media", "input/clip.mp4", clip).ok());
  v1::Operation op;
  grpc::Status st =
      Call(&MediaService::Stub::Encode, s.stub(), FlipRequest(AzureUri("media", "input/clip.mp4"), "h264"), &op);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(op.state(), v1::Operation::SCHEDULED);
  EXPECT_EQ(op.type(), v1::ENCODE_FLIP);
  EXPECT_FALSE(op.encode().workflow_job_name().empty());
  op = s.WaitDone(op.name(), 120);
  ASSERT_EQ(op.state(), v1::Operation::SUCCEEDED) << op.failure().log_event_message();
  ASSERT_EQ(op.encode().output_uris_size(), 1);
  const std::string& out = op.encode().output_uris(0);
  EXPECT_EQ(out.rfind(absl::StrCat("http://", s.http(), "/", kAccount, "/encoded/"), 0), 0u) << out;

  auto events = s.Events(op.name(), op.last_sequence());
  std::vector<v1::EncodeState> states;
  int processing_with_progress = 0;
  int last_pct = -1;
  for (const auto& e : events) {
    EXPECT_EQ(e.operation_context().fields().at("traceId").string_value(), "ctx-enc");
    if (!e.has_encode()) continue;
    states.push_back(e.encode().state());
    EXPECT_EQ(e.encode().encoder_context().fields().at("encoder").string_value(), "flip");
    EXPECT_EQ(e.encode().workflow_job_name(), op.encode().workflow_job_name());
    if (e.encode().state() == v1::PROCESSING) {
      EXPECT_GE(e.encode().percent_complete(), last_pct);  // never goes back
      last_pct = e.encode().percent_complete();
      if (e.encode().percent_complete() > 0) ++processing_with_progress;
    }
  }
  ASSERT_GE(states.size(), 4u);
  EXPECT_EQ(states[0], v1::DISPATCHED);
  EXPECT_EQ(states[1], v1::ENCODE_SCHEDULED);
  EXPECT_EQ(states[2], v1::PROCESSING);
  EXPECT_EQ(states.back(), v1::SUCCESS);
  EXPECT_GE(processing_with_progress, 1);
  EXPECT_TRUE(events.front().has_acknowledged());

  // The output is a real H.264 MP4 of the same length.
  v1::AnalyzeBlobRequest an;
  an.set_blob_uri(out);
  v1::Operation analysis;
  ASSERT_TRUE(Call(&MediaService::Stub::AnalyzeBlob, s.stub(), an, &analysis).ok());
  ASSERT_EQ(analysis.state(), v1::Operation::SUCCEEDED) << analysis.failure().log_event_message();
  std::string report = analysis.analysis_result().DebugString();
  EXPECT_NE(report.find("AVC"), std::string::npos);
  EXPECT_NE(report.find("AAC"), std::string::npos);
}

TEST(Encode, CancelStopsFfmpegAndEndsCanceled) {
  MediaServer s(FastProgress());
  std::string clip = GenerateClip(s.data_dir() + "/long.mp4", 40, "640x480");
  ASSERT_TRUE(s.PutLocal("media", "long.mp4", clip).ok());
  v1::Operation op;
  ASSERT_TRUE(Call(&MediaService::Stub::Encode, s.stub(), FlipRequest(AzureUri("media", "long.mp4"), "slow"), &op).ok());
  // Wait until it is processing.
  for (int i = 0; i < 500 && s.GetOp(op.name()).state() != v1::Operation::RUNNING; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(s.GetOp(op.name()).state(), v1::Operation::RUNNING);
  v1::CancelEncodeRequest c;
  c.set_request_id("cancel-1");
  c.set_name(op.name());
  v1::Operation canceled;
  grpc::Status st = Call(&MediaService::Stub::CancelEncode, s.stub(), c, &canceled);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(canceled.state(), v1::Operation::CANCELED);
  EXPECT_EQ(canceled.encode().state(), v1::ENCODE_CANCELED);
  auto events = s.Events(op.name(), canceled.last_sequence());
  ASSERT_FALSE(events.empty());
  ASSERT_TRUE(events.back().has_encode());
  EXPECT_EQ(events.back().encode().state(), v1::ENCODE_CANCELED);
  EXPECT_EQ(events.back().operation_context().fields().at("traceId").string_value(), "ctx-enc");
  // No ffmpeg left behind, no output uploaded.
  EXPECT_NE(std::system("pgrep -f '[v]eryslow.*-progress pipe:1' >/dev/null"), 0);
  auto list = s.local().ListBlobs(kAccount, "encoded", "", "", 10);
  EXPECT_TRUE(!list.ok() || list->blobs.empty());
  // Canceling again: it has ended; a repeat answers the canceled operation,
  // marked as a replay.
  grpc::ClientContext again;
  ASSERT_TRUE(s.stub().CancelEncode(&again, c, &canceled).ok());
  EXPECT_EQ(canceled.state(), v1::Operation::CANCELED);
  auto trailer = again.GetServerTrailingMetadata().find("x-switchboard-replayed");
  ASSERT_NE(trailer, again.GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(trailer->second.data(), trailer->second.size()), "true");
}

TEST(Encode, MissingFfmpegFailsTheEncodeNamingTheProgramAndItsKey) {
  // The server starts without it (a warning in the log); other operations work.
  MediaServer s(nlohmann::json{{"ffmpeg_path", "/nonexistent/ffmpeg"}});
  ASSERT_TRUE(s.PutLocal("media", "clip.mp4", std::string(1000, 'v')).ok());
  v1::Operation op;
  grpc::Status st = Call(&MediaService::Stub::Encode, s.stub(), FlipRequest(AzureUri("media", "clip.mp4"), "h264"), &op);
  ASSERT_TRUE(st.ok()) << st.error_message();
  op = s.WaitDone(op.name(), 60);
  ASSERT_EQ(op.state(), v1::Operation::FAILED);
  EXPECT_EQ(op.failure().log_event_id(), media::log_events::kEncodeFailed.id);
  const std::string& why = op.failure().log_event_message();
  EXPECT_NE(why.find("program '/nonexistent/ffmpeg'"), std::string::npos) << why;
  EXPECT_NE(why.find("media.ffmpeg_path"), std::string::npos) << why;
  EXPECT_NE(why.find("does not exist"), std::string::npos) << why;
  EXPECT_EQ(op.encode().current_status(), why) << "the encode's status says the same";
}

TEST(Encode, NotMediaFailsWithFfmpegsReason) {
  MediaServer s(FastProgress());
  ASSERT_TRUE(s.PutLocal("media", "notes.txt", std::string(10000, 'q')).ok());
  v1::Operation op;
  ASSERT_TRUE(Call(&MediaService::Stub::Encode, s.stub(), FlipRequest(AzureUri("media", "notes.txt"), "h264"), &op).ok());
  op = s.WaitDone(op.name(), 60);
  ASSERT_EQ(op.state(), v1::Operation::FAILED);
  EXPECT_EQ(op.failure().log_event_id(), media::log_events::kEncodeFailed.id);
  EXPECT_NE(op.failure().log_event_message().find("ffmpeg exited"), std::string::npos)
      << op.failure().log_event_message();
  EXPECT_NE(op.failure().log_event_message().find("Invalid data"), std::string::npos)
      << op.failure().log_event_message();
  EXPECT_EQ(op.encode().state(), v1::FAILURE);
}

TEST(Encode, CloudPortWorkflowEncodesToo) {
  MediaServer s(FastProgress());
  std::string clip = GenerateClip(s.data_dir() + "/in.mp4", 2);
  ASSERT_TRUE(s.PutLocal("media", "clip.mp4", clip).ok());
  v1::EncodeRequest r;
  r.set_encoder(v1::CLOUDPORT);
  r.add_input_uris(AzureUri("media", "clip.mp4"));
  r.set_output_container(AzureUri("cp-out"));
  r.set_workflow_name("CloudPortH264");
  r.set_sec_to_live(600);
  v1::Operation op;
  ASSERT_TRUE(Call(&MediaService::Stub::Encode, s.stub(), r, &op).ok());
  EXPECT_EQ(op.type(), v1::ENCODE_CLOUDPORT);
  op = s.WaitDone(op.name(), 120);
  ASSERT_EQ(op.state(), v1::Operation::SUCCEEDED) << op.failure().log_event_message();
  EXPECT_EQ(op.encode().output_uris_size(), 1);
}

TEST(Encode, BadRequestsAreInvalidArgument) {
  MediaServer s;
  ASSERT_TRUE(s.PutLocal("media", "a.mp4", "x").ok());
  auto check = [&](v1::EncodeRequest r, const std::string& field) {
    v1::Operation op;
    grpc::Status st = Call(&MediaService::Stub::Encode, s.stub(), r, &op);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field << ": " << st.error_message();
    EXPECT_NE(st.error_message().find(field), std::string::npos) << st.error_message();
  };
  auto r = FlipRequest(AzureUri("media", "a.mp4"), "nosuchprofile");
  check(r, "profiles");
  r = FlipRequest(AzureUri("media", "a.mp4"), "h264");
  r.set_encoder(v1::ENCODER_KIND_UNSPECIFIED);
  check(r, "encoder");
  r = FlipRequest(AzureUri("media", "a.mp4"), "h264");
  r.set_sec_to_live(0);
  check(r, "sec_to_live");
  r = FlipRequest("https://elsewhere.example.com/x/y.mp4", "h264");
  check(r, "input_uris[0]");
  r = FlipRequest(AzureUri("media", "a.mp4"), "h264");
  r.set_output_container(AzureUri("media", "not/a/container"));
  check(r, "output_container");
  r = FlipRequest(AzureUri("media", "a.mp4"), "h264");
  r.set_encoder(v1::CLOUDPORT);
  r.set_workflow_name("NoSuchWorkflow");
  check(r, "workflow_name");
  v1::CancelEncodeRequest c;
  c.set_name("bogus");
  v1::Operation op;
  EXPECT_EQ(Call(&MediaService::Stub::CancelEncode, s.stub(), c, &op).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace switchboard::testing
