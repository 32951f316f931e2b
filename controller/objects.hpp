// Typed Kubernetes objects, restricted to the fields strait reads.
//
// Field names follow the Kubernetes API (networking.k8s.io/v1, v1, discovery.k8s.io/v1). Optional
// API fields stay std::optional where "absent" and "zero" mean different things to validation or
// translation (pathType, port name vs number, endpoint conditions); elsewhere absent = empty.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace strait::controller {

struct ObjectMeta {
  std::string name;
  std::string namespace_;  // "default" when a namespaced manifest omits it; "" for cluster scope
  std::string uid;
  std::string resource_version;
  std::string creation_timestamp;  // RFC 3339, as the API server wrote it
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  bool operator==(const ObjectMeta&) const = default;
};

// ---- networking.k8s.io/v1 Ingress

struct ServiceBackendPort {
  std::optional<std::string> name;
  std::optional<int64_t> number;
  bool operator==(const ServiceBackendPort&) const = default;
};

struct IngressServiceBackend {
  std::string name;
  ServiceBackendPort port;
  bool operator==(const IngressServiceBackend&) const = default;
};

struct TypedLocalObjectReference {
  std::optional<std::string> api_group;
  std::string kind;
  std::string name;
  bool operator==(const TypedLocalObjectReference&) const = default;
};

struct IngressBackend {
  std::optional<IngressServiceBackend> service;
  std::optional<TypedLocalObjectReference> resource;
  bool operator==(const IngressBackend&) const = default;
};

struct HTTPIngressPath {
  std::optional<std::string> path;
  std::optional<std::string> path_type;  // "Exact", "Prefix", "ImplementationSpecific"
  IngressBackend backend;
  bool operator==(const HTTPIngressPath&) const = default;
};

struct HTTPIngressRuleValue {
  std::vector<HTTPIngressPath> paths;
  bool operator==(const HTTPIngressRuleValue&) const = default;
};

struct IngressRule {
  std::string host;  // "" = every host
  std::optional<HTTPIngressRuleValue> http;
  bool operator==(const IngressRule&) const = default;
};

struct IngressTLS {
  std::vector<std::string> hosts;
  std::string secret_name;
  bool operator==(const IngressTLS&) const = default;
};

struct IngressSpec {
  std::optional<std::string> ingress_class_name;
  std::optional<IngressBackend> default_backend;
  std::vector<IngressRule> rules;
  std::vector<IngressTLS> tls;
  bool operator==(const IngressSpec&) const = default;
};

// status.loadBalancer.ingress[] of an Ingress or a Service: where clients reach it.
struct LoadBalancerIngress {
  std::string ip;
  std::string hostname;
  bool operator==(const LoadBalancerIngress&) const = default;
};

struct Ingress {
  ObjectMeta metadata;
  IngressSpec spec;
  std::vector<LoadBalancerIngress> status_load_balancer;  // what the status writer compares
  bool operator==(const Ingress&) const = default;
};

// ---- networking.k8s.io/v1 IngressClass (cluster-scoped)

inline constexpr std::string_view kDefaultClassAnnotation =
    "ingressclass.kubernetes.io/is-default-class";
inline constexpr std::string_view kLegacyClassAnnotation = "kubernetes.io/ingress.class";

struct IngressClassParameters {
  std::optional<std::string> api_group;
  std::string kind;
  std::string name;
  std::optional<std::string> scope;
  std::optional<std::string> namespace_;
  bool operator==(const IngressClassParameters&) const = default;
};

struct IngressClass {
  ObjectMeta metadata;
  std::string controller;
  std::optional<IngressClassParameters> parameters;

  bool is_default() const {
    auto it = metadata.annotations.find(std::string(kDefaultClassAnnotation));
    return it != metadata.annotations.end() && it->second == "true";
  }
  bool operator==(const IngressClass&) const = default;
};

// ---- v1 Service

// Kubernetes IntOrString.
struct IntOrString {
  bool is_string = false;
  int64_t int_value = 0;
  std::string string_value;
  bool operator==(const IntOrString&) const = default;
};

struct ServicePort {
  std::string name;
  int64_t port = 0;
  std::optional<IntOrString> target_port;
  std::string protocol;  // "" means TCP
  std::optional<std::string> app_protocol;
  int64_t node_port = 0;
  bool operator==(const ServicePort&) const = default;
};

struct Service {
  ObjectMeta metadata;
  std::string type;  // "" means ClusterIP
  std::string cluster_ip;
  std::string external_name;
  std::vector<ServicePort> ports;
  std::vector<std::string> external_ips;                  // spec.externalIPs
  std::vector<LoadBalancerIngress> status_load_balancer;  // status.loadBalancer.ingress
  bool operator==(const Service&) const = default;
};

// ---- discovery.k8s.io/v1 EndpointSlice

inline constexpr std::string_view kServiceNameLabel = "kubernetes.io/service-name";

struct EndpointConditions {
  std::optional<bool> ready;        // nil means true
  std::optional<bool> serving;      // nil means true
  std::optional<bool> terminating;  // nil means false

  bool is_ready() const { return ready.value_or(true); }
  bool is_serving() const { return serving.value_or(true); }
  bool is_terminating() const { return terminating.value_or(false); }
  bool operator==(const EndpointConditions&) const = default;
};

struct SliceEndpoint {
  std::vector<std::string> addresses;
  EndpointConditions conditions;
  std::optional<std::string> hostname;
  std::optional<std::string> node_name;
  std::optional<std::string> zone;
  bool operator==(const SliceEndpoint&) const = default;
};

struct EndpointPort {
  std::optional<std::string> name;  // nil and "" both mean the unnamed port
  std::optional<int64_t> port;      // nil means "all ports" (unusable for routing)
  std::optional<std::string> protocol;
  std::optional<std::string> app_protocol;
  bool operator==(const EndpointPort&) const = default;
};

struct EndpointSlice {
  ObjectMeta metadata;
  std::string address_type;  // "IPv4", "IPv6" or "FQDN"
  std::vector<SliceEndpoint> endpoints;
  std::vector<EndpointPort> ports;

  std::string service_name() const {
    auto it = metadata.labels.find(std::string(kServiceNameLabel));
    return it == metadata.labels.end() ? std::string() : it->second;
  }
  bool operator==(const EndpointSlice&) const = default;
};

// ---- v1 Secret

struct Secret {
  ObjectMeta metadata;
  std::string type;
  std::map<std::string, std::string> data;         // base64-decoded bytes
  std::map<std::string, std::string> string_data;  // as written (write-only in the API)
  bool operator==(const Secret&) const = default;
};

// ---- any of the above

enum class Kind { Ingress, IngressClass, Service, EndpointSlice, Secret };

using Object = std::variant<Ingress, IngressClass, Service, EndpointSlice, Secret>;

std::string_view kind_name(Kind kind);
std::optional<Kind> kind_from_name(std::string_view name);
std::string_view api_version_of(Kind kind);
bool is_namespaced(Kind kind);

Kind kind_of(const Object& object);
const ObjectMeta& metadata_of(const Object& object);
// "namespace/name", or "name" for cluster-scoped kinds: the store key.
std::string object_key(const Object& object);
// "Ingress default/web": how warnings and errors name an object.
std::string describe(const Object& object);

}  // namespace strait::controller
