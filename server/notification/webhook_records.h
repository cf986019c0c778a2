#pragma once
// The delivery records this process committed last (webhooks.h), kept so
// that an attempt need not read its record back from the store before its
// POST (a fifth of the HTTP loop's time when it did).
//
// A record is written only by its routing (with a job no one has claimed
// yet, token 0) and by the holder of its job's lease (fenced by the lease's
// token). So a record committed here under token t is still the stored one
// when this process claims the job with token t + 1: no claim came between,
// so no other holder could have written it. Any other token is a miss, and
// the attempt reads the store as before.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace switchboard::notification {

class DeliveryRecords {
 public:
  // At most `capacity` records. A Put that finds it full forgets every
  // record first: records of deliveries finished elsewhere (another
  // replica, a deleted webhook's cancelled jobs) are never erased one by
  // one, and the attempts after a clear read the store.
  explicit DeliveryRecords(size_t capacity) : capacity_(capacity) {}

  // `record` (serialized) was committed for `delivery` under its job's
  // lease token `token` (0: the delivery was routed, its job never claimed).
  void Put(const std::string& delivery, std::string record, int64_t token);
  // The record as last committed here, if the claim with `token` came right
  // after that commit; nullopt otherwise.
  std::optional<std::string> Get(const std::string& delivery, int64_t token) const;
  // The delivery finished, or its last write's outcome is unknown.
  void Erase(const std::string& delivery);
  size_t size() const;

 private:
  struct Entry {
    std::string record;
    int64_t token = 0;
  };
  const size_t capacity_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_;
};

}  // namespace switchboard::notification
