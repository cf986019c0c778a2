#pragma once
// A closed-loop unary load generator on the async client API: `concurrency`
// calls outstanding at all times, spread over `threads` completion queues
// (one channel each), for `duration_s`.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace switchboard::bench {

struct LoadResult {
  double seconds = 0;
  uint64_t ok = 0;
  uint64_t errors = 0;
  std::string first_error;
  std::vector<double> latencies_us;  // sorted
  double Throughput() const { return seconds > 0 ? ok / seconds : 0; }
  double Percentile(double p) const;
};

// One outstanding call: Start issues it on `cq` with `tag`; the harness reads
// the status when the tag comes back.
class CallSlot {
 public:
  virtual ~CallSlot() = default;
  virtual void Start(grpc::CompletionQueue* cq, void* tag, uint64_t n) = 0;
  virtual const grpc::Status& status() const = 0;
};

using SlotFactory = std::function<std::unique_ptr<CallSlot>(std::shared_ptr<grpc::Channel>)>;

LoadResult RunLoad(const std::string& target, int threads, int concurrency, double duration_s,
                   const SlotFactory& make_slot);

// A channel of its own (distinct args keep channels from sharing a
// connection).
std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, int id);

}  // namespace switchboard::bench
