#include "proxy/proxy.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

#include "proxy/worker.hpp"

namespace strait::proxy {

Proxy::Proxy(const ProxyOptions& options) : options_(options) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options.bind_address, ec);
  if (ec) throw std::runtime_error("invalid --bind-address '" + options.bind_address + "'");
  uint16_t port = options.http_port;
  unsigned n = options.workers == 0 ? 1 : options.workers;
  for (unsigned i = 0; i < n; ++i) {
    try {
      workers_.push_back(std::make_unique<Worker>(i, options, tcp::endpoint(address, port)));
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("cannot listen on " + options.bind_address + ":" +
                               std::to_string(port) + ": " + e.code().message());
    }
    // With --http-port 0 the first worker picks the port; the others share it.
    if (i == 0) port = workers_.front()->bound_port();
  }
  port_ = port;
}

Proxy::~Proxy() {
  for (auto& w : workers_) w->post_force_close();
  for (auto& w : workers_) w->post_drain();
  for (auto& w : workers_) w->join();
}

uint16_t Proxy::http_port() const {
  return port_;
}

void Proxy::start() {
  for (auto& w : workers_) w->start();
}

void Proxy::publish(std::shared_ptr<const Snapshot> snapshot, std::function<void()> on_applied) {
  auto remaining = std::make_shared<std::atomic<size_t>>(workers_.size());
  auto done = std::make_shared<std::function<void()>>(std::move(on_applied));
  for (auto& w : workers_) {
    w->post_snapshot(snapshot, [remaining, done] {
      if (remaining->fetch_sub(1) == 1 && *done) (*done)();
    });
  }
}

void Proxy::drain_and_stop(std::chrono::milliseconds grace) {
  for (auto& w : workers_) w->post_drain();
  // Wait for the workers to finish their in-flight exchanges, at most `grace`.
  auto stopped = std::make_shared<std::atomic<size_t>>(0);
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::thread> joiners;
  for (auto& w : workers_) {
    joiners.emplace_back([&, worker = w.get()] {
      worker->join();
      {
        std::lock_guard lock(m);
        ++*stopped;
      }
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, grace, [&] { return *stopped == workers_.size(); })) {
      lock.unlock();
      for (auto& w : workers_) w->post_force_close();
    }
  }
  for (auto& t : joiners) t.join();
}

}  // namespace strait::proxy
