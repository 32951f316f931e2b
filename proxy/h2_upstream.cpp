#include "proxy/h2_upstream.hpp"

#include <nghttp2/nghttp2.h>

#include <boost/asio/post.hpp>

#include <boost/asio/write.hpp>
#include "proxy/h2_memory.hpp"
#include "proxy/head_writer.hpp"

namespace strait::proxy {
namespace {

using error_code = boost::system::error_code;

constexpr size_t kReadBuffer = 16 * 1024;
constexpr size_t kWriteBatch = 64 * 1024;
constexpr int32_t kConnectionWindow = 1 << 20;
// A response header block larger than this resets the stream (the upstream is misbehaving).
constexpr size_t kMaxResponseFields = 100;

// Sessions of this worker thread by endpoint: a worker is one thread, so nothing is shared.
thread_local std::unordered_map<std::string, std::weak_ptr<Http2UpstreamSession>> registry;

Http2UpstreamSession* self_of(void* user_data) {
  return static_cast<Http2UpstreamSession*>(user_data);
}

int on_header_cb(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                 const uint8_t* value, size_t valuelen, uint8_t, void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  return self_of(user_data)->on_header(frame->hd.stream_id, frame->headers.cat,
                                       {reinterpret_cast<const char*>(name), namelen},
                                       {reinterpret_cast<const char*>(value), valuelen});
}

int on_frame_recv_cb(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  uint8_t category = frame->hd.type == NGHTTP2_HEADERS ? frame->headers.cat : 0;
  return self_of(user_data)->on_frame_recv(frame->hd.stream_id, frame->hd.type, frame->hd.flags,
                                           category);
}

int on_data_chunk_cb(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                     void* user_data) {
  return self_of(user_data)->on_data_chunk(stream_id, data, len);
}

int on_stream_close_cb(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user_data) {
  return self_of(user_data)->on_stream_close(stream_id, error_code);
}

ssize_t read_body_cb(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                     uint32_t* flags, nghttp2_data_source*, void* user_data) {
  return self_of(user_data)->read_request_body(stream_id, buf, length, flags);
}

const nghttp2_session_callbacks* client_callbacks() {
  static nghttp2_session_callbacks* callbacks = [] {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close_cb);
    return cb;
  }();
  return callbacks;
}

const nghttp2_option* client_options() {
  static nghttp2_option* options = [] {
    nghttp2_option* o = nullptr;
    nghttp2_option_new(&o);
    // Response bytes are acknowledged when the client side has taken them (consume()).
    nghttp2_option_set_no_auto_window_update(o, 1);
    return o;
  }();
  return options;
}

}  // namespace

void H2RequestFields::build(const ParsedRequest& request, const ForwardContext& context,
                            std::string_view path) {
  struct Span {
    size_t name_at, name_size, value_at, value_size;
  };
  std::vector<Span> spans;
  spans.reserve(request.header_count + 16);
  storage_.clear();
  auto add = [&](std::string_view name, std::string_view value) {
    Span span{storage_.size(), name.size(), 0, value.size()};
    for (char c : name) storage_.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c | 0x20) : c);
    span.value_at = storage_.size();
    storage_.append(value);
    spans.push_back(span);
  };
  add(":method", request.method);
  add(":scheme", "http");
  add(":authority", request.authority);
  add(":path", path);
  struct Collector final : FieldSink {
    decltype(add)& add_field;
    explicit Collector(decltype(add)& a) : add_field(a) {}
    void field(std::string_view name, std::string_view value) override {
      // Host becomes :authority; fields about one HTTP/1 connection do not exist in HTTP/2.
      HeaderId id = classify_header(name);
      if (id == HeaderId::Host || id == HeaderId::Connection || id == HeaderId::Upgrade ||
          id == HeaderId::KeepAlive || id == HeaderId::ProxyConnection)
        return;
      add_field(name, value);
    }
  } collector(add);
  visit_upstream_request_fields(request, context, collector);
  // gRPC needs "te: trailers" end to end (the only TE value HTTP/2 allows).
  for (size_t i = 0; i < request.header_count; ++i) {
    if (request.ids[i] == HeaderId::Te && iequals(request.headers[i].value, "trailers")) {
      add("te", "trailers");
      break;
    }
  }
  if (request.framing == BodyFraming::Length)
    add("content-length", std::to_string(request.content_length));
  nv_.clear();
  for (const Span& span : spans) {
    nv_.push_back({reinterpret_cast<uint8_t*>(storage_.data() + span.name_at),
                   reinterpret_cast<uint8_t*>(storage_.data() + span.value_at), span.name_size,
                   span.value_size, NGHTTP2_NV_FLAG_NONE});
  }
}

