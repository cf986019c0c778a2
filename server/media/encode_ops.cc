// Encode and CancelEncode: request checks and the dispatched stage here;
// the rest of the lifecycle in EncodeManager.
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/status.h"
#include "server/core/fingerprint.h"
#include "server/media/encode_manager.h"
#include "server/media/media_engine.h"
#include "server/media/op_recorder.h"
#include "server/media/request_echo.h"

namespace switchboard::media {
namespace {

constexpr int64_t kMaxSecToLive = 7 * 24 * 3600;

std::string Names(const std::map<std::string, std::vector<std::string>>& m) {
  std::vector<std::string> names;
  for (const auto& [k, _] : m) names.push_back(k);
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::Status MediaEngine::InitEncodes() {
  // A missing ffmpeg does not stop the server: the other operations work,
  // and each encode fails with this message until ffmpeg is there.
  if (absl::Status s = CheckFfmpeg(options_.config); !s.ok()) {
    log::Warn("external program missing",
              {{"program", options_.config.ffmpeg_path}, {"setting", "media.ffmpeg_path"}, {"error", s.ToString()}});
  }
  encodes_ = std::make_unique<EncodeManager>(recorder_.get(), options_.config, options_.work_dir,
                                             options_.executor->pool(kEncodePool), pool_);
  return absl::OkStatus();
}

void MediaEngine::ShutdownEncodes() {
  if (encodes_) encodes_->Shutdown();
}

void MediaEngine::Encode(const v1::EncodeRequest& req, Done done) {
  const MediaConfig& c = options_.config;
  auto job = std::make_shared<EncodeJob>();
  v1::OperationType type;
  if (req.encoder() == v1::FLIP) {
    job->encoder_name = "flip";
    type = v1::ENCODE_FLIP;
  } else if (req.encoder() == v1::CLOUDPORT) {
    job->encoder_name = "cloudport";
    type = v1::ENCODE_CLOUDPORT;
  } else {
    return done(absl::InvalidArgumentError("encoder must be flip or cloudport"));
  }
  if (!c.encoders.count(job->encoder_name)) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("encoder ", job->encoder_name, " is not configured (media.encoders)")));
  }
  if (req.input_uris().empty()) return done(absl::InvalidArgumentError("input_uris: give at least one input blob"));
  for (int i = 0; i < req.input_uris_size(); ++i) {
    auto in = router_.ResolveBlob(req.input_uris(i), absl::StrCat("input_uris[", i, "]"));
    if (!in.ok()) return done(in.status());
    job->inputs.push_back(*in);
  }
  auto out = router_.ResolveContainer(req.output_container(), "output_container");
  if (!out.ok()) return done(out.status());
  job->output_container = *out;
  job->output_container_uri = req.output_container();
  if (req.sec_to_live() <= 0 || req.sec_to_live() > kMaxSecToLive) {
    return done(absl::InvalidArgumentError(
        absl::StrCat("sec_to_live is ", req.sec_to_live(), "; give 1 to 604800 seconds (7 days)")));
  }
  job->sec_to_live = req.sec_to_live();
  auto add_output = [&](const std::string& name, const std::map<std::string, std::vector<std::string>>& table,
                        absl::string_view field) -> absl::Status {
    auto it = table.find(name);
    if (it == table.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": '", name, "' is not configured; known: ", Names(table)));
    }
    auto ext = c.extensions.find(name);
    job->outputs.push_back({name, it->second, ext == c.extensions.end() ? "mp4" : ext->second});
    return absl::OkStatus();
  };
  if (req.encoder() == v1::FLIP) {
    std::vector<std::string> profiles = absl::StrSplit(req.profiles(), ',', absl::SkipWhitespace());
    if (profiles.empty()) return done(absl::InvalidArgumentError("profiles: give a profile such as h264"));
    for (auto& p : profiles) {
      if (auto s = add_output(std::string(absl::StripAsciiWhitespace(p)), c.profiles, "profiles"); !s.ok()) {
        return done(s);
      }
    }
  } else {
    if (req.workflow_name().empty()) {
      return done(absl::InvalidArgumentError("workflow_name: give a CloudPort workflow such as h264"));
    }
    if (auto s = add_output(req.workflow_name(), c.workflows, "workflow_name"); !s.ok()) return done(s);
  }

  auto body = [this, req, type, job]() -> core::Reply<v1::Operation> {
    // A place among the waiting encodes first, so a full queue records
    // nothing.
    ASSIGN_OR_RETURN(EncodeManager::Slot slot, encodes_->Reserve());
    // How the request arrived (origin) is kept in the echo, not fingerprinted.
    v1::EncodeRequest plain = req;
    plain.clear_origin();
    ASSIGN_OR_RETURN(auto begun, recorder_->Begin(type, req.request_id(), &req.operation_context(),
                                                  req.output_container(), core::Fingerprint(plain), true, EchoOf(req)));
    if (begun.replayed) return core::Replayed(std::move(begun.op));
    v1::Operation op = std::move(begun.op);
    // dispatched: the job has a name.
    v1::EncodeProgress* p = op.mutable_encode();
    p->set_state(v1::DISPATCHED);
    p->set_workflow_job_name(absl::StrCat(job->encoder_name, "-", op.name().substr(11)));
    auto& ctx = *p->mutable_encoder_context()->mutable_fields();
    ctx["encoder"].set_string_value(job->encoder_name);
    ctx["implementation"].set_string_value(options_.config.encoders.at(job->encoder_name));
    if (!req.factory_name().empty()) ctx["factoryName"].set_string_value(req.factory_name());
    if (!req.profiles().empty()) ctx["profiles"].set_string_value(req.profiles());
    if (!req.workflow_name().empty()) ctx["workflowName"].set_string_value(req.workflow_name());
    auto* params = ctx["parameters"].mutable_list_value();
    for (const auto& s : req.parameters()) *params->add_values()->mutable_struct_value() = s;
    v1::MediaEvent e;
    *e.mutable_encode() = *p;
    ASSIGN_OR_RETURN(op, recorder_->Record(std::move(op), std::move(e)));
    job->op = op;
    return encodes_->Submit(job, std::move(slot));
  };
  // Recording waits for commits: on a `media` worker, not the caller's thread.
  auto done_ptr = std::make_shared<Done>(std::move(done));
  if (absl::Status s = Post([done_ptr, body]() mutable { (*done_ptr)(body()); }); !s.ok()) (*done_ptr)(s);
}

void MediaEngine::CancelEncode(const v1::CancelEncodeRequest& req, Done done) {
  if (!absl::StartsWith(req.name(), "operations/") || req.name().size() <= 11) {
    return done(absl::InvalidArgumentError("name must be the encode's operation name, e.g. operations/ab12"));
  }
  // On a worker (a store read, maybe a commit); waiting for ffmpeg to stop
  // and `canceled` to be recorded holds no thread (EncodeManager::Cancel).
  auto done_ptr = std::make_shared<Done>(std::move(done));
  if (absl::Status s = Post([this, done_ptr, name = req.name()]() { encodes_->Cancel(name, std::move(*done_ptr)); });
      !s.ok()) {
    (*done_ptr)(s);
  }
}

}  // namespace switchboard::media
