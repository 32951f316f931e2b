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

void StoreChanges::object(const Store& store, Kind kind, const std::string& key) {
  if (kind != Kind::EndpointSlice) beyond_endpoints = true;
  switch (kind) {
    case Kind::Ingress:
      ingress(key);
      break;
    case Kind::IngressClass:
      everything = true;  // class selection of every Ingress may change
      break;
    case Kind::Service:
      service(key);
      break;
    case Kind::EndpointSlice:
      if (auto it = store.endpoint_slices.find(key); it != store.endpoint_slices.end()) {
        service(it->second.metadata.namespace_ + "/" + it->second.service_name());
      }
      break;
    case Kind::Secret:
      break;  // TLS bindings are read from the Store on every translation: nothing cached
  }
}

ManifestFile ManifestSet::load(const std::string& path) {
  ManifestFile file = load_manifest_file(path);
  if (file.ok) set_file(path, file.objects);
  return file;
}

void ManifestSet::set_file(const std::string& path, std::vector<Object> objects) {
  std::vector<Object>& held = files_[path];
  std::vector<Object> old = std::exchange(held, std::move(objects));
  // Objects the file still defines exactly as before keep their place and record no change: a
  // rewritten Service file whose EndpointSlice alone moved is an endpoints-only change.
  std::map<ObjectId, const Object*> before;
  for (const Object& o : old) {
    auto [it, added] = before.try_emplace(ObjectId(kind_of(o), object_key(o)), &o);
    if (!added) it->second = nullptr;  // defined twice in the file: no shortcut
  }
  std::set<ObjectId> unchanged;
  for (const Object& o : held) {
    ObjectId id(kind_of(o), object_key(o));
    auto it = before.find(id);
    if (it == before.end()) continue;
    if (it->second != nullptr && *it->second == o && unchanged.insert(id).second) continue;
    unchanged.erase(id);  // defined twice in the new file
    it->second = nullptr;
  }
  std::set<ObjectId> touched;
  for (const Object& o : old) {
    ObjectId id(kind_of(o), object_key(o));
    if (unchanged.count(id)) continue;
    auto it = defined_.find(id);
    if (it == defined_.end()) continue;
    it->second.where.erase(path);
    if (--it->second.count > 0) --duplicates_;
    touched.insert(std::move(id));
  }
  for (size_t i = 0; i < held.size(); ++i) {
    ObjectId id(kind_of(held[i]), object_key(held[i]));
    Definitions& d = defined_[id];
    if (unchanged.count(id)) {
      d.where[path] = i;  // same object, maybe at another position in the file
      continue;
    }
    d.where.try_emplace(path, i);
    if (d.count++ > 0) ++duplicates_;
    touched.insert(std::move(id));
  }
  for (const ObjectId& id : touched) refresh(id);
}

bool ManifestSet::remove_file(const std::string& path) {
  if (files_.count(path) == 0) return false;
  set_file(path, {});
  files_.erase(path);
  return true;
}

void ManifestSet::refresh(const ObjectId& id) {
  auto it = defined_.find(id);
  const Object* winner = nullptr;
  if (it != defined_.end() && !it->second.where.empty()) {
    const auto& [path, index] = *it->second.where.begin();
    winner = &files_.at(path)[index];
  }
  changes_.object(store_, id.first, id.second);
  if (winner != nullptr) {
    store_.upsert(*winner);
  } else {
    store_.erase(id.first, id.second);
    if (it != defined_.end()) defined_.erase(it);
  }
  changes_.object(store_, id.first, id.second);
}

std::vector<std::string> ManifestSet::files() const {
  std::vector<std::string> out;
  for (const auto& [path, objects] : files_) out.push_back(path);
  return out;
}

std::vector<std::string> ManifestSet::duplicate_warnings() const {
  std::vector<std::string> out;
  if (duplicates_ == 0) return out;
  // Which file each object came from, to name both files in a duplicate warning.
  std::map<ObjectId, std::string> origin;
  for (const auto& [path, objects] : files_) {
    for (const Object& object : objects) {
      auto [it, fresh] = origin.emplace(ObjectId(kind_of(object), object_key(object)), path);
      if (!fresh) {
        out.push_back(describe(object) + " is defined in both " + it->second + " and " + path +
                      "; using the one in " + it->second);
      }
    }
  }
  return out;
}

ManifestSet::Merged ManifestSet::merged() const {
  return Merged{store_, duplicate_warnings()};
}

}  // namespace strait::controller