std::shared_ptr<Http2UpstreamSession> Http2UpstreamSession::get(
    Worker& worker, const std::string& key, const boost::asio::ip::tcp::endpoint& endpoint) {
  auto it = registry.find(key);
  if (it != registry.end()) {
    if (auto existing = it->second.lock(); existing && existing->usable()) return existing;
  }
  auto session = std::make_shared<Http2UpstreamSession>(worker, key);
  registry[key] = session;
  session->connect(endpoint);
  return session;
}

Http2UpstreamSession::Http2UpstreamSession(Worker& worker, std::string key)
    : worker_(worker),
      key_(std::move(key)),
      socket_(worker.io()),
      read_buffer_(new char[kReadBuffer]) {
  nghttp2_session_client_new3(&session_, client_callbacks(), this, client_options(),
                              h2_thread_mem());
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  worker_.register_connection(this);
  registered_ = true;
}

Http2UpstreamSession::~Http2UpstreamSession() {
  nghttp2_session_del(session_);
  if (registered_) worker_.unregister_connection(this);
  auto it = registry.find(key_);
  if (it != registry.end() && it->second.expired()) registry.erase(it);
}

bool Http2UpstreamSession::usable() const {
  if (closed_ || goaway_received_ || worker_.draining()) return false;
  uint32_t limit =
      nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return streams_.size() < limit;
}

void Http2UpstreamSession::connect(const boost::asio::ip::tcp::endpoint& endpoint) {
  deadline_ms =
      worker_.now_ms() + static_cast<uint64_t>(worker_.options().proxy_connect_timeout.count());
  socket_.async_connect(endpoint, [self = shared_from_this()](const error_code& ec) {
    if (self->closed_) return;
    if (ec) {
      self->worker_.metrics().upstream_connect_errors.add();
      self->worker_.upstream_connect_failed(self->key_);  // passive health, as for HTTP/1
      return self->close(true);
    }
    self->worker_.upstream_connected(self->key_);
    error_code ignored;
    self->socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    self->connected_ = true;
    self->update_deadline();
    self->flush();
    self->read_next();
  });
}

int32_t Http2UpstreamSession::open_stream(std::shared_ptr<Http2UpstreamHandler> handler,
                                          const nghttp2_nv* fields, size_t count, bool has_body) {
  if (closed_) return -1;
  nghttp2_data_provider provider{};
  provider.read_callback = read_body_cb;
  int32_t id = nghttp2_submit_request(session_, nullptr, fields, count,
                                      has_body ? &provider : nullptr, nullptr);
  if (id < 0) return id;
  streams_[id].handler = std::move(handler);
  update_deadline();
  return id;
}

void Http2UpstreamSession::resume(int32_t stream_id) {
  if (closed_) return;
  nghttp2_session_resume_data(session_, stream_id);
}

void Http2UpstreamSession::consume(int32_t stream_id, size_t size) {
  if (closed_) return;
  nghttp2_session_consume(session_, stream_id, size);
}

void Http2UpstreamSession::cancel(int32_t stream_id) {
  if (streams_.erase(stream_id) == 0 || closed_) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
  flush();
  update_deadline();
}

// ---- I/O --------------------------------------------------------------------------------------

void Http2UpstreamSession::read_next() {
  if (closed_ || reading_) return;
  reading_ = true;
  socket_.async_read_some(boost::asio::buffer(read_buffer_.get(), kReadBuffer),
                          [self = shared_from_this()](const error_code& ec, size_t n) {
                            self->reading_ = false;
                            if (self->closed_) return;
                            if (ec) return self->close(false);
                            self->in_session_ = true;
                            ssize_t rv = nghttp2_session_mem_recv(
                                self->session_,
                                reinterpret_cast<const uint8_t*>(self->read_buffer_.get()), n);
                            self->in_session_ = false;
                            if (rv < 0) return self->close(false);
                            self->flush();
                            self->read_next();
                          });
}

