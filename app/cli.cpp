#include "app/cli.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <functional>
#include <thread>

namespace strait::app {
namespace {

std::optional<uint64_t> parse_unsigned(std::string_view s) {
  uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<bool> parse_bool(std::string_view s) {
  if (s == "true" || s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "True") return true;
  if (s == "false" || s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "False")
    return false;
  return std::nullopt;
}

struct Flag {
  const char* name;
  const char* value_name;  // nullptr for booleans
  const char* help;
  // Applies a value; returns false when the value is invalid.
  std::function<bool(Options&, std::string_view)> apply;
};

bool set_port(uint16_t& out, std::string_view v, bool allow_zero = true) {
  auto n = parse_unsigned(v);
  if (!n || *n > 65535 || (!allow_zero && *n == 0)) return false;
  out = static_cast<uint16_t>(*n);
  return true;
}

bool set_duration(std::chrono::milliseconds& out, std::string_view v) {
  auto d = parse_duration(v);
  if (!d) return false;
  out = *d;
  return true;
}

bool set_bool(bool& out, std::string_view v) {
  auto b = parse_bool(v);
  if (!b) return false;
  out = *b;
  return true;
}

// Listen addresses must be IP literals (as ingress-nginx's): catch typos at the flag, not at bind.
bool set_ip_address(std::string& out, std::string_view v) {
  std::string text(v);
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) != 1 && inet_pton(AF_INET6, text.c_str(), buf) != 1)
    return false;
  out = std::move(text);
  return true;
}

bool set_namespaced_name(std::string& out, std::string_view v) {
  size_t slash = v.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == v.size() ||
      v.find('/', slash + 1) != std::string_view::npos)
    return false;
  out = std::string(v);
  return true;
}

