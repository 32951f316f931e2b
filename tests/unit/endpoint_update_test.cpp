// The EndpointSlice fast path: only the changed Service's cluster is rebuilt; the route table and
// every other cluster are shared with the previous snapshot, and the result routes exactly as a
// full translation would.
#include "controller/endpoint_update.hpp"

#include <gtest/gtest.h>

#include "controller/clusters.hpp"
#include "tests/unit/test_support.hpp"

namespace strait::controller::testing {
namespace {

Store two_services() {
  Store store;
  store.upsert(make_service("shop", "api", {{"http", 80}}));
  store.upsert(make_service("shop", "web", {{"http", 80}}));
  store.upsert(make_slice("shop", "api-1", "api", "http", 8080, {{"10.0.0.1"}}));
  store.upsert(make_slice("shop", "web-1", "web", "http", 8080, {{"10.0.1.1"}}));
  store.upsert(make_ingress("shop", "ing", "a.com",
                            {{"/api", "Prefix", "api", 80}, {"/", "Prefix", "web", 80}}));
  return store;
}

TEST(EndpointUpdate, RebuildsOnlyTheChangedClusterAndSharesTheRest) {
  Store store = two_services();
  Translation before = translate(store, {});
  store.upsert(make_slice("shop", "api-1", "api", "http", 8080, {{"10.0.0.1"}, {"10.0.0.2"}}));
  auto after = refresh_endpoints(*before.snapshot, store, {"shop/api"});
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->routes, before.snapshot->routes) << "the route table is shared";
  ASSERT_EQ(after->clusters.size(), before.snapshot->clusters.size());
  size_t replaced = 0;
  for (size_t i = 0; i < after->clusters.size(); ++i) {
    if (after->clusters[i] != before.snapshot->clusters[i]) {
      ++replaced;
      EXPECT_EQ(after->clusters[i]->service_name, "api");
      EXPECT_EQ(after->clusters[i]->endpoints.size(), 2u);
    }
  }
  EXPECT_EQ(replaced, 1u);
  // The same answer a full translation gives.
  Translation full = translate(store, {});
  EXPECT_TRUE(equivalent(*after, *full.snapshot));
  EXPECT_FALSE(equivalent(*after, *before.snapshot));
}

// Two ports may share a number (53/UDP "dns" and 53/TCP "dns-tcp"): a cluster is refreshed with
// the port the Ingress named, as the translation resolved it (by name; a number takes the first
// port with it), never merely one with the same number.
TEST(EndpointUpdate, RefreshesWithThePortTheIngressNamed) {
  Store store;
  store.upsert(make_service("net", "dns", {{"dns", 53}, {"dns-tcp", 53}}));
  store.upsert(make_slice("net", "dns-u", "dns", "dns", 5353, {{"10.0.2.1"}}));
  store.upsert(make_slice("net", "dns-t", "dns", "dns-tcp", 5354, {{"10.0.3.1"}}));
  Ingress ing = make_ingress(
      "net", "ing", "dns.example",
      {{"/udp", "Prefix", "dns"}, {"/tcp", "Prefix", "dns"}, {"/num", "Prefix", "dns", 53}});
  auto& paths = ing.spec.rules[0].http->paths;
  paths[0].backend.service->port = {std::string("dns"), std::nullopt};
  paths[1].backend.service->port = {std::string("dns-tcp"), std::nullopt};
  store.upsert(ing);
  Translation before = translate(store, {});
  ASSERT_EQ(before.snapshot->clusters.size(), 3u);
  store.upsert(make_slice("net", "dns-u", "dns", "dns", 5353, {{"10.0.2.1"}, {"10.0.2.2"}}));
  store.upsert(make_slice("net", "dns-t", "dns", "dns-tcp", 5354, {{"10.0.3.1"}, {"10.0.3.2"}}));
  auto after = refresh_endpoints(*before.snapshot, store, {"net/dns"});
  ASSERT_NE(after, nullptr);
  Translation full = translate(store, {});
  EXPECT_TRUE(equivalent(*after, *full.snapshot));
  for (const auto& c : after->clusters) {
    ASSERT_EQ(c->endpoints.size(), 2u) << c->name;
    const bool tcp = c->name.ends_with(":dns-tcp");
    EXPECT_EQ(c->endpoints[0].port, tcp ? 5354 : 5353) << c->name;
  }
}

TEST(EndpointUpdate, ClusterPortReadsTheNameItWasBuiltFrom) {
  const Service service = make_service("net", "dns", {{"dns", 53}, {"dns-tcp", 53}, {"web", 80}});
  auto name_of = [](const ServicePort* p) { return p == nullptr ? std::string("none") : p->name; };
  EXPECT_EQ(name_of(cluster_port(service, "net/dns:53")), "dns");  // the first with the number
  EXPECT_EQ(name_of(cluster_port(service, "net/dns:dns-tcp")), "dns-tcp");
  EXPECT_EQ(name_of(cluster_port(service, "net/dns:80")), "web");
  // Malformed or unknown: no port, so the caller translates everything instead.
  for (const char* bad : {"net/dns", "net/dns:", "net/dns:8080", "net/dns:-53", "net/dns:5x3",
                          "net/dns:99999999999999999999", "net/dns:DNS"}) {
    EXPECT_EQ(cluster_port(service, bad), nullptr) << bad;
  }
}

TEST(EndpointUpdate, ServiceKeysMatchWithFewAndManyKeys) {
  for (size_t count : {size_t{1}, size_t{8}, size_t{9}, size_t{40}}) {
    std::set<std::string> keys = {"no-slash"};
    for (size_t i = 0; i < count; ++i) keys.insert("ns" + std::to_string(i) + "/svc");
    const ServiceKeys match(keys);
    EXPECT_TRUE(match.contains("ns0", "svc")) << count;
    EXPECT_TRUE(match.contains("ns" + std::to_string(count - 1), "svc")) << count;
    EXPECT_FALSE(match.contains("ns0", "svc2")) << count;
    EXPECT_FALSE(match.contains("ns", "0/svc")) << count;
    EXPECT_FALSE(match.contains("no-slash", "")) << count;
  }
}

TEST(EndpointUpdate, GivesUpWhenTheServiceIsGone) {
  Store store = two_services();
  Translation before = translate(store, {});
  store.erase(Kind::Service, "shop/api");
  EXPECT_EQ(refresh_endpoints(*before.snapshot, store, {"shop/api"}), nullptr);
}

TEST(EndpointUpdate, UnrelatedServicesChangeNothing) {
  Store store = two_services();
  Translation before = translate(store, {});
  auto after = refresh_endpoints(*before.snapshot, store, {"other/svc"});
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->clusters, before.snapshot->clusters);
}

}  // namespace
}  // namespace strait::controller::testing
