// The upstream fault matrix (issue 6): a pod that refuses, resets mid-response, stalls, answers
// garbage or an oversized head. Each gives the client 502/504 (or, once response bytes reached
// it, a closed connection and no retry), one stderr line naming the endpoint, the Service port
// and the reason, and, after a 502/504 on a fully read request, a keep-alive connection that
// still works. Idempotent requests move to another endpoint before any response byte; others do
// not. (upstream_errors_test.cpp has the plain statuses and the connect timeout.)
#include <poll.h>
#include <sys/socket.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "harness/fixture.hpp"

namespace it {
namespace {

class UpstreamFaultsTest : public IntegrationTest {
 protected:
  void route(const std::string& host, const std::string& service) {
    write_manifest("ingress-" + service + ".yaml",
                   k8s::ingress(k8s::simple_ingress(service, host, "/", service)));
  }
  // A healthy Service "ok" at ok.example.com, to prove a connection still works.
  void add_healthy_route() {
    EchoPod& ok = start_pod("ok");
    write_manifest("ok.yaml", k8s::app("default", "ok", {ok.address}, ok.port));
    route("ok.example.com", "ok");
  }
  static void set_fault(const EchoPod& pod, const std::string& mode) {
    const auto r = http_get(pod.address, pod.port, "pod", "/__control/fault/" + mode);
    ASSERT_TRUE(r && r->status == 200) << "fault " << mode << " not set on " << pod.name;
  }
  static std::optional<HttpResponse> exchange(RawClient& c, const std::string& method,
                                              const std::string& host, const std::string& path,
                                              const std::string& body = "") {
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\n";
    if (!body.empty() || method == "POST")
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    if (!c.send(req)) return std::nullopt;
    return c.read_response(15s);
  }
  // Lines of strait's stderr matching the regex.
  static std::string escape(const std::string& s) {
    return std::regex_replace(s, std::regex(R"([.\[\]])"), R"(\$&)");
  }
  // The "upstream error:" line for an attempt on an endpoint (regex) of default/<service>:80.
  static std::string error_line(const std::string& endpoint_regex, const std::string& service,
                                const std::string& reason_regex, const std::string& action) {
    return "upstream error: endpoint=" + endpoint_regex + " service=default/" + service +
           ":80 reason=\"" + reason_regex + "\" action=" + action + "$";
  }
};

// Everything the client receives until the connection closes (or timeout).
struct Received {
  std::string bytes;
  bool closed = false;
};
Received read_until_closed(RawClient& c, std::chrono::milliseconds timeout) {
  Received out;
  const auto deadline = Clock::now() + timeout;
  char buf[65536];
  while (Clock::now() < deadline) {
    pollfd p{c.fd(), POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 1))) <= 0) continue;
    const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
    if (n <= 0) {
      out.closed = true;
      break;
    }
    out.bytes.append(buf, static_cast<size_t>(n));
  }
  return out;
}

TEST_F(UpstreamFaultsTest, RefusedConnectGives502LogsItAndKeepsTheConnection) {
  add_healthy_route();
  const std::string dead = unused_address() + ":8080";
  write_manifest("dead.yaml", k8s::app("default", "dead", {dead.substr(0, dead.find(':'))}, 8080));
  route("dead.example.com", "dead");
  start_strait();
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  auto r = exchange(c, "GET", "dead.example.com", "/x");
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 502);
  EXPECT_TRUE(
      await_log(error_line(escape(dead), "dead", "connect failed: Connection refused", "502")))
      << strait_log();
  // A request whose body was read entirely leaves the connection usable too.
  r = exchange(c, "POST", "dead.example.com", "/x", "payload");
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 502);
  r = exchange(c, "GET", "ok.example.com", "/after-502");
  ASSERT_TRUE(r) << "keep-alive connection unusable after a 502: " << c.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->json()["pod"], "ok");
}

