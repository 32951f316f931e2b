// The socket address of a Snapshot Endpoint (the Snapshot keeps Asio out of its header).
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include "strait/snapshot.hpp"

namespace strait::proxy {

boost::asio::ip::tcp::endpoint to_tcp_endpoint(const Endpoint& e);

}  // namespace strait::proxy
