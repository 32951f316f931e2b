// Serialises the heads strait sends: the request to the upstream and the response to the client.
// What goes out is always re-framed by strait (one Content-Length or chunked, hop-by-hop fields
// dropped), never the client's or the upstream's framing copied through.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/http1_parser.hpp"

namespace strait::proxy {

struct ForwardContext {
  std::string_view client_ip;       // the peer address of the client connection
  std::string_view server_port;     // the port the client connected to
  std::string_view scheme;          // "http" (or "https" once TLS lands)
  std::string_view new_request_id;  // set when the client sent no X-Request-ID
  std::string_view target{};        // the normalised path+query; empty: the client's target
};

// True for fields that describe one connection (RFC 9110 7.6.1), including those the message's
// own Connection header names.
bool is_hop_by_hop(const ParsedHead& head, size_t index);

// Receives the fields of a request as strait forwards it, in order.
class FieldSink {
 public:
  virtual ~FieldSink() = default;
  virtual void field(std::string_view name, std::string_view value) = 0;
};

// Host (first), the client's end-to-end fields, then strait's forwarded fields (X-Request-ID,
// X-Real-IP, X-Forwarded-*, X-Original-Forwarded-*) as ingress-nginx sets them; hop-by-hop and
// framing fields are left out. Shared by the HTTP/1.1 head writer and the HTTP/2 upstream path.
void visit_upstream_request_fields(const ParsedRequest& req, const ForwardContext& ctx,
                                   FieldSink& sink);

void write_upstream_request_head(const ParsedRequest& req, const ForwardContext& ctx,
                                 BodyFraming framing, uint64_t content_length, std::string& out);

// `framing` is how strait frames the body towards the client; `close` adds Connection: close;
// `http10_keep_alive` adds Connection: keep-alive for an HTTP/1.0 client that asked for it.
// `hsts`, when not empty, is the Strict-Transport-Security value to add.
void write_client_response_head(const ParsedResponse& resp, BodyFraming framing,
                                uint64_t content_length, bool close, bool http10_keep_alive,
                                std::string_view date, std::string_view hsts, std::string& out);

// The upstream's 101 Switching Protocols for a WebSocket handshake: its fields with Upgrade
// kept and "Connection: upgrade".
void write_upgrade_response_head(const ParsedResponse& resp, std::string& out);

// A redirect strait answers itself (HTTP -> HTTPS).
void write_redirect_response(int status, std::string_view location, bool close, bool head_only,
                             std::string_view date, std::string& out);

// The Location of the HTTP -> HTTPS redirect: the request's host without its port, the
// --ssl-redirect-port unless 0 or 443, then the target.
std::string https_redirect_location(std::string_view authority, uint16_t port,
                                    std::string_view target);

// A response strait answers itself (404 default backend, 502, 503, 504, 4xx for bad requests).
void write_local_response(int status, bool close, bool head_only, std::string_view date,
                          std::string& out);

// Appends the small HTML page of a response strait answers itself.
void write_local_response_body(int status, std::string& out);

std::string_view reason_phrase(int status);

}  // namespace strait::proxy
