#include "proxy/h2_connection.hpp"

#include <nghttp2/nghttp2.h>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include "proxy/h2_memory.hpp"
#include "proxy/h2_stream.hpp"

namespace strait::proxy {
namespace {

using error_code = boost::system::error_code;

constexpr size_t kReadBuffer = 16 * 1024;
// Output is gathered up to this much before a write: several frames, one syscall.
constexpr size_t kWriteBatch = 64 * 1024;
constexpr size_t kFirstBatch = 4096;
// The connection-level receive window: bounds the request-body bytes one connection can have
// buffered in strait across all its streams.
constexpr int32_t kConnectionWindow = 1 << 20;
constexpr int32_t kStreamWindow = 65535;
// Misbehaviour budget (nghttp2 1.67's glitch limiter defaults): a burst of 1000, then 33/s.
constexpr double kGlitchBurst = 1000;
constexpr double kGlitchPerSecond = 33;
// Between the shutdown notice (GOAWAY with the largest stream id) and the final GOAWAY, so that
// requests already in flight towards us are still taken.
constexpr uint64_t kGoawayGraceMs = 1000;
// How long a closing connection waits for the client to take its last frames.
constexpr std::chrono::milliseconds kLinger{2000};

Http2Connection* self_of(void* user_data) {
  return static_cast<Http2Connection*>(user_data);
}

int on_begin_headers_cb(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  return self_of(user_data)->on_begin_headers(frame->hd.stream_id);
}

int on_header_cb(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                 const uint8_t* value, size_t valuelen, uint8_t, void* user_data) {
  // Trailers (a second HEADERS) are not forwarded to an HTTP/1.1 upstream.
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  return self_of(user_data)->on_header(frame->hd.stream_id,
                                       {reinterpret_cast<const char*>(name), namelen},
                                       {reinterpret_cast<const char*>(value), valuelen});
}

int on_frame_recv_cb(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  return self_of(user_data)->on_frame_recv(frame->hd.stream_id, frame->hd.type, frame->hd.flags,
                                           frame->hd.length);
}

int on_data_chunk_cb(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                     void* user_data) {
  return self_of(user_data)->on_data_chunk(stream_id, data, len);
}

int on_stream_close_cb(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user_data) {
  return self_of(user_data)->on_stream_close(stream_id, error_code);
}

// A stream we reset because of what the client sent costs us the work already done for it
// (MadeYouReset, CVE-2025-8671): it counts against the client's budget.
int on_frame_send_cb(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  if (frame->hd.type != NGHTTP2_RST_STREAM) return 0;
  switch (frame->rst_stream.error_code) {
    case NGHTTP2_PROTOCOL_ERROR:
    case NGHTTP2_FLOW_CONTROL_ERROR:
    case NGHTTP2_STREAM_CLOSED:
    case NGHTTP2_FRAME_SIZE_ERROR:
    case NGHTTP2_REFUSED_STREAM:
      self_of(user_data)->count_glitch();
      break;
    default:
      break;
  }
  return 0;
}

const nghttp2_session_callbacks* server_callbacks() {
  static nghttp2_session_callbacks* callbacks = [] {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close_cb);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send_cb);
    return cb;
  }();
  return callbacks;
}

const nghttp2_option* server_options() {
  static nghttp2_option* options = [] {
    nghttp2_option* o = nullptr;
    nghttp2_option_new(&o);
    // Windows are returned only when request bytes went upstream (Http2Stream::on_sent).
    nghttp2_option_set_no_auto_window_update(o, 1);
    // Rapid Reset (CVE-2023-44487): client resets of unfinished streams count against our
    // glitch budget (1000, then 33/s: GOAWAY ENHANCE_YOUR_CALM); nghttp2's own limiter stays as
    // a backstop above it.
    nghttp2_option_set_stream_reset_rate_limit(o, 2000, 66);
    // CONTINUATION flood (CVE-2024-28182): nghttp2's default of 8, made explicit.
    nghttp2_option_set_max_continuations(o, 8);
    // SETTINGS/PING floods: ACKs queued while the client does not read (CVE-2019-9512/-9515).
    nghttp2_option_set_max_outbound_ack(o, 1000);
    nghttp2_option_set_max_settings(o, 32);
    // strait schedules no stream above another, so RFC 7540's priority tree is work for
    // nothing: closed streams are not kept for it (with SETTINGS_NO_RFC7540_PRIORITIES below,
    // nghttp2 keeps none either way). Frames for a closed stream are still recognised by id
    // and ignored, as for any stream closed long ago.
    nghttp2_option_set_no_closed_streams(o, 1);
    return o;
  }();
  return options;
}

