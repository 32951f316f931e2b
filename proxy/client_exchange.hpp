// The per-request state of an HTTP/1.1 client connection, held only while a request is in
// progress (see ClientConnection::await_next_request).
#pragma once

#include <array>
#include <boost/asio/buffer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "proxy/body_forwarder.hpp"
#include "proxy/h2_upstream.hpp"
#include "proxy/http1_parser.hpp"
#include "proxy/payload_reader.hpp"

namespace strait::proxy {

// Everything an exchange needs beyond the connection itself: the read buffer, both parsed heads,
// the body framers and the output strings (about 25 KB, most of it the buffer and the heads'
// field arrays). An idle keep-alive connection gives it back to its worker (Worker::
// give_back_exchange) and waits for the next request with a small landing buffer, so an idle
// client costs about 1 KB instead of 17. The worker keeps a few spare ones, most recently used
// first: a busy connection gets the one it just gave back, warm in cache, and nothing is
// allocated or zeroed per request. Every field is reset by the exchange that uses it, exactly as
// when one connection reused it for its next request.
struct ClientExchange {
  static constexpr size_t kBufferSize = 16 * 1024;

  std::unique_ptr<char[]> buffer{new char[kBufferSize]};
  size_t capacity = kBufferSize;  // grows only for request heads longer than the buffer

  ParsedRequest request;
  ParsedResponse response;
  BodyForwarder request_body;
  BodyForwarder response_body;
  std::string request_head_out;
  std::string normalized_path;
  std::string target;  // normalised path + query, when normalisation changed it
  std::string response_head_out;
  std::string log_prefix;     // JSON access-log fields known at request start; "" = accounted
  std::string route_ingress;  // "namespace/name" of the Ingress that routed it, for metrics
  std::string upstream_name;  // cluster name for the log
  std::string upstream_addr;  // endpoint for the log
  std::vector<boost::asio::const_buffer> write_buffers;

  static constexpr size_t kMaxTries = 8;    // bound of --proxy-next-upstream-tries
  std::array<uint32_t, kMaxTries> tried{};  // endpoint indices tried by this request, in order
  size_t tried_count = 0;
  char request_id[32];
  std::chrono::steady_clock::time_point request_start;
  std::chrono::steady_clock::time_point upstream_start;
  std::chrono::steady_clock::time_point upstream_response_at;

  // The exchange over an h2c upstream stream.
  H2RequestFields h2c_fields;
  PayloadReader h2c_reader;  // the client's body, unframed
  std::string h2c_out;       // framed response bytes waiting for the client
  std::string h2c_wire;      // the bytes being written
  std::vector<H2Field> h2c_trailers;

  ClientExchange() { write_buffers.reserve(3 * 16 + 2); }
};

}  // namespace strait::proxy
