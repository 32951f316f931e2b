#include "proxy/endpoint_address.hpp"

#include <cstring>

namespace strait::proxy {

boost::asio::ip::tcp::endpoint to_tcp_endpoint(const Endpoint& e) {
  namespace ip = boost::asio::ip;
  if (e.ip.v6) {
    ip::address_v6::bytes_type b;
    std::memcpy(b.data(), e.ip.bytes.data(), 16);
    return {ip::address_v6(b), e.port};
  }
  ip::address_v4::bytes_type b;
  std::memcpy(b.data(), e.ip.bytes.data(), 4);
  return {ip::address_v4(b), e.port};
}

}  // namespace strait::proxy
