// YAML text for the Kubernetes objects file mode reads, written the way kubectl users write them.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace it::k8s {

std::string ingress_class(const std::string& name = "strait",
                          const std::string& controller = "strait.io/ingress-controller",
                          bool is_default = false);

struct ServicePort {
  std::string name;  // may be empty (a single unnamed port)
  int port = 80;
  std::string target_port = "8080";  // number or name
};
std::string service(const std::string& ns, const std::string& name,
                    const std::vector<ServicePort>& ports);
// type: ExternalName
std::string external_name_service(const std::string& ns, const std::string& name,
                                  const std::string& external_name, int port);

struct SlicePort {
  std::string name;  // may be empty (matches an unnamed Service port)
  int port = 0;
};
struct SliceEndpoint {
  std::string address;
  std::optional<bool> ready = true;  // nullopt: no conditions at all (counts as ready)
  bool terminating = false;
};
std::string endpoint_slice(const std::string& ns, const std::string& name,
                           const std::string& service, const std::vector<SlicePort>& ports,
                           const std::vector<SliceEndpoint>& endpoints);

struct BackendRef {
  std::string service;
  int port_number = 0;    // used when port_name is empty
  std::string port_name;  // by name
};
struct IngressPath {
  std::string path;
  std::string type = "Prefix";  // Exact, Prefix, ImplementationSpecific
  BackendRef backend;
};
struct IngressRule {
  std::string host;  // empty: host-less
  std::vector<IngressPath> paths;
};
struct Ingress {
  std::string ns = "default";
  std::string name;
  std::optional<std::string> class_name = "strait";  // nullopt: no spec.ingressClassName
  std::vector<std::pair<std::string, std::string>> annotations;
  std::string creation_timestamp;  // empty: omitted
  std::optional<BackendRef> default_backend;
  std::vector<IngressRule> rules;
};
std::string ingress(const Ingress& ing);

// A Service with one port named "http" (80 -> targetPort "http") and one EndpointSlice
// "<name>-1" with that port at pod_port on every address; addresses listed in not_ready have
// conditions.ready false.
std::string app(const std::string& ns, const std::string& name,
                const std::vector<std::string>& addresses, int pod_port,
                const std::vector<std::string>& not_ready = {});

// One Ingress rule: host (may be empty) + Prefix path -> service:80.
Ingress simple_ingress(const std::string& name, const std::string& host, const std::string& path,
                       const std::string& service, const std::string& type = "Prefix");

// Joins YAML documents with "---".
std::string documents(const std::vector<std::string>& docs);

}  // namespace it::k8s
