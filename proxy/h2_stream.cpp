#include "proxy/h2_stream.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <cstring>

#include "proxy/access_log.hpp"
#include "proxy/endpoint_address.hpp"
#include "proxy/exchange_routing.hpp"
#include "proxy/h2_connection.hpp"
#include "proxy/head_writer.hpp"
#include "proxy/path_normalizer.hpp"
#include "proxy/payload_reader.hpp"

namespace strait::proxy {
namespace {

using error_code = boost::system::error_code;

ssize_t read_body_trampoline(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                             uint32_t* flags, nghttp2_data_source* source, void*) {
  return static_cast<Http2Stream*>(source->ptr)->read_response_body(buf, length, flags);
}

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

void append_hex(std::string& out, size_t v) {
  char buf[20];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, 16);
  out.append(buf, static_cast<size_t>(end - buf));
}

// Response fields that describe the HTTP/1 connection, not the message: never sent in HTTP/2
// (RFC 9113 8.2.2).
bool connection_specific(HeaderId id) {
  switch (id) {
    case HeaderId::Connection:
    case HeaderId::KeepAlive:
    case HeaderId::ProxyConnection:
    case HeaderId::TransferEncoding:
    case HeaderId::Upgrade:
    case HeaderId::Te:
    case HeaderId::Trailer:
    case HeaderId::Http2Settings:
      return true;
    default:
      return false;
  }
}

}  // namespace

Http2Stream::Http2Stream(std::shared_ptr<Http2Connection> connection, int32_t id)
    : connection_(std::move(connection)), worker_(connection_->worker()), id_(id) {
  const ProxyOptions& o = worker_.options();
  headers_.reset(o.limits.max_head, kMaxHeaders);
  // A header block that never ends (HEADERS without END_HEADERS, then silence) times out.
  set_deadline(o.client_header_timeout);
}

Http2Stream::~Http2Stream() = default;

void Http2Stream::set_deadline(std::chrono::milliseconds timeout) {
  deadline_ms = worker_.now_ms() + static_cast<uint64_t>(timeout.count());
}

// ---- request -------------------------------------------------------------------------------

void Http2Stream::on_request_headers(bool end_stream) {
  request_start_ = std::chrono::steady_clock::now();
  worker_.make_request_id(request_id_);
  request_ended_ = end_stream;
  headers_.build(end_stream, request_);
  for (size_t i = 0; i < request_.header_count; ++i) {
    if (request_.headers[i].name == "content-type" &&
        request_.headers[i].value.starts_with("application/grpc"))
      grpc_ = true;
  }
  if (request_.status == ParseStatus::Error) {
    worker_.metrics().requests_rejected.add();
    if (request_.error_status == 431) connection_->count_glitch();
    return respond_local(request_.error_status);
  }
  handle_request();
}

void Http2Stream::handle_request() {
  const ProxyOptions& o = worker_.options();
  phase_ = Phase::Upstream;
  if (request_.framing == BodyFraming::Length && o.proxy_body_size != 0 &&
      request_.content_length > o.proxy_body_size) {
    worker_.metrics().requests_rejected.add();
    return respond_local(413);
  }
  snapshot_ = worker_.snapshot();
  if (!snapshot_) return respond_local(503);
  bool tls = connection_->tls();
  RoutingDecision route = route_exchange(*snapshot_.get(), request_, tls, !o.hsts_header.empty(),
                                         normalized_path_, target_, route_ingress_);
  hsts_ = route.hsts;
  if (route.backend != nullptr) upstream_name_ = route.backend->name;
  switch (route.action) {
    case RoutingDecision::Action::Reject:
      worker_.metrics().requests_rejected.add();
      return respond_local(route.status);
    case RoutingDecision::Action::Redirect:
      return redirect_to_https();
    case RoutingDecision::Action::Answer:
      return respond_local(route.status);
    case RoutingDecision::Action::Forward:
      break;
  }
  cluster_ = route.cluster;
  const Cluster& cluster = *route.backend;
  if (cluster.protocol == UpstreamProtocol::H2c && cluster.external_name.empty())
    return forward_h2c();

  chunked_upstream_ = request_.framing == BodyFraming::Chunked;
  ForwardContext ctx{connection_->client_ip(), connection_->server_port(), tls ? "https" : "http",
                     std::string_view(request_id_, sizeof request_id_), target_};
  // Written into per-thread scratch (the head writer takes a std::string), then kept in a
  // buffer from the worker's block cache for as long as a retry may resend it.
  static thread_local std::string head_scratch;
  head_scratch.clear();
  write_upstream_request_head(request_, ctx, request_.framing, request_.content_length,
                              head_scratch);
  request_head_out_.assign(head_scratch);
  forwarding_ = true;
  if (request_.expect_continue && !request_ended_) {
    // The client waits for this before sending its body; the upstream never sees Expect.
    nghttp2_nv nv[] = {make_nv(":status", "100")};
    nghttp2_submit_headers(connection_->session(), NGHTTP2_FLAG_NONE, id_, nullptr, nv, 1, nullptr);
    connection_->flush_soon();
  }
  pick_endpoint_and_connect();
}

