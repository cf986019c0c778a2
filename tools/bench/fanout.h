#pragma once
// Watch fan-out: N WatchEvents streams from the current head, spread over M
// channels (M connections); the server's memory before and after they are
// open and idle; then one event published at a time and, for each watcher,
// the time from sending the Publish until that watcher has read the event.
// The same run against sb_echo_server (Hold / Broadcast) gives gRPC's floor.

#include <sys/types.h>

#include <string>
#include <vector>

namespace switchboard::bench {

struct FanoutOptions {
  std::string target;
  int watchers = 10000;
  int channels = 50;
  int rounds = 5;
  int threads = 2;  // client threads reading the streams, one completion queue each
  pid_t server_pid = 0;  // 0: memory is not measured
  // Against sb_echo_server instead: Hold streams, Broadcast as the event.
  bool echo_baseline = false;
};

struct FanoutResult {
  int watchers = 0;
  int opened = 0;  // streams that got their initial metadata
  int channels = 0;
  int rounds = 0;
  long long delivered = 0;
  long long expected = 0;
  std::vector<double> latencies_ms;  // sorted, one per watcher per round
  std::vector<double> round_max_ms;  // per round: until the last watcher had it
  std::vector<double> publish_ms;    // per round: Publish round trip
  long long rss_before = 0;     // server idle, warmed up, no bench connections
  long long rss_connected = 0;  // plus M idle connections
  long long rss_after = 0;      // plus N idle watch streams
  double open_seconds = 0;  // all streams opened
  double server_cpu_s = 0;  // CPU used during the rounds (sleeps between rounds included, idle)
  double client_cpu_s = 0;
  int cancelled = 0;        // streams that ended CANCELLED when we cancelled
  int other_end = 0;        // streams that ended any other way
  std::string first_other_status;
  std::string error;
  double BytesPerWatcher() const { return opened ? double(rss_after - rss_connected) / opened : 0; }
  double BytesPerWatcherWithConnections() const { return opened ? double(rss_after - rss_before) / opened : 0; }
  double Percentile(double p) const;
};

FanoutResult RunFanout(const FanoutOptions& options);

// The same watchers as watches on WatchMany streams, one stream per channel
// (fanout_many.cc); `echo_baseline` and `threads` are ignored.
FanoutResult RunFanoutMany(const FanoutOptions& options);

}  // namespace switchboard::bench
