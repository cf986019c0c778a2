#pragma once
// The gateway's Prometheus metrics (text format 0.0.4): HTTP requests by
// route and status, request latency histograms by route, errors by kind,
// and gauges read when scraped (outbound queue depth and so on).

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace switchboard::gateway {

class Metrics {
 public:
  Metrics();
  // One HTTP request answered with `status` after `seconds`.
  void RecordRequest(const std::string& route, int status, double seconds);
  // One error of `kind` ("grpc_unavailable", "decode", "publish"...).
  void RecordError(const std::string& kind);
  // Adds `n` to a named counter (`switchboard_gateway_<name>_total`).
  void Count(const std::string& name, const std::string& help, uint64_t n = 1);
  // A gauge whose value is read when scraped.
  void AddGauge(std::string name, std::string help, std::function<double()> read);
  std::string Render() const;

 private:
  struct RouteStats {
    std::map<int, uint64_t> by_status;
    std::vector<uint64_t> buckets;  // cumulative at render time
    double seconds_sum = 0;
    uint64_t count = 0;
  };
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::string, RouteStats> routes_;
  std::map<std::string, uint64_t> errors_;
  std::map<std::string, std::pair<std::string, uint64_t>> counters_;
  std::vector<std::tuple<std::string, std::string, std::function<double()>>> gauges_;
};

}  // namespace switchboard::gateway