void Http2Stream::consume_client(size_t n) {
  n = std::min(n, unconsumed_);
  if (n == 0 || connection_->closed()) return;
  unconsumed_ -= n;
  nghttp2_session_consume(connection_->session(), id_, n);
}

void Http2Stream::on_data(const uint8_t* data, size_t size) {
  body_received_ += size;
  unconsumed_ += size;  // returned by consume_client(), at the latest when the stream closes
  // An HTTP/2 upstream is full duplex: its answer may start while the request still streams.
  if (!forwarding_ || (phase_ != Phase::Upstream && !h2_session_)) {
    // Not going anywhere (answered locally, or failed): return the window at once.
    return consume_client(size);
  }
  uint64_t limit = worker_.options().proxy_body_size;
  if (limit != 0 && body_received_ > limit) {
    consume_client(size);
    release_upstream(false);
    forwarding_ = false;
    worker_.metrics().requests_rejected.add();
    return respond_local(413);
  }
  body_pending_.append(reinterpret_cast<const char*>(data), size);
  if (h2_session_) {
    if (h2_stream_id_ >= 0) h2_session_->resume(h2_stream_id_);
    return h2_session_->flush();
  }
  if (head_sent_ && !writing_upstream_) send_to_upstream();
}

void Http2Stream::on_end_stream() {
  request_ended_ = true;
  if (h2_session_ && h2_stream_id_ >= 0 && forwarding_) {
    h2_session_->resume(h2_stream_id_);
    return h2_session_->flush();
  }
  if (forwarding_ && phase_ == Phase::Upstream && head_sent_ && !writing_upstream_)
    send_to_upstream();
}

// ---- upstream connection ---------------------------------------------------------------------

void Http2Stream::pick_endpoint_and_connect() {
  phase_ = Phase::Upstream;
  ++attempts_;
  upstream_eof_ = false;
  upstream_error_ = {};
  upstream_start_ = std::chrono::steady_clock::now();
  const Cluster& cluster = *snapshot_.get()->clusters[static_cast<size_t>(cluster_)];
  if (!cluster.external_name.empty()) return connect_external(cluster);
  // The same choice HTTP/1 exchanges make: round-robin, ejected endpoints skipped, a retry goes
  // to an endpoint not tried yet.
  size_t index = worker_.choose_endpoint(cluster_, cluster, tried_.data(), tried_count_);
  if (index == OutlierDetector::kNone) return respond_local(502);
  if (tried_count_ < tried_.size()) tried_[tried_count_++] = static_cast<uint32_t>(index);
  endpoint_index_ = index;
  const Endpoint& endpoint = cluster.endpoints[index];
  upstream_addr_ = endpoint.text;
  if (auto pooled = worker_.pool().take(endpoint.text, cluster.protocol == UpstreamProtocol::Tls)) {
    upstream_ = std::move(pooled);
    upstream_->owner = shared_from_this();
    reused_upstream_ = true;
    return send_to_upstream();
  }
  connect_to(endpoint);
}

void Http2Stream::connect_to(const Endpoint& endpoint) {
  reused_upstream_ = false;
  upstream_eof_ = false;  // a retry after a stale pooled connection starts clean
  upstream_error_ = {};
  upstream_ = std::make_shared<UpstreamConnection>(worker_.io(), worker_.pool(), endpoint.text);
  set_deadline(worker_.options().proxy_connect_timeout);
  upstream_->socket.async_connect(
      to_tcp_endpoint(endpoint),
      [self = shared_from_this()](const error_code& ec) { self->on_connected(ec); });
}

