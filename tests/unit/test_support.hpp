// Builders shared by the unit tests: Kubernetes objects in code or from YAML text.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "controller/manifest.hpp"
#include "controller/store.hpp"
#include "controller/translator.hpp"

namespace strait::controller::testing {

struct PathSpec {
  std::string path;
  std::string type = "Prefix";
  std::string service = "svc";
  int64_t port = 80;
};

inline Ingress make_ingress(const std::string& ns, const std::string& name, const std::string& host,
                            const std::vector<PathSpec>& paths,
                            const std::string& created = "2024-01-01T00:00:00Z") {
  Ingress ing;
  ing.metadata.namespace_ = ns;
  ing.metadata.name = name;
  ing.metadata.creation_timestamp = created;
  ing.spec.ingress_class_name = "strait";
  IngressRule rule;
  rule.host = host;
  rule.http.emplace();
  for (const PathSpec& p : paths) {
    HTTPIngressPath hp;
    hp.path = p.path;
    hp.path_type = p.type;
    hp.backend.service = IngressServiceBackend{p.service, {std::nullopt, p.port}};
    rule.http->paths.push_back(hp);
  }
  ing.spec.rules.push_back(rule);
  return ing;
}

inline IngressBackend service_backend(const std::string& name, int64_t port) {
  IngressBackend b;
  b.service = IngressServiceBackend{name, {std::nullopt, port}};
  return b;
}

inline Service make_service(const std::string& ns, const std::string& name,
                            std::vector<std::pair<std::string, int64_t>> ports = {{"", 80}}) {
  Service svc;
  svc.metadata.namespace_ = ns;
  svc.metadata.name = name;
  for (auto& [port_name, number] : ports) {
    ServicePort p;
    p.name = port_name;
    p.port = number;
    svc.ports.push_back(p);
  }
  return svc;
}

struct EndpointSpec {
  std::string address;
  std::optional<bool> ready = std::nullopt;
  std::optional<bool> serving = std::nullopt;
  std::optional<bool> terminating = std::nullopt;
};

inline EndpointSlice make_slice(const std::string& ns, const std::string& name,
                                const std::string& service, std::optional<std::string> port_name,
                                int64_t port, const std::vector<EndpointSpec>& endpoints,
                                const std::string& address_type = "IPv4") {
  EndpointSlice s;
  s.metadata.namespace_ = ns;
  s.metadata.name = name;
  s.metadata.labels[std::string(kServiceNameLabel)] = service;
  s.address_type = address_type;
  s.ports.push_back({port_name, port, "TCP", std::nullopt});
  for (const EndpointSpec& e : endpoints) {
    SliceEndpoint se;
    se.addresses = {e.address};
    se.conditions = {e.ready, e.serving, e.terminating};
    s.endpoints.push_back(se);
  }
  return s;
}

inline std::string joined(const std::vector<ManifestError>& errors) {
  std::string out;
  for (const ManifestError& e : errors) out += e.to_string() + "\n";
  return out;
}

inline Store store_from_yaml(const std::string& yaml) {
  ManifestFile file = parse_manifest(yaml, "inline.yaml");
  EXPECT_TRUE(file.ok) << joined(file.errors);
  Store store;
  for (Object& o : file.objects) store.upsert(std::move(o));
  return store;
}

inline bool has_warning(const Translation& t, const std::string& object,
                        const std::string& fragment) {
  for (const Warning& w : t.warnings) {
    if (w.object == object && w.message.find(fragment) != std::string::npos) return true;
  }
  return false;
}

inline std::string warnings_text(const Translation& t) {
  std::string out;
  for (const Warning& w : t.warnings) out += w.object + ": " + w.message + "\n";
  return out;
}

// The cluster name a request is routed to, "" when no cluster (404/503), for readable asserts.
inline std::string cluster_of(const Snapshot& s, std::string_view host, std::string_view path) {
  RouteMatch m = route_request(s, host, path);
  if (m.backend == kBackendNotFound) return "404";
  if (m.backend == kBackendUnavailable) return "503";
  return s.clusters.at(static_cast<size_t>(m.backend))->name;
}

}  // namespace strait::controller::testing
