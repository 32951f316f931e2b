#include "controller/validate.hpp"

#include <set>

#include "controller/names.hpp"

namespace strait::controller {
namespace {

using Issues = std::vector<FieldIssue>;

// Field paths are FieldRefs: written out only for an issue (see field_path.hpp).
void check(Issues& out, const FieldRef& field, std::string reason) {
  if (!reason.empty()) out.push_back({field.str(), std::move(reason)});
}

void issue(Issues& out, const FieldRef& field, std::string reason) {
  out.push_back({field.str(), std::move(reason)});
}

const FieldRef kMetadataName{nullptr, "metadata.name"};
const FieldRef kMetadataNamespace{nullptr, "metadata.namespace"};

void check_metadata(Issues& out, const ObjectMeta& meta, Kind kind) {
  if (meta.name.empty()) {
    out.push_back({"metadata.name", "name is required"});
  } else if (kind == Kind::Service) {
    check(out, kMetadataName, check_dns1035_label(meta.name));
  } else {
    check(out, kMetadataName, check_dns1123_subdomain(meta.name));
  }
  if (is_namespaced(kind)) check(out, kMetadataNamespace, check_dns1123_label(meta.namespace_));
}

void check_port_number(Issues& out, const FieldRef& field, int64_t port) {
  if (port < 1 || port > 65535) issue(out, field, "must be between 1 and 65535, inclusive");
}

void check_protocol(Issues& out, const FieldRef& field, const std::string& protocol) {
  if (!protocol.empty() && protocol != "TCP" && protocol != "UDP" && protocol != "SCTP") {
    issue(out, field, "supported values: \"TCP\", \"UDP\", \"SCTP\"");
  }
}

void check_backend(Issues& out, const IngressBackend& b, const FieldRef& p) {
  if (b.service && b.resource) {
    issue(out, p, "cannot set both service and resource backends");
  } else if (!b.service && !b.resource) {
    issue(out, p, "one backend (service or resource) must be specified");
  }
  if (b.service) {
    const FieldRef sp = p.child("service");
    if (b.service->name.empty()) {
      issue(out, sp.child("name"), "service name is required");
    } else {
      check(out, sp.child("name"), check_dns1035_label(b.service->name));
    }
    const ServiceBackendPort& port = b.service->port;
    const FieldRef pp = sp.child("port");
    if (port.name && port.number) {
      issue(out, pp, "cannot set both port name & port number");
    } else if (!port.name && !port.number) {
      issue(out, pp, "port name or number is required");
    }
    if (port.name) check(out, pp.child("name"), check_iana_svc_name(*port.name));
    if (port.number) check_port_number(out, pp.child("number"), *port.number);
  }
  if (b.resource) {
    const FieldRef rp = p.child("resource");
    if (b.resource->kind.empty()) issue(out, rp.child("kind"), "kind is required");
    if (b.resource->name.empty()) issue(out, rp.child("name"), "name is required");
  }
}

void check_path(Issues& out, const HTTPIngressPath& path, const FieldRef& p) {
  const FieldRef tp = p.child("pathType");
  const FieldRef pp = p.child("path");
  const std::string_view value = path.path ? std::string_view(*path.path) : std::string_view();
  if (!path.path_type) {
    issue(out, tp, "pathType must be specified");
  } else if (*path.path_type == "Exact" || *path.path_type == "Prefix") {
    if (!value.starts_with('/')) {
      issue(out, pp, "must be an absolute path");
    } else {
      // The API server refuses sequences that would make prefix matching ambiguous.
      for (std::string_view bad : {"//", "/./", "/../", "%2f", "%2F"}) {
        if (value.find(bad) != std::string::npos) {
          issue(out, pp, "must not contain '" + std::string(bad) + "'");
        }
      }
      for (std::string_view bad : {"/..", "/."}) {
        if (value.ends_with(bad)) issue(out, pp, "cannot end with '" + std::string(bad) + "'");
      }
    }
  } else if (*path.path_type == "ImplementationSpecific") {
    if (!value.empty() && !value.starts_with('/')) issue(out, pp, "must be an absolute path");
  } else {
    issue(out, tp, "supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\"");
  }
  check_backend(out, path.backend, p.child("backend"));
}

}  // namespace

Issues validate_ingress(const Ingress& ing) {
  Issues out;
  check_metadata(out, ing.metadata, Kind::Ingress);
  const IngressSpec& spec = ing.spec;
  if (spec.ingress_class_name) {
    check(out, FieldRef{nullptr, "spec.ingressClassName"},
          check_dns1123_subdomain(*spec.ingress_class_name));
  }
  if (spec.rules.empty() && !spec.default_backend) {
    issue(out, FieldRef{nullptr, "spec"}, "either `defaultBackend` or `rules` must be specified");
  }
  if (spec.default_backend) {
    check_backend(out, *spec.default_backend, FieldRef{nullptr, "spec.defaultBackend"});
  }
  const FieldRef rules{nullptr, "spec.rules"};
  for (size_t i = 0; i < spec.rules.size(); ++i) {
    const IngressRule& rule = spec.rules[i];
    const FieldRef rp = rules.at(i);
    if (!rule.host.empty()) check(out, rp.child("host"), check_ingress_host(rule.host));
    if (!rule.http) continue;
    const FieldRef hp = rp.child("http.paths");
    if (rule.http->paths.empty()) issue(out, hp, "at least one path is required");
    for (size_t j = 0; j < rule.http->paths.size(); ++j) {
      check_path(out, rule.http->paths[j], hp.at(j));
    }
  }
  const FieldRef tls{nullptr, "spec.tls"};
  for (size_t i = 0; i < spec.tls.size(); ++i) {
    const FieldRef entry = tls.at(i);
    const FieldRef hosts = entry.child("hosts");
    for (size_t j = 0; j < spec.tls[i].hosts.size(); ++j) {
      check(out, hosts.at(j), check_ingress_host(spec.tls[i].hosts[j]));
    }
    if (!spec.tls[i].secret_name.empty()) {
      check(out, entry.child("secretName"), check_dns1123_subdomain(spec.tls[i].secret_name));
    }
  }
  return out;
}

Issues validate_ingress_class(const IngressClass& cls) {
  Issues out;
  check_metadata(out, cls.metadata, Kind::IngressClass);
  // spec.controller: a domain-prefixed path such as "example.com/ingress-controller".
  const std::string& c = cls.controller;
  size_t slash = c.find('/');
  if (c.empty()) {
    out.push_back({"spec.controller", "controller is required"});
  } else if (c.size() > 250) {
    out.push_back({"spec.controller", "must be no more than 250 characters"});
  } else if (slash == std::string::npos || slash + 1 == c.size() ||
             !check_dns1123_subdomain(c.substr(0, slash)).empty()) {
    out.push_back({"spec.controller", "must be a domain-prefixed path (such as \"acme.io/foo\")"});
  }
  if (cls.parameters) {
    const IngressClassParameters& p = *cls.parameters;
    if (p.kind.empty()) out.push_back({"spec.parameters.kind", "kind is required"});
    if (p.name.empty()) out.push_back({"spec.parameters.name", "name is required"});
    std::string scope = p.scope.value_or("Cluster");
    if (scope == "Cluster") {
      if (p.namespace_) {
        out.push_back({"spec.parameters.namespace", "`parameters.scope` is set to 'Cluster'"});
      }
    } else if (scope == "Namespace") {
      if (!p.namespace_) {
        out.push_back({"spec.parameters.namespace", "`parameters.scope` is set to 'Namespace'"});
      }
    } else {
      out.push_back({"spec.parameters.scope", "supported values: \"Cluster\", \"Namespace\""});
    }
  }
  return out;
}

Issues validate_service(const Service& svc) {
  Issues out;
  check_metadata(out, svc.metadata, Kind::Service);
  const std::string type = svc.type.empty() ? "ClusterIP" : svc.type;
  if (type == "ExternalName") {
    if (svc.external_name.empty()) {
      out.push_back({"spec.externalName", "required for type ExternalName"});
    } else {
      check(out, FieldRef{nullptr, "spec.externalName"},
            check_dns1123_subdomain(svc.external_name));
    }
  } else if (type != "ClusterIP" && type != "NodePort" && type != "LoadBalancer") {
    out.push_back({"spec.type",
                   "supported values: \"ClusterIP\", \"ExternalName\", "
                   "\"LoadBalancer\", \"NodePort\""});
  }
  if (svc.ports.empty() && type != "ExternalName" && svc.cluster_ip != "None") {
    out.push_back({"spec.ports", "at least one port is required"});
  }
  std::set<std::string> names;
  const FieldRef ports{nullptr, "spec.ports"};
  for (size_t i = 0; i < svc.ports.size(); ++i) {
    const ServicePort& port = svc.ports[i];
    const FieldRef pp = ports.at(i);
    if (port.name.empty()) {
      if (svc.ports.size() > 1) issue(out, pp.child("name"), "required (>1 ports)");
    } else {
      check(out, pp.child("name"), check_iana_svc_name(port.name));
      if (!names.insert(port.name).second) issue(out, pp.child("name"), "duplicate");
    }
    check_port_number(out, pp.child("port"), port.port);
    if (port.target_port) {
      if (port.target_port->is_string) {
        check(out, pp.child("targetPort"), check_iana_svc_name(port.target_port->string_value));
      } else if (port.target_port->int_value != 0) {  // 0 is defaulted to port
        check_port_number(out, pp.child("targetPort"), port.target_port->int_value);
      }
    }
    check_protocol(out, pp.child("protocol"), port.protocol);
  }
  return out;
}

Issues validate_endpoint_slice(const EndpointSlice& slice) {
  Issues out;
  check_metadata(out, slice.metadata, Kind::EndpointSlice);
  if (slice.service_name().empty()) {
    out.push_back({"metadata.labels", "label kubernetes.io/service-name is required"});
  }
  const std::string& type = slice.address_type;
  bool known = type == "IPv4" || type == "IPv6" || type == "FQDN";
  if (!known) out.push_back({"addressType", "supported values: \"FQDN\", \"IPv4\", \"IPv6\""});
  const FieldRef endpoints{nullptr, "endpoints"};
  for (size_t i = 0; i < slice.endpoints.size(); ++i) {
    const SliceEndpoint& e = slice.endpoints[i];
    const FieldRef endpoint = endpoints.at(i);
    const FieldRef ap = endpoint.child("addresses");
    if (e.addresses.empty() || e.addresses.size() > 100) {
      issue(out, ap, "must contain between 1 and 100 addresses");
    }
    for (size_t j = 0; j < e.addresses.size(); ++j) {
      const std::string& a = e.addresses[j];
      bool ok = type == "IPv4"   ? is_ipv4(a)
                : type == "IPv6" ? is_ipv6(a)
                : type == "FQDN" ? check_dns1123_subdomain(a).empty()
                                 : true;  // already reported via addressType
      if (!ok) issue(out, ap.at(j), "must be a valid " + type + " address");
    }
  }
  const FieldRef ports{nullptr, "ports"};
  for (size_t i = 0; i < slice.ports.size(); ++i) {
    const EndpointPort& port = slice.ports[i];
    const FieldRef pp = ports.at(i);
    if (port.name && !port.name->empty()) {
      check(out, pp.child("name"), check_dns1123_label(*port.name));
    }
    if (port.port) check_port_number(out, pp.child("port"), *port.port);
    if (port.protocol) check_protocol(out, pp.child("protocol"), *port.protocol);
  }
  return out;
}

Issues validate_secret(const Secret& secret) {
  Issues out;
  check_metadata(out, secret.metadata, Kind::Secret);
  auto valid_key = [](const std::string& key) {
    if (key.empty() || key.size() > 253 || key == "." || key == "..") return false;
    for (char c : key) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.';
      if (!ok) return false;
    }
    return true;
  };
  for (const auto& [key, value] : secret.data) {
    if (!valid_key(key)) out.push_back({field_child("data", key), "must be a valid config key"});
  }
  for (const auto& [key, value] : secret.string_data) {
    if (!valid_key(key)) {
      out.push_back({field_child("stringData", key), "must be a valid config key"});
    }
  }
  if (secret.type == "kubernetes.io/tls") {
    for (const char* key : {"tls.crt", "tls.key"}) {
      if (!secret.data.contains(key) && !secret.string_data.contains(key)) {
        out.push_back({field_child("data", key), "required for type kubernetes.io/tls"});
      }
    }
  }
  return out;
}

Issues validate(const Object& object) {
  struct Visitor {
    Issues operator()(const Ingress& o) const { return validate_ingress(o); }
    Issues operator()(const IngressClass& o) const { return validate_ingress_class(o); }
    Issues operator()(const Service& o) const { return validate_service(o); }
    Issues operator()(const EndpointSlice& o) const { return validate_endpoint_slice(o); }
    Issues operator()(const Secret& o) const { return validate_secret(o); }
  };
  return std::visit(Visitor{}, object);
}

}  // namespace strait::controller