void Http2Stream::connect_external(const Cluster& cluster) {
  std::string key = cluster.external_name + ":" + std::to_string(cluster.external_port);
  upstream_addr_ = key;
  if (auto pooled = worker_.pool().take(key, cluster.protocol == UpstreamProtocol::Tls)) {
    upstream_ = std::move(pooled);
    upstream_->owner = shared_from_this();
    reused_upstream_ = true;
    return send_to_upstream();
  }
  reused_upstream_ = false;
  upstream_eof_ = false;
  upstream_error_ = {};
  upstream_ = std::make_shared<UpstreamConnection>(worker_.io(), worker_.pool(), key);
  set_deadline(worker_.options().proxy_connect_timeout);
  upstream_->async_connect_by_name(
      cluster.external_name, cluster.external_port,
      [self = shared_from_this()](const error_code& ec) { self->on_connected(ec); });
}

void Http2Stream::on_connected(const error_code& ec) {
  if (phase_ != Phase::Upstream || !upstream_) return;
  const Cluster& cluster = *snapshot_.get()->clusters[static_cast<size_t>(cluster_)];
  if (ec) {
    worker_.metrics().upstream_connect_errors.add();
    if (cluster.external_name.empty()) worker_.upstream_connect_failed(upstream_addr_);
    return upstream_failed(timed_out_ ? "connect timeout" : "connect failed", true);
  }
  if (cluster.external_name.empty()) worker_.upstream_connected(upstream_addr_);
  error_code ignored;
  upstream_->socket.set_option(tcp::no_delay(true), ignored);
  if (cluster.protocol == UpstreamProtocol::Tls) {
    // TLS to the pod, part of connecting: a failed handshake sent nothing.
    return upstream_->async_client_handshake(
        cluster.external_name, [self = shared_from_this()](const error_code& hec) {
          if (self->phase_ != Phase::Upstream || !self->upstream_) return;
          if (hec) return self->upstream_failed("TLS handshake failed", true);
          self->upstream_->owner = self;
          self->send_to_upstream();
        });
  }
  upstream_->owner = shared_from_this();
  send_to_upstream();
}

void Http2Stream::send_to_upstream() {
  if (writing_upstream_ || !upstream_ || phase_ != Phase::Upstream) return;
  // An early answer or a close from the upstream is seen while the request is still going out.
  upstream_->ensure_read();
  // The head is not copied next to the body: a bodiless request is written straight from
  // request_head_out_, a request with a body as a gather write of both.
  body_out_.clear();
  size_t payload = body_pending_.size();
  if (payload > 0) {
    if (chunked_upstream_) {
      append_hex(body_out_, payload);
      body_out_.append("\r\n", 2);
    }
    body_out_.append(body_pending_);
    if (chunked_upstream_) body_out_.append("\r\n", 2);
    body_pending_.clear();
  }
  bool last = request_ended_;
  if (last && chunked_upstream_) body_out_.append("0\r\n\r\n", 5);
  bool with_head = !head_sent_;
  if (!with_head && body_out_.empty()) {
    if (last) return await_response();
    // Waiting for the client's next DATA frame.
    set_deadline(worker_.options().client_body_timeout);
    return;
  }
  head_sent_ = true;
  if (payload > 0) body_started_ = true;
  writing_upstream_ = true;
  set_deadline(worker_.options().proxy_send_timeout);
  auto done = [self = shared_from_this(), payload, last](const error_code& ec, size_t) {
    self->writing_upstream_ = false;
    if (self->phase_ != Phase::Upstream || !self->upstream_) return;
    if (ec) return self->upstream_failed("send failed", false);
    self->on_sent(ec, payload);
    if (self->phase_ != Phase::Upstream || !self->upstream_) return;
    if (!self->body_pending_.empty() || (self->request_ended_ && !last))
      return self->send_to_upstream();
    if (!last) {
      self->set_deadline(self->worker_.options().client_body_timeout);
      return;
    }
    self->await_response();
  };
  if (!with_head) return upstream_->async_write(asio::buffer(body_out_), recycled(std::move(done)));
  auto head = asio::buffer(request_head_out_.data(), request_head_out_.size());
  if (body_out_.empty()) return upstream_->async_write(head, recycled(std::move(done)));
  std::array<asio::const_buffer, 2> both{head, asio::buffer(body_out_)};
  upstream_->async_write(both, recycled(std::move(done)));
}

void Http2Stream::await_response() {
  request_sent_ = true;
  set_deadline(worker_.options().proxy_read_timeout);
  if (upstream_->available() > 0) return on_response_head();
  if (upstream_eof_ || upstream_error_) return upstream_failed("upstream closed", false);
  upstream_->ensure_read();
}

void Http2Stream::on_sent(const error_code&, size_t payload) {
  // The bytes are with the upstream: give the client its window back.
  if (payload == 0) return;
  consume_client(payload);
  connection_->flush_soon();
}

