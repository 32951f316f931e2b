// What a client cannot do to the proxy: hold a connection with a slow or idle head past its
// deadline, or send heads and targets beyond the parser's limits. Each gets a clear status or a
// closed connection, and the proxy keeps serving everyone else.
#include "harness/fixture.hpp"

namespace it {
namespace {

class ClientLimitsTest : public IntegrationTest {
 protected:
  EchoPod* pod = nullptr;

  void start(const std::vector<std::string>& args = {}) {
    pod = start_pods({"limits"}).front();
    write_manifest("app.yaml", k8s::app("default", "limits", {pod->address}, pod->port));
    write_manifest("ingress.yaml",
                   k8s::ingress(k8s::simple_ingress("l", "limits.example.com", "/", "limits")));
    start_strait({.args = args});
  }

  // Sends raw bytes on a fresh connection; the response, or nullopt if the proxy just closed.
  std::optional<HttpResponse> send_raw(const std::string& bytes, RawClient& c) {
    EXPECT_TRUE(c.connect(strait().address, strait().http_port)) << c.error();
    c.send(bytes);  // may fail half-way when the proxy answers early and closes
    return c.read_response(10s);
  }

  void expect_still_serving() { EXPECT_EQ(pod_for("limits.example.com", "/alive"), "limits"); }
};

TEST_F(ClientLimitsTest, SlowRequestHeadIsCutAtTheClientHeaderTimeout) {
  start({"--client-header-timeout=1"});
  RawClient slow;
  ASSERT_TRUE(slow.connect(strait().address, strait().http_port));
  ASSERT_TRUE(slow.send("GET / HTTP/1.1\r\nHost: limits.exa"));  // and nothing more
  const auto start_time = Clock::now();
  EXPECT_TRUE(slow.wait_closed(5s)) << "a never-finished head holds the connection";
  EXPECT_GE(Clock::now() - start_time, 800ms);
  expect_still_serving();
  EXPECT_EQ(stats(*pod).requests, 1u) << "the partial request reached the backend";
}

TEST_F(ClientLimitsTest, IdleKeepAliveConnectionIsClosedAtTheKeepaliveTimeout) {
  start({"--keepalive-timeout=1"});
  RawClient idle;
  ASSERT_TRUE(idle.connect(strait().address, strait().http_port));
  ASSERT_TRUE(idle.send("GET / HTTP/1.1\r\nHost: limits.example.com\r\n\r\n"));
  ASSERT_TRUE(idle.read_response()) << idle.error();
  const auto start_time = Clock::now();
  EXPECT_TRUE(idle.wait_closed(5s)) << "the idle connection was kept past --keepalive-timeout";
  EXPECT_GE(Clock::now() - start_time, 800ms);
}

TEST_F(ClientLimitsTest, OversizedHeadsGetClearStatuses) {
  start();
  {
    RawClient c;
    const auto r = send_raw(
        "GET /" + std::string(200 * 1024, 'a') + " HTTP/1.1\r\nHost: limits.example.com\r\n\r\n",
        c);
    ASSERT_TRUE(r) << "a 200 KB target: " << c.error();
    EXPECT_TRUE(r->status == 414 || r->status == 431) << r->describe().substr(0, 500);
  }
  {
    RawClient c;
    const auto r = send_raw("GET / HTTP/1.1\r\nHost: limits.example.com\r\nX-Big: " +
                                std::string(200 * 1024, 'b') + "\r\n\r\n",
                            c);
    ASSERT_TRUE(r) << "a 200 KB header: " << c.error();
    EXPECT_EQ(r->status, 431) << r->describe().substr(0, 500);
  }
  {
    RawClient c;
    std::string many = "GET / HTTP/1.1\r\nHost: limits.example.com\r\n";
    for (int i = 0; i < 5000; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
    const auto r = send_raw(many + "\r\n", c);
    ASSERT_TRUE(r) << "5000 headers: " << c.error();
    EXPECT_EQ(r->status, 431) << r->describe().substr(0, 500);
  }
  expect_still_serving();
  EXPECT_EQ(stats(*pod).requests, 1u) << "an oversized request reached the backend";
}

TEST_F(ClientLimitsTest, MalformedRequestsGet400AndNeverReachTheBackend) {
  start();
  const std::vector<std::string> bad = {
      "GARBAGE\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: limits.example.com\r\nContent-Length: 12x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: limits.example.com\r\nContent-Length: 5\r\n"
      "Content-Length: 6\r\n\r\nhello!",
      "GET / HTTP/1.1\r\nHost: limits.example.com\r\nBad Header: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: limits.example.com\r\nX-Folded: a\r\n b\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: limits.example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
      "zz\r\nhello\r\n0\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
  };
  for (const std::string& request : bad) {
    RawClient c;
    const auto r = send_raw(request, c);
    ASSERT_TRUE(r) << "no answer to: " << request;
    EXPECT_EQ(r->status, 400) << request << "\n" << r->describe();
    EXPECT_TRUE(c.wait_closed(5s)) << "kept the connection after: " << request;
  }
  expect_still_serving();
  EXPECT_EQ(stats(*pod).requests, 1u) << "a malformed request reached the backend";
}

TEST_F(ClientLimitsTest, ContentLengthWithTransferEncodingIsNeverForwardedAsIs) {
  start();
  // Request smuggling's classic shape: rejected, or forwarded chunked without the Content-Length.
  RawClient c;
  const auto r = send_raw(
      "POST /smuggle HTTP/1.1\r\nHost: limits.example.com\r\nContent-Length: 4\r\n"
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      c);
  ASSERT_TRUE(r) << c.error();
  if (r->status == 200) {
    const auto j = r->json();
    EXPECT_TRUE(echo_header_values(j, "Content-Length").empty()) << j["headers"].dump();
    EXPECT_EQ(j["body_bytes"], 5);
  } else {
    EXPECT_EQ(r->status, 400) << r->describe();
  }
  expect_still_serving();
}

}  // namespace
}  // namespace it
