// A model of what one webhook delivery costs SQLite during a drain: the
// statements switchboardd's store writer runs for it, on a schema copied
// from server/core/job_sqlite.cc and server/core/sqlite_store.cc, in one
// thread, with nothing else (no gRPC, no HTTP, no engine). It answers
// design questions ("what would a claim that only reads save?") in numbers
// before any of switchboard is changed; it is not a measure of switchboard.
// docs/performance.md has what it found.
//
// A backlog of --deliveries jobs (600-byte payloads), their records and
// log events is written first, and --claim more jobs are claimed and left
// in flight (as the engine's held attempts are during a drain). Then,
// timed by this thread's CPU clock, claims of --claim jobs and commits of
// --per_commit outcomes (each: the record rewritten, a log event, the job
// finished) drain the backlog, as the store's writer does, with
// synchronous=FULL and a PASSIVE checkpoint once the -wal file holds 1,000
// frames.

#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/cli.h"

namespace {

// What happens to a delivered job, and what a claim writes.
struct Design {
  const char* name;
  bool claim_writes;  // the claim leases each job (today) or only reads (fenced once per commit)
  bool keep_done;     // the finished job moves to jobs_done (today) or is deleted
  bool log_event;     // each outcome writes a log event (today)
  bool key_index;     // the job's key is in the de-duplicating index (today)
  bool moving_due;    // the claim moves the job's due time to its lease's end (today), in an index of unfinished jobs
  const char* what;
};

constexpr Design kDesigns[] = {
    {"today", true, true, true, true, true, "the claim leases each job; the finished job moves to jobs_done"},
    {"no-key-index", true, true, true, false, true, "as today, but the job's key is not indexed (deduplicate false)"},
    {"no-key-index-fixed-due", true, true, true, false, false,
     "that, and the claim leaves the due index alone (an index with no WHERE; expired leases found by a filter)"},
    {"delete-done", true, false, true, true, true, "as today, but the finished job is deleted"},
    {"read-claim", false, true, true, true, true,
     "the claim only reads (the owner lease, checked once per commit, fences)"},
    {"read-claim-delete-done", false, false, true, true, true, "both of the above"},
    {"read-claim-delete-done-no-event", false, false, false, true, true, "both, and no log event per outcome"},
};

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=0;
PRAGMA cache_size=-65536; PRAGMA mmap_size=1073741824;
CREATE TABLE jobs(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, key TEXT NOT NULL,
  state INTEGER NOT NULL, run_at_us INTEGER NOT NULL, due_us INTEGER NOT NULL, attempts INTEGER NOT NULL,
  payload BLOB NOT NULL, last_error TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL DEFAULT '',
  token INTEGER NOT NULL DEFAULT 0, lease_until_us INTEGER NOT NULL DEFAULT 0, create_us INTEGER NOT NULL,
  dedupe INTEGER NOT NULL DEFAULT 1);
CREATE INDEX jobs_due ON jobs(kind, due_us) WHERE state < 2;
CREATE UNIQUE INDEX jobs_key_dedupe ON jobs(kind, key) WHERE state < 2 AND key <> '' AND dedupe = 1;
CREATE TABLE jobs_done(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL, state INTEGER NOT NULL,
  run_at_us INTEGER NOT NULL, attempts INTEGER NOT NULL, payload BLOB NOT NULL, last_error TEXT NOT NULL,
  token INTEGER NOT NULL, create_us INTEGER NOT NULL, finished_us INTEGER NOT NULL);
CREATE INDEX jobs_done_at ON jobs_done(finished_us);
CREATE TABLE resources(kind TEXT NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,
  PRIMARY KEY(kind, name)) WITHOUT ROWID;
CREATE TABLE events(seq INTEGER PRIMARY KEY, create_us INTEGER, service TEXT, kind TEXT, resource TEXT,
  related TEXT, data BLOB);
CREATE INDEX events_by_service ON events(service, seq);
CREATE TABLE owners(name TEXT PRIMARY KEY, owner TEXT, token INTEGER);
INSERT INTO owners VALUES('webhooks/w', 'me', 7);
)sql";

double ThreadCpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Statements, and the first error (every failure ends the run).
class Db {
 public:
  explicit Db(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) Fail("open " + path);
  }
  ~Db() {
    for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
    sqlite3_close(db_);
  }
  sqlite3* get() { return db_; }
  void Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) Fail(absl::StrCat(sql, ": ", err ? err : ""));
  }
  sqlite3_stmt* Prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) Fail(sql);
    stmts_.push_back(s);
    return s;
  }
  // Runs a statement that returns no row, and resets it.
  void Run(sqlite3_stmt* s) {
    if (sqlite3_step(s) != SQLITE_DONE) Fail(sqlite3_sql(s));
    sqlite3_reset(s);
  }
  [[noreturn]] void Fail(const std::string& what) {
    std::cerr << "sb_webhook_store_model: " << what << ": " << sqlite3_errmsg(db_) << "\n";
    std::exit(1);
  }

 private:
  sqlite3* db_ = nullptr;
  std::vector<sqlite3_stmt*> stmts_;
};

struct Frames {
  long long written = 0;
  int last = 0;
  long long commits = 0;
};

// The writer's commit hook: counts -wal frames, and checkpoints (PASSIVE)
// once the file holds 1,000, as the product's checkpoint thread would.
int OnCommit(void* p, sqlite3* db, const char*, int frames) {
  auto* f = static_cast<Frames*>(p);
  if (frames < f->last) f->last = 0;
  f->written += frames - f->last;
  f->last = frames;
  ++f->commits;
  if (frames >= 1000) sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  return SQLITE_OK;
}

std::string Key(long long i) {
  char key[64];
  std::snprintf(key, sizeof key, "webhooks/w/deliveries/%020lld", i);
  return key;
}