// ---- response --------------------------------------------------------------------------------

void Http2Stream::on_upstream_read(const error_code& ec, size_t n) {
  if (phase_ == Phase::Done || !upstream_) return;
  if (ec) {
    upstream_error_ = ec;
    if (ec == asio::error::eof) upstream_eof_ = true;
  }
  if (phase_ == Phase::Respond) {
    if (closed_ || connection_->closed()) return release_upstream(false);
    nghttp2_session_resume_data(connection_->session(), id_);
    connection_->flush_soon();
    return;
  }
  // Bytes or EOF that arrive while the request is still being sent wait in the buffer.
  if (!request_sent_) {
    if (ec && ec != asio::error::eof && !writing_upstream_)
      upstream_failed("upstream closed", false);
    return;
  }
  if (n > 0 || upstream_->available() > 0) return on_response_head();
  upstream_failed(timed_out_ ? "read timeout" : "upstream closed", false);
}

void Http2Stream::on_response_head() {
  // Parsed into per-thread scratch: the parsed head (3.5 KiB of field views) is needed only
  // here; what the body needs afterwards is copied out.
  static thread_local ParsedResponse scratch;
  ParsedResponse& response = scratch;
  HeadLimits limits = worker_.options().limits;
  limits.max_head = UpstreamConnection::kBufferSize - 1;
  while (true) {
    parse_response(upstream_->data(), upstream_->available(), limits, request_.head_method,
                   response);
    if (response.status == ParseStatus::Error) return upstream_failed(response.error, false);
    if (response.status == ParseStatus::Incomplete) {
      if (upstream_eof_ || upstream_error_) return upstream_failed("upstream closed", false);
      return upstream_->ensure_read();
    }
    if (response.status_code >= 100 && response.status_code < 200) {
      // 101 can not happen on HTTP/2 (no Upgrade was forwarded); other interim responses are
      // absorbed: the client got its own 100 if it asked.
      if (response.status_code == 101)
        return upstream_failed("unexpected 101 from upstream", false);
      upstream_->consume(response.head_size);
      if (upstream_->available() == 0) {
        if (upstream_eof_ || upstream_error_) return upstream_failed("upstream closed", false);
        return upstream_->ensure_read();
      }
      continue;
    }
    break;
  }
  phase_ = Phase::Respond;
  response_started_ = true;
  upstream_response_at_ = std::chrono::steady_clock::now();
  response_status_ = response.status_code;
  response_keep_alive_ = response.keep_alive;
  response_framing_ = response.framing;
  response_reader_.reset(response.framing, response.content_length);

  // HEADERS: lower-case names (HTTP/2 requires them), connection-specific fields dropped.
  char status_text[4];
  std::to_chars(status_text, status_text + 3, response_status_);
  std::array<nghttp2_nv, kMaxHeaders + 4> nv;
  size_t count = 0;
  nv[count++] = make_nv(":status", std::string_view(status_text, 3));
  // Lower-cased names in per-thread scratch: nghttp2_submit_response copies names and values.
  static thread_local std::string lowered;
  size_t names = 0;
  for (size_t i = 0; i < response.header_count; ++i) names += response.headers[i].name.size();
  lowered.clear();
  lowered.reserve(names);  // no reallocation: nv points into it
  bool has_date = false;
  for (size_t i = 0; i < response.header_count; ++i) {
    HeaderId id = response.ids[i];
    if (connection_specific(id) || is_hop_by_hop(response, i)) continue;
    if (id == HeaderId::Date) has_date = true;
    if (hsts_ && iequals(response.headers[i].name, "strict-transport-security")) continue;
    std::string_view name = response.headers[i].name;
    size_t at = lowered.size();
    lowered.resize(at + name.size());
    char* out = lowered.data() + at;
    for (size_t k = 0; k < name.size(); ++k) {
      char c = name[k];
      out[k] = c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c;
    }
    nv[count++] = make_nv(std::string_view(out, name.size()), response.headers[i].value);
  }
  if (!has_date) nv[count++] = make_nv("date", worker_.http_date());
  if (hsts_) nv[count++] = make_nv("strict-transport-security", worker_.options().hsts_header);

  bool has_body = response.framing != BodyFraming::None;
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = read_body_trampoline;
  // nghttp2 copies names and values: the upstream buffer may be consumed right after.
  int rv = nghttp2_submit_response(connection_->session(), id_, nv.data(), count,
                                   has_body ? &provider : nullptr);
  upstream_->consume(response.head_size);
  if (rv != 0) {
    release_upstream(false);
    return reset_stream(NGHTTP2_INTERNAL_ERROR);
  }
  if (!has_body) {
    response_done_ = true;
    release_upstream(response_keep_alive_);
  }
  set_deadline(worker_.options().proxy_send_timeout);
  connection_->flush_soon();
}

