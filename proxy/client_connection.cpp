#include "proxy/client_connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <cstring>
#include <ctime>

#include "proxy/endpoint_address.hpp"
#include "proxy/exchange_routing.hpp"
#include "proxy/h2_connection.hpp"
#include "proxy/h2_memory.hpp"
#include "proxy/head_writer.hpp"
#include "proxy/path_normalizer.hpp"
#include "proxy/tls_stream.hpp"
#include "strait/clock.hpp"
#include "tls/certificate_set.hpp"

namespace strait::proxy {
namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::chrono::milliseconds kLinger{2000};

using error_code = boost::system::error_code;
using quick_ack = boost::asio::detail::socket_option::boolean<IPPROTO_TCP, TCP_QUICKACK>;

}  // namespace

template <typename Stream>
ClientConnection<Stream>::ClientConnection(Worker& worker, Stream stream, std::string client_ip,
                                           uint16_t server_port)
    : worker_(worker),
      stream_(std::move(stream)),
      client_ip_(std::move(client_ip)),
      server_port_(std::to_string(server_port)) {
  // No getpeername/getsockname/setsockopt here: the worker's accept4 returned the peer, the
  // listener's port is known, and TCP_NODELAY is inherited from the listening socket.
  worker_.register_connection(this);
  worker_.metrics().connections_total.add();
}

