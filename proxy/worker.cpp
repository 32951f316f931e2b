#include "proxy/worker.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "proxy/client_connection.hpp"
#include "proxy/tls_stream.hpp"
#include "strait/ip_text.hpp"
#include "strait/log.hpp"

namespace strait::proxy {
namespace {
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
using no_quick_ack = asio::detail::socket_option::boolean<IPPROTO_TCP, TCP_QUICKACK>;
constexpr std::chrono::milliseconds kTick{250};
// Connections accepted per listener wakeup before the other work of the loop gets its turn (the
// wait is re-armed level-checked, so what is still queued wakes it again at once).
constexpr int kAcceptBatch = 32;

// Asio keeps per-socket flags (already non-blocking, possibly a dup'd descriptor) in the
// protected implementation of basic_socket. A descriptor accept4() just made is neither shared
// nor blocking: saying so saves the ioctl(FIONBIO) Asio would issue before the first operation
// and the epoll_ctl(DEL) it issues before closing a descriptor that may be a dup (the kernel drops
// a closed descriptor from the epoll set by itself). The member pointer formed in a derived class
// is the standard way to reach a protected member of a base-class object.
struct SocketState : tcp::socket {
  static void mark_accepted(tcp::socket& s) {
    auto& impl = (s.*(&SocketState::impl_)).get_implementation();
    namespace ops = asio::detail::socket_ops;
    impl.state_ = static_cast<ops::state_type>((impl.state_ & ~ops::possible_dup) |
                                               ops::internal_non_blocking);
  }
};
}  // namespace

namespace {
void open_listener(tcp::acceptor& acceptor, const tcp::endpoint& at, bool delay_acks) {
  acceptor.open(at.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.set_option(reuse_port(true));
  // Accepted sockets inherit TCP_NODELAY from the listener (Linux): no setsockopt per connection.
  acceptor.set_option(tcp::no_delay(true));
  acceptor.bind(at);
  acceptor.listen(asio::socket_base::max_listen_connections);
  // Plain HTTP: delayed ACKs from the first byte (HAProxy does the same in HTTP mode), so the
  // response acknowledges the request, one packet fewer per new connection. Accepted sockets
  // inherit it; it must be set after listen(), which resets the ACK state. Not for TLS: after
  // an abbreviated TLS 1.2 handshake the server sends nothing that would carry the ACK of the
  // client's Finished, and a client with Nagle on would hold its request for the delayed-ACK
  // timer (40 ms).
  if (delay_acks) acceptor.set_option(no_quick_ack(false));
  // accept4 on the native descriptor must not block.
  acceptor.non_blocking(true);
}
}  // namespace

Worker::Worker(unsigned index, const ProxyOptions& options, tcp::endpoint listen,
               tcp::endpoint listen_https, asio::ssl::context* tls_context)
    : index_(index),
      options_(options),
      acceptor_(io_),
      tls_acceptor_(io_),
      tls_context_(tls_context),
      ticker_(io_),
      pool_(options.upstream_keepalive_connections,
            static_cast<uint64_t>(options.upstream_keepalive_timeout.count())),
      outliers_(options.outlier),
      access_log_(options.access_log),
      request_id_state_(
          (static_cast<uint64_t>(std::random_device{}()) << 32 | std::random_device{}()) ^
          (static_cast<uint64_t>(index) << 56)) {
  // Every worker has its own listening socket on the same port; the kernel spreads new
  // connections across them, so no accept lock and no cross-thread hand-off.
  open_listener(acceptor_, listen, true);
  port_ = acceptor_.local_endpoint().port();
  if (tls_context_ != nullptr) {
    open_listener(tls_acceptor_, listen_https, false);
    tls_port_ = tls_acceptor_.local_endpoint().port();
  }
  update_clock();
}

Worker::~Worker() {
  join();
}

uint16_t Worker::bound_port() const {
  return acceptor_.local_endpoint().port();
}

uint16_t Worker::bound_https_port() const {
  return tls_acceptor_.is_open() ? tls_acceptor_.local_endpoint().port() : 0;
}

void Worker::start() {
  thread_ = std::thread([this] {
    accept_next(false);
    if (tls_acceptor_.is_open()) accept_next(true);
    tick();
    io_.run();
    // Stopped: whatever is left (forced shutdown) goes now, on this thread.
    pool_.close_all();
    access_log_.flush();
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::update_clock() {
  now_ms_ = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now().time_since_epoch())
                                      .count());
}

void Worker::accept_next(bool tls) {
  // Readiness only: the accepts themselves are accept4 calls (SOCK_NONBLOCK, and the peer address
  // comes back with the descriptor), several per wakeup.
  tcp::acceptor& acceptor = tls ? tls_acceptor_ : acceptor_;
  acceptor.async_wait(tcp::acceptor::wait_read,
                      [this, tls, &acceptor](const boost::system::error_code& ec) {
                        if (ec || !acceptor.is_open()) return;
                        update_clock();
                        if (!accept_queued(tls)) {
                          // Out of descriptors or memory: resumed by the next tick.
                          (tls ? tls_accept_paused_ : accept_paused_) = true;
                          return;
                        }
                        if (acceptor.is_open()) accept_next(tls);
                      });
}

bool Worker::accept_queued(bool tls) {
  tcp::acceptor& acceptor = tls ? tls_acceptor_ : acceptor_;
  const uint16_t port = tls ? tls_port_ : port_;
  for (int i = 0; i < kAcceptBatch && acceptor.is_open(); ++i) {
    tcp::endpoint peer;
    socklen_t length = static_cast<socklen_t>(peer.capacity());
    const int fd =
        ::accept4(acceptor.native_handle(), peer.data(), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      return false;  // EMFILE, ENFILE, ENOBUFS, ENOMEM
    }
    boost::system::error_code ec;
    peer.resize(length);
    tcp::socket socket(io_);
    socket.assign(peer.protocol(), fd, ec);  // registers with epoll
    if (ec) {
      ::close(fd);
      continue;
    }
    SocketState::mark_accepted(socket);
    std::string client_ip = client_address_text(peer);
    if (!tls) {
      if (connection_count_ >= options_.max_worker_connections) {
        refuse(std::move(socket));
        continue;
      }
      // make_shared, not the block cache: the object (~780 B) is within glibc's per-thread cache
      // anyway, and the cache's 1 KiB class would add a quarter to every idle connection.
      std::make_shared<ClientConnection<tcp::socket>>(*this, std::move(socket),
                                                      std::move(client_ip), port)
          ->start();
      continue;
    }
    // Over the limit a TLS client can not be told why before a handshake: close at once.
    if (connection_count_ >= options_.max_worker_connections) {
      socket.close(ec);
      continue;
    }
    std::make_shared<ClientConnection<TlsStream>>(
        *this, TlsStream(std::move(socket), tls_context_->native_handle()), std::move(client_ip),
        port)
        ->start();
  }
  return true;
}

std::string Worker::client_address_text(const tcp::endpoint& peer) {
  if (!peer.address().is_v4()) return peer.address().to_string();
  char text[16];
  const auto bytes = peer.address().to_v4().to_bytes();
  return std::string(text, append_ipv4(text, bytes.data()));
}

void Worker::refuse(tcp::socket socket) {
  // A clear answer beats a silent reset: 503 with Connection: close, then the socket goes.
  static constexpr std::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nServer: strait\r\nContent-Length: 0\r\n"
      "Connection: close\r\n\r\n";
  auto s = std::make_shared<tcp::socket>(std::move(socket));
  s->async_write_some(asio::buffer(kBusy), [s](const boost::system::error_code&, size_t) {
    boost::system::error_code ignored;
    s->shutdown(tcp::socket::shutdown_both, ignored);
    s->close(ignored);
  });
}

std::unique_ptr<ClientExchange> Worker::take_exchange() {
  if (spare_exchanges_.empty()) return std::make_unique<ClientExchange>();
  std::unique_ptr<ClientExchange> exchange = std::move(spare_exchanges_.back());
  spare_exchanges_.pop_back();
  spare_low_water_ = std::min(spare_low_water_, spare_exchanges_.size());
  return exchange;
}

void Worker::give_back_exchange(std::unique_ptr<ClientExchange> exchange) {
  // Bounds a burst (many connections going idle at once); the tick trims the rest.
  constexpr size_t kMaxSpares = 256;
  if (spare_exchanges_.size() >= kMaxSpares) return;
  if (exchange->capacity != ClientExchange::kBufferSize) {
    // Grown for a long request head: back to the usual size.
    exchange->buffer.reset(new char[ClientExchange::kBufferSize]);
    exchange->capacity = ClientExchange::kBufferSize;
  }
  spare_exchanges_.push_back(std::move(exchange));
}

void Worker::tick() {
  update_clock();
  for (TimedConnection* c = connections_; c != nullptr;) {
    TimedConnection* next = c->next;
    if (c->deadline_ms <= now_ms_) c->on_deadline();
    c = next;
  }
  pool_.sweep(now_ms_);
  outliers_.sweep(now_ms_);
  // Spares no exchange needed during the last tick go: an idle worker ends up holding none.
  spare_exchanges_.erase(spare_exchanges_.begin(),
                         spare_exchanges_.begin() + static_cast<std::ptrdiff_t>(spare_low_water_));
  spare_low_water_ = spare_exchanges_.size();
  access_log_.flush();
  if (accept_paused_ && acceptor_.is_open()) {
    accept_paused_ = false;
    accept_next(false);
  }
  if (tls_accept_paused_ && tls_acceptor_.is_open()) {
    tls_accept_paused_ = false;
    accept_next(true);
  }
  if (draining_ && connection_count_ == 0) {
    stopped_ = true;
    pool_.close_all();
    io_.stop();
    return;
  }
  ticker_.expires_after(kTick);
  ticker_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

void Worker::post_snapshot(std::shared_ptr<const Snapshot> snapshot,
                           std::shared_ptr<const tls::CertificateSet> certificates,
                           std::function<void()> applied) {
  asio::post(io_, [this, snapshot = std::move(snapshot), certificates = std::move(certificates),
                   applied = std::move(applied)] {
    size_t clusters = snapshot->clusters.size();
    current_ = SnapshotRef(new PinnedSnapshot{snapshot, certificates, 0});
    // Start each worker at a different offset so they do not all pick the same first endpoint.
    round_robin_.assign(clusters, index_);
    if (applied) applied();
  });
}

void Worker::post_drain() {
  asio::post(io_, [this] {
    draining_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    tls_acceptor_.close(ignored);
    for (TimedConnection* c = connections_; c != nullptr;) {
      TimedConnection* next = c->next;
      c->close_if_idle();
      c = next;
    }
    pool_.close_all();
  });
}

void Worker::post_force_close() {
  asio::post(io_, [this] {
    for (TimedConnection* c = connections_; c != nullptr;) {
      TimedConnection* next = c->next;
      c->force_close();
      c = next;
    }
    pool_.close_all();
  });
}

uint32_t Worker::next_round_robin(int32_t cluster) {
  auto i = static_cast<size_t>(cluster);
  if (i >= round_robin_.size()) round_robin_.resize(i + 1, index_);
  return round_robin_[i]++;
}

size_t Worker::choose_endpoint(int32_t cluster_index, const Cluster& cluster, const uint32_t* tried,
                               size_t tried_count) {
  const uint64_t cursor =
      tried_count == 0 ? next_round_robin(cluster_index) : uint64_t{tried[tried_count - 1]} + 1;
  return outliers_.choose(cluster, cursor, now_ms_, tried, tried_count);
}

void Worker::upstream_connected(std::string_view endpoint) {
  outliers_.report_success(endpoint, now_ms_);
}

void Worker::upstream_connect_failed(std::string_view endpoint) {
  update_clock();  // ejection times are measured from now, not from the last tick
  const std::chrono::milliseconds ejected_for = outliers_.report_failure(endpoint, now_ms_);
  if (ejected_for.count() == 0) return;
  metrics_.upstream_ejections.add();
  char line[160];
  const int n = std::snprintf(
      line, sizeof line, "upstream endpoint ejected: endpoint=%.*s for=%.3fs worker=%u",
      static_cast<int>(std::min<size_t>(endpoint.size(), 80)), endpoint.data(),
      static_cast<double>(ejected_for.count()) / 1000.0, index_);
  if (n > 0) log_warning(std::string_view(line, std::min(static_cast<size_t>(n), sizeof line - 1)));
}

void log_upstream_error(std::string_view endpoint, std::string_view service,
                        std::string_view reason, std::string_view action) {
  std::string line;
  line.reserve(96 + endpoint.size() + service.size() + reason.size());
  line.append("upstream error: endpoint=");
  line.append(endpoint.empty() ? std::string_view("-") : endpoint);
  line.append(" service=");
  line.append(service);
  line.append(" reason=\"");
  line.append(reason);
  line.append("\" action=");
  line.append(action);
  log_warning(line);
}

namespace {

// splitmix64's output function: a bijection, so distinct counters give distinct ids.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// "00" .. "ff": two hex digits per byte with one load.
constexpr auto kHexPairs = [] {
  std::array<char, 512> t{};
  constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 256; ++i) {
    t[2 * i] = kHex[i >> 4];
    t[2 * i + 1] = kHex[i & 15];
  }
  return t;
}();

void write_hex64(char* out, uint64_t v) {
  for (int i = 0; i < 8; ++i, v >>= 8) std::memcpy(out + 2 * i, &kHexPairs[2 * (v & 0xff)], 2);
}

}  // namespace

void Worker::make_request_id(char out[32]) {
  // A counter from a random start, mixed (splitmix64): unique within the worker, unpredictable
  // enough for correlation ids, and a few instructions (mt19937_64 was 2 % of a keep-alive
  // request's instructions).
  request_id_state_ += 0x9e3779b97f4a7c15ULL;
  write_hex64(out, mix64(request_id_state_));
  write_hex64(out + 16, mix64(request_id_state_ ^ 0x5851f42d4c957f2dULL));
}

std::string_view Worker::http_date() {
  std::time_t t = std::time(nullptr);
  if (t != date_second_) {
    date_second_ = t;
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(date_, sizeof date_, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  }
  return date_;
}

void Worker::register_connection(TimedConnection* c) {
  c->prev = nullptr;
  c->next = connections_;
  if (connections_) connections_->prev = c;
  connections_ = c;
  ++connection_count_;
}

void Worker::unregister_connection(TimedConnection* c) {
  if (c->prev) c->prev->next = c->next;
  if (c->next) c->next->prev = c->prev;
  if (connections_ == c) connections_ = c->next;
  --connection_count_;
}

}  // namespace strait::proxy
