// The routing step every exchange takes, HTTP/1 and HTTP/2 alike: normalise the path (the
// normalised one is both routed and forwarded), look the request up in the pinned Snapshot, and
// decide: reject, redirect to HTTPS, answer locally, or forward to a cluster.
#pragma once

#include <cstdint>
#include <string>

#include "proxy/http1_parser.hpp"
#include "strait/snapshot.hpp"

namespace strait::proxy {

struct RoutingDecision {
  enum class Action : uint8_t {
    Reject,    // 400: the path hides a dot segment behind an encoded slash
    Redirect,  // 308 to https (the host has TLS and ssl-redirect)
    Answer,    // `status` answered by strait: 404 (no rule), 503 (no backend or no endpoint)
    Forward,   // to `cluster`
  };
  Action action = Action::Forward;
  int status = 0;
  int32_t cluster = -1;
  const Cluster* backend = nullptr;  // also set for a 503 of a Service without endpoints
  bool hsts = false;                 // the response gets Strict-Transport-Security
};

// `normalized` and `target` are the caller's reused buffers: `target` is set (normalised path +
// query) only when normalisation changed the path. `route_ingress` gets "namespace/name" of the
// Ingress that routed it (for logs and metrics).
RoutingDecision route_exchange(const Snapshot& snapshot, const ParsedRequest& request, bool tls,
                               bool hsts_configured, std::string& normalized, std::string& target,
                               std::string& route_ingress);

}  // namespace strait::proxy
