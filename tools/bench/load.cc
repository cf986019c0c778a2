#include "load.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace switchboard::bench {

double LoadResult::Percentile(double p) const {
  if (latencies_us.empty()) return 0;
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(latencies_us.size() - 1));
  return latencies_us[i];
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, int id) {
  grpc::ChannelArguments args;
  args.SetInt("sb.bench_channel_id", id);  // unique args: no shared subchannel
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

bool WaitConnected(const std::shared_ptr<grpc::Channel>& channel, double seconds) {
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(seconds));
  return channel->WaitForConnected(deadline);
}

LoadResult RunLoad(const std::string& target, int threads, int concurrency, double duration_s,
                   const SlotFactory& make_slot) {
  using Clock = std::chrono::steady_clock;
  threads = std::max(1, std::min(threads, concurrency));
  LoadResult total;
  std::mutex mu;
  std::atomic<uint64_t> seq{0};
  // Connect every thread's channel first, so that connection set-up is not
  // counted as latency.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int t = 0; t < threads; ++t) {
    channels.push_back(NewChannel(target, t));
    WaitConnected(channels.back(), 10);
  }
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration_s));
  // A hard stop in case the server stops answering: calls carry no deadline
  // of their own, so the drain below is bounded by cancelling.
  const auto hard_end = std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(
                            std::chrono::duration<double>(duration_s)) +
                        std::chrono::seconds(30);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    int per = concurrency / threads + (t < concurrency % threads ? 1 : 0);
    workers.emplace_back([&, t, per] {
      grpc::CompletionQueue cq;
      std::vector<std::unique_ptr<CallSlot>> slots;
      std::vector<Clock::time_point> started(per);
      std::vector<double> lat;
      lat.reserve(1 << 18);
      uint64_t ok = 0, errors = 0;
      std::string first_error;
      for (int i = 0; i < per; ++i) slots.push_back(make_slot(channels[t]));
      for (int i = 0; i < per; ++i) {
        started[i] = Clock::now();
        slots[i]->Start(&cq, reinterpret_cast<void*>(static_cast<intptr_t>(i)), seq++);
      }
      int outstanding = per;
      void* tag;
      bool got;
      while (outstanding > 0) {
        auto st = cq.AsyncNext(&tag, &got, hard_end);
        if (st != grpc::CompletionQueue::NextStatus::GOT_EVENT) {
          if (errors++ == 0) first_error = "no answer before the hard stop";
          for (auto& slot : slots) slot->Cancel();
          break;
        }
        int i = static_cast<int>(reinterpret_cast<intptr_t>(tag));
        auto now = Clock::now();
        if (slots[i]->status().ok()) {
          ++ok;
          lat.push_back(std::chrono::duration<double, std::micro>(now - started[i]).count());
        } else if (errors++ == 0) {
          first_error = std::to_string(slots[i]->status().error_code()) + ": " + slots[i]->status().error_message();
        }
        if (now < end) {
          started[i] = now;
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
