// A client that asks for a large response and never reads it (issue 6; slowhttptest -X): strait
// stops reading the upstream when the client's socket is full, closes the client connection
// once a write has made no progress for --proxy-send-timeout, and releases the upstream
// connection. Memory stays bounded by the per-connection buffers whatever the response size.
#include <sstream>

#include "harness/fixture.hpp"

namespace it {
namespace {

class SlowReaderTest : public IntegrationTest {
 protected:
  // Connections the pod has open (its /__stats request's own included).
  static uint64_t pod_open_connections(const EchoPod& pod) {
    const auto r = http_get(pod.address, pod.port, "pod", "/__stats");
    return r && r->status == 200 ? r->json()["open_connections"].get<uint64_t>() : 0;
  }
};

TEST_F(SlowReaderTest, ClientThatNeverReadsIsClosedAfterTheSendTimeoutAndReleasesTheUpstream) {
  EchoPod& pod = start_pod("big");
  write_manifest("app.yaml", k8s::app("default", "big", {pod.address}, pod.port));
  write_manifest("ingress.yaml",
                 k8s::ingress(k8s::simple_ingress("big", "big.example.com", "/", "big")));
  start_strait({.args = {"--proxy-send-timeout=1s"}});
  const uint64_t rss_before = rss_kib(strait().process.pid());
  RssSampler rss(strait().process.pid());

  // 20 clients each ask for 256 MiB and read nothing.
  constexpr int kClients = 20;
  constexpr uint64_t kSize = 256ull << 20;
  std::vector<RawClient> clients(kClients);
  const auto start = Clock::now();
  for (auto& c : clients) {
    ASSERT_TRUE(c.connect(strait().address, strait().http_port));
    ASSERT_TRUE(c.send("GET /bytes/" + std::to_string(kSize) +
                       " HTTP/1.1\r\nHost: big.example.com\r\n\r\n"));
  }
  // Everything reached the pod: 20 upstream connections (and this stats request's own).
  ASSERT_TRUE(eventually([&] { return stats(pod).requests >= kClients; }, 10s));
  // Other clients are served meanwhile.
  EXPECT_EQ(pod_for("big.example.com", "/other"), "big");

  // strait closes them once a write has been stuck for a second...
  ASSERT_TRUE(eventually([&] { return metric("strait_connections_active") == 0; }, 15s))
      << "slow readers still connected: " << metric("strait_connections_active");
  const auto closed_after = Clock::now() - start;
  EXPECT_GE(closed_after, 1s);
  EXPECT_LT(closed_after, 8s);
  // ...and lets go of their upstream connections: left are the stats request's own and the one
  // strait keeps idle in its pool from the /other request.
  EXPECT_TRUE(eventually([&] { return pod_open_connections(pod) == 2; }, 10s))
      << "upstream connections still open: " << pod_open_connections(pod);
  for (auto& c : clients) EXPECT_TRUE(c.wait_closed(10s)) << "client connection left open";

  // Bounded memory: per-connection buffers, not the 5 GiB the clients asked for.
  const uint64_t grown = rss.peak_kib() > rss_before ? rss.peak_kib() - rss_before : 0;
  RecordProperty("rss_before_kib", std::to_string(rss_before));
  RecordProperty("rss_peak_kib", std::to_string(rss.peak_kib()));
  EXPECT_LT(grown, 16u * 1024) << "RSS grew by " << grown << " KiB";
  // The upstream did nothing wrong: no upstream error is logged for these.
  EXPECT_EQ(strait_log().find("upstream error"), std::string::npos) << strait_log();
}

}  // namespace
}  // namespace it
