#include "server/core/request_index.h"

#include <algorithm>

#include "absl/hash/hash.h"

namespace switchboard::core {

uint64_t RequestIndex::Hash(absl::string_view request_id) { return absl::HashOf(request_id); }

std::vector<int64_t> RequestIndex::Candidates(absl::string_view request_id) const {
  std::vector<int64_t> out;
  uint64_t h = Hash(request_id);
  auto it = first_.find(h);
  if (it == first_.end()) return out;
  out.push_back(it->second);
  if (auto m = more_.find(h); m != more_.end()) out.insert(out.end(), m->second.begin(), m->second.end());
  return out;
}

void RequestIndex::Add(absl::string_view request_id, int64_t rowid) {
  uint64_t h = Hash(request_id);
  auto [it, inserted] = first_.try_emplace(h, rowid);
  if (!inserted) more_[h].push_back(rowid);
  ++size_;
}

void RequestIndex::Remove(absl::string_view request_id, int64_t rowid) {
  uint64_t h = Hash(request_id);
  auto it = first_.find(h);
  if (it == first_.end()) return;
  auto m = more_.find(h);
  if (it->second == rowid) {
    if (m == more_.end()) {
      first_.erase(it);
    } else {
      it->second = m->second.front();
      m->second.erase(m->second.begin());
      if (m->second.empty()) more_.erase(m);
    }
    --size_;
    return;
  }
  if (m == more_.end()) return;
  auto r = std::find(m->second.begin(), m->second.end(), rowid);
  if (r == m->second.end()) return;
  m->second.erase(r);
  if (m->second.empty()) more_.erase(m);
  --size_;
}

}  // namespace switchboard::core
