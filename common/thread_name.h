// Names the calling thread, so that `top -H`, `ps -L`, perf and gdb show what
// each of a process's threads is for. Linux keeps the first 15 bytes.
#ifndef SWITCHBOARD_COMMON_THREAD_NAME_H_
#define SWITCHBOARD_COMMON_THREAD_NAME_H_

#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace switchboard {

void SetThreadName(std::string_view name);

// A thread named `name` (SetThreadName) that runs `body`.
template <class F>
std::thread NamedThread(std::string name, F body) {
  return std::thread([name = std::move(name), body = std::move(body)]() mutable {
    SetThreadName(name);
    body();
  });
}

// The calling thread's name ("" when it cannot be read).
std::string ThreadName();

// Names the calling thread while it lives, then gives it its old name back. A
// thread takes the name of the thread that starts it, so threads that a
// library starts meanwhile (boost::asio::thread_pool's) carry this name.
class ScopedThreadName {
 public:
  explicit ScopedThreadName(std::string_view name);
  ~ScopedThreadName();
  ScopedThreadName(const ScopedThreadName&) = delete;
  ScopedThreadName& operator=(const ScopedThreadName&) = delete;

 private:
  std::string old_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_COMMON_THREAD_NAME_H_
