#include "proxy/tls_stream.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/ssl/error.hpp>
#include <climits>
#include <cstring>
#include <new>

namespace strait::proxy {
namespace {

// Room for one whole record (16 KiB of payload plus header, padding and tag) and more: one
// socket read per record when records are large. OpenSSL keeps a record it has only part of in
// its own buffer, so a smaller `in` only means more reads.
constexpr size_t kInputSize = 18 * 1024;
// The read posted while a connection waits for its next request lands here: a request head of
// up to about 1 KB in one record, as most are. Held by every idle connection.
constexpr size_t kIdleInputSize = 1024;

TlsCore& core_of(BIO* bio) {
  return *static_cast<TlsCore*>(BIO_get_data(bio));
}

int bio_write(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  TlsCore& c = core_of(bio);
  (c.flushing ? c.pending : c.out).append(data, static_cast<size_t>(size));
  c.produced += static_cast<uint64_t>(size);
  return size;
}

int bio_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  TlsCore& c = core_of(bio);
  const size_t available = c.in_end - c.in_begin;
  if (available == 0) {
    if (c.in_eof) return 0;
    BIO_set_retry_read(bio);
    return -1;
  }
  const size_t n = std::min(available, static_cast<size_t>(size));
  std::memcpy(data, c.in.get() + c.in_begin, n);
  c.in_begin += n;
  if (c.in_begin == c.in_end) c.in_begin = c.in_end = 0;
  return static_cast<int>(n);
}

long bio_ctrl(BIO* bio, int command, long, void*) {
  TlsCore& c = core_of(bio);
  switch (command) {
    case BIO_CTRL_FLUSH:
      return 1;  // the operation writes what was produced once OpenSSL returns
    case BIO_CTRL_PENDING:
      return static_cast<long>(c.in_end - c.in_begin);
    case BIO_CTRL_WPENDING:
      return static_cast<long>(c.out.size() + c.pending.size());
    case BIO_CTRL_EOF:
      return c.in_eof && c.in_begin == c.in_end ? 1 : 0;
    default:
      return 0;
  }
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int bio_destroy(BIO*) {
  return 1;
}

const BIO_METHOD* bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "strait-tls");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    BIO_meth_set_destroy(m, bio_destroy);
    return m;
  }();
  return method;
}

int clamp_int(size_t size) {
  return static_cast<int>(std::min(size, static_cast<size_t>(INT_MAX)));
}

}  // namespace

TlsCore::~TlsCore() {
  if (ssl != nullptr) SSL_free(ssl);  // frees the BIO too
}

bool TlsCore::has_buffered_input() const {
  return in_begin != in_end || SSL_has_pending(ssl) == 1;
}

boost::asio::mutable_buffer TlsCore::input_space() {
  // A socket read follows only OpenSSL's WANT_READ, which the BIO reports once `in` is drained
  // (and then reset to its start): the whole buffer is free.
  if (in_end == 0) {
    if (in_capacity == kIdleInputSize && last_read == kIdleInputSize) {
      in.reset();  // the last read filled the small buffer, more is coming: grow
      in_capacity = kInputSize;
    } else if (in_capacity == kInputSize && last_read < kIdleInputSize) {
      in.reset();  // the burst is over: small again
      in_capacity = kIdleInputSize;
    }
  }
  if (!in) {
    if (in_capacity == 0) in_capacity = kIdleInputSize;
    in = std::make_unique_for_overwrite<char[]>(in_capacity);
  }
  return boost::asio::buffer(in.get() + in_end, in_capacity - in_end);
}

void TlsCore::release_idle_memory() {
  if (!reading && in_begin == in_end) {
    // The idle read allocates a small buffer again, whatever the last read was.
    in.reset();
    in_capacity = 0;
    last_read = 0;
  }
  if (flushing) return;  // a write is in progress: its buffers stay
  if (out.empty()) std::string().swap(out);
  if (pending.empty()) std::string().swap(pending);
  std::string().swap(stage);
}

void TlsCore::output_written() {
  out.clear();
  if (!pending.empty()) out.swap(pending);
}

namespace {
// The outcome of an OpenSSL call that returned `ret` (<= 0).
TlsCore::Outcome failure(ssl_st* ssl, int ret, boost::system::error_code& ec) {
  const int error = SSL_get_error(ssl, ret);
  if (error == SSL_ERROR_WANT_READ) return TlsCore::Outcome::WantInput;
  if (error == SSL_ERROR_ZERO_RETURN) {
    ec = boost::asio::error::eof;
  } else {
    const unsigned long code = ERR_get_error();
    ec = code != 0 ? boost::system::error_code(static_cast<int>(code),
                                               boost::asio::error::get_ssl_category())
                   : boost::system::error_code(boost::asio::ssl::error::stream_truncated);
  }
  ERR_clear_error();  // nothing stale for the next call on this thread
  return TlsCore::Outcome::Failed;
}

// SSL_read or SSL_write returned `ret`: n bytes moved, or why not.
TlsCore::Outcome transferred(ssl_st* ssl, int ret, size_t& n, boost::system::error_code& ec) {
  if (ret <= 0) return failure(ssl, ret, ec);
  n = static_cast<size_t>(ret);
  return TlsCore::Outcome::Done;
}

// SSL_get_error is only reliable with an empty error queue; emptying one that is already empty
// costs a loop over its slots on every call, so look first.
void clear_stale_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}
}  // namespace

TlsCore::Outcome TlsCore::read(void* data, size_t size, size_t& n, error_code& ec) {
  clear_stale_errors();
  return transferred(ssl, SSL_read(ssl, data, clamp_int(size)), n, ec);
}

TlsCore::Outcome TlsCore::write(const void* data, size_t size, size_t& n, error_code& ec) {
  clear_stale_errors();
  return transferred(ssl, SSL_write(ssl, data, clamp_int(size)), n, ec);
}

TlsCore::Outcome TlsCore::handshake(error_code& ec) {
  clear_stale_errors();
  const int ret = SSL_do_handshake(ssl);
  if (ret == 1) return Outcome::Done;
  return failure(ssl, ret, ec);
}

TlsCore::Outcome TlsCore::shutdown(error_code& ec) {
  clear_stale_errors();
  int ret = SSL_shutdown(ssl);
  // Ours went out; the peer's close_notify may already be waiting in `in`.
  if (ret == 0 && in_begin != in_end) ret = SSL_shutdown(ssl);
  if (ret == 1) return Outcome::Done;       // both close_notify alerts are through
  if (ret == 0) return Outcome::WantInput;  // ours is written; read until the peer's
  return failure(ssl, ret, ec);
}

TlsStream::TlsStream(boost::asio::ip::tcp::socket socket, ssl_ctx_st* ctx)
    : core_(std::make_unique<TlsCore>(std::move(socket))) {
  TlsCore& c = *core_;
  // As asio::ssl::stream does: without memory for the SSL object there is no connection.
  c.ssl = SSL_new(ctx);
  if (c.ssl == nullptr) throw std::bad_alloc();
  BIO* bio = BIO_new(bio_method());
  if (bio == nullptr) throw std::bad_alloc();
  BIO_set_data(bio, &c);
  SSL_set_bio(c.ssl, bio, bio);
  SSL_set_accept_state(c.ssl);
}

}  // namespace strait::proxy
