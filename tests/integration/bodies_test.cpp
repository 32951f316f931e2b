// Request and response bodies through the proxy: both framings, Expect: 100-continue, the body
// size limit (413 without reaching the backend), and a large transfer each way in constant memory.
#include <cstdlib>

#include "harness/fixture.hpp"

namespace it {
namespace {

class BodiesTest : public IntegrationTest {
 protected:
  EchoPod* pod = nullptr;

  void start(const std::vector<std::string>& args = {}) {
    pod = start_pods({"sink"}).front();
    write_manifest("app.yaml", k8s::app("default", "sink", {pod->address}, pod->port));
    write_manifest("ingress.yaml",
                   k8s::ingress(k8s::simple_ingress("b", "bodies.example.com", "/", "sink")));
    start_strait({.args = args});
  }

  std::filesystem::path pattern_file(size_t n) {
    const auto path = dir() / ("pattern-" + std::to_string(n) + ".bin");
    write_file_in_place(path, pattern_bytes(0, n));
    return path;
  }

  // POSTs n pattern bytes with curl (chunked or with Content-Length).
  CurlResult post(size_t n, bool chunked) {
    std::vector<std::string> args = {strait().url("/upload"),
                                     "-H",
                                     "Host: bodies.example.com",
                                     "--data-binary",
                                     "@" + pattern_file(n).string(),
                                     "-H",
                                     "Content-Type: application/octet-stream",
                                     "-H",
                                     "Expect:"};
    if (chunked) args.insert(args.end(), {"-H", "Transfer-Encoding: chunked"});
    return curl(args);
  }

  void expect_echoed(const CurlResult& r, size_t n) {
    ASSERT_EQ(r.status(), 200) << r.describe();
    const auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["body_bytes"], n);
    EXPECT_EQ(j["body_fnv1a64"], fnv_hex(pattern_fnv1a64(n)));
  }

