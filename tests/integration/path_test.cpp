// Hostile paths: strait routes and forwards the same normalised path, so no request reaches a
// backend that its normalised path would not route to.
#include "harness/fixture.hpp"

namespace it {
namespace {

class PathTest : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    auto pods = start_pods({"public", "admin"});
    pub = pods[0];
    admin = pods[1];
    k8s::Ingress ing;
    ing.name = "site";
    ing.rules = {
        {"site.example.com",
         {{"/public", "Prefix", {"public", 80, ""}}, {"/admin", "Prefix", {"admin", 80, ""}}}}};
    write_manifest("app.yaml",
                   k8s::documents({k8s::app("default", "public", {pub->address}, pub->port),
                                   k8s::app("default", "admin", {admin->address}, admin->port),
                                   k8s::ingress(ing)}));
    start_strait();
  }
  // The pod and target the backend saw for a raw request line target.
  std::pair<std::string, std::string> send(const std::string& target) {
    RawClient c;
    EXPECT_TRUE(c.connect(strait().address, strait().http_port));
    c.send("GET " + target + " HTTP/1.1\r\nHost: site.example.com\r\nConnection: close\r\n\r\n");
    auto r = c.read_response();
    if (!r) return {"error", c.error()};
    if (r->status != 200) return {"status:" + std::to_string(r->status), ""};
    auto j = r->json();
    return {j.value("pod", ""), j.value("target", "")};
  }
  EchoPod* pub = nullptr;
  EchoPod* admin = nullptr;
};

TEST_F(PathTest, DotSegmentsAndEscapesAreResolvedBeforeRoutingAndForwarding) {
  EXPECT_EQ(send("/public/../admin/x"),
            std::make_pair(std::string("admin"), std::string("/admin/x")));
  EXPECT_EQ(send("/public/%2e%2e/admin?q=1"),
            std::make_pair(std::string("admin"), std::string("/admin?q=1")));
  EXPECT_EQ(send("/%61dmin"), std::make_pair(std::string("admin"), std::string("/admin")));
  EXPECT_EQ(send("//public//a"), std::make_pair(std::string("public"), std::string("/public/a")));
  // An encoded slash stays encoded inside its segment...
  EXPECT_EQ(send("/public/a%2Fb"),
            std::make_pair(std::string("public"), std::string("/public/a%2Fb")));
}

TEST_F(PathTest, EncodedSlashHidingADotSegmentIsRefusedAndNeverForwarded) {
  // ...but cannot smuggle a ".." past the route: 400, nothing reaches either pod.
  EXPECT_EQ(send("/public/..%2Fadmin").first, "status:400");
  EXPECT_EQ(send("/public/%2E%2E%5Cadmin").first, "status:400");
  EXPECT_EQ(stats(*pub).requests, 0u);
  EXPECT_EQ(stats(*admin).requests, 0u);
}

}  // namespace
}  // namespace it

namespace it {
namespace {

class ConnectionLimitTest : public IntegrationTest {};

TEST_F(ConnectionLimitTest, ConnectionsBeyondTheWorkerLimitGet503) {
  EchoPod& pod = start_pod("lim");
  write_manifest(
      "app.yaml",
      k8s::documents({k8s::app("default", "lim", {pod.address}, pod.port),
                      k8s::ingress(k8s::simple_ingress("lim", "lim.example.com", "/", "lim"))}));
  StraitOptions o;
  o.workers = 1;
  o.args = {"--max-worker-connections=2"};
  start_strait(o);
  // Two keep-alive connections in use...
  RawClient a, b;
  for (RawClient* c : {&a, &b}) {
    ASSERT_TRUE(c->connect(strait().address, strait().http_port));
    ASSERT_TRUE(c->send("GET / HTTP/1.1\r\nHost: lim.example.com\r\n\r\n"));
    auto r = c->read_response();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, 200);
  }
  // ...a third gets a clear 503 and is closed.
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  c.send("GET / HTTP/1.1\r\nHost: lim.example.com\r\n\r\n");
  auto r = c.read_response();
  ASSERT_TRUE(r.has_value()) << c.error();
  EXPECT_EQ(r->status, 503);
  EXPECT_TRUE(c.wait_closed(2s));
  // Once one closes, new connections are served again.
  a.close();
  EXPECT_TRUE(await_pod("lim.example.com", "/", "lim"));
}

}  // namespace
}  // namespace it