TEST_F(UpstreamFaultsTest, ResetMidResponseClosesTheClientConnectionWithoutRetry) {
  // Two endpoints, so a retry would be possible; both reset when asked to.
  auto pods = start_pods({"r1", "r2"});
  write_manifest("reset.yaml",
                 k8s::app("default", "reset", {pods[0]->address, pods[1]->address}, pods[0]->port));
  route("reset.example.com", "reset");
  start_strait();
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  ASSERT_TRUE(c.send("GET /fault/reset-mid-body HTTP/1.1\r\nHost: reset.example.com\r\n\r\n"));
  const Received got = read_until_closed(c, 10s);
  EXPECT_TRUE(got.closed) << "the client connection must close when the body is cut short";
  ASSERT_TRUE(got.bytes.starts_with("HTTP/1.1 200")) << got.bytes.substr(0, 200);
  const size_t head_end = got.bytes.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  const size_t body = got.bytes.size() - head_end - 4;
  EXPECT_GT(body, 0u) << "part of the body reached the client before the reset";
  EXPECT_LT(body, 1048576u);
  EXPECT_EQ(got.bytes.find("HTTP/1.1 502"), std::string::npos)
      << "no error page after a started response";
  // Never retried: one pod got the request, the other nothing.
  EXPECT_EQ(stats(*pods[0]).requests + stats(*pods[1]).requests, 1u);
  EXPECT_TRUE(await_log(error_line(R"(127\.[0-9.]+:)" + std::to_string(pods[0]->port), "reset",
                                   "upstream connection failed mid-response: Connection reset by "
                                   "peer",
                                   "close")))
      << strait_log();
}

TEST_F(UpstreamFaultsTest, StallGives504AfterTheReadTimeoutWithoutRetry) {
  add_healthy_route();
  auto pods = start_pods({"s1", "s2"});
  write_manifest("stall.yaml",
                 k8s::app("default", "stall", {pods[0]->address, pods[1]->address}, pods[0]->port));
  route("stall.example.com", "stall");
  start_strait({.args = {"--proxy-read-timeout=1"}});
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  const auto start = Clock::now();
  auto r = exchange(c, "GET", "stall.example.com", "/fault/stall");
  const auto elapsed = Clock::now() - start;
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 504);
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 3s) << "a timed-out request is not sent again";
  EXPECT_EQ(stats(*pods[0]).requests + stats(*pods[1]).requests, 1u);
  EXPECT_TRUE(await_log(error_line(R"(127\.[0-9.]+:)" + std::to_string(pods[0]->port), "stall",
                                   "read timeout", "504")))
      << strait_log();
  r = exchange(c, "GET", "ok.example.com", "/after-504");
  ASSERT_TRUE(r) << "keep-alive connection unusable after a 504: " << c.error();
  EXPECT_EQ(r->status, 200);
}

TEST_F(UpstreamFaultsTest, GarbageAndOversizedHeadsGive502) {
  add_healthy_route();
  EchoPod& pod = start_pod("bad");
  write_manifest("bad.yaml", k8s::app("default", "bad", {pod.address}, pod.port));
  route("bad.example.com", "bad");
  start_strait();
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  const struct {
    std::string path, reason;
  } cases[] = {{"/fault/garbage", "invalid status line"},
               {"/fault/big-head", "header section too large"}};
  for (const auto& fault : cases) {
    const auto r = exchange(c, "GET", "bad.example.com", fault.path);
    ASSERT_TRUE(r) << fault.path << ": " << c.error();
    EXPECT_EQ(r->status, 502) << fault.path;
    EXPECT_TRUE(await_log(error_line(escape(pod.endpoint()), "bad", fault.reason, "502")))
        << fault.path;
    const auto next = exchange(c, "GET", "ok.example.com", "/after");
    ASSERT_TRUE(next) << "keep-alive connection unusable after " << fault.path << ": " << c.error();
    EXPECT_EQ(next->status, 200);
  }
}

