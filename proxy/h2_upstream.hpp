// HTTP/2 cleartext (prior knowledge) to an endpoint whose Service port says appProtocol
// "kubernetes.io/h2c" or "grpc": one nghttp2 client session per endpoint per worker, carrying
// many streams at once, so gRPC calls (unary and streaming, with trailers) pass end to end.
//
// A session is found by endpoint in a per-thread registry (each worker is one thread) and lives
// while streams use it, then idles for --upstream-keepalive-timeout. The worker's ticker enforces
// its connect and idle deadlines; a drain closes it once idle.
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/worker.hpp"

namespace strait::proxy {

struct ParsedRequest;
struct ForwardContext;

// A request's fields as an HTTP/2 upstream gets them: the pseudo-headers (`path`: the normalised
// target), then the forwarded fields of visit_upstream_request_fields() with lower-case names
// and connection-specific ones left out, "te: trailers" (gRPC) and a declared content-length
// kept. Shared by HTTP/2 streams and HTTP/1.1 exchanges bound for h2c pods.
class H2RequestFields {
 public:
  void build(const ParsedRequest& request, const ForwardContext& context, std::string_view path);
  const nghttp2_nv* data() const { return nv_.data(); }
  size_t size() const { return nv_.size(); }

 private:
  std::string storage_;  // every name and value; nv_ points into it once it is complete
  std::vector<nghttp2_nv> nv_;
};

struct H2Field {
  std::string name;
  std::string value;
};

// What an exchange implements to use an upstream HTTP/2 stream.
class Http2UpstreamHandler {
 public:
  virtual ~Http2UpstreamHandler() = default;
  // Request body: copy up to `length` bytes into buffer; set `end` once the body is complete.
  // Returning 0 without `end` pauses the body until Http2UpstreamSession::resume.
  virtual size_t upstream_request_body(uint8_t* buffer, size_t length, bool& end) = 0;
  // The final response head (1xx are skipped); end_stream: no body and no trailers follow.
  virtual void upstream_response(std::vector<H2Field>& fields, bool end_stream) = 0;
  virtual void upstream_data(const uint8_t* data, size_t size) = 0;
  virtual void upstream_trailers(std::vector<H2Field>& fields) = 0;
  // The stream is over: NO_ERROR after the whole response, else a reset (or connect_failed:
  // the connection never came up, nothing was sent).
  virtual void upstream_closed(uint32_t error_code, bool connect_failed) = 0;
};

class Http2UpstreamSession final : public TimedConnection,
                                   public std::enable_shared_from_this<Http2UpstreamSession> {
 public:
  // A session to `key` (endpoint text) that can take another stream, or a new one connecting.
  static std::shared_ptr<Http2UpstreamSession> get(Worker& worker, const std::string& key,
                                                   const boost::asio::ip::tcp::endpoint& endpoint);

  Http2UpstreamSession(Worker& worker, std::string key);
  ~Http2UpstreamSession() override;
  Http2UpstreamSession(const Http2UpstreamSession&) = delete;
  Http2UpstreamSession& operator=(const Http2UpstreamSession&) = delete;

  // Opens a stream (sent once connected). Returns its id, or a negative value on failure.
  int32_t open_stream(std::shared_ptr<Http2UpstreamHandler> handler, const nghttp2_nv* fields,
                      size_t count, bool has_body);
  void resume(int32_t stream_id);
  // The handler took `size` response bytes: the upstream may send that much more.
  void consume(int32_t stream_id, size_t size);
  // The exchange gave up: RST_STREAM(CANCEL), the handler hears nothing more.
  void cancel(int32_t stream_id);
  void flush();
  // flush() after the handlers already ready have run (safe from inside another session's
  // nghttp2 callbacks).
  void flush_soon();
  bool usable() const;

  // TimedConnection.
  void on_deadline() override;
  void close_if_idle() override;
  void force_close() override;

  // nghttp2 callbacks.
  int on_header(int32_t stream_id, uint8_t category, std::string_view name, std::string_view value);
  int on_frame_recv(int32_t stream_id, uint8_t type, uint8_t flags, uint8_t category);
  int on_data_chunk(int32_t stream_id, const uint8_t* data, size_t size);
  int on_stream_close(int32_t stream_id, uint32_t error_code);
  long read_request_body(int32_t stream_id, uint8_t* buffer, size_t length, uint32_t* flags);

 private:
  void connect(const boost::asio::ip::tcp::endpoint& endpoint);
  void read_next();
  void close(bool connect_failed);
  void update_deadline();

  Worker& worker_;
  std::string key_;
  boost::asio::ip::tcp::socket socket_;
  nghttp2_session* session_ = nullptr;
  struct StreamState {
    std::shared_ptr<Http2UpstreamHandler> handler;
    std::vector<H2Field> fields;  // the header block being received
    bool response_seen = false;
  };
  std::unordered_map<int32_t, StreamState> streams_;
  std::unique_ptr<char[]> read_buffer_;
  std::string out_;
  bool connected_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool closed_ = false;
  bool in_session_ = false;
  bool goaway_received_ = false;
  bool flush_posted_ = false;
  bool registered_ = false;  // in the worker's deadline list (left on close, not destruction)
};

}  // namespace strait::proxy
