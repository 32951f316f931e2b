#include "controller/clusters.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <tuple>

#include "strait/ip_text.hpp"

namespace strait::controller {
namespace {

bool parse_ip(const std::string& text, bool v6, IpAddress& out) {
  out = IpAddress{};
  out.v6 = v6;
  return inet_pton(v6 ? AF_INET6 : AF_INET, text.c_str(), out.bytes.data()) == 1;
}

// "10.0.0.1:8080" or "[fd00::1]:8080". IPv4 is formatted by hand: a translation formats every
// endpoint of every Service (50,000 at the scale we measure) and inet_ntop goes through sprintf.
std::string endpoint_text(const IpAddress& ip, uint16_t port) {
  char buf[INET6_ADDRSTRLEN + 8];
  char* end = buf;
  if (ip.v6) {
    *end++ = '[';
    inet_ntop(AF_INET6, ip.bytes.data(), end, INET6_ADDRSTRLEN);
    end += std::strlen(end);
    *end++ = ']';
  } else {
    end = append_ipv4(end, ip.bytes.data());
  }
  *end++ = ':';
  end = append_decimal(end, port);
  return std::string(buf, end);
}

// The slice port carrying `service_port`: EndpointSlice ports are named like the Service port
// they serve (unnamed "" matches an unnamed or absent name).
const EndpointPort* slice_port_for(const EndpointSlice& slice, const ServicePort& service_port) {
  for (const EndpointPort& p : slice.ports) {
    if (p.name.value_or("") == service_port.name && p.port && *p.port >= 1 && *p.port <= 65535) {
      return &p;
    }
  }
  return nullptr;
}

}  // namespace

UpstreamProtocol upstream_protocol(const std::optional<std::string>& app_protocol) {
  if (!app_protocol) return UpstreamProtocol::Http1;
  const std::string& p = *app_protocol;
  if (p == "kubernetes.io/h2c" || p == "grpc") return UpstreamProtocol::H2c;
  if (p == "https" || p == "kubernetes.io/wss") return UpstreamProtocol::Tls;
  return UpstreamProtocol::Http1;
}

Cluster build_cluster(const Store& store, const Service& service, const ServicePort& port,
                      std::string name) {
  Cluster cluster;
  cluster.name = std::move(name);
  cluster.service_namespace = service.metadata.namespace_;
  cluster.service_name = service.metadata.name;
  cluster.service_port = port.port;
  cluster.protocol = upstream_protocol(port.app_protocol);
  if (service.type == "ExternalName") {
    cluster.external_name = service.external_name;
    cluster.external_port = static_cast<uint16_t>(port.port);
    return cluster;
  }
  std::vector<Endpoint> ready;
  std::vector<Endpoint> draining;  // serving and terminating: used only when none is ready
  for (const EndpointSlice* slice :
       store.slices_for(service.metadata.namespace_, service.metadata.name)) {
    bool v6 = slice->address_type == "IPv6";
    if (!v6 && slice->address_type != "IPv4") continue;  // FQDN has no defined semantics
    const EndpointPort* slice_port = slice_port_for(*slice, port);
    if (slice_port == nullptr) continue;
    for (const SliceEndpoint& e : slice->endpoints) {
      const EndpointConditions& c = e.conditions;
      std::vector<Endpoint>* into = c.is_ready()                           ? &ready
                                    : c.is_serving() && c.is_terminating() ? &draining
                                                                           : nullptr;
      if (into == nullptr) continue;
      for (const std::string& address : e.addresses) {
        Endpoint ep;
        if (!parse_ip(address, v6, ep.ip)) continue;
        ep.port = static_cast<uint16_t>(*slice_port->port);
        into->push_back(std::move(ep));
      }
    }
  }
  std::vector<Endpoint>& chosen = ready.empty() ? draining : ready;
  // Sorted and unique: the same pods give the same cluster whatever the slice layout.
  auto key = [](const Endpoint& e) { return std::tie(e.ip.v6, e.ip.bytes, e.port); };
  std::sort(chosen.begin(), chosen.end(),
            [&](const Endpoint& a, const Endpoint& b) { return key(a) < key(b); });
  chosen.erase(std::unique(chosen.begin(), chosen.end(),
                           [&](const Endpoint& a, const Endpoint& b) { return key(a) == key(b); }),
               chosen.end());
  for (Endpoint& e : chosen) e.text = endpoint_text(e.ip, e.port);
  cluster.endpoints = std::move(chosen);
  return cluster;
}

int32_t ClusterTable::add(const Service& service, const ServicePort& port, std::string name) {
  if (auto it = index_.find(std::string_view(name)); it != index_.end()) return it->second;
  auto index = static_cast<int32_t>(clusters_.size());
  index_.emplace(name, index);
  if (cached_ != nullptr) {
    // The same Service port with unchanged Service and EndpointSlices: the same Cluster, without
    // parsing and formatting its endpoints again.
    if (auto it = cached_->find(std::string_view(name)); it != cached_->end()) {
      clusters_.push_back(it->second);
      return index;
    }
  }
  clusters_.push_back(std::make_shared<const Cluster>(build_cluster(store_, service, port, name)));
  return index;
}

bool ClusterTable::ensure(const std::string& name) {
  if (index_.find(std::string_view(name)) != index_.end()) return true;
  if (cached_ == nullptr) return false;
  auto it = cached_->find(std::string_view(name));
  if (it == cached_->end()) return false;
  index_.emplace(name, static_cast<int32_t>(clusters_.size()));
  clusters_.push_back(it->second);
  return true;
}

namespace {

// An Ingress backend's Service port: the first with `number`, else the first named `name`.
const ServicePort* find_port(const Service& service, std::optional<int64_t> number,
                             std::optional<std::string_view> name) {
  for (const ServicePort& p : service.ports) {
    if (number ? p.port == *number : name && p.name == *name) return &p;
  }
  return nullptr;
}

}  // namespace

int32_t ClusterTable::resolve(const std::string& ns, const IngressServiceBackend& backend,
                              const std::string& who) {
  // Most backends name a Service port an earlier path already resolved (an Ingress's paths
  // share a few Services): answer those from the index by name, without the store lookups.
  // Only resolved names are in the index, so a missing Service or port still warns every time.
  name_.assign(ns).append("/").append(backend.name).append(":");
  if (backend.port.number) {
    name_.append(std::to_string(*backend.port.number));
  } else {
    name_.append(backend.port.name.value_or(""));
  }
  if (auto it = index_.find(std::string_view(name_)); it != index_.end()) return it->second;
  const Service* service = store_.find_service(ns, backend.name);
  if (service == nullptr) {
    warnings_.push_back({who, "backend Service " + ns + "/" + backend.name + " not found"});
    return kBackendUnavailable;
  }
  const ServicePort* port = find_port(
      *service, backend.port.number,
      backend.port.name ? std::optional<std::string_view>(*backend.port.name) : std::nullopt);
  const std::string port_label =
      backend.port.number ? std::to_string(*backend.port.number) : backend.port.name.value_or("");
  if (port == nullptr) {
    warnings_.push_back({who, "backend Service " + ns + "/" + backend.name + " has no port " +
                                  (backend.port.number ? port_label : "\"" + port_label + "\"")});
    return kBackendUnavailable;
  }
  return add(*service, *port, name_);
}

const ServicePort* cluster_port(const Service& service, std::string_view cluster_name) {
  const size_t colon = cluster_name.rfind(':');
  if (colon == std::string_view::npos) return nullptr;
  const std::string_view port = cluster_name.substr(colon + 1);
  int64_t number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (!port.empty() && ec == std::errc() && end == port.data() + port.size())
    return find_port(service, number, std::nullopt);
  return find_port(service, std::nullopt, port);
}

int32_t ClusterTable::resolve_default_service(const std::string& ns_name) {
  std::string who = "Service " + ns_name;
  size_t slash = ns_name.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == ns_name.size()) {
    warnings_.push_back({who, "default backend service must be \"namespace/name\""});
    return kBackendUnavailable;
  }
  const Service* service = store_.find_service(ns_name.substr(0, slash), ns_name.substr(slash + 1));
  if (service == nullptr || service->ports.empty()) {
    warnings_.push_back({who, service == nullptr ? "default backend service not found"
                                                 : "default backend service has no ports"});
    return kBackendUnavailable;
  }
  const ServicePort& port = service->ports.front();
  return add(*service, port, ns_name + ":" + std::to_string(port.port));
}

}  // namespace strait::controller