// The transport behind a session: a plain or a TLS socket.
template <typename Stream>
class Http2Transport final : public Http2Connection {
 public:
  Http2Transport(Worker& worker, Stream stream, std::string client_ip, std::string server_port)
      : Http2Connection(worker, std::move(client_ip), std::move(server_port),
                        !std::is_same_v<Stream, tcp::socket>),
        stream_(std::move(stream)) {}
  ~Http2Transport() override {
    if constexpr (!std::is_same_v<Stream, tcp::socket>) {
      // As ClientConnection does: a session closed without close_notify stays resumable.
      SSL_set_shutdown(stream_.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
  }

 protected:
  void read_some() override {
    auto done = recycled(
        [self = shared_from_this()](const error_code& ec, size_t n) { self->on_read(ec, n); });
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      stream_.async_read_some(asio::buffer(lend_read_buffer(), kReadBuffer), std::move(done));
    } else {
      // The plaintext buffer only once a record is there to decrypt: an idle connection's
      // pending read holds none.
      stream_.async_read_some_lazily(
          [this] { return asio::buffer(lend_read_buffer(), kReadBuffer); }, std::move(done));
    }
  }
  void release_transport_memory() override {
    if constexpr (!std::is_same_v<Stream, tcp::socket>) stream_.release_idle_memory();
  }
  void write(const char* data, size_t size) override {
    asio::async_write(stream_, asio::buffer(data, size),
                      recycled([self = shared_from_this()](const error_code& ec, size_t) {
                        self->on_written(ec);
                      }));
  }
  void shutdown_send() override {
    error_code ignored;
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      stream_.shutdown(tcp::socket::shutdown_send, ignored);
    } else {
      stream_.next_layer().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }
  void close_transport() override {
    error_code ignored;
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      stream_.close(ignored);
    } else {
      stream_.next_layer().close(ignored);
    }
  }

 private:
  Stream stream_;
};

}  // namespace

Http2Connection::Http2Connection(Worker& worker, std::string client_ip, std::string server_port,
                                 bool tls)
    : worker_(worker),
      client_ip_(std::move(client_ip)),
      server_port_(std::move(server_port)),
      tls_(tls),
      glitch_tokens_(kGlitchBurst) {
  // nghttp2's per-stream objects come from the worker's block cache (h2_memory.hpp).
  nghttp2_session_server_new3(&session_, server_callbacks(), this, server_options(),
                              h2_thread_mem());
  worker_.register_connection(this);
  glitch_refill_ms_ = worker_.now_ms();
}

Http2Connection::~Http2Connection() {
  streams_.clear();
  nghttp2_session_del(session_);
  worker_.metrics().connections_closed.add();
  worker_.unregister_connection(this);
}

void Http2Connection::start(std::string_view already_read) {
  const ProxyOptions& o = worker_.options();
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, o.http2_max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(o.limits.max_head)},
      // RFC 9218: no RFC 7540 priority tree to maintain per stream.
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  if (!already_read.empty()) receive(already_read.data(), already_read.size());
  if (closed_) return;
  flush();
  read_next();
}

// ---- bytes in --------------------------------------------------------------------------------

char* Http2Connection::lend_read_buffer() {
  if (!read_buffer_) read_buffer_ = std::make_unique_for_overwrite<char[]>(kReadBuffer);
  read_buffer_in_use_ = true;
  return read_buffer_.get();
}

void Http2Connection::release_idle_memory() {
  if (!streams_.empty() || closed_) return;
  if (!read_buffer_in_use_) read_buffer_.reset();
  if (writing_) return;
  std::string().swap(out_);
  release_transport_memory();
}

void Http2Connection::read_next() {
  release_idle_memory();
  if (closed_ || reading_ || !nghttp2_session_want_read(session_)) return;
  reading_ = true;
  read_some();
}

void Http2Connection::on_read(const error_code& ec, size_t n) {
  reading_ = false;
  read_buffer_in_use_ = false;
  if (closed_) return;
  if (ec) return close();
  if (lingering_) {
    // Discarding what the client still sends, so our last frames are not lost to a reset.
    reading_ = true;
    return read_some();
  }
  receive(read_buffer_.get(), n);
  if (closed_) return;
  flush();
  read_next();
}

