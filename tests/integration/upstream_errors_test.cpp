// Upstream failures as the client sees them: 502 when nothing answers, a retry onto a live pod
// for idempotent requests, 504 on the read timeout, and the health endpoints.
#include "harness/fixture.hpp"

namespace it {
namespace {

class UpstreamErrorsTest : public IntegrationTest {
 protected:
  void route(const std::string& host, const std::string& service) {
    write_manifest("ingress-" + service + ".yaml",
                   k8s::ingress(k8s::simple_ingress(service, host, "/", service)));
  }
};

TEST_F(UpstreamErrorsTest, AllEndpointsRefusingGives502) {
  // Nothing listens on these addresses: every connection is refused.
  write_manifest("app.yaml",
                 k8s::app("default", "dead", {unused_address(), unused_address()}, 8080));
  route("dead.example.com", "dead");
  start_strait();
  const auto start = Clock::now();
  const auto r = curl({strait().url("/x"), "-H", "Host: dead.example.com"});
  EXPECT_EQ(r.status(), 502) << r.describe();
  EXPECT_LT(Clock::now() - start, 4s) << "a refused connection is not a timeout";
  // The client connection survives a 502.
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send("GET /y HTTP/1.1\r\nHost: dead.example.com\r\n\r\n"));
    const auto resp = c.read_response();
    ASSERT_TRUE(resp) << c.error();
    EXPECT_EQ(resp->status, 502);
  }
}

TEST_F(UpstreamErrorsTest, RefusedConnectionsAreRetriedOnALiveEndpoint) {
  EchoPod& live = start_pod("live");
  // One endpoint refuses, one answers: a refused connection is retried once on another endpoint.
  write_manifest("app.yaml",
                 k8s::app("default", "half", {unused_address(), live.address}, live.port));
  route("half.example.com", "half");
  start_strait();
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(pod_for("half.example.com", "/get/" + std::to_string(i)), "live") << "GET " << i;
  }
  // HEAD is idempotent as well.
  for (int i = 0; i < 5; ++i) {
    RawClient c;
    ASSERT_TRUE(c.connect(strait().address, strait().http_port));
    ASSERT_TRUE(c.send("HEAD /h HTTP/1.1\r\nHost: half.example.com\r\n\r\n"));
    const auto r = c.read_response(10s, true);
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 200) << "HEAD " << i;
  }
  // And on one keep-alive connection.
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(c.send("GET /ka HTTP/1.1\r\nHost: half.example.com\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 200) << "keep-alive GET " << i;
  }
}

TEST_F(UpstreamErrorsTest, ReadTimeoutGives504) {
  EchoPod& slow = start_pod("slow");
  write_manifest("app.yaml", k8s::app("default", "slow", {slow.address}, slow.port));
  route("slow.example.com", "slow");
  start_strait({.args = {"--proxy-read-timeout", "1"}});
  const auto start = Clock::now();
  const auto r = curl({strait().url("/delay/3000"), "-H", "Host: slow.example.com"});
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(r.status(), 504) << r.describe();
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 2800ms) << "the 504 came when the backend answered, not at the timeout";
  // A backend within the timeout is fine.
  EXPECT_EQ(pod_for("slow.example.com", "/delay/100"), "slow");
}

TEST_F(UpstreamErrorsTest, ConnectTimeoutGives504) {
  Blackhole hole(next_loopback_address());
  write_manifest("app.yaml", k8s::app("default", "hole", {hole.address()}, hole.port()));
  route("hole.example.com", "hole");
  start_strait({.args = {"--proxy-connect-timeout=1"}});
  const auto start = Clock::now();
  const auto r = curl({strait().url("/x"), "-H", "Host: hole.example.com"});
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(r.status(), 504) << r.describe();
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 4s);
}

TEST_F(UpstreamErrorsTest, HealthzAndReadyz) {
  EchoPod& pod = start_pod("ready");
  write_manifest("app.yaml", k8s::app("default", "ready", {pod.address}, pod.port));
  route("ready.example.com", "ready");
  StraitOptions options;
  options.wait_ready = false;
  Strait& s = start_strait(options);
  // Once /readyz says 200, the configuration is serving: the very next request is routed.
  ASSERT_TRUE(wait_ready(s)) << "/readyz never answered 200";
  EXPECT_EQ(pod_for("ready.example.com", "/"), "ready");
  auto r = curl({s.healthz_url("/healthz")});
  EXPECT_EQ(r.status(), 200) << r.describe();
  r = curl({s.healthz_url("/readyz")});
  EXPECT_EQ(r.status(), 200) << r.describe();
  r = curl({s.healthz_url("/no-such-endpoint")});
  EXPECT_EQ(r.status(), 404) << r.describe();
}

}  // namespace
}  // namespace it