void BindText(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

// One drain in a fresh database under `dir`; prints a row.
void Drain(const Design& d, const std::string& dir, int n, int per_commit, int claim) {
  const std::string path = dir + "/" + d.name + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) unlink((path + suffix).c_str());
  Db db(path);
  db.Exec(kSchema);
  if (!d.moving_due) db.Exec("DROP INDEX jobs_due; CREATE INDEX jobs_due ON jobs(kind, due_us);");
  const std::string payload(600, 'p'), record(200, 'r'), event(260, 'e');
  auto* insert_job = db.Prepare(
      "INSERT INTO jobs(kind,key,state,run_at_us,due_us,attempts,payload,create_us,dedupe) "
      "VALUES('webhook.delivery:webhooks/w',?1,0,?2,?2,0,?3,?2,?4)");
  auto* put_record = db.Prepare(
      "INSERT INTO resources(kind,name,value) VALUES('delivery',?1,?2) "
      "ON CONFLICT(kind,name) DO UPDATE SET value=excluded.value");
  auto* put_event = db.Prepare(
      "INSERT INTO events(seq,create_us,service,kind,resource,related,data) "
      "VALUES(?1,?2,'notification','delivery',?3,'webhooks/w',?4)");
  long long seq = 1;
  auto log_event = [&](long long i, const std::string& key) {
    sqlite3_bind_int64(put_event, 1, seq++);
    sqlite3_bind_int64(put_event, 2, i);
    BindText(put_event, 3, key);
    sqlite3_bind_blob(put_event, 4, event.data(), static_cast<int>(event.size()), SQLITE_STATIC);
    db.Run(put_event);
  };
  auto write_record = [&](const std::string& key) {
    BindText(put_record, 1, key);
    sqlite3_bind_blob(put_record, 2, record.data(), static_cast<int>(record.size()), SQLITE_STATIC);
    db.Run(put_record);
  };
  db.Exec("BEGIN");
  for (long long i = 0; i < n + claim; ++i) {
    const std::string key = Key(i);
    BindText(insert_job, 1, key);
    sqlite3_bind_int64(insert_job, 2, 1000 + i);
    sqlite3_bind_blob(insert_job, 3, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
    sqlite3_bind_int(insert_job, 4, d.key_index ? 1 : 0);
    db.Run(insert_job);
    write_record(key);
    log_event(i, key);
  }
  db.Exec("COMMIT");
  db.Exec("PRAGMA wal_checkpoint(TRUNCATE)");

  // The claim as the store runs it (the due time moves to the lease's end),
  // the claim that leaves it alone, and the claim that only reads.
  const std::string lease =
      "UPDATE jobs SET state=1, owner='me', token=token+1, attempts=attempts+1, lease_until_us=?1";
  const std::string due = "SELECT id FROM jobs WHERE kind='webhook.delivery:webhooks/w' AND due_us<=?2 ";
  const std::string first = " ORDER BY due_us, id LIMIT ?3";
  const std::string claimed = "RETURNING id, key, payload";
  auto* claim_lease = db.Prepare(
      (lease + ", due_us=?1 WHERE id IN (" + due + "AND state < 2" + first + ") " + claimed).c_str());
  auto* claim_fixed = db.Prepare(
      (lease + " WHERE id IN (" + due + "AND (state=0 OR lease_until_us<=?2)" + first + ") " + claimed).c_str());
  auto* claim_read = db.Prepare(
      ("SELECT id, key, payload FROM jobs WHERE id IN (" + due + "AND state < 2 AND id>?4" + first + ")").c_str());
  auto* fence = db.Prepare("SELECT 1 FROM owners WHERE name='webhooks/w' AND owner='me' AND token=7");
  // A finished job's move to jobs_done, under its lease or (read claims)
  // still READY, its attempt counted as it finishes.
  const std::string move =
      "INSERT INTO jobs_done(id,kind,key,state,run_at_us,attempts,payload,last_error,token,create_us,finished_us) "
      "SELECT id,kind,key,2,run_at_us,";
  const std::string finished = ",x'',last_error,token,create_us,?2 FROM jobs WHERE id=?1 AND ";
  auto* move_leased = db.Prepare((move + "attempts" + finished + "state=1 AND owner='me' AND token=1").c_str());
  auto* move_read = db.Prepare((move + "attempts+1" + finished + "state=0").c_str());
  auto* remove = db.Prepare("DELETE FROM jobs WHERE id=?1");
  auto* remove_leased = db.Prepare("DELETE FROM jobs WHERE id=?1 AND state=1 AND owner='me' AND token=1");

  Frames frames;
  sqlite3_wal_hook(db.get(), &OnCommit, &frames);
  struct Claimed {
    long long id;
    std::string key;
  };
  std::vector<Claimed> held;
  size_t next = 0;
  long long last_id = 0;
  // One claim of up to --claim jobs into `held`, in a transaction of its
  // own; every lease ends far after "now", so none expires in the run.
  auto claim_batch = [&] {
    held.clear();
    next = 0;
    db.Exec("BEGIN IMMEDIATE");
    sqlite3_stmt* c = !d.claim_writes ? claim_read : d.moving_due ? claim_lease : claim_fixed;
    sqlite3_bind_int64(c, 1, 1LL << 41);
    sqlite3_bind_int64(c, 2, 1LL << 40);
    sqlite3_bind_int(c, 3, claim);
    if (!d.claim_writes) sqlite3_bind_int64(c, 4, last_id);
    while (sqlite3_step(c) == SQLITE_ROW) {
      held.push_back({sqlite3_column_int64(c, 0), reinterpret_cast<const char*>(sqlite3_column_text(c, 1))});
      (void)sqlite3_column_blob(c, 2);  // the payload, read as the engine reads it
    }
    sqlite3_reset(c);
    db.Exec("COMMIT");
    if (held.empty()) db.Fail("the claim found nothing");
    last_id = held.back().id;
  };
  // The first claim's jobs stay in flight for the whole run, as the
  // engine's held attempts do: every later claim passes them by.
  claim_batch();
  held.clear();
  next = 0;
  int done = 0;
  const double cpu0 = ThreadCpu();
  while (done < n) {
    if (next == held.size()) claim_batch();
    db.Exec("BEGIN IMMEDIATE");
    if (!d.claim_writes) {
      if (sqlite3_step(fence) != SQLITE_ROW) db.Fail("the fence");
      sqlite3_reset(fence);
    }
    for (int k = 0; k < per_commit && next < held.size(); ++k, ++next, ++done) {
      const Claimed& j = held[next];
      write_record(j.key);
      if (d.log_event) log_event(j.id, j.key);
      if (d.keep_done) {
        sqlite3_stmt* move = d.claim_writes ? move_leased : move_read;
        sqlite3_bind_int64(move, 1, j.id);
        sqlite3_bind_int64(move, 2, 5);
        db.Run(move);
        if (sqlite3_changes(db.get()) != 1) db.Fail("a finished job did not move");
        sqlite3_bind_int64(remove, 1, j.id);
        db.Run(remove);
      } else {
        sqlite3_stmt* del = d.claim_writes ? remove_leased : remove;
        sqlite3_bind_int64(del, 1, j.id);
        db.Run(del);
        if (sqlite3_changes(db.get()) != 1) db.Fail("a finished job was not deleted");
      }
    }
    db.Exec("COMMIT");
  }
  const double cpu = ThreadCpu() - cpu0;
  std::printf("| %s | %.2f | %.2f | %lld |\n", d.name, cpu * 1e6 / n,
              static_cast<double>(frames.written) / static_cast<double>(n), frames.commits);
  std::fflush(stdout);
  for (const char* suffix : {"", "-wal", "-shm"}) unlink((path + suffix).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string designs_help = "Comma-separated designs to run, each in a fresh database; all if empty:";
  for (const Design& d : kDesigns) absl::StrAppend(&designs_help, "\n        ", d.name, ": ", d.what);
  switchboard::Cli cli("sb_webhook_store_model", "sb_webhook_store_model [flags]");
  cli.AddString("designs", "", designs_help);
  cli.AddInt("deliveries", 20000, "Deliveries in the backlog (1-1000000).");
  cli.AddInt("per_commit", 34,
             "Outcomes per commit (1-10000): 34 is what switchboard's writer commits at in-flight 8.");
  cli.AddInt("claim", 256, "Jobs per claim (1-10000), as the webhook engine claims.");
  cli.AddInt("rounds", 2, "Runs of each design, interleaved (1-100).");
  cli.AddString("dir", "/tmp", "Folder for the databases (deleted after each run).");
  auto parsed = cli.Parse(argc, argv);
  if (!parsed.ok()) {
    std::cerr << parsed.status().message() << "\n";
    return 2;
  }
  if (!*parsed) return 0;
  const long long n = cli.GetInt("deliveries"), per = cli.GetInt("per_commit"), claim = cli.GetInt("claim"),
                  rounds = cli.GetInt("rounds");
  for (auto [name, v, hi] : {std::tuple{"--deliveries", n, 1000000LL}, std::tuple{"--per_commit", per, 10000LL},
                             std::tuple{"--claim", claim, 10000LL}, std::tuple{"--rounds", rounds, 100LL}}) {
    if (v < 1 || v > hi) {
      std::cerr << name << " is " << v << "; give 1 to " << hi << "\n";
      return 2;
    }
  }
  std::vector<const Design*> chosen;
  const std::string wanted = cli.GetString("designs");
  for (absl::string_view name : absl::StrSplit(wanted, ',', absl::SkipEmpty())) {
    const Design* found = nullptr;
    for (const Design& d : kDesigns) found = name == d.name ? &d : found;
    if (found == nullptr) {
      std::cerr << "--designs has '" << name << "'; give names from sb_webhook_store_model --help, comma-separated\n";
      return 2;
    }
    chosen.push_back(found);
  }
  if (chosen.empty()) {
    for (const Design& d : kDesigns) chosen.push_back(&d);
  }
  std::printf("| design | µs of CPU per delivery | -wal frames per delivery | commits that wrote |\n");
  std::printf("|---|---:|---:|---:|\n");
  for (long long r = 0; r < rounds; ++r) {
    for (const Design* d : chosen) {
      Drain(*d, cli.GetString("dir"), static_cast<int>(n), static_cast<int>(per), static_cast<int>(claim));
    }
  }
  return 0;
}