long Http2Stream::read_response_body(uint8_t* buffer, size_t length, uint32_t* flags) {
  if (!local_body_.empty() || (phase_ == Phase::Respond && !response_started_)) {
    size_t n = std::min(length, local_body_.size() - local_offset_);
    std::memcpy(buffer, local_body_.data() + local_offset_, n);
    local_offset_ += n;
    response_bytes_ += n;
    if (local_offset_ == local_body_.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      response_done_ = true;
    }
    return static_cast<long>(n);
  }
  if (h2_session_) return read_h2c_body(buffer, length, flags);
  if (!upstream_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  size_t consumed = 0, written = 0;
  auto status = response_reader_.read(upstream_->data(), upstream_->available(), buffer, length,
                                      consumed, written);
  if (status == PayloadReader::Status::Error) {
    release_upstream(false);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  upstream_->consume(consumed);
  // Only a clean EOF ends an until-close body; a reset is a failure (handled below).
  bool done = status == PayloadReader::Status::Done ||
              (response_framing_ == BodyFraming::UntilClose && written == 0 &&
               upstream_->available() == 0 && upstream_eof_);
  response_bytes_ += written;
  if (done) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    response_done_ = true;
    release_upstream(response_keep_alive_ && response_framing_ != BodyFraming::UntilClose);
    return static_cast<long>(written);
  }
  if (written > 0) {
    set_deadline(worker_.options().proxy_send_timeout);
    if (upstream_->available() == 0) upstream_->ensure_read();
    return static_cast<long>(written);
  }
  if (upstream_eof_ || upstream_error_) {
    // The upstream closed before the body it announced was complete: the client learns it from
    // RST_STREAM, never from a body that merely looks short.
    release_upstream(false);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  set_deadline(worker_.options().proxy_read_timeout);
  upstream_->ensure_read();
  return NGHTTP2_ERR_DEFERRED;
}

// ---- local answers and failures ------------------------------------------------------------

void Http2Stream::upstream_failed(const char* why, bool connect_phase) {
  (void)why;
  bool timed_out = timed_out_;
  timed_out_ = false;
  bool was_reused = reused_upstream_;
  release_upstream(false);
  if (response_started_) return reset_stream(NGHTTP2_INTERNAL_ERROR);
  const Cluster& cluster = *snapshot_.get()->clusters[static_cast<size_t>(cluster_)];
  size_t endpoints = cluster.endpoints.size();
  bool bodiless = request_.framing == BodyFraming::None;
  bool stale_pooled = was_reused && !timed_out && request_.idempotent && bodiless;
  bool another_endpoint =
      endpoints > 1 && tried_count_ < worker_.options().proxy_next_upstream_tries &&
      (connect_phase || (request_.idempotent && bodiless && !body_started_ && !timed_out));
  if ((stale_pooled && attempts_ < 3) || (another_endpoint && !body_started_)) {
    worker_.metrics().upstream_retries.add();
    head_sent_ = false;
    request_sent_ = false;
  }
  if (stale_pooled && attempts_ < 3) {
    ++attempts_;
    if (!cluster.external_name.empty()) return connect_external(cluster);
    return connect_to(cluster.endpoints[endpoint_index_ % endpoints]);
  }
  if (another_endpoint && !body_started_) return pick_endpoint_and_connect();
  respond_local(timed_out ? 504 : 502);
}

void Http2Stream::respond_local(int status) {
  release_upstream(false);
  release_h2_upstream();  // an HTTP/2 upstream stream is cancelled: it must not answer too
  forwarding_ = false;
  // Body bytes received and not forwarded: return their window.
  consume_client(body_pending_.size() - pending_offset_);
  body_pending_.clear();
  pending_offset_ = 0;
  if (closed_ || connection_->closed()) return;
  if (response_started_) return reset_stream(NGHTTP2_INTERNAL_ERROR);
  phase_ = Phase::Respond;
  response_status_ = status;
  local_body_.clear();
  local_offset_ = 0;
  if (!request_.head_method) write_local_response_body(status, local_body_);
  submit(status, {}, !local_body_.empty());
}

void Http2Stream::redirect_to_https() {
  std::string location =
      https_redirect_location(request_.authority, worker_.options().ssl_redirect_port,
                              target_.empty() ? request_.origin_target : std::string_view(target_));
  phase_ = Phase::Respond;
  response_status_ = 308;
  local_body_.clear();
  local_offset_ = 0;
  if (!request_.head_method) write_local_response_body(308, local_body_);
  submit(308, location, !local_body_.empty());
}

void Http2Stream::submit(int status, std::string_view location, bool body) {
  if (grpc_) return submit_grpc_status(status);
  char status_text[4];
  std::to_chars(status_text, status_text + 3, status);
  char length_text[24];
  auto [end, ec] = std::to_chars(length_text, length_text + sizeof length_text,
                                 request_.head_method ? 0 : local_body_.size());
  std::array<nghttp2_nv, 8> nv;
  size_t count = 0;
  nv[count++] = make_nv(":status", std::string_view(status_text, 3));
  nv[count++] = make_nv("server", "strait");
  nv[count++] = make_nv("date", worker_.http_date());
  nv[count++] = make_nv("content-type", "text/html");
  nv[count++] = make_nv("content-length", std::string_view(length_text, end - length_text));
  if (!location.empty()) nv[count++] = make_nv("location", location);
  if (hsts_) nv[count++] = make_nv("strict-transport-security", worker_.options().hsts_header);
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = read_body_trampoline;
  if (!body) response_done_ = true;
  nghttp2_submit_response(connection_->session(), id_, nv.data(), count,
                          body ? &provider : nullptr);
  set_deadline(worker_.options().proxy_send_timeout);
  connection_->flush_soon();
}

// A gRPC client understands a gRPC status, not an HTML page: strait's own answers become
// "trailers-only" responses with the code gRPC maps the HTTP status to (grpc/doc/http-grpc-status-
// mapping.md).
void Http2Stream::submit_grpc_status(int http_status) {
  int code = 2;  // UNKNOWN
  switch (http_status) {
    case 400:
      code = 13;  // INTERNAL
      break;
    case 401:
      code = 16;  // UNAUTHENTICATED
      break;
    case 403:
      code = 7;  // PERMISSION_DENIED
      break;
    case 404:
      code = 12;  // UNIMPLEMENTED
      break;
    case 429:
    case 502:
    case 503:
    case 504:
      code = 14;  // UNAVAILABLE
      break;
    default:
      break;
  }
  char code_text[4];
  auto [end, ec] = std::to_chars(code_text, code_text + sizeof code_text, code);
  std::string message = std::to_string(http_status) + " " + std::string(reason_phrase(http_status));
  std::array<nghttp2_nv, 4> nv = {
      make_nv(":status", "200"), make_nv("content-type", "application/grpc"),
      make_nv("grpc-status", std::string_view(code_text, static_cast<size_t>(end - code_text))),
      make_nv("grpc-message", message)};
  response_done_ = true;
  local_body_.clear();
  // The client may still be sending: the stream ends at the latest when this deadline fires.
  set_deadline(worker_.options().proxy_send_timeout);
  nghttp2_submit_response(connection_->session(), id_, nv.data(), nv.size(), nullptr);
  connection_->flush_soon();
}

void Http2Stream::release_h2_upstream() {
  if (!h2_session_) return;
  if (h2_stream_id_ >= 0) h2_session_->cancel(h2_stream_id_);
  h2_stream_id_ = -1;
  // Response bytes received and never passed on still count against the session's window.
  size_t left = h2_body_.size() - h2_body_offset_;
  if (left > 0 && h2_consume_id_ >= 0) h2_session_->consume(h2_consume_id_, left);
  h2_body_.clear();
  h2_body_offset_ = 0;
  h2_session_->flush_soon();
}

void Http2Stream::reset_stream(uint32_t error_code) {
  if (closed_ || connection_->closed()) return;
  nghttp2_submit_rst_stream(connection_->session(), NGHTTP2_FLAG_NONE, id_, error_code);
  connection_->flush_soon();
}

void Http2Stream::release_upstream(bool reusable) {
  if (!upstream_) return;
  auto up = std::move(upstream_);
  up->owner.reset();
  if (reusable && up->available() == 0 && !upstream_eof_ && !upstream_error_ &&
      !writing_upstream_) {
    ++up->requests;
    worker_.pool().give_back(std::move(up), worker_.now_ms());
  } else {
    up->close();
  }
}

void Http2Stream::on_deadline() {
  deadline_ms = UINT64_MAX;
  if (h2_session_) {
    // The upstream stream is abandoned; the client gets 504 if nothing was answered yet.
    release_h2_upstream();
    forwarding_ = false;
    if (!response_started_ && phase_ != Phase::Respond) return respond_local(504);
    return reset_stream(NGHTTP2_CANCEL);
  }
  if (phase_ == Phase::Upstream && forwarding_ && head_sent_ && !request_ended_ &&
      !writing_upstream_) {
    // The client stopped sending its body.
    release_upstream(false);
    forwarding_ = false;
    return respond_local(408);
  }
  if (phase_ == Phase::Upstream && upstream_) {
    // Too slow to connect, take the request or answer: the failure path answers 504.
    timed_out_ = true;
    upstream_->close();
    return;
  }
  // The client does not read the response (its window stays shut) or the upstream stalls
  // mid-body: give up on this stream only.
  release_upstream(false);
  reset_stream(NGHTTP2_CANCEL);
}

void Http2Stream::on_closed(uint32_t) {
  closed_ = true;
  release_h2_upstream();
  // Whatever the client sent that was never forwarded gives the connection its window back.
  consume_client(unconsumed_);
  if (!response_done_ || upstream_) release_upstream(false);
  forwarding_ = false;
  phase_ = Phase::Done;
  deadline_ms = UINT64_MAX;
  // A stream the client reset before any answer: nginx's 499.
  int status = response_status_ != 0 ? response_status_ : 499;
  if (request_.status == ParseStatus::Complete || response_status_ != 0) {
    using namespace std::chrono;
    std::string prefix;
    if (worker_.access_log().enabled())
      append_access_log_prefix(prefix, connection_->client_ip(), request_.method,
                               request_.authority, request_.path, "HTTP/2.0", connection_->tls());
    ExchangeRecord r;
    r.status = status;
    r.bytes_sent = response_bytes_;
    r.bytes_in = body_received_;
    r.request_seconds = duration<double>(steady_clock::now() - request_start_).count();
    r.upstream_responded = response_started_;
    r.upstream_status = response_started_ ? response_status_ : 0;
    r.upstream_seconds =
        response_started_ ? duration<double>(upstream_response_at_ - upstream_start_).count() : 0;
    r.upstream_addr = upstream_addr_;
    r.route_ingress = route_ingress_;
    r.service = upstream_name_;
    r.request_id = std::string_view(request_id_, sizeof request_id_);
    record_exchange(worker_.metrics(), worker_.access_log(), prefix, r);
  }
  snapshot_.reset();
}

// ---- HTTP/2 upstream (appProtocol h2c / grpc) -------------------------------------------------

void Http2Stream::forward_h2c() {
  const Cluster& cluster = *snapshot_.get()->clusters[static_cast<size_t>(cluster_)];
  size_t index = worker_.choose_endpoint(cluster_, cluster, tried_.data(), tried_count_);
  if (index == OutlierDetector::kNone) return respond_local(502);
  if (tried_count_ < tried_.size()) tried_[tried_count_++] = static_cast<uint32_t>(index);
  const Endpoint& endpoint = cluster.endpoints[index];
  upstream_addr_ = endpoint.text;
  upstream_start_ = std::chrono::steady_clock::now();
  ++attempts_;
  bool tls = connection_->tls();
  ForwardContext ctx{connection_->client_ip(), connection_->server_port(), tls ? "https" : "http",
                     std::string_view(request_id_, sizeof request_id_), target_};
  h2_fields_.build(request_, ctx, target_.empty() ? request_.origin_target : target_);
  forwarding_ = true;
  h2_session_ = Http2UpstreamSession::get(worker_, endpoint.text, to_tcp_endpoint(endpoint));
  h2_stream_id_ = h2_session_->open_stream(shared_from_this(), h2_fields_.data(), h2_fields_.size(),
                                           !request_ended_);
  h2_consume_id_ = h2_stream_id_;
  if (h2_stream_id_ < 0) {
    h2_session_.reset();
    return respond_local(502);
  }
  set_deadline(worker_.options().proxy_read_timeout);
  h2_session_->flush();
}

size_t Http2Stream::upstream_request_body(uint8_t* buffer, size_t length, bool& end) {
  size_t n = std::min(length, body_pending_.size() - pending_offset_);
  std::memcpy(buffer, body_pending_.data() + pending_offset_, n);
  pending_offset_ += n;
  if (pending_offset_ == body_pending_.size()) {
    body_pending_.clear();
    pending_offset_ = 0;
  }
  if (n > 0) {
    body_started_ = true;
    // Handed to the upstream session: the client may send that much more.
    consume_client(n);
    if (!connection_->closed()) connection_->flush_soon();
  }
  end = request_ended_ && body_pending_.empty();
  return n;
}

void Http2Stream::upstream_response(std::vector<H2Field>& fields, bool end_stream) {
  if (closed_ || connection_->closed()) return;
  phase_ = Phase::Respond;
  response_started_ = true;
  upstream_response_at_ = std::chrono::steady_clock::now();
  std::vector<nghttp2_nv> nv;
  nv.reserve(fields.size() + 2);
  for (const H2Field& f : fields) {
    if (f.name == ":status") {
      response_status_ = std::atoi(f.value.c_str());
      nv.insert(nv.begin(), make_nv(":status", f.value));
    } else if (!f.name.empty() && f.name[0] != ':' &&
               !(hsts_ && f.name == "strict-transport-security")) {
      nv.push_back(make_nv(f.name, f.value));
    }
  }
  if (hsts_) nv.push_back(make_nv("strict-transport-security", worker_.options().hsts_header));
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = read_body_trampoline;
  if (end_stream) response_done_ = true;  // trailers-only (a gRPC error, say) or bodiless
  nghttp2_submit_response(connection_->session(), id_, nv.data(), nv.size(),
                          end_stream ? nullptr : &provider);
  set_deadline(worker_.options().proxy_read_timeout);
  connection_->flush_soon();
}

void Http2Stream::upstream_data(const uint8_t* data, size_t size) {
  h2_body_.append(reinterpret_cast<const char*>(data), size);
  set_deadline(worker_.options().proxy_read_timeout);
  if (closed_ || connection_->closed()) return;
  nghttp2_session_resume_data(connection_->session(), id_);
  connection_->flush_soon();
}

void Http2Stream::upstream_trailers(std::vector<H2Field>& fields) {
  h2_trailers_ = std::move(fields);
}

void Http2Stream::upstream_closed(uint32_t error_code, bool connect_failed) {
  h2_stream_id_ = -1;
  h2_upstream_ended_ = true;
  forwarding_ = false;  // request bytes still arriving have nowhere to go
  if (phase_ == Phase::Done || closed_ || connection_->closed()) return;
  if (!response_started_) {
    const Cluster& cluster = *snapshot_.get()->clusters[static_cast<size_t>(cluster_)];
    // The connection never came up, so nothing was sent: another endpoint may take the call.
    if (connect_failed && cluster.endpoints.size() > 1 &&
        tried_count_ < worker_.options().proxy_next_upstream_tries) {
      worker_.metrics().upstream_retries.add();
      h2_session_.reset();
      h2_upstream_ended_ = false;
      return forward_h2c();
    }
    forwarding_ = false;
    return respond_local(502);
  }
  if (error_code != NGHTTP2_NO_ERROR) return reset_stream(NGHTTP2_INTERNAL_ERROR);
  nghttp2_session_resume_data(connection_->session(), id_);
  connection_->flush_soon();
}

long Http2Stream::read_h2c_body(uint8_t* buffer, size_t length, uint32_t* flags) {
  size_t available = h2_body_.size() - h2_body_offset_;
  size_t n = std::min(length, available);
  std::memcpy(buffer, h2_body_.data() + h2_body_offset_, n);
  h2_body_offset_ += n;
  if (h2_body_offset_ == h2_body_.size()) {
    h2_body_.clear();
    h2_body_offset_ = 0;
  }
  response_bytes_ += n;
  if (n > 0 && h2_consume_id_ >= 0) {
    // Even after the upstream stream closed: its last DATA still holds the session's window.
    h2_session_->consume(h2_consume_id_, n);
    h2_session_->flush_soon();  // not from inside the client session's mem_send
  }
  if (available == n && h2_upstream_ended_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    response_done_ = true;
    if (!h2_trailers_.empty()) {
      // grpc-status and grpc-message travel in trailers.
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      std::vector<nghttp2_nv> nv;
      for (const H2Field& f : h2_trailers_) nv.push_back(make_nv(f.name, f.value));
      nghttp2_submit_trailer(connection_->session(), id_, nv.data(), nv.size());
    }
    return static_cast<long>(n);
  }
  if (n == 0) return NGHTTP2_ERR_DEFERRED;
  set_deadline(worker_.options().proxy_read_timeout);
  return static_cast<long>(n);
}

}  // namespace strait::proxy
