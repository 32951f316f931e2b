// The health endpoints on --healthz-port: GET /healthz (alive), GET /readyz (200 once the first
// configuration serves, 503 before and while draining), GET /metrics (Prometheus text format). Runs
// on the main thread's io_context.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace strait::app {

class AdminServer {
 public:
  // Throws std::runtime_error when the address cannot be bound.
  // metrics renders the Prometheus text for GET /metrics.
  AdminServer(boost::asio::io_context& io, const std::string& address, uint16_t port,
              const std::atomic<bool>& ready, std::function<std::string()> metrics);
  ~AdminServer();
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace strait::app
