#include "corpus.hpp"

#include <cctype>
#include <cstdint>
#include <random>

namespace strait::bench {
namespace {

using namespace strait::controller;

// The ten paths of every Ingress: exact ones, shallow and deep prefixes; i personalises two.
struct PathDef {
  const char* path;
  const char* type;
  bool other_service;  // routed to a second Service of the same namespace
};
constexpr PathDef kPaths[kPathsPerIngress] = {
    {"/", "Prefix", false},
    {"/healthz", "Exact", false},
    {"/api", "Prefix", false},
    {"/api/v1", "Prefix", false},
    {"/api/v1/items", "Prefix", false},
    {"/api/v1/items/{i}", "Exact", false},
    {"/static/css", "ImplementationSpecific", true},
    {"/a/b/c/d/e/f", "Prefix", false},
    {"/a/b/c/d/e/f/g/h", "Exact", false},
    {"/login/{i}", "Exact", true},
};

std::string personalise(std::string path, size_t i) {
  if (auto pos = path.find("{i}"); pos != std::string::npos) {
    path.replace(pos, 3, std::to_string(i));
  }
  return path;
}

Request random_request(const CorpusOptions& o, std::mt19937_64& rng, size_t n) {
  const size_t i = rng() % o.ingresses;
  Request r;
  const uint64_t host_roll = rng() % 16;
  if (host_roll == 0) {
    r.host = "x" + std::to_string(n) + ".unknown.example";
  } else if (is_wildcard(o, i)) {
    r.host = "t" + std::to_string(n % 1000) + ".w" + std::to_string(i) + ".bench.example";
  } else {
    r.host = "h" + std::to_string(i) + ".bench.example";
  }
  if (host_roll == 1) {
    // Mixed case and a port, as some clients send them.
    for (char& c : r.host) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    r.host += ":8080";
  }
  const PathDef& def = kPaths[rng() % kPathsPerIngress];
  r.path = personalise(def.path, i);
  switch (rng() % 4) {
    case 0:  // the rule path itself
      break;
    case 1:  // below it (an Exact rule then falls to a shorter Prefix)
      r.path += "/item/" + std::to_string(rng() % 1000);
      break;
    case 2:  // a trailing slash
      r.path += "/";
      break;
    case 3:  // matched by "/" only
      r.path = "/unmatched/" + std::to_string(rng() % 100000);
      break;
  }
  return r;
}

}  // namespace

std::string namespace_of(const CorpusOptions& o, size_t i) {
  return o.long_names ? "team-" + std::to_string(i % 100) + "-production"
                      : "ns" + std::to_string(i % 100);
}

std::string service_of(const CorpusOptions& o, size_t i) {
  return o.long_names ? "checkout-service-" + std::to_string(i) : "svc" + std::to_string(i);
}

bool is_wildcard(const CorpusOptions& o, size_t i) {
  return o.wildcard_every != 0 && i % o.wildcard_every == 0;
}

std::string host_of(const CorpusOptions& o, size_t i) {
  return is_wildcard(o, i) ? "*.w" + std::to_string(i) + ".bench.example"
                           : "h" + std::to_string(i) + ".bench.example";
}

EndpointSlice make_slice(const CorpusOptions& o, size_t i, size_t endpoints) {
  EndpointSlice s;
  s.metadata.namespace_ = namespace_of(o, i);
  s.metadata.name = service_of(o, i) + "-abcde";
  s.metadata.labels[std::string(kServiceNameLabel)] = service_of(o, i);
  s.address_type = "IPv4";
  s.ports.push_back({std::string("http"), 8080, std::string("TCP"), std::nullopt});
  for (size_t k = 0; k < endpoints; ++k) {
    SliceEndpoint e;
    e.addresses = {"10." + std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255) + "." +
                   std::to_string(k + 1)};
    e.conditions.ready = true;
    s.endpoints.push_back(std::move(e));
  }
  return s;
}

Store make_store(const CorpusOptions& o) {
  Store store;
  IngressClass cls;
  cls.metadata.name = "strait";
  cls.controller = "strait.io/ingress-controller";
  store.upsert(cls);
  for (size_t i = 0; i < o.ingresses; ++i) {
    Service svc;
    svc.metadata.namespace_ = namespace_of(o, i);
    svc.metadata.name = service_of(o, i);
    ServicePort port;
    port.name = "http";
    port.port = 80;
    port.target_port = IntOrString{false, 8080, ""};
    svc.ports.push_back(port);
    store.upsert(std::move(svc));
    store.upsert(make_slice(o, i, o.endpoints_per_service));

    Ingress ing;
    ing.metadata.namespace_ = namespace_of(o, i);
    ing.metadata.name = "ing" + std::to_string(i);
    ing.metadata.creation_timestamp = "2024-01-01T00:00:00Z";
    ing.spec.ingress_class_name = "strait";
    IngressRule rule;
    rule.host = host_of(o, i);
    rule.http.emplace();
    // Same namespace (i % 100), another Service: ingress i+100 wraps around inside it.
    size_t other = (i + 100) % o.ingresses;
    if (other % 100 != i % 100) other = i;
    for (const PathDef& def : kPaths) {
      HTTPIngressPath p;
      p.path = personalise(def.path, i);
      p.path_type = def.type;
      p.backend.service =
          IngressServiceBackend{service_of(o, def.other_service ? other : i), {std::nullopt, 80}};
      rule.http->paths.push_back(std::move(p));
    }
    ing.spec.rules.push_back(std::move(rule));
    store.upsert(std::move(ing));
  }
  return store;
}

std::vector<Request> make_requests(const CorpusOptions& o, RequestKind kind, size_t count) {
  std::mt19937_64 rng(42);
  std::vector<Request> out;
  out.reserve(count);
  // Mixed cycles through the four specific kinds.
  const RequestKind cycle[] = {RequestKind::ExactPath, RequestKind::DeepPrefix,
                               RequestKind::Wildcard, RequestKind::UnknownHost};
  for (size_t n = 0; n < count; ++n) {
    if (kind == RequestKind::Random) {
      out.push_back(random_request(o, rng, n));
      continue;
    }
    RequestKind k = kind == RequestKind::Mixed ? cycle[n % 4] : kind;
    size_t i = rng() % o.ingresses;
    // Non-wildcard kinds want an exact host, Wildcard a wildcard one.
    bool want_wild = k == RequestKind::Wildcard;
    while (is_wildcard(o, i) != want_wild) i = (i + 1) % o.ingresses;
    std::string base = "h" + std::to_string(i) + ".bench.example";
    switch (k) {
      case RequestKind::ExactPath:
        // Exact "/api/v1/items/<i>" (also probes the prefix keys on the way).
        out.push_back({base, "/api/v1/items/" + std::to_string(i)});
        break;
      case RequestKind::DeepPrefix:
        // Ten segments, matched by the six-segment prefix "/a/b/c/d/e/f": five probes miss first.
        out.push_back({base, "/a/b/c/d/e/f/x/y/z/w"});
        break;
      case RequestKind::Wildcard:
        // Mixed case and a port, as browsers and clients send them.
        out.push_back(
            {"Tenant-" + std::to_string(n) + ".W" + std::to_string(i) + ".bench.example:8443",
             "/api/v1/users/42"});
        break;
      case RequestKind::UnknownHost:
        out.push_back({"x" + std::to_string(n) + ".unknown.example", "/index.html"});
        break;
      case RequestKind::Mixed:
      case RequestKind::Random:
        break;
    }
  }
  return out;
}

}  // namespace strait::bench
