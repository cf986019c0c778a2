#include "server/core/wal_checkpointer.h"

#include <string>

#include "common/log.h"
#include "common/thread_name.h"
#include "server/core/sqlite_stmt.h"

namespace switchboard::core {

absl::StatusOr<std::unique_ptr<WalCheckpointer>> WalCheckpointer::Start(sqlite3* own, sqlite3* writer, int pages) {
  // A connection reads the database header lazily: until it has, it does
  // not know the database is in WAL mode and a checkpoint does nothing.
  if (absl::Status s = sqlite::Exec(own, "PRAGMA journal_mode=WAL;", "checkpointer"); !s.ok()) {
    sqlite3_close(own);
    return s;
  }
  auto c = std::unique_ptr<WalCheckpointer>(new WalCheckpointer(writer, own, pages));
  c->thread_ = NamedThread("wal-checkpoint", [p = c.get()] { p->Loop(); });
  // Replaces the writer's automatic checkpoint (sqlite3_wal_autocheckpoint
  // is itself a wal hook).
  sqlite3_wal_hook(writer, &WalCheckpointer::Hook, c.get());
  return c;
}

WalCheckpointer::~WalCheckpointer() {
  sqlite3_wal_hook(writer_, nullptr, nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  sqlite3_close(db_);
}

// Runs on the writer thread after each commit; `pages` is the -wal file's
// frame count.
int WalCheckpointer::Hook(void* self, sqlite3* db, const char*, int pages) {
  auto* c = static_cast<WalCheckpointer*>(self);
  if (pages >= kWriterCheckpointFactor * c->pages_) {
    // Under steady writes the thread never catches up with the last few
    // frames, and the -wal file only starts over once a checkpoint has
    // copied all of it. The writer copies that rest itself (the thread
    // already did the bulk), as SQLite's own automatic checkpoint would.
    // A PASSIVE checkpoint is refused (BUSY) while another runs, so it
    // first waits for the thread's round to end.
    std::lock_guard<std::mutex> running(c->run_mu_);
    c->Run(db);
    return SQLITE_OK;
  }
  if (pages < c->asked_at_) c->asked_at_ = 0;  // the file started over since
  if (pages - c->asked_at_ >= c->pages_) {
    c->asked_at_ = pages;
    std::lock_guard<std::mutex> lock(c->mu_);
    c->wanted_ = true;
    c->cv_.notify_one();
  }
  return SQLITE_OK;
}

void WalCheckpointer::Run(sqlite3* db) {
  int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  rounds_.fetch_add(1, std::memory_order_relaxed);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    log::Warn("store checkpoint failed; the next commit retries it", {{"error", sqlite3_errmsg(db)}});
  }
}

void WalCheckpointer::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || wanted_; });
      if (stop_) return;
      wanted_ = false;
    }
    std::lock_guard<std::mutex> running(run_mu_);
    Run(db_);
  }
}

}  // namespace switchboard::core
