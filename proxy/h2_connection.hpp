// An HTTP/2 client connection (RFC 9113): nghttp2's server session over TLS (ALPN "h2") or
// cleartext with prior knowledge (h2c: the connection opened with the client preface). Each
// stream is its own exchange (Http2Stream) to an upstream; frames are parsed and produced by
// nghttp2, the bytes move through this class.
//
// Defences (on top of nghttp2's own checks of frames, pseudo-headers and connection-specific
// fields): our SETTINGS bound concurrent streams and advertise the header-list limit, which each
// stream enforces while decoding (HPACK bomb); nghttp2's reset-rate limiter (Rapid Reset,
// CVE-2023-44487), CONTINUATION limit (CVE-2024-28182), SETTINGS/PING ACK limits; and our own
// "glitch" budget for the misbehaviour nghttp2 1.52 does not count (MadeYouReset, CVE-2025-8671:
// streams we must reset, invalid frames, empty DATA frames): over budget the connection gets
// GOAWAY(ENHANCE_YOUR_CALM) and is closed. Request bodies are flow-controlled end to end: a DATA
// frame's window is returned only once its bytes went upstream.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/h2_memory.hpp"
#include "proxy/tls_stream.hpp"
#include "proxy/worker.hpp"

struct nghttp2_session;

namespace strait::proxy {

class Http2Stream;

class Http2Connection : public TimedConnection,
                        public std::enable_shared_from_this<Http2Connection> {
 public:
  Http2Connection(Worker& worker, std::string client_ip, std::string server_port, bool tls);
  ~Http2Connection() override;
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  // Feeds bytes already read (the h2c preface and whatever followed), sends our SETTINGS and
  // starts reading.
  void start(std::string_view already_read);

  // For streams.
  Worker& worker() { return worker_; }
  nghttp2_session* session() { return session_; }
  bool tls() const { return tls_; }
  const std::string& client_ip() const { return client_ip_; }
  const std::string& server_port() const { return server_port_; }
  bool closed() const { return closed_; }
  // Sends whatever nghttp2 has queued (coalesced: one write in flight at a time).
  void flush();
  // flush() once the handlers already ready on this worker have run: responses of several
  // streams completing in one pass of the event loop go out in one write.
  void flush_soon();
  // A misbehaviour that costs us work; over budget the connection is shut down.
  void count_glitch();

  // TimedConnection.
  void on_deadline() override;
  void close_if_idle() override;
  void force_close() override;

  // nghttp2 callbacks (static trampolines live in the .cpp).
  int on_begin_headers(int32_t stream_id);
  int on_header(int32_t stream_id, std::string_view name, std::string_view value);
  int on_frame_recv(int32_t stream_id, uint8_t type, uint8_t flags, size_t length);
  int on_data_chunk(int32_t stream_id, const uint8_t* data, size_t size);
  int on_stream_close(int32_t stream_id, uint32_t error_code);

  // Transport completions.
  void on_read(const boost::system::error_code& ec, size_t n);
  void on_written(const boost::system::error_code& ec);

 protected:
  // The transport (plain or TLS socket) behind the session. read_some completes with on_read,
  // into lend_read_buffer(), which it asks for only once a record has arrived (TLS: the pending
  // read of an idle connection holds no buffer) or when it starts (plain socket).
  virtual void read_some() = 0;
  // Drops what an idle transport holds (TLS: empty ciphertext buffers).
  virtual void release_transport_memory() = 0;
  // The read buffer, allocated on demand and lent to the transport's read until on_read
  // (release_idle_memory does not free it meanwhile).
  char* lend_read_buffer();
  virtual void write(const char* data, size_t size) = 0;  // completes with on_written
  virtual void shutdown_send() = 0;
  virtual void close_transport() = 0;

 private:
  void receive(const char* data, size_t size);
  void read_next();
  // No stream open: frees the read buffer (unless a read is filling it) and the output batch,
  // so that an idle connection keeps nghttp2's and OpenSSL's state and little else.
  void release_idle_memory();
  void close();
  void linger_close();
  void update_deadline();

  Worker& worker_;
  std::string client_ip_;
  std::string server_port_;
  bool tls_;
  nghttp2_session* session_ = nullptr;
  using StreamMap = std::unordered_map<
      int32_t, std::shared_ptr<Http2Stream>, std::hash<int32_t>, std::equal_to<int32_t>,
      RecyclingAllocator<std::pair<const int32_t, std::shared_ptr<Http2Stream>>>>;
  StreamMap streams_;
  std::unique_ptr<char[]> read_buffer_;
  bool read_buffer_in_use_ = false;  // handed to the transport; on_read gives it back
  std::string out_;
  bool reading_ = false;
  bool writing_ = false;
  bool closed_ = false;
  bool in_session_ = false;
  bool flush_posted_ = false;
  uint64_t write_deadline_ms_ =
      UINT64_MAX;            // while writing_: the client must take our bytes  // inside nghttp2
                             // (mem_recv/mem_send): flush after it returns
  bool terminated_ = false;  // GOAWAY for abuse queued: the client gets little time
  bool lingering_ = false;   // half-closed, discarding input until the client closes
  // 0: serving; 1: shutdown notice sent (drain); 2: final GOAWAY sent.
  uint8_t goaway_stage_ = 0;
  uint64_t goaway_at_ms_ = 0;
  int32_t last_accepted_stream_ = 0;
  uint64_t requests_ = 0;
  // Glitch budget: a token bucket refilled per second.
  double glitch_tokens_;
  uint64_t glitch_refill_ms_ = 0;
};

// Takes over a connection the HTTP/1 side identified as HTTP/2.
void start_http2(Worker& worker, tcp::socket socket, std::string client_ip, std::string server_port,
                 std::string_view already_read);
void start_http2(Worker& worker, TlsStream stream, std::string client_ip, std::string server_port);

}  // namespace strait::proxy
