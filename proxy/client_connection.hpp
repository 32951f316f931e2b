// One accepted client connection and the exchanges it carries, one at a time, in fixed phases:
// read head -> validate -> route -> pick endpoint -> upstream request (head, then body) ->
// response head -> response body -> access log -> next request (or close).
#pragma once

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <type_traits>

#include "proxy/client_exchange.hpp"
#include "proxy/h2_upstream.hpp"
#include "proxy/upstream_pool.hpp"
#include "proxy/worker.hpp"

namespace strait::proxy {

// Stream is tcp::socket (the HTTP port) or TlsStream (the HTTPS port, tls_stream.hpp); both
// are instantiated in client_connection.cpp.
template <typename Stream>
class ClientConnection final : public TimedConnection,
                               public UpstreamOwner,
                               public Http2UpstreamHandler,
                               public std::enable_shared_from_this<ClientConnection<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;
  // client_ip: the peer address accept4 returned; server_port: the listener's port.
  ClientConnection(Worker& worker, Stream stream, std::string client_ip, uint16_t server_port);
  ~ClientConnection() override;
  void start();
  void on_deadline() override;
  void on_upstream_read(const boost::system::error_code& ec, size_t n) override;
  void close_if_idle() override;
  void force_close() override;

  // Http2UpstreamHandler: this HTTP/1.1 exchange over an HTTP/2 stream to an h2c pod.
  size_t upstream_request_body(uint8_t* buffer, size_t length, bool& end) override;
  void upstream_response(std::vector<H2Field>& fields, bool end_stream) override;
  void upstream_data(const uint8_t* data, size_t size) override;
  void upstream_trailers(std::vector<H2Field>& fields) override;
  void upstream_closed(uint32_t error_code, bool connect_failed) override;

 private:
  enum class Phase : uint8_t {
    Idle,      // keep-alive, no byte of the next request yet
    ReadHead,  // part of a request head received
    Upstream,  // connecting, sending the request, or awaiting the response head
    ReadBody,  // reading the request body from the client
    Respond,   // forwarding the response
    Tunnel,    // WebSocket: bytes flow both ways until either side closes
    Linger,    // answered with Connection: close; draining input before closing
    Closed,
  };

  // HTTP/2: ALPN chose h2, or the connection opened with the h2c preface.
  bool negotiated_h2();
  void hand_off_to_http2();
  // Request side.
  void read_head();
  // Keep-alive (and a new connection): no byte of the next request yet. The exchange state goes
  // back to the worker and the read waits in landing_; the first bytes take an exchange again.
  void await_next_request();
  void take_exchange();
  void handle_request();
  void pick_endpoint_and_connect();
  void connect_to(const Endpoint& endpoint);
  void connect_external(const Cluster& cluster);
  void on_connected(const boost::system::error_code& ec);
  void send_request_head();
  void on_request_head_written(const boost::system::error_code& ec);
  void continue_request_body();
  void send_request_body_chunk();
  // True (and the exchange answered 413) when a chunked body passed --proxy-body-size.
  bool body_over_limit();
  // Response side.
  void await_response_head();
  void on_response_head();
  void forward_response_body();
  void on_response_written(const boost::system::error_code& ec);
  void finish_exchange();
  // Plain connections: sends a complete last response held back (MSG_MORE) so that the FIN
  // linger() sends joins it. True when all of it went; otherwise `buffers` keeps what is left.
  bool send_held_for_fin(std::vector<boost::asio::const_buffer>& buffers);
  // Nothing can follow this exchange's request on the connection: closing needs no linger.
  bool closes_at_once() const;
  // HTTP/2 to an h2c pod (Service port appProtocol grpc / kubernetes.io/h2c): the request body
  // is unframed into DATA, the response framed back (chunked when its length is unknown, with
  // the HTTP/2 trailers in the last chunk).
  void forward_h2c();
  void read_client_body_for_h2c();
  void write_h2c_response();
  void finish_h2c();
  void h2c_request_body_failed(int status);
  // Drops the HTTP/2 stream (RST_STREAM when `cancel`), returning the window of response bytes
  // not yet written to the client.
  void release_h2c(bool cancel);
  // WebSocket tunnel after the upstream's 101.
  void start_tunnel();
  void tunnel_client_to_upstream();
  void tunnel_upstream_to_client();
  void on_tunnel_client_written(const boost::system::error_code& ec);
  // Failures.
  // An upstream attempt failed (why, plus ec's message when it adds something): logged, then
  // retried (another endpoint, or a new connection when a pooled one was stale), answered
  // 502/504, or, once the response has started, the client connection is closed.
  void upstream_failed(const char* why, bool connect_phase,
                       const boost::system::error_code& ec = {});
  // The upstream failed after the response head went to the client: logged, both closed.
  void upstream_failed_mid_response(const char* why, const boost::system::error_code& ec = {});
  void log_upstream_error(const char* why, const boost::system::error_code& ec,
                          std::string_view action);
  void reject(int status, const char* why);
  void respond_local(int status, bool close);
  void redirect_to_https();
  // Writes response_head_out_ (a response strait made itself), then the next request or close.
  void write_response_and_continue(int status);
  void on_local_response_written(int status, const boost::system::error_code& ec);
  void linger();
  void close();
  void release_upstream(bool reusable);

