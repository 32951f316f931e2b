#include "controller/endpoint_update.hpp"

#include "controller/clusters.hpp"

namespace strait::controller {

std::shared_ptr<Snapshot> refresh_endpoints(const Snapshot& previous, const Store& store,
                                            const std::set<std::string>& services) {
  auto next = std::make_shared<Snapshot>();
  next->routes = previous.routes;
  next->clusters = previous.clusters;
  std::string key;  // reused: this loop visits every cluster on every EndpointSlice change
  for (auto& cluster : next->clusters) {
    key.assign(cluster->service_namespace).append("/").append(cluster->service_name);
    if (services.count(key) == 0) continue;
    const Service* service = store.find_service(cluster->service_namespace, cluster->service_name);
    if (service == nullptr) return nullptr;
    const ServicePort* port = nullptr;
    for (const ServicePort& p : service->ports) {
      if (p.port == cluster->service_port) port = &p;
    }
    if (port == nullptr) return nullptr;
    cluster = std::make_shared<const Cluster>(build_cluster(store, *service, *port, cluster->name));
  }
  return next;
}

}  // namespace strait::controller
