// Translation warnings are logged once each, not again on every unrelated change: both
// configuration sources (files and the API) keep the set of lines already logged.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "controller/translator.hpp"

namespace strait::controller {

// Logs the warnings that were not in `seen`, then makes `seen` exactly the current set.
void log_new_warnings(const std::vector<Warning>& warnings, std::set<std::string>& seen);

}  // namespace strait::controller
