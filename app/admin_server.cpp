#include "app/admin_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <stdexcept>

#include "proxy/http1_parser.hpp"

namespace strait::app {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

class AdminSession : public std::enable_shared_from_this<AdminSession> {
 public:
  AdminSession(tcp::socket socket, const std::atomic<bool>& ready,
               const std::function<std::string()>& metrics)
      : socket_(std::move(socket)), ready_(ready), metrics_(metrics) {}

  void read() {
    if (size_ == sizeof buffer_) return;  // a health probe never needs more
    socket_.async_read_some(asio::buffer(buffer_ + size_, sizeof buffer_ - size_),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              if (ec) return;
                              self->size_ += n;
                              self->on_data();
                            });
  }

 private:
  void on_data() {
    proxy::parse_request(buffer_, size_, proxy::HeadLimits{}, request_);
    if (request_.status == proxy::ParseStatus::Incomplete) return read();
    int status = 400;
    std::string body = "bad request\n";
    std::string content_type = "text/plain";
    if (request_.status == proxy::ParseStatus::Complete) {
      if (request_.path == "/healthz") {
        status = 200;
        body = "ok\n";
      } else if (request_.path == "/readyz") {
        bool ready = ready_.load();
        status = ready ? 200 : 503;
        body = ready ? "ok\n" : "not ready\n";
      } else if (request_.path == "/metrics" && metrics_) {
        status = 200;
        body = metrics_();
        content_type = "text/plain; version=0.0.4";
      } else {
        status = 404;
        body = "not found\n";
      }
    }
    response_ = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Error") +
                "\r\nContent-Type: " + content_type +
                "\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\nConnection: close\r\n\r\n" + body;
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this()](boost::system::error_code, size_t) {
                        boost::system::error_code ignored;
                        self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
                      });
  }

  tcp::socket socket_;
  const std::atomic<bool>& ready_;
  const std::function<std::string()>& metrics_;
  char buffer_[8192];
  size_t size_ = 0;
  proxy::ParsedRequest request_;
  std::string response_;
};

}  // namespace

struct AdminServer::Impl : std::enable_shared_from_this<AdminServer::Impl> {
  Impl(asio::io_context& io, const std::atomic<bool>& r, std::function<std::string()> m)
      : acceptor(io), ready(r), metrics(std::move(m)) {}
  void accept() {
    acceptor.async_accept(
        [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
          if (!self->acceptor.is_open()) return;
          if (!ec)
            std::make_shared<AdminSession>(std::move(socket), self->ready, self->metrics)->read();
          self->accept();
        });
  }
  tcp::acceptor acceptor;
  const std::atomic<bool>& ready;
  std::function<std::string()> metrics;
};

AdminServer::AdminServer(asio::io_context& io, const std::string& address, uint16_t port,
                         const std::atomic<bool>& ready, std::function<std::string()> metrics)
    : impl_(std::make_shared<Impl>(io, ready, std::move(metrics))) {
  boost::system::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address(address, ec), port);
  if (ec) throw std::runtime_error("invalid health address '" + address + "'");
  try {
    impl_->acceptor.open(endpoint.protocol());
    impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl_->acceptor.bind(endpoint);
    impl_->acceptor.listen();
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("cannot listen on " + address + ":" + std::to_string(port) +
                             " (--healthz-port): " + e.code().message());
  }
  impl_->accept();
}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::stop() {
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

}  // namespace strait::app
