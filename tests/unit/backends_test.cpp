// Backend resolution: Service port by number or name, EndpointSlices, readiness, ExternalName.
#include <gtest/gtest.h>

#include "controller/clusters.hpp"
#include "tests/unit/test_support.hpp"

namespace strait::controller::testing {
namespace {

std::vector<std::string> endpoints_of(const Snapshot& s, const std::string& host,
                                      const std::string& path = "/") {
  RouteMatch m = route_request(s, host, path);
  std::vector<std::string> out;
  if (m.backend < 0) return {"backend " + std::to_string(m.backend)};
  for (const Endpoint& e : s.clusters.at(static_cast<size_t>(m.backend))->endpoints) {
    out.push_back(e.text);
  }
  return out;
}

using Strings = std::vector<std::string>;

TEST(Backends, PortByNumberAndByName) {
  Store store;
  store.upsert(make_service("shop", "api", {{"http", 80}, {"admin", 9000}}));
  store.upsert(make_slice("shop", "api-1", "api", "http", 8080, {{"10.0.0.1"}}));
  store.upsert(make_slice("shop", "api-2", "api", "admin", 9090, {{"10.0.0.1"}}));
  Ingress ing = make_ingress("shop", "web", "a.com", {{"/num", "Prefix", "api", 80}});
  HTTPIngressPath by_name;
  by_name.path = "/name";
  by_name.path_type = "Prefix";
  by_name.backend.service = IngressServiceBackend{"api", {"admin", std::nullopt}};
  ing.spec.rules[0].http->paths.push_back(by_name);
  store.upsert(ing);
  Translation t = translate(store, {});
  EXPECT_TRUE(t.warnings.empty()) << warnings_text(t);
  EXPECT_EQ(endpoints_of(*t.snapshot, "a.com", "/num"), Strings{"10.0.0.1:8080"});
  EXPECT_EQ(endpoints_of(*t.snapshot, "a.com", "/name"), Strings{"10.0.0.1:9090"});
  EXPECT_EQ(cluster_of(*t.snapshot, "a.com", "/num"), "shop/api:80");
  EXPECT_EQ(cluster_of(*t.snapshot, "a.com", "/name"), "shop/api:admin");
}

TEST(Backends, UnnamedPortMatchesUnnamedOrAbsentSlicePort) {
  Store store;
  store.upsert(make_service("default", "svc", {{"", 80}}));
  store.upsert(make_slice("default", "s1", "svc", "", 8080, {{"10.0.0.1"}}));
  store.upsert(make_slice("default", "s2", "svc", std::nullopt, 8080, {{"10.0.0.2"}}));
  store.upsert(make_slice("default", "s3", "svc", "other", 7070, {{"10.0.0.3"}}));
  store.upsert(make_ingress("default", "web", "a.com", {{"/"}}));
  Translation t = translate(store, {});
  EXPECT_EQ(endpoints_of(*t.snapshot, "a.com"), (Strings{"10.0.0.1:8080", "10.0.0.2:8080"}));
}

TEST(Backends, ReadinessFiltering) {
  Store store;
  store.upsert(make_service("default", "svc"));
  store.upsert(make_slice("default", "s1", "svc", "", 8080,
                          {{"10.0.0.1"},                        // nil ready = ready
                           {"10.0.0.2", true},                  // ready
                           {"10.0.0.3", false},                 // not ready
                           {"10.0.0.4", false, true, true},     // draining: unused while any ready
                           {"10.0.0.5", true, false, true}}));  // ready wins over serving
  store.upsert(make_ingress("default", "web", "a.com", {{"/"}}));
  Translation t = translate(store, {});
  EXPECT_EQ(endpoints_of(*t.snapshot, "a.com"),
            (Strings{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.5:8080"}));
}

TEST(Backends, TerminatingFallbackWhenNoneReady) {
  Store store;
  store.upsert(make_service("default", "svc"));
  store.upsert(make_slice("default", "s1", "svc", "", 8080,
                          {{"10.0.0.3", false},                      // not ready, not terminating
                           {"10.0.0.4", false, true, true},          // serving + terminating
                           {"10.0.0.5", false, std::nullopt, true},  // serving nil = true
                           {"10.0.0.6", false, false, true}}));      // not serving
  store.upsert(make_ingress("default", "web", "a.com", {{"/"}}));
  Translation t = translate(store, {});
  EXPECT_EQ(endpoints_of(*t.snapshot, "a.com"), (Strings{"10.0.0.4:8080", "10.0.0.5:8080"}));
}

TEST(Backends, MultipleSlicesDedupedAndIpv6) {
  Store store;
  store.upsert(make_service("default", "svc", {{"http", 80}}));
  store.upsert(make_slice("default", "s1", "svc", "http", 8080, {{"10.0.0.2"}, {"10.0.0.1"}}));
  store.upsert(make_slice("default", "s2", "svc", "http", 8080, {{"10.0.0.1"}, {"10.0.0.3"}}));
  store.upsert(make_slice("default", "s3", "svc", "http", 8080, {{"fd00::1"}}, "IPv6"));
  store.upsert(make_slice("default", "s4", "svc", "http", 8080, {{"pod.example.com"}}, "FQDN"));
  store.upsert(make_slice("other", "s5", "svc", "http", 8080, {{"10.9.9.9"}}));  // other ns
  store.upsert(make_slice("default", "s6", "svc2", "http", 8080, {{"10.8.8.8"}}));
  store.upsert(make_ingress("default", "web", "a.com", {{"/", "Prefix", "svc", 80}}));
  Translation t = translate(store, {});
  EXPECT_EQ(endpoints_of(*t.snapshot, "a.com"),
            (Strings{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", "[fd00::1]:8080"}));
  const Cluster& c = *t.snapshot->clusters.at(0);
  EXPECT_TRUE(c.endpoints.back().ip.v6);
  EXPECT_EQ(c.endpoints.front().ip.bytes[0], 10);
  EXPECT_EQ(c.endpoints.front().ip.bytes[3], 1);
}

TEST(Backends, ServiceWithoutEndpointsIsAnEmptyCluster) {
  Store store;
  store.upsert(make_service("default", "svc"));
  store.upsert(make_ingress("default", "web", "a.com", {{"/"}}));
  Translation t = translate(store, {});
  RouteMatch m = route_request(*t.snapshot, "a.com", "/");
  ASSERT_EQ(m.backend, 0);
  EXPECT_TRUE(t.snapshot->clusters[0]->endpoints.empty());
  EXPECT_TRUE(t.warnings.empty()) << warnings_text(t);
}

TEST(Backends, UnknownServiceOrPortIs503WithWarningOthersKeepWorking) {
  Store store;
  store.upsert(make_service("default", "svc", {{"http", 80}}));
  Ingress ing = make_ingress("default", "web", "a.com",
                             {{"/ok", "Prefix", "svc", 80},
                              {"/nosvc", "Prefix", "ghost", 80},
                              {"/noport", "Prefix", "svc", 81}});
  store.upsert(ing);
  Translation t = translate(store, {});
  EXPECT_EQ(cluster_of(*t.snapshot, "a.com", "/ok"), "default/svc:80");
  EXPECT_EQ(cluster_of(*t.snapshot, "a.com", "/nosvc"), "503");
  EXPECT_EQ(cluster_of(*t.snapshot, "a.com", "/noport"), "503");
  EXPECT_TRUE(has_warning(t, "Ingress default/web", "Service default/ghost not found"))
      << warnings_text(t);
  EXPECT_TRUE(has_warning(t, "Ingress default/web", "has no port 81")) << warnings_text(t);
}

TEST(Backends, ServiceInAnotherNamespaceIsNotUsed) {
  Store store;
  store.upsert(make_service("other", "svc"));
  store.upsert(make_ingress("default", "web", "a.com", {{"/"}}));
  Translation t = translate(store, {});
  EXPECT_EQ(cluster_of(*t.snapshot, "a.com", "/"), "503");
}

TEST(Backends, ClustersAreDeduplicated) {
  Store store;
  store.upsert(make_service("default", "svc"));
  store.upsert(make_ingress("default", "one", "a.com", {{"/a"}, {"/b"}}));
  store.upsert(make_ingress("default", "two", "b.com", {{"/"}}));
  Translation t = translate(store, {});
  EXPECT_EQ(t.snapshot->clusters.size(), 1u);
}

TEST(Backends, ExternalName) {
  Store store;
  Service svc = make_service("default", "ext", {{"https", 443}});
  svc.type = "ExternalName";
  svc.external_name = "api.example.net";
  store.upsert(svc);
  store.upsert(make_ingress("default", "web", "a.com", {{"/", "Prefix", "ext", 443}}));
  Translation t = translate(store, {});
  ASSERT_EQ(t.snapshot->clusters.size(), 1u);
  const Cluster& c = *t.snapshot->clusters[0];
  EXPECT_EQ(c.external_name, "api.example.net");
  EXPECT_EQ(c.external_port, 443);
  EXPECT_TRUE(c.endpoints.empty());
}

TEST(Backends, AppProtocolSelectsUpstreamProtocol) {
  EXPECT_EQ(upstream_protocol(std::nullopt), UpstreamProtocol::Http1);
  EXPECT_EQ(upstream_protocol("http"), UpstreamProtocol::Http1);
  EXPECT_EQ(upstream_protocol("kubernetes.io/ws"), UpstreamProtocol::Http1);
  EXPECT_EQ(upstream_protocol("kubernetes.io/h2c"), UpstreamProtocol::H2c);
  EXPECT_EQ(upstream_protocol("grpc"), UpstreamProtocol::H2c);
  EXPECT_EQ(upstream_protocol("https"), UpstreamProtocol::Tls);
  EXPECT_EQ(upstream_protocol("kubernetes.io/wss"), UpstreamProtocol::Tls);

  // Each Service port carries its own: one Service can serve gRPC and HTTPS side by side.
  Store store;
  Service svc = make_service("default", "svc", {{"grpc", 50051}, {"web", 443}, {"plain", 80}});
  svc.ports[0].app_protocol = "grpc";
  svc.ports[1].app_protocol = "https";
  store.upsert(svc);
  store.upsert(make_ingress(
      "default", "web", "a.com",
      {{"/g", "Prefix", "svc", 50051}, {"/w", "Prefix", "svc", 443}, {"/p", "Prefix", "svc", 80}}));
  Translation t = translate(store, {});
  auto protocol_of = [&](const char* path) {
    RouteMatch m = route_request(*t.snapshot, "a.com", path);
    return t.snapshot->clusters.at(static_cast<size_t>(m.backend))->protocol;
  };
  EXPECT_EQ(protocol_of("/g"), UpstreamProtocol::H2c);
  EXPECT_EQ(protocol_of("/w"), UpstreamProtocol::Tls);
  EXPECT_EQ(protocol_of("/p"), UpstreamProtocol::Http1);
}

TEST(Backends, ResourceBackendIs503) {
  Store store;
  Ingress ing = make_ingress("default", "web", "a.com", {{"/"}});
  ing.spec.rules[0].http->paths[0].backend = IngressBackend{
      std::nullopt, TypedLocalObjectReference{"k8s.example.com", "StorageBucket", "static"}};
  store.upsert(ing);
  Translation t = translate(store, {});
  EXPECT_EQ(cluster_of(*t.snapshot, "a.com", "/"), "503");
  EXPECT_TRUE(has_warning(t, "Ingress default/web", "resource backends")) << warnings_text(t);
}

}  // namespace
}  // namespace strait::controller::testing
