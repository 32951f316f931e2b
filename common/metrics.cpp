#include "strait/metrics.hpp"

#include <cstdio>

namespace strait {

ConfigMetrics& ConfigMetrics::instance() {
  static ConfigMetrics metrics;
  return metrics;
}

void append_histogram(std::string& out, const std::string& name, const std::string& labels,
                      const Histogram* const* parts, size_t n) {
  uint64_t cumulative = 0;
  char buf[64];
  std::string sep = labels.empty() ? "" : ",";
  for (size_t b = 0; b <= kLatencyBuckets.size(); ++b) {
    for (size_t p = 0; p < n; ++p) cumulative += parts[p]->buckets[b].get();
    if (b < kLatencyBuckets.size()) {
      std::snprintf(buf, sizeof buf, "%g", kLatencyBuckets[b]);
    } else {
      std::snprintf(buf, sizeof buf, "+Inf");
    }
    out += name + "_bucket{" + labels + sep + "le=\"" + buf + "\"} " + std::to_string(cumulative) +
           "\n";
  }
  uint64_t sum_us = 0, count = 0;
  for (size_t p = 0; p < n; ++p) {
    sum_us += parts[p]->sum_us.get();
    count += parts[p]->count.get();
  }
  std::snprintf(buf, sizeof buf, "%.6f", static_cast<double>(sum_us) / 1e6);
  std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + buf + "\n";
  out += name + "_count" + braces + " " + std::to_string(count) + "\n";
}

}  // namespace strait
