#include "controller/kube/api_client.hpp"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace strait::controller::kube {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kConnectTimeout{10};
constexpr std::chrono::seconds kRequestTimeout{60};
// Lists of tens of thousands of objects are large; bound them anyway.
constexpr uint64_t kMaxBody = 512ull * 1024 * 1024;

using Stream = beast::ssl_stream<beast::tcp_stream>;

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string describe_error(const char* step, const boost::system::error_code& ec) {
  std::string what = ec.message();
  if (ec.category() == asio::error::get_ssl_category()) {
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof buf);
    what = buf;
  }
  return std::string(step) + ": " + what;
}

// Connects, verifies and handshakes. Returns an error text, empty on success.
asio::awaitable<std::string> open(Stream& stream, const ClusterAccess& access) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [rec, results] = co_await resolver.async_resolve(access.host, access.port, kUseTuple);
  if (rec) co_return describe_error("resolve", rec);
  beast::get_lowest_layer(stream).expires_after(kConnectTimeout);
  auto [cec, endpoint] = co_await beast::get_lowest_layer(stream).async_connect(results, kUseTuple);
  (void)endpoint;
  if (cec) co_return describe_error("connect", cec);
  if (!is_ip_literal(access.host))
    SSL_set_tlsext_host_name(stream.native_handle(), access.host.c_str());
  if (!access.insecure_skip_tls_verify) {
    stream.set_verify_callback(asio::ssl::host_name_verification(access.host));
  }
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kUseTuple);
  if (hec) co_return describe_error("TLS handshake", hec);
  co_return std::string();
}

// Connects, handshakes and writes the request: the common start of request() and stream().
// Returns an error text, empty on success.
template <typename Request>
asio::awaitable<std::string> open_and_send(Stream& stream, const ClusterAccess& access,
                                           Request& req) {
  if (std::string err = co_await open(stream, access); !err.empty())
    co_return access.server_url() + ": " + err;
  beast::get_lowest_layer(stream).expires_after(kRequestTimeout);
  auto [ec, n] = co_await http::async_write(stream, req, kUseTuple);
  (void)n;
  co_return ec ? describe_error("write", ec) : std::string();
}

std::string status_message(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string())
    return j["message"].get<std::string>();
  return body.substr(0, 200);
}

}  // namespace

std::string ApiResponse::describe() const {
  if (!error.empty()) return error;
  return "HTTP " + std::to_string(status) + ": " + status_message(body);
}

ApiClient::ApiClient(asio::io_context& io, ClusterAccess access)
    : io_(io), access_(std::move(access)), tls_(asio::ssl::context::tls_client) {
  tls_.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  try {
    if (access_.insecure_skip_tls_verify) {
      tls_.set_verify_mode(asio::ssl::verify_none);
    } else {
      tls_.set_verify_mode(asio::ssl::verify_peer);
      if (access_.ca_pem.empty()) {
        tls_.set_default_verify_paths();
      } else {
        tls_.add_certificate_authority(asio::buffer(access_.ca_pem));
      }
    }
    if (!access_.client_cert_pem.empty()) {
      tls_.use_certificate_chain(asio::buffer(access_.client_cert_pem));
      tls_.use_private_key(asio::buffer(access_.client_key_pem), asio::ssl::context::pem);
    }
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error(
        access_.source + ": unusable certificate or key: " + describe_error("TLS setup", e.code()));
  }
}

void ApiClient::set_common_fields(http::fields& fields) const {
  fields.set(http::field::host, access_.host);
  fields.set(http::field::user_agent, "strait/" STRAIT_VERSION);
  fields.set(http::field::accept, "application/json");
  if (std::string token = bearer_token(); !token.empty())
    fields.set(http::field::authorization, "Bearer " + token);
}

std::string ApiClient::bearer_token() const {
  if (!access_.token_file.empty()) {
    // Projected service-account tokens rotate: read the file every time (it is small).
    std::ifstream in(access_.token_file);
    std::string token;
    std::getline(in, token);
    if (!token.empty()) return token;
  }
  return access_.token;
}

asio::awaitable<ApiResponse> ApiClient::request(std::string_view method, std::string target,
                                                std::string body, std::string content_type) {
  ApiResponse out;
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  set_common_fields(req.base());
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req.set(http::field::content_type, content_type);
    req.body() = std::move(body);
    req.prepare_payload();
  }
  Stream stream(io_, tls_);
  out.error = co_await open_and_send(stream, access_, req);
  if (!out.error.empty()) co_return out;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBody);
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, kUseTuple);
  (void)rn;
  if (rec) {
    out.error = describe_error("read", rec);
    co_return out;
  }
  auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  if (auto it = res.find(http::field::retry_after); it != res.end())
    out.retry_after = std::string(it->value());
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
  auto [sec] = co_await stream.async_shutdown(kUseTuple);
  (void)sec;  // servers often close without close_notify; nothing to do about it
  co_return out;
}

asio::awaitable<ApiResponse> ApiClient::stream(std::string target,
                                               std::function<bool(std::string_view)> on_value,
                                               std::chrono::seconds idle_timeout,
                                               std::function<void()> on_open) {
  ApiResponse out;
  http::request<http::empty_body> req(http::verb::get, target, 11);
  set_common_fields(req.base());
  Stream stream(io_, tls_);
  out.error = co_await open_and_send(stream, access_, req);
  if (!out.error.empty()) co_return out;
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, kUseTuple);
  (void)hn;
  if (hec) {
    out.error = describe_error("read", hec);
    co_return out;
  }
  out.status = static_cast<int>(parser.get().result_int());
  if (auto it = parser.get().find(http::field::retry_after); it != parser.get().end())
    out.retry_after = std::string(it->value());
  if (out.status == 200 && on_open) on_open();
  JsonStreamSplitter splitter;
  char chunk[64 * 1024];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    beast::get_lowest_layer(stream).expires_after(idle_timeout);
    auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, kUseTuple);
    (void)n;
    if (ec == http::error::need_buffer) ec = {};
    size_t got = sizeof chunk - parser.get().body().size;
    if (out.status != 200) {
      out.body.append(chunk, got);
    } else if (got > 0 && !splitter.feed(std::string_view(chunk, got), on_value)) {
      break;  // the consumer is done (e.g. an ERROR event)
    }
    if (ec) {
      if (ec != http::error::end_of_stream && ec != asio::error::eof &&
          ec != asio::ssl::error::stream_truncated)
        out.error = describe_error("watch read", ec);
      break;
    }
  }
  boost::system::error_code ignored;
  beast::get_lowest_layer(stream).socket().close(ignored);
  co_return out;
}

bool JsonStreamSplitter::feed(std::string_view data,
                              const std::function<bool(std::string_view)>& fn) {
  buffer_.append(data);
  for (; scanned_ < buffer_.size(); ++scanned_) {
    char c = buffer_[scanned_];
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      if (depth_++ == 0) start_ = scanned_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        std::string_view value(buffer_.data() + start_, scanned_ + 1 - start_);
        if (!fn(value)) return false;
        // Drop what was consumed; keep scanning the remainder from its start.
        buffer_.erase(0, scanned_ + 1);
        scanned_ = static_cast<size_t>(-1);  // ++ in the loop makes it 0
        start_ = std::string::npos;
      }
    }
  }
  return true;
}

}  // namespace strait::controller::kube
