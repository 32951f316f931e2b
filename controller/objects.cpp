#include "controller/objects.hpp"

namespace strait::controller {

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::Ingress:
      return "Ingress";
    case Kind::IngressClass:
      return "IngressClass";
    case Kind::Service:
      return "Service";
    case Kind::EndpointSlice:
      return "EndpointSlice";
    case Kind::Secret:
      return "Secret";
  }
  return "";
}

std::optional<Kind> kind_from_name(std::string_view name) {
  for (Kind k :
       {Kind::Ingress, Kind::IngressClass, Kind::Service, Kind::EndpointSlice, Kind::Secret}) {
    if (kind_name(k) == name) return k;
  }
  return std::nullopt;
}

std::string_view api_version_of(Kind kind) {
  switch (kind) {
    case Kind::Ingress:
    case Kind::IngressClass:
      return "networking.k8s.io/v1";
    case Kind::EndpointSlice:
      return "discovery.k8s.io/v1";
    case Kind::Service:
    case Kind::Secret:
      return "v1";
  }
  return "";
}

bool is_namespaced(Kind kind) {
  return kind != Kind::IngressClass;
}

Kind kind_of(const Object& object) {
  return static_cast<Kind>(object.index());
}

const ObjectMeta& metadata_of(const Object& object) {
  return std::visit([](const auto& o) -> const ObjectMeta& { return o.metadata; }, object);
}

std::string object_key(const Object& object) {
  const ObjectMeta& meta = metadata_of(object);
  if (!is_namespaced(kind_of(object))) return meta.name;
  return meta.namespace_ + "/" + meta.name;
}

std::string describe(const Object& object) {
  return std::string(kind_name(kind_of(object))) + " " + object_key(object);
}

}  // namespace strait::controller
