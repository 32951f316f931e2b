// Server-side TLS over a client socket, for the HTTPS listener (HTTP/1.1 and the HTTP/2 hand-off).
//
// Why not asio::ssl::stream: its engine puts a BIO pair between OpenSSL and the socket, so every
// record is copied twice more, every OpenSSL call is wrapped in ERR_clear_error + BIO_ctrl_pending
// calls, and every read first calls SSL_read to learn that it needs input. Here OpenSSL reads and
// writes through a BIO of ours straight over two buffers (ciphertext read from the socket, and
// ciphertext to write), a read goes to the socket at once when OpenSSL holds nothing, and the
// error queue is cleared only when something left an error in it. The socket I/O stays Asio's
// (speculative recv/send, the worker's reactor).
//
// Semantics follow asio::ssl::stream where strait relies on them: async_read_some /
// async_write_some (so asio::async_write works), async_handshake (server), async_shutdown
// (close_notify, then read until the peer's or EOF), a clean or unannounced end of input is
// asio::error::eof (the context sets SSL_OP_IGNORE_UNEXPECTED_EOF), OpenSSL failures are
// asio::error::get_ssl_category() codes. One read and one write may be outstanding at once
// (HTTP/2, tunnels); output OpenSSL produces while reading (a KeyUpdate answer, an alert) is
// written by whichever operation is writing, and the read waits for it.
#pragma once

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

struct ssl_st;
struct ssl_ctx_st;

namespace strait::proxy {

// The state operations and OpenSSL's BIO share; it stays put when the stream moves.
struct TlsCore {
  using error_code = boost::system::error_code;
  explicit TlsCore(boost::asio::ip::tcp::socket s) : socket(std::move(s)) {}
  TlsCore(const TlsCore&) = delete;
  TlsCore& operator=(const TlsCore&) = delete;
  ~TlsCore();

  // What one OpenSSL call did.
  enum class Outcome {
    Done,       // n bytes read or written, or the handshake/shutdown finished
    WantInput,  // OpenSSL needs more ciphertext from the socket
    Failed,     // ec says why (asio::error::eof for the end of the peer's data)
  };
  Outcome read(void* data, size_t size, size_t& n, error_code& ec);
  Outcome write(const void* data, size_t size, size_t& n, error_code& ec);
  Outcome handshake(error_code& ec);
  Outcome shutdown(error_code& ec);
  // Without this, a read must ask the socket first: OpenSSL holds no record and no ciphertext
  // is waiting for it.
  bool has_buffered_input() const;
  // Free space for the next socket read, and the count it read.
  boost::asio::mutable_buffer input_space();
  void input_arrived(size_t n) {
    in_end += n;
    last_read = n;
  }
  // Between requests: frees the input buffer if it is drained and no read is filling it, and the
  // output buffers if no write is in progress (OpenSSL frees its own: SSL_MODE_RELEASE_BUFFERS);
  // the idle read then allocates a small input buffer.
  void release_idle_memory();
  bool has_output() const { return !out.empty(); }
  // After out was written: what OpenSSL wrote meanwhile becomes out.
  void output_written();
  // Bytes OpenSSL has written through the BIO so far: whether a call produced output.
  uint64_t produced = 0;

  boost::asio::ip::tcp::socket socket;
  ssl_st* ssl = nullptr;
  // Ciphertext read from the socket that OpenSSL has not taken yet. Small while reads are small
  // (a connection waiting for its next request; most requests fit); a read that fills it makes
  // the next one large (an upload, a long head, a burst of HTTP/2 frames), and a small read
  // after that makes it small again: an HTTP/2 connection always has a read pending, so it
  // cannot wait for a moment without one.
  std::unique_ptr<char[]> in;
  // last_read: bytes of the last socket read (each lands in a drained buffer, so a read that
  // filled it has last_read == in_capacity).
  size_t in_begin = 0, in_end = 0, in_capacity = 0, last_read = 0;
  bool in_eof = false;
  bool reading = false;  // a socket read is in flight (one at a time: they share `in`)
  // Ciphertext OpenSSL wrote: `out` is being written (or is about to be) while `flushing`; what
  // OpenSSL writes meanwhile goes to `pending`.
  std::string out, pending;
  bool flushing = false;
  // An operation waiting for the write another one is doing (at most one: the other of the
  // read/write pair). Rare (output made while reading: an alert), so a plain heap object.
  struct Waiter {
    virtual ~Waiter() = default;
    virtual void resume(const error_code& ec) = 0;
  };
  template <typename Self>
  struct WaiterFor final : Waiter {
    explicit WaiterFor(Self&& s) : self(std::move(s)) {}
    void resume(const error_code& ec) override { self(ec); }
    Self self;
  };
  std::unique_ptr<Waiter> waiter;
  // Gathered plaintext of a multi-buffer write: one record instead of one per buffer.
  std::string stage;
};

class TlsStream {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;
  using error_code = boost::system::error_code;
  // At most this much plaintext per write_some: one full record, so the output buffer stays
  // bounded whatever the caller writes.
  static constexpr size_t kMaxWrite = 16384;