TEST_F(UpstreamFaultsTest, IdempotentRequestsMoveToAnotherEndpointOthersDoNot) {
  auto pods = start_pods({"bad", "good"});
  EchoPod& bad = *pods[0];
  EchoPod& good = *pods[1];
  write_manifest("half.yaml", k8s::app("default", "half", {bad.address, good.address}, bad.port));
  route("half.example.com", "half");
  start_strait();
  // Before any response byte: garbage, or a reset right after the request.
  for (const std::string mode : {"garbage", "reset"}) {
    SCOPED_TRACE(mode);
    set_fault(bad, mode);
    const uint64_t bad_before = stats(bad).requests;
    const uint64_t good_before = stats(good).requests;
    RawClient c;
    ASSERT_TRUE(c.connect(strait().address, strait().http_port));
    for (int i = 0; i < 10; ++i) {
      // GET: every one answered by the good pod, whichever endpoint it tried first.
      const auto r = exchange(c, "GET", "half.example.com", "/get/" + std::to_string(i));
      ASSERT_TRUE(r) << c.error();
      ASSERT_EQ(r->status, 200) << "GET " << i;
      EXPECT_EQ(r->json()["pod"], "good");
    }
    const uint64_t bad_gets = stats(bad).requests - bad_before;
    EXPECT_GT(bad_gets, 0u) << "round robin never tried the bad endpoint";
    EXPECT_EQ(stats(good).requests - good_before, 10u);
    EXPECT_TRUE(await_log(error_line(escape(bad.endpoint()), "half",
                                     "(invalid status line|upstream closed before "
                                     "responding.*)",
                                     "retry")));
    // POST: not idempotent, so the ones that reached the bad pod end as 502, never resent.
    int ok = 0, failed = 0;
    for (int i = 0; i < 10; ++i) {
      RawClient p;
      ASSERT_TRUE(p.connect(strait().address, strait().http_port));
      // With and without a body: a bodiless POST could be resent as it is, yet must not be.
      const auto r = exchange(p, "POST", "half.example.com", "/post", i % 2 ? "data" : "");
      ASSERT_TRUE(r) << p.error();
      if (r->status == 200) {
        ++ok;
      } else {
        EXPECT_EQ(r->status, 502);
        ++failed;
      }
    }
    EXPECT_GT(failed, 0);
    EXPECT_EQ(stats(bad).requests - bad_before - bad_gets, static_cast<uint64_t>(failed));
    EXPECT_EQ(stats(good).requests - good_before - 10, static_cast<uint64_t>(ok));
  }
}

TEST_F(UpstreamFaultsTest, APodClosingRightAfterItsResponseLosesNoRequest) {
  // The pod ends each fault response with a FIN in the same segment and no "Connection: close",
  // so strait learns of the close in the same epoll event as the response's last bytes. It must
  // not send the next request on that connection: a GET would have to be retried, and a POST,
  // which may not be sent twice, would end as a 502.
  EchoPod& pod = start_pod("closer");
  write_manifest("closer.yaml", k8s::app("default", "closer", {pod.address}, pod.port));
  route("closer.example.com", "closer");
  start_strait();
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  const uint64_t before = stats(pod).requests;
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    auto r = exchange(c, "GET", "closer.example.com", "/fault/close-after-response");
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "bye\n");
    r = exchange(c, "POST", "closer.example.com", "/post", "payload");
    ASSERT_TRUE(r) << c.error();
    ASSERT_EQ(r->status, 200) << strait_log();
    EXPECT_EQ(r->json()["method"], "POST");
    r = exchange(c, "GET", "closer.example.com", "/fault/close-after-response");
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 200);
    r = exchange(c, "GET", "closer.example.com", "/get");
    ASSERT_TRUE(r) << c.error();
    ASSERT_EQ(r->status, 200) << strait_log();
    EXPECT_EQ(r->json()["method"], "GET");
  }
  // Every request reached the pod once: none lost, none sent twice.
  EXPECT_EQ(stats(pod).requests - before, 20u);
}

}  // namespace
}  // namespace it
