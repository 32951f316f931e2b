#include "harness/manifests.hpp"

#include <algorithm>
#include <sstream>

namespace it::k8s {
namespace {

// Double-quoted YAML scalar (the values here are plain ASCII).
std::string q(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void backend(std::ostringstream& os, const BackendRef& b, const std::string& indent) {
  os << indent << "service:\n"
     << indent << "  name: " << b.service << "\n"
     << indent << "  port:\n";
  if (b.port_name.empty()) {
    os << indent << "    number: " << b.port_number << "\n";
  } else {
    os << indent << "    name: " << b.port_name << "\n";
  }
}

}  // namespace

std::string ingress_class(const std::string& name, const std::string& controller, bool is_default) {
  std::ostringstream os;
  os << "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: " << name << "\n";
  if (is_default)
    os << "  annotations:\n    ingressclass.kubernetes.io/is-default-class: \"true\"\n";
  os << "spec:\n  controller: " << controller << "\n";
  return os.str();
}

std::string service(const std::string& ns, const std::string& name,
                    const std::vector<ServicePort>& ports) {
  std::ostringstream os;
  os << "apiVersion: v1\nkind: Service\nmetadata:\n  name: " << name << "\n  namespace: " << ns
     << "\nspec:\n  type: ClusterIP\n  selector:\n    app: " << name << "\n  ports:\n";
  for (const ServicePort& p : ports) {
    os << "  - ";
    if (!p.name.empty()) os << "name: " << p.name << "\n    ";
    os << "port: " << p.port << "\n    protocol: TCP\n    targetPort: ";
    const bool numeric =
        !p.target_port.empty() && std::all_of(p.target_port.begin(), p.target_port.end(),
                                              [](char c) { return c >= '0' && c <= '9'; });
    os << (numeric ? p.target_port : q(p.target_port)) << "\n";
  }
  return os.str();
}

std::string external_name_service(const std::string& ns, const std::string& name,
                                  const std::string& external_name, int port) {
  std::ostringstream os;
  os << "apiVersion: v1\nkind: Service\nmetadata:\n  name: " << name << "\n  namespace: " << ns
     << "\nspec:\n  type: ExternalName\n  externalName: " << external_name
     << "\n  ports:\n  - name: http\n    port: " << port << "\n";
  return os.str();
}

std::string endpoint_slice(const std::string& ns, const std::string& name,
                           const std::string& service, const std::vector<SlicePort>& ports,
                           const std::vector<SliceEndpoint>& endpoints) {
  std::ostringstream os;
  os << "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " << name
     << "\n  namespace: " << ns << "\n  labels:\n    kubernetes.io/service-name: " << service
     << "\n    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io\n"
     << "addressType: IPv4\nports:\n";
  for (const SlicePort& p : ports) {
    os << "- ";
    if (!p.name.empty()) os << "name: " << p.name << "\n  ";
    os << "port: " << p.port << "\n  protocol: TCP\n";
  }
  if (endpoints.empty()) {
    os << "endpoints: []\n";
  } else {
    os << "endpoints:\n";
  }
  for (const SliceEndpoint& e : endpoints) {
    os << "- addresses:\n  - " << q(e.address) << "\n";
    if (e.ready) {
      os << "  conditions:\n    ready: " << (*e.ready ? "true" : "false")
         << "\n    serving: " << (*e.ready || e.terminating ? "true" : "false")
         << "\n    terminating: " << (e.terminating ? "true" : "false") << "\n";
    }
  }
  return os.str();
}

std::string ingress(const Ingress& ing) {
  std::ostringstream os;
  os << "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: " << ing.name
     << "\n  namespace: " << ing.ns << "\n";
  if (!ing.creation_timestamp.empty())
    os << "  creationTimestamp: " << q(ing.creation_timestamp) << "\n";
  if (!ing.annotations.empty()) {
    os << "  annotations:\n";
    for (const auto& [k, v] : ing.annotations) os << "    " << k << ": " << q(v) << "\n";
  }
  os << "spec:\n";
  if (ing.class_name) os << "  ingressClassName: " << *ing.class_name << "\n";
  if (ing.default_backend) {
    os << "  defaultBackend:\n";
    backend(os, *ing.default_backend, "    ");
  }
  if (!ing.rules.empty()) os << "  rules:\n";
  for (const IngressRule& r : ing.rules) {
    os << "  - ";
    if (!r.host.empty()) os << "host: " << q(r.host) << "\n    ";
    os << "http:\n      paths:\n";
    for (const IngressPath& p : r.paths) {
      os << "      - path: " << q(p.path) << "\n        pathType: " << p.type
         << "\n        backend:\n";
      backend(os, p.backend, "          ");
    }
  }
  return os.str();
}

std::string app(const std::string& ns, const std::string& name,
                const std::vector<std::string>& addresses, int pod_port,
                const std::vector<std::string>& not_ready) {
  std::vector<SliceEndpoint> endpoints;
  for (const std::string& a : addresses) {
    const bool ready = std::find(not_ready.begin(), not_ready.end(), a) == not_ready.end();
    endpoints.push_back({a, ready});
  }
  return documents({service(ns, name, {{"http", 80, "http"}}),
                    endpoint_slice(ns, name + "-1", name, {{"http", pod_port}}, endpoints)});
}

Ingress simple_ingress(const std::string& name, const std::string& host, const std::string& path,
                       const std::string& service, const std::string& type) {
  Ingress ing;
  ing.name = name;
  ing.rules.push_back({host, {{path, type, {service, 80, ""}}}});
  return ing;
}

std::string documents(const std::vector<std::string>& docs) {
  std::string out;
  for (const std::string& d : docs) {
    out += "---\n";
    out += d;
  }
  return out;
}

}  // namespace it::k8s