template <typename Stream>
ClientConnection<Stream>::~ClientConnection() {
  // A connection that closes mid-exchange (Connection: close, errors) gives its exchange state
  // back too: a new connection per request then allocates none.
  if (ex_) worker_.give_back_exchange(std::move(ex_));
  // A connection handed to an HTTP/2 session is counted (and its TLS state closed) there.
  if (!handed_off_) {
    if constexpr (kTls) {
      // strait closes TLS connections without close_notify, and OpenSSL drops the session of an
      // SSL freed that way from the server cache (TLS 1.0's rule, lifted by RFC 5246 7.2.1), so
      // TLS 1.2 clients without tickets could never resume. Mark it closed, as nginx's quiet
      // shutdown does; a fatal alert has already removed a bad session.
      SSL_set_shutdown(stream_.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    worker_.metrics().connections_closed.add();
  }
  worker_.unregister_connection(this);
}

template <typename Stream>
void ClientConnection<Stream>::start() {
  if constexpr (kTls) {
    // The handshake picks the certificate from the configuration current now; the connection
    // keeps it even if a Secret rotates meanwhile.
    snapshot_ = worker_.snapshot();
    tls::CertificateSet::attach(stream_.native_handle(), snapshot_.certificates());
    phase_ = Phase::ReadHead;
    set_deadline(worker_.options().client_header_timeout);
    stream_.async_handshake([self = this->shared_from_this()](const error_code& ec) {
      self->snapshot_.reset();
      if (ec) return self->close();
      if (self->negotiated_h2()) return self->hand_off_to_http2();
      self->read_head();
    });
  } else {
    read_head();
  }
}

template <typename Stream>
template <typename Handler>
void ClientConnection<Stream>::read_some(char* data, size_t size, Handler&& handler) {
  stream_.async_read_some(asio::buffer(data, size), recycled(std::forward<Handler>(handler)));
}

template <typename Stream>
template <typename Buffers, typename Handler>
void ClientConnection<Stream>::write_upstream(const Buffers& buffers, Handler&& handler) {
  upstream_->async_write(buffers, recycled(std::forward<Handler>(handler)));
}

template <typename Stream>
template <typename Buffers, typename Handler>
void ClientConnection<Stream>::write_client(const Buffers& buffers, Handler&& handler) {
  asio::async_write(stream_, buffers, recycled(std::forward<Handler>(handler)));
}

template <typename Stream>
void ClientConnection<Stream>::consume(size_t n) {
  begin_ += n;
  if (begin_ == end_) begin_ = end_ = 0;
}

template <typename Stream>
bool ClientConnection<Stream>::make_room() {
  if (end_ < ex_->capacity) return true;
  if (begin_ > 0) {
    std::memmove(ex_->buffer.get(), ex_->buffer.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    return true;
  }
  // Only a request head may need more than the initial buffer; bound it by the head limit.
  size_t limit = worker_.options().limits.max_head + 1024;
  if (ex_->capacity >= limit) return false;
  size_t grown = std::min(ex_->capacity * 2, limit);
  std::unique_ptr<char[]> bigger(new char[grown]);
  std::memcpy(bigger.get(), ex_->buffer.get(), end_);
  ex_->buffer = std::move(bigger);
  ex_->capacity = grown;
  return true;
}

// ---- request head ------------------------------------------------------------------------

template <typename Stream>
bool ClientConnection<Stream>::negotiated_h2() {
  if constexpr (kTls) {
    const unsigned char* protocol = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(stream_.native_handle(), &protocol, &length);
    return length == 2 && protocol[0] == 'h' && protocol[1] == '2';
  } else {
    return false;
  }
}

template <typename Stream>
void ClientConnection<Stream>::hand_off_to_http2() {
  // The socket (and whatever followed the h2c preface) now belongs to an HTTP/2 session; this
  // object ends without closing it.
  handed_off_ = true;
  phase_ = Phase::Closed;
  clear_deadline();
  if constexpr (kTls) {
    start_http2(worker_, std::move(stream_), std::move(client_ip_), std::move(server_port_));
  } else {
    start_http2(worker_, std::move(stream_), std::move(client_ip_), std::move(server_port_),
                std::string_view(buffered_data(), buffered()));
  }
}

// The client connection preface (RFC 9113 3.4): "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".
constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

template <typename Stream>
void ClientConnection<Stream>::read_head() {
  if (!kTls && requests_ == 0 && buffered() > 0 && worker_.options().http2) {
    // h2c with prior knowledge: the connection opens with the HTTP/2 preface.
    std::string_view seen(buffered_data(), std::min(buffered(), kHttp2Preface.size()));
    if (kHttp2Preface.substr(0, seen.size()) == seen) {
      if (seen.size() == kHttp2Preface.size()) return hand_off_to_http2();
      phase_ = Phase::ReadHead;
      set_deadline(worker_.options().client_header_timeout);
      make_room();
      return read_some(ex_->buffer.get() + end_, ex_->capacity - end_,
                       [self = this->shared_from_this()](const error_code& ec, size_t n) {
                         if (ec) return self->close();
                         self->end_ += n;
                         self->read_head();
                       });
    }
  }
  if (buffered() > 0) {
    parse_request(buffered_data(), buffered(), worker_.options().limits, ex_->request);
    if (ex_->request.status == ParseStatus::Complete) return handle_request();
    if (ex_->request.status == ParseStatus::Error)
      return reject(ex_->request.error_status, ex_->request.error);
  } else if (worker_.draining()) {
    return close();
  }
  if (buffered() == 0) return await_next_request();
  phase_ = Phase::ReadHead;
  set_deadline(worker_.options().client_header_timeout);
  if (!make_room()) return reject(431, "request head too large");
  read_some(ex_->buffer.get() + end_, ex_->capacity - end_,
            [self = this->shared_from_this()](const error_code& ec, size_t n) {
              if (ec) return self->close();  // client went away or timed out
              self->end_ += n;
              self->read_head();
            });
}

template <typename Stream>
void ClientConnection<Stream>::await_next_request() {
  phase_ = Phase::Idle;
  const auto& o = worker_.options();
  set_deadline(requests_ > 0 ? o.keepalive_timeout : o.client_header_timeout);
  begin_ = end_ = 0;
  if (ex_) worker_.give_back_exchange(std::move(ex_));
  if constexpr (kTls) stream_.release_idle_memory();
  // Not from the block cache: idle connections are many, and an exact-size allocation is smaller
  // than the cache's size class (1,279 instead of 1,350 bytes per idle connection).
  stream_.async_read_some(asio::buffer(landing_),
                          [self = this->shared_from_this()](const error_code& ec, size_t n) {
                            if (ec) return self->close();  // client went away or timed out
                            self->take_exchange();
                            std::memcpy(self->ex_->buffer.get(), self->landing_, n);
                            self->end_ = n;
                            self->read_head();
                          });
}

template <typename Stream>
void ClientConnection<Stream>::take_exchange() {
  ex_ = worker_.take_exchange();
  // What a failed parse does not overwrite must not come from an earlier request.
  reset_request(ex_->request);
  ex_->log_prefix.clear();
}

template <typename Stream>
void ClientConnection<Stream>::handle_request() {
  const ProxyOptions& o = worker_.options();
  ex_->request_start = std::chrono::steady_clock::now();
  ++requests_;
  ex_->tried_count = 0;
  new_connection_retry_used_ = false;
  reused_upstream_ = false;
  request_body_started_ = false;
  sent_continue_ = false;
  response_started_ = false;
  response_status_ = 0;
  response_bytes_ = 0;
  ex_->upstream_addr.clear();
  ex_->upstream_name.clear();
  keep_alive_ = ex_->request.keep_alive && requests_ < o.keepalive_requests;
  request_has_body_ = ex_->request.framing != BodyFraming::None;
  if (request_has_body_ && (ex_->request.framing != BodyFraming::Length ||
                            buffered() - ex_->request.head_size < ex_->request.content_length)) {
    // The listener delays ACKs (worker.cpp), so the response carries the request's ACK. A body
    // still to come must not wait for that: a client with Nagle on holds a small body back until
    // its head is acknowledged, which would cost it the delayed-ACK timer (40 ms).
    error_code ignored;
    lowest().set_option(quick_ack(true), ignored);
  }
  worker_.make_request_id(ex_->request_id);

  head_consumed_ = false;
  ex_->route_ingress.clear();
  bytes_in_ = ex_->request.head_size;
  ex_->request_body.reset(BodyFraming::None, 0, false);
  if (o.access_log) {
    // Everything the log line needs from the request head, copied now: the head's bytes are
    // released while the body streams.
    append_access_log_prefix(ex_->log_prefix, client_ip_, ex_->request.method,
                             ex_->request.authority, ex_->request.path,
                             ex_->request.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1", kTls);
  } else {
    ex_->log_prefix.assign("-");  // marks "a request is being accounted"
  }

  if (ex_->request.framing == BodyFraming::Length && o.proxy_body_size != 0 &&
      ex_->request.content_length > o.proxy_body_size)
    return reject(413, "request body larger than proxy-body-size");

  snapshot_ = worker_.snapshot();
  if (!snapshot_) return respond_local(503, true);
  // Route and forward the same normalised path (see path_normalizer.hpp).
  RoutingDecision route =
      route_exchange(*snapshot_.get(), ex_->request, kTls, !o.hsts_header.empty(),
                     ex_->normalized_path, ex_->target, ex_->route_ingress);
  hsts_ = route.hsts;
  if (route.backend != nullptr) ex_->upstream_name = route.backend->name;
  switch (route.action) {
    case RoutingDecision::Action::Reject:
      return reject(400, "encoded slash hides a dot segment");
    case RoutingDecision::Action::Redirect:
      return redirect_to_https();
    case RoutingDecision::Action::Answer:
      // A request body we will not read forces the connection closed.
      return respond_local(route.status, request_has_body_);
    case RoutingDecision::Action::Forward:
      break;
  }
  cluster_ = route.cluster;
  if (route.backend->protocol == UpstreamProtocol::H2c && route.backend->external_name.empty()) {
    consume(ex_->request.head_size);
    head_consumed_ = true;
    return forward_h2c();
  }

  ex_->request_body.reset(ex_->request.framing, ex_->request.content_length,
                          ex_->request.framing == BodyFraming::Chunked);
  ForwardContext ctx{client_ip_, server_port_, kTls ? "https" : "http",
                     std::string_view(ex_->request_id, sizeof ex_->request_id), ex_->target};
  write_upstream_request_head(ex_->request, ctx, ex_->request.framing, ex_->request.content_length,
                              ex_->request_head_out);
  // The head is serialised; from here on only its size matters.
  consume(ex_->request.head_size);
  head_consumed_ = true;
  pick_endpoint_and_connect();
}

// ---- upstream connection -----------------------------------------------------------------

template <typename Stream>
void ClientConnection<Stream>::pick_endpoint_and_connect() {
  phase_ = Phase::Upstream;
  upstream_eof_ = false;
  upstream_error_ = {};
  awaiting_upstream_body_ = false;
  new_connection_retry_used_ = false;
  ex_->upstream_start = std::chrono::steady_clock::now();
  const Cluster& cluster = *snapshot_.get()->clusters[static_cast<size_t>(cluster_)];
  if (!cluster.external_name.empty()) {
    ex_->tried[ex_->tried_count++] = 0;
    return connect_external(cluster);
  }
  // Round robin, skipping endpoints passive health has ejected and those this request tried.
  const size_t index =
      worker_.choose_endpoint(cluster_, cluster, ex_->tried.data(), ex_->tried_count);
  if (index == OutlierDetector::kNone)
    return respond_local(502, request_has_body_ && !ex_->request_body.done());
  ex_->tried[ex_->tried_count++] = static_cast<uint32_t>(index);
  const Endpoint& endpoint = cluster.endpoints[index];
  endpoint_ = &endpoint;
  ex_->upstream_addr = endpoint.text;
  if (auto pooled = worker_.pool().take(endpoint.text, cluster.protocol == UpstreamProtocol::Tls)) {
    upstream_ = std::move(pooled);
    upstream_->owner = this->shared_from_this();
    reused_upstream_ = true;
    return send_request_head();
  }
  connect_to(endpoint);
}

template <typename Stream>
void ClientConnection<Stream>::connect_to(const Endpoint& endpoint) {
  reused_upstream_ = false;
  upstream_eof_ = false;
  upstream_error_ = {};
  upstream_ = std::make_shared<UpstreamConnection>(worker_.io(), worker_.pool(), endpoint.text);
  set_deadline(worker_.options().proxy_connect_timeout);
  upstream_->socket.async_connect(
      to_tcp_endpoint(endpoint),
      [self = this->shared_from_this(), attempt = attempt_id_](const error_code& ec) {
        if (self->attempt_id_ == attempt) self->on_connected(ec);
      });
}

template <typename Stream>
void ClientConnection<Stream>::connect_external(const Cluster& cluster) {
  // ExternalName Services resolve by DNS when a connection is opened (pooled ones are reused).
  std::string key = cluster.external_name + ":" + std::to_string(cluster.external_port);
  ex_->upstream_addr = key;
  endpoint_ = nullptr;
  if (auto pooled = worker_.pool().take(key, cluster.protocol == UpstreamProtocol::Tls);
      pooled && !new_connection_retry_used_) {
    upstream_ = std::move(pooled);
    upstream_->owner = this->shared_from_this();
    reused_upstream_ = true;
    return send_request_head();
  }
  reused_upstream_ = false;
  upstream_eof_ = false;
  upstream_error_ = {};
  upstream_ = std::make_shared<UpstreamConnection>(worker_.io(), worker_.pool(), key);
  set_deadline(worker_.options().proxy_connect_timeout);
  upstream_->async_connect_by_name(
      cluster.external_name, cluster.external_port,
      [self = this->shared_from_this(), attempt = attempt_id_](const error_code& ec) {
        if (self->attempt_id_ == attempt) self->on_connected(ec);
      });
}

template <typename Stream>
void ClientConnection<Stream>::on_connected(const error_code& ec) {
  if (phase_ == Phase::Closed) return;
  if (ec) {
    worker_.metrics().upstream_connect_errors.add();
    if (endpoint_ != nullptr) worker_.upstream_connect_failed(endpoint_->text);
    return upstream_failed(timed_out_ ? "connect timeout" : "connect failed", true, ec);
  }
  if (endpoint_ != nullptr) worker_.upstream_connected(endpoint_->text);
  error_code ignored;
  upstream_->socket.set_option(tcp::no_delay(true), ignored);
  const Cluster& cluster = *snapshot_.get()->clusters[static_cast<size_t>(cluster_)];
  if (cluster.protocol == UpstreamProtocol::Tls) {
    // TLS to the pod: the handshake is part of connecting (a failure may move to another
    // endpoint: nothing of the request was sent).
    return upstream_->async_client_handshake(
        cluster.external_name,
        [self = this->shared_from_this(), attempt = attempt_id_](const error_code& hec) {
          if (self->attempt_id_ != attempt || self->phase_ == Phase::Closed) return;
          if (hec) return self->upstream_failed("TLS handshake failed", true, hec);
          self->upstream_->owner = self;
          self->send_request_head();
        });
  }
  upstream_->owner = this->shared_from_this();
  send_request_head();
}

template <typename Stream>
void ClientConnection<Stream>::send_request_head() {
  // The pooled connection's idle read stays posted and becomes the response read.
  upstream_->ensure_read();
  ex_->write_buffers.clear();
  ex_->write_buffers.emplace_back(ex_->request_head_out.data(), ex_->request_head_out.size());
  // Send whatever body bytes already arrived with the head in the same write.
  if (!ex_->request_body.done() && buffered() > 0) {
    if (!ex_->request_body.prepare(buffered_data(), buffered())) {
      release_upstream(false);
      return reject(400, ex_->request_body.error());
    }
    if (body_over_limit()) return;
    for (const auto& b : ex_->request_body.buffers()) ex_->write_buffers.push_back(b);
  } else {
    ex_->request_body.prepare(nullptr, 0);
  }
  set_deadline(worker_.options().proxy_send_timeout);
  write_upstream(ex_->write_buffers, [self = this->shared_from_this(), attempt = attempt_id_](
                                         const error_code& ec, size_t) {
    if (self->attempt_id_ == attempt) self->on_request_head_written(ec);
  });
}

template <typename Stream>
void ClientConnection<Stream>::on_request_head_written(const error_code& ec) {
  if (phase_ == Phase::Closed) return;
  if (ec) return upstream_failed(timed_out_ ? "send timeout" : "send failed", false, ec);
  if (ex_->request_body.consumed() > 0) {
    request_body_started_ = true;
    consume(ex_->request_body.consumed());
  }
  continue_request_body();
}

template <typename Stream>
void ClientConnection<Stream>::continue_request_body() {
  if (ex_->request_body.done()) return await_response_head();
  const ProxyOptions& o = worker_.options();
  if (ex_->request.expect_continue && !sent_continue_) {
    sent_continue_ = true;
    set_deadline(o.proxy_send_timeout);
    return write_client(asio::buffer(kContinue),
                        [self = this->shared_from_this()](const error_code& ec, size_t) {
                          if (ec) return self->close();
                          self->continue_request_body();
                        });
  }
  if (buffered() > 0) return send_request_body_chunk();
  phase_ = Phase::ReadBody;
  set_deadline(o.client_body_timeout);
  make_room();
  read_some(ex_->buffer.get() + end_, ex_->capacity - end_,
            [self = this->shared_from_this()](const error_code& ec, size_t n) {
              if (ec) {
                // The client went away (or stalled) mid-body: the upstream
                // request can not be completed.
                self->release_upstream(false);
                return self->close();
              }
              self->end_ += n;
              self->send_request_body_chunk();
            });
}

template <typename Stream>
bool ClientConnection<Stream>::body_over_limit() {
  uint64_t limit = worker_.options().proxy_body_size;
  if (limit == 0 || ex_->request_body.payload_bytes() <= limit) return false;
  // A chunked body crossed the limit: the rest is not sent, and the upstream connection (which
  // holds a partial request) is dropped. 413 if the client has had no answer yet.
  release_upstream(false);
  reject(413, "chunked request body larger than proxy-body-size");
  return true;
}

template <typename Stream>
void ClientConnection<Stream>::send_request_body_chunk() {
  phase_ = Phase::Upstream;
  if (!ex_->request_body.prepare(buffered_data(), buffered())) {
    release_upstream(false);
    return reject(400, ex_->request_body.error());
  }
  if (body_over_limit()) return;
  request_body_started_ = true;
  if (ex_->request_body.buffers().empty()) {
    consume(ex_->request_body.consumed());
    return continue_request_body();
  }
  set_deadline(worker_.options().proxy_send_timeout);
  write_upstream(
      ex_->request_body.buffers(),
      [self = this->shared_from_this(), attempt = attempt_id_](const error_code& ec, size_t) {
        if (self->phase_ == Phase::Closed || self->attempt_id_ != attempt) return;
        if (ec) return self->upstream_failed("send failed", false, ec);
        self->consume(self->ex_->request_body.consumed());
        self->continue_request_body();
      });
}

// ---- response ----------------------------------------------------------------------------

template <typename Stream>
void ClientConnection<Stream>::await_response_head() {
  phase_ = Phase::Upstream;
  set_deadline(worker_.options().proxy_read_timeout);
  if (upstream_->available() > 0) return on_response_head();
  if (upstream_eof_ || upstream_error_) return upstream_failed("upstream closed", false);
  upstream_->ensure_read();
}

template <typename Stream>
void ClientConnection<Stream>::on_upstream_read(const error_code& ec, size_t n) {
  if (phase_ == Phase::Closed) return;
  if (ec) {
    upstream_error_ = ec;
    if (ec == asio::error::eof) upstream_eof_ = true;
  }
  if (phase_ == Phase::Tunnel) {
    if (ec && upstream_->available() == 0) return close();
    return tunnel_upstream_to_client();
  }
  if (phase_ == Phase::Respond) {
    if (ec && ec != asio::error::eof)
      return upstream_failed_mid_response("upstream connection failed mid-response", ec);
    return forward_response_body();
  }
  // Bytes or EOF that arrive while the request is still being sent wait in the upstream buffer.
  if (phase_ != Phase::Upstream || !ex_->request_body.done()) return;
  if (n > 0 || upstream_->available() > 0) return on_response_head();
  upstream_failed(timed_out_ ? "read timeout" : "upstream closed before responding", false, ec);
}

template <typename Stream>
void ClientConnection<Stream>::on_response_head() {
  HeadLimits limits = worker_.options().limits;
  limits.max_head = UpstreamConnection::kBufferSize - 1;
  while (true) {
    parse_response(upstream_->data(), upstream_->available(), limits, ex_->request.head_method,
                   ex_->response);
    if (ex_->response.status == ParseStatus::Error) {
      release_upstream(false);
      return upstream_failed(ex_->response.error, false);
    }
    if (ex_->response.status == ParseStatus::Incomplete) {
      if (upstream_eof_ || upstream_error_) return upstream_failed("upstream closed", false);
      return upstream_->ensure_read();
    }
    // Interim responses (100 Continue and the like) are ours to absorb: the client got its own.
    if (ex_->response.status_code >= 100 && ex_->response.status_code < 200 &&
        ex_->response.status_code != 101) {
      upstream_->consume(ex_->response.head_size);
      if (upstream_->available() == 0) {
        if (upstream_eof_ || upstream_error_) return upstream_failed("upstream closed", false);
        return upstream_->ensure_read();
      }
      continue;
    }
    break;
  }
  if (ex_->response.status_code == 101) {
    // Only a WebSocket handshake the client asked for may switch protocols; anything else would
    // leave the two sides speaking different protocols.
    if (!ex_->request.upgrade_websocket) {
      release_upstream(false);
      return upstream_failed("unexpected 101 from upstream", false);
    }
    return start_tunnel();
  }
  phase_ = Phase::Respond;
  response_started_ = true;
  ex_->upstream_response_at = std::chrono::steady_clock::now();
  response_status_ = ex_->response.status_code;
  response_keep_alive_ = ex_->response.keep_alive;
  bool client_http11 = ex_->request.version_minor >= 1;
  BodyFraming to_client = BodyFraming::None;
  bool chunked_out = false;
  switch (ex_->response.framing) {
    case BodyFraming::None:
      break;
    case BodyFraming::Length:
      to_client = BodyFraming::Length;
      break;
    case BodyFraming::Chunked:
    case BodyFraming::UntilClose:
      // HTTP/1.1 clients keep their connection with chunked; HTTP/1.0 ones read until close.
      chunked_out = client_http11;
      to_client = client_http11 ? BodyFraming::Chunked : BodyFraming::UntilClose;
      if (!client_http11) keep_alive_ = false;
      break;
  }
  if (worker_.draining()) keep_alive_ = false;
  ex_->response_body.reset(ex_->response.framing, ex_->response.content_length, chunked_out);
  write_client_response_head(
      ex_->response, to_client, ex_->response.content_length, !keep_alive_,
      keep_alive_ && !client_http11, worker_.http_date(),
      hsts_ ? std::string_view(worker_.options().hsts_header) : std::string_view(),
      ex_->response_head_out);
  upstream_->consume(ex_->response.head_size);
  ex_->write_buffers.clear();
  ex_->write_buffers.emplace_back(ex_->response_head_out.data(), ex_->response_head_out.size());
  if (!ex_->response_body.prepare(upstream_->data(), upstream_->available()))
    return upstream_failed_mid_response(ex_->response_body.error());
  for (const auto& b : ex_->response_body.buffers()) ex_->write_buffers.push_back(b);
  set_deadline(worker_.options().proxy_send_timeout);
  if constexpr (!kTls) {
    // The whole response is here and the connection closes right after it: its FIN can ride on
    // the same segment.
    if (ex_->response_body.done() && !keep_alive_ && closes_at_once() &&
        send_held_for_fin(ex_->write_buffers))
      return on_response_written({});
  }
  write_client(ex_->write_buffers, [self = this->shared_from_this()](const error_code& ec, size_t) {
    self->on_response_written(ec);
  });
}

template <typename Stream>
bool ClientConnection<Stream>::send_held_for_fin(std::vector<asio::const_buffer>& buffers) {
  // MSG_MORE keeps the bytes queued; the shutdown in linger() then sets FIN on that queued
  // segment and pushes it: data and FIN in one packet instead of two (the client's ACK of the
  // data goes too). Whatever the socket does not take at once goes the usual way.
  std::array<iovec, 64> iov;  // a response head and up to 16 re-framed chunks fit
  if (buffers.size() > iov.size()) return false;
  size_t total = 0;
  for (size_t i = 0; i < buffers.size(); ++i) {
    iov[i] = {const_cast<void*>(buffers[i].data()), buffers[i].size()};
    total += buffers[i].size();
  }
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = buffers.size();
  ssize_t sent = ::sendmsg(lowest().native_handle(), &msg, MSG_MORE | MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent <= 0) return false;
  fin_held_ = true;
  if (static_cast<size_t>(sent) == total) return true;
  // Partial: drop what went and write the rest with Asio.
  size_t skip = static_cast<size_t>(sent);
  size_t first = 0;
  while (skip >= buffers[first].size()) skip -= buffers[first++].size();
  buffers.erase(buffers.begin(), buffers.begin() + static_cast<std::ptrdiff_t>(first));
  buffers.front() += skip;
  return false;
}

template <typename Stream>
bool ClientConnection<Stream>::closes_at_once() const {
  // No byte can follow this exchange's request: the client asked to close, the request had no
  // body and nothing came after it.
  const size_t head_left = head_consumed_ ? 0 : ex_->request.head_size;
  return ex_->request.status == ParseStatus::Complete && !ex_->request.keep_alive &&
         !request_has_body_ && buffered() == head_left;
}

template <typename Stream>
void ClientConnection<Stream>::forward_response_body() {
  awaiting_upstream_body_ = false;
  if (!ex_->response_body.prepare(upstream_->data(), upstream_->available()))
    return upstream_failed_mid_response(ex_->response_body.error());
  if (ex_->response_body.buffers().empty()) {
    if (ex_->response_body.done()) return finish_exchange();
    if (upstream_eof_ || upstream_error_) {
      if (ex_->response.framing != BodyFraming::UntilClose) {
        // The upstream closed before the body it announced was complete: the client can only
        // learn that from a closed connection.
        return upstream_failed_mid_response("upstream closed mid-response", upstream_error_);
      }
      ex_->response_body.finish_at_eof();
      if (ex_->response_body.buffers().empty()) return finish_exchange();
    } else {
      awaiting_upstream_body_ = true;
      set_deadline(worker_.options().proxy_read_timeout);
      return upstream_->ensure_read();
    }
  }
  set_deadline(worker_.options().proxy_send_timeout);
  write_client(ex_->response_body.buffers(),
               [self = this->shared_from_this()](const error_code& ec, size_t) {
                 self->on_response_written(ec);
               });
}

template <typename Stream>
void ClientConnection<Stream>::on_response_written(const error_code& ec) {
  if (phase_ == Phase::Closed) return;
  if (ec) {
    release_upstream(false);
    return close();
  }
  upstream_->consume(ex_->response_body.consumed());
  response_bytes_ += ex_->response_body.consumed();
  if (ex_->response_body.done()) return finish_exchange();
  if (upstream_eof_ && upstream_->available() == 0) {
    if (ex_->response.framing == BodyFraming::UntilClose) {
      ex_->response_body.finish_at_eof();
      if (!ex_->response_body.buffers().empty()) {
        return write_client(ex_->response_body.buffers(),
                            [self = this->shared_from_this()](const error_code& e, size_t) {
                              self->on_response_written(e);
                            });
      }
      return finish_exchange();
    }
    return upstream_failed_mid_response("upstream closed mid-response", upstream_error_);
  }
  forward_response_body();
}

// ---- WebSocket tunnel ------------------------------------------------------------------------

template <typename Stream>
void ClientConnection<Stream>::start_tunnel() {
  phase_ = Phase::Tunnel;
  response_started_ = true;
  ex_->upstream_response_at = std::chrono::steady_clock::now();
  response_status_ = 101;
  // The tunnel needs nothing from the configuration: a later change can not touch it.
  snapshot_.reset();
  write_upgrade_response_head(ex_->response, ex_->response_head_out);
  upstream_->consume(ex_->response.head_size);
  append_access_log(101, 0);
  set_deadline(worker_.options().websocket_idle_timeout);
  // Whatever the upstream sent after its 101 goes right behind it.
  ex_->write_buffers.clear();
  ex_->write_buffers.emplace_back(ex_->response_head_out.data(), ex_->response_head_out.size());
  if (upstream_->available() > 0)
    ex_->write_buffers.emplace_back(upstream_->data(), upstream_->available());
  tunnel_writing_to_client_ = true;
  write_client(ex_->write_buffers, [self = this->shared_from_this()](const error_code& ec, size_t) {
    self->on_tunnel_client_written(ec);
  });
  tunnel_client_to_upstream();
}

template <typename Stream>
void ClientConnection<Stream>::tunnel_client_to_upstream() {
  // Bytes the client pipelined behind its handshake go first.
  if (buffered() > 0) {
    set_deadline(worker_.options().websocket_idle_timeout);
    return write_upstream(asio::buffer(buffered_data(), buffered()),
                          [self = this->shared_from_this()](const error_code& ec, size_t) {
                            if (ec || self->phase_ != Phase::Tunnel) return self->close();
                            self->begin_ = self->end_ = 0;
                            self->tunnel_client_to_upstream();
                          });
  }
  begin_ = end_ = 0;
  read_some(ex_->buffer.get(), ex_->capacity,
            [self = this->shared_from_this()](const error_code& ec, size_t n) {
              if (ec || self->phase_ != Phase::Tunnel) return self->close();
              self->end_ = n;
              self->tunnel_client_to_upstream();
            });
}

template <typename Stream>
void ClientConnection<Stream>::on_tunnel_client_written(const error_code& ec) {
  tunnel_writing_to_client_ = false;
  if (ec || phase_ != Phase::Tunnel || !upstream_) return close();
  upstream_->consume(upstream_->available());
  if (upstream_eof_) return close();
  set_deadline(worker_.options().websocket_idle_timeout);
  upstream_->ensure_read();
}

template <typename Stream>
void ClientConnection<Stream>::tunnel_upstream_to_client() {
  if (tunnel_writing_to_client_) return;  // the bytes wait until the previous write is done
  if (upstream_->available() == 0) {
    if (upstream_eof_ || upstream_error_) return close();
    return upstream_->ensure_read();
  }
  set_deadline(worker_.options().websocket_idle_timeout);
  tunnel_writing_to_client_ = true;
  write_client(asio::buffer(upstream_->data(), upstream_->available()),
               [self = this->shared_from_this()](const error_code& ec, size_t) {
                 self->on_tunnel_client_written(ec);
               });
}

template <typename Stream>
void ClientConnection<Stream>::finish_exchange() {
  append_access_log(response_status_, response_bytes_);
  release_upstream(response_keep_alive_ && ex_->response.framing != BodyFraming::UntilClose);
  snapshot_.reset();
  if (!keep_alive_ || worker_.draining()) return linger();
  read_head();
}

template <typename Stream>
void ClientConnection<Stream>::release_upstream(bool reusable) {
  // Completions of this attempt's connect and writes still in flight must not act on the next
  // attempt (a read can fail while the request is still being written).
  ++attempt_id_;
  if (!upstream_) return;
  auto up = std::move(upstream_);
  up->owner.reset();
  if (reusable && up->available() == 0 && !upstream_eof_ && !upstream_error_) {
    ++up->requests;
    worker_.pool().give_back(std::move(up), worker_.now_ms());
  } else {
    up->close();
  }
}

// ---- failures ------------------------------------------------------------------------------

template <typename Stream>
void ClientConnection<Stream>::upstream_failed(const char* why, bool connect_phase,
                                               const error_code& ec) {
  const bool timed_out = timed_out_;
  timed_out_ = false;
  const bool was_reused = reused_upstream_;
  release_upstream(false);
  if (response_started_) return upstream_failed_mid_response(why, ec);
  const Cluster& cluster = *snapshot_.get()->clusters[static_cast<size_t>(cluster_)];
  // Nothing of the request body has left the client buffer yet, so the request can be sent again.
  const bool body_intact = !request_body_started_;
  // A pooled connection the endpoint had already closed (EOF or reset, no response byte, no
  // timeout): the request most likely never reached the pod, but only a request without side
  // effects may be sent again. Once, on a new connection to the same endpoint.
  if (was_reused && !connect_phase && !timed_out && ex_->request.idempotent && body_intact &&
      !new_connection_retry_used_) {
    log_upstream_error(why, ec, "retry-new-connection");
    worker_.metrics().upstream_retries.add();
    new_connection_retry_used_ = true;
    ex_->request_body.reset(ex_->request.framing, ex_->request.content_length,
                            ex_->request.framing == BodyFraming::Chunked);
    if (!cluster.external_name.empty()) return connect_external(cluster);
    return connect_to(*endpoint_);
  }
  // Another endpoint: after a failed connect nothing was sent, so any method; otherwise only
  // idempotent requests, and never after a timeout (the pod may still be working on it).
  const size_t max_tries =
      std::min<size_t>(worker_.options().proxy_next_upstream_tries, ClientExchange::kMaxTries);
  if (body_intact && (connect_phase || (ex_->request.idempotent && !timed_out)) &&
      ex_->tried_count < max_tries && ex_->tried_count < cluster.endpoints.size()) {
    log_upstream_error(why, ec, "retry");
    worker_.metrics().upstream_retries.add();
    ex_->request_body.reset(ex_->request.framing, ex_->request.content_length,
                            ex_->request.framing == BodyFraming::Chunked);
    return pick_endpoint_and_connect();
  }
  const int status = timed_out ? 504 : 502;
  log_upstream_error(why, ec, timed_out ? "504" : "502");
  // A request whose body was fully read leaves the connection usable for the next one; so does
  // one whose whole Content-Length body is still in our buffer (skipped here).
  bool close_after = request_has_body_ && !ex_->request_body.done();
  if (close_after && body_intact && ex_->request.framing == BodyFraming::Length &&
      buffered() >= ex_->request.content_length) {
    consume(static_cast<size_t>(ex_->request.content_length));
    close_after = false;
  }
  respond_local(status, close_after);
}

template <typename Stream>
void ClientConnection<Stream>::upstream_failed_mid_response(const char* why, const error_code& ec) {
  // Part of the response reached the client: no error page can follow it and nothing can be
  // retried. Only a closed connection tells the client the response is incomplete.
  log_upstream_error(why, ec, "close");
  release_upstream(false);
  close();
}

template <typename Stream>
void ClientConnection<Stream>::log_upstream_error(const char* why, const error_code& ec,
                                                  std::string_view action) {
  // The error's own text when it adds something (refused, reset); EOF and our own timeouts are
  // already said by `why`.
  if (!ec || ec == asio::error::eof || ec == asio::error::operation_aborted)
    return proxy::log_upstream_error(ex_->upstream_addr, ex_->upstream_name, why, action);
  std::string reason(why);
  reason.append(": ");
  reason.append(ec.message());
  proxy::log_upstream_error(ex_->upstream_addr, ex_->upstream_name, reason, action);
}

template <typename Stream>
void ClientConnection<Stream>::reject(int status, const char* why) {
  (void)why;
  // A malformed request: answer, never forward, and close (the framing is in doubt).
  worker_.metrics().requests_rejected.add();
  keep_alive_ = false;
  respond_local(status, true);
}

template <typename Stream>
void ClientConnection<Stream>::respond_local(int status, bool close_after) {
  if (close_after || worker_.draining()) keep_alive_ = false;
  response_status_ = status;
  phase_ = Phase::Respond;
  write_local_response(status, !keep_alive_, ex_->request.head_method, worker_.http_date(),
                       ex_->response_head_out);
  write_response_and_continue(status);
}

template <typename Stream>
void ClientConnection<Stream>::write_response_and_continue(int status) {
  set_deadline(worker_.options().proxy_send_timeout);
  ex_->write_buffers.clear();
  ex_->write_buffers.emplace_back(ex_->response_head_out.data(), ex_->response_head_out.size());
  if constexpr (!kTls) {
    if (!keep_alive_ && closes_at_once() && send_held_for_fin(ex_->write_buffers))
      return on_local_response_written(status, {});
  }
  write_client(ex_->write_buffers,
               [self = this->shared_from_this(), status](const error_code& ec, size_t) {
                 self->on_local_response_written(status, ec);
               });
}

template <typename Stream>
void ClientConnection<Stream>::on_local_response_written(int status, const error_code& ec) {
  if (ec) return close();
  append_access_log(status, ex_->response_head_out.size());
  snapshot_.reset();
  if (!keep_alive_) return linger();
  // Keep-alive: a bodiless request answered before it was forwarded still has its head in the
  // buffer.
  if (!head_consumed_) {
    consume(ex_->request.head_size);
    head_consumed_ = true;
  }
  read_head();
}

template <typename Stream>
void ClientConnection<Stream>::redirect_to_https() {
  // ingress-nginx's ssl-redirect: 308 keeps the method and body semantics.
  const ProxyOptions& o = worker_.options();
  std::string location = https_redirect_location(
      ex_->request.authority, o.ssl_redirect_port,
      ex_->target.empty() ? ex_->request.origin_target : std::string_view(ex_->target));
  if (request_has_body_) keep_alive_ = false;
  response_status_ = 308;
  phase_ = Phase::Respond;
  write_redirect_response(308, location, !keep_alive_, ex_->request.head_method,
                          worker_.http_date(), ex_->response_head_out);
  write_response_and_continue(308);
}

template <typename Stream>
void ClientConnection<Stream>::linger() {
  // Half-close, then read and discard until the client closes (or a short deadline), so the
  // response is not destroyed by a reset caused by unread request bytes.
  if constexpr (!kTls) {
    // Unless no such byte can come (closes_at_once()). Closing at once saves the read of the
    // client's FIN, as nginx does. (TLS keeps the close_notify exchange below.)
    if (closes_at_once()) {
      if (fin_held_) {
        // send_held_for_fin() left the response queued: the FIN goes with it. shutdown, not
        // close alone: a close with unread input would reset and discard the queued response.
        error_code ignored;
        lowest().shutdown(tcp::socket::shutdown_send, ignored);
      }
      return close();
    }
  }
  phase_ = Phase::Linger;
  begin_ = end_ = 0;
  set_deadline(kLinger);
  if constexpr (kTls) {
    // The TLS end first: close_notify, then read (OpenSSL discards what still comes) until the
    // client's close_notify or EOF. A bare TCP FIN makes OpenSSL clients answer with a fatal
    // alert, which costs the session its place in the resumption cache.
    stream_.async_shutdown([self = this->shared_from_this()](const error_code&) { self->close(); });
    return;
  }
  error_code ignored;
  lowest().shutdown(tcp::socket::shutdown_send, ignored);
  read_some(ex_->buffer.get(), ex_->capacity,
            [self = this->shared_from_this()](const error_code& ec, size_t) {
              if (ec) return self->close();
              self->linger();
            });
}

template <typename Stream>
void ClientConnection<Stream>::close() {
  if (phase_ == Phase::Closed) return;
  phase_ = Phase::Closed;
  clear_deadline();
  release_upstream(false);
  release_h2c(true);
  snapshot_.reset();
  error_code ignored;
  lowest().close(ignored);
}

template <typename Stream>
void ClientConnection<Stream>::force_close() {
  close();
}

template <typename Stream>
void ClientConnection<Stream>::close_if_idle() {
  if (phase_ == Phase::Idle) close();
}

template <typename Stream>
void ClientConnection<Stream>::on_deadline() {
  clear_deadline();
  if (h2c_session_ && phase_ != Phase::Closed) {
    bool waiting_for_client = h2c_client_read_pending_ || h2c_writing_;
    bool started = response_started_;
    release_h2c(true);
    // The pod did not answer in time: 504; a client too slow with its body or our response:
    // nothing more will come of this connection.
    if (!waiting_for_client && !started) {
      timed_out_ = true;
      return respond_local(504, true);
    }
    return close();
  }
  if (phase_ == Phase::Upstream && upstream_) {
    // The upstream is too slow to connect, accept the request or answer: 504 to the client.
    timed_out_ = true;
    upstream_->close();
    return;
  }
  if (phase_ == Phase::Respond && awaiting_upstream_body_ && upstream_)
    return upstream_failed_mid_response("read timeout mid-response");
  // Client too slow (headers, body, reading our response), idle keep-alive over, or linger
  // done: nothing more will come of this connection.
  if (upstream_) upstream_->close();
  error_code ignored;
  lowest().close(ignored);
}

template <typename Stream>
void ClientConnection<Stream>::append_access_log(int status, uint64_t bytes_sent) {
  if (ex_->log_prefix.empty()) return;  // already accounted (or no request)
  using namespace std::chrono;
  auto now = steady_clock::now();
  double request_time = duration<double>(now - ex_->request_start).count();
  double upstream_time =
      response_started_ ? duration<double>(ex_->upstream_response_at - ex_->upstream_start).count()
                        : 0;

  bytes_in_ += ex_->request_body.payload_bytes();
  ExchangeRecord r;
  r.status = status;
  r.bytes_sent = bytes_sent;
  r.bytes_in = bytes_in_;
  r.request_seconds = request_time;
  r.upstream_responded = response_started_;
  r.upstream_status = response_status_;
  r.upstream_seconds = upstream_time;
  r.upstream_addr = ex_->upstream_addr;
  r.route_ingress = ex_->route_ingress;
  r.service = ex_->upstream_name;
  r.request_id = std::string_view(ex_->request_id, sizeof ex_->request_id);
  record_exchange(worker_.metrics(), worker_.access_log(), ex_->log_prefix, r);
  ex_->log_prefix.clear();
}

// ---- HTTP/2 upstream (h2c pods) ------------------------------------------------------------

template <typename Stream>
void ClientConnection<Stream>::forward_h2c() {
  phase_ = Phase::Upstream;
  const Cluster& cluster = *snapshot_.get()->clusters[static_cast<size_t>(cluster_)];
  const size_t index =
      worker_.choose_endpoint(cluster_, cluster, ex_->tried.data(), ex_->tried_count);
  if (index == OutlierDetector::kNone) return respond_local(502, request_has_body_);
  if (ex_->tried_count < ex_->tried.size())
    ex_->tried[ex_->tried_count++] = static_cast<uint32_t>(index);
  const Endpoint& endpoint = cluster.endpoints[index];
  ex_->upstream_addr = endpoint.text;
  ex_->upstream_start = std::chrono::steady_clock::now();
  ForwardContext ctx{client_ip_, server_port_, kTls ? "https" : "http",
                     std::string_view(ex_->request_id, sizeof ex_->request_id), ex_->target};
  ex_->h2c_fields.build(
      ex_->request, ctx,
      ex_->target.empty() ? ex_->request.origin_target : std::string_view(ex_->target));
  ex_->h2c_reader.reset(ex_->request.framing, ex_->request.content_length);
  ex_->h2c_out.clear();
  h2c_out_payload_ = 0;
  ex_->h2c_trailers.clear();
  h2c_chunked_ = false;
  h2c_upstream_ended_ = false;
  h2c_final_queued_ = false;
  h2c_session_ = Http2UpstreamSession::get(worker_, endpoint.text, to_tcp_endpoint(endpoint));
  h2c_stream_id_ = h2c_session_->open_stream(this->shared_from_this(), ex_->h2c_fields.data(),
                                             ex_->h2c_fields.size(), !ex_->h2c_reader.done());
  h2c_consume_id_ = h2c_stream_id_;
  if (h2c_stream_id_ < 0) {
    h2c_session_.reset();
    return respond_local(502, request_has_body_);
  }
  set_deadline(worker_.options().proxy_read_timeout);
  h2c_session_->flush();
}

template <typename Stream>
size_t ClientConnection<Stream>::upstream_request_body(uint8_t* buffer, size_t length, bool& end) {
  end = false;
  if (!ex_ || ex_->h2c_reader.done()) {
    end = true;
    return 0;
  }
  size_t consumed = 0, copied = 0;
  auto status = ex_->h2c_reader.read(buffered_data(), buffered(), buffer, length, consumed, copied);
  consume(consumed);
  uint64_t limit = worker_.options().proxy_body_size;
  if (status == PayloadReader::Status::Error ||
      (limit != 0 && ex_->h2c_reader.payload_bytes() > limit)) {
    // Not from inside the upstream session's send: answer once it has returned.
    int answer = status == PayloadReader::Status::Error ? 400 : 413;
    asio::post(worker_.io(), [self = this->shared_from_this(), answer] {
      self->h2c_request_body_failed(answer);
    });
    return 0;
  }
  if (copied > 0) request_body_started_ = true;
  if (ex_->h2c_reader.done()) {
    end = true;
    return copied;
  }
  if (copied == 0) read_client_body_for_h2c();  // the buffer is empty: more from the client
  return copied;
}

template <typename Stream>
void ClientConnection<Stream>::read_client_body_for_h2c() {
  if (h2c_client_read_pending_ || phase_ == Phase::Closed) return;
  h2c_client_read_pending_ = true;
  if (ex_->request.expect_continue && !sent_continue_) {
    sent_continue_ = true;
    return write_client(asio::buffer(kContinue),
                        [self = this->shared_from_this()](const error_code& ec, size_t) {
                          self->h2c_client_read_pending_ = false;
                          if (ec || self->phase_ == Phase::Closed) return self->close();
                          self->read_client_body_for_h2c();
                        });
  }
  set_deadline(worker_.options().client_body_timeout);
  make_room();
  read_some(ex_->buffer.get() + end_, ex_->capacity - end_,
            [self = this->shared_from_this()](const error_code& ec, size_t n) {
              self->h2c_client_read_pending_ = false;
              if (self->phase_ == Phase::Closed) return;
              if (ec) return self->close();  // the client went away mid-body
              self->end_ += n;
              if (self->h2c_session_ && self->h2c_stream_id_ >= 0) {
                self->h2c_session_->resume(self->h2c_stream_id_);
                self->h2c_session_->flush();
              }
            });
}

template <typename Stream>
void ClientConnection<Stream>::h2c_request_body_failed(int status) {
  if (phase_ == Phase::Closed) return;
  release_h2c(true);
  if (response_started_) return close();
  reject(status, status == 413 ? "request body larger than proxy-body-size"
                               : "malformed chunked request body");
}

template <typename Stream>
void ClientConnection<Stream>::upstream_response(std::vector<H2Field>& fields, bool end_stream) {
  if (phase_ == Phase::Closed || !ex_) return;
  phase_ = Phase::Respond;
  response_started_ = true;
  ex_->upstream_response_at = std::chrono::steady_clock::now();
  int status = 0;
  for (const H2Field& f : fields)
    if (f.name == ":status") status = std::atoi(f.value.c_str());
  if (status < 200 || status > 999) status = 502;
  response_status_ = status;
  std::string& out = ex_->response_head_out;
  out.assign("HTTP/1.1 ");
  out.append(std::to_string(status));
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\n");
  bool has_length = false, has_date = false, has_server = false;
  for (const H2Field& f : fields) {
    if (f.name.empty() || f.name[0] == ':') continue;
    HeaderId id = classify_header(f.name);
    if (id == HeaderId::Connection || id == HeaderId::KeepAlive ||
        id == HeaderId::TransferEncoding || id == HeaderId::Upgrade ||
        id == HeaderId::ProxyConnection)
      continue;
    if (hsts_ && f.name == "strict-transport-security") continue;
    has_length |= id == HeaderId::ContentLength;
    has_date |= id == HeaderId::Date;
    has_server |= id == HeaderId::Server;
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  if (!has_server) out.append("Server: strait\r\n");
  if (!has_date) out.append("Date: ").append(worker_.http_date()).append("\r\n");
  if (hsts_)
    out.append("Strict-Transport-Security: ").append(worker_.options().hsts_header).append("\r\n");
  bool bodiless = ex_->request.head_method || status == 204 || status == 304;
  if (!bodiless && !has_length) {
    if (end_stream) {
      out.append("Content-Length: 0\r\n");
    } else if (ex_->request.version_minor >= 1) {
      out.append("Transfer-Encoding: chunked\r\n");  // the pod's trailers go in the last chunk
      h2c_chunked_ = true;
    } else {
      keep_alive_ = false;  // HTTP/1.0: the body ends with the connection
    }
  }
  // An answer before the whole request body was read leaves bytes we can not frame: close.
  if (!ex_->h2c_reader.done() || worker_.draining()) keep_alive_ = false;
  if (!keep_alive_) {
    out.append("Connection: close\r\n");
  } else if (ex_->request.version_minor == 0) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
  ex_->h2c_out.append(out);
  if (end_stream) h2c_upstream_ended_ = true;
  write_h2c_response();
}

template <typename Stream>
void ClientConnection<Stream>::upstream_data(const uint8_t* data, size_t size) {
  if (phase_ == Phase::Closed || size == 0 || !ex_) return;
  if (ex_->request.head_method) {
    // No body goes to a HEAD request; its window goes straight back.
    if (h2c_consume_id_ >= 0) h2c_session_->consume(h2c_consume_id_, size);
    return;
  }
  if (h2c_chunked_) {
    char line[20];
    auto [end, ec] = std::to_chars(line, line + sizeof line, size, 16);
    ex_->h2c_out.append(line, static_cast<size_t>(end - line)).append("\r\n");
  }
  ex_->h2c_out.append(reinterpret_cast<const char*>(data), size);
  if (h2c_chunked_) ex_->h2c_out.append("\r\n");
  h2c_out_payload_ += size;
  write_h2c_response();
}

template <typename Stream>
void ClientConnection<Stream>::upstream_trailers(std::vector<H2Field>& fields) {
  if (!ex_) return;
  ex_->h2c_trailers = std::move(fields);
}

template <typename Stream>
void ClientConnection<Stream>::upstream_closed(uint32_t error_code, bool connect_failed) {
  h2c_stream_id_ = -1;
  // (No exchange: the stream closed after its exchange had finished.)
  if (phase_ == Phase::Closed || !ex_) return;
  if (!response_started_) {
    const Cluster& cluster = *snapshot_.get()->clusters[static_cast<size_t>(cluster_)];
    release_h2c(false);
    // The connection never came up, so nothing was sent: another endpoint may take it.
    if (connect_failed && !request_body_started_ && cluster.endpoints.size() > 1 &&
        ex_->tried_count < worker_.options().proxy_next_upstream_tries) {
      worker_.metrics().upstream_retries.add();
      return forward_h2c();
    }
    return respond_local(502, request_has_body_ && !ex_->h2c_reader.done());
  }
  // Reset mid-response: the client can only learn it from a closed connection.
  if (error_code != NGHTTP2_NO_ERROR) {
    release_h2c(false);
    return close();
  }
  h2c_upstream_ended_ = true;
  write_h2c_response();
}

template <typename Stream>
void ClientConnection<Stream>::write_h2c_response() {
  if (h2c_writing_ || phase_ == Phase::Closed) return;
  if (h2c_upstream_ended_ && !h2c_final_queued_) {
    h2c_final_queued_ = true;
    if (h2c_chunked_) {
      ex_->h2c_out.append("0\r\n");
      for (const H2Field& f : ex_->h2c_trailers)
        if (!f.name.empty() && f.name[0] != ':')
          ex_->h2c_out.append(f.name).append(": ").append(f.value).append("\r\n");
      ex_->h2c_out.append("\r\n");
    }
  }
  if (ex_->h2c_out.empty()) {
    if (h2c_final_queued_) return finish_h2c();
    set_deadline(worker_.options().proxy_read_timeout);
    return;
  }
  ex_->h2c_wire.swap(ex_->h2c_out);
  ex_->h2c_out.clear();
  size_t payload = h2c_out_payload_;
  h2c_out_payload_ = 0;
  h2c_writing_ = true;
  set_deadline(worker_.options().proxy_send_timeout);
  write_client(asio::buffer(ex_->h2c_wire),
               [self = this->shared_from_this(), payload](const error_code& ec, size_t n) {
                 self->h2c_writing_ = false;
                 if (self->phase_ == Phase::Closed) return;
                 if (ec) return self->close();
                 self->response_bytes_ += n;
                 // Written: the pod may send that much more.
                 if (payload > 0 && self->h2c_session_ && self->h2c_consume_id_ >= 0) {
                   self->h2c_session_->consume(self->h2c_consume_id_, payload);
                   self->h2c_session_->flush();
                 }
                 self->write_h2c_response();
               });
}

template <typename Stream>
void ClientConnection<Stream>::finish_h2c() {
  bytes_in_ += ex_->h2c_reader.payload_bytes();
  append_access_log(response_status_, response_bytes_);
  release_h2c(false);
  snapshot_.reset();
  if (!keep_alive_ || worker_.draining()) return linger();
  read_head();
}

template <typename Stream>
void ClientConnection<Stream>::release_h2c(bool cancel) {
  if (!h2c_session_) return;
  auto session = std::move(h2c_session_);
  if (cancel && h2c_stream_id_ >= 0) session->cancel(h2c_stream_id_);
  // Response bytes received and never written still hold the session's window.
  if (h2c_out_payload_ > 0 && h2c_consume_id_ >= 0)
    session->consume(h2c_consume_id_, h2c_out_payload_);
  h2c_out_payload_ = 0;
  h2c_stream_id_ = -1;
  h2c_consume_id_ = -1;
  session->flush_soon();
}

template class ClientConnection<tcp::socket>;
template class ClientConnection<TlsStream>;

}  // namespace strait::proxy
