#include "proxy/proxy.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

#include "proxy/worker.hpp"
#include "strait/log.hpp"
#include "tls/tls_context.hpp"

namespace strait::proxy {

Proxy::Proxy(const ProxyOptions& options) : options_(options) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options.bind_address, ec);
  if (ec) throw std::runtime_error("invalid --bind-address '" + options.bind_address + "'");
  if (options.https) {
    // The context every HTTPS connection starts from: the intermediate profile, the self-signed
    // fallback certificate, and the ClientHello callback that switches to the certificate the
    // client asked for. One for the process, so session resumption works across workers.
    tls_context_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX* base = tls_context_->native_handle();
    tls::apply_server_profile(base);
    tls::PemPair fake = tls::make_self_signed("Kubernetes Ingress Controller Fake Certificate");
    std::string error;
    tls::SslCtxPtr fallback = tls::make_server_context(fake.cert_pem, fake.key_pem, error);
    if (!fallback) throw std::runtime_error("cannot build the default certificate: " + error);
    tls::CertificateSet::install(fallback.get());
    fallback_ = std::shared_ptr<SSL_CTX>(fallback.release(), SSL_CTX_free);
    SSL_CTX_use_certificate(base, SSL_CTX_get0_certificate(fallback_.get()));
    SSL_CTX_use_PrivateKey(base, SSL_CTX_get0_privatekey(fallback_.get()));
    tls::CertificateSet::install(base);
  }
  uint16_t port = options.http_port;
  uint16_t https_port = options.https_port;
  unsigned n = options.workers == 0 ? 1 : options.workers;
  for (unsigned i = 0; i < n; ++i) {
    try {
      workers_.push_back(std::make_unique<Worker>(i, options, tcp::endpoint(address, port),
                                                  tcp::endpoint(address, https_port),
                                                  tls_context_.get()));
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("cannot listen on " + options.bind_address + " ports " +
                               std::to_string(port) + "/" + std::to_string(https_port) + ": " +
                               e.code().message());
    }
    // With port 0 the first worker picks the port; the others share it.
    if (i == 0) {
      port = workers_.front()->bound_port();
      https_port = workers_.front()->bound_https_port();
    }
  }
  port_ = port;
  https_port_ = https_port;
}

Proxy::~Proxy() {
  for (auto& w : workers_) w->post_force_close();
  for (auto& w : workers_) w->post_drain();
  for (auto& w : workers_) w->join();
}

uint16_t Proxy::http_port() const {
  return port_;
}

uint16_t Proxy::https_port() const {
  return https_port_;
}

void Proxy::start() {
  for (auto& w : workers_) w->start();
}

void Proxy::publish(std::shared_ptr<const Snapshot> snapshot, std::function<void()> on_applied) {
  // Certificates change with the route table only (endpoint churn shares it): rebuild then,
  // reusing the contexts of unchanged Secrets.
  if (tls_context_ && (!certificates_ || snapshot->routes != certificate_routes_)) {
    std::vector<std::string> warnings;
    certificates_ =
        tls::CertificateSet::build(*snapshot->routes, certificates_.get(), fallback_, warnings);
    certificate_routes_ = snapshot->routes;
    for (const auto& w : warnings) {
      if (!logged_tls_warnings_.count(w)) log_warning(w);
    }
    logged_tls_warnings_ = std::set<std::string>(warnings.begin(), warnings.end());
  }
  auto remaining = std::make_shared<std::atomic<size_t>>(workers_.size());
  auto done = std::make_shared<std::function<void()>>(std::move(on_applied));
  for (auto& w : workers_) {
    w->post_snapshot(snapshot, certificates_, [remaining, done] {
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
