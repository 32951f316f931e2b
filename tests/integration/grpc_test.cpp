// gRPC through the real binary: a python3-grpcio client calls through strait's HTTP port (h2c)
// to a python3-grpcio server whose Service port says appProtocol "grpc", so strait speaks HTTP/2
// upstream. Unary, server-, client- and bidirectional streaming calls, trailers (grpc-status,
// grpc-message, custom trailing metadata), and a dead upstream answered with a gRPC status.
#include <signal.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "harness/fixture.hpp"

namespace it {
namespace {

constexpr const char* kHost = "grpc.example.com";

class GrpcTest : public IntegrationTest {
 protected:
  std::string peer_script() const {
    return (source_dir() / "tests/integration/grpc_peer.py").string();
  }

  void TearDown() override {
    if (server_.started()) server_.stop(2s);
    IntegrationTest::TearDown();
  }

  // A gRPC server on its own loopback address; returns that address.
  std::string start_grpc_server() {
    std::string address = unused_address();
    server_ = start_python_peer("grpc-server", "grpc_peer.py", {"serve", address + ":50051"});
    return address;
  }

  void write_grpc_app(const std::string& pod_address, const std::string& app_protocol) {
    std::string yaml =
        "apiVersion: v1\nkind: Service\nmetadata: {name: grpc, namespace: default}\n"
        "spec:\n  ports: [{name: grpc, port: 50051, appProtocol: " +
        app_protocol +
        "}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
        "metadata: {name: grpc-1, namespace: default, labels: {kubernetes.io/service-name: "
        "grpc}}\naddressType: IPv4\nports: [{name: grpc, port: 50051}]\n"
        "endpoints: [{addresses: [\"" +
        pod_address + "\"], conditions: {ready: true}}]\n---\n" + k8s::ingress([] {
          k8s::Ingress ing;
          ing.name = "grpc";
          k8s::IngressPath path;
          path.path = "/";
          path.backend = {"grpc", 50051, ""};
          ing.rules.push_back({kHost, {path}});
          return ing;
        }());
    write_manifest("grpc.yaml", k8s::documents({k8s::ingress_class(), yaml}));
  }

  nlohmann::json call_through_strait() {
    CommandResult r =
        run_command({"/usr/bin/python3", peer_script(), "call",
                     strait().address + ":" + std::to_string(strait().http_port), kHost},
                    60s);
    EXPECT_TRUE(r.exited_with(0)) << r.describe();
    try {
      return nlohmann::json::parse(r.out);
    } catch (const std::exception&) {
      ADD_FAILURE() << "the gRPC client printed no JSON: " << r.describe();
      return nlohmann::json::object();
    }
  }

