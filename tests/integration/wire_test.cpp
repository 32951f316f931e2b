// What strait puts on the wire for a short exchange, segment by segment (captured on lo; needs
// root, skipped otherwise): the request's ACK rides on the response, a connection closed after
// its response sends the FIN with the data, and a request whose body is still to come is
// acknowledged at once so that a client with Nagle's algorithm on is not held up.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "harness/fixture.hpp"
#include "harness/segment_capture.hpp"

namespace it {
namespace {

using Clock = std::chrono::steady_clock;

// Linux's delayed-ACK timer waits at least 40 ms: an exchange done sooner than this had no ACK
// from that timer.
constexpr std::chrono::milliseconds kBeforeDelayedAck{35};
// The timing checks allow a slow run (a sanitizer build on a busy machine) a few attempts.
constexpr int kAttempts = 3;

struct Exchange {
  std::vector<TcpSegment> segments;
  Clock::duration took{};  // from the request's first byte to the whole response
  std::string describe() const {
    return it::describe(segments) + "\n  (the exchange took " +
           std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(took).count()) +
           " us)";
  }
};

class WireTest : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    EchoPod* pod = start_pods({"echo"}).front();
    write_manifest("app.yaml", k8s::app("default", "echo", {pod->address}, pod->port));
    write_manifest("ingress.yaml",
                   k8s::ingress(k8s::simple_ingress("wire", "wire.example.com", "/", "echo")));
    start_strait();
  }

  // One request on a new connection, read until strait closes it. nagle: the client sends as
  // most do, a small write waiting for the ACK of the earlier one.
  std::optional<Exchange> exchange(const std::string& head, const std::string& body, bool nagle,
                                   int status = 200) {
    SegmentCapture capture;
    if (!capture.open()) {
      skip_reason_ = capture.error();
      return std::nullopt;
    }
    RawClient c;
    EXPECT_TRUE(c.connect(strait().address, strait().http_port)) << c.error();
    if (nagle) {
      const int off = 0;
      ::setsockopt(c.fd(), IPPROTO_TCP, TCP_NODELAY, &off, sizeof off);
    }
    Exchange e;
    const auto start = Clock::now();
    EXPECT_TRUE(c.send(head));
    if (!body.empty()) {
      EXPECT_TRUE(c.send(body));
    }
    const auto r = c.read_response();
    e.took = Clock::now() - start;
    EXPECT_TRUE(r && r->status == status) << (r ? r->describe() : c.error());
    EXPECT_TRUE(c.wait_closed(5s));
    e.segments = capture.connection(local_port(c.fd()), strait().http_port);
    return e;
  }

  std::string skip_reason_;
};

TEST_F(WireTest, AResponseBeforeCloseCarriesTheFinAndTheRequestsAck) {
  bool ack_on_response = false;
  std::string seen;
  for (int attempt = 0; attempt < kAttempts && !ack_on_response; ++attempt) {
    const auto e = exchange(
        "GET /w HTTP/1.1\r\nHost: wire.example.com\r\nConnection: close\r\n\r\n", "", false);
    if (!e) GTEST_SKIP() << skip_reason_;
    seen = e->describe();
    const auto& segments = e->segments;
    size_t request = segments.size(), response = segments.size(), last_data = segments.size();
    size_t server_fins = 0;
    for (size_t i = 0; i < segments.size(); ++i) {
      const TcpSegment& s = segments[i];
      if (!s.from_server && s.payload > 0 && request == segments.size()) request = i;
      if (s.from_server && s.payload > 0) {
        if (response == segments.size()) response = i;
        last_data = i;
      }
      if (s.from_server && s.has(TcpSegment::kFin)) ++server_fins;
    }
    ASSERT_LT(request, response) << seen;
    ASSERT_LT(last_data, segments.size()) << seen;
    // The FIN is on the segment with the response's last byte: never a bare FIN after it.
    EXPECT_TRUE(segments[last_data].has(TcpSegment::kFin)) << "the FIN came apart:" << seen;
    EXPECT_EQ(server_fins, 1u) << seen;
    // No ACK of its own for the request: the response carries it. (An exchange slower than the
    // delayed-ACK timer may see one from the timer: then it proves nothing; try again.)
    bool own_ack = false;
    for (size_t i = request + 1; i < response; ++i)
      own_ack = own_ack || (segments[i].from_server && segments[i].pure_ack());
    if (own_ack && e->took < kBeforeDelayedAck) {
      ADD_FAILURE() << "the request was acknowledged on its own, not by the response:" << seen;
      return;
    }
    ack_on_response = !own_ack;
  }
  EXPECT_TRUE(ack_on_response) << "every attempt was too slow to tell:" << seen;
}

TEST_F(WireTest, AnAnswerOfStraitsOwnBeforeCloseCarriesTheFin) {
  // 404 for a host no Ingress names: written by strait, not forwarded.
  const auto e = exchange(
      "GET /w HTTP/1.1\r\nHost: nowhere.example.com\r\nConnection: close\r\n\r\n", "", false, 404);
  if (!e) GTEST_SKIP() << skip_reason_;
  const TcpSegment* last_data = nullptr;
  size_t server_fins = 0;
  for (const TcpSegment& s : e->segments) {
    if (s.from_server && s.payload > 0) last_data = &s;
    if (s.from_server && s.has(TcpSegment::kFin)) ++server_fins;
  }
  ASSERT_TRUE(last_data) << e->describe();
  EXPECT_TRUE(last_data->has(TcpSegment::kFin)) << "the FIN came apart:" << e->describe();
  EXPECT_EQ(server_fins, 1u) << e->describe();
}

TEST_F(WireTest, ARequestWhoseBodyIsStillToComeIsAcknowledgedAtOnce) {
  // With Nagle on, the client sends the small body only once its head is acknowledged. Left to
  // the delayed-ACK timer, the exchange can not take less than its 40 ms.
  Clock::duration best = std::chrono::hours(1);
  std::string seen;
  for (int attempt = 0; attempt < kAttempts && best >= kBeforeDelayedAck; ++attempt) {
    const auto e = exchange(
        "POST /w HTTP/1.1\r\nHost: wire.example.com\r\nContent-Length: 4\r\n"
        "Connection: close\r\n\r\n",
        "body", true);
    if (!e) GTEST_SKIP() << skip_reason_;
    seen = e->describe();
    // The body really waited: it went in a segment of its own, after an ACK from strait.
    const auto& segments = e->segments;
    size_t head = segments.size(), ack = segments.size(), body = segments.size();
    for (size_t i = 0; i < segments.size(); ++i) {
      const TcpSegment& s = segments[i];
      if (!s.from_server && s.payload > 0) (head == segments.size() ? head : body) = i;
      if (head < i && body == segments.size() && ack == segments.size() && s.from_server) ack = i;
      if (body < segments.size()) break;
    }
    ASSERT_TRUE(head < ack && ack < body && body < segments.size()) << seen;
    EXPECT_EQ(segments[body].payload, 4u) << seen;
    EXPECT_TRUE(segments[ack].pure_ack()) << seen;
    best = std::min(best, e->took);
  }
  EXPECT_LT(best, kBeforeDelayedAck) << "the head waited for the delayed-ACK timer:" << seen;
}

}  // namespace
}  // namespace it
