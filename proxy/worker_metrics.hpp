// One worker's traffic metrics. Only that worker writes them; the /metrics scraper reads them
// from the main thread. Per-route series are created on first use (under a mutex the scraper
// also takes); their labels are bounded by the configuration (namespace, ingress, service),
// never by request data.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "strait/metrics.hpp"
#include "strait/snapshot.hpp"

namespace strait::proxy {

struct RouteMetrics {
  std::string ns, ingress, service;
  std::array<Counter, 5> requests;  // by status class 1xx..5xx
  Histogram request_seconds;
  Histogram upstream_seconds;
  Counter bytes_in;   // request bytes received from clients (head and body)
  Counter bytes_out;  // response bytes sent to clients
};

class WorkerMetrics {
 public:
  // ingress "namespace/name" ("" for the default backend), service "service:port" ("" if none).
  RouteMetrics& route(std::string_view ingress, std::string_view service);
  template <typename Fn>
  void for_each_route(Fn&& fn) const {
    std::lock_guard lock(mutex_);
    for (const auto& [key, m] : routes_) fn(*m);
  }

  Counter connections_total;
  Counter connections_closed;  // active = total - closed
  Counter upstream_connect_errors;
  Counter upstream_retries;
  Counter upstream_ejections;  // endpoints ejected by passive health (outlier_detector.hpp)
  Counter requests_rejected;   // malformed or over a limit (4xx answered by strait)

 private:
  mutable std::mutex mutex_;
  StringMap<std::unique_ptr<RouteMetrics>> routes_;
  std::string key_;  // reused lookup key: no allocation per request
};

}  // namespace strait::proxy
