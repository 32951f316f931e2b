// Settings of the data path, fixed at startup (flags). Defaults follow ingress-nginx's.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "proxy/http1_parser.hpp"
#include "proxy/outlier_detector.hpp"

namespace strait::proxy {

struct ProxyOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t http_port = 8080;
  uint16_t https_port = 8443;
  bool https = true;  // serve the HTTPS port
  // Port written into HTTP->HTTPS redirects; 0 leaves it out (443: the Service port clients use,
  // whatever port the container listens on).
  uint16_t ssl_redirect_port = 0;
  std::string hsts_header = "max-age=31536000; includeSubDomains";
  // Each period has its own session ticket key; the previous period's key still decrypts.
  std::chrono::milliseconds ssl_session_ticket_key_rotation{12 * 3600 * 1000};
  unsigned workers = 1;
  // Request body limit (ingress-nginx proxy-body-size, 1m); 0 = unlimited.
  uint64_t proxy_body_size = 1024 * 1024;
  std::chrono::milliseconds proxy_connect_timeout{5000};
  std::chrono::milliseconds proxy_read_timeout{60000};
  std::chrono::milliseconds proxy_send_timeout{60000};
  std::chrono::milliseconds client_header_timeout{60000};
  std::chrono::milliseconds client_body_timeout{60000};
  std::chrono::milliseconds keepalive_timeout{75000};
  std::chrono::milliseconds upstream_keepalive_timeout{60000};
  // A WebSocket tunnel with no traffic either way for this long is closed.
  std::chrono::milliseconds websocket_idle_timeout{3600 * 1000};
  // Idle upstream connections kept per endpoint per worker (ingress-nginx: 320 per upstream).
  size_t upstream_keepalive_connections = 320;
  // Client keep-alive requests per connection before we close it (nginx keepalive_requests).
  uint32_t keepalive_requests = 1000;
  // Endpoints one request may be tried on when connecting fails (or, for idempotent requests,
  // when the endpoint fails before any response byte); ingress-nginx proxy-next-upstream-tries.
  uint32_t proxy_next_upstream_tries = 3;
  // Passive health (--upstream-max-fails, --upstream-fail-timeout, --upstream-max-fail-timeout).
  OutlierOptions outlier;
  bool access_log = true;
  // Client connections one worker holds at most (ingress-nginx max-worker-connections); beyond,
  // new connections get 503 and are closed.
  size_t max_worker_connections = 16384;
  // HTTP/2 (ALPN "h2" on the HTTPS port, prior-knowledge h2c on the HTTP port); ingress-nginx's
  // use-http2 and http2-max-concurrent-streams.
  bool http2 = true;
  uint32_t http2_max_concurrent_streams = 128;
  HeadLimits limits;
};

}  // namespace strait::proxy
