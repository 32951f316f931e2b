// The object cache the translator reads: every object by kind and key.
//
// Fed by the API watcher (upsert/erase per event) or by the file source (ManifestSet::merged()).
#pragma once

#include <map>
#include <set>
#include <string>
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

// The file source's state: the last good objects of every manifest file, merged on demand.
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
  Merged merged() const;

 private:
  std::map<std::string, std::vector<Object>> files_;  // sorted by path: the merge order
};

}  // namespace strait::controller
