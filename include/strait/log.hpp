// Process log on stderr: one line per event, "2026-11-25T17:54:55Z level message". The access
// log is separate (stdout, proxy/access_log.hpp).
#pragma once

#include <string_view>

namespace strait {

enum class LogLevel { Info, Warning, Error };

void log(LogLevel level, std::string_view message);
inline void log_info(std::string_view m) {
  log(LogLevel::Info, m);
}
inline void log_warning(std::string_view m) {
  log(LogLevel::Warning, m);
}
inline void log_error(std::string_view m) {
  log(LogLevel::Error, m);
}

}  // namespace strait
