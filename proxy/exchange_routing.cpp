#include "proxy/exchange_routing.hpp"

#include "proxy/path_normalizer.hpp"

namespace strait::proxy {

RoutingDecision route_exchange(const Snapshot& snapshot, const ParsedRequest& request, bool tls,
                               bool hsts_configured, std::string& normalized, std::string& target,
                               std::string& route_ingress) {
  RoutingDecision d;
  std::string_view path = request.path;
  target.clear();
  route_ingress.clear();
  if (request.origin_target != "*") {
    switch (normalize_path(request.path, normalized)) {
      case PathCheck::Unchanged:
        break;
      case PathCheck::Normalized:
        path = normalized;
        target.assign(normalized);
        target.append(request.origin_target.substr(request.path.size()));
        break;
      case PathCheck::Rejected:
        d.action = RoutingDecision::Action::Reject;
        d.status = 400;
        return d;
    }
  }
  RouteMatch match = route_request(snapshot, request.authority, path);
  if (match.route != nullptr) {
    route_ingress.assign(match.route->ingress);
  } else if (match.vhost != nullptr) {
    route_ingress.assign(match.vhost->fallback_ingress);
  }
  const VirtualHost* vhost = match.vhost;
  d.hsts = tls && vhost != nullptr && vhost->tls && vhost->hsts && hsts_configured;
  if (!tls && vhost != nullptr && vhost->tls && vhost->ssl_redirect) {
    d.action = RoutingDecision::Action::Redirect;
    d.status = 308;
    return d;
  }
  if (match.backend < 0) {
    d.action = RoutingDecision::Action::Answer;
    d.status = match.backend == kBackendNotFound ? 404 : 503;
    return d;
  }
  d.cluster = match.backend;
  d.backend = snapshot.clusters[static_cast<size_t>(match.backend)].get();
  if (d.backend->endpoints.empty() && d.backend->external_name.empty()) {
    d.action = RoutingDecision::Action::Answer;
    d.status = 503;
  }
  return d;
}

}  // namespace strait::proxy
