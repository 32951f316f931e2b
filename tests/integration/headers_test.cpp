// What the proxy does to requests and responses on the way through: client keep-alive, the
// forwarded headers ingress-nginx sets, hop-by-hop headers, Host/target/Server/Date/Content-Length.
#include <regex>

#include "harness/fixture.hpp"

namespace it {
namespace {

class HeadersTest : public IntegrationTest {
 protected:
  EchoPod* pod = nullptr;

  void SetUp() override {
    IntegrationTest::SetUp();
    pod = start_pods({"echo"}).front();
    write_manifest("app.yaml", k8s::app("default", "echo", {pod->address}, pod->port));
    write_manifest(
        "ingress.yaml",
        k8s::documents(
            {k8s::ingress(k8s::simple_ingress("h", "headers.example.com", "/", "echo")),
             k8s::ingress(k8s::simple_ingress("mixed", "route.example.com", "/", "echo"))}));
    start_strait();
  }

  // One request on a fresh connection from client_addr; the echo of what the pod received.
  nlohmann::json echo_from(const std::string& client_addr, const std::string& request) {
    RawClient c;
    EXPECT_TRUE(c.connect(strait().address, strait().http_port, client_addr)) << c.error();
    EXPECT_TRUE(c.send(request));
    const auto r = c.read_response();
    if (!r || r->status != 200) {
      ADD_FAILURE() << "request failed: " << (r ? r->describe() : c.error());
      return nlohmann::json::object({{"headers", nlohmann::json::array()}});
    }
    return r->json();
  }

  static std::string one(const nlohmann::json& echo, const std::string& name) {
    const auto v = echo_header_values(echo, name);
    if (v.size() != 1) {
      ADD_FAILURE() << "expected exactly one " << name << " header at the backend, got " << v.size()
                    << ": " << echo["headers"].dump();
      return "";
    }
    return v[0];
  }
};

TEST_F(HeadersTest, ClientConnectionsAreKeptAlive) {
  const std::string url = strait().url("/k");
  const auto r = curl({url + "1", url + "2", url + "3", "-H", "Host: headers.example.com"});
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_EQ(r.transfers.size(), 3u) << r.describe();
  int connects = 0;
  for (const CurlTransfer& t : r.transfers) {
    EXPECT_EQ(t.status, 200);
    connects += t.num_connects;
  }
  EXPECT_EQ(connects, 1) << "curl reused one connection for the three requests";

  // Raw: sequential requests, then two pipelined in one write, all on one connection.
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        c.send("GET /seq/" + std::to_string(i) + " HTTP/1.1\r\nHost: headers.example.com\r\n\r\n"));
    const auto resp = c.read_response();
    ASSERT_TRUE(resp) << "request " << i << ": " << c.error();
    EXPECT_EQ(resp->json()["target"], "/seq/" + std::to_string(i));
    const std::string* connection = resp->header("Connection");
    EXPECT_TRUE(!connection || to_lower(*connection).find("close") == std::string::npos)
        << "no Connection: close on a keep-alive exchange";
  }
  ASSERT_TRUE(
      c.send("GET /p/1 HTTP/1.1\r\nHost: headers.example.com\r\n\r\n"
             "GET /p/2 HTTP/1.1\r\nHost: route.example.com\r\n\r\n"));
  const auto p1 = c.read_response();
  const auto p2 = c.read_response();
  ASSERT_TRUE(p1 && p2) << "pipelined requests: " << c.error();
  EXPECT_EQ(p1->json()["target"], "/p/1");
  EXPECT_EQ(p2->json()["target"], "/p/2");