  std::string head_with_length(size_t n, bool expect_continue) {
    return "POST /upload HTTP/1.1\r\nHost: bodies.example.com\r\nContent-Length: " +
           std::to_string(n) + "\r\n" + (expect_continue ? "Expect: 100-continue\r\n" : "") +
           "\r\n";
  }
};

TEST_F(BodiesTest, ContentLengthAndChunkedRequestBodies) {
  start();
  for (const size_t n : {size_t{1}, size_t{65536}, size_t{300001}}) {
    expect_echoed(post(n, false), n);
    expect_echoed(post(n, true), n);
  }
  // Chunk extensions and trailers are understood; the body arrives whole.
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  ASSERT_TRUE(
      c.send("POST /raw HTTP/1.1\r\nHost: bodies.example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  ASSERT_EQ(r->status, 200) << r->describe();
  EXPECT_EQ(r->json()["body_bytes"], 11);
  EXPECT_EQ(r->json()["body_fnv1a64"], fnv_hex(fnv1a64("hello world")));
  // And the connection carries on.
  ASSERT_TRUE(c.send(head_with_length(3, false) + "abc"));
  const auto next = c.read_response();
  ASSERT_TRUE(next) << c.error();
  EXPECT_EQ(next->json()["body_bytes"], 3);
}

TEST_F(BodiesTest, ExpectContinueIsAnswered) {
  start();
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  ASSERT_TRUE(c.send(head_with_length(10, true)));
  // The body is held back until the proxy says to go on.
  const auto interim = c.read_response(3s, false, true);
  ASSERT_TRUE(interim) << "no 100 Continue: " << c.error();
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.send("0123456789"));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.error();
  ASSERT_EQ(r->status, 200) << r->describe();
  EXPECT_EQ(r->json()["body_bytes"], 10);
  EXPECT_EQ(r->json()["body_fnv1a64"], fnv_hex(fnv1a64("0123456789")));

  // curl sends Expect: 100-continue on its own for uploads and waits up to 1 s for the 100.
  const auto start_time = Clock::now();
  const auto up = curl({strait().url("/upload"), "-H", "Host: bodies.example.com", "-T",
                        pattern_file(2000).string(), "-H", "Expect: 100-continue"});
  EXPECT_EQ(up.status(), 200) << up.describe();
  EXPECT_LT(Clock::now() - start_time, 900ms) << "curl waited for a 100 Continue that never came";
}

TEST_F(BodiesTest, BodiesOverTheDefaultOneMegabyteLimitGet413WithoutReachingTheBackend) {
  start();
  const BackendStats before = stats(*pod);
  expect_echoed(post(1 << 20, false), 1 << 20);  // exactly 1m passes, as in nginx
  const auto over = post((1 << 20) + 1, false);
  EXPECT_EQ(over.status(), 413) << over.describe();
  const BackendStats after = stats(*pod);
  EXPECT_EQ(after.requests - before.requests, 1u) << "the refused request reached the backend";
  EXPECT_EQ(after.bytes_received - before.bytes_received, uint64_t{1} << 20);

  // With Expect: 100-continue the answer is 413 instead of 100, before any body is sent.
  RawClient c;
  ASSERT_TRUE(c.connect(strait().address, strait().http_port));
  ASSERT_TRUE(c.send(head_with_length(2 << 20, true)));
  const auto r = c.read_response(5s, false, true);
  ASSERT_TRUE(r) << c.error();
  EXPECT_EQ(r->status, 413) << r->describe();
  EXPECT_EQ(stats(*pod).requests, after.requests);

  // Chunked bodies are counted as they arrive.
  const auto chunked = post((1 << 20) + 4096, true);
  EXPECT_EQ(chunked.status(), 413) << chunked.describe();
}

TEST_F(BodiesTest, ProxyBodySizeFlagSetsTheLimit) {
  start({"--proxy-body-size=512k"});
  expect_echoed(post(512 * 1024, false), 512 * 1024);
  const auto over = post(512 * 1024 + 1, false);
  EXPECT_EQ(over.status(), 413) << over.describe();
}

TEST_F(BodiesTest, ProxyBodySizeZeroLiftsTheLimit) {
  start({"--proxy-body-size", "0"});
  expect_echoed(post(3 << 20, false), 3 << 20);
  expect_echoed(post(3 << 20, true), 3 << 20);
}

// 1 GiB each way (STRAIT_IT_LARGE_BYTES overrides), checked by size and hash, while strait's
// resident memory stays within 64 MiB of what it used before.
TEST_F(BodiesTest, LargeUploadAndDownloadStreamInConstantMemory) {
  uint64_t size = uint64_t{1} << 30;
  if (const char* env = std::getenv("STRAIT_IT_LARGE_BYTES")) size = std::stoull(env);
  start({"--proxy-body-size=0"});
  for (int i = 0; i < 20; ++i) ASSERT_EQ(pod_for("bodies.example.com", "/warm"), "sink");
  const uint64_t baseline = rss_kib(strait().process.pid());
  ASSERT_GT(baseline, 0u);
  RssSampler rss(strait().process.pid());
  const std::vector<std::string> host = {"-H", "Host: bodies.example.com"};

  auto args = host;
  args.push_back(strait().url("/bytes/" + std::to_string(size)));
  const auto down = curl_stream_download(dir(), args, 300s);
  EXPECT_TRUE(down.curl_ok()) << down.describe();
  EXPECT_EQ(down.http_status, 200);
  EXPECT_EQ(down.bytes, size);
  EXPECT_EQ(down.fnv, pattern_fnv1a64(size)) << "downloaded body differs";

  args = host;
  args.push_back(strait().url("/upload"));
  const auto up = curl_stream_upload(dir(), args, size, true, 300s);
  ASSERT_TRUE(up.curl_ok()) << up.describe();
  ASSERT_EQ(up.http_status, 200) << up.describe();
  const auto j = nlohmann::json::parse(up.body);
  EXPECT_EQ(j["body_bytes"], size);
  EXPECT_EQ(j["body_fnv1a64"], fnv_hex(pattern_fnv1a64(size))) << "uploaded body differs";

  // Both framings the other way round, smaller.
  const uint64_t small = std::min<uint64_t>(size, 64 << 20);
  args = host;
  args.push_back(strait().url("/bytes/" + std::to_string(small) + "?chunked=1"));
  const auto down_chunked = curl_stream_download(dir(), args, 120s);
  EXPECT_EQ(down_chunked.bytes, small) << down_chunked.describe();
  EXPECT_EQ(down_chunked.fnv, pattern_fnv1a64(small));
  args = host;
  args.push_back(strait().url("/upload"));
  const auto up_chunked = curl_stream_upload(dir(), args, small, false, 120s);
  ASSERT_EQ(up_chunked.http_status, 200) << up_chunked.describe();
  EXPECT_EQ(nlohmann::json::parse(up_chunked.body)["body_bytes"], small);

  const uint64_t peak = std::max(rss.peak_kib(), rss_kib(strait().process.pid()));
  EXPECT_LT(peak, baseline + 64 * 1024) << "strait's RSS grew from " << baseline / 1024
                                        << " MiB to " << peak / 1024 << " MiB while streaming";
  RecordProperty("rss_baseline_kib", std::to_string(baseline));
  RecordProperty("rss_peak_kib", std::to_string(peak));
}

}  // namespace
}  // namespace it
