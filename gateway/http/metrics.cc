#include "gateway/http/metrics.h"

#include "absl/strings/str_cat.h"

namespace switchboard::gateway {

Metrics::Metrics() : bounds_{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10} {}

void Metrics::RecordRequest(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  RouteStats& r = routes_[route];
  if (r.buckets.empty()) r.buckets.assign(bounds_.size(), 0);
  r.by_status[status]++;
  r.count++;
  r.seconds_sum += seconds;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (seconds <= bounds_[i]) {
      r.buckets[i]++;
      break;
    }
  }
}

void Metrics::RecordError(const std::string& kind) {
  std::lock_guard<std::mutex> lock(mu_);
  errors_[kind]++;
}

void Metrics::Count(const std::string& name, const std::string& help, uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& c = counters_[name];
  if (c.first.empty()) c.first = help;
  c.second += n;
}

void Metrics::AddGauge(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard<std::mutex> lock(mu_);
  gauges_.emplace_back(std::move(name), std::move(help), std::move(read));
}

std::string Metrics::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  absl::StrAppend(&out, "# HELP switchboard_gateway_http_requests_total HTTP requests answered, by route and status.\n",
                  "# TYPE switchboard_gateway_http_requests_total counter\n");
  for (const auto& [route, r] : routes_) {
    for (const auto& [status, n] : r.by_status) {
      absl::StrAppend(&out, "switchboard_gateway_http_requests_total{route=\"", route, "\",status=\"", status, "\"} ",
                      n, "\n");
    }
  }
  absl::StrAppend(&out, "# HELP switchboard_gateway_http_request_seconds Time from a complete request to its answer.\n",
                  "# TYPE switchboard_gateway_http_request_seconds histogram\n");
  for (const auto& [route, r] : routes_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
      cumulative += r.buckets[i];
      absl::StrAppend(&out, "switchboard_gateway_http_request_seconds_bucket{route=\"", route, "\",le=\"", bounds_[i],
                      "\"} ", cumulative, "\n");
    }
    absl::StrAppend(&out, "switchboard_gateway_http_request_seconds_bucket{route=\"", route, "\",le=\"+Inf\"} ",
                    r.count, "\n", "switchboard_gateway_http_request_seconds_sum{route=\"", route, "\"} ",
                    r.seconds_sum, "\n", "switchboard_gateway_http_request_seconds_count{route=\"", route, "\"} ",
                    r.count, "\n");
  }
  absl::StrAppend(&out, "# HELP switchboard_gateway_errors_total Errors by kind.\n",
                  "# TYPE switchboard_gateway_errors_total counter\n");
  for (const auto& [kind, n] : errors_) {
    absl::StrAppend(&out, "switchboard_gateway_errors_total{kind=\"", kind, "\"} ", n, "\n");
  }
  for (const auto& [name, c] : counters_) {
    absl::StrAppend(&out, "# HELP switchboard_gateway_", name, "_total ", c.first, "\n", "# TYPE switchboard_gateway_",
                    name, "_total counter\n", "switchboard_gateway_", name, "_total ", c.second, "\n");
  }
  for (const auto& [name, help, read] : gauges_) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " gauge\n", name, " ", read(), "\n");
  }
  return out;
}

}  // namespace switchboard::gateway