const std::vector<Flag>& flags() {
  static const std::vector<Flag> kFlags = {
      {"manifests", "PATH",
       "Manifest file or directory (recursive: *.yaml, *.yml, *.json); repeatable. Watched: "
       "edits apply live.",
       [](Options& o, std::string_view v) {
         if (v.empty()) return false;
         o.manifests.emplace_back(v);
         return true;
       }},
      {"kubeconfig", "PATH",
       "Watch the Kubernetes API using this kubeconfig (current context). Without --manifests "
       "and --kubeconfig, strait uses the in-cluster service account.",
       [](Options& o, std::string_view v) {
         o.kubeconfig = std::string(v);
         return !v.empty();
       }},
      {"apiserver-host", "URL", "Kubernetes API server address, overriding the kubeconfig's.",
       [](Options& o, std::string_view v) {
         o.apiserver_host = std::string(v);
         return !v.empty();
       }},
      {"watch-namespace", "NAMESPACE", "Only watch this namespace (default: all).",
       [](Options& o, std::string_view v) {
         o.watch_namespace = std::string(v);
         return !v.empty();
       }},
      {"publish-service", "NAMESPACE/NAME",
       "Service whose load-balancer address (or NodePort node addresses) is written to the "
       "status of every Ingress we own.",
       [](Options& o, std::string_view v) { return set_namespaced_name(o.publish_service, v); }},
      {"publish-status-address", "ADDRESSES",
       "Comma-separated IPs or hostnames to write to Ingress status (overrides "
       "--publish-service).",
       [](Options& o, std::string_view v) {
         o.publish_status_address = std::string(v);
         return !v.empty();
       }},
      {"election-id", "NAME", "Lease used for leader election (default strait-leader).",
       [](Options& o, std::string_view v) {
         o.election_id = std::string(v);
         return !v.empty();
       }},
      {"update-status", nullptr, "Write Ingress status (leader only; default true).",
       [](Options& o, std::string_view v) { return set_bool(o.update_status, v); }},
      {"http-port", "PORT", "Port for HTTP traffic (default 8080).",
       [](Options& o, std::string_view v) { return set_port(o.proxy.http_port, v); }},
      {"https-port", "PORT", "Port for HTTPS traffic (default 8443).",
       [](Options& o, std::string_view v) { return set_port(o.proxy.https_port, v); }},
      {"default-ssl-certificate", "NAMESPACE/NAME",
       "kubernetes.io/tls Secret served to unknown server names (default: a self-signed "
       "certificate made at start).",
       [](Options& o, std::string_view v) {
         return set_namespaced_name(o.translate.default_ssl_certificate, v);
       }},
      {"ssl-redirect-port", "PORT",
       "Port written into HTTP to HTTPS redirects (default: none, i.e. 443).",
       [](Options& o, std::string_view v) { return set_port(o.proxy.ssl_redirect_port, v); }},
      {"hsts", nullptr,
       "Send Strict-Transport-Security (max-age=31536000; includeSubDomains) on HTTPS "
       "responses of TLS hosts (default true).",
       [](Options& o, std::string_view v) {
         bool on = true;
         if (!set_bool(on, v)) return false;
         if (!on) o.proxy.hsts_header.clear();
         return true;
       }},
      {"healthz-port", "PORT", "Port for /healthz and /readyz (default 10254).",
       [](Options& o, std::string_view v) { return set_port(o.healthz_port, v); }},
      {"healthz-host", "ADDR", "Address for the health endpoints (default: --bind-address).",
       [](Options& o, std::string_view v) { return set_ip_address(o.healthz_host, v); }},
      {"bind-address", "ADDR", "Address the traffic listeners bind (default 0.0.0.0).",
       [](Options& o, std::string_view v) { return set_ip_address(o.proxy.bind_address, v); }},
      {"workers", "N", "Worker threads (default: number of cores).",
       [](Options& o, std::string_view v) {
         auto n = parse_unsigned(v);
         if (!n || *n == 0 || *n > 1024) return false;
         o.proxy.workers = static_cast<unsigned>(*n);
         return true;
       }},
      {"ingress-class", "NAME",
       "IngressClass name (and legacy kubernetes.io/ingress.class value) served (default strait).",
       [](Options& o, std::string_view v) {
         o.translate.ingress_class = std::string(v);
         return !v.empty();
       }},
      {"controller-class", "NAME",
       "IngressClass spec.controller served (default strait.io/ingress-controller).",
       [](Options& o, std::string_view v) {
         o.translate.controller_class = std::string(v);
         return !v.empty();
       }},
      {"watch-ingress-without-class", nullptr,
       "Also serve Ingresses that name no class (default false).",
       [](Options& o, std::string_view v) {
         return set_bool(o.translate.watch_ingress_without_class, v);
       }},
      {"default-backend-service", "NAMESPACE/NAME",
       "Service that answers requests no rule matches (default: built-in 404).",
       [](Options& o, std::string_view v) {
         return set_namespaced_name(o.translate.default_backend_service, v);
       }},
      {"proxy-body-size", "SIZE",
       "Largest request body (nginx size: 1m, 512k, 0 = unlimited; default 1m); 413 beyond.",
       [](Options& o, std::string_view v) {
         auto n = parse_size(v);
         if (!n) return false;
         o.proxy.proxy_body_size = *n;
         return true;
       }},
      {"proxy-connect-timeout", "DURATION", "Upstream connect timeout (default 5s); 504 beyond.",
       [](Options& o, std::string_view v) {
         return set_duration(o.proxy.proxy_connect_timeout, v);
       }},
      {"proxy-read-timeout", "DURATION",
       "Upstream read timeout between two reads (default 60s); 504 beyond.",
       [](Options& o, std::string_view v) { return set_duration(o.proxy.proxy_read_timeout, v); }},
      {"proxy-send-timeout", "DURATION", "Timeout between two writes (default 60s).",
       [](Options& o, std::string_view v) { return set_duration(o.proxy.proxy_send_timeout, v); }},
      {"client-header-timeout", "DURATION", "Time allowed to send a request head (default 60s).",
       [](Options& o, std::string_view v) {
         return set_duration(o.proxy.client_header_timeout, v);
       }},
      {"client-body-timeout", "DURATION",
       "Time allowed between two reads of a request body (default 60s).",
       [](Options& o, std::string_view v) { return set_duration(o.proxy.client_body_timeout, v); }},
      {"keepalive-timeout", "DURATION", "Idle client keep-alive timeout (default 75s).",
       [](Options& o, std::string_view v) { return set_duration(o.proxy.keepalive_timeout, v); }},
      {"keepalive-requests", "N", "Requests per client connection (default 1000).",
       [](Options& o, std::string_view v) {
         auto n = parse_unsigned(v);
         if (!n || *n == 0 || *n > UINT32_MAX) return false;
         o.proxy.keepalive_requests = static_cast<uint32_t>(*n);
         return true;
       }},
      {"max-worker-connections", "N",
       "Client connections per worker; beyond, new connections get 503 (default 16384).",
       [](Options& o, std::string_view v) {
         auto n = parse_unsigned(v);
         if (!n || *n == 0) return false;
         o.proxy.max_worker_connections = *n;
         return true;
       }},
      {"upstream-keepalive-connections", "N",
       "Idle upstream connections kept per endpoint per worker (default 320).",
       [](Options& o, std::string_view v) {
         auto n = parse_unsigned(v);
         if (!n) return false;
         o.proxy.upstream_keepalive_connections = *n;
         return true;
       }},
      {"upstream-keepalive-timeout", "DURATION",
       "How long an idle upstream connection is kept (default 60s).",
       [](Options& o, std::string_view v) {
         return set_duration(o.proxy.upstream_keepalive_timeout, v);
       }},
      {"proxy-next-upstream-tries", "N",
       "Endpoints a request may be tried on after failures (1-8, default 3).",
       [](Options& o, std::string_view v) {
         auto n = parse_unsigned(v);
         if (!n || *n == 0 || *n > 8) return false;
         o.proxy.proxy_next_upstream_tries = static_cast<uint32_t>(*n);
         return true;
       }},
      {"upstream-max-fails", "N",
       "Consecutive connect failures that eject an endpoint (default 3; 0 = never eject).",
       [](Options& o, std::string_view v) {
         auto n = parse_unsigned(v);
         if (!n || *n > 1000000) return false;
         o.proxy.outlier.max_fails = static_cast<uint32_t>(*n);
         return true;
       }},
      {"upstream-fail-timeout", "DURATION",
       "First ejection of a failing endpoint; doubles per ejection in a row (default 10s).",
       [](Options& o, std::string_view v) {
         return set_duration(o.proxy.outlier.fail_timeout, v) &&
                o.proxy.outlier.fail_timeout.count() > 0;
       }},
      {"upstream-max-fail-timeout", "DURATION",
       "Longest ejection of a failing endpoint (default 5m).",
       [](Options& o, std::string_view v) {
         return set_duration(o.proxy.outlier.max_fail_timeout, v) &&
                o.proxy.outlier.max_fail_timeout.count() > 0;
       }},
      {"ssl-session-ticket-key-rotation", "DURATION",
       "Period of each TLS session ticket key; the previous period's key still decrypts, so a "
       "ticket resumes for one to two periods (default 12h).",
       [](Options& o, std::string_view v) {
         return set_duration(o.proxy.ssl_session_ticket_key_rotation, v) &&
                o.proxy.ssl_session_ticket_key_rotation.count() > 0;
       }},
      {"websocket-idle-timeout", "DURATION",
       "Close a WebSocket tunnel idle in both directions this long (default 3600s).",
       [](Options& o, std::string_view v) {
         return set_duration(o.proxy.websocket_idle_timeout, v);
       }},
      {"shutdown-delay", "DURATION",
       "On SIGTERM, keep accepting traffic this long after /readyz turns 503 (default 5s).",
       [](Options& o, std::string_view v) { return set_duration(o.shutdown_delay, v); }},
      {"shutdown-grace-period", "DURATION",
       "On SIGTERM, time in-flight requests get to finish (default 30s).",
       [](Options& o, std::string_view v) { return set_duration(o.shutdown_grace_period, v); }},
      {"use-http2", nullptr,
       "Serve HTTP/2: ALPN h2 on the HTTPS port, prior-knowledge h2c on the HTTP port "
       "(default true).",
       [](Options& o, std::string_view v) { return set_bool(o.proxy.http2, v); }},
      {"http2-max-concurrent-streams", "N",
       "Concurrent streams per HTTP/2 connection; more are refused (default 128).",
       [](Options& o, std::string_view v) {
         auto n = parse_unsigned(v);
         if (!n || *n == 0 || *n > INT32_MAX) return false;
         o.proxy.http2_max_concurrent_streams = static_cast<uint32_t>(*n);
         return true;
       }},
      {"access-log", nullptr, "Write an access log line per request to stdout (default true).",
       [](Options& o, std::string_view v) { return set_bool(o.proxy.access_log, v); }},
      {"help", nullptr, "Print this help and exit.",
       [](Options& o, std::string_view v) { return set_bool(o.help, v); }},
      {"version", nullptr, "Print the version and exit.",
       [](Options& o, std::string_view v) { return set_bool(o.version, v); }},
  };
  return kFlags;
}

}  // namespace

