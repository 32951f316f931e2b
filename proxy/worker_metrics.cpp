#include "proxy/worker_metrics.hpp"

namespace strait::proxy {

RouteMetrics& WorkerMetrics::route(std::string_view ingress, std::string_view service) {
  key_.assign(ingress);
  key_.push_back('|');
  key_.append(service);
  if (auto it = routes_.find(key_); it != routes_.end()) return *it->second;
  auto m = std::make_unique<RouteMetrics>();
  size_t slash = ingress.find('/');
  m->ns =
      std::string(slash == std::string_view::npos ? std::string_view() : ingress.substr(0, slash));
  m->ingress = std::string(slash == std::string_view::npos ? ingress : ingress.substr(slash + 1));
  // Cluster names are "namespace/service:port"; the namespace is already a label.
  size_t cslash = service.find('/');
  m->service = std::string(cslash == std::string_view::npos ? service : service.substr(cslash + 1));
  RouteMetrics& ref = *m;
  std::lock_guard lock(mutex_);
  routes_.emplace(key_, std::move(m));
  return ref;
}

}  // namespace strait::proxy
