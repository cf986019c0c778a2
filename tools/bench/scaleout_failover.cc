// Failover (scaleout.h): kill -9 of the replica holding the leader lease,
// right after it accepted media operations, and the time until the other
// replicas carry its work on. What is "held" and "done" is read from the
// jobs table (server/core/job_pg.cc): state 1 is RUNNING under a lease whose
// owner is "<instance>/<host>/<pid>/<random>", 2 DONE, 3 FAILED.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "load.h"
#include "scaleout.h"
#include "switchboard/v1/media.grpc.pb.h"

namespace switchboard::bench {
namespace {

namespace v1 = switchboard::v1;
using Clock = std::chrono::steady_clock;

constexpr char kLeaderKind[] = "switchboard.leader";
constexpr char kBridgeKind[] = "status_bridge.cursor";
constexpr char kMediaKind[] = "media.operation";

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string OwnerPid(const std::string& owner) {
  // <instance>/<host>/<pid>/<random>
  std::vector<std::string> parts;
  size_t from = 0;
  for (size_t at; (at = owner.find('/', from)) != std::string::npos; from = at + 1) {
    parts.push_back(owner.substr(from, at - from));
  }
  parts.push_back(owner.substr(from));
  return parts.size() >= 4 ? parts[parts.size() - 2] : "";
}

// The pid in the owner of the live lease of the job of `kind`, or "".
std::string Holder(PgSession& db, const std::string& schema, const char* kind) {
  auto rows =
      db.Query("SELECT convert_from(owner, 'UTF8') FROM " + schema + ".jobs WHERE kind = '" + kind +
               "' AND state = 1 AND lease_until_us > (extract(epoch from clock_timestamp()) * 1000000)::bigint");
  if (!rows || rows->empty()) return "";
  return OwnerPid((*rows)[0][0]);
}

// Submits `n` CreateContainer operations to `target`, answered once
// ACCEPTED (the work waits for the replica's media workers); the number
// accepted.
int SubmitOperations(const std::string& target, const std::string& account, int n, std::string* error) {
  const std::string run = std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000000);
  std::atomic<int> next{0}, accepted{0};
  std::vector<std::string> errors(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto stub = v1::MediaService::NewStub(NewChannel(target, 100 + t));
      for (int i; (i = next++) < n;) {
        v1::CreateContainerRequest req;
        req.set_request_id("sbsc-failover-" + run + "-" + std::to_string(i));
        req.set_storage_account_name(account);
        req.set_container_name("sbsc-" + run + "-" + std::to_string(i));
        req.set_return_when_accepted(true);
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        v1::Operation op;
        grpc::Status s = stub->CreateContainer(&ctx, req, &op);
        if (s.ok()) {
          ++accepted;
        } else if (errors[t].empty()) {
          errors[t] = std::to_string(s.error_code()) + ": " + s.error_message();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& e : errors) {
    if (error->empty() && !e.empty()) *error = e;
  }
  return accepted;
}

}  // namespace

FailoverResult RunFailover(Deployment& d, PgSession& db, const Environment& env, const FailoverOptions& options) {
  FailoverResult out;
  const std::string& schema = d.store().schema;
  auto replica_of = [&](const std::string& pid) {
    for (size_t i = 0; i < d.replicas().size(); ++i) {
      if (std::to_string(d.replicas()[i].pid) == pid) return static_cast<int>(i);
    }
    return -1;
  };

  // The role's holder: the leader lease if switchboardd takes one, else the
  // status bridge's cursor (one replica runs it; the others stand by).
  std::string holder;
  const auto wait_role = Clock::now();
  while (Since(wait_role) < 20) {
    holder = Holder(db, schema, kLeaderKind);
    if (!holder.empty()) {
      out.role_kind = kLeaderKind;
      break;
    }
    // The bridge is up: give a leader election one more second.
    if (!Holder(db, schema, kBridgeKind).empty() && Since(wait_role) > 3) {
      out.role_kind = kBridgeKind;
      holder = Holder(db, schema, kBridgeKind);
      out.notes.push_back(std::string("no `") + kLeaderKind + "` lease in " + schema +
                          ".jobs within 3 s of the start (switchboardd at this commit elects no leader); the "
                          "victim is the replica holding `" +
                          kBridgeKind + "` instead");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  out.victim = replica_of(holder);
  if (out.victim < 0) {
    out.error = "no replica holds `" + std::string(kLeaderKind) + "` or `" + kBridgeKind + "` after 20 s" +
                (db.error().empty() ? "" : " (" + db.error() + ")");
    return out;
  }
  out.victim_pid = d.replicas()[out.victim].pid;
  const std::string victim_pid = std::to_string(out.victim_pid);

  if (env.azurite_account.empty()) {
    out.notes.push_back(
        "media operations not measured: SWITCHBOARD_TEST_AZURITE_ACCOUNT/_BLOB/_KEY are not set "
        "(eval \"$(tools/services.sh env)\")");
  } else {
    std::string error;
    out.accepted = SubmitOperations(d.replicas()[out.victim].grpc, env.azurite_account, options.operations, &error);
    if (out.accepted < options.operations) {
      out.notes.push_back(std::to_string(options.operations - out.accepted) + " of " +
                          std::to_string(options.operations) + " CreateContainer calls failed; first: " + error);
    }
  }

  const auto t0 = Clock::now();
  d.Kill(static_cast<size_t>(out.victim));

  // The media jobs not finished when the victim died: their ids, and their
  // operations' names (the jobs' keys).
  std::string ids;
  std::vector<std::string> names;
  auto rows = db.Query("SELECT id, convert_from(owner, 'UTF8'), convert_from(key, 'UTF8') FROM " + schema +
                       ".jobs WHERE kind = '" + kMediaKind + "' AND state < 2");
  if (!rows) {
    out.error = "reading " + schema + ".jobs failed: " + db.error();
    return out;
  }
  for (const auto& row : *rows) {
    ids += (ids.empty() ? "" : ",") + row[0];
    ++out.unfinished_at_kill;
    out.held_by_victim += OwnerPid(row[1]) == victim_pid;
    names.push_back(row[2]);
  }
  if (out.accepted > 0 && out.unfinished_at_kill == 0) {
    out.notes.push_back("every accepted operation had finished before the kill: raise --failover_operations");
  }

  bool role_done = false, jobs_done = out.unfinished_at_kill == 0;
  while (Since(t0) < options.timeout_s && !(role_done && jobs_done)) {
    if (!role_done) {
      const std::string now = Holder(db, schema, out.role_kind.c_str());
      if (!now.empty() && now != victim_pid) {
        role_done = true;
        out.role_taken_s = Since(t0);
      }
    }
    if (!jobs_done) {
      auto r = db.Query(
          "SELECT count(*) FILTER (WHERE state >= 2), count(*) FILTER (WHERE state = 1 AND "
          "position('/" +
          victim_pid + "/' in convert_from(owner, 'UTF8')) = 0) FROM " + schema + ".jobs WHERE id IN (" + ids + ")");
      if (r && r->size() == 1) {
        const int done = std::stoi((*r)[0][0]), elsewhere = std::stoi((*r)[0][1]);
        const double s = Since(t0);
        if (out.first_taken_s < 0 && done + elsewhere > 0) out.first_taken_s = s;
        if (out.half_done_s < 0 && 2 * done >= out.unfinished_at_kill) out.half_done_s = s;
        if (done == out.unfinished_at_kill) {
          out.all_done_s = s;
          jobs_done = true;
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!ids.empty()) {
    auto r = db.Query("SELECT count(*) FILTER (WHERE state = 2), count(*) FILTER (WHERE state = 3) FROM " + schema +
                      ".jobs WHERE id IN (" + ids + ")");
    if (r && r->size() == 1) {
      out.done = std::stoi((*r)[0][0]);
      out.failed = std::stoi((*r)[0][1]);
    }
  }
  // Their operations as the first surviving replica answers for them.
  for (const Replica& r : d.replicas()) {
    if (r.killed || names.empty()) continue;
    auto stub = v1::MediaService::NewStub(NewChannel(r.grpc, 200));
    for (const std::string& name : names) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::GetOperationRequest req;
      req.set_name(name);
      v1::Operation op;
      if (!stub->GetOperation(&ctx, req, &op).ok()) {
        ++out.ops_unknown;
      } else if (op.state() == v1::Operation::SUCCEEDED) {
        ++out.ops_succeeded;
      } else if (op.state() == v1::Operation::FAILED) {
        if (out.ops_failed++ == 0) {
          out.notes.push_back("first FAILED operation, " + name + ": " + op.failure().log_event_message());
        }
      } else {
        ++out.ops_other;
      }
    }
    break;
  }
  if (!role_done) out.notes.push_back("no other replica took `" + out.role_kind + "` within the timeout");
  if (!jobs_done) out.notes.push_back("the media jobs were not all finished within the timeout");
  return out;
}

}  // namespace switchboard::bench