  void set_deadline(std::chrono::milliseconds timeout) {
    deadline_ms = worker_.now_ms() + static_cast<uint64_t>(timeout.count());
  }
  void clear_deadline() { deadline_ms = UINT64_MAX; }
  size_t buffered() const { return end_ - begin_; }
  const char* buffered_data() const { return ex_->buffer.get() + begin_; }
  void consume(size_t n);
  bool make_room();  // ensures free space after end_; false when the buffer is at its limit
  void append_access_log(int status, uint64_t bytes_sent);

  // Every read from and write to the client; their Asio operations come from the worker's block
  // cache (h2_memory.hpp), not the heap.
  template <typename Handler>
  void read_some(char* data, size_t size, Handler&& handler);
  template <typename Buffers, typename Handler>
  void write_client(const Buffers& buffers, Handler&& handler);
  template <typename Buffers, typename Handler>
  void write_upstream(const Buffers& buffers, Handler&& handler);

  tcp::socket& lowest() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  Worker& worker_;
  Stream stream_;
  std::string client_ip_;
  std::string server_port_;
  // Null while idle; begin_ == end_ == 0 then.
  std::unique_ptr<ClientExchange> ex_;
  size_t begin_ = 0;
  size_t end_ = 0;
  Phase phase_ = Phase::Idle;
  bool timed_out_ = false;
  bool handed_off_ = false;  // the socket went to an HTTP/2 session
  uint32_t requests_ = 0;

  // The exchange in progress.
  SnapshotRef snapshot_;
  int32_t cluster_ = -1;
  bool new_connection_retry_used_ = false;  // a stale pooled connection was replaced once
  uint32_t attempt_id_ = 0;                 // bumped when an upstream connection is released
  const Endpoint* endpoint_ = nullptr;
  bool reused_upstream_ = false;
  bool request_has_body_ = false;
  bool head_consumed_ = true;
  bool request_body_started_ = false;  // body bytes left the client buffer: no retry
  bool sent_continue_ = false;
  bool keep_alive_ = true;
  bool response_started_ = false;
  bool hsts_ = false;  // this exchange's host wants Strict-Transport-Security
  bool tunnel_writing_to_client_ = false;
  bool fin_held_ = false;  // the last response is queued with MSG_MORE, waiting for the FIN
  bool upstream_eof_ = false;
  bool awaiting_upstream_body_ = false;  // Respond phase: the deadline is the upstream's read
  boost::system::error_code upstream_error_;
  std::shared_ptr<UpstreamConnection> upstream_;
  uint64_t bytes_in_ = 0;
  // Where an idle connection's read lands: a typical request head fits, a longer one continues
  // into the exchange's buffer.
  static constexpr size_t kLandingSize = 256;
  char landing_[kLandingSize];
  int response_status_ = 0;
  bool response_keep_alive_ = false;
  uint64_t response_bytes_ = 0;

  // The exchange over an h2c upstream stream.
  std::shared_ptr<Http2UpstreamSession> h2c_session_;
  int32_t h2c_stream_id_ = -1;   // open upstream stream; -1 once closed or cancelled
  int32_t h2c_consume_id_ = -1;  // kept to return window after the stream closed
  size_t h2c_out_payload_ = 0;
  bool h2c_writing_ = false;
  bool h2c_client_read_pending_ = false;
  bool h2c_chunked_ = false;
  bool h2c_upstream_ended_ = false;
  bool h2c_final_queued_ = false;
};

}  // namespace strait::proxy
