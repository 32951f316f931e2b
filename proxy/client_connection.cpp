#include "proxy/client_connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <ctime>

#include "proxy/head_writer.hpp"
#include "proxy/path_normalizer.hpp"
#include "strait/clock.hpp"
#include "tls/certificate_set.hpp"

namespace strait::proxy {
namespace {

constexpr size_t kInitialBuffer = 16 * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::chrono::milliseconds kLinger{2000};

using error_code = boost::system::error_code;

tcp::endpoint to_asio(const Endpoint& e) {
  if (e.ip.v6) {
    asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), e.ip.bytes.data(), 16);
    return {asio::ip::address_v6(b), e.port};
  }
  asio::ip::address_v4::bytes_type b;
  std::memcpy(b.data(), e.ip.bytes.data(), 4);
  return {asio::ip::address_v4(b), e.port};
}

void append_json_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out.append(buf);
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

template <typename Stream>
ClientConnection<Stream>::ClientConnection(Worker& worker, Stream stream)
    : worker_(worker),
      stream_(std::move(stream)),
      buffer_(new char[kInitialBuffer]),
      capacity_(kInitialBuffer) {
  error_code ec;
  auto remote = lowest().remote_endpoint(ec);
  client_ip_ = ec ? "0.0.0.0" : remote.address().to_string();
  auto local = lowest().local_endpoint(ec);
  server_port_ = ec ? "0" : std::to_string(local.port());
  lowest().set_option(tcp::no_delay(true), ec);
  write_buffers_.reserve(3 * 16 + 2);
  worker_.register_connection(this);
  worker_.metrics().connections_total.add();
}

template <typename Stream>
ClientConnection<Stream>::~ClientConnection() {
  if constexpr (kTls) {
    // strait closes TLS connections without close_notify, and OpenSSL drops the session of an
    // SSL freed that way from the server cache (TLS 1.0's rule, lifted by RFC 5246 7.2.1), so
    // TLS 1.2 clients without tickets could never resume. Mark it closed, as nginx's quiet
    // shutdown does; a fatal alert has already removed a bad session.
    SSL_set_shutdown(stream_.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  worker_.metrics().connections_closed.add();
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
    stream_.async_handshake(asio::ssl::stream_base::server,
                            [self = this->shared_from_this()](const error_code& ec) {
                              self->snapshot_.reset();
                              if (ec) return self->close();
                              self->read_head();
                            });
  } else {
    read_head();
  }
}

template <typename Stream>
void ClientConnection<Stream>::consume(size_t n) {
  begin_ += n;
  if (begin_ == end_) begin_ = end_ = 0;
}

template <typename Stream>
bool ClientConnection<Stream>::make_room() {
  if (end_ < capacity_) return true;
  if (begin_ > 0) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    return true;
  }
  // Only a request head may need more than the initial buffer; bound it by the head limit.
  size_t limit = worker_.options().limits.max_head + 1024;
  if (capacity_ >= limit) return false;
  size_t grown = std::min(capacity_ * 2, limit);
  std::unique_ptr<char[]> bigger(new char[grown]);
  std::memcpy(bigger.get(), buffer_.get(), end_);
  buffer_ = std::move(bigger);
  capacity_ = grown;
  return true;
}

// ---- request head ------------------------------------------------------------------------

template <typename Stream>
void ClientConnection<Stream>::read_head() {
  if (buffered() > 0) {
    parse_request(buffered_data(), buffered(), worker_.options().limits, request_);
    if (request_.status == ParseStatus::Complete) return handle_request();
    if (request_.status == ParseStatus::Error) return reject(request_.error_status, request_.error);
  } else if (worker_.draining()) {
    return close();
  }
  bool idle = buffered() == 0;
  phase_ = idle ? Phase::Idle : Phase::ReadHead;
  const auto& o = worker_.options();
  set_deadline(idle && requests_ > 0 ? o.keepalive_timeout : o.client_header_timeout);
  if (!make_room()) return reject(431, "request head too large");
  stream_.async_read_some(asio::buffer(buffer_.get() + end_, capacity_ - end_),
                          [self = this->shared_from_this()](const error_code& ec, size_t n) {
                            if (ec) return self->close();  // client went away or timed out
                            self->end_ += n;
                            self->read_head();
                          });
}

