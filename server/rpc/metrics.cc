#include "server/rpc/metrics.h"

#include <sstream>

#include "absl/status/status.h"
#include "common/status.h"

namespace switchboard::rpc {

void Metrics::RecordRpc(const std::string& method, int code, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  RpcStats& s = rpcs_[method];
  s.by_code[code]++;
  s.seconds_sum += seconds;
  s.count++;
}

void Metrics::AddGauge(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard<std::mutex> lock(mu_);
  gauges_.emplace_back(std::move(name), std::move(help), std::move(read));
}

std::string Metrics::Render() const {
  std::ostringstream out;
  std::lock_guard<std::mutex> lock(mu_);
  out << "# HELP switchboard_rpc_total RPCs finished, by method and status code.\n"
         "# TYPE switchboard_rpc_total counter\n";
  for (const auto& [method, s] : rpcs_) {
    for (const auto& [code, n] : s.by_code) {
      out << "switchboard_rpc_total{method=\"" << method << "\",code=\""
          << CodeName(static_cast<absl::StatusCode>(code)) << "\"} " << n << "\n";
    }
  }
  out << "# HELP switchboard_rpc_seconds Time from call start to status, by method.\n"
         "# TYPE switchboard_rpc_seconds summary\n";
  for (const auto& [method, s] : rpcs_) {
    out << "switchboard_rpc_seconds_sum{method=\"" << method << "\"} " << s.seconds_sum << "\n";
    out << "switchboard_rpc_seconds_count{method=\"" << method << "\"} " << s.count << "\n";
  }
  for (const auto& [name, help, read] : gauges_) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n" << name << " " << read() << "\n";
  }
  return out.str();
}

}  // namespace switchboard::rpc
