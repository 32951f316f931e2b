// The pure function from the object store to a routing Snapshot: every piece of Kubernetes
// Ingress semantics strait implements lives behind translate(). No I/O, no clocks, no globals:
// the same Store and options always give an equivalent Snapshot and the same warnings.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "controller/store.hpp"
#include "strait/snapshot.hpp"

namespace strait::controller {

struct TranslateOptions {
  std::string ingress_class = "strait";  // IngressClass name (and legacy annotation value) we own
  std::string controller_class = "strait.io/ingress-controller";  // IngressClass spec.controller
  bool watch_ingress_without_class = false;
  std::string default_backend_service;  // "namespace/name"; empty = built-in 404
  std::string default_ssl_certificate;  // "namespace/name"; empty = self-signed at start
};

struct Warning {
  std::string object;  // "Ingress default/web"
  std::string message;
  bool operator==(const Warning&) const = default;
};

struct Translation {
  std::shared_ptr<Snapshot> snapshot;
  std::vector<Warning> warnings;
};

Translation translate(const Store& store, const TranslateOptions& options);

// translate() that remembers, between calls, what does not depend on the other objects: per
// Ingress its class decision, key strings and validation result, and the clusters (endpoint
// lists) of Services whose objects and EndpointSlices did not change. A change to one Ingress
// then costs the merge of the cached parts instead of validating every Ingress and parsing and
// formatting every endpoint again. The result (Snapshot and warnings) equals translate()'s on
// the same Store: cross-Ingress rules (oldest wins, fallbacks, TLS, cluster numbering) are still
// decided over every Ingress on each call, from the cached parts.
class IncrementalTranslator {
 public:
  explicit IncrementalTranslator(TranslateOptions options);
  ~IncrementalTranslator();
  IncrementalTranslator(const IncrementalTranslator&) = delete;
  IncrementalTranslator& operator=(const IncrementalTranslator&) = delete;

  // `changes` must name everything that changed in `store` since the previous call (the first
  // call and any call with changes.everything trust nothing).
  Translation translate(const Store& store, const StoreChanges& changes);
  // The caller applied an endpoints-only change itself (refresh_endpoints(): `snapshot` is the
  // result, `services` the Services whose slices changed): the cache takes its clusters, so the
  // next call need not hear of those Services again.
  void endpoints_refreshed(const Snapshot& snapshot, const std::set<std::string>& services);
  const TranslateOptions& options() const { return options_; }
  // How many translations copied the unchanged hosts from the previous table, and how many
  // merged every Ingress (for tests and benchmarks).
  struct Stats {
    size_t reused = 0, merged = 0;
  };
  const Stats& stats() const { return stats_; }

  struct Cache;

 private:
  TranslateOptions options_;
  std::unique_ptr<Cache> cache_;
  Stats stats_;
};

// Whether this controller serves `ingress` (class selection; see ingress_class.cpp).
bool is_ours(const Ingress& ingress, const Store& store, const TranslateOptions& options);

// A Prefix rule path's key in VirtualHost::prefix: trailing slashes removed, "/" stays "/".
std::string_view prefix_key(std::string_view path);

}  // namespace strait::controller