template <typename Stream>
void ClientConnection<Stream>::handle_request() {
  const ProxyOptions& o = worker_.options();
  request_start_ = std::chrono::steady_clock::now();
  ++requests_;
  attempts_ = 0;
  reused_upstream_ = false;
  request_body_started_ = false;
  sent_continue_ = false;
  response_started_ = false;
  response_status_ = 0;
  response_bytes_ = 0;
  upstream_addr_.clear();
  upstream_name_.clear();
  keep_alive_ = request_.keep_alive && requests_ < o.keepalive_requests;
  request_has_body_ = request_.framing != BodyFraming::None;
  worker_.make_request_id(request_id_);

  head_consumed_ = false;
  route_ingress_.clear();
  bytes_in_ = request_.head_size;
  request_body_.reset(BodyFraming::None, 0, false);
  if (o.access_log) {
    // Everything the log line needs from the request head, copied now: the head's bytes are
    // released while the body streams.
    log_prefix_.assign("{\"time\":\"");
    append_utc_timestamp(log_prefix_, 3);
    log_prefix_.append("\",\"remote_addr\":\"");
    log_prefix_.append(client_ip_);
    log_prefix_.append("\",\"method\":\"");
    append_json_escaped(log_prefix_, request_.method);
    log_prefix_.append("\",\"host\":\"");
    append_json_escaped(log_prefix_, request_.authority);
    log_prefix_.append("\",\"path\":\"");
    append_json_escaped(log_prefix_, request_.path);
    log_prefix_.append(request_.version_minor == 0 ? "\",\"protocol\":\"HTTP/1.0\""
                                                   : "\",\"protocol\":\"HTTP/1.1\"");
    log_prefix_.append(kTls ? ",\"scheme\":\"https\"" : ",\"scheme\":\"http\"");
  } else {
    log_prefix_.assign("-");  // marks "a request is being accounted"
  }

  if (request_.framing == BodyFraming::Length && o.proxy_body_size != 0 &&
      request_.content_length > o.proxy_body_size)
    return reject(413, "request body larger than proxy-body-size");

  snapshot_ = worker_.snapshot();
  if (!snapshot_) return respond_local(503, true);
  // Route and forward the same normalised path (see path_normalizer.hpp).
  std::string_view path = request_.path;
  target_.clear();
  if (request_.origin_target != "*") {
    switch (normalize_path(request_.path, normalized_path_)) {
      case PathCheck::Unchanged:
        break;
      case PathCheck::Normalized:
        path = normalized_path_;
        target_.assign(normalized_path_);
        target_.append(request_.origin_target.substr(request_.path.size()));
        break;
      case PathCheck::Rejected:
        return reject(400, "encoded slash hides a dot segment");
    }
  }
  RouteMatch match = route_request(*snapshot_.get(), request_.authority, path);
  if (match.route != nullptr) {
    route_ingress_.assign(match.route->ingress);
  } else if (match.vhost != nullptr) {
    route_ingress_.assign(match.vhost->fallback_ingress);
  }
  hsts_ = kTls && match.vhost != nullptr && match.vhost->tls && match.vhost->hsts &&
          !worker_.options().hsts_header.empty();
  if (!kTls && match.vhost != nullptr && match.vhost->tls && match.vhost->ssl_redirect)
    return redirect_to_https();
  if (match.backend < 0) {
    // Answer ourselves. A request body we will not read forces the connection closed.
    return respond_local(match.backend == kBackendNotFound ? 404 : 503, request_has_body_);
  }
  cluster_ = match.backend;
  const Cluster& cluster = *snapshot_.get()->clusters[static_cast<size_t>(cluster_)];
  upstream_name_ = cluster.name;
  if (cluster.endpoints.empty() && cluster.external_name.empty())
    return respond_local(503, request_has_body_);
  endpoint_index_ = worker_.next_round_robin(cluster_);

  request_body_.reset(request_.framing, request_.content_length,
                      request_.framing == BodyFraming::Chunked);
  ForwardContext ctx{client_ip_, server_port_, kTls ? "https" : "http",
                     std::string_view(request_id_, sizeof request_id_), target_};
  write_upstream_request_head(request_, ctx, request_.framing, request_.content_length,
                              request_head_out_);
  // The head is serialised; from here on only its size matters.
  consume(request_.head_size);
  head_consumed_ = true;
  pick_endpoint_and_connect();
}