void Http2Connection::receive(const char* data, size_t size) {
  in_session_ = true;
  ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), size);
  in_session_ = false;
  if (rv < 0) {
    // A connection error nghttp2 does not answer itself (bad preface, CONTINUATION or ACK
    // flood): say why with GOAWAY if the client still reads, then close.
    worker_.metrics().requests_rejected.add();
    uint32_t code =
        rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC ? NGHTTP2_PROTOCOL_ERROR : NGHTTP2_ENHANCE_YOUR_CALM;
    terminated_ = true;
    if (nghttp2_session_terminate_session(session_, code) != 0) return close();
  }
}

// ---- bytes out -------------------------------------------------------------------------------

void Http2Connection::flush() {
  if (closed_ || writing_ || lingering_) return;
  if (in_session_) return;  // the caller (mem_recv / mem_send) flushes when it returns
  out_.clear();
  in_session_ = true;
  while (out_.size() < kWriteBatch) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      in_session_ = false;
      return close();
    }
    if (n == 0) break;
    // Freed while the connection is idle (release_idle_memory): one allocation, not a doubling
    // series, for a typical batch; none for a flush with nothing to send.
    if (out_.capacity() < kFirstBatch) out_.reserve(kFirstBatch);
    out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  in_session_ = false;
  if (out_.empty()) {
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_))
      return linger_close();
    update_deadline();
    return;
  }
  writing_ = true;
  // A client we are throwing out gets little time to take its GOAWAY.
  auto timeout = terminated_ ? kLinger : worker_.options().proxy_send_timeout;
  write_deadline_ms_ = worker_.now_ms() + static_cast<uint64_t>(timeout.count());
  update_deadline();
  write(out_.data(), out_.size());
}

void Http2Connection::flush_soon() {
  if (flush_posted_ || closed_) return;
  flush_posted_ = true;
  asio::post(worker_.io(), recycled([self = shared_from_this()] {
               self->flush_posted_ = false;
               self->flush();
             }));
}

void Http2Connection::on_written(const error_code& ec) {
  writing_ = false;
  if (closed_) return;
  if (ec) return close();
  flush();
  // A read paused by nothing else: after GOAWAY nghttp2 may stop wanting reads.
  read_next();
}

// ---- nghttp2 callbacks -----------------------------------------------------------------------

int Http2Connection::on_begin_headers(int32_t stream_id) {
  // From the worker's block cache: a stream is ~5 KB, past glibc's fast paths.
  auto stream = std::allocate_shared<Http2Stream>(RecyclingAllocator<Http2Stream>(),
                                                  shared_from_this(), stream_id);
  streams_.emplace(stream_id, stream);
  last_accepted_stream_ = stream_id;
  ++requests_;
  update_deadline();
  return 0;
}

int Http2Connection::on_header(int32_t stream_id, std::string_view name, std::string_view value) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  // Over the list limit the stream is answered 431 once the block ends; the fields are not kept.
  it->second->add_header(name, value);
  return 0;
}

int Http2Connection::on_frame_recv(int32_t stream_id, uint8_t type, uint8_t flags, size_t length) {
  if (type != NGHTTP2_HEADERS && type != NGHTTP2_DATA && type != NGHTTP2_RST_STREAM) return 0;
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  if (type == NGHTTP2_RST_STREAM) {
    // A reset before our answer was complete: work thrown away (Envoy's "premature reset").
    if (!it->second->answered()) count_glitch();
    return 0;
  }
  std::shared_ptr<Http2Stream> stream = it->second;
  bool end_stream = (flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (type == NGHTTP2_HEADERS) {
    if (!stream->headers_done) {
      stream->headers_done = true;
      stream->on_request_headers(end_stream);
    } else if (end_stream) {
      stream->on_end_stream();  // trailers end the request
    }
    return 0;
  }
  // An empty DATA frame that does not end the stream is work without progress (CVE-2019-9518).
  if (length == 0 && !end_stream) count_glitch();
  if (end_stream) stream->on_end_stream();
  return 0;
}

int Http2Connection::on_data_chunk(int32_t stream_id, const uint8_t* data, size_t size) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) {
    nghttp2_session_consume(session_, stream_id, size);
    return 0;
  }
  std::shared_ptr<Http2Stream> stream = it->second;
  stream->on_data(data, size);
  return 0;
}

int Http2Connection::on_stream_close(int32_t stream_id, uint32_t error_code) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return 0;
  std::shared_ptr<Http2Stream> stream = std::move(it->second);
  streams_.erase(it);
  stream->on_closed(error_code);
  update_deadline();
  return 0;
}