  // HTTP/1.0 without keep-alive: the proxy closes after the response.
  RawClient old;
  ASSERT_TRUE(old.connect(strait().address, strait().http_port));
  ASSERT_TRUE(old.send("GET /old HTTP/1.0\r\nHost: headers.example.com\r\n\r\n"));
  const auto r10 = old.read_response();
  ASSERT_TRUE(r10) << old.error();
  EXPECT_EQ(r10->status, 200);
  EXPECT_TRUE(old.wait_closed(5s));
  // Connection: close from an HTTP/1.1 client is honoured too.
  RawClient closing;
  ASSERT_TRUE(closing.connect(strait().address, strait().http_port));
  ASSERT_TRUE(
      closing.send("GET /c HTTP/1.1\r\nHost: headers.example.com\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(closing.read_response()) << closing.error();
  EXPECT_TRUE(closing.wait_closed(5s));
}

TEST_F(HeadersTest, AMalformedRequestAfterAHeadRequestStillGetsItsErrorBody) {
  // Parsed-request state is reused across requests (the exchange pool): a request that fails to
  // parse before its method is known must not inherit the previous request's HEAD, which would
  // leave its 400 without the body its Content-Length announces.
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  ASSERT_TRUE(c.send("HEAD /h HTTP/1.1\r\nHost: headers.example.com\r\n\r\n"));
  const auto head = c.read_response(10s, /*head_request=*/true);
  ASSERT_TRUE(head) << c.error();
  EXPECT_EQ(head->status, 200);
  ASSERT_TRUE(c.send("G@T /x HTTP/1.1\r\nHost: headers.example.com\r\n\r\n"));
  const auto bad = c.read_response(5s);
  ASSERT_TRUE(bad) << "the 400's body must follow its head: " << c.error();
  EXPECT_EQ(bad->status, 400);
  const std::string* length = bad->header("Content-Length");
  ASSERT_TRUE(length);
  EXPECT_GT(std::stoul(*length), 0u);
  EXPECT_EQ(bad->body.size(), std::stoul(*length));
  EXPECT_TRUE(c.wait_closed(5s));
}

TEST_F(HeadersTest, ForwardedHeadersAreSetAsIngressNginxDoes) {
  const std::string client = next_loopback_address();
  const auto e1 = echo_from(client, "GET /fwd HTTP/1.1\r\nHost: headers.example.com\r\n\r\n");
  EXPECT_EQ(one(e1, "X-Forwarded-For"), client);
  EXPECT_EQ(one(e1, "X-Real-IP"), client);
  EXPECT_EQ(one(e1, "X-Forwarded-Host"), "headers.example.com");
  EXPECT_EQ(one(e1, "X-Forwarded-Port"), std::to_string(strait().http_port));
  EXPECT_EQ(one(e1, "X-Forwarded-Proto"), "http");
  EXPECT_EQ(one(e1, "X-Forwarded-Scheme"), "http");
  const std::string id1 = one(e1, "X-Request-ID");
  EXPECT_TRUE(std::regex_match(id1, std::regex("[0-9a-f]{32}"))) << "X-Request-ID: " << id1;
  EXPECT_TRUE(echo_header_values(e1, "X-Original-Forwarded-For").empty());

  const auto e2 = echo_from(client, "GET /fwd HTTP/1.1\r\nHost: headers.example.com\r\n\r\n");
  EXPECT_NE(one(e2, "X-Request-ID"), id1) << "every request gets its own id";
}

TEST_F(HeadersTest, ClientForwardedHeadersAreNotTrusted) {
  const std::string client = next_loopback_address();
  const auto e = echo_from(client,
                           "GET /fwd HTTP/1.1\r\n"
                           "Host: headers.example.com\r\n"
                           "X-Forwarded-For: 203.0.113.7, 198.51.100.1\r\n"
                           "X-Forwarded-Host: evil.example\r\n"
                           "X-Forwarded-Proto: https\r\n"
                           "X-Forwarded-Port: 1\r\n"
                           "X-Forwarded-Scheme: https\r\n"
                           "X-Real-IP: 192.0.2.9\r\n"
                           "X-Request-ID: my-request-123\r\n"
                           "\r\n");
  EXPECT_EQ(one(e, "X-Forwarded-For"), client);
  EXPECT_EQ(one(e, "X-Original-Forwarded-For"), "203.0.113.7, 198.51.100.1");
  EXPECT_EQ(one(e, "X-Forwarded-Host"), "headers.example.com");
  EXPECT_EQ(one(e, "X-Original-Forwarded-Host"), "evil.example");
  EXPECT_EQ(one(e, "X-Forwarded-Proto"), "http");
  EXPECT_EQ(one(e, "X-Forwarded-Port"), std::to_string(strait().http_port));
  EXPECT_EQ(one(e, "X-Forwarded-Scheme"), "http");
  EXPECT_EQ(one(e, "X-Real-IP"), client);
  EXPECT_EQ(one(e, "X-Request-ID"), "my-request-123") << "a client's request id is kept";
}

TEST_F(HeadersTest, HopByHopRequestHeadersAreNotForwarded) {
  const auto e = echo_from("",
                           "GET /hop HTTP/1.1\r\n"
                           "Host: headers.example.com\r\n"
                           "Connection: keep-alive, X-Hop-Private\r\n"
                           "Keep-Alive: timeout=5, max=100\r\n"
                           "TE: trailers\r\n"
                           "Upgrade: h2c\r\n"
                           "Proxy-Connection: keep-alive\r\n"
                           "X-Hop-Private: secret\r\n"
                           "X-End-To-End: kept\r\n"
                           "\r\n");
  for (const char* name :
       {"Keep-Alive", "TE", "Upgrade", "Proxy-Connection", "X-Hop-Private", "Transfer-Encoding"}) {
    EXPECT_TRUE(echo_header_values(e, name).empty())
        << name << " reached the backend: " << e["headers"].dump();
  }
  for (const std::string& c : echo_header_values(e, "Connection")) {
    EXPECT_EQ(to_lower(c).find("x-hop-private"), std::string::npos)
        << "the client's Connection header was forwarded: " << c;
  }
  EXPECT_EQ(one(e, "X-End-To-End"), "kept");
}

TEST_F(HeadersTest, HopByHopResponseHeadersAreNotForwarded) {
  const auto r = curl({strait().url("/hop"), "-H", "Host: headers.example.com", "-H",
                       "X-Echo-Response-Header: Connection: X-Resp-Private", "-H",
                       "X-Echo-Response-Header: X-Resp-Private: secret", "-H",
                       "X-Echo-Response-Header: Keep-Alive: timeout=99", "-H",
                       "X-Echo-Response-Header: Proxy-Connection: keep-alive", "-H",
                       "X-Echo-Response-Header: X-Resp-Public: kept"});
  ASSERT_EQ(r.status(), 200) << r.describe();
  const HttpResponse& h = r.head();
  EXPECT_EQ(h.header("X-Resp-Private"), nullptr) << h.describe();
  EXPECT_EQ(h.header("Proxy-Connection"), nullptr) << h.describe();
  for (const auto& [name, value] : h.headers) {
    if (iequals(name, "Keep-Alive")) {
      EXPECT_EQ(value.find("99"), std::string::npos) << value;
    }
    if (iequals(name, "Connection")) {
      EXPECT_EQ(to_lower(value).find("x-resp-private"), std::string::npos) << value;
    }
  }
  ASSERT_NE(h.header("X-Resp-Public"), nullptr);
  EXPECT_EQ(*h.header("X-Resp-Public"), "kept");
}

TEST_F(HeadersTest, HostAndTargetReachTheBackendAsSent) {
  // (An escaped unreserved character such as %7E would be normalised to "~": path_test.cpp.)
  const std::string target = "/p/a%20b/c;v=1/~user?q=1&q=2&e=%2F&u=%C3%A9&empty=&flag";
  const auto e = echo_from("", "GET " + target + " HTTP/1.1\r\nHost: Route.Example.com\r\n\r\n");
  EXPECT_EQ(e["target"], target);
  EXPECT_EQ(one(e, "Host"), "Route.Example.com");
  EXPECT_EQ(e["method"], "GET");
  EXPECT_EQ(e["version"], "HTTP/1.1");

  const auto with_port = echo_from("", "GET /x HTTP/1.1\r\nHost: route.example.com:" +
                                           std::to_string(strait().http_port) + "\r\n\r\n");
  EXPECT_EQ(one(with_port, "Host"), "route.example.com:" + std::to_string(strait().http_port));

  // Other methods pass through unchanged too.
  for (const char* method : {"DELETE", "OPTIONS", "PATCH"}) {
    const auto m = echo_from("", std::string(method) +
                                     " /m HTTP/1.1\r\nHost: route.example.com\r\n"
                                     "Content-Length: 0\r\n\r\n");
    EXPECT_EQ(m["method"], method);
  }
}

TEST_F(HeadersTest, ServerHeaderIsAddedOnlyWhenTheBackendSentNone) {
  auto r = curl({strait().url("/"), "-H", "Host: headers.example.com"});
  ASSERT_EQ(r.status(), 200) << r.describe();
  ASSERT_EQ(r.head().header_count("Server"), 1u) << r.head().describe();
  EXPECT_FALSE(r.head().header("Server")->empty());

  r = curl({strait().url("/"), "-H", "Host: headers.example.com", "-H",
            "X-Echo-Response-Header: Server: backend/2.0"});
  ASSERT_EQ(r.status(), 200) << r.describe();
  ASSERT_EQ(r.head().header_count("Server"), 1u) << r.head().describe();
  EXPECT_EQ(*r.head().header("Server"), "backend/2.0");
}

TEST_F(HeadersTest, DateAndContentLengthArePreserved) {
  const std::string date = "Tue, 01 Jan 2019 00:00:00 GMT";
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  ASSERT_TRUE(
      c.send("GET /bytes/12345 HTTP/1.1\r\nHost: headers.example.com\r\n"
             "X-Echo-Response-Header: Date: " +
             date + "\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->header_count("Date"), 1u);
  EXPECT_EQ(*r->header("Date"), date);
  ASSERT_NE(r->header("Content-Length"), nullptr) << "not re-framed: " << r->describe();
  EXPECT_EQ(*r->header("Content-Length"), "12345");
  EXPECT_FALSE(r->chunked);
  EXPECT_EQ(r->body, pattern_bytes(0, 12345));

  // A chunked response arrives intact on the same connection.
  ASSERT_TRUE(c.send("GET /bytes/70000?chunked=1 HTTP/1.1\r\nHost: headers.example.com\r\n\r\n"));
  r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->body, pattern_bytes(0, 70000));

  // HEAD: the length of what GET would send, and no body; the connection stays usable.
  ASSERT_TRUE(c.send("HEAD /bytes/5000 HTTP/1.1\r\nHost: headers.example.com\r\n\r\n"));
  r = c.read_response(10s, true);
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200);
  ASSERT_NE(r->header("Content-Length"), nullptr);
  EXPECT_EQ(*r->header("Content-Length"), "5000");
  ASSERT_TRUE(c.send("GET /after-head HTTP/1.1\r\nHost: headers.example.com\r\n\r\n"));
  r = c.read_response();
  ASSERT_TRUE(r) << "after HEAD: " << c.error();
  EXPECT_EQ(r->json()["target"], "/after-head");
}

TEST_F(HeadersTest, BackendStatusesPassThrough) {
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  for (const int code : {201, 204, 301, 304, 400, 404, 418, 500, 503}) {
    ASSERT_TRUE(c.send("GET /status/" + std::to_string(code) +
                       " HTTP/1.1\r\nHost: headers.example.com\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r) << code << ": " << c.error();
    EXPECT_EQ(r->status, code);
    if (code == 204 || code == 304) {
      EXPECT_EQ(r->body, "");
    } else {
      EXPECT_EQ(r->body, "status " + std::to_string(code) + "\n");
    }
  }
}

TEST_F(HeadersTest, BackendClosingItsConnectionIsNotAClientError) {
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.send("GET /close HTTP/1.1\r\nHost: headers.example.com\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r) << "round " << i << ": " << c.error();
    EXPECT_EQ(r->status, 200);
    ASSERT_TRUE(c.send("GET /next HTTP/1.1\r\nHost: headers.example.com\r\n\r\n"));
    r = c.read_response();
    ASSERT_TRUE(r) << "round " << i << " after the backend closed: " << c.error();
    EXPECT_EQ(r->status, 200);
  }
}

}  // namespace
}  // namespace it
