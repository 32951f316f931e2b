#include "proxy/proxy.hpp"

#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>

#include "proxy/worker.hpp"
#include "strait/log.hpp"
#include "strait/metrics.hpp"
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
    tls::offer_http2(options_.http2);
    tls_context_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX* base = tls_context_->native_handle();
    tls::apply_server_profile(base);
    ticket_keys_ =
        std::make_unique<tls::SessionTicketKeys>(options.ssl_session_ticket_key_rotation);
    ticket_keys_->install(base);
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
  {
    std::lock_guard lock(published_mutex_);
    published_ = snapshot;
    published_certificates_ = certificates_;
  }
  ConfigMetrics::instance().published.add();
  auto remaining = std::make_shared<std::atomic<size_t>>(workers_.size());
  auto done = std::make_shared<std::function<void()>>(std::move(on_applied));
  auto started = std::chrono::steady_clock::now();
  for (auto& w : workers_) {
    w->post_snapshot(snapshot, certificates_, [remaining, done, started] {
      if (remaining->fetch_sub(1) != 1) return;
      ConfigMetrics::instance().propagation_seconds.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if (*done) (*done)();
    });
  }
}

namespace {

std::string label(std::string_view name, std::string_view value) {
  std::string out(name);
  out += "=\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

void Proxy::append_metrics(std::string& out) const {
  out += "# HELP strait_build_info strait's version.\n# TYPE strait_build_info gauge\n";
  out += "strait_build_info{version=\"" STRAIT_VERSION "\"} 1\n";

  // Per route, summed over workers.
  struct Sum {
    std::string labels;
    std::array<uint64_t, 5> requests{};
    std::vector<const Histogram*> request_seconds, upstream_seconds;
    uint64_t bytes_in = 0, bytes_out = 0;
  };
  std::map<std::string, Sum> routes;
  uint64_t total = 0, closed = 0, connect_errors = 0, retries = 0, rejected = 0, ejections = 0;
  for (const auto& w : workers_) {
    const WorkerMetrics& m = w->metrics();
    total += m.connections_total.get();
    closed += m.connections_closed.get();
    connect_errors += m.upstream_connect_errors.get();
    retries += m.upstream_retries.get();
    ejections += m.upstream_ejections.get();
    rejected += m.requests_rejected.get();
    m.for_each_route([&](const RouteMetrics& r) {
      std::string labels = label("namespace", r.ns) + "," + label("ingress", r.ingress) + "," +
                           label("service", r.service);
      Sum& s = routes[labels];
      s.labels = labels;
      for (size_t i = 0; i < 5; ++i) s.requests[i] += r.requests[i].get();
      s.request_seconds.push_back(&r.request_seconds);
      s.upstream_seconds.push_back(&r.upstream_seconds);
      s.bytes_in += r.bytes_in.get();
      s.bytes_out += r.bytes_out.get();
    });
  }
  out +=
      "# HELP strait_requests_total Requests answered, by route and status class.\n"
      "# TYPE strait_requests_total counter\n";
  for (const auto& [k, s] : routes) {
    for (size_t i = 0; i < 5; ++i) {
      if (s.requests[i] == 0) continue;
      out += "strait_requests_total{" + s.labels + ",status_class=\"" + std::to_string(i + 1) +
             "xx\"} " + std::to_string(s.requests[i]) + "\n";
    }
  }
  out +=
      "# HELP strait_request_duration_seconds Time from request head to response end.\n"
      "# TYPE strait_request_duration_seconds histogram\n";
  for (const auto& [k, s] : routes)
    append_histogram(out, "strait_request_duration_seconds", s.labels, s.request_seconds.data(),
                     s.request_seconds.size());
  out +=
      "# HELP strait_upstream_response_seconds Time from picking an endpoint to its response "
      "head.\n# TYPE strait_upstream_response_seconds histogram\n";
  for (const auto& [k, s] : routes)
    append_histogram(out, "strait_upstream_response_seconds", s.labels, s.upstream_seconds.data(),
                     s.upstream_seconds.size());
  out +=
      "# HELP strait_request_bytes_total Bytes received from clients.\n"
      "# TYPE strait_request_bytes_total counter\n";
  for (const auto& [k, s] : routes)
    out += "strait_request_bytes_total{" + s.labels + "} " + std::to_string(s.bytes_in) + "\n";
  out +=
      "# HELP strait_response_bytes_total Bytes sent to clients.\n"
      "# TYPE strait_response_bytes_total counter\n";
  for (const auto& [k, s] : routes)
    out += "strait_response_bytes_total{" + s.labels + "} " + std::to_string(s.bytes_out) + "\n";

  auto gauge = [&](const char* name, const char* type, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + std::to_string(v) + "\n";
  };
  gauge("strait_connections_active", "gauge", "Open client connections.", total - closed);
  gauge("strait_connections_total", "counter", "Client connections accepted.", total);
  gauge("strait_upstream_connect_errors_total", "counter", "Failed connects to endpoints.",
        connect_errors);
  gauge("strait_upstream_retries_total", "counter", "Requests sent again to an endpoint.", retries);
  gauge("strait_upstream_ejections_total", "counter",
        "Endpoints ejected by passive health (each worker counts its own).", ejections);
  gauge("strait_requests_rejected_total", "counter",
        "Malformed or over-limit requests answered by strait itself.", rejected);

  const ConfigMetrics& c = ConfigMetrics::instance();
  gauge("strait_config_syncs_total", "counter", "Configuration translations.", c.syncs.get());
  gauge("strait_config_published_total", "counter", "Configurations published to the workers.",
        c.published.get());
  const Histogram* h = &c.sync_seconds;
  out +=
      "# HELP strait_config_sync_duration_seconds Time to translate the store.\n"
      "# TYPE strait_config_sync_duration_seconds histogram\n";
  append_histogram(out, "strait_config_sync_duration_seconds", "", &h, 1);
  h = &c.propagation_seconds;
  out +=
      "# HELP strait_config_propagation_seconds Publish to every worker routing with it.\n"
      "# TYPE strait_config_propagation_seconds histogram\n";
  append_histogram(out, "strait_config_propagation_seconds", "", &h, 1);

  std::shared_ptr<const Snapshot> snapshot;
  std::shared_ptr<const tls::CertificateSet> certs;
  {
    std::lock_guard lock(published_mutex_);
    snapshot = published_;
    certs = published_certificates_;
  }
  out +=
      "# HELP strait_endpoints Endpoints traffic may go to, per Service port.\n"
      "# TYPE strait_endpoints gauge\n";
  if (snapshot) {
    // One series per Service port, however many Ingress backends name it.
    std::map<std::string, size_t> endpoints;
    for (const auto& cluster : snapshot->clusters) {
      endpoints[label("namespace", cluster->service_namespace) + "," +
                label("service",
                      cluster->service_name + ":" + std::to_string(cluster->service_port))] =
          cluster->endpoints.size();
    }
    for (const auto& [labels, n] : endpoints)
      out += "strait_endpoints{" + labels + "} " + std::to_string(n) + "\n";
  }
  out +=
      "# HELP strait_certificate_expiry_timestamp_seconds notAfter of the certificate served "
      "for a host (\"\" = default).\n# TYPE strait_certificate_expiry_timestamp_seconds gauge\n";
  if (certs) {
    for (const auto& [host, expiry] : certs->expiries())
      out += "strait_certificate_expiry_timestamp_seconds{" + label("host", host) + "} " +
             std::to_string(expiry) + "\n";
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
