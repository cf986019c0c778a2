// sbctl encode ...: start an encode (flip or cloudport) and, with --watch,
// follow it with a progress bar (percent, elapsed, ETA) to its outputs.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/sbctl/cmd_media.h"
#include "clients/sbctl/output.h"
#include "clients/sbctl/progress_bar.h"
#include "wire/json_util.h"

namespace switchboard::sbctl {
namespace {

int Watch(Invocation& inv, client::Connection* conn, const v1::Operation& op) {
  // On a terminal, the bar is redrawn in place; otherwise (pipes, tests)
  // each update is its own line.
  const bool tty = isatty(STDOUT_FILENO) == 1 && &inv.out() == &std::cout;
  const auto start = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> processing_since;
  int last_percent = -1;
  bool drawn = false;
  v1::Operation last = op;
  std::vector<std::string> outputs;
  std::string failure;
  bool canceled = false;
  absl::Status s = FollowOperation(conn, op.name(), WaitTimeout(inv), [&](const v1::MediaEvent& e) {
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - start).count();
    if (e.has_failure()) {
      failure = absl::StrCat(e.failure().log_event_id(), " ", e.failure().event_handler_class_name(), ": ",
                             e.failure().log_event_message());
      return;
    }
    if (!e.has_encode()) return;
    const auto& p = e.encode();
    switch (p.state()) {
      case v1::DISPATCHED: inv.out() << "dispatched as " << p.workflow_job_name() << "\n"; break;
      case v1::ENCODE_SCHEDULED: inv.out() << "scheduled (waiting for an encoder slot)\n"; break;
      case v1::PROCESSING: {
        if (!processing_since) processing_since = now;
        int pc = p.percent_complete();
        if (pc == last_percent && drawn) break;
        last_percent = pc;
        double run = std::chrono::duration<double>(now - *processing_since).count();
        double eta = pc > 0 ? run * (100 - pc) / pc : -1;
        std::string line = ProgressBar(pc, elapsed, eta, p.current_status());
        inv.out() << (tty ? Redraw(line) : line + "\n");
        drawn = true;
        break;
      }
      case v1::SUCCESS: {
        std::string line = ProgressBar(100, elapsed, 0, "done");
        inv.out() << (tty ? Redraw(line) : line) << "\n";
        outputs.assign(p.output_uris().begin(), p.output_uris().end());
        break;
      }
      case v1::ENCODE_CANCELED: canceled = true; break;
      default: break;
    }
    inv.out().flush();
  });
  if (drawn && tty && outputs.empty()) inv.out() << "\n";
  if (!s.ok()) return inv.LocalError(s);
  if (!failure.empty()) {
    inv.err() << "sbctl: encode: failed: " << failure << "\n";
    return kExitError;
  }
  if (canceled) {
    inv.out() << "canceled\n";
    return kExitError;
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  inv.out() << "finished in " << Clock(total) << "; outputs:\n";
  for (const auto& u : outputs) inv.out() << "  " << u << "\n";
  return kExitOk;
}

int RunEncode(Invocation& inv) {
  v1::EncodeRequest req;
  std::string encoder = inv.cli().GetString("encoder");
  if (encoder == "flip") {
    req.set_encoder(v1::FLIP);
  } else if (encoder == "cloudport") {
    req.set_encoder(v1::CLOUDPORT);
  } else {
    return inv.UsageError(absl::StrCat("--encoder '", encoder, "' is not flip or cloudport"));
  }
  for (const auto& a : inv.args()) req.add_input_uris(a);
  req.set_output_container(inv.cli().GetString("output"));
  if (req.output_container().empty()) {
    return inv.UsageError("--output is required: the container URI the outputs go to, e.g. "
                          "https://devstoreaccount1.blob.core.windows.net/encoded/");
  }
  // Profiles are Flip's; CloudPort names a workflow instead.
  if (req.encoder() == v1::FLIP) req.set_profiles(inv.cli().GetString("profile"));
  req.set_factory_name(inv.cli().GetString("factory"));
  req.set_workflow_name(inv.cli().GetString("workflow"));
  if (req.encoder() == v1::CLOUDPORT && req.workflow_name().empty()) {
    return inv.UsageError("--workflow is required with --encoder=cloudport");
  }
  if (req.encoder() == v1::FLIP && req.profiles().empty()) {
    return inv.UsageError("--profile is required with --encoder=flip (e.g. h264)");
  }
  std::string params = inv.cli().GetString("parameters");
  if (!params.empty()) {
    auto j = wire::ParseJson(params);
    if (!j.ok() || !j->is_array()) {
      return inv.UsageError("--parameters must be a JSON array of objects, e.g. '[{\"crf\":\"23\"}]'");
    }
    for (size_t i = 0; i < j->size(); ++i) {
      auto s = wire::JsonToStruct((*j)[i], absl::StrCat("--parameters[", i, "]"));
      if (!s.ok()) return inv.LocalError(s.status());
      *req.add_parameters() = *s;
    }
  }
  req.set_sec_to_live(inv.cli().GetInt("ttl"));
  client::Connection* conn = nullptr;
  v1::Operation op;
  bool replayed = false;
  if (auto exit = SubmitMedia(inv, std::move(req), &conn, &op, &replayed)) return *exit;
  if (!inv.cli().GetBool("watch") || inv.json()) {
    return FinishMediaOperation(inv, conn, op, inv.cli().GetBool("watch"), replayed);
  }
  inv.out() << "encode " << op.name()
            << (replayed ? " replayed: the operation of an earlier request with this request_id\n" : " accepted\n");
  return Watch(inv, conn, op);
}

}  // namespace

void RegisterEncodeCommands(CommandRegistry& registry) {
  registry.Add({
      .path = "encode",
      .args = "INPUT_URI...",
      .summary = "Encode blobs with ffmpeg (flip profiles or cloudport workflows); --watch shows progress.",
      .details = "Without --watch, prints the accepted operation and returns; follow it with\n"
                 "'sbctl media get' or 'sbctl watch media'. With --watch, prints a progress bar\n"
                 "(percent, elapsed, ETA) until the encode ends, then the output blob URIs; exit 1\n"
                 "if it failed (the ffmpeg stderr tail is in the message) or was canceled.",
      .min_args = 1,
      .max_args = -1,
      .flags =
          [](Cli& cli) {
            AddMediaRequestFlags(cli);
            cli.AddString("encoder", "flip", "flip or cloudport.");
            cli.AddString("output", "", "Output container URI (https://ACCOUNT.blob.core.windows.net/CONTAINER/).");
            cli.AddString("profile", "h264", "Flip profile(s), mapped to ffmpeg arguments by the server config (ignored for cloudport).");
            cli.AddString("factory", "", "Flip factory name (informational).");
            cli.AddString("workflow", "", "CloudPort workflow name (with --encoder=cloudport).");
            cli.AddString("parameters", "", "Encoder parameters, a JSON array of objects.");
            cli.AddInt("ttl", 86400, "secToLive: seconds the encoder may read the inputs.");
            cli.AddBool("watch", false, "Follow the encode with a progress bar until it ends.");
            cli.AddInt("wait_timeout", 3600, "Seconds --watch waits for the encode to end.");
          },
      .run = RunEncode,
  });
}

}  // namespace switchboard::sbctl
