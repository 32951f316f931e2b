// Resolving Ingress backends (Service + port) to Clusters of endpoint addresses.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "controller/translator.hpp"

namespace strait::controller {

// The upstream protocol a Service port's appProtocol asks for.
UpstreamProtocol upstream_protocol(const std::optional<std::string>& app_protocol);

// The port of `service` a cluster named "namespace/service:port" was built from, resolved as the
// translation resolves an Ingress backend: a number takes the first port with that number, a
// name the port with that name (port names always contain a letter). Null when none matches.
const ServicePort* cluster_port(const Service& service, std::string_view cluster_name);

// The endpoints of one Service port: addresses from the Service's EndpointSlices (ready ones;
// serving+terminating ones only when none is ready), or the external name of an ExternalName
// Service. `name` becomes Cluster::name.
Cluster build_cluster(const Store& store, const Service& service, const ServicePort& port,
                      std::string name);

// Clusters of an earlier translation by Cluster::name, reused while their Service and its
// EndpointSlices are unchanged (the caller drops the others).
using ClusterCache = StringMap<std::shared_ptr<const Cluster>>;

// The clusters of one translation, deduplicated by name ("ns/svc:port").
class ClusterTable {
 public:
  ClusterTable(const Store& store, std::vector<Warning>& warnings,
               const ClusterCache* cached = nullptr)
      : store_(store), warnings_(warnings), cached_(cached) {}

  // A cluster index, or kBackendUnavailable with a warning on `who` naming what is missing.
  int32_t resolve(const std::string& ns, const IngressServiceBackend& backend,
                  const std::string& who);
  // The --default-backend-service ("ns/name", first Service port).
  int32_t resolve_default_service(const std::string& ns_name);

  std::vector<std::shared_ptr<const Cluster>> take() { return std::move(clusters_); }
  const std::vector<std::shared_ptr<const Cluster>>& clusters() const { return clusters_; }
  // The name resolve() looked up last ("ns/svc:port").
  const std::string& last_name() const { return name_; }
  // Makes sure the cluster `name` has its index (the next one if new), from the cache; false
  // when the cache does not have it.
  bool ensure(const std::string& name);

 private:
  int32_t add(const Service& service, const ServicePort& port, std::string name);

  const Store& store_;
  std::vector<Warning>& warnings_;
  const ClusterCache* cached_;
  StringMap<int32_t> index_;  // by Cluster::name
  std::string name_;          // resolve()'s key, reused across calls
  std::vector<std::shared_ptr<const Cluster>> clusters_;
};

}  // namespace strait::controller
