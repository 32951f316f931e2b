// HTTP/2 through the real binary: ALPN h2 on the HTTPS port and prior-knowledge h2c on the HTTP
// port, streams proxied to HTTP/1.1 echo pods (headers, bodies both ways, limits), real clients
// (curl, h2load), and the abuse cases of RFC 9113 and the HTTP/2 CVEs driven with raw frames by
// h2_probe.py (python3-hyperframe/hpack): each must end the way the hardening table says, and the
// server must go on serving everyone else.
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "harness/fixture.hpp"

namespace it {
namespace {

constexpr const char* kHost = "h2.example.com";

class Http2Test : public IntegrationTest {
 protected:
  EchoPod* pod = nullptr;

  void start_app(const StraitOptions& options = {}) {
    pod = &start_pod("h2-pod");
    k8s::Ingress ing = k8s::simple_ingress("web", kHost, "/", "web");
    write_manifest(
        "app.yaml",
        k8s::documents({k8s::ingress_class(), k8s::app("default", "web", {pod->address}, pod->port),
                        k8s::ingress(ing)}));
    start_strait(options);
  }

  std::string h2c_url(const std::string& path) {
    return "http://" + strait().address + ":" + std::to_string(strait().http_port) + path;
  }

  // curl over cleartext HTTP/2 with prior knowledge.
  CurlResult h2c(const std::string& path, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--http2-prior-knowledge", "-H", std::string("Host: ") + kHost,
                                     h2c_url(path)};
    args.insert(args.end(), extra.begin(), extra.end());
    return curl(args);
  }

  // curl over TLS; ALPN decides the protocol.
  CurlResult tls(const std::string& path, std::vector<std::string> extra) {
    std::string port = std::to_string(strait().https_port);
    std::vector<std::string> args = {"-k", "--resolve",
                                     std::string(kHost) + ":" + port + ":" + strait().address,
                                     "https://" + std::string(kHost) + ":" + port + path};
    args.insert(args.end(), extra.begin(), extra.end());
    return curl(args);
  }

  nlohmann::json probe(const std::string& which) {
    CommandResult r =
        run_command({"/usr/bin/python3", (source_dir() / "tests/integration/h2_probe.py").string(),
                     strait().address, std::to_string(strait().http_port), kHost, which},
                    60s);
    EXPECT_TRUE(r.exited_with(0)) << r.describe();
    try {
      return nlohmann::json::parse(r.out);
    } catch (const std::exception&) {
      ADD_FAILURE() << "h2_probe printed no JSON: " << r.describe();
      return nlohmann::json::object();
    }
  }

  // The server still serves a new connection normally.
  void expect_still_serving() {
    CurlResult r = h2c("/still-serving");
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.status(), 200) << r.describe();
  }

  static std::string header_of(const nlohmann::json& echo, const std::string& name) {
    for (const auto& h : echo["headers"])
      if (h[0] == name) return h[1];
    return "<absent>";
  }
};

