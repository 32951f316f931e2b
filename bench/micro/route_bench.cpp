// route_request() at 10,000 hosts and 100,000 paths. Each iteration looks up one request out of
// 8,192 spread over every host, so the maps are probed cold-ish as on a busy proxy, not one hot
// entry. The _Hot variant cycles through 4 requests only: the cost of the probes themselves
// (hashing, comparisons) without cache misses.
#include <benchmark/benchmark.h>

#include "shared.hpp"
#include "strait/snapshot.hpp"

namespace strait::bench {
namespace {

constexpr size_t kRequests = 8192;  // power of two: index with a mask

void route(benchmark::State& state, RequestKind kind, size_t count = kRequests) {
  const Built& b = built();
  const Snapshot& snapshot = *b.translation.snapshot;
  const std::vector<Request> requests = make_requests(b.options, kind, count);
  // Check the corpus routes where it should before timing it.
  size_t routed = 0;
  for (const Request& r : requests) routed += route_request(snapshot, r.host, r.path).backend >= 0;
  size_t expected = kind == RequestKind::UnknownHost ? 0
                    : kind == RequestKind::Mixed     ? count / 4 * 3
                                                     : count;
  if (routed != expected) {
    state.SkipWithError("corpus does not route as expected");
    return;
  }
  size_t n = 0;
  for (auto _ : state) {
    const Request& r = requests[n++ & (count - 1)];
    RouteMatch m = route_request(snapshot, r.host, r.path);
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
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

BENCHMARK(BM_Route_ExactHostExactPath);
BENCHMARK(BM_Route_ExactHostDeepPrefix);
BENCHMARK(BM_Route_WildcardHost);
BENCHMARK(BM_Route_UnknownHost);
BENCHMARK(BM_Route_Mixed);
BENCHMARK(BM_Route_Mixed_Hot);

}  // namespace
}  // namespace strait::bench
