// TLS to pods: a Service port with appProtocol "https" makes strait speak HTTPS to its endpoints
// (certificates not verified, as ingress-nginx's proxy-ssl-verify off), from HTTP/1.1 and HTTP/2
// clients alike, with pooled keep-alive connections; without the appProtocol the same pod gets
// plain HTTP and answers nothing strait can use (502).
#include <nlohmann/json.hpp>

#include "harness/fixture.hpp"

namespace it {
namespace {

constexpr const char* kHost = "secure.example.com";

class UpstreamTlsTest : public IntegrationTest {
 protected:
  void TearDown() override {
    if (pod_.started()) pod_.stop(2s);
    IntegrationTest::TearDown();
  }

  // An HTTPS-only pod on its own loopback address.
  std::string start_tls_pod() {
    std::string address = unused_address();
    std::string crt = (dir() / "pod.crt").string(), key = (dir() / "pod.key").string();
    CommandResult cert = run_command({"openssl", "req", "-x509", "-nodes", "-newkey", "ec",
                                      "-pkeyopt", "ec_paramgen_curve:P-256", "-days", "2", "-subj",
                                      "/CN=pod.internal", "-keyout", key, "-out", crt},
                                     60s);
    EXPECT_TRUE(cert.exited_with(0)) << cert.describe();
    pod_ = start_python_peer("pod", "tls_backend.py", {address, "8443", crt, key});
    return address;
  }

  void write_app(const std::string& address, const std::string& app_protocol) {
    std::string yaml =
        "apiVersion: v1\nkind: Service\nmetadata: {name: secure, namespace: default}\n"
        "spec:\n  ports: [{name: https, port: 443" +
        (app_protocol.empty() ? std::string() : ", appProtocol: " + app_protocol) +
        "}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
        "metadata: {name: secure-1, namespace: default, labels: {kubernetes.io/service-name: "
        "secure}}\naddressType: IPv4\nports: [{name: https, port: 8443}]\n"
        "endpoints: [{addresses: [\"" +
        address + "\"], conditions: {ready: true}}]\n";
    k8s::Ingress ing;
    ing.name = "secure";
    k8s::IngressPath path;
    path.path = "/";
    path.backend = {"secure", 443, ""};
    ing.rules.push_back({kHost, {path}});
    write_manifest("app.yaml", k8s::documents({k8s::ingress_class(), yaml, k8s::ingress(ing)}));
  }

  Process pod_;
};

TEST_F(UpstreamTlsTest, AppProtocolHttpsSpeaksTlsToThePodAndReusesConnections) {
  std::string address = start_tls_pod();
  write_app(address, "https");
  start_strait({.args = {}, .workers = 1});
  std::string url = strait().url("/over-tls");
  // Two requests on one client connection, then one over HTTP/2: all through TLS to the pod.
  CurlResult h1 = curl({"-H", std::string("Host: ") + kHost, url, url});
  ASSERT_TRUE(h1.ok()) << h1.describe();
  ASSERT_EQ(h1.transfers.size(), 2u);
  EXPECT_EQ(h1.transfers[0].status, 200);
  EXPECT_EQ(h1.transfers[1].status, 200);
  size_t split = h1.body.find("}{");
  ASSERT_NE(split, std::string::npos) << h1.body;
  auto first = nlohmann::json::parse(h1.body.substr(0, split + 1));
  auto second = nlohmann::json::parse(h1.body.substr(split + 1));
  EXPECT_EQ(first["path"], "/over-tls");
  EXPECT_EQ(first["host"], kHost);
  EXPECT_EQ(first["tls"], "TLSv1.3");
  EXPECT_EQ(first["connection"], second["connection"])
      << "the pooled TLS connection was not reused";

  CurlResult h2 = curl({"--http2-prior-knowledge", "-H", std::string("Host: ") + kHost,
                        "--data-binary", "hello", url});
  ASSERT_TRUE(h2.ok()) << h2.describe();
  ASSERT_EQ(h2.status(), 200) << h2.describe();
  auto via_h2 = nlohmann::json::parse(h2.body);
  EXPECT_EQ(via_h2["tls"], "TLSv1.3");
  EXPECT_EQ(via_h2["method"], "POST");
  EXPECT_EQ(via_h2["body_bytes"], 5);
}

TEST_F(UpstreamTlsTest, WithoutAppProtocolTheTlsPodGetsPlainHttpAnd502) {
  std::string address = start_tls_pod();
  write_app(address, "");
  start_strait();
  CurlResult r = curl({"-H", std::string("Host: ") + kHost, strait().url("/plain")});
  EXPECT_EQ(r.status(), 502) << r.describe();
}

TEST_F(UpstreamTlsTest, AHandshakeThatNeverCompletesIs504WithTheReasonLogged) {
  // A pod that accepts TCP but speaks no TLS (a plain echo pod behind appProtocol https): it
  // waits for an HTTP head that never comes, so the handshake runs into the connect timeout.
  EchoPod& pod = start_pod("plain-pod");
  write_app(pod.address, "https");
  // The EndpointSlice names port 8443; point it at the echo pod's port instead.
  std::string yaml = read_file(manifests_dir() / "app.yaml");
  size_t at = yaml.find("port: 8443");
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, 10, "port: " + std::to_string(pod.port));
  write_manifest("app.yaml", yaml);
  start_strait({.args = {"--proxy-connect-timeout=1s"}});
  CurlResult r = curl({"-H", std::string("Host: ") + kHost, strait().url("/x")});
  EXPECT_EQ(r.status(), 504) << r.describe();
  EXPECT_TRUE(await_log("endpoint=" + pod.endpoint() + ".*TLS handshake failed")) << strait_log();
}

}  // namespace
}  // namespace it
