// route_request() at 10,000 hosts and 100,000 paths. Each iteration looks up one request out of
// 8,192 spread over every host, so the tables are probed cold-ish as on a busy proxy, not one
// hot entry. The _Hot variant cycles through 4 requests only: the cost of the probes themselves
// (hashing, comparisons) without cache misses. _Random: 65,536 requests over the whole table
// (any host, any rule path, paths below them, unmatched paths, unknown hosts): the honest
// cold-cache figure (the index and the requests are far larger than L2; on this machine's
// 480 MB L3 they are L3 hits, not DRAM misses). _Maps: the same lookups through the
// VirtualHost maps (a table without its RouteIndex), i.e. the lookup before the index existed,
// measured in the same run.
#include <benchmark/benchmark.h>

#include "shared.hpp"
#include "strait/snapshot.hpp"

namespace strait::bench {
namespace {

constexpr size_t kRequests = 8192;  // power of two: index with a mask
constexpr size_t kRandomRequests = 65536;

// The translated snapshot, or a copy of it whose route table has no RouteIndex.
const Snapshot& snapshot_for(bool maps) {
  const Built& b = built();
  if (!maps) return *b.translation.snapshot;
  static const Snapshot* unindexed = [&] {
    auto* s = new Snapshot;  // lives for the process
    s->routes = std::make_shared<RouteTable>(*b.translation.snapshot->routes);  // copy: no index
    s->clusters = b.translation.snapshot->clusters;
    return s;
  }();
  return *unindexed;
}

size_t expected_routed(RequestKind kind, size_t count) {
  switch (kind) {
    case RequestKind::UnknownHost:
      return 0;
    case RequestKind::Mixed:
      return count / 4 * 3;
    default:
      return count;
  }
}

void route(benchmark::State& state, RequestKind kind, size_t count = kRequests, bool maps = false) {
  const Built& b = built();
  const Snapshot& snapshot = snapshot_for(maps);
  const std::vector<Request> requests = make_requests(b.options, kind, count);
  // Check the corpus routes where it should, and identically with and without the index,
  // before timing it.
  size_t routed = 0;
  for (const Request& r : requests) {
    RouteMatch m = route_request(snapshot, r.host, r.path);
    RouteMatch reference = route_request(snapshot_for(true), r.host, r.path);
    // The unindexed table is a copy: compare what the pointers point at.
    if (m.backend != reference.backend || (m.route == nullptr) != (reference.route == nullptr) ||
        (m.route != nullptr && *m.route != *reference.route) ||
        m.vhost->host != reference.vhost->host) {
      state.SkipWithError("index and maps disagree");
      return;
    }
    routed += m.route != nullptr;
  }
  if (kind != RequestKind::Random && routed != expected_routed(kind, count)) {
    state.SkipWithError("corpus does not route as expected");
    return;
  }
  size_t n = 0;
  for (auto _ : state) {
    // A proxy routes a request it has just parsed: its bytes are in L1. Touch the request 8
    // lookups ahead so the figure is the table's cost, not the benchmark's own request array.
    const Request& ahead = requests[(n + 8) & (count - 1)];
    __builtin_prefetch(ahead.host.data());
    __builtin_prefetch(ahead.path.data());
    const Request& r = requests[n++ & (count - 1)];
    RouteMatch m = route_request(snapshot, r.host, r.path);
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["routed_share"] = static_cast<double>(routed) / static_cast<double>(count);
  // The index's one allocation (host tables and host blocks), per route of the corpus.
  state.counters["index_bytes_per_route"] =
      static_cast<double>(snapshot.routes->index.arena_size) /
      static_cast<double>(b.options.ingresses * kPathsPerIngress);
}

void BM_Route_ExactHostExactPath(benchmark::State& s) {
  route(s, RequestKind::ExactPath);
}
void BM_Route_ExactHostDeepPrefix(benchmark::State& s) {
  route(s, RequestKind::DeepPrefix);
}
void BM_Route_WildcardHost(benchmark::State& s) {
  route(s, RequestKind::Wildcard);
}
void BM_Route_UnknownHost(benchmark::State& s) {
  route(s, RequestKind::UnknownHost);
}
void BM_Route_Mixed(benchmark::State& s) {
  route(s, RequestKind::Mixed);
}
void BM_Route_Mixed_Hot(benchmark::State& s) {
  route(s, RequestKind::Mixed, 4);
}
void BM_Route_Random(benchmark::State& s) {
  route(s, RequestKind::Random, kRandomRequests);
}
void BM_Route_Mixed_Maps(benchmark::State& s) {
  route(s, RequestKind::Mixed, kRequests, true);
}
void BM_Route_Mixed_Hot_Maps(benchmark::State& s) {
  route(s, RequestKind::Mixed, 4, true);
}
void BM_Route_Random_Maps(benchmark::State& s) {
  route(s, RequestKind::Random, kRandomRequests, true);
}

BENCHMARK(BM_Route_ExactHostExactPath);
BENCHMARK(BM_Route_ExactHostDeepPrefix);
BENCHMARK(BM_Route_WildcardHost);
BENCHMARK(BM_Route_UnknownHost);
BENCHMARK(BM_Route_Mixed);
BENCHMARK(BM_Route_Mixed_Hot);
BENCHMARK(BM_Route_Random);
BENCHMARK(BM_Route_Mixed_Maps);
BENCHMARK(BM_Route_Mixed_Hot_Maps);
BENCHMARK(BM_Route_Random_Maps);

}  // namespace
}  // namespace strait::bench
