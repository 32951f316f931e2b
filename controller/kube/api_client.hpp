// A small Kubernetes API client over HTTPS (Boost.Beast + OpenSSL) for the control plane: one
// request per connection, and long-lived watch streams. Control-plane code: C++20 coroutines,
// errors reported in Response (no exceptions escape a request).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/fields.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "controller/kube/kubeconfig.hpp"

namespace strait::controller::kube {

struct ApiResponse {
  int status = 0;     // HTTP status; 0 when the request failed below HTTP
  std::string error;  // transport error (connect, TLS, timeout), empty otherwise
  std::string body;
  std::string retry_after;  // Retry-After header, if any
  bool ok() const { return status >= 200 && status < 300; }
  std::string describe() const;  // "HTTP 500: <message>" or the transport error
};

class ApiClient {
 public:
  // Builds the TLS context from the access data; throws std::runtime_error on unusable PEMs.
  ApiClient(boost::asio::io_context& io, ClusterAccess access);

  boost::asio::awaitable<ApiResponse> request(std::string_view method, std::string target,
                                              std::string body = {},
                                              std::string content_type = "application/json");

  // GET a streaming target (a watch). Each complete top-level JSON value in the body is passed
  // to on_value; returning false from it ends the stream early. The returned response carries
  // the status; its body is only filled for non-200 answers.
  // on_open runs once the server has answered 200 (the watch is established).
  boost::asio::awaitable<ApiResponse> stream(std::string target,
                                             std::function<bool(std::string_view)> on_value,
                                             std::chrono::seconds idle_timeout,
                                             std::function<void()> on_open = {});

  const ClusterAccess& access() const { return access_; }

 private:
  std::string bearer_token() const;
  // Host, User-Agent, Accept and the bearer token, on every request.
  void set_common_fields(boost::beast::http::fields& fields) const;
  boost::asio::io_context& io_;
  ClusterAccess access_;
  boost::asio::ssl::context tls_;
};

// Splits a byte stream into complete top-level JSON values (objects), tolerant of any
// whitespace or newlines between them. Used for watch streams.
class JsonStreamSplitter {
 public:
  // Appends data; calls fn(value) for every complete value. Returns false if fn asked to stop.
  bool feed(std::string_view data, const std::function<bool(std::string_view)>& fn);
  size_t buffered() const { return buffer_.size(); }

 private:
  std::string buffer_;
  size_t scanned_ = 0;
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  size_t start_ = std::string::npos;
};

}  // namespace strait::controller::kube
