// WebSocket through the real binary: the handshake reaches the pod with its upgrade fields, the
// 101 comes back, then bytes flow both ways unchanged; a configuration change does not close the
// tunnel; a 101 nobody asked for is refused.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness/fixture.hpp"

namespace it {
namespace {

// A raw TCP client that reads whatever arrives (the tunnel carries no HTTP framing).
class Wire {
 public:
  Wire(const std::string& addr, uint16_t port) : fd_(connect_tcp(addr, port)) {}
  ~Wire() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  bool send(std::string_view data) {
    return ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
  }
  // Reads until `needle` has arrived (true) or the deadline/EOF (false).
  bool read_until(std::string_view needle, std::chrono::milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    while (got_.find(needle) == std::string::npos) {
      if (Clock::now() > deadline) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[8192];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      got_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  const std::string& got() const { return got_; }
  void clear() { got_.clear(); }

 private:
  int fd_;
  std::string got_;
};

const char* kHandshake =
    "GET /chat HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

class WebSocketTest : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    pod = &start_pod("ws");
    write_manifest(
        "app.yaml",
        k8s::documents({k8s::app("default", "ws", {pod->address}, pod->port),
                        k8s::ingress(k8s::simple_ingress("ws", "ws.example.com", "/", "ws"))}));
    start_strait();
  }
  EchoPod* pod = nullptr;
};

TEST_F(WebSocketTest, HandshakeThenBytesFlowBothWaysUnchanged) {
  Wire w(strait().address, strait().http_port);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w.send(kHandshake));
  ASSERT_TRUE(w.read_until("hello from ws\n")) << w.got();
  EXPECT_EQ(w.got().rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << w.got();
  EXPECT_NE(w.got().find("Upgrade: websocket\r\n"), std::string::npos) << w.got();
  // The pod received the upgrade request with its Connection: upgrade.
  EXPECT_NE(w.got().find("X-Echo-Connection: upgrade"), std::string::npos) << w.got();
  // Binary payload, including bytes that look like HTTP, comes back byte for byte.
  std::string payload("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58\0GET / HTTP/1.1\r\n\r\n", 33);
  w.clear();
  ASSERT_TRUE(w.send(payload));
  ASSERT_TRUE(w.read_until(payload)) << w.got().size();
  EXPECT_EQ(w.got(), payload);
}

TEST_F(WebSocketTest, ConfigurationChangesDoNotCloseAnOpenTunnel) {
  Wire w(strait().address, strait().http_port);
  ASSERT_TRUE(w.send(kHandshake));
  ASSERT_TRUE(w.read_until("hello from ws\n"));
  // Change the configuration several times, including removing this very route.
  EchoPod& other = start_pod("other");
  for (int i = 0; i < 5; ++i) {
    write_manifest("extra.yaml",
                   k8s::documents({k8s::app("default", "other", {other.address}, other.port),
                                   k8s::ingress(k8s::simple_ingress(
                                       "other", "other" + std::to_string(i) + ".example.com", "/",
                                       "other"))}));
    ASSERT_TRUE(await_pod("other" + std::to_string(i) + ".example.com", "/", "other"));
  }
  remove_manifest("app.yaml");
  ASSERT_TRUE(await_pod("ws.example.com", "/", "status:404"));
  w.clear();
  ASSERT_TRUE(w.send("still here"));
  EXPECT_TRUE(w.read_until("still here")) << w.got();
}

TEST_F(WebSocketTest, PlainRequestsStillWorkAndUpgradeOtherThanWebSocketIsDropped) {
  // h2c upgrade: not honoured; the request is served as plain HTTP/1.1.
  auto r = get("ws.example.com", "/",
               {{"Upgrade", "h2c"},
                {"Connection", "Upgrade, HTTP2-Settings"},
                {"HTTP2-Settings", "AAMAAABkAAQAAP__"}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  auto echo = r->json();
  EXPECT_TRUE(echo_header_values(echo, "Upgrade").empty()) << echo.dump();
  EXPECT_TRUE(echo_header_values(echo, "HTTP2-Settings").empty()) << echo.dump();
}

}  // namespace
}  // namespace it
