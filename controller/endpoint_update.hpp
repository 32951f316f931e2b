// The fast path for the most frequent change: EndpointSlices only (pods scale, roll, turn ready).
// Instead of translating every Ingress again, rebuild just the clusters of the Services whose
// slices changed; the new Snapshot shares the route table and every other cluster with the old.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "controller/store.hpp"
#include "strait/snapshot.hpp"

namespace strait::controller {

// `services` holds "namespace/name" keys. Returns null when the fast path does not apply (a
// cluster's Service or port is gone: only a full translation can say what that means), in which
// case the caller translates everything.
std::shared_ptr<Snapshot> refresh_endpoints(const Snapshot& previous, const Store& store,
                                            const std::set<std::string>& services);

}  // namespace strait::controller
