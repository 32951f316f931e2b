// The object cache the translator reads: every object by kind and key.
//
// Fed by the API watcher (upsert/erase per event) or by the file source (ManifestSet::store()).
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "controller/manifest.hpp"
#include "controller/objects.hpp"

namespace strait::controller {

struct Store {
  // Keys: "namespace/name" (IngressClass: "name"). Ordered maps keep translation deterministic.
  std::map<std::string, Ingress> ingresses;
  std::map<std::string, IngressClass> ingress_classes;
  std::map<std::string, Service> services;
  std::map<std::string, EndpointSlice> endpoint_slices;  // write through upsert()/erase() only
  std::map<std::string, Secret> secrets;

  // Inserts or replaces by object_key(). Returns true when the key was new.
  bool upsert(Object object);
  // Removes kind/key ("namespace/name", or "name" for IngressClass). Returns true if it existed.
  bool erase(Kind kind, const std::string& key);
  bool contains(Kind kind, const std::string& key) const;
  size_t size() const;

  const Service* find_service(const std::string& ns, const std::string& name) const;
  // The EndpointSlices of namespace `ns` labelled kubernetes.io/service-name=`service`.
  std::vector<const EndpointSlice*> slices_for(const std::string& ns,
                                               const std::string& service) const;

 private:
  // "ns/service" -> slice keys, kept by upsert()/erase(): resolving every cluster by scanning
  // all slices would make a translation quadratic (10,000 Services took seconds).
  std::map<std::string, std::set<std::string>> slices_by_service_;
  void index_slice(const std::string& key, const EndpointSlice* slice, bool add);

 public:
};

// What changed in a Store since the previous IncrementalTranslator::translate(). The sources
// know it from their events (API watch events, the objects of a changed manifest file).
struct StoreChanges {
  // IngressClasses changed, a relist, or anything the caller cannot describe: nothing cached is
  // trusted.
  bool everything = false;
  std::set<std::string> ingresses;  // keys ("namespace/name") upserted or erased
  // "namespace/name" of Services that changed, appeared or vanished, or whose EndpointSlices
  // did (both the old and the new owner when a slice's service-name label changed).
  std::set<std::string> services;
  // Something other than an EndpointSlice changed (a Service, Ingress, Secret or class).
  bool beyond_endpoints = false;

  void ingress(const std::string& key) { ingresses.insert(key); }
  void service(const std::string& key) { services.insert(key); }
  // Records a change to the object `key` of `kind` as `store` holds it now (call before and
  // after changing it: an EndpointSlice may move from one Service to another).
  void object(const Store& store, Kind kind, const std::string& key);
  // Nothing at all changed (a Secret alone is a change: beyond_endpoints).
  bool empty() const {
    return !everything && !beyond_endpoints && ingresses.empty() && services.empty();
  }
  // Only EndpointSlices changed: refresh_endpoints() can apply it without a translation. Exact
  // only for changes recorded through object() (service() and ingress() do not say which kind).
  bool endpoints_only() const { return !everything && !beyond_endpoints && !services.empty(); }
  void clear() { *this = StoreChanges{}; }
};

// The file source's state: the last good objects of every manifest file, and the Store they
// merge into, kept current file by file (a change to one file touches only its objects).
class ManifestSet {
 public:
  // Loads `path` and, when it parses cleanly, replaces that file's objects; otherwise the
  // file's previous objects stay. Returns the load result (errors, notices).
  ManifestFile load(const std::string& path);
  // Replaces the objects of `path` (an already-loaded, valid file).
  void set_file(const std::string& path, std::vector<Object> objects);
  // Forgets a deleted file. Returns true if it was known.
  bool remove_file(const std::string& path);
  std::vector<std::string> files() const;

  struct Merged {
    Store store;
    // The same object in several files: the first file in sorted path order wins.
    std::vector<std::string> warnings;
  };
  // A copy of store() with duplicate_warnings().
  Merged merged() const;
  // The merged objects: for each kind and key, the object of the first file (in path order)
  // defining it.
  const Store& store() const { return store_; }
  std::vector<std::string> duplicate_warnings() const;
  // What changed in store() since the last call (for IncrementalTranslator), then forgets it.
  StoreChanges take_changes() { return std::exchange(changes_, StoreChanges{}); }

 private:
  using ObjectId = std::pair<Kind, std::string>;  // kind, object_key()
  // Where an object is defined: path -> its first index in that file, and how many definitions
  // there are in all (a file may repeat one).
  struct Definitions {
    std::map<std::string, size_t> where;
    size_t count = 0;
  };
  // Puts the winning definition of `id` (or none) into store_.
  void refresh(const ObjectId& id);

  std::map<std::string, std::vector<Object>> files_;  // sorted by path: the merge order
  std::map<ObjectId, Definitions> defined_;
  size_t duplicates_ = 0;  // definitions beyond the first of each object
  Store store_;
  StoreChanges changes_;
};

}  // namespace strait::controller
