#include "proxy/access_log.hpp"

#include <unistd.h>

#include <cerrno>
#include <mutex>

namespace strait::proxy {

void AccessLog::flush() {
  if (buffer_.empty()) return;
  // Workers flush whole lines; the lock keeps two workers' batches from interleaving on a pipe.
  static std::mutex stdout_mutex;
  std::lock_guard lock(stdout_mutex);
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // stdout gone: drop the log rather than stall the data path
    p += n;
    left -= static_cast<size_t>(n);
  }
  buffer_.clear();
}

}  // namespace strait::proxy
