#pragma once
// The index of the store's idempotency records, in memory: request_id to
// the rowids of its records in the append-only request_log table (the
// caller reads the row's scope: a request_id names one request of one RPC,
// so the same id under another scope is a conflict, not a new request). Request ids are random, so a B-tree keyed by them takes every new
// record to a page of its own, and each commit wrote (and each checkpoint
// copied) one 4 KiB page per record; appended records share pages. The
// index holds 64-bit hashes, so a match is a candidate that the caller
// checks against the row. Rebuilt from the table when the store opens.

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace switchboard::core {

class RequestIndex {
 public:
  // Rowids that may hold request_id, oldest first: none for a new request,
  // nearly always one otherwise.
  std::vector<int64_t> Candidates(absl::string_view request_id) const;
  void Add(absl::string_view request_id, int64_t rowid);
  // Undoes an Add (a rolled-back transaction).
  void Remove(absl::string_view request_id, int64_t rowid);
  size_t size() const { return size_; }

 private:
  static uint64_t Hash(absl::string_view request_id);

  absl::flat_hash_map<uint64_t, int64_t> first_;
  // The further rowids of a hash that several records share.
  absl::flat_hash_map<uint64_t, std::vector<int64_t>> more_;
  size_t size_ = 0;
};

}  // namespace switchboard::core