  Process server_;
};

TEST_F(GrpcTest, UnaryAndStreamingCallsPassWithTrailers) {
  std::string address = start_grpc_server();
  write_grpc_app(address, "grpc");
  // The client stream sends 3 MB: over the default 1 MB body limit, as with ingress-nginx.
  start_strait({.args = {"--proxy-body-size=0"}});
  auto r = call_through_strait();

  ASSERT_TRUE(r["unary"]["ok"]) << r;
  EXPECT_EQ(r["unary"]["value"]["response"], "echo:hello");
  EXPECT_EQ(r["unary"]["value"]["trailers"]["x-trailer"], "unary") << "trailers were lost";

  ASSERT_TRUE(r["server_stream"]["ok"]) << r;
  ASSERT_EQ(r["server_stream"]["value"].size(), 50u);
  EXPECT_EQ(r["server_stream"]["value"][49], "msg-49");

  ASSERT_TRUE(r["client_stream"]["ok"]) << r;
  EXPECT_EQ(r["client_stream"]["value"], "3000000");

  ASSERT_TRUE(r["bidi"]["ok"]) << r;
  EXPECT_EQ(r["bidi"]["value"], nlohmann::json::array({"A", "B", "C"}));

  ASSERT_TRUE(r["big"]["ok"]) << "responses stalled on the upstream session's window: " << r;
  EXPECT_EQ(r["big"]["value"], nlohmann::json::array({20000}));

  // An error status from the service arrives as the service sent it (grpc-status in trailers).
  EXPECT_FALSE(r["fail"]["ok"]);
  EXPECT_EQ(r["fail"]["code"], "NOT_FOUND") << r;
  EXPECT_EQ(r["fail"]["details"], "no such thing") << r;
}

TEST_F(GrpcTest, BodyLimitStopsALargeClientStreamAndTheChannelStaysUsable) {
  // The default 1 MB limit: the 3 MB client stream is refused mid-call (the upstream call is
  // cancelled, nothing more reaches the pod), every other call still works.
  std::string address = start_grpc_server();
  write_grpc_app(address, "grpc");
  start_strait();
  auto r = call_through_strait();
  EXPECT_FALSE(r["client_stream"]["ok"]) << r;
  EXPECT_EQ(r["client_stream"]["details"], "413 Content Too Large") << r;
  EXPECT_TRUE(r["unary"]["ok"]) << r;
  EXPECT_TRUE(r["bidi"]["ok"]) << r;
  EXPECT_TRUE(r["big"]["ok"]) << r;
}

TEST_F(GrpcTest, AnHttp11ClientReachesAnH2cPodWithTrailersInTheLastChunk) {
  // The upstream protocol follows appProtocol whatever the client speaks: an HTTP/1.1 request
  // goes to the pod as an HTTP/2 stream, the answer comes back chunked with the pod's trailers.
  std::string address = start_grpc_server();
  write_grpc_app(address, "grpc");
  start_strait();
  // One gRPC message: uncompressed flag, 4-byte length, payload.
  std::string message = std::string("\0\0\0\0\x05", 5) + "hello";
  { std::ofstream(dir() / "message.bin", std::ios::binary) << message; }
  std::string url = strait().url("/echo.Echo/Unary");
  std::vector<std::string> args = {"--http1.1",
                                   "-H",
                                   std::string("Host: ") + kHost,
                                   "-H",
                                   "Content-Type: application/grpc",
                                   "-H",
                                   "TE: trailers",
                                   "--data-binary",
                                   "@" + (dir() / "message.bin").string(),
                                   url,
                                   url};
  CurlResult r = curl(args);
  ASSERT_TRUE(r.ok()) << r.describe();
  ASSERT_EQ(r.transfers.size(), 2u) << r.describe();
  EXPECT_EQ(r.transfers[0].status, 200);
  EXPECT_EQ(r.transfers[1].status, 200);
  EXPECT_EQ(r.transfers[1].num_connects, 0) << "the client connection was not kept alive";
  // Twice the framed answer "echo:hello".
  std::string answer = std::string("\0\0\0\0\x0a", 5) + "echo:hello";
  EXPECT_EQ(r.body, answer + answer);
  // grpc-status travels as a trailer in the last chunk: seen with curl --raw (no unchunking).
  CommandResult raw =
      run_command({"curl", "-sS", "--raw", "--http1.1", "-H", std::string("Host: ") + kHost, "-H",
                   "Content-Type: application/grpc", "-H", "TE: trailers", "--data-binary",
                   "@" + (dir() / "message.bin").string(), url});
  ASSERT_TRUE(raw.exited_with(0)) << raw.describe();
  EXPECT_NE(raw.out.find("\r\n0\r\ngrpc-status: 0\r\n"), std::string::npos) << raw.out;
}

TEST_F(GrpcTest, WithoutAppProtocolTheUpstreamIsHttp11AndTheCallFailsCleanly) {
  // The switch is the Service port's appProtocol: without it strait speaks HTTP/1.1 to the pod,
  // which a gRPC server can not answer; the client still gets a gRPC status, not a broken
  // stream.
  std::string address = start_grpc_server();
  write_grpc_app(address, "http");
  start_strait();
  auto r = call_through_strait();
  EXPECT_FALSE(r["unary"]["ok"]) << r;
  EXPECT_EQ(r["unary"]["code"], "UNAVAILABLE") << r;
}

TEST_F(GrpcTest, DeadUpstreamGivesUnavailable) {
  write_grpc_app(unused_address(), "grpc");
  start_strait();
  auto r = call_through_strait();
  EXPECT_FALSE(r["unary"]["ok"]) << r;
  EXPECT_EQ(r["unary"]["code"], "UNAVAILABLE") << r;
  EXPECT_EQ(r["unary"]["details"], "502 Bad Gateway") << r;
  EXPECT_EQ(r["bidi"]["code"], "UNAVAILABLE") << r;
  // An HTTP/1.1 client of the same dead h2c Service gets 502 and keeps its connection.
  std::string url = strait().url("/plain");
  CurlResult h1 = curl({"--http1.1", "-H", std::string("Host: ") + kHost, url, url});
  ASSERT_EQ(h1.transfers.size(), 2u) << h1.describe();
  EXPECT_EQ(h1.transfers[0].status, 502);
  EXPECT_EQ(h1.transfers[1].status, 502);
  EXPECT_EQ(h1.transfers[1].num_connects, 0) << h1.describe();
}

}  // namespace
}  // namespace it
