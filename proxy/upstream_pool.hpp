// Per-worker pool of idle keep-alive connections to endpoints.
//
// An upstream connection always has its read posted while it sits idle in the pool: if the
// endpoint closes it (or sends stray bytes) the read completes and the connection is dropped
// from the pool, so a request is rarely sent on a dead socket. When an exchange takes the
// connection, that same pending read becomes the read of the response head: no extra syscall.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "strait/snapshot.hpp"

namespace strait::proxy {

class UpstreamConnection;

// Whoever currently uses an upstream connection (an exchange) receives its read completions.
class UpstreamOwner {
 public:
  virtual ~UpstreamOwner() = default;
  virtual void on_upstream_read(const boost::system::error_code& ec, size_t n) = 0;
};

class UpstreamPool;

class UpstreamConnection : public std::enable_shared_from_this<UpstreamConnection> {
 public:
  static constexpr size_t kBufferSize = 32 * 1024;

  UpstreamConnection(boost::asio::io_context& io, UpstreamPool& pool, std::string key);
  ~UpstreamConnection();

  boost::asio::ip::tcp::socket socket;
  // TLS to the pod (Service port appProtocol https / kubernetes.io/wss), over `socket`; null for
  // plain connections. Declared after `socket`: destroyed first.
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls;
  std::string key;  // pool key: endpoint text (or external name:port)
  // Read buffer: [begin, end) holds unconsumed bytes.
  std::unique_ptr<char[]> buffer;
  size_t begin = 0;
  size_t end = 0;
  // Held strongly while an exchange waits on this connection (the exchange has no other pending
  // operation then); cleared when the connection is released.
  std::shared_ptr<UpstreamOwner> owner;
  uint64_t idle_since_ms = 0;
  uint32_t requests = 0;
  bool in_pool = false;

  size_t available() const { return end - begin; }
  const char* data() const { return buffer.get() + begin; }
  void consume(size_t n) {
    begin += n;
    if (begin == end) begin = end = 0;
  }
  // Starts TLS on the connected socket (SNI when server_name is not empty: ExternalName hosts;
  // pods are addressed by IP, as nginx's proxy_ssl_server_name off). Certificates are not
  // verified, as ingress-nginx's proxy-ssl-verify defaults to off.
  template <typename Handler>
  void async_client_handshake(const std::string& server_name, Handler&& handler) {
    tls = std::make_unique<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>>(
        socket, upstream_tls_context());
    if (!server_name.empty()) SSL_set_tlsext_host_name(tls->native_handle(), server_name.c_str());
    tls->async_handshake(boost::asio::ssl::stream_base::client, std::forward<Handler>(handler));
  }
  // Resolves `host` by DNS (ExternalName Services: when a connection is opened) and connects to
  // the first address that answers; handler(error_code) once done.
  template <typename Handler>
  void async_connect_by_name(const std::string& host, uint16_t port, Handler handler) {
    auto resolver = std::make_shared<boost::asio::ip::tcp::resolver>(socket.get_executor());
    resolver->async_resolve(
        host, std::to_string(port),
        [self = shared_from_this(), resolver, handler = std::move(handler)](
            const boost::system::error_code& ec,
            const boost::asio::ip::tcp::resolver::results_type& results) mutable {
          if (ec) return handler(ec);
          boost::asio::async_connect(
              self->socket, results,
              [handler = std::move(handler)](const boost::system::error_code& ec2,
                                             const boost::asio::ip::tcp::endpoint&) mutable {
                handler(ec2);
              });
        });
  }
  // Writes all of `buffers` through TLS or the plain socket.
  template <typename Buffers, typename Handler>
  void async_write(const Buffers& buffers, Handler&& handler) {
    if (tls) {
      boost::asio::async_write(*tls, buffers, std::forward<Handler>(handler));
    } else {
      boost::asio::async_write(socket, buffers, std::forward<Handler>(handler));
    }
  }
  // The client context for TLS to pods: one per process, TLS 1.2+, ALPN http/1.1.
  static boost::asio::ssl::context& upstream_tls_context();
  // Posts a read unless one is already pending. Completions go to owner, or, while idle in the
  // pool, close the connection.
  void ensure_read();
  bool read_pending() const { return read_pending_; }
  void close();

 private:
  void on_read(const boost::system::error_code& ec, size_t n);
  UpstreamPool& pool_;
  bool read_pending_ = false;
};

class UpstreamPool {
 public:
  UpstreamPool(size_t max_idle_per_key, uint64_t idle_timeout_ms)
      : max_idle_per_key_(max_idle_per_key), idle_timeout_ms_(idle_timeout_ms) {}
  // An idle connection for key (over TLS or not), or null.
  std::shared_ptr<UpstreamConnection> take(std::string_view key, bool tls = false);
  // Returns a connection whose last response was complete and whose framing stayed clean.
  void give_back(std::shared_ptr<UpstreamConnection> c, uint64_t now_ms);
  // Called by a connection whose idle read completed (peer closed or misbehaved).
  void drop(UpstreamConnection* c);
  void sweep(uint64_t now_ms);
  void close_all();
  size_t idle_count() const;

 private:
  size_t max_idle_per_key_;
  uint64_t idle_timeout_ms_;
  using IdleMap = StringMap<std::vector<std::shared_ptr<UpstreamConnection>>>;
  void sweep(IdleMap& idle, uint64_t now_ms);
  IdleMap& idle_for(const UpstreamConnection& c) { return c.tls ? idle_tls_ : idle_; }
  IdleMap idle_;
  IdleMap idle_tls_;  // TLS connections apart: the same endpoint text never mixes the two
};

}  // namespace strait::proxy
