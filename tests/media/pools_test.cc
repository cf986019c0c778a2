// The media engine runs on switchboardd's core::Executor (issue 21): its
// operations on the `media` pool, its encodes on the `encode` pool, sized by
// the media section (workers, max_concurrent_encodes, max_queued_encodes),
// both shown on /metrics. A full encode queue is RESOURCE_EXHAUSTED naming
// its key, and records nothing. The "ffmpeg" here is a script that sleeps
// until it is stopped, so an encode holds its pool thread for as long as the
// test needs.
#include <sys/stat.h>

#include "tests/media/media_test_support.h"

namespace switchboard::testing {
namespace {

using v1::MediaService;

// Metrics once `series` reads `value` (a task counts once it has returned,
// which may be just after its answer went out), or after 10 s.
std::string MetricsOnce(const std::string& address, const std::string& series, double value) {
  std::string text;
  for (int i = 0; i < 1000; ++i) {
    text = AdminMetrics(address);
    if (MetricSample(text, series) == value) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return text;
}

// An "ffmpeg" that writes nothing and sleeps until killed (the encoder
// stops its process group on cancel).
std::string SleepingFfmpeg(const std::string& dir) {
  const std::string path = dir + "/fake-ffmpeg";
  std::ofstream(path) << "#!/bin/sh\nexec sleep 300\n";
  chmod(path.c_str(), 0755);
  return path;
}

v1::EncodeRequest Encode(const std::string& id) {
  v1::EncodeRequest r;
  r.set_request_id(id);
  r.set_encoder(v1::FLIP);
  r.add_input_uris(AzureUri("media", "in.mp4"));
  r.set_output_container(AzureUri("encoded"));
  r.set_profiles("h264");
  r.set_sec_to_live(3600);
  return r;
}

bool WaitState(MediaServer& s, const std::string& name, v1::Operation::State state) {
  for (int i = 0; i < 1000; ++i) {
    if (s.GetOp(name).state() == state) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(MediaPools, OperationsAndEncodesRunOnTheExecutorsPoolsShownOnMetrics) {
  TempDir tools;
  MediaServer s(nlohmann::json{
      {"workers", 3}, {"max_concurrent_encodes", 2}, {"ffmpeg_path", SleepingFfmpeg(tools.path())}});
  ASSERT_TRUE(s.PutLocal("media", "in.mp4", "not really a clip").ok());
  v1::Operation md;
  ASSERT_TRUE(Call(&MediaService::Stub::SetBlobMetadata, s.stub(),
                   BlobMetadataRequest("pools-md", AzureUri("media", "in.mp4"), "A1"), &md)
                  .ok());
  EXPECT_EQ(md.state(), v1::Operation::SUCCEEDED);
  v1::Operation enc;
  grpc::Status st = Call(&MediaService::Stub::Encode, s.stub(), Encode("pools-enc"), &enc);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_TRUE(WaitState(s, enc.name(), v1::Operation::RUNNING)) << s.GetOp(enc.name()).DebugString();

  std::string metrics = MetricsOnce(s.http(), "switchboard_executor_tasks_total{pool=\"media\"}", 2);
  EXPECT_EQ(MetricSample(metrics, "switchboard_executor_threads{pool=\"media\"}"), 3) << metrics;
  EXPECT_EQ(MetricSample(metrics, "switchboard_executor_threads{pool=\"encode\"}"), 2) << metrics;
  EXPECT_EQ(MetricSample(metrics, "switchboard_executor_busy_threads{pool=\"encode\"}"), 1)
      << "the running encode holds an encode thread, not a media one\n"
      << metrics;
  // The metadata change and the encode's recording ran as media tasks.
  EXPECT_GE(MetricSample(metrics, "switchboard_executor_tasks_total{pool=\"media\"}"), 2) << metrics;

  v1::CancelEncodeRequest cancel;
  cancel.set_name(enc.name());
  v1::Operation canceled;
  st = Call(&MediaService::Stub::CancelEncode, s.stub(), cancel, &canceled);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(canceled.state(), v1::Operation::CANCELED);
  metrics = MetricsOnce(s.http(), "switchboard_executor_tasks_total{pool=\"encode\"}", 1);
  EXPECT_EQ(MetricSample(metrics, "switchboard_executor_tasks_total{pool=\"encode\"}"), 1) << metrics;
  EXPECT_EQ(MetricSample(metrics, "switchboard_executor_busy_threads{pool=\"encode\"}"), 0) << metrics;
}

TEST(MediaPools, AFullEncodeQueueIsResourceExhaustedNamingItsKeyAndRecordsNothing) {
  TempDir tools;
  MediaServer s(nlohmann::json{
      {"max_concurrent_encodes", 1}, {"max_queued_encodes", 1}, {"ffmpeg_path", SleepingFfmpeg(tools.path())}});
  ASSERT_TRUE(s.PutLocal("media", "in.mp4", "not really a clip").ok());
  v1::Operation running, waiting, refused;
  ASSERT_TRUE(Call(&MediaService::Stub::Encode, s.stub(), Encode("full-1"), &running).ok());
  ASSERT_TRUE(WaitState(s, running.name(), v1::Operation::RUNNING));
  ASSERT_TRUE(Call(&MediaService::Stub::Encode, s.stub(), Encode("full-2"), &waiting).ok());
  EXPECT_EQ(waiting.state(), v1::Operation::SCHEDULED);

  grpc::Status st = Call(&MediaService::Stub::Encode, s.stub(), Encode("full-3"), &refused);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_NE(st.error_message().find("media.max_queued_encodes"), std::string::npos) << st.error_message();
  {
    grpc::ClientContext ctx;
    v1::ListOperationsRequest req;
    req.set_type(v1::ENCODE_FLIP);
    v1::ListOperationsResponse ops;
    ASSERT_TRUE(s.stub().ListOperations(&ctx, req, &ops).ok());
    EXPECT_EQ(ops.operations_size(), 2) << "the refused encode recorded nothing";
  }

  // Canceling the waiting one does not free its place until its task has
  // run; canceling the running one frees both.
  for (const auto* op : {&waiting, &running}) {
    v1::CancelEncodeRequest cancel;
    cancel.set_name(op->name());
    v1::Operation out;
    st = Call(&MediaService::Stub::CancelEncode, s.stub(), cancel, &out);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(out.state(), v1::Operation::CANCELED);
  }
  bool accepted = false;
  for (int i = 0; i < 500 && !accepted; ++i) {
    st = Call(&MediaService::Stub::Encode, s.stub(), Encode("full-4"), &refused);
    accepted = st.ok();
    if (!accepted) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(accepted) << "room again once the queue drained: " << st.error_message();
}

}  // namespace
}  // namespace switchboard::testing
