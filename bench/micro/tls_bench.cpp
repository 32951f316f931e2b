// TLS certificate choice by SNI among 10,000 certificate names (8,000 exact, 2,000 wildcards),
// as the ClientHello callback makes it for every handshake: CertificateSet::select(). The names
// share 100 distinct certificates (the lookup's cost depends on the number of names, not of
// certificates). Also: building the set, which Proxy::publish does whenever the route table
// changes (reusing the previous set's contexts).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "strait/snapshot.hpp"
#include "tls/certificate_set.hpp"
#include "tls/tls_context.hpp"

namespace strait::bench {
namespace {

constexpr size_t kNames = 10000;
constexpr size_t kWildcardEvery = 5;  // name i % 5 == 0 is "*.w<i>.tls.example"
constexpr size_t kCertificates = 100;
constexpr size_t kLookups = 8192;  // power of two

struct TlsCorpus {
  RouteTable routes;
  std::shared_ptr<SSL_CTX> fallback;
  std::shared_ptr<const tls::CertificateSet> set;
};

const TlsCorpus& corpus() {
  static const TlsCorpus* c = [] {
    auto* out = new TlsCorpus;  // lives for the process
    std::vector<tls::PemPair> pems;
    for (size_t k = 0; k < kCertificates; ++k) {
      pems.push_back(tls::make_self_signed("cert" + std::to_string(k) + ".tls.example"));
    }
    for (size_t i = 0; i < kNames; ++i) {
      TlsBinding b;
      b.host = i % kWildcardEvery == 0 ? "*.w" + std::to_string(i) + ".tls.example"
                                       : "h" + std::to_string(i) + ".tls.example";
      b.secret = "ns/cert" + std::to_string(i % kCertificates);
      b.ingress = "ns/ing" + std::to_string(i);
      b.cert_pem = pems[i % kCertificates].cert_pem;
      b.key_pem = pems[i % kCertificates].key_pem;
      out->routes.tls.push_back(std::move(b));
    }
    tls::PemPair fallback = tls::make_self_signed("fallback");
    std::string error;
    out->fallback = std::shared_ptr<SSL_CTX>(
        tls::make_server_context(fallback.cert_pem, fallback.key_pem, error).release(),
        SSL_CTX_free);
    std::vector<std::string> warnings;
    out->set = tls::CertificateSet::build(out->routes, nullptr, out->fallback, warnings);
    return out;
  }();
  return *c;
}

enum class NameKind { Exact, Wildcard, Unknown };

void select(benchmark::State& state, NameKind kind) {
  const TlsCorpus& c = corpus();
  std::mt19937_64 rng(7);
  std::vector<std::string> names;
  for (size_t n = 0; n < kLookups; ++n) {
    size_t i = rng() % kNames;
    bool wildcard = i % kWildcardEvery == 0;
    if (kind == NameKind::Exact && wildcard) i = (i + 1) % kNames;
    if (kind == NameKind::Wildcard && !wildcard) i -= i % kWildcardEvery;
    switch (kind) {
      case NameKind::Exact:
        names.push_back("h" + std::to_string(i) + ".tls.example");
        break;
      case NameKind::Wildcard:
        names.push_back("api" + std::to_string(n % 100) + ".W" + std::to_string(i) +
                        ".tls.example");
        break;
      case NameKind::Unknown:
        names.push_back("x" + std::to_string(n) + ".unknown.example");
        break;
    }
  }
  size_t matched = 0;
  for (const std::string& name : names) matched += c.set->select(name) != c.fallback.get();
  if (matched != (kind == NameKind::Unknown ? 0 : names.size())) {
    state.SkipWithError("names do not select as expected");
    return;
  }
  size_t n = 0;
  for (auto _ : state) {
    SSL_CTX* ctx = c.set->select(names[n++ & (kLookups - 1)]);
    benchmark::DoNotOptimize(ctx);
  }
  state.counters["names"] = static_cast<double>(kNames);
}

void BM_TlsSelect10k_Exact(benchmark::State& s) {
  select(s, NameKind::Exact);
}
void BM_TlsSelect10k_Wildcard(benchmark::State& s) {
  select(s, NameKind::Wildcard);
}
void BM_TlsSelect10k_Unknown(benchmark::State& s) {
  select(s, NameKind::Unknown);
}

// What Proxy::publish runs when the route table changed: a new set from the bindings, every
// context reused from the previous set.
void BM_TlsBuild10k_Reusing(benchmark::State& state) {
  const TlsCorpus& c = corpus();
  for (auto _ : state) {
    std::vector<std::string> warnings;
    auto set = tls::CertificateSet::build(c.routes, c.set.get(), c.fallback, warnings);
    benchmark::DoNotOptimize(set);
  }
  state.counters["certificates"] = static_cast<double>(kCertificates);
}

BENCHMARK(BM_TlsSelect10k_Exact);
BENCHMARK(BM_TlsSelect10k_Wildcard);
BENCHMARK(BM_TlsSelect10k_Unknown);
BENCHMARK(BM_TlsBuild10k_Reusing)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace strait::bench