TEST_F(Http2Test, PriorKnowledgeH2cIsProxiedToAnHttp11Pod) {
  start_app();
  CurlResult r =
      h2c("/hello?q=1", {"-H", "X-Custom: yes", "-H", "Cookie: a=1", "-H", "Cookie: b=2"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.head().version, "HTTP/2") << r.describe();
  EXPECT_EQ(r.status(), 200);
  auto echo = nlohmann::json::parse(r.body);
  EXPECT_EQ(echo["version"], "HTTP/1.1");  // the pod speaks HTTP/1.1
  EXPECT_EQ(echo["target"], "/hello?q=1");
  EXPECT_EQ(header_of(echo, "Host"), kHost);  // from :authority
  EXPECT_EQ(header_of(echo, "x-custom"), "yes");
  EXPECT_EQ(header_of(echo, "cookie"), "a=1; b=2");  // RFC 9113 8.2.3: joined for HTTP/1.1
  EXPECT_EQ(header_of(echo, "X-Forwarded-Proto"), "http");
  EXPECT_EQ(header_of(echo, "X-Forwarded-Host"), kHost);
  EXPECT_EQ(header_of(echo, "X-Real-IP"), "127.0.0.1");
  EXPECT_EQ(r.head().header("connection"), nullptr);  // no connection-specific field in h2
  // The access log (stdout, flushed on the worker's tick) marks the protocol.
  EXPECT_TRUE(eventually(
      [&] {
        return read_file(strait().stdout_path)
                   .find("\"path\":\"/hello\",\"protocol\":\"HTTP/2.0\"") != std::string::npos;
      },
      5s))
      << read_file(strait().stdout_path);
}

TEST_F(Http2Test, AlpnChoosesH2ForH2ClientsAndHttp11ForOthers) {
  start_app();
  CurlResult h2 = tls("/alpn", {"--http2"});
  ASSERT_TRUE(h2.ok()) << h2.describe();
  EXPECT_EQ(h2.head().version, "HTTP/2");
  auto echo = nlohmann::json::parse(h2.body);
  EXPECT_EQ(header_of(echo, "X-Forwarded-Proto"), "https");
  EXPECT_EQ(header_of(echo, "X-Forwarded-Port"), std::to_string(strait().https_port));

  CurlResult h1 = tls("/alpn", {"--http1.1"});
  ASSERT_TRUE(h1.ok()) << h1.describe();
  EXPECT_EQ(h1.head().version, "HTTP/1.1");
  EXPECT_EQ(h1.status(), 200);
}

TEST_F(Http2Test, UseHttp2FalseTurnsItOff) {
  start_app({.args = {"--use-http2=false"}});
  CurlResult h = tls("/off", {"--http2"});
  ASSERT_TRUE(h.ok()) << h.describe();
  EXPECT_EQ(h.head().version, "HTTP/1.1");  // ALPN no longer offers h2
  // The preface on the HTTP port is then just a malformed HTTP/1 request.
  CurlResult p = h2c("/off");
  EXPECT_FALSE(p.ok() && p.status() == 200) << p.describe();
}

TEST_F(Http2Test, RequestBodiesStreamUpstreamWithAndWithoutLength) {
  start_app();
  std::string body(900 * 1000, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (i * 7) % 26);
  { std::ofstream(dir() / "body.bin", std::ios::binary) << body; }
  // FNV-1a 64, as the echo pod reports it.
  uint64_t fnv = 0xcbf29ce484222325ULL;
  for (unsigned char c : body) fnv = (fnv ^ c) * 0x100000001b3ULL;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv));

  for (bool chunked : {false, true}) {
    std::vector<std::string> extra = {"--data-binary", "@" + (dir() / "body.bin").string()};
    // Without a length, curl streams DATA frames and strait frames the body chunked upstream.
    if (chunked) extra.insert(extra.end(), {"-H", "Transfer-Encoding: chunked"});
    CurlResult r = h2c("/upload", extra);
    ASSERT_TRUE(r.ok()) << r.describe();
    ASSERT_EQ(r.status(), 200) << r.describe();
    auto echo = nlohmann::json::parse(r.body);
    EXPECT_EQ(echo["body_bytes"], body.size()) << "chunked=" << chunked;
    EXPECT_EQ(echo["body_fnv1a64"], hex) << "chunked=" << chunked;
    EXPECT_EQ(header_of(echo, chunked ? "Transfer-Encoding" : "Content-Length"),
              chunked ? "chunked" : std::to_string(body.size()));
  }
}

TEST_F(Http2Test, ResponseBodiesOfAnySizeAndFramingArriveWhole) {
  start_app();
  for (const char* path : {"/bytes/3000000", "/bytes/3000000?chunked=1", "/bytes/0"}) {
    CurlResult r = h2c(path);
    ASSERT_TRUE(r.ok()) << r.describe();
    ASSERT_EQ(r.status(), 200) << path;
    size_t n = std::string_view(path).find("3000000") != std::string_view::npos ? 3000000 : 0;
    ASSERT_EQ(r.body.size(), n) << path;
    bool pattern = true;
    for (size_t i = 0; i < r.body.size() && pattern; ++i)
      pattern = r.body[i] == static_cast<char>('a' + i % 26);
    EXPECT_TRUE(pattern) << path << ": body bytes differ from what the pod sent";
  }
  CurlResult head = h2c("/bytes/1000", {"-I"});
  ASSERT_TRUE(head.ok()) << head.describe();
  EXPECT_EQ(head.status(), 200);
  ASSERT_NE(head.head().header("content-length"), nullptr);
  EXPECT_EQ(*head.head().header("content-length"), "1000");
}

TEST_F(Http2Test, BodyLimitAndLocalAnswers) {
  start_app({.args = {"--proxy-body-size=100k"}});
  std::string big(200 * 1024, 'x');
  { std::ofstream(dir() / "big.bin", std::ios::binary) << big; }
  uint64_t before = stats(*pod).requests;
  for (bool chunked : {false, true}) {
    std::vector<std::string> extra = {"--data-binary", "@" + (dir() / "big.bin").string()};
    if (chunked) extra.insert(extra.end(), {"-H", "Transfer-Encoding: chunked"});
    CurlResult r = h2c("/too-big", extra);
    EXPECT_EQ(r.status(), 413) << "chunked=" << chunked << " " << r.describe();
  }
  // The declared length is refused before anything reaches the pod.
  CurlResult declared = h2c("/too-big", {"--data-binary", "@" + (dir() / "big.bin").string()});
  EXPECT_EQ(declared.status(), 413);
  CurlResult unknown =
      curl({"--http2-prior-knowledge", "-H", "Host: nowhere.example", h2c_url("/")});
  EXPECT_EQ(unknown.status(), 404) << unknown.describe();
  EXPECT_EQ(stats(*pod).requests - before, 1u)
      << "only the chunked upload may have reached the pod (its length was unknown)";
}

