// The fake pod and the harness, tested directly (no strait): every other integration test trusts
// what echo_backend reports and what the clients here parse.
#include <signal.h>
#include <sys/wait.h>

#include "harness/fixture.hpp"

namespace it {
namespace {

class EchoBackendTest : public IntegrationTest {
 protected:
  std::string url(const EchoPod& pod, const std::string& path) {
    return "http://" + pod.endpoint() + path;
  }
};

TEST_F(EchoBackendTest, EchoesTheRequestAsJson) {
  EchoPod& pod = start_pod("pod-a");
  const auto r = curl({url(pod, "/some/path?x=1&y=%2F"), "-H", "Host: Example.COM:81", "-H",
                       "X-Dup: one", "-H", "X-Dup: two", "-H", "X-Quote: a\"b\\c"});
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_EQ(r.status(), 200) << r.describe();
  EXPECT_EQ(*r.head().header("Content-Type"), "application/json");
  ASSERT_NE(r.head().header("Date"), nullptr);
  EXPECT_EQ(r.head().header("Server"), nullptr) << "the echo sends no Server header by default";
  const auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["pod"], "pod-a");
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["target"], "/some/path?x=1&y=%2F");
  EXPECT_EQ(j["version"], "HTTP/1.1");
  EXPECT_EQ(j["body_bytes"], 0);
  EXPECT_EQ(j["body_fnv1a64"], fnv_hex(fnv1a64("")));
  EXPECT_EQ(j["local"], pod.endpoint());
  EXPECT_EQ(echo_header_values(j, "host"), std::vector<std::string>{"Example.COM:81"});
  EXPECT_EQ(echo_header_values(j, "X-Dup"), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(echo_header_values(j, "X-Quote"), std::vector<std::string>{"a\"b\\c"});
  // Order as sent: Host first (curl sends it first), X-Dup before X-Quote.
  EXPECT_EQ(j["headers"][0][0], "Host");
}

TEST_F(EchoBackendTest, HashesContentLengthAndChunkedBodies) {
  EchoPod& pod = start_pod("pod-a");
  const std::string body = pattern_bytes(0, 300000);
  const auto file = dir() / "body.bin";
  write_file_in_place(file, body);
  for (const bool chunked : {false, true}) {
    std::vector<std::string> args = {url(pod, "/upload"), "--data-binary", "@" + file.string()};
    if (chunked) args.insert(args.end(), {"-H", "Transfer-Encoding: chunked"});
    const auto r = curl(args);
    ASSERT_EQ(r.status(), 200) << r.describe();
    const auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["method"], "POST");
    EXPECT_EQ(j["body_bytes"], body.size()) << "chunked=" << chunked;
    EXPECT_EQ(j["body_fnv1a64"], fnv_hex(fnv1a64(body))) << "chunked=" << chunked;
    EXPECT_EQ(echo_header_values(j, "Transfer-Encoding").size(), chunked ? 1u : 0u);
  }
  EXPECT_EQ(pattern_fnv1a64(body.size()), fnv1a64(body));
}

