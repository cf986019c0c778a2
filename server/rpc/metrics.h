#pragma once
// Process metrics in Prometheus text format, served on /metrics. Counters are
// per method and status code; gauges are read through callbacks when
// scraped.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace switchboard::rpc {

class Metrics {
 public:
  void RecordRpc(const std::string& method, int code, double seconds);
  // A gauge whose value is read when scraped.
  void AddGauge(std::string name, std::string help, std::function<double()> read);
  std::string Render() const;

 private:
  struct RpcStats {
    std::map<int, uint64_t> by_code;
    double seconds_sum = 0;
    uint64_t count = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, RpcStats> rpcs_;
  std::vector<std::tuple<std::string, std::string, std::function<double()>>> gauges_;
};

}  // namespace switchboard::rpc
