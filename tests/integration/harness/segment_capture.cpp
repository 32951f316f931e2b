#include "harness/segment_capture.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace it {

std::string TcpSegment::describe() const {
  std::string f;
  const char* names = "FSRPA";
  for (int i = 0; i < 5; ++i)
    if (flags & (1 << i)) f += names[i];
  return std::string(from_server ? "server>" : "client>") + " [" + f + "] len " +
         std::to_string(payload);
}

std::string describe(const std::vector<TcpSegment>& segments) {
  std::string out;
  for (const TcpSegment& s : segments) out += "\n  " + s.describe();
  return out;
}

SegmentCapture::~SegmentCapture() {
  if (fd_ >= 0) ::close(fd_);
}

bool SegmentCapture::open() {
  fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (fd_ < 0) {
    error_ = std::string("AF_PACKET socket: ") + std::strerror(errno);
    return false;
  }
  sockaddr_ll at{};
  at.sll_family = AF_PACKET;
  at.sll_protocol = htons(ETH_P_ALL);
  at.sll_ifindex = static_cast<int>(::if_nametoindex("lo"));
  const int buffer = 8 << 20;  // other tests' traffic shares lo
  if (at.sll_ifindex == 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) {
    error_ = std::string("capture on lo: ") + std::strerror(errno);
    return false;
  }
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer);
  return true;
}

std::vector<TcpSegment> SegmentCapture::connection(uint16_t client_port, uint16_t server_port) {
  std::vector<TcpSegment> out;
  unsigned char frame[256];  // headers are enough; the payload size comes from the IP header
  for (;;) {
    sockaddr_ll from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = ::recvfrom(fd_, frame, sizeof frame, MSG_TRUNC,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) break;  // EAGAIN: nothing more captured
    // lo shows each packet twice, leaving and arriving: keep the arrivals.
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    const size_t got = std::min(static_cast<size_t>(n), sizeof frame);
    if (got < 14 + 20 || frame[12] != 0x08 || frame[13] != 0x00) continue;  // IPv4 only
    const unsigned char* ip = frame + 14;
    const size_t ip_header = (ip[0] & 0x0f) * 4u;
    if (ip[9] != IPPROTO_TCP || got < 14 + ip_header + 20) continue;
    const unsigned char* tcp = ip + ip_header;
    const uint16_t src = static_cast<uint16_t>(tcp[0] << 8 | tcp[1]);
    const uint16_t dst = static_cast<uint16_t>(tcp[2] << 8 | tcp[3]);
    const bool from_server = src == server_port && dst == client_port;
    if (!from_server && !(src == client_port && dst == server_port)) continue;
    const size_t total = static_cast<size_t>(ip[2] << 8 | ip[3]);
    const size_t tcp_header = (tcp[12] >> 4) * 4u;
    TcpSegment s;
    s.from_server = from_server;
    s.flags = tcp[13];
    s.payload = static_cast<uint32_t>(total - ip_header - tcp_header);
    out.push_back(s);
  }
  return out;
}

uint16_t local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.sin_port);
}

}  // namespace it
