// equivalent(): lets the publisher skip a Snapshot that routes exactly like the current one
// (most store events change nothing a request can observe).
#include "strait/snapshot.hpp"

namespace strait {

bool equivalent(const Snapshot& a, const Snapshot& b) {
  if (a.clusters.size() != b.clusters.size()) return false;
  for (size_t i = 0; i < a.clusters.size(); ++i) {
    const auto& x = a.clusters[i];
    const auto& y = b.clusters[i];
    if (x != y && (!x || !y || !(*x == *y))) return false;
  }
  return a.routes == b.routes || *a.routes == *b.routes;
}

}  // namespace strait
