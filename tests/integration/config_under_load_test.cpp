// A configuration change never fails a request: wrk keeps strait busy while manifests are
// rewritten many times, keep-alive connections outlive the changes, and a request in flight
// finishes on the configuration it started with.
#include <atomic>
#include <thread>

#include "harness/fixture.hpp"

namespace it {
namespace {

class ConfigUnderLoadTest : public IntegrationTest {
 protected:
  static std::string ka_get(RawClient& c, const std::string& host, const std::string& path) {
    if (!c.send("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"))
      return "error:" + c.error();
    const auto r = c.read_response();
    if (!r) return "error:" + c.error();
    if (r->status != 200) return "status:" + std::to_string(r->status);
    return r->json()["pod"].get<std::string>();
  }
};

TEST_F(ConfigUnderLoadTest, NoRequestFailsWhileConfigurationChanges) {
  auto pods = start_pods({"l1", "l2", "l3", "extra"});
  const int port = pods[0]->port;
  const std::string a1 = pods[0]->address, a2 = pods[1]->address, a3 = pods[2]->address;
  write_manifest("load-svc.yaml", k8s::app("default", "load", {a1, a2}, port));
  write_manifest("load-ingress.yaml",
                 k8s::ingress(k8s::simple_ingress("load", "load.example.com", "/", "load")));
  write_manifest("extra-svc.yaml", k8s::app("default", "extra", {pods[3]->address}, port));
  start_strait();

  // A keep-alive connection opened before any change.
  RawClient before;
  ASSERT_TRUE(before.connect(strait().address, strait().http_port));
  const std::string first = ka_get(before, "load.example.com", "/");
  ASSERT_TRUE(first == "l1" || first == "l2") << first;

  WrkResult wrk;
  std::atomic<bool> wrk_done{false};
  std::thread load([&] {
    wrk = run_wrk(dir(), strait().url("/"), {{"Host", "load.example.com"}}, 2, 8, 5);
    wrk_done = true;
  });
  // Changes start once wrk's traffic is seen at the pods.
  const uint64_t seen = stats(*pods[0]).requests + stats(*pods[1]).requests;
  EXPECT_TRUE(eventually(
      [&] { return stats(*pods[0]).requests + stats(*pods[1]).requests > seen + 50; }, 5s));

  // The extra Ingress also adds a path to the load host, so that host's routes change too.
  k8s::Ingress extra = k8s::simple_ingress("extra", "extra.example.com", "/", "extra");
  extra.rules.push_back({"load.example.com", {{"/extra", "Prefix", {"extra", 80, ""}}}});
  int changes = 0;
  int keep_alive_failures = 0;
  const auto deadline = Clock::now() + 8s;
  while (!wrk_done && Clock::now() < deadline && changes < 400) {
    const bool with_extra = changes % 2 == 0;
    if (with_extra) {
      write_manifest("extra-ingress.yaml", k8s::ingress(extra));
    } else {
      remove_manifest("extra-ingress.yaml");
    }
    write_manifest("load-svc.yaml", changes % 3 == 0
                                        ? k8s::app("default", "load", {a1, a2, a3}, port)
                                        : k8s::app("default", "load", {a1, a2}, port));
    // Each change is awaited, so each one was applied while wrk ran.
    if (!await_pod("extra.example.com", "/", with_extra ? "extra" : "status:404", 5s)) break;
    const std::string during = ka_get(before, "load.example.com", "/");
    if (during != "l1" && during != "l2" && during != "l3") {
      ++keep_alive_failures;
      ADD_FAILURE() << "keep-alive request during change " << changes << ": " << during;
    }
    ++changes;
  }
  load.join();

  RecordProperty("configuration_changes", changes);
  RecordProperty("wrk_requests", std::to_string(wrk.requests));
  ASSERT_TRUE(wrk.parsed) << wrk.command.describe();
  EXPECT_GE(changes, 20) << "too few configuration changes happened during the load";
  EXPECT_GT(wrk.requests, 500u) << wrk.command.out;
  EXPECT_EQ(wrk.socket_errors(), 0u) << wrk.command.out;
  EXPECT_EQ(wrk.not_2xx, 0u) << wrk.command.out;
  EXPECT_EQ(wrk.non_2xx_3xx, 0u) << wrk.command.out;
  EXPECT_EQ(keep_alive_failures, 0);
  EXPECT_GT(stats(*pods[2]).requests, 0u) << "the pod added and removed under load got traffic";

  // The connection opened before all this still works.
  const std::string after = ka_get(before, "load.example.com", "/");
  EXPECT_TRUE(after == "l1" || after == "l2" || after == "l3") << after;
  const bool extra_present = changes % 2 == 1;  // the last change (changes - 1) was even
  const std::string extra_path = ka_get(before, "load.example.com", "/extra/x");
  if (extra_present) {
    EXPECT_EQ(extra_path, "extra");
  } else {
    EXPECT_TRUE(extra_path == "l1" || extra_path == "l2" || extra_path == "l3") << extra_path;
  }
}

TEST_F(ConfigUnderLoadTest, KeepAliveConnectionsFollowTheCurrentConfiguration) {
  auto pods = start_pods({"first", "second"});
  std::vector<std::string> apps;
  for (EchoPod* p : pods) apps.push_back(k8s::app("default", p->name, {p->address}, p->port));
  write_manifest("apps.yaml", k8s::documents(apps));
  write_manifest("route.yaml",
                 k8s::ingress(k8s::simple_ingress("r", "ka.example.com", "/", "first")));
  start_strait();
  std::vector<RawClient> conns(4);
  for (auto& c : conns) {
    ASSERT_TRUE(c.connect(strait().address, strait().http_port));
    ASSERT_EQ(ka_get(c, "ka.example.com", "/"), "first");
  }
  const std::vector<std::pair<std::string, std::string>> steps = {
      {"second", "second"}, {"", "status:404"}, {"first", "first"}, {"second", "second"}};
  for (const auto& [service, expected] : steps) {
    if (service.empty()) {
      remove_manifest("route.yaml");
    } else {
      write_manifest("route.yaml",
                     k8s::ingress(k8s::simple_ingress("r", "ka.example.com", "/", service)));
    }
    ASSERT_TRUE(await_pod("ka.example.com", "/", expected));
    for (size_t i = 0; i < conns.size(); ++i) {
      EXPECT_EQ(ka_get(conns[i], "ka.example.com", "/"), expected)
          << "keep-alive connection " << i << " after switching to '" << service << "'";
    }
  }
}

TEST_F(ConfigUnderLoadTest, InFlightRequestsFinishOnTheConfigurationTheyStartedWith) {
  auto pods = start_pods({"slow", "other"});
  write_manifest("app.yaml",
                 k8s::documents({k8s::app("default", "slow", {pods[0]->address}, pods[0]->port),
                                 k8s::app("default", "other", {pods[1]->address}, pods[1]->port)}));
  write_manifest("route.yaml",
                 k8s::ingress(k8s::simple_ingress("r", "inflight.example.com", "/", "slow")));
  start_strait();
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  ASSERT_TRUE(c.send("GET /delay/1500 HTTP/1.1\r\nHost: inflight.example.com\r\n\r\n"));
  ASSERT_TRUE(eventually([&] { return stats(*pods[0]).requests >= 1; }, 5s));
  // While it is in flight: its route goes to another Service, and its endpoint is removed.
  write_manifest("route.yaml",
                 k8s::ingress(k8s::simple_ingress("r", "inflight.example.com", "/", "other")));
  write_manifest("app.yaml",
                 k8s::documents({k8s::app("default", "slow", {}, pods[0]->port),
                                 k8s::app("default", "other", {pods[1]->address}, pods[1]->port)}));
  ASSERT_TRUE(await_pod("inflight.example.com", "/", "other"));
  const auto r = c.read_response(10s);
  ASSERT_TRUE(r) << "the in-flight request failed: " << c.error();
  EXPECT_EQ(r->status, 200) << r->describe();
  EXPECT_EQ(r->json()["pod"], "slow");
  // The same connection now follows the new configuration.
  EXPECT_EQ(ka_get(c, "inflight.example.com", "/"), "other");
}

}  // namespace
}  // namespace it
