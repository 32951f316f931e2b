// One data-plane thread: its own io_context, listener, connections, upstream pool and view of the
// routing Snapshot. Nothing here is shared with another worker, so nothing here is locked.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "proxy/access_log.hpp"
#include "proxy/outlier_detector.hpp"
#include "proxy/proxy_options.hpp"
#include "proxy/upstream_pool.hpp"
#include "proxy/worker_metrics.hpp"
#include "strait/snapshot.hpp"
#include "tls/certificate_set.hpp"

namespace strait::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A Snapshot pinned by this worker's requests. The count is not atomic: only this worker's
// thread touches it, which keeps a request's pin free of cross-core cache traffic.
struct PinnedSnapshot {
  std::shared_ptr<const Snapshot> snapshot;
  std::shared_ptr<const tls::CertificateSet> certificates;
  uint32_t refs = 0;
};

class SnapshotRef {
 public:
  SnapshotRef() = default;
  explicit SnapshotRef(PinnedSnapshot* p) : p_(p) {
    if (p_) ++p_->refs;
  }
  SnapshotRef(const SnapshotRef& o) : SnapshotRef(o.p_) {}
  SnapshotRef& operator=(const SnapshotRef& o) {
    SnapshotRef tmp(o);
    std::swap(p_, tmp.p_);
    return *this;
  }
  ~SnapshotRef() { reset(); }
  void reset() {
    if (p_ && --p_->refs == 0) delete p_;
    p_ = nullptr;
  }
  const Snapshot* get() const { return p_ ? p_->snapshot.get() : nullptr; }
  const tls::CertificateSet* certificates() const { return p_ ? p_->certificates.get() : nullptr; }
  explicit operator bool() const { return get() != nullptr; }

 private:
  PinnedSnapshot* p_ = nullptr;
};

// Something with a deadline the worker's coarse ticker enforces (one timer per worker instead of
// one per I/O operation). Intrusive list: registration costs two pointer writes.
class TimedConnection {
 public:
  virtual ~TimedConnection() = default;
  virtual void on_deadline() = 0;
  // Drain: close now when no request is in progress; otherwise close after the current one.
  virtual void close_if_idle() = 0;
  virtual void force_close() = 0;
  uint64_t deadline_ms = UINT64_MAX;
  TimedConnection* prev = nullptr;
  TimedConnection* next = nullptr;
};

// One line on stderr per failed upstream attempt: "upstream error: endpoint=10.0.0.7:8080
// service=default/api:80 reason="connect failed: Connection refused" action=retry". action says
// what followed: retry (another endpoint), retry-new-connection (same endpoint, the pooled
// connection was stale), 502/504 (answered), close (response already started: client closed).
void log_upstream_error(std::string_view endpoint, std::string_view service,
                        std::string_view reason, std::string_view action);

struct ClientExchange;

class Worker {
 public:
  // tls_context: the context HTTPS connections start from (its ClientHello callback switches
  // to the certificate the client asked for); null disables the HTTPS listener.
  Worker(unsigned index, const ProxyOptions& options, tcp::endpoint listen,
         tcp::endpoint listen_https, asio::ssl::context* tls_context);
  ~Worker();

  uint16_t bound_port() const;
  uint16_t bound_https_port() const;
  void start();
  void post_snapshot(std::shared_ptr<const Snapshot> snapshot,
                     std::shared_ptr<const tls::CertificateSet> certificates,
                     std::function<void()> applied);
  void post_drain();
  void post_force_close();
  void join();

  // For connections (same thread only).
  asio::io_context& io() { return io_; }
  const ProxyOptions& options() const { return options_; }
  uint64_t now_ms() const { return now_ms_; }
  SnapshotRef snapshot() const { return current_; }
  UpstreamPool& pool() { return pool_; }
  AccessLog& access_log() { return access_log_; }
  WorkerMetrics& metrics() { return metrics_; }
  const WorkerMetrics& metrics() const { return metrics_; }
  bool draining() const { return draining_; }
  unsigned index() const { return index_; }
  // Round-robin position for a cluster of the current snapshot.
  uint32_t next_round_robin(int32_t cluster);
  // Endpoint choice with passive health, for HTTP/1 exchanges and HTTP/2 streams alike: the
  // index into cluster.endpoints for a request's next attempt. With no endpoint tried yet it
  // takes the cluster's next round-robin position; a retry starts after the last endpoint tried.
  // Ejected endpoints are skipped unless nothing else is left; OutlierDetector::kNone once every
  // endpoint was tried.
  size_t choose_endpoint(int32_t cluster_index, const Cluster& cluster, const uint32_t* tried,
                         size_t tried_count);
  // The outcome of a connect to an endpoint (its text), for passive health. A failure may eject
  // the endpoint: counted in strait_upstream_ejections_total and logged.
  void upstream_connected(std::string_view endpoint);
  void upstream_connect_failed(std::string_view endpoint);
  const OutlierDetector& outliers() const { return outliers_; }
  // 32 hex characters, like ingress-nginx's $req_id.
  void make_request_id(char out[32]);
  std::string_view http_date();  // cached per second

  // Exchange state for HTTP/1.1 client connections (client_exchange.hpp): a spare one, most
  // recently given back first, else a new one. give_back keeps a bounded number of spares; the
  // rest is freed (idle connections hold none).
  std::unique_ptr<ClientExchange> take_exchange();
  void give_back_exchange(std::unique_ptr<ClientExchange> exchange);

  void register_connection(TimedConnection* c);
  void unregister_connection(TimedConnection* c);

 private:
  // Waits for the plain (or TLS) listener to be readable, then accepts what is queued.
  void accept_next(bool tls);
  // Accepts what the listener has queued (accept4, up to a batch); false when accepting failed
  // for want of descriptors or memory (retried on the next tick).
  bool accept_queued(bool tls);
  void refuse(tcp::socket socket);
  static std::string client_address_text(const tcp::endpoint& peer);
  void tick();
  void update_clock();

  unsigned index_;
  ProxyOptions options_;
  // Declared before io_: connections destroyed with io_'s pending handlers give theirs back.
  std::vector<std::unique_ptr<ClientExchange>> spare_exchanges_;
  size_t spare_low_water_ = 0;  // fewest spares since the last tick: those were not needed
  // One thread runs it and only that thread touches its sockets: the reactor's per-descriptor
  // locks are switched off (a lock and an unlock per operation started and per event). Posting
  // from other threads (snapshots, drain) stays safe: the scheduler keeps its lock.
  asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  tcp::acceptor acceptor_;
  tcp::acceptor tls_acceptor_;
  uint16_t port_ = 0;  // the listeners' ports, known once bound (no getsockname per accept)
  uint16_t tls_port_ = 0;
  asio::ssl::context* tls_context_;
  asio::steady_timer ticker_;
  std::thread thread_;
  uint64_t now_ms_ = 0;
  SnapshotRef current_;
  std::vector<uint32_t> round_robin_;
  UpstreamPool pool_;
  OutlierDetector outliers_;
  AccessLog access_log_;
  WorkerMetrics metrics_;
  uint64_t request_id_state_;  // splitmix64 counter, random start
  TimedConnection* connections_ = nullptr;
  size_t connection_count_ = 0;
  bool draining_ = false;
  bool accept_paused_ = false;
  bool tls_accept_paused_ = false;
  bool stopped_ = false;
  int64_t date_second_ = -1;
  char date_[32] = {};
};

}  // namespace strait::proxy
