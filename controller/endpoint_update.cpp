#include "controller/endpoint_update.hpp"

#include "controller/clusters.hpp"

namespace strait::controller {

ServiceKeys::ServiceKeys(const std::set<std::string>& keys)
    : keys_(keys), scan_(keys.size() <= kScanMax) {
  if (!scan_) return;
  for (const std::string& key : keys) {
    const size_t slash = key.find('/');
    if (slash == std::string::npos) continue;  // not a Service key: matches nothing
    std::string_view k(key);
    split_.emplace_back(k.substr(0, slash), k.substr(slash + 1));
  }
}

bool ServiceKeys::contains(std::string_view ns, std::string_view name) const {
  if (scan_) {
    for (const auto& [n, s] : split_) {
      if (s == name && n == ns) return true;
    }
    return false;
  }
  scratch_.assign(ns).append("/").append(name);
  return keys_.count(scratch_) > 0;
}

std::shared_ptr<Snapshot> refresh_endpoints(const Snapshot& previous, const Store& store,
                                            const std::set<std::string>& services) {
  auto next = std::make_shared<Snapshot>();
  next->routes = previous.routes;
  next->clusters = previous.clusters;
  const ServiceKeys changed(services);
  for (auto& cluster : next->clusters) {
    if (!changed.contains(cluster->service_namespace, cluster->service_name)) continue;
    const Service* service = store.find_service(cluster->service_namespace, cluster->service_name);
    if (service == nullptr) return nullptr;
    const ServicePort* port = cluster_port(*service, cluster->name);
    if (port == nullptr) return nullptr;
    cluster = std::make_shared<const Cluster>(build_cluster(store, *service, *port, cluster->name));
  }
  return next;
}

}  // namespace strait::controller
