// One HTTP/2 stream proxied as its own exchange: request head -> route -> endpoint -> HTTP/1.1
// request upstream (strait's own serialisation, body re-framed) -> response head -> HEADERS ->
// response body pulled by nghttp2 as the client's flow-control window allows. Request DATA is
// acknowledged (window returned) only once written upstream, so a slow upstream slows the client
// instead of filling strait's memory.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "proxy/h2_memory.hpp"
#include "proxy/h2_request.hpp"
#include "proxy/h2_upstream.hpp"
#include "proxy/http1_parser.hpp"
#include "proxy/payload_reader.hpp"
#include "proxy/upstream_pool.hpp"
#include "proxy/worker.hpp"

namespace strait::proxy {

class Http2Connection;

class Http2Stream final : public UpstreamOwner,
                          public Http2UpstreamHandler,
                          public std::enable_shared_from_this<Http2Stream> {
 public:
  Http2Stream(std::shared_ptr<Http2Connection> connection, int32_t id);
  ~Http2Stream() override;

  // From the connection's nghttp2 callbacks.
  bool add_header(std::string_view name, std::string_view value) {
    return headers_.add(name, value);
  }
  void on_request_headers(bool end_stream);
  void on_data(const uint8_t* data, size_t size);
  void on_end_stream();
  void on_closed(uint32_t error_code);
  void on_upstream_read(const boost::system::error_code& ec, size_t n) override;
  // nghttp2's data source for the response body (returns bytes, 0 with EOF, or an nghttp2 error).
  long read_response_body(uint8_t* buffer, size_t length, uint32_t* flags);
  void on_deadline();

  // Http2UpstreamHandler: the exchange over an HTTP/2 (h2c) upstream stream.
  size_t upstream_request_body(uint8_t* buffer, size_t length, bool& end) override;
  void upstream_response(std::vector<H2Field>& fields, bool end_stream) override;
  void upstream_data(const uint8_t* data, size_t size) override;
  void upstream_trailers(std::vector<H2Field>& fields) override;
  void upstream_closed(uint32_t error_code, bool connect_failed) override;

  uint64_t deadline_ms = UINT64_MAX;
  bool headers_done = false;  // the request's header block was complete (later HEADERS: trailers)
  int32_t id() const { return id_; }
  bool answered() const { return response_done_; }

 private:
  enum class Phase : uint8_t { Headers, Upstream, Respond, Done };

  void handle_request();
  void pick_endpoint_and_connect();
  void forward_h2c();
  long read_h2c_body(uint8_t* buffer, size_t length, uint32_t* flags);
  void connect_to(const Endpoint& endpoint);
  void connect_external(const Cluster& cluster);
  void on_connected(const boost::system::error_code& ec);
  void send_to_upstream();
  void on_sent(const boost::system::error_code& ec, size_t payload);
  void await_response();
  void on_response_head();
  void upstream_failed(const char* why, bool connect_phase);
  void respond_local(int status);
  void redirect_to_https();
  void submit(int status, std::string_view location, bool body);
  void submit_grpc_status(int http_status);
  void reset_stream(uint32_t error_code);
  // Returns request bytes' flow-control window to the client (bounded by what is outstanding).
  void consume_client(size_t n);
  // Cancels the HTTP/2 upstream stream (if any) and returns the window of unread response bytes.
  void release_h2_upstream();
  void release_upstream(bool reusable);
  void finish();
  void set_deadline(std::chrono::milliseconds timeout);
  void record_access();

  std::shared_ptr<Http2Connection> connection_;
  Worker& worker_;
  int32_t id_;
  Phase phase_ = Phase::Headers;
  bool closed_ = false;  // nghttp2 closed the stream: no more calls into the session for it

  H2RequestHeaders headers_;
  RecycledRequest request_slot_;
  ParsedRequest& request_ = request_slot_.get();
  SnapshotRef snapshot_;
  std::string normalized_path_;
  std::string target_;
  std::string route_ingress_;
  std::string upstream_name_;
  std::string upstream_addr_;
  int32_t cluster_ = -1;
  size_t endpoint_index_ = 0;
  std::array<uint32_t, 8> tried_{};  // endpoints this request was sent to (retries go elsewhere)
  size_t tried_count_ = 0;
  unsigned attempts_ = 0;
  bool reused_upstream_ = false;
  bool hsts_ = false;
  bool forwarding_ = false;  // the request is being (or was) forwarded upstream
  char request_id_[32];

  // Request body: bytes received and not yet written upstream, then the framed bytes in flight.
  std::string body_pending_;
  std::string body_out_;
  uint64_t body_received_ = 0;
  bool request_ended_ = false;  // END_STREAM received
  bool request_sent_ = false;   // the whole request (head, body, terminal chunk) went upstream
  bool head_sent_ = false;
  bool body_started_ = false;  // some body bytes left strait: no retry
  bool writing_upstream_ = false;
  bool chunked_upstream_ = false;
  RecycledString request_head_out_;

  // Upstream and response.
  std::shared_ptr<UpstreamConnection> upstream_;
  bool upstream_eof_ = false;
  boost::system::error_code upstream_error_;
  BodyFraming response_framing_ = BodyFraming::None;
  int response_status_ = 0;
  bool response_started_ = false;
  bool response_done_ = false;
  bool response_keep_alive_ = false;
  PayloadReader response_reader_;
  uint64_t response_bytes_ = 0;
  std::string local_body_;  // a response strait makes itself
  size_t local_offset_ = 0;
  bool timed_out_ = false;
  bool grpc_ = false;  // content-type application/grpc: strait's own answers are gRPC statuses

  // HTTP/2 upstream (appProtocol h2c/grpc).
  std::shared_ptr<Http2UpstreamSession> h2_session_;
  int32_t h2_stream_id_ = -1;   // open upstream stream, -1 once closed or cancelled
  int32_t h2_consume_id_ = -1;  // its id, kept for returning window after it closed
  size_t unconsumed_ = 0;       // request bytes received whose window was not returned yet
  size_t pending_offset_ = 0;   // request body bytes of body_pending_ already handed upstream
  std::string h2_body_;         // response body received, not yet taken by the client side
  size_t h2_body_offset_ = 0;
  bool h2_upstream_ended_ = false;
  std::vector<H2Field> h2_trailers_;
  H2RequestFields h2_fields_;
  std::chrono::steady_clock::time_point request_start_;
  std::chrono::steady_clock::time_point upstream_start_;
  std::chrono::steady_clock::time_point upstream_response_at_;
};

}  // namespace strait::proxy
