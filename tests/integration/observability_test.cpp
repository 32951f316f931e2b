// What an operator watches: Prometheus /metrics on the health port, the JSON access log on
// stdout, and the SIGTERM sequence (readiness off at once, traffic still accepted for
// --shutdown-delay, then drain and exit 0).
#include <sys/wait.h>

#include <regex>
#include <sstream>

#include "harness/fixture.hpp"

namespace it {
namespace {

class ObservabilityTest : public IntegrationTest {
 protected:
  void start_app(StraitOptions o = {}) {
    pod = &start_pod("obs");
    write_manifest(
        "app.yaml",
        k8s::documents(
            {k8s::app("default", "web", {pod->address}, pod->port),
             k8s::ingress(k8s::simple_ingress("web", "obs.example.com", "/", "web")),
             k8s::service("default", "empty", {{"http", 80, "8080"}}),
             k8s::ingress(k8s::simple_ingress("empty", "empty.example.com", "/", "empty"))}));
    start_strait(o);
  }
  std::string metrics() {
    auto r = http_get(strait().address, strait().healthz_port, "localhost", "/metrics", {}, 5s);
    return r && r->status == 200 ? r->body : "error";
  }
  // The value of the first sample line starting with `series` (name and labels), or -1.
  static double sample(const std::string& text, const std::string& series) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    }
    return -1;
  }
  EchoPod* pod = nullptr;
};

TEST_F(ObservabilityTest, PrometheusMetricsCountRequestsByRouteAndStatusClass) {
  start_app();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(pod_for("obs.example.com", "/"), "obs");
  ASSERT_EQ(pod_for("empty.example.com", "/"), "status:503");
  ASSERT_EQ(pod_for("nothing.example.com", "/"), "status:404");
  std::string m;
  const std::string ok =
      R"(strait_requests_total{namespace="default",ingress="web",service="web:80",status_class="2xx"})";
  const std::string unavailable =
      R"(strait_requests_total{namespace="default",ingress="empty",service="empty:80",status_class="5xx"})";
  const std::string not_found =
      R"(strait_requests_total{namespace="",ingress="",service="",status_class="4xx"})";
  // A worker counts a request once the response is written, which can be just after the client
  // has it, and each worker counts its own: poll until every one is in.
  ASSERT_TRUE(eventually(
      [&] {
        m = metrics();
        return sample(m, ok) == 3 && sample(m, not_found) == 1 && sample(m, unavailable) == 1;
      },
      5s))
      << m;
  EXPECT_EQ(
      sample(
          m,
          R"(strait_requests_total{namespace="default",ingress="empty",service="empty:80",status_class="5xx"})"),
      1)
      << m;
  EXPECT_EQ(
      sample(m, R"(strait_requests_total{namespace="",ingress="",service="",status_class="4xx"})"),
      1)
      << m;
  EXPECT_EQ(
      sample(
          m,
          R"(strait_request_duration_seconds_count{namespace="default",ingress="web",service="web:80"})"),
      3)
      << m;
  EXPECT_EQ(
      sample(
          m,
          R"(strait_upstream_response_seconds_bucket{namespace="default",ingress="web",service="web:80",le="+Inf"})"),
      3)
      << m;
  EXPECT_GT(
      sample(m,
             R"(strait_response_bytes_total{namespace="default",ingress="web",service="web:80"})"),
      0)
      << m;
  EXPECT_EQ(sample(m, R"(strait_endpoints{namespace="default",service="web:80"})"), 1) << m;
  EXPECT_EQ(sample(m, R"(strait_endpoints{namespace="default",service="empty:80"})"), 0) << m;
  EXPECT_GE(sample(m, "strait_connections_total"), 5) << m;
  EXPECT_GE(sample(m, "strait_config_published_total"), 1) << m;
  EXPECT_EQ(sample(m, R"(strait_build_info{version="0.1.0"})"), 1) << m;
  EXPECT_GT(sample(m, R"(strait_certificate_expiry_timestamp_seconds{host=""})"), 1.7e9) << m;
  // No raw paths or client addresses become labels.
  EXPECT_EQ(m.find("127."), std::string::npos) << m;
}

TEST_F(ObservabilityTest, AccessLogIsOneJsonObjectPerRequest) {
  start_app();
  auto r = get("obs.example.com", "/some/path?q=1", {{"X-Request-ID", "req-123"}});
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, 200);
  nlohmann::json line;
  ASSERT_TRUE(eventually(
      [&] {
        std::istringstream in(read_file(strait().stdout_path));
        std::string l;
        while (std::getline(in, l)) {
          auto j = nlohmann::json::parse(l, nullptr, false);
          if (j.is_object() && j.value("path", "") == "/some/path") {
            line = j;
            return true;
          }
        }
        return false;
      },
      5s))
      << read_file(strait().stdout_path);
  EXPECT_EQ(line["status"], 200);
  EXPECT_EQ(line["method"], "GET");
  EXPECT_EQ(line["host"], "obs.example.com");
  EXPECT_EQ(line["protocol"], "HTTP/1.1");
  EXPECT_EQ(line["namespace"], "default");
  EXPECT_EQ(line["ingress"], "web");
  EXPECT_EQ(line["service"], "default/web:80");
  EXPECT_EQ(line["upstream_addr"], pod->endpoint());
  EXPECT_EQ(line["upstream_status"], 200);
  EXPECT_TRUE(line.contains("request_time") && line.contains("upstream_response_time"));
  EXPECT_TRUE(line.contains("time") && line.contains("remote_addr"));
}

TEST_F(ObservabilityTest, SigtermTurnsReadinessOffThenKeepsServingForTheDelay) {
  StraitOptions o;
  o.args = {"--shutdown-delay=3s"};
  start_app(o);
  Strait& s = strait();
  s.exit_expected = true;
  s.process.signal(SIGTERM);
  auto signalled = Clock::now();
  EXPECT_TRUE(eventually(
      [&] {
        auto r = http_get(s.address, s.healthz_port, "localhost", "/readyz", {}, 1s);
        return r && r->status == 503;
      },
      2s));
  // Still serving new connections during the delay.
  EXPECT_EQ(pod_for("obs.example.com", "/"), "obs");
  auto status = s.process.wait_exit(15s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_GE(Clock::now() - signalled, 2500ms);
}

}  // namespace
}  // namespace it