TEST_F(EchoBackendTest, BytesEndpointWithLengthOrChunked) {
  EchoPod& pod = start_pod("pod-a");
  for (const bool chunked : {false, true}) {
    RawClient c;
    ASSERT_TRUE(c.connect(pod.address, pod.port)) << c.error();
    ASSERT_TRUE(c.send(std::string("GET /bytes/200001") + (chunked ? "?chunked=1" : "") +
                       " HTTP/1.1\r\nHost: x\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r) << c.error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->chunked, chunked);
    EXPECT_EQ(r->body, pattern_bytes(0, 200001));
    if (!chunked) {
      EXPECT_EQ(*r->header("Content-Length"), "200001");
    }
  }
  const auto r = curl({url(pod, "/bytes/0")});
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.body, "");
}

TEST_F(EchoBackendTest, StatusDelayAndClose) {
  EchoPod& pod = start_pod("pod-a");
  auto r = curl({url(pod, "/status/418")});
  EXPECT_EQ(r.status(), 418) << r.describe();
  EXPECT_EQ(r.body, "status 418\n");
  r = curl({url(pod, "/status/204")});
  EXPECT_EQ(r.status(), 204);
  EXPECT_EQ(r.body, "");

  const auto start = Clock::now();
  r = curl({url(pod, "/delay/300")});
  EXPECT_EQ(r.status(), 200);
  EXPECT_GE(Clock::now() - start, 300ms);
  EXPECT_EQ(nlohmann::json::parse(r.body)["target"], "/delay/300");

  RawClient c;
  ASSERT_TRUE(c.connect(pod.address, pod.port));
  ASSERT_TRUE(c.send("GET /close HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto closed = c.read_response();
  ASSERT_TRUE(closed) << c.error();
  EXPECT_EQ(*closed->header("Connection"), "close");
  EXPECT_TRUE(c.wait_closed(2s));
}

TEST_F(EchoBackendTest, KeepAlivePipeliningAndStats) {
  EchoPod& pod = start_pod("pod-a");
  const BackendStats before = stats(pod);
  RawClient c;
  ASSERT_TRUE(c.connect(pod.address, pod.port));
  // Two pipelined requests in one write, then a third on the same connection.
  ASSERT_TRUE(
      c.send("POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
             "GET /two HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r1 = c.read_response();
  auto r2 = c.read_response();
  ASSERT_TRUE(r1 && r2) << c.error();
  EXPECT_EQ(r1->json()["target"], "/one");
  EXPECT_EQ(r1->json()["body_bytes"], 5);
  EXPECT_EQ(r2->json()["target"], "/two");
  ASSERT_TRUE(c.send("GET /three HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r3 = c.read_response();
  ASSERT_TRUE(r3) << c.error();
  EXPECT_EQ(r3->json()["target"], "/three");
  EXPECT_TRUE(c.idle_now()) << "the connection stays open";
  const BackendStats after = stats(pod);
  EXPECT_EQ(after.requests - before.requests, 3u);
  EXPECT_EQ(after.bytes_received - before.bytes_received, 5u);
  // The /__stats call before counted one connection; ours is one more.
  EXPECT_EQ(after.connections - before.connections, 2u);
}

TEST_F(EchoBackendTest, ExpectContinue) {
  EchoPod& pod = start_pod("pod-a");
  RawClient c;
  ASSERT_TRUE(c.connect(pod.address, pod.port));
  ASSERT_TRUE(
      c.send("PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
  const auto interim = c.read_response(2s, false, true);
  ASSERT_TRUE(interim) << c.error();
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.send("abc"));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->json()["body_bytes"], 3);
}

TEST_F(EchoBackendTest, ResponseHeadersOnRequest) {
  EchoPod& pod = start_pod("pod-a");
  const auto r = curl({url(pod, "/"), "-H", "X-Echo-Response-Header: Server: custom/1", "-H",
                       "X-Echo-Response-Header: Date: Tue, 01 Jan 2019 00:00:00 GMT"});
  ASSERT_EQ(r.status(), 200) << r.describe();
  EXPECT_EQ(r.head().header_count("Server"), 1u);
  EXPECT_EQ(*r.head().header("Server"), "custom/1");
  EXPECT_EQ(r.head().header_count("Date"), 1u);
  EXPECT_EQ(*r.head().header("Date"), "Tue, 01 Jan 2019 00:00:00 GMT");
}

TEST_F(EchoBackendTest, StreamsLargeBodiesBothWays) {
  EchoPod& pod = start_pod("pod-a");
  constexpr uint64_t kSize = 64ull << 20;
  RssSampler rss(pod.process.pid());
  const auto down = curl_stream_download(dir(), {url(pod, "/bytes/" + std::to_string(kSize))}, 60s);
  ASSERT_TRUE(down.curl_ok()) << down.describe();
  EXPECT_EQ(down.http_status, 200);
  EXPECT_EQ(down.bytes, kSize);
  EXPECT_EQ(down.fnv, pattern_fnv1a64(kSize));
  for (const bool content_length : {true, false}) {
    const auto up = curl_stream_upload(dir(), {url(pod, "/upload")}, kSize, content_length, 60s);
    ASSERT_TRUE(up.curl_ok()) << up.describe();
    ASSERT_EQ(up.http_status, 200) << up.describe();
    const auto j = nlohmann::json::parse(up.body);
    EXPECT_EQ(j["body_bytes"], kSize);
    EXPECT_EQ(j["body_fnv1a64"], fnv_hex(pattern_fnv1a64(kSize)));
    EXPECT_EQ(echo_header_values(j, "Transfer-Encoding").empty(), content_length);
  }
  EXPECT_LT(rss.peak_kib(), 32u * 1024) << "echo_backend must stream in constant memory";
}

TEST_F(EchoBackendTest, MalformedRequestsGet400) {
  EchoPod& pod = start_pod("pod-a");
  RawClient c;
  ASSERT_TRUE(c.connect(pod.address, pod.port));
  ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(c.wait_closed(2s));
}

TEST_F(EchoBackendTest, WrkCountsStatusesAndErrors) {
  EchoPod& pod = start_pod("pod-a");
  const auto good = run_wrk(dir(), url(pod, "/"), {{"Host", "x"}}, 1, 2, 1);
  ASSERT_TRUE(good.parsed) << good.command.describe();
  EXPECT_GT(good.ok_2xx, 0u);
  EXPECT_EQ(good.not_2xx, 0u);
  EXPECT_EQ(good.socket_errors(), 0u) << good.command.out;
  // The same checks do fail when they should.
  const auto bad = run_wrk(dir(), url(pod, "/status/503"), {}, 1, 2, 1);
  ASSERT_TRUE(bad.parsed) << bad.command.describe();
  EXPECT_EQ(bad.ok_2xx, 0u);
  EXPECT_GT(bad.not_2xx, 0u);
  EXPECT_GT(bad.non_2xx_3xx, 0u);
}

TEST_F(EchoBackendTest, ExitsZeroOnSigterm) {
  EchoPod& pod = start_pod("pod-a");
  RawClient idle;
  ASSERT_TRUE(idle.connect(pod.address, pod.port));  // an open connection does not hold it up
  pod.process.signal(SIGTERM);
  const auto status = pod.process.wait_exit(5s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
}

TEST_F(EchoBackendTest, RejectsBadArguments) {
  const auto r = run_command({echo_backend_binary(), "--listen", "not-an-address"});
  EXPECT_TRUE(r.exited_with(2)) << r.describe();
  const auto u = run_command({echo_backend_binary(), "--bogus"});
  EXPECT_TRUE(u.exited_with(2)) << u.describe();
}

}  // namespace
}  // namespace it
