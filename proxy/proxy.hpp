// The data plane as the rest of the program sees it: N workers, each with its own event loop,
// SO_REUSEPORT listener and upstream pools. No Asio types here (pimpl), so app/ stays cheap to
// compile.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "proxy/proxy_options.hpp"
#include "strait/snapshot.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX, without its headers here
namespace boost::asio::ssl {
class context;
}
namespace strait::tls {
class CertificateSet;
class SessionTicketKeys;
}  // namespace strait::tls

namespace strait::proxy {

class Worker;

class Proxy {
 public:
  // Binds every worker's listener; throws std::runtime_error when the address cannot be bound.
  explicit Proxy(const ProxyOptions& options);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  uint16_t http_port() const;   // the bound port (useful with --http-port 0)
  uint16_t https_port() const;  // 0 when HTTPS is off
  void start();
  // Hands the snapshot to every worker; on_applied runs (on some worker thread) once all of them
  // route with it. Requests already running finish on the snapshot they started with.
  void publish(std::shared_ptr<const Snapshot> snapshot, std::function<void()> on_applied);
  // Stops accepting, closes idle connections, lets in-flight exchanges finish; after `grace`
  // everything still open is closed. Returns when every worker has stopped.
  void drain_and_stop(std::chrono::milliseconds grace);
  // Prometheus text exposition of the data path (any thread).
  void append_metrics(std::string& out) const;

 private:
  ProxyOptions options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  uint16_t port_ = 0;
  uint16_t https_port_ = 0;
  // TLS (the config thread's side): the base context connections start from, the self-signed
  // fallback, and the certificate set of the last published route table.
  std::unique_ptr<tls::SessionTicketKeys> ticket_keys_;  // outlives tls_context_ (declared first)
  std::unique_ptr<boost::asio::ssl::context> tls_context_;
  std::shared_ptr<ssl_ctx_st> fallback_;
  std::shared_ptr<const tls::CertificateSet> certificates_;
  std::shared_ptr<const RouteTable> certificate_routes_;
  std::set<std::string> logged_tls_warnings_;
  // What /metrics reports about the configuration, written by publish() (config thread).
  mutable std::mutex published_mutex_;
  std::shared_ptr<const Snapshot> published_;
  std::shared_ptr<const tls::CertificateSet> published_certificates_;
};

}  // namespace strait::proxy
