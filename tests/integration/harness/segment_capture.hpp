// The TCP segments of one loopback connection as they crossed the wire, captured with an
// AF_PACKET socket on "lo" (needs CAP_NET_RAW): which side sent each, its flags and payload
// size, in order. For checks that only the packets show (an ACK riding on a response, a FIN
// joined to the last data). No timestamps: the kernel stamps TCP segments on lo with their
// departure time on another clock, so time is measured by the test itself.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace it {

struct TcpSegment {
  static constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;
  bool from_server = false;
  uint8_t flags = 0;
  uint32_t payload = 0;

  bool has(uint8_t flag) const { return (flags & flag) != 0; }
  // An ACK and nothing else: no data, no SYN/FIN/RST.
  bool pure_ack() const { return payload == 0 && (flags & (kFin | kSyn | kRst)) == 0; }
  std::string describe() const;
};

class SegmentCapture {
 public:
  SegmentCapture() = default;
  SegmentCapture(const SegmentCapture&) = delete;
  SegmentCapture& operator=(const SegmentCapture&) = delete;
  ~SegmentCapture();

  // Starts capturing everything on lo. False (error() says why) without the privilege.
  bool open();
  // The segments of the connection client_port <-> server_port captured so far, in order (the
  // loopback delivers a segment synchronously with its send, so everything a peer has already
  // sent is here). Drains the capture: other connections' segments are dropped.
  std::vector<TcpSegment> connection(uint16_t client_port, uint16_t server_port);
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

// The local port of a connected socket.
uint16_t local_port(int fd);
std::string describe(const std::vector<TcpSegment>& segments);

}  // namespace it
