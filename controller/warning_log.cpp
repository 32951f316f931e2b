#include "controller/warning_log.hpp"

#include "strait/log.hpp"

namespace strait::controller {

void log_new_warnings(const std::vector<Warning>& warnings, std::set<std::string>& seen) {
  std::set<std::string> current;
  for (const auto& w : warnings) {
    std::string line = w.object + ": " + w.message;
    if (seen.count(line) == 0) log_warning(line);
    current.insert(std::move(line));
  }
  seen = std::move(current);
}

}  // namespace strait::controller