std::optional<uint64_t> parse_size(std::string_view text) {
  if (text.empty()) return std::nullopt;
  uint64_t multiplier = 1;
  char last = text.back();
  if (last == 'k' || last == 'K') multiplier = 1024;
  if (last == 'm' || last == 'M') multiplier = 1024 * 1024;
  if (last == 'g' || last == 'G') multiplier = 1024 * 1024 * 1024;
  if (multiplier != 1) text.remove_suffix(1);
  auto n = parse_unsigned(text);
  if (!n || *n > UINT64_MAX / multiplier) return std::nullopt;
  return *n * multiplier;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  uint64_t unit_ms = 1000;
  if (text.size() > 2 && text.substr(text.size() - 2) == "ms") {
    unit_ms = 1;
    text.remove_suffix(2);
  } else if (!text.empty() && text.back() == 's') {
    text.remove_suffix(1);
  } else if (!text.empty() && text.back() == 'm') {
    unit_ms = 60000;
    text.remove_suffix(1);
  } else if (!text.empty() && text.back() == 'h') {
    unit_ms = 3600 * 1000;
    text.remove_suffix(1);
  }
  auto n = parse_unsigned(text);
  if (!n || *n > 1'000'000'000ull) return std::nullopt;
  return std::chrono::milliseconds(*n * unit_ms);
}

ParseResult parse_command_line(const std::vector<std::string>& args) {
  ParseResult result;
  result.options.proxy.workers = std::max(1u, std::thread::hardware_concurrency());
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      // Go's flag package accepts a single dash too; so do we.
      if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
        arg.remove_prefix(1);
      } else {
        result.error = "unexpected argument '" + std::string(arg) + "'";
        return result;
      }
    } else {
      arg.remove_prefix(2);
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const Flag* flag = nullptr;
    for (const Flag& f : flags()) {
      if (name == f.name) flag = &f;
    }
    if (flag == nullptr) {
      result.error = "unknown flag --" + std::string(name);
      return result;
    }
    if (!value) {
      if (flag->value_name == nullptr) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        result.error = "flag --" + std::string(name) + " needs a value";
        return result;
      }
    }
    if (!flag->apply(result.options, *value)) {
      result.error = "invalid value '" + std::string(*value) + "' for flag --" + std::string(name);
      return result;
    }
  }
  return result;
}

std::string usage() {
  std::string out =
      "strait " STRAIT_VERSION
      " - Kubernetes ingress controller and L7 load balancer\n\n"
      "Usage: strait --manifests PATH [flags]     (file mode)\n"
      "       strait [--kubeconfig PATH] [flags]   (API mode; in-cluster by default)\n\nFlags:\n";
  for (const Flag& f : flags()) {
    std::string left = "  --" + std::string(f.name);
    if (f.value_name) left += " " + std::string(f.value_name);
    if (left.size() < 40) left.resize(40, ' ');
    out += left + " " + f.help + "\n";
  }
  return out;
}

}  // namespace strait::app
