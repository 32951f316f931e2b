#include "strait/clock.hpp"

#include <cstdio>
#include <ctime>

namespace strait {

void append_utc_timestamp(std::string& out, int fraction_digits) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  gmtime_r(&ts.tv_sec, &tm);
  char buf[48];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (fraction_digits == 6) {
    std::snprintf(buf + n, sizeof buf - n, ".%06ldZ", ts.tv_nsec / 1000);
  } else {
    std::snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000);
  }
  out.append(buf);
}

}  // namespace strait
