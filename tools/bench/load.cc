#include "load.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace switchboard::bench {

double LoadResult::Percentile(double p) const {
  if (latencies_us.empty()) return 0;
  size_t i = static_cast<size_t>(p / 100.0 * (latencies_us.size() - 1));
  return latencies_us[i];
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, int id) {
  grpc::ChannelArguments args;
  args.SetInt("sb.bench_channel_id", id);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

LoadResult RunLoad(const std::string& target, int threads, int concurrency, double duration_s,
                   const SlotFactory& make_slot) {
  using Clock = std::chrono::steady_clock;
  LoadResult total;
  std::mutex mu;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration_s));
  std::atomic<uint64_t> seq{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    int per = concurrency / threads + (t < concurrency % threads ? 1 : 0);
    workers.emplace_back([&, t, per] {
      auto channel = NewChannel(target, t);
      grpc::CompletionQueue cq;
      std::vector<std::unique_ptr<CallSlot>> slots;
      std::vector<Clock::time_point> started(per);
      std::vector<double> lat;
      lat.reserve(1 << 20);
      uint64_t ok = 0, errors = 0;
      std::string first_error;
      for (int i = 0; i < per; ++i) {
        slots.push_back(make_slot(channel));
        started[i] = Clock::now();
        slots[i]->Start(&cq, reinterpret_cast<void*>(static_cast<intptr_t>(i)), seq++);
      }
      int outstanding = per;
      void* tag;
      bool got;
      while (outstanding > 0 && cq.Next(&tag, &got)) {
        int i = static_cast<int>(reinterpret_cast<intptr_t>(tag));
        auto now = Clock::now();
        if (slots[i]->status().ok()) {
          ++ok;
          lat.push_back(std::chrono::duration<double, std::micro>(now - started[i]).count());
        } else {
          if (errors++ == 0) first_error = slots[i]->status().error_message();
        }
        if (now < end) {
          slots[i] = make_slot(channel);
          started[i] = Clock::now();
          slots[i]->Start(&cq, tag, seq++);
        } else {
          --outstanding;
        }
      }
      cq.Shutdown();
      while (cq.Next(&tag, &got)) {
      }
      std::lock_guard<std::mutex> lock(mu);
      total.ok += ok;
      total.errors += errors;
      if (total.first_error.empty()) total.first_error = first_error;
      total.latencies_us.insert(total.latencies_us.end(), lat.begin(), lat.end());
    });
  }
  for (auto& w : workers) w.join();
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(total.latencies_us.begin(), total.latencies_us.end());
  return total;
}

}  // namespace switchboard::bench
