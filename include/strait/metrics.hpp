// Counters and histograms shared by the data path (one writer per instance: a worker) and the
// /metrics scraper (a reader on another thread). Single-writer counters use relaxed loads and
// stores, not locked read-modify-writes: the hot path pays a plain add.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace strait {

// Prometheus-style latency buckets, seconds.
inline constexpr std::array<double, 12> kLatencyBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                           0.25,  0.5,   1,    2.5,   5,    10};

struct Counter {
  std::atomic<uint64_t> value{0};
  void add(uint64_t n = 1) {
    value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return value.load(std::memory_order_relaxed); }
};

struct Histogram {
  std::array<Counter, kLatencyBuckets.size() + 1> buckets;  // non-cumulative; last is +Inf
  Counter sum_us;
  Counter count;
  void observe(double seconds) {
    size_t i = 0;
    while (i < kLatencyBuckets.size() && seconds > kLatencyBuckets[i]) ++i;
    buckets[i].add();
    sum_us.add(static_cast<uint64_t>(seconds * 1e6));
    count.add();
  }
};

// Appends one histogram in the text exposition format (cumulative buckets), summed over `parts`.
void append_histogram(std::string& out, const std::string& name, const std::string& labels,
                      const Histogram* const* parts, size_t n);

// Configuration syncs, written by whichever source runs (file or API), read by /metrics.
struct ConfigMetrics {
  Counter syncs;                  // translations run
  Counter published;              // snapshots published (routing changed)
  Histogram sync_seconds;         // translate + compare
  Histogram propagation_seconds;  // publish -> every worker routes with it
  static ConfigMetrics& instance();
};

}  // namespace strait
