// Passive health: which endpoints a worker sends new attempts to.
//
// Every worker has its own detector (no locks, no shared state): an endpoint that fails
// `max_fails` connects in a row (refused or timed out) is ejected for `fail_timeout`. An endpoint
// that comes back from an ejection is on probation: its next connect failure ejects it again at
// once, for twice as long (up to `max_fail_timeout`). Serving successfully for one
// `fail_timeout` after its return forgives it (the next ejection starts at `fail_timeout` again).
// Passive health never refuses traffic: when every endpoint of a cluster is ejected, they are
// used anyway (a wrong verdict must not turn into an outage).
//
// State exists only for endpoints that failed recently; when none did (the normal case), choosing
// an endpoint is the plain round-robin step and a success costs one empty() check.
//
// HTTP/1 exchanges and HTTP/2 streams use the same calls: choose() for each attempt, then
// report_success() / report_failure() with the endpoint's text once its connect has an outcome.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "strait/snapshot.hpp"

namespace strait::proxy {

struct OutlierOptions {
  // Consecutive connect failures that eject an endpoint (nginx max_fails); 0 turns ejection off.
  uint32_t max_fails = 3;
  // First ejection's length (nginx fail_timeout); doubles with each ejection in a row.
  std::chrono::milliseconds fail_timeout{10000};
  std::chrono::milliseconds max_fail_timeout{300000};
};

class OutlierDetector {
 public:
  static constexpr size_t kNone = SIZE_MAX;

  explicit OutlierDetector(const OutlierOptions& options) : options_(options) {}

  // Index into cluster.endpoints for the next attempt, scanning from round-robin position
  // `cursor`: the first endpoint neither in `tried` nor ejected; else the first not in `tried`
  // (ejected ones are used rather than none); kNone when every endpoint was tried (or there are
  // none).
  size_t choose(const Cluster& cluster, uint64_t cursor, uint64_t now_ms,
                const uint32_t* tried = nullptr, size_t tried_count = 0) const;
  bool ejected(std::string_view endpoint, uint64_t now_ms) const;

  // A connect to the endpoint succeeded.
  void report_success(std::string_view endpoint, uint64_t now_ms);
  // A connect to the endpoint failed. Returns the length of the ejection this failure started,
  // or 0 when it did not eject the endpoint.
  std::chrono::milliseconds report_failure(std::string_view endpoint, uint64_t now_ms);
  // Forgets endpoints with no failure for max_fail_timeout (they may have left the cluster).
  void sweep(uint64_t now_ms);

  size_t tracked() const { return health_.size(); }

 private:
  struct Health {
    uint32_t failures = 0;       // consecutive connect failures since the last success/ejection
    uint32_t ejections = 0;      // ejections in a row (not yet forgiven)
    uint64_t ejected_until = 0;  // ms on the worker clock
    uint64_t last_failure = 0;
  };
  OutlierOptions options_;
  StringMap<Health> health_;
};

}  // namespace strait::proxy
