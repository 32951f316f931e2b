#include "strait/log.hpp"

#include <unistd.h>

#include <ctime>
#include <mutex>
#include <string>

namespace strait {

void log(LogLevel level, std::string_view message) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string line;
  line.reserve(message.size() + 48);
  line.append(stamp);
  line.append(level == LogLevel::Info      ? " info "
              : level == LogLevel::Warning ? " warning "
                                           : " error ");
  line.append(message);
  line.push_back('\n');
  static std::mutex m;
  std::lock_guard lock(m);
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace strait
