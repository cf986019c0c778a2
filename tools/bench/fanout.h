#pragma once
// Watch fan-out: N WatchEvents streams over M channels; one event published
// at a time; the time until each watcher has it.

#include <string>
#include <vector>

#include <sys/types.h>

namespace switchboard::bench {

struct FanoutResult {
  int watchers = 0;
  int rounds = 0;
  long long delivered = 0;
  long long expected = 0;
  std::vector<double> latencies_ms;  // sorted, one per watcher per round
  std::vector<double> round_max_ms;  // time until the last watcher had it
  long long rss_before = 0, rss_after = 0;
  double setup_seconds = 0;
  std::string error;
  double BytesPerWatcher() const { return watchers ? double(rss_after - rss_before) / watchers : 0; }
  double Percentile(double p) const;
};

FanoutResult RunFanout(const std::string& target, int watchers, int channels, int rounds, pid_t server_pid);

}  // namespace switchboard::bench