void Http2Connection::count_glitch() {
  uint64_t now = worker_.now_ms();
  glitch_tokens_ =
      std::min(kGlitchBurst, glitch_tokens_ + static_cast<double>(now - glitch_refill_ms_) *
                                                  kGlitchPerSecond / 1000.0);
  glitch_refill_ms_ = now;
  glitch_tokens_ -= 1;
  if (glitch_tokens_ >= 0 || terminated_) return;
  // Over budget: GOAWAY(ENHANCE_YOUR_CALM); the connection closes once it is written.
  terminated_ = true;
  worker_.metrics().requests_rejected.add();
  nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
  flush();
}

// ---- deadlines, drain, close ---------------------------------------------------------------

void Http2Connection::update_deadline() {
  if (closed_ || lingering_) return;  // a lingering close keeps its own deadline
  if (!streams_.empty() || goaway_stage_ == 1) {
    // Streams carry their own deadlines (and a write in progress its own): the worker's tick
    // lets on_deadline look at them, also while the connection keeps writing.
    deadline_ms = worker_.now_ms();
    return;
  }
  if (writing_) {
    deadline_ms = write_deadline_ms_;
    return;
  }
  const ProxyOptions& o = worker_.options();
  auto idle = requests_ > 0 ? o.keepalive_timeout : o.client_header_timeout;
  deadline_ms = worker_.now_ms() + static_cast<uint64_t>(idle.count());
}

void Http2Connection::on_deadline() {
  if (closed_) return;
  deadline_ms = UINT64_MAX;
  if (lingering_) return close();
  uint64_t now = worker_.now_ms();
  if (writing_ && now >= write_deadline_ms_) return close();  // the client does not read
  if (goaway_stage_ == 1 && now >= goaway_at_ms_ + kGoawayGraceMs) {
    goaway_stage_ = 2;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last_accepted_stream_, NGHTTP2_NO_ERROR,
                          nullptr, 0);
  }
  if (streams_.empty() && goaway_stage_ != 1 && !writing_) {
    if (goaway_stage_ == 0) {
      // Idle: say goodbye properly, then close once the GOAWAY is written.
      goaway_stage_ = 2;
      nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last_accepted_stream_, NGHTTP2_NO_ERROR,
                            nullptr, 0);
    }
    flush();
    if (!closed_ && !writing_) close();
    return;
  }
  // Copy: a stream's deadline may close it and erase it from the map.
  std::vector<std::shared_ptr<Http2Stream>> due;
  for (auto& [id, stream] : streams_)
    if (stream->deadline_ms <= now) due.push_back(stream);
  for (auto& stream : due) stream->on_deadline();
  flush();
  update_deadline();
}

void Http2Connection::close_if_idle() {
  // Drain: tell the client to open no new streams; the final GOAWAY follows after a grace period
  // and the connection ends when its last stream does.
  if (closed_ || goaway_stage_ > 0) return;
  goaway_stage_ = 1;
  goaway_at_ms_ = worker_.now_ms();
  nghttp2_submit_shutdown_notice(session_);
  flush();
  update_deadline();
}

void Http2Connection::force_close() {
  close();
}

void Http2Connection::linger_close() {
  // The session is over (GOAWAY written). Half-close and read until the client closes too (or
  // a short deadline): closing with unread input would reset the connection and could destroy
  // the GOAWAY before the client reads it.
  if (closed_ || lingering_) return;
  lingering_ = true;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, stream] : streams) stream->on_closed(NGHTTP2_CANCEL);
  shutdown_send();
  deadline_ms = worker_.now_ms() + static_cast<uint64_t>(kLinger.count());
  if (!reading_) {
    reading_ = true;
    read_some();
  }
}

void Http2Connection::close() {
  if (closed_) return;
  closed_ = true;
  deadline_ms = UINT64_MAX;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, stream] : streams) stream->on_closed(NGHTTP2_CANCEL);
  close_transport();
}

// ---- hand-off from the HTTP/1 side ---------------------------------------------------------

void start_http2(Worker& worker, tcp::socket socket, std::string client_ip, std::string server_port,
                 std::string_view already_read) {
  auto c = std::make_shared<Http2Transport<tcp::socket>>(
      worker, std::move(socket), std::move(client_ip), std::move(server_port));
  c->start(already_read);
}

void start_http2(Worker& worker, TlsStream stream, std::string client_ip, std::string server_port) {
  auto c = std::make_shared<Http2Transport<TlsStream>>(
      worker, std::move(stream), std::move(client_ip), std::move(server_port));
  c->start({});
}

}  // namespace strait::proxy