TEST_F(Http2Test, ManyConcurrentStreamsOnFewConnections) {
  start_app();
  CommandResult r = run_command({"h2load", "-n", "4000", "-c", "8", "-m", "20", "-H",
                                 std::string(":authority: ") + kHost, h2c_url("/load")},
                                120s);
  ASSERT_TRUE(r.exited_with(0)) << r.describe();
  EXPECT_NE(r.out.find("4000 succeeded, 0 failed, 0 errored"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("status codes: 4000 2xx"), std::string::npos) << r.out;
}

TEST_F(Http2Test, SettingsAdvertiseStreamAndHeaderLimits) {
  start_app();
  auto r = probe("settings");
  EXPECT_EQ(r["settings"]["3"], 128) << r;    // SETTINGS_MAX_CONCURRENT_STREAMS
  EXPECT_EQ(r["settings"]["6"], 65536) << r;  // SETTINGS_MAX_HEADER_LIST_SIZE
}

TEST_F(Http2Test, AuthorityDisagreeingWithHostIsRejectedAndNeverForwarded) {
  start_app();
  uint64_t before = stats(*pod).requests;
  auto r = probe("authority_mismatch");
  EXPECT_EQ(r["statuses"]["1"], 400) << r;
  EXPECT_EQ(stats(*pod).requests, before);
}

TEST_F(Http2Test, HpackBombIsCappedWith431AndTheConnectionLives) {
  start_app();
  auto r = probe("hpack_bomb");
  EXPECT_EQ(r["statuses"]["1"], 431) << r;
  EXPECT_EQ(r["statuses"]["3"], 200) << r;
  EXPECT_TRUE(r["goaway"].is_null()) << r;
}

TEST_F(Http2Test, StreamsBeyondTheAdvertisedLimitEndTheConnection) {
  // nghttp2 answers a client that ignores SETTINGS_MAX_CONCURRENT_STREAMS with a connection
  // error (stricter than the REFUSED_STREAM RFC 9113 allows): the excess is never served.
  start_app();
  auto r = probe("too_many_streams");
  EXPECT_EQ(r["goaway"], 1) << r;  // PROTOCOL_ERROR
  expect_still_serving();
}

TEST_F(Http2Test, RapidResetGetsGoawayEnhanceYourCalm) {
  start_app();
  auto r = probe("rapid_reset");
  EXPECT_EQ(r["goaway"], 11) << r;  // ENHANCE_YOUR_CALM
  expect_still_serving();
}

TEST_F(Http2Test, MadeYouResetCountsStreamsTheServerMustReset) {
  start_app();
  auto r = probe("made_you_reset");
  EXPECT_EQ(r["goaway"], 11) << r;
  EXPECT_GT(r["rst"].size(), 100u) << "the probe did not make the server reset streams";
  EXPECT_LT(r["rst"].size(), 1100u) << "the reset budget was not enforced";
  expect_still_serving();
}

TEST_F(Http2Test, ContinuationFloodIsCutShort) {
  start_app();
  auto r = probe("continuation_flood");
  EXPECT_EQ(r["goaway"], 11) << r;
  expect_still_serving();
}

TEST_F(Http2Test, EmptyDataFloodGetsGoaway) {
  start_app();
  auto r = probe("empty_data_flood");
  EXPECT_EQ(r["goaway"], 11) << r;
  expect_still_serving();
}

TEST_F(Http2Test, AnIdleConnectionGetsGoawayThenCloses) {
  start_app({.args = {"--keepalive-timeout=1s"}});
  auto r = probe("idle");
  EXPECT_EQ(r["statuses"]["1"], 200) << r;
  EXPECT_EQ(r["goaway"], 0) << r;  // NO_ERROR: a graceful goodbye
  EXPECT_TRUE(r["closed"]) << r;
}

TEST_F(Http2Test, AbandonedUploadsGiveTheirWindowBack) {
  start_app();
  auto r = probe("aborted_uploads");
  EXPECT_TRUE(r["goaway"].is_null()) << "the connection window leaked: " << r;
  EXPECT_EQ(r["statuses"]["81"], 200) << r;
}

TEST_F(Http2Test, PingFloodFromAClientThatNeverReadsIsClosed) {
  start_app();
  auto r = probe("ping_flood");
  EXPECT_TRUE(r["closed"]) << r;
  expect_still_serving();
}

TEST_F(Http2Test, SigtermLetsInFlightStreamsFinishAfterGoaway) {
  start_app({.args = {"--shutdown-delay=0s"}});
  Strait& s = strait();
  // A slow request in flight over HTTP/2 when the drain starts.
  Process client(
      {"curl", "-sS", "--http2-prior-knowledge", "-H", std::string("Host: ") + kHost, "-o",
       (dir() / "slow.out").string(), "-w", "%{http_code}", h2c_url("/delay/1500")},
      SpawnOptions{.stdout_path = dir() / "slow.code", .stderr_path = dir() / "slow.err"});
  ASSERT_TRUE(eventually([&] { return stats(*pod).requests >= 1; }, 5s));
  s.exit_expected = true;
  s.process.signal(SIGTERM);
  auto client_status = client.wait_exit(10s);
  ASSERT_TRUE(client_status);
  EXPECT_TRUE(WIFEXITED(*client_status) && WEXITSTATUS(*client_status) == 0);
  EXPECT_EQ(read_file(dir() / "slow.code"), "200");
  auto status = s.process.wait_exit(10s);
  ASSERT_TRUE(status) << "strait did not exit after its last stream";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
}

}  // namespace
}  // namespace it
