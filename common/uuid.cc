#include "common/uuid.h"

#include <array>
#include <cstdio>
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
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

}  // namespace switchboard
