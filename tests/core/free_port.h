#pragma once
// A loopback port for a test server that must know its port before it
// starts (a child process given --http_address, a restart on the same port).

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace switchboard::testing {

// A loopback port nothing listens on: bound, then released.
inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

}  // namespace switchboard::testing
