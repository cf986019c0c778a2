#pragma once
// Runs SQLite's WAL checkpoints (copying committed pages from the -wal file
// into the database file, and its fsync) on a thread of its own, so that
// the store's single writer never stops for one. It replaces SQLite's
// automatic checkpoint, which runs inside the COMMIT that crosses the
// threshold; it is PASSIVE in the same way (it never blocks the writer or a
// reader, and leaves frames a reader still needs for the next round).
//
// It runs once `pages` frames have been added to the -wal file since the
// last round was asked for (or since the file started over), not whenever
// the file holds `pages`: under steady writes the file only starts over at
// the writer's own checkpoint (kWriterCheckpointFactor), and SQLite's rule
// (the file's size) would checkpoint after every commit past the
// threshold, each round copying the last commit's few frames and paying
// two fsyncs for them.

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"

namespace switchboard::core {

class WalCheckpointer {
 public:
  static constexpr int kWriterCheckpointFactor = 8;
  // Takes `own`, a connection of its own to the database (closed here on
  // failure), and hooks the writer connection `writer`: once
  // its -wal file holds `pages` pages or more after a commit, the thread
  // checkpoints; at kWriterCheckpointFactor times that, the writer finishes
  // the checkpoint itself so that the -wal file starts over (see Hook).
  // Must be destroyed before `writer` is closed.
  static absl::StatusOr<std::unique_ptr<WalCheckpointer>> Start(sqlite3* own, sqlite3* writer, int pages);
  ~WalCheckpointer();

  // Checkpoints run so far, by the thread and by the writer.
  int64_t rounds() const { return rounds_.load(std::memory_order_relaxed); }

  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

 private:
  WalCheckpointer(sqlite3* writer, sqlite3* own, int pages) : writer_(writer), db_(own), pages_(pages) {}
  static int Hook(void* self, sqlite3* db, const char* name, int pages);
  void Loop();
  // A PASSIVE checkpoint on `db` (with run_mu_ held), counted in rounds_.
  void Run(sqlite3* db);

  sqlite3* writer_;
  sqlite3* db_;  // the checkpointing connection, used by the thread only
  const int pages_;
  // Held while a checkpoint runs, by the thread or the writer.
  std::mutex run_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false;
  // The -wal file's frames when the last round was asked for (0 once the
  // file started over); the writer's hook only.
  int asked_at_ = 0;
  std::atomic<int64_t> rounds_{0};
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace switchboard::core