  // An SSL object from ctx in server mode over the socket (accepted, non-blocking).
  TlsStream(boost::asio::ip::tcp::socket socket, ssl_ctx_st* ctx);
  TlsStream(TlsStream&&) noexcept = default;
  TlsStream& operator=(TlsStream&&) noexcept = default;
  ~TlsStream() = default;

  ssl_st* native_handle() { return core_->ssl; }
  void release_idle_memory() { core_->release_idle_memory(); }
  // Bytes of ciphertext input buffer, and of every buffer held by the stream, OpenSSL's aside
  // (tests).
  size_t input_capacity() const { return core_->in_capacity; }
  size_t buffered_capacity() const {
    return core_->in_capacity + core_->out.capacity() + core_->pending.capacity() +
           core_->stage.capacity();
  }
  boost::asio::ip::tcp::socket& next_layer() { return core_->socket; }
  executor_type get_executor() { return core_->socket.get_executor(); }
  // An operation is waiting for the other one's write to finish (tests and diagnostics).
  bool has_waiting_operation() const { return static_cast<bool>(core_->waiter); }

  template <typename Handler>
  void async_handshake(Handler&& handler) {
    boost::asio::async_compose<Handler, void(error_code)>(Op<HandshakeStep>(core_.get()), handler,
                                                          core_->socket);
  }
  template <typename Handler>
  void async_shutdown(Handler&& handler) {
    boost::asio::async_compose<Handler, void(error_code)>(Op<ShutdownStep>(core_.get()), handler,
                                                          core_->socket);
  }
  template <typename MutableBuffers, typename Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    const boost::asio::mutable_buffer b = *boost::asio::buffer_sequence_begin(buffers);
    boost::asio::async_compose<Handler, void(error_code, size_t)>(
        Op<ReadStep>(core_.get(), ReadStep{b.data(), b.size()}), handler, core_->socket);
  }
  // As async_read_some, but the plaintext buffer is asked of `buffer()` (returning an
  // asio::mutable_buffer) only when OpenSSL is about to fill it, and is not used after the
  // completion: an idle connection's pending read holds no plaintext buffer (HTTP/2 frees its
  // 16 KiB one between requests).
  template <typename BufferSource, typename Handler>
  void async_read_some_lazily(BufferSource buffer, Handler&& handler) {
    boost::asio::async_compose<Handler, void(error_code, size_t)>(
        Op<LazyReadStep<BufferSource>>(core_.get(), LazyReadStep<BufferSource>{std::move(buffer)}),
        handler, core_->socket);
  }
  template <typename ConstBuffers, typename Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    boost::asio::async_compose<Handler, void(error_code, size_t)>(
        Op<WriteStep>(core_.get(), WriteStep{gather(buffers)}), handler, core_->socket);
  }

 private:
  // The OpenSSL call each operation repeats until it is done. kReads: asks the socket first
  // when OpenSSL holds nothing; kTransfers: completes with a byte count.
  struct ReadStep {
    static constexpr bool kReads = true, kTransfers = true;
    void* data;
    size_t size;
    TlsCore::Outcome run(TlsCore& c, size_t& n, error_code& ec) const {
      return size == 0 ? (n = 0, TlsCore::Outcome::Done) : c.read(data, size, n, ec);
    }
  };
  template <typename BufferSource>
  struct LazyReadStep {
    static constexpr bool kReads = true, kTransfers = true;
    BufferSource buffer;
    TlsCore::Outcome run(TlsCore& c, size_t& n, error_code& ec) {
      const boost::asio::mutable_buffer b = buffer();
      return b.size() == 0 ? (n = 0, TlsCore::Outcome::Done) : c.read(b.data(), b.size(), n, ec);
    }
  };
  struct WriteStep {
    static constexpr bool kReads = false, kTransfers = true;
    boost::asio::const_buffer plain;
    TlsCore::Outcome run(TlsCore& c, size_t& n, error_code& ec) const {
      if (plain.size() == 0) return n = 0, TlsCore::Outcome::Done;
      return c.write(plain.data(), plain.size(), n, ec);
    }
  };
  struct HandshakeStep {
    static constexpr bool kReads = false, kTransfers = false;
    TlsCore::Outcome run(TlsCore& c, size_t&, error_code& ec) const { return c.handshake(ec); }
  };
  struct ShutdownStep {
    static constexpr bool kReads = false, kTransfers = false;
    TlsCore::Outcome run(TlsCore& c, size_t&, error_code& ec) const { return c.shutdown(ec); }
  };

  // One operation: run the step; write what OpenSSL produced (or wait for the operation that is
  // writing); read ciphertext when the step needs input; complete. Never completes inside the
  // initiating call.
  template <typename Step>
  struct Op {
    explicit Op(TlsCore* c, Step s = {}) : core(c), step(s) {}
    TlsCore* core;
    Step step;
    enum class State { Start, Reading, Writing, Waiting, Posted } state = State::Start;
    bool went_async = false;
    TlsCore::Outcome outcome = TlsCore::Outcome::Done;
    size_t n = 0;
    error_code result;

    template <typename Self>
    void operator()(Self& self, error_code ec = {}, size_t transferred = 0) {
      TlsCore& c = *core;
      switch (state) {
        case State::Start:
          break;
        case State::Reading:
          went_async = true;
          c.reading = false;
          if (ec == boost::asio::error::eof) {
            c.in_eof = true;  // OpenSSL sees the end through the BIO
          } else if (ec) {
            return complete(self, ec);
          } else {
            c.input_arrived(transferred);
          }
          break;
        case State::Writing:
          went_async = true;
          c.output_written();
          if (!ec && c.has_output()) {
            return boost::asio::async_write(c.socket, boost::asio::buffer(c.out), std::move(self));
          }
          c.flushing = false;
          if (c.waiter) std::unique_ptr<TlsCore::Waiter>(std::move(c.waiter))->resume(ec);
          if (ec) return complete(self, ec);
          return after_output(self);
        case State::Waiting:
          went_async = true;
          if (ec) return complete(self, ec);
          return after_output(self);
        case State::Posted:
          went_async = true;
          return complete(self, result);
      }
      // Ask the socket first when OpenSSL could only say it needs input.
      if (Step::kReads && !c.has_buffered_input() && !c.in_eof) return read_input(self);
      const uint64_t produced = c.produced;
      outcome = step.run(c, n, result);
      // Wait for the bytes this call produced (not for those another operation is writing).
      if (c.produced != produced) return write_output(self);
      return after_output(self);
    }

   private:
    template <typename Self>
    void after_output(Self& self) {
      if (outcome == TlsCore::Outcome::WantInput) {
        if (core->in_eof) return complete(self, boost::asio::error::eof);
        if (core->reading) {
          // Another operation's socket read is outstanding (a request body read when the
          // connection lingers): two reads at once would tear records apart. A shutdown has
          // sent its close_notify, which is what matters.
          if constexpr (std::is_same_v<Step, ShutdownStep>) return complete(self, {});
        }
        // A write does not read: a read operation may start at any time and must be the only
        // reader. (TLS 1.3 without renegotiation gives OpenSSL no reason to read in SSL_write;
        // a client splitting a post-handshake message over records could, and loses the
        // connection.)
        if (core->reading || std::is_same_v<Step, WriteStep>)
          return complete(self, boost::asio::error::in_progress);
        return read_input(self);
      }
      if (outcome == TlsCore::Outcome::Failed) return complete(self, result);
      complete(self, {});
    }
    template <typename Self>
    void read_input(Self& self) {
      state = State::Reading;
      core->reading = true;
      core->socket.async_read_some(core->input_space(), std::move(self));
    }
    template <typename Self>
    void write_output(Self& self) {
      if (core->flushing) {
        // The other operation is writing; it writes our bytes too, then wakes us.
        state = State::Waiting;
        core->waiter = std::make_unique<TlsCore::WaiterFor<Self>>(std::move(self));
        return;
      }
      core->flushing = true;
      state = State::Writing;
      boost::asio::async_write(core->socket, boost::asio::buffer(core->out), std::move(self));
    }
    template <typename Self>
    void complete(Self& self, const error_code& ec) {
      if (!went_async) {
        // Completing inside the initiating call would re-enter the caller.
        state = State::Posted;
        result = ec;
        return boost::asio::post(core->socket.get_executor(), std::move(self));
      }
      if constexpr (Step::kTransfers) {
        self.complete(ec, ec ? size_t{0} : n);
      } else {
        self.complete(ec);
      }
    }
  };

  // The plaintext of one write_some: the first buffer alone, or the buffers gathered (up to
  // kMaxWrite) so that a response head and its body go out as one record.
  template <typename ConstBuffers>
  boost::asio::const_buffer gather(const ConstBuffers& buffers) {
    auto it = boost::asio::buffer_sequence_begin(buffers);
    const auto end = boost::asio::buffer_sequence_end(buffers);
    boost::asio::const_buffer first;
    while (it != end && (first = *it).size() == 0) ++it;
    if (it == end) return {};
    auto next = it;
    ++next;
    while (next != end && boost::asio::const_buffer(*next).size() == 0) ++next;
    if (next == end || first.size() >= kMaxWrite)
      return boost::asio::buffer(first.data(), std::min(first.size(), kMaxWrite));
    std::string& s = core_->stage;
    s.clear();
    for (; it != end && s.size() < kMaxWrite; ++it) {
      const boost::asio::const_buffer b = *it;
      s.append(static_cast<const char*>(b.data()), std::min(b.size(), kMaxWrite - s.size()));
    }
    return boost::asio::buffer(s);
  }

  std::unique_ptr<TlsCore> core_;
};

}  // namespace strait::proxy