void Http2UpstreamSession::flush() {
  if (closed_ || !connected_ || writing_ || in_session_) return;
  out_.clear();
  in_session_ = true;
  while (out_.size() < kWriteBatch) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      in_session_ = false;
      return close(false);
    }
    if (n == 0) break;
    out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  in_session_ = false;
  if (out_.empty()) {
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) close(false);
    return;
  }
  writing_ = true;
  boost::asio::async_write(socket_, boost::asio::buffer(out_),
                           [self = shared_from_this()](const error_code& ec, size_t) {
                             self->writing_ = false;
                             if (self->closed_) return;
                             if (ec) return self->close(false);
                             self->flush();
                           });
}

void Http2UpstreamSession::flush_soon() {
  if (flush_posted_ || closed_) return;
  flush_posted_ = true;
  boost::asio::post(worker_.io(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

// ---- nghttp2 callbacks -----------------------------------------------------------------------

int Http2UpstreamSession::on_header(int32_t stream_id, uint8_t, std::string_view name,
                                    std::string_view value) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  if (it->second.fields.size() >= kMaxResponseFields) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  it->second.fields.push_back({std::string(name), std::string(value)});
  return 0;
}

int Http2UpstreamSession::on_frame_recv(int32_t stream_id, uint8_t type, uint8_t flags, uint8_t) {
  if (type == NGHTTP2_GOAWAY) {
    goaway_received_ = true;  // no new streams here; the ones below its last id finish
    return 0;
  }
  if (type != NGHTTP2_HEADERS) return 0;
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  StreamState& s = it->second;
  std::vector<H2Field> fields = std::move(s.fields);
  s.fields.clear();
  bool end_stream = (flags & NGHTTP2_FLAG_END_STREAM) != 0;
  auto handler = s.handler;
  if (!s.response_seen) {
    std::string_view status;
    for (const H2Field& f : fields)
      if (f.name == ":status") status = f.value;
    if (status.size() == 3 && status[0] == '1') return 0;  // interim response: skipped
    s.response_seen = true;
    handler->upstream_response(fields, end_stream);
  } else {
    handler->upstream_trailers(fields);
  }
  return 0;
}

int Http2UpstreamSession::on_data_chunk(int32_t stream_id, const uint8_t* data, size_t size) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) {
    nghttp2_session_consume(session_, stream_id, size);
    return 0;
  }
  auto handler = it->second.handler;
  handler->upstream_data(data, size);
  return 0;
}

int Http2UpstreamSession::on_stream_close(int32_t stream_id, uint32_t error_code) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  auto handler = std::move(it->second.handler);
  streams_.erase(it);
  handler->upstream_closed(error_code, false);
  update_deadline();
  return 0;
}

long Http2UpstreamSession::read_request_body(int32_t stream_id, uint8_t* buffer, size_t length,
                                             uint32_t* flags) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  bool end = false;
  size_t n = it->second.handler->upstream_request_body(buffer, length, end);
  if (end) *flags |= NGHTTP2_DATA_FLAG_EOF;
  if (n == 0 && !end) return NGHTTP2_ERR_DEFERRED;
  return static_cast<long>(n);
}

// ---- deadlines and closing -------------------------------------------------------------------

void Http2UpstreamSession::update_deadline() {
  if (closed_ || !connected_) return;  // the connect deadline stands until connected
  if (!streams_.empty()) {
    deadline_ms = UINT64_MAX;  // streams time out on their exchanges' deadlines
  } else if (worker_.draining()) {
    deadline_ms = worker_.now_ms();
  } else {
    deadline_ms = worker_.now_ms() +
                  static_cast<uint64_t>(worker_.options().upstream_keepalive_timeout.count());
  }
}

void Http2UpstreamSession::on_deadline() {
  deadline_ms = UINT64_MAX;
  close(!connected_);
}

void Http2UpstreamSession::close_if_idle() {
  if (streams_.empty()) close(false);
}

void Http2UpstreamSession::force_close() {
  close(false);
}

void Http2UpstreamSession::close(bool connect_failed) {
  if (closed_) return;
  closed_ = true;
  deadline_ms = UINT64_MAX;
  auto it = registry.find(key_);
  if (it != registry.end() && it->second.lock().get() == this) registry.erase(it);
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) s.handler->upstream_closed(NGHTTP2_CANCEL, connect_failed);
  error_code ignored;
  socket_.close(ignored);
  // Leave the worker's deadline list now: the last stream holding this session may drop it
  // while the worker walks that list, and a closed session needs no deadline.
  if (registered_) {
    registered_ = false;
    worker_.unregister_connection(this);
  }
}

}  // namespace strait::proxy
