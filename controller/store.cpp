#include "controller/store.hpp"

#include <utility>

namespace strait::controller {
namespace {

// The map of one kind, so the kind-generic operations need no switch per call site.
template <typename S, typename Fn>
decltype(auto) with_map(S& s, Kind kind, Fn&& fn) {
  switch (kind) {
    case Kind::Ingress:
      return fn(s.ingresses);
    case Kind::IngressClass:
      return fn(s.ingress_classes);
    case Kind::Service:
      return fn(s.services);
    case Kind::EndpointSlice:
      return fn(s.endpoint_slices);
    case Kind::Secret:
      break;
  }
  return fn(s.secrets);
}

auto& map_of(Store& s, const Ingress&) {
  return s.ingresses;
}
auto& map_of(Store& s, const IngressClass&) {
  return s.ingress_classes;
}
auto& map_of(Store& s, const Service&) {
  return s.services;
}
auto& map_of(Store& s, const EndpointSlice&) {
  return s.endpoint_slices;
}
auto& map_of(Store& s, const Secret&) {
  return s.secrets;
}

}  // namespace

void Store::index_slice(const std::string& key, const EndpointSlice* slice, bool add) {
  if (slice == nullptr) return;
  std::string service = slice->metadata.namespace_ + "/" + slice->service_name();
  if (add) {
    slices_by_service_[service].insert(key);
    return;
  }
  auto it = slices_by_service_.find(service);
  if (it == slices_by_service_.end()) return;
  it->second.erase(key);
  if (it->second.empty()) slices_by_service_.erase(it);
}

bool Store::upsert(Object object) {
  std::string key = object_key(object);
  if (const auto* slice = std::get_if<EndpointSlice>(&object)) {
    auto old = endpoint_slices.find(key);
    index_slice(key, old == endpoint_slices.end() ? nullptr : &old->second, false);
    index_slice(key, slice, true);
  }
  return std::visit(
      [&](auto&& o) { return map_of(*this, o).insert_or_assign(key, std::move(o)).second; },
      std::move(object));
}

bool Store::erase(Kind kind, const std::string& key) {
  if (kind == Kind::EndpointSlice) {
    auto old = endpoint_slices.find(key);
    index_slice(key, old == endpoint_slices.end() ? nullptr : &old->second, false);
  }
  return with_map(*this, kind, [&](auto& map) { return map.erase(key) > 0; });
}

bool Store::contains(Kind kind, const std::string& key) const {
  return with_map(*this, kind, [&](auto& map) { return map.find(key) != map.end(); });
}

size_t Store::size() const {
  return ingresses.size() + ingress_classes.size() + services.size() + endpoint_slices.size() +
         secrets.size();
}

const Service* Store::find_service(const std::string& ns, const std::string& name) const {
  auto it = services.find(ns + "/" + name);
  return it == services.end() ? nullptr : &it->second;
}

std::vector<const EndpointSlice*> Store::slices_for(const std::string& ns,
                                                    const std::string& service) const {
  std::vector<const EndpointSlice*> out;
  auto it = slices_by_service_.find(ns + "/" + service);
  if (it == slices_by_service_.end()) return out;
  for (const std::string& key : it->second) out.push_back(&endpoint_slices.at(key));
  return out;
}

ManifestFile ManifestSet::load(const std::string& path) {
  ManifestFile file = load_manifest_file(path);
  if (file.ok) files_[path] = file.objects;
  return file;
}

void ManifestSet::set_file(const std::string& path, std::vector<Object> objects) {
  files_[path] = std::move(objects);
}

bool ManifestSet::remove_file(const std::string& path) {
  return files_.erase(path) > 0;
}

std::vector<std::string> ManifestSet::files() const {
  std::vector<std::string> out;
  for (const auto& [path, objects] : files_) out.push_back(path);
  return out;
}

ManifestSet::Merged ManifestSet::merged() const {
  Merged out;
  // Which file each object came from, to name both files in a duplicate warning.
  std::map<std::pair<Kind, std::string>, std::string> origin;
  for (const auto& [path, objects] : files_) {
    for (const Object& object : objects) {
      auto [it, fresh] = origin.emplace(std::pair(kind_of(object), object_key(object)), path);
      if (!fresh) {
        out.warnings.push_back(describe(object) + " is defined in both " + it->second + " and " +
                               path + "; using the one in " + it->second);
        continue;
      }
      out.store.upsert(object);
    }
  }
  return out;
}

}  // namespace strait::controller
