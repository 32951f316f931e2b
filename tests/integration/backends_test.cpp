// From an Ingress backend to pods: Service ports by name and number, EndpointSlices, readiness,
// round-robin, and the 503s for backends that cannot be resolved or have no ready endpoint.
#include "harness/fixture.hpp"

namespace it {
namespace {

using k8s::Ingress;
using k8s::IngressPath;
using k8s::SliceEndpoint;

class BackendsTest : public IntegrationTest {
 protected:
  static IngressPath by_number(const std::string& p, const std::string& service, int port = 80) {
    return {p, "Prefix", {service, port, ""}};
  }
  static IngressPath by_name(const std::string& p, const std::string& service,
                             const std::string& port) {
    return {p, "Prefix", {service, 0, port}};
  }
  static Ingress ingress(const std::string& host, std::vector<IngressPath> paths) {
    Ingress ing;
    ing.name = "backends";
    ing.rules = {{host, std::move(paths)}};
    return ing;
  }
};

TEST_F(BackendsTest, ExternalNameServicesAreResolvedAndPooledFromHttp1AndHttp2Clients) {
  // The external name is resolved when a connection is opened (a literal address here: the
  // resolver takes it like any name); the Service port is the port strait connects to.
  EchoPod& pod = start_pod("external");
  write_manifest("apps.yaml", k8s::external_name_service("default", "ext", pod.address, pod.port));
  write_manifest("ingress.yaml",
                 k8s::ingress(ingress("ext.example.com", {by_number("/", "ext", pod.port)})));
  start_strait({.args = {}, .workers = 1});
  const std::string url = strait().url("/via-dns");
  const auto h1 = curl({"-H", "Host: ext.example.com", url, url});
  ASSERT_EQ(h1.transfers.size(), 2u) << h1.describe();
  EXPECT_EQ(h1.transfers[0].status, 200);
  EXPECT_EQ(h1.transfers[1].status, 200);
  const auto h2 = curl({"--http2-prior-knowledge", "-H", "Host: ext.example.com", url});
  EXPECT_EQ(h2.status(), 200) << h2.describe();
  const BackendStats pod_stats = stats(pod);
  EXPECT_EQ(pod_stats.requests, 3u);
  // One connection from strait, reused by all three, plus the one this /__stats came on.
  EXPECT_EQ(pod_stats.connections, 2u) << "the connection to the external name was not pooled";
  // A name that does not resolve: 502, and the process carries on.
  write_manifest("apps.yaml",
                 k8s::external_name_service("default", "ext", "nowhere.invalid", pod.port));
  EXPECT_TRUE(await_pod("ext.example.com", "/", "status:502")) << strait_log();
}

TEST_F(BackendsTest, NoReadyEndpointGives503) {
  auto pods = start_pods({"unready"});
  write_manifest("apps.yaml",
                 k8s::documents({k8s::app("default", "all-unready", {pods[0]->address},
                                          pods[0]->port, {pods[0]->address}),
                                 k8s::service("default", "no-slice", {{"http", 80, "http"}}),
                                 k8s::app("default", "empty-slice", {}, pods[0]->port)}));
  write_manifest("ingress.yaml",
                 k8s::ingress(ingress("b.example.com", {by_number("/unready", "all-unready"),
                                                        by_number("/no-slice", "no-slice"),
                                                        by_number("/empty", "empty-slice")})));
  start_strait();
  const auto r = curl({strait().url("/unready"), "-H", "Host: b.example.com"});
  EXPECT_EQ(r.status(), 503) << r.describe();
  EXPECT_EQ(pod_for("b.example.com", "/no-slice"), "status:503");
  EXPECT_EQ(pod_for("b.example.com", "/empty"), "status:503");
  EXPECT_EQ(stats(*pods[0]).requests, 0u) << "a not-ready pod never gets traffic";
}

TEST_F(BackendsTest, UnknownServiceOrPortGives503WhileOtherRoutesWork) {
  auto pods = start_pods({"good"});
  write_manifest("apps.yaml", k8s::app("default", "good", {pods[0]->address}, pods[0]->port));
  Ingress mixed =
      ingress("mixed.example.com",
              {by_number("/good", "good"), by_number("/missing", "missing-svc"),
               by_number("/bad-port", "good", 8081), by_name("/bad-port-name", "good", "nope")});
  mixed.name = "mixed";
  write_manifest("ingress.yaml", k8s::documents({k8s::ingress(mixed),
                                                 k8s::ingress(k8s::simple_ingress(
                                                     "other", "other.example.com", "/", "good"))}));
  start_strait();
  EXPECT_EQ(pod_for("mixed.example.com", "/good"), "good");
  EXPECT_EQ(pod_for("mixed.example.com", "/missing"), "status:503");
  EXPECT_EQ(pod_for("mixed.example.com", "/bad-port"), "status:503");
  EXPECT_EQ(pod_for("mixed.example.com", "/bad-port-name"), "status:503");
  EXPECT_EQ(pod_for("other.example.com", "/x"), "good");
  EXPECT_TRUE(await_log("mixed.*missing-svc|missing-svc.*mixed", 5s))
      << "expected a warning naming the Ingress (default/mixed) and the unknown Service";
}

TEST_F(BackendsTest, ServicesResolveOnlyInTheIngressNamespace) {
  auto pods = start_pods({"shared"});
  write_manifest("apps.yaml", k8s::app("default", "shared", {pods[0]->address}, pods[0]->port));
  Ingress same = k8s::simple_ingress("same", "same.example.com", "/", "shared");
  Ingress other = k8s::simple_ingress("other", "other.example.com", "/", "shared");
  other.ns = "team-a";
  write_manifest("ingress.yaml", k8s::documents({k8s::ingress(same), k8s::ingress(other)}));
  start_strait();
  EXPECT_EQ(pod_for("same.example.com", "/"), "shared");
  EXPECT_EQ(pod_for("other.example.com", "/"), "status:503");
}

TEST_F(BackendsTest, NotReadyEndpointsNeverGetTraffic) {
  auto pods = start_pods({"ready", "not-ready"});
  write_manifest("apps.yaml", k8s::app("default", "svc", {pods[0]->address, pods[1]->address},
                                       pods[0]->port, {pods[1]->address}));
  write_manifest("ingress.yaml",
                 k8s::ingress(k8s::simple_ingress("r", "r.example.com", "/", "svc")));
  start_strait();
  const auto t = tally("r.example.com", "/", 30);
  EXPECT_EQ(t, (std::map<std::string, int>{{"ready", 30}}));
  EXPECT_EQ(stats(*pods[1]).requests, 0u);
}

TEST_F(BackendsTest, RoundRobinSpreadsRequestsOverAllPods) {
  auto pods = start_pods({"p1", "p2", "p3"});
  write_manifest("apps.yaml",
                 k8s::app("default", "svc", {pods[0]->address, pods[1]->address, pods[2]->address},
                          pods[0]->port));
  write_manifest("ingress.yaml",
                 k8s::ingress(k8s::simple_ingress("rr", "rr.example.com", "/", "svc")));
  start_strait();
  // New connections each time...
  const auto t = tally("rr.example.com", "/", 30);
  for (const char* p : {"p1", "p2", "p3"}) {
    EXPECT_GE(t.count(p) ? t.at(p) : 0, 5) << p << " got too little of 30 requests";
  }
  EXPECT_EQ(t.size(), 3u);
  // ...and on one keep-alive client connection: balancing is per request, not per connection.
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  std::map<std::string, int> keep_alive;
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: rr.example.com\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    ASSERT_EQ(r->status, 200);
    ++keep_alive[r->json()["pod"].get<std::string>()];
  }
  EXPECT_EQ(keep_alive.size(), 3u) << "every pod gets requests from one client connection";
}

TEST_F(BackendsTest, EndpointsAreCollectedAcrossSlices) {
  auto pods = start_pods({"s1", "s2"});
  write_manifest(
      "apps.yaml",
      k8s::documents({k8s::service("default", "multi", {{"http", 80, "http"}}),
                      k8s::endpoint_slice("default", "multi-a", "multi", {{"http", pods[0]->port}},
                                          {{pods[0]->address, true}}),
                      // No conditions at all: counts as ready.
                      k8s::endpoint_slice("default", "multi-b", "multi", {{"http", pods[1]->port}},
                                          {{pods[1]->address, std::nullopt}}),
                      // A slice of another Service is not ours.
                      k8s::endpoint_slice("default", "unrelated", "other-svc",
                                          {{"http", pods[0]->port}}, {{unused_address(), true}})}));
  write_manifest("ingress.yaml",
                 k8s::ingress(k8s::simple_ingress("m", "m.example.com", "/", "multi")));
  start_strait();
  const auto t = tally("m.example.com", "/", 20);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_GT(t.count("s1") ? t.at("s1") : 0, 0);
  EXPECT_GT(t.count("s2") ? t.at("s2") : 0, 0);
}

TEST_F(BackendsTest, ServicePortsResolveByNameAndNumber) {
  // One pod with two listeners: "http" on its main port and "admin" on a second one.
  EchoPod& pod = start_pod("two-ports", 1);
  const uint16_t admin_port = pod.extra_ports.at(0);
  write_manifest(
      "apps.yaml",
      k8s::documents(
          {k8s::service("default", "web", {{"http", 80, "web"}, {"admin", 9000, "admin"}}),
           k8s::endpoint_slice("default", "web-x1", "web",
                               {{"http", pod.port}, {"admin", admin_port}}, {{pod.address, true}}),
           // A Service with a single unnamed port matches the slice's unnamed port.
           k8s::service("default", "plain", {{"", 8000, "8080"}}),
           k8s::endpoint_slice("default", "plain-x1", "plain", {{"", admin_port}},
                               {{pod.address, true}})}));
  write_manifest("ingress.yaml",
                 k8s::ingress(ingress(
                     "ports.example.com",
                     {by_number("/num-http", "web", 80), by_name("/name-http", "web", "http"),
                      by_number("/num-admin", "web", 9000), by_name("/name-admin", "web", "admin"),
                      by_number("/plain", "plain", 8000)})));
  start_strait();
  const std::string main = pod.endpoint();
  const std::string admin = pod.address + ":" + std::to_string(admin_port);
  const std::vector<std::pair<std::string, std::string>> cases = {{"/num-http", main},
                                                                  {"/name-http", main},
                                                                  {"/num-admin", admin},
                                                                  {"/name-admin", admin},
                                                                  {"/plain", admin}};
  for (const auto& [path, expected] : cases) {
    const auto r = get("ports.example.com", path);
    ASSERT_TRUE(r) << path;
    ASSERT_EQ(r->status, 200) << path << "\n" << r->describe();
    EXPECT_EQ(r->json()["local"], expected) << path;
  }
}

}  // namespace
}  // namespace it
