#include "proxy/upstream_pool.hpp"

#include <algorithm>

#include "proxy/h2_memory.hpp"

namespace strait::proxy {

UpstreamConnection::UpstreamConnection(boost::asio::io_context& io, UpstreamPool& pool,
                                       std::string k)
    : socket(io), key(std::move(k)), buffer(new char[kBufferSize]), pool_(pool) {}

UpstreamConnection::~UpstreamConnection() = default;

void UpstreamConnection::ensure_read() {
  if (read_pending_ || !socket.is_open()) return;
  if (end == kBufferSize) {
    if (begin == 0) return;  // full: the owner must consume first
    std::copy(buffer.get() + begin, buffer.get() + end, buffer.get());
    end -= begin;
    begin = 0;
  }
  read_pending_ = true;
  if (tls) {
    // TLS may hold decrypted bytes already: read through the stream.
    return tls->async_read_some(boost::asio::buffer(buffer.get() + end, kBufferSize - end),
                                [self = shared_from_this()](const boost::system::error_code& ec,
                                                            size_t n) { self->on_read(ec, n); });
  }
  // (Measured: waiting with async_wait(wait_read) instead would save the speculative read that
  // returns EAGAIN when a pooled connection re-arms, but Asio then pays an epoll_ctl per wait:
  // no gain. Treating a short read as "drained", as nginx does, needs EPOLLRDHUP to know whether
  // a FIN or reset arrived with the last bytes; Asio's reactor does not expose it, and without it
  // a close coalesced with a response would go unnoticed. Clearing the reactor's speculation flag
  // after a short read that completed a response (with verify-on-reuse for non-idempotent
  // requests) was built and measured on 2026-11-26: 5.1 -> 4.1 system calls per keep-alive
  // request, but CPU per request moved by 0.1 us of 14 (under 1%, inside the noise): that recv()
  // is the cheapest call of the exchange, so it was not kept. The kernel's share is spent waking
  // the peers on loopback and switching contexts, which every proxy pays.)
  socket.async_read_some(boost::asio::buffer(buffer.get() + end, kBufferSize - end),
                         recycled([self = shared_from_this()](const boost::system::error_code& ec,
                                                              size_t n) { self->on_read(ec, n); }));
}

void UpstreamConnection::on_read(const boost::system::error_code& ec, size_t n) {
  read_pending_ = false;
  end += n;
  if (owner != nullptr) {
    auto keep = owner;  // the callback may release this connection
    keep->on_upstream_read(ec, n);
    return;
  }
  // Idle: the endpoint closed the connection, or sent bytes nobody asked for. Either way it can
  // not carry another request.
  if (in_pool) pool_.drop(this);
  close();
}

void UpstreamConnection::close() {
  boost::system::error_code ignored;
  if (socket.is_open()) socket.close(ignored);
}

boost::asio::ssl::context& UpstreamConnection::upstream_tls_context() {
  static boost::asio::ssl::context context = [] {
    boost::asio::ssl::context c(boost::asio::ssl::context::tls_client);
    SSL_CTX* ctx = c.native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(
        ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx, kHttp11, sizeof kHttp11);
    // Sessions are resumed per connection only; a pooled connection already saves handshakes.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return c;
  }();
  return context;
}

std::shared_ptr<UpstreamConnection> UpstreamPool::take(std::string_view key, bool tls) {
  IdleMap& idle = tls ? idle_tls_ : idle_;
  auto it = idle.find(key);
  if (it == idle.end() || it->second.empty()) return nullptr;
  // Most recently used first: warm connection, and the oldest ones age out in sweep().
  std::shared_ptr<UpstreamConnection> c = std::move(it->second.back());
  it->second.pop_back();
  c->in_pool = false;
  return c;
}

void UpstreamPool::give_back(std::shared_ptr<UpstreamConnection> c, uint64_t now_ms) {
  c->owner = nullptr;
  if (!c->socket.is_open() || c->available() != 0) {
    c->close();
    return;
  }
  auto& list = idle_for(*c)[c->key];
  if (list.size() >= max_idle_per_key_) {
    c->close();
    return;
  }
  c->in_pool = true;
  c->idle_since_ms = now_ms;
  c->ensure_read();
  list.push_back(std::move(c));
}

void UpstreamPool::drop(UpstreamConnection* c) {
  IdleMap& idle = idle_for(*c);
  auto it = idle.find(c->key);
  if (it == idle.end()) return;
  auto& list = it->second;
  auto pos = std::find_if(list.begin(), list.end(), [c](const auto& p) { return p.get() == c; });
  if (pos != list.end()) {
    (*pos)->in_pool = false;
    list.erase(pos);
  }
}

void UpstreamPool::sweep(uint64_t now_ms) {
  sweep(idle_, now_ms);
  sweep(idle_tls_, now_ms);
}

void UpstreamPool::sweep(IdleMap& idle, uint64_t now_ms) {
  for (auto it = idle.begin(); it != idle.end();) {
    auto& list = it->second;
    // Oldest are at the front.
    size_t expired = 0;
    while (expired < list.size() && list[expired]->idle_since_ms + idle_timeout_ms_ <= now_ms)
      ++expired;
    for (size_t i = 0; i < expired; ++i) {
      list[i]->in_pool = false;
      list[i]->close();
    }
    list.erase(list.begin(), list.begin() + static_cast<ptrdiff_t>(expired));
    it = list.empty() ? idle.erase(it) : std::next(it);
  }
}

void UpstreamPool::close_all() {
  for (IdleMap* idle : {&idle_, &idle_tls_}) {
    for (auto& [key, list] : *idle) {
      for (auto& c : list) {
        c->in_pool = false;
        c->close();
      }
    }
    idle->clear();
  }
}

size_t UpstreamPool::idle_count() const {
  size_t n = 0;
  for (const IdleMap* idle : {&idle_, &idle_tls_})
    for (const auto& [key, list] : *idle) n += list.size();
  return n;
}

}  // namespace strait::proxy
