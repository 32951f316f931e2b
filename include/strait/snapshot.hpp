// The one seam between the controller and the proxy: an immutable routing table.
//
// A Snapshot is built off the data path by the translator (controller/translator.hpp) and
// published to every worker as a std::shared_ptr<const Snapshot>. Nothing in it changes after
// publication; a request pins the Snapshot it started with. No Boost/Asio/OpenSSL here: this header
// is included everywhere.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "strait/route_index.hpp"

namespace strait {

// Transparent hash so maps keyed by std::string can be probed with a std::string_view without
// building a temporary string on the data path.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// An IPv4 or IPv6 address in network byte order (IPv4 in the first four bytes).
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  bool v6 = false;
  bool operator==(const IpAddress&) const = default;
};

// One pod address a cluster may send traffic to.
struct Endpoint {
  IpAddress ip;
  uint16_t port = 0;
  std::string text;  // "10.0.0.1:8080" or "[fd00::1]:8080", for logs and headers
  bool operator==(const Endpoint&) const = default;
};

// How strait speaks to a cluster's endpoints, from the Service port's appProtocol (Kubernetes
// conventions): "kubernetes.io/h2c" or "grpc" -> HTTP/2 cleartext with prior knowledge; "https"
// or "kubernetes.io/wss" -> HTTP/1.1 over TLS; anything else (or none) -> HTTP/1.1.
enum class UpstreamProtocol : uint8_t { Http1, H2c, Tls };

// A Service port resolved to the endpoints traffic goes to.
struct Cluster {
  std::string name;  // "namespace/service:port" as the Ingress referenced it
  // The Service port this cluster resolves, so an EndpointSlice change can rebuild just it.
  std::string service_namespace;
  std::string service_name;
  int64_t service_port = 0;
  // Endpoints whose conditions.ready is not false; when none is ready, the serving+terminating
  // ones (so a rollout's last pods still answer). Empty means 503.
  std::vector<Endpoint> endpoints;
  // Service type ExternalName: the DNS name resolved when an upstream connection is opened, and
  // the port to connect to. endpoints is empty for these.
  std::string external_name;
  uint16_t external_port = 0;
  UpstreamProtocol protocol = UpstreamProtocol::Http1;
  bool operator==(const Cluster&) const = default;
};

enum class PathType : uint8_t { Exact, Prefix };

// Values for a backend reference that is not a cluster index.
inline constexpr int32_t kBackendUnavailable = -1;  // backend named but unresolvable: 503
inline constexpr int32_t kBackendNotFound = -2;     // built-in default backend: 404

struct Route {
  PathType type = PathType::Prefix;
  std::string path;                       // as written in the Ingress ("/foo/" keeps its slash)
  int32_t cluster = kBackendUnavailable;  // index into Snapshot::clusters, or a kBackend* value
  std::string ingress;                    // "namespace/name" of the Ingress that defined it
  bool operator==(const Route&) const = default;
};

// All routes for one host, merged across every Ingress that names it.
struct VirtualHost {
  std::string host;  // "foo.bar.com", "*.foo.com", or "" for the host-less rules
  std::vector<Route> routes;
  // Exact paths: request path -> index into routes.
  StringMap<uint32_t> exact;
  // Prefix paths, keyed by the path without its trailing slash ("/" stays "/"): -> index into
  // routes. When "/foo" and "/foo/" are both present the key holds "/foo/" (the longer one wins).
  StringMap<uint32_t> prefix;
  // Where requests for this host that match no path go: the spec.defaultBackend of the (oldest)
  // Ingress naming this host, else the controller's default backend (a cluster index,
  // kBackendUnavailable or kBackendNotFound).
  int32_t fallback = kBackendNotFound;
  std::string fallback_ingress;  // "" when the controller's default applies
  // The host is named in an Ingress's spec.tls: plain-HTTP requests get a 308 to HTTPS and HTTPS
  // responses carry HSTS (ingress-nginx's defaults; annotations will switch them per Ingress).
  bool tls = false;
  bool ssl_redirect = true;
  bool hsts = true;
  bool operator==(const VirtualHost&) const = default;
};

// A certificate to serve for a host (from a kubernetes.io/tls Secret named by an Ingress).
struct TlsBinding {
  std::string host;      // "foo.example.com" or "*.example.com", lower case
  std::string secret;    // "namespace/name"
  std::string ingress;   // "namespace/name" that named it
  std::string cert_pem;  // tls.crt: the certificate and its chain
  std::string key_pem;   // tls.key
  bool operator==(const TlsBinding&) const = default;
};

// Hosts and their routes: rebuilt when Ingresses, Services or classes change, and shared
// unchanged between snapshots that differ only in endpoints.
struct RouteTable {
  StringMap<VirtualHost> exact_hosts;     // key: lower-case host
  StringMap<VirtualHost> wildcard_hosts;  // key: the suffix after "*." ("foo.com" for *.foo.com)
  // Host-less rules. Its fallback is the catch-all: an Ingress with only a defaultBackend, else
  // --default-backend-service, else the built-in 404.
  VirtualHost catch_all;
  // Certificates by host (the oldest Ingress naming a host wins), and the default certificate
  // from --default-ssl-certificate (host empty; absent: a self-signed one made at start).
  std::vector<TlsBinding> tls;
  std::vector<TlsBinding> default_certificate;  // zero or one
  // What route_request() probes: built from the maps above by build_route_index() once they are
  // final (the translator does it). Without it (a table assembled by hand, or a copy) lookups
  // use the maps, with the same results.
  RouteIndex index;
  bool operator==(const RouteTable&) const = default;
};

// Builds RouteTable::index from the table's maps; call after the last change to them.
void build_route_index(RouteTable& table);

struct Snapshot {
  // Never null in a published snapshot. Endpoint churn (the most frequent change: pods scale
  // and roll) builds a new Snapshot that shares this pointer and replaces single clusters.
  std::shared_ptr<const RouteTable> routes = std::make_shared<RouteTable>();
  std::vector<std::shared_ptr<const Cluster>> clusters;
  uint64_t version = 0;  // set by the publisher; not part of equivalence
};

// Same routing behaviour (ignores version; compares clusters by value).
bool equivalent(const Snapshot& a, const Snapshot& b);

// What routing decided for one request.
struct RouteMatch {
  // A cluster index >= 0, or kBackendUnavailable (503) / kBackendNotFound (404).
  int32_t backend = kBackendNotFound;
  const Route* route = nullptr;  // null when a fallback/default backend answered
  const VirtualHost* vhost = nullptr;
};

// Host is the raw Host header value (any case, optional :port, optional trailing dot); path is
// the request path without its query. Exact host, then wildcard host, then the host-less rules;
// within the chosen host: longest path wins, at equal length Exact beats Prefix; no path match
// falls to the host's fallback. Never allocates.
RouteMatch route_request(const Snapshot& snapshot, std::string_view host, std::string_view path);

}  // namespace strait
