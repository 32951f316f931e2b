// async_read_drained: Asio's async_read_some for a plain TCP socket, except that a read shorter
// than its buffer tells the reactor the socket is drained.
//
// Why: Asio's reactor (epoll, edge-triggered) tries every newly posted read at once
// ("speculatively") unless it knows the socket is empty, and it only concludes that from EOF. A
// proxy reads a request or response, answers, and posts the next read at once: on an idle
// keep-alive connection, and on every pooled upstream connection after each response, that
// speculative recv() returns EAGAIN - one wasted system call per request on each side (measured:
// bench/request_cost.py). nginx concludes "drained" from a short read (with EPOLLRDHUP); this does
// the same inside Asio's reactor: the op reports done_and_exhausted for a short read, so the
// reactor posts the next read straight to its queue and epoll's next edge (new bytes, EOF,
// error) performs it. A short read means the receive queue was empty when recv() returned;
// bytes arriving later raise a new edge, which re-enables the speculative try, so no wake-up is
// lost. Asio's own EOF handling relies on the same rule.
//
// Built on Asio internals (boost/asio/detail, pinned by Debian 12's Boost 1.81): the reactor's
// start_op, the socket implementation's descriptor data, reactor_op. Plain sockets only: TLS
// streams read through their own layer.
#pragma once

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <memory>
#include <utility>

namespace strait::proxy {

namespace drained_read_detail {

using boost::asio::detail::reactor_op;

// The socket's implementation (descriptor, state, reactor data): a protected member of
// basic_socket, reached through a pointer to member formed in a derived class.
struct SocketAccess : boost::asio::ip::tcp::socket {
  static auto& implementation(boost::asio::ip::tcp::socket& socket) {
    return (socket.*(&SocketAccess::impl_)).get_implementation();
  }
};

template <typename Handler>
class DrainedReadOp : public reactor_op {
 public:
  DrainedReadOp(int descriptor, void* data, size_t size, Handler&& handler)
      : reactor_op(boost::system::error_code(), &DrainedReadOp::perform, &DrainedReadOp::complete),
        descriptor_(descriptor),
        data_(data),
        size_(size),
        handler_(std::move(handler)) {}

  static void* operator new(size_t size) { return Allocator().allocate(size); }
  static void operator delete(void* p, size_t size) {
    Allocator().deallocate(static_cast<unsigned char*>(p), size);
  }

 private:
  // Asio's per-thread recycling cache, as its own operations use.
  using Allocator = boost::asio::recycling_allocator<unsigned char>;

  static status perform(reactor_op* base) {
    auto* op = static_cast<DrainedReadOp*>(base);
    if (!boost::asio::detail::socket_ops::non_blocking_recv1(
            op->descriptor_, op->data_, op->size_, 0, true, op->ec_, op->bytes_transferred_))
      return not_done;
    return op->bytes_transferred_ < op->size_ ? done_and_exhausted : done;
  }

  // owner is null when the io_context is destroyed with the read pending: the handler (and
  // what it keeps alive) is released without being called.
  static void complete(void* owner, boost::asio::detail::operation* base,
                       const boost::system::error_code&, size_t) {
    std::unique_ptr<DrainedReadOp> op(static_cast<DrainedReadOp*>(base));
    Handler handler(std::move(op->handler_));
    const boost::system::error_code ec = op->ec_;
    const size_t n = op->bytes_transferred_;
    op.reset();
    if (owner != nullptr) handler(ec, n);
  }

  int descriptor_;
  void* data_;
  size_t size_;
  Handler handler_;
};

}  // namespace drained_read_detail

// The reactor of an io_context, for async_read_drained (use_service locks the context's service
// registry: look it up once, when the context's owner starts).
inline boost::asio::detail::reactor& reactor_of(boost::asio::io_context& io) {
  return boost::asio::use_service<boost::asio::detail::reactor>(
      static_cast<boost::asio::execution_context&>(io));
}

// Reads at most `size` bytes into `data`; handler(error_code, bytes) runs on the socket's
// io_context as for async_read_some (closing or cancelling the socket completes it with
// operation_aborted; EOF is asio::error::eof). size must be > 0. `reactor` is reactor_of() the
// socket's io_context; null falls back to async_read_some.
template <typename Handler>
void async_read_drained(boost::asio::detail::reactor* reactor, boost::asio::ip::tcp::socket& socket,
                        void* data, size_t size, Handler&& handler) {
  namespace d = boost::asio::detail;
  auto& impl = drained_read_detail::SocketAccess::implementation(socket);
  boost::system::error_code ec;
  if (reactor == nullptr || impl.socket_ == d::invalid_socket ||
      ((impl.state_ & d::socket_ops::non_blocking) == 0 &&
       !d::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, ec))) {
    // Not open (or not made non-blocking): Asio's own read reports the error.
    return socket.async_read_some(boost::asio::buffer(data, size), std::forward<Handler>(handler));
  }
  using Op = drained_read_detail::DrainedReadOp<std::decay_t<Handler>>;
  auto* op = new Op(impl.socket_, data, size, std::forward<Handler>(handler));
  reactor->start_op(d::reactor::read_op, impl.socket_, impl.reactor_data_, op, false, true);
}

}  // namespace strait::proxy
