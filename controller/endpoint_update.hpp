// The fast path for the most frequent change: EndpointSlices only (pods scale, roll, turn ready).
// Instead of translating every Ingress again, rebuild just the clusters of the Services whose
// slices changed; the new Snapshot shares the route table and every other cluster with the old.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "controller/store.hpp"
#include "strait/snapshot.hpp"

namespace strait::controller {

// A set of "namespace/name" Service keys, asked about a namespace and a name without building the
// key: the endpoint paths ask it for every cluster (10,000 at scale), about one or two Services.
class ServiceKeys {
 public:
  explicit ServiceKeys(const std::set<std::string>& keys);
  bool contains(std::string_view ns, std::string_view name) const;

 private:
  static constexpr size_t kScanMax = 8;
  const std::set<std::string>& keys_;  // not changed while this lives
  const bool scan_;                    // few keys: compare split_ instead of building keys
  std::vector<std::pair<std::string_view, std::string_view>> split_;
  mutable std::string scratch_;
};

// `services` holds "namespace/name" keys. Returns null when the fast path does not apply (a
// cluster's Service or port is gone: only a full translation can say what that means), in which
// case the caller translates everything.
std::shared_ptr<Snapshot> refresh_endpoints(const Snapshot& previous, const Store& store,
                                            const std::set<std::string>& services);

}  // namespace strait::controller
