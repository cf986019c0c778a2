#include "common/thread_name.h"

#include <pthread.h>

namespace switchboard {

void SetThreadName(std::string_view name) {
  char buf[16];
  const size_t n = name.size() < sizeof(buf) - 1 ? name.size() : sizeof(buf) - 1;
  name.copy(buf, n);
  buf[n] = '\0';
  pthread_setname_np(pthread_self(), buf);
}

std::string ThreadName() {
  char buf[16] = {};
  if (pthread_getname_np(pthread_self(), buf, sizeof(buf)) != 0) return "";
  return buf;
}

ScopedThreadName::ScopedThreadName(std::string_view name) : old_(ThreadName()) { SetThreadName(name); }

ScopedThreadName::~ScopedThreadName() { SetThreadName(old_); }

}  // namespace switchboard
