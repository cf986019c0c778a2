#include "server/notification/webhook_records.h"

#include <utility>

namespace switchboard::notification {

void DeliveryRecords::Put(const std::string& delivery, std::string record, int64_t token) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(delivery);
  if (it == entries_.end()) {
    if (entries_.size() >= capacity_) entries_.clear();
    it = entries_.emplace(delivery, Entry{}).first;
  }
  it->second.record = std::move(record);
  it->second.token = token;
}

std::optional<std::string> DeliveryRecords::Get(const std::string& delivery, int64_t token) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(delivery);
  if (it == entries_.end() || it->second.token + 1 != token) return std::nullopt;
  return it->second.record;
}

void DeliveryRecords::Erase(const std::string& delivery) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(delivery);
}

size_t DeliveryRecords::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace switchboard::notification
