#include "proxy/outlier_detector.hpp"

#include <algorithm>
#include <string>

namespace strait::proxy {

namespace {

bool contains(const uint32_t* tried, size_t count, size_t index) {
  return std::find(tried, tried + count, static_cast<uint32_t>(index)) != tried + count;
}

}  // namespace

size_t OutlierDetector::choose(const Cluster& cluster, uint64_t cursor, uint64_t now_ms,
                               const uint32_t* tried, size_t tried_count) const {
  const size_t n = cluster.endpoints.size();
  if (n == 0) return kNone;
  const size_t start = static_cast<size_t>(cursor % n);
  if (health_.empty() && tried_count == 0) return start;  // nothing failed lately: round robin
  size_t fallback = kNone;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    if (contains(tried, tried_count, i)) continue;
    if (!ejected(cluster.endpoints[i].text, now_ms)) return i;
    if (fallback == kNone) fallback = i;
  }
  return fallback;
}

bool OutlierDetector::ejected(std::string_view endpoint, uint64_t now_ms) const {
  if (health_.empty()) return false;
  auto it = health_.find(endpoint);
  return it != health_.end() && it->second.ejected_until > now_ms;
}

void OutlierDetector::report_success(std::string_view endpoint, uint64_t now_ms) {
  if (health_.empty()) return;
  auto it = health_.find(endpoint);
  if (it == health_.end()) return;
  Health& h = it->second;
  h.failures = 0;
  // Back for a whole fail_timeout and serving: the ejection history is forgiven.
  const auto base = static_cast<uint64_t>(options_.fail_timeout.count());
  if (h.ejections == 0 || now_ms >= h.ejected_until + base) health_.erase(it);
}

std::chrono::milliseconds OutlierDetector::report_failure(std::string_view endpoint,
                                                          uint64_t now_ms) {
  if (options_.max_fails == 0) return std::chrono::milliseconds(0);
  auto it = health_.find(endpoint);
  if (it == health_.end()) it = health_.emplace(std::string(endpoint), Health{}).first;
  Health& h = it->second;
  h.last_failure = now_ms;
  // Attempts that started before the ejection (or while every endpoint was ejected) end here.
  if (h.ejected_until > now_ms) return std::chrono::milliseconds(0);
  ++h.failures;
  const bool on_probation = h.ejections > 0;
  if (h.failures < options_.max_fails && !on_probation) return std::chrono::milliseconds(0);
  ++h.ejections;
  h.failures = 0;
  const uint32_t doublings = std::min<uint32_t>(h.ejections - 1, 30);
  const auto base = static_cast<uint64_t>(options_.fail_timeout.count());
  const auto cap = static_cast<uint64_t>(
      std::max(options_.max_fail_timeout.count(), options_.fail_timeout.count()));
  const uint64_t length = std::min(cap, base << doublings);
  h.ejected_until = now_ms + length;
  return std::chrono::milliseconds(length);
}

void OutlierDetector::sweep(uint64_t now_ms) {
  const auto forget_after = static_cast<uint64_t>(
      std::max(options_.max_fail_timeout.count(), options_.fail_timeout.count()));
  for (auto it = health_.begin(); it != health_.end();) {
    const Health& h = it->second;
    if (h.ejected_until <= now_ms && h.last_failure + forget_after <= now_ms) {
      it = health_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace strait::proxy