// ---- upstream connection -----------------------------------------------------------------

template <typename Stream>
void ClientConnection<Stream>::pick_endpoint_and_connect() {
  phase_ = Phase::Upstream;
  ++attempts_;
  upstream_eof_ = false;
  upstream_error_ = {};
  upstream_start_ = std::chrono::steady_clock::now();
  const Cluster& cluster = *snapshot_.get()->clusters[static_cast<size_t>(cluster_)];
  if (!cluster.external_name.empty()) return connect_external(cluster);
  const Endpoint& endpoint = cluster.endpoints[endpoint_index_ % cluster.endpoints.size()];
  endpoint_ = &endpoint;
  upstream_addr_ = endpoint.text;
  if (auto pooled = worker_.pool().take(endpoint.text)) {
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
  upstream_ = std::make_shared<UpstreamConnection>(worker_.io(), worker_.pool(), endpoint.text);
  set_deadline(worker_.options().proxy_connect_timeout);
  upstream_->socket.async_connect(
      to_asio(endpoint),
      [self = this->shared_from_this()](const error_code& ec) { self->on_connected(ec); });
}

template <typename Stream>
void ClientConnection<Stream>::connect_external(const Cluster& cluster) {
  // ExternalName Services resolve by DNS when a connection is opened (pooled ones are reused).
  std::string key = cluster.external_name + ":" + std::to_string(cluster.external_port);
  upstream_addr_ = key;
  endpoint_ = nullptr;
  if (auto pooled = worker_.pool().take(key)) {
    upstream_ = std::move(pooled);
    upstream_->owner = this->shared_from_this();
    reused_upstream_ = true;
    return send_request_head();
  }
  reused_upstream_ = false;
  upstream_ = std::make_shared<UpstreamConnection>(worker_.io(), worker_.pool(), key);
  set_deadline(worker_.options().proxy_connect_timeout);
  auto resolver = std::make_shared<tcp::resolver>(worker_.io());
  resolver->async_resolve(
      cluster.external_name, std::to_string(cluster.external_port),
      [self = this->shared_from_this(), resolver](const error_code& ec,
                                                  const tcp::resolver::results_type& results) {
        if (ec || !self->upstream_) return self->on_connected(ec ? ec : asio::error::not_found);
        asio::async_connect(
            self->upstream_->socket, results,
            [self](const error_code& ec2, const tcp::endpoint&) { self->on_connected(ec2); });
      });
}

template <typename Stream>
void ClientConnection<Stream>::on_connected(const error_code& ec) {
  if (phase_ == Phase::Closed) return;
  if (ec) {
    worker_.metrics().upstream_connect_errors.add();
    return upstream_failed(timed_out_ ? "connect timeout" : "connect failed", true);
  }
  error_code ignored;
  upstream_->socket.set_option(tcp::no_delay(true), ignored);
  upstream_->owner = this->shared_from_this();
  send_request_head();
}

template <typename Stream>
void ClientConnection<Stream>::send_request_head() {
  // The pooled connection's idle read stays posted and becomes the response read.
  upstream_->ensure_read();
  write_buffers_.clear();
  write_buffers_.emplace_back(request_head_out_.data(), request_head_out_.size());
  // Send whatever body bytes already arrived with the head in the same write.
  if (!request_body_.done() && buffered() > 0) {
    if (!request_body_.prepare(buffered_data(), buffered())) {
      release_upstream(false);
      return reject(400, request_body_.error());
    }
    if (body_over_limit()) return;
    for (const auto& b : request_body_.buffers()) write_buffers_.push_back(b);
  } else {
    request_body_.prepare(nullptr, 0);
  }
  set_deadline(worker_.options().proxy_send_timeout);
  asio::async_write(upstream_->socket, write_buffers_,
                    [self = this->shared_from_this()](const error_code& ec, size_t) {
                      self->on_request_head_written(ec);
                    });
}

template <typename Stream>
void ClientConnection<Stream>::on_request_head_written(const error_code& ec) {
  if (phase_ == Phase::Closed) return;
  if (ec) return upstream_failed(timed_out_ ? "send timeout" : "send failed", false);
  if (request_body_.consumed() > 0) {
    request_body_started_ = true;
    consume(request_body_.consumed());
  }
  continue_request_body();
}

template <typename Stream>
void ClientConnection<Stream>::continue_request_body() {
  if (request_body_.done()) return await_response_head();
  const ProxyOptions& o = worker_.options();
  if (request_.expect_continue && !sent_continue_) {
    sent_continue_ = true;
    set_deadline(o.proxy_send_timeout);
    return asio::async_write(stream_, asio::buffer(kContinue),
                             [self = this->shared_from_this()](const error_code& ec, size_t) {
                               if (ec) return self->close();
                               self->continue_request_body();
                             });
  }
  if (buffered() > 0) return send_request_body_chunk();
  phase_ = Phase::ReadBody;
  set_deadline(o.client_body_timeout);
  make_room();
  stream_.async_read_some(asio::buffer(buffer_.get() + end_, capacity_ - end_),
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
  if (limit == 0 || request_body_.payload_bytes() <= limit) return false;
  // A chunked body crossed the limit: the rest is not sent, and the upstream connection (which
  // holds a partial request) is dropped. 413 if the client has had no answer yet.
  release_upstream(false);
  reject(413, "chunked request body larger than proxy-body-size");
  return true;
}

template <typename Stream>
void ClientConnection<Stream>::send_request_body_chunk() {
  phase_ = Phase::Upstream;
  if (!request_body_.prepare(buffered_data(), buffered())) {
    release_upstream(false);
    return reject(400, request_body_.error());
  }
  if (body_over_limit()) return;
  request_body_started_ = true;
  if (request_body_.buffers().empty()) {
    consume(request_body_.consumed());
    return continue_request_body();
  }
  set_deadline(worker_.options().proxy_send_timeout);
  asio::async_write(upstream_->socket, request_body_.buffers(),
                    [self = this->shared_from_this()](const error_code& ec, size_t) {
                      if (self->phase_ == Phase::Closed) return;
                      if (ec) return self->upstream_failed("send failed", false);
                      self->consume(self->request_body_.consumed());
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
    if (ec && ec != asio::error::eof) {
      release_upstream(false);
      return close();
    }
    return forward_response_body();
  }
  // Bytes or EOF that arrive while the request is still being sent wait in the upstream buffer.
  if (phase_ != Phase::Upstream || !request_body_.done()) return;
  if (n > 0 || upstream_->available() > 0) return on_response_head();
  upstream_failed(timed_out_ ? "read timeout" : "upstream closed", false);
}

template <typename Stream>
void ClientConnection<Stream>::on_response_head() {
  HeadLimits limits = worker_.options().limits;
  limits.max_head = UpstreamConnection::kBufferSize - 1;
  while (true) {
    parse_response(upstream_->data(), upstream_->available(), limits, request_.head_method,
                   response_);
    if (response_.status == ParseStatus::Error) {
      release_upstream(false);
      return upstream_failed(response_.error, false);
    }
    if (response_.status == ParseStatus::Incomplete) {
      if (upstream_eof_ || upstream_error_) return upstream_failed("upstream closed", false);
      return upstream_->ensure_read();
    }
    // Interim responses (100 Continue and the like) are ours to absorb: the client got its own.
    if (response_.status_code >= 100 && response_.status_code < 200 &&
        response_.status_code != 101) {
      upstream_->consume(response_.head_size);
      if (upstream_->available() == 0) {
        if (upstream_eof_ || upstream_error_) return upstream_failed("upstream closed", false);
        return upstream_->ensure_read();
      }
      continue;
    }
    break;
  }
  if (response_.status_code == 101) {
    // Only a WebSocket handshake the client asked for may switch protocols; anything else would
    // leave the two sides speaking different protocols.
    if (!request_.upgrade_websocket) {
      release_upstream(false);
      return upstream_failed("unexpected 101 from upstream", false);
    }
    return start_tunnel();
  }
  phase_ = Phase::Respond;
  response_started_ = true;
  upstream_response_at_ = std::chrono::steady_clock::now();
  response_status_ = response_.status_code;
  response_keep_alive_ = response_.keep_alive;
  bool client_http11 = request_.version_minor >= 1;
  BodyFraming to_client = BodyFraming::None;
  bool chunked_out = false;
  switch (response_.framing) {
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
  response_body_.reset(response_.framing, response_.content_length, chunked_out);
  write_client_response_head(
      response_, to_client, response_.content_length, !keep_alive_, keep_alive_ && !client_http11,
      worker_.http_date(),
      hsts_ ? std::string_view(worker_.options().hsts_header) : std::string_view(),
      response_head_out_);
  upstream_->consume(response_.head_size);
  write_buffers_.clear();
  write_buffers_.emplace_back(response_head_out_.data(), response_head_out_.size());
  if (!response_body_.prepare(upstream_->data(), upstream_->available())) {
    release_upstream(false);
    return close();
  }
  for (const auto& b : response_body_.buffers()) write_buffers_.push_back(b);
  set_deadline(worker_.options().proxy_send_timeout);
  asio::async_write(stream_, write_buffers_,
                    [self = this->shared_from_this()](const error_code& ec, size_t) {
                      self->on_response_written(ec);
                    });
}

template <typename Stream>
void ClientConnection<Stream>::forward_response_body() {
  if (!response_body_.prepare(upstream_->data(), upstream_->available())) {
    release_upstream(false);
    return close();
  }
  if (response_body_.buffers().empty()) {
    if (response_body_.done()) return finish_exchange();
    if (upstream_eof_ || upstream_error_) {
      if (response_.framing != BodyFraming::UntilClose) {
        // The upstream closed before the body it announced was complete: the client can only
        // learn that from a closed connection.
        release_upstream(false);
        return close();
      }
      response_body_.finish_at_eof();
      if (response_body_.buffers().empty()) return finish_exchange();
    } else {
      set_deadline(worker_.options().proxy_read_timeout);
      return upstream_->ensure_read();
    }
  }
  set_deadline(worker_.options().proxy_send_timeout);
  asio::async_write(stream_, response_body_.buffers(),
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
  upstream_->consume(response_body_.consumed());
  response_bytes_ += response_body_.consumed();
  if (response_body_.done()) return finish_exchange();
  if (upstream_eof_ && upstream_->available() == 0) {
    if (response_.framing == BodyFraming::UntilClose) {
      response_body_.finish_at_eof();
      if (!response_body_.buffers().empty()) {
        return asio::async_write(stream_, response_body_.buffers(),
                                 [self = this->shared_from_this()](const error_code& e, size_t) {
                                   self->on_response_written(e);
                                 });
      }
      return finish_exchange();
    }
    release_upstream(false);
    return close();
  }
  forward_response_body();
}

// ---- WebSocket tunnel ------------------------------------------------------------------------

template <typename Stream>
void ClientConnection<Stream>::start_tunnel() {
  phase_ = Phase::Tunnel;
  response_started_ = true;
  upstream_response_at_ = std::chrono::steady_clock::now();
  response_status_ = 101;
  // The tunnel needs nothing from the configuration: a later change can not touch it.
  snapshot_.reset();
  write_upgrade_response_head(response_, response_head_out_);
  upstream_->consume(response_.head_size);
  append_access_log(101, 0);
  set_deadline(worker_.options().websocket_idle_timeout);
  // Whatever the upstream sent after its 101 goes right behind it.
  write_buffers_.clear();
  write_buffers_.emplace_back(response_head_out_.data(), response_head_out_.size());
  if (upstream_->available() > 0)
    write_buffers_.emplace_back(upstream_->data(), upstream_->available());
  tunnel_writing_to_client_ = true;
  asio::async_write(stream_, write_buffers_,
                    [self = this->shared_from_this()](const error_code& ec, size_t) {
                      self->on_tunnel_client_written(ec);
                    });
  tunnel_client_to_upstream();
}

template <typename Stream>
void ClientConnection<Stream>::tunnel_client_to_upstream() {
  // Bytes the client pipelined behind its handshake go first.
  if (buffered() > 0) {
    set_deadline(worker_.options().websocket_idle_timeout);
    return asio::async_write(upstream_->socket, asio::buffer(buffered_data(), buffered()),
                             [self = this->shared_from_this()](const error_code& ec, size_t) {
                               if (ec || self->phase_ != Phase::Tunnel) return self->close();
                               self->begin_ = self->end_ = 0;
                               self->tunnel_client_to_upstream();
                             });
  }
  begin_ = end_ = 0;
  stream_.async_read_some(asio::buffer(buffer_.get(), capacity_),
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
  asio::async_write(stream_, asio::buffer(upstream_->data(), upstream_->available()),
                    [self = this->shared_from_this()](const error_code& ec, size_t) {
                      self->on_tunnel_client_written(ec);
                    });
}

template <typename Stream>
void ClientConnection<Stream>::finish_exchange() {
  append_access_log(response_status_, response_bytes_);
  release_upstream(response_keep_alive_ && response_.framing != BodyFraming::UntilClose);
  snapshot_.reset();
  if (!keep_alive_ || worker_.draining()) return linger();
  read_head();
}

template <typename Stream>
void ClientConnection<Stream>::release_upstream(bool reusable) {
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
void ClientConnection<Stream>::upstream_failed(const char* why, bool connect_phase) {
  bool timed_out = timed_out_;
  timed_out_ = false;
  bool was_reused = reused_upstream_;
  release_upstream(false);
  if (response_started_) return close();
  const Cluster& cluster = *snapshot_.get()->clusters[static_cast<size_t>(cluster_)];
  size_t endpoints = cluster.endpoints.size();
  // A pooled connection the endpoint had already closed: the request never reached it when
  // nothing came back, but only a request without side effects may be sent again.
  bool stale_pooled = was_reused && !timed_out && request_.idempotent && !request_has_body_;
  // A failed connect sent nothing, so another endpoint may take any request; after that only
  // idempotent requests whose body we still hold are retried.
  bool another_endpoint = endpoints > 1 && attempts_ < 2 &&
                          (connect_phase || (request_.idempotent && !request_body_started_ &&
                                             !request_has_body_ && !timed_out));
  if ((stale_pooled && attempts_ < 3) || (another_endpoint && !request_body_started_))
    worker_.metrics().upstream_retries.add();
  if (stale_pooled && attempts_ < 3) {
    request_body_.reset(request_.framing, request_.content_length,
                        request_.framing == BodyFraming::Chunked);
    ++attempts_;
    if (!cluster.external_name.empty()) return connect_external(cluster);
    return connect_to(cluster.endpoints[endpoint_index_ % endpoints]);
  }
  if (another_endpoint && !request_body_started_) {
    ++endpoint_index_;
    request_body_.reset(request_.framing, request_.content_length,
                        request_.framing == BodyFraming::Chunked);
    return pick_endpoint_and_connect();
  }
  (void)why;
  int status = timed_out ? 504 : 502;
  respond_local(status, request_has_body_ && !request_body_.done());
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
  write_local_response(status, !keep_alive_, request_.head_method, worker_.http_date(),
                       response_head_out_);
  write_response_and_continue(status);
}

template <typename Stream>
void ClientConnection<Stream>::write_response_and_continue(int status) {
  set_deadline(worker_.options().proxy_send_timeout);
  asio::async_write(stream_, asio::buffer(response_head_out_),
                    [self = this->shared_from_this(), status](const error_code& ec, size_t n) {
                      if (ec) return self->close();
                      self->append_access_log(status, n);
                      self->snapshot_.reset();
                      if (!self->keep_alive_) return self->linger();
                      // Keep-alive: a bodiless request answered before it was forwarded
                      // still has its head in the buffer.
                      if (!self->head_consumed_) {
                        self->consume(self->request_.head_size);
                        self->head_consumed_ = true;
                      }
                      self->read_head();
                    });
}

template <typename Stream>
void ClientConnection<Stream>::redirect_to_https() {
  // ingress-nginx's ssl-redirect: 308 keeps the method and body semantics.
  const ProxyOptions& o = worker_.options();
  std::string_view host = request_.authority;
  if (size_t colon = host.rfind(':');
      colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos)
    host = host.substr(0, colon);
  std::string location = "https://" + std::string(host);
  if (o.ssl_redirect_port != 0 && o.ssl_redirect_port != 443)
    location += ":" + std::to_string(o.ssl_redirect_port);
  location += target_.empty() ? request_.origin_target : std::string_view(target_);
  if (request_has_body_) keep_alive_ = false;
  response_status_ = 308;
  phase_ = Phase::Respond;
  write_redirect_response(308, location, !keep_alive_, request_.head_method, worker_.http_date(),
                          response_head_out_);
  write_response_and_continue(308);
}

template <typename Stream>
void ClientConnection<Stream>::linger() {
  // Half-close, then read and discard until the client closes (or a short deadline), so the
  // response is not destroyed by a reset caused by unread request bytes.
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
  stream_.async_read_some(asio::buffer(buffer_.get(), capacity_),
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
  if (phase_ == Phase::Upstream && upstream_) {
    // The upstream is too slow to connect, accept the request or answer: 504 to the client.
    timed_out_ = true;
    upstream_->close();
    return;
  }
  // Client too slow (headers, body, reading our response), idle keep-alive over, or linger
  // done: nothing more will come of this connection.
  if (upstream_) upstream_->close();
  error_code ignored;
  lowest().close(ignored);
}

template <typename Stream>
void ClientConnection<Stream>::append_access_log(int status, uint64_t bytes_sent) {
  if (log_prefix_.empty()) return;  // already accounted (or no request)
  using namespace std::chrono;
  auto now = steady_clock::now();
  double request_time = duration<double>(now - request_start_).count();
  double upstream_time =
      response_started_ ? duration<double>(upstream_response_at_ - upstream_start_).count() : 0;

  RouteMetrics& m = worker_.metrics().route(route_ingress_, upstream_name_);
  if (status >= 100 && status < 600) m.requests[static_cast<size_t>(status / 100 - 1)].add();
  m.request_seconds.observe(request_time);
  if (response_started_) m.upstream_seconds.observe(upstream_time);
  bytes_in_ += request_body_.payload_bytes();
  m.bytes_in.add(bytes_in_);
  m.bytes_out.add(bytes_sent);

  AccessLog& log = worker_.access_log();
  if (!log.enabled()) {
    log_prefix_.clear();
    return;
  }
  std::string& out = log.buffer();
  out.append(log_prefix_);
  char tail[160];
  int n = std::snprintf(tail, sizeof tail,
                        ",\"status\":%d,\"bytes_sent\":%llu,\"request_length\":%llu,"
                        "\"request_time\":%.6f,\"upstream_status\":%d,"
                        "\"upstream_response_time\":%.6f",
                        status, static_cast<unsigned long long>(bytes_sent),
                        static_cast<unsigned long long>(bytes_in_), request_time,
                        response_started_ ? response_status_ : 0, upstream_time);
  if (n > 0) out.append(tail, std::min(static_cast<size_t>(n), sizeof tail - 1));
  out.append(",\"upstream_addr\":\"");
  append_json_escaped(out, upstream_addr_);
  size_t slash = route_ingress_.find('/');
  out.append("\",\"namespace\":\"");
  if (slash != std::string::npos) append_json_escaped(out, route_ingress_.substr(0, slash));
  out.append("\",\"ingress\":\"");
  append_json_escaped(out, slash == std::string::npos
                               ? std::string_view(route_ingress_)
                               : std::string_view(route_ingress_).substr(slash + 1));
  out.append("\",\"service\":\"");
  append_json_escaped(out, upstream_name_);
  out.append("\",\"request_id\":\"");
  out.append(request_id_, sizeof request_id_);
  out.append("\"}\n");
  log_prefix_.clear();
  log.commit();
}

template class ClientConnection<tcp::socket>;
template class ClientConnection<asio::ssl::stream<tcp::socket>>;

}  // namespace strait::proxy
