#include "common/uuid.h"

#include <array>
#include <random>

namespace switchboard {

uint64_t UniqueRandom64() {
  thread_local std::mt19937_64 rng = [] {
    std::random_device dev;
    std::array<uint32_t, 8> seed;
    for (auto& s : seed) s = dev();
    std::seed_seq seq(seed.begin(), seed.end());
    return std::mt19937_64(seq);
  }();
  return rng();
}

std::string NewUuid() {
  uint64_t hi = UniqueRandom64(), lo = UniqueRandom64();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
  // 8-4-4-4-12 lowercase hex digits, written directly (no printf).
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  size_t pos = 0;
  auto put = [&](uint64_t bits, int digits) {
    for (int i = digits - 1; i >= 0; --i) out[pos++] = kHex[(bits >> (4 * i)) & 0xF];
  };
  put(hi >> 32, 8);
  ++pos;
  put(hi >> 16, 4);
  ++pos;
  put(hi, 4);
  ++pos;
  put(lo >> 48, 4);
  ++pos;
  put(lo, 12);
  return out;
}

}  // namespace switchboard
