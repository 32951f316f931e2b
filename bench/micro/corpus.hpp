// A synthetic cluster at the scale the targets name: 10,000 Ingresses (one host each, 10 paths
// each: 100,000 paths), 10,000 Services, one EndpointSlice of 5 endpoints per Service. Every
// fifth host is a wildcard. Built in code (no YAML) so the benchmarks time only what they name.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "controller/store.hpp"

namespace strait::bench {

struct CorpusOptions {
  size_t ingresses = 10000;
  size_t endpoints_per_service = 5;
  size_t wildcard_every = 5;  // ingress i % wildcard_every == 0 gets "*.w<i>.bench.example"
  // Short names ("ns7/svc123") fit std::string's small buffer; long ones
  // ("team-7-production/checkout-service-123") are what real clusters use and allocate.
  bool long_names = false;
};

inline constexpr size_t kPathsPerIngress = 10;

std::string namespace_of(const CorpusOptions& o, size_t i);
std::string service_of(const CorpusOptions& o, size_t i);
// Host of ingress i as written in its rule ("h12.bench.example" or "*.w10.bench.example").
std::string host_of(const CorpusOptions& o, size_t i);
bool is_wildcard(const CorpusOptions& o, size_t i);

controller::EndpointSlice make_slice(const CorpusOptions& o, size_t i, size_t endpoints);
controller::Store make_store(const CorpusOptions& o);

// One request for the route benchmarks: owned strings, looked up through string_views.
struct Request {
  std::string host;
  std::string path;
};

enum class RequestKind { ExactPath, DeepPrefix, Wildcard, UnknownHost, Mixed, Random };
// `count` requests (a power of two) spread over every host, deterministic. Random: any host of
// the table (exact, or a label under a wildcard, or unknown 1 in 16) with any of its ten rule
// paths, a path below one, or an unmatched one, so every slot of the table is as likely to be
// probed as any other.
std::vector<Request> make_requests(const CorpusOptions& o, RequestKind kind, size_t count);

}  // namespace strait::bench
