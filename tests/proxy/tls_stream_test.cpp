// TlsStream on its own, over a loopback TCP connection, against a blocking OpenSSL client in a
// thread: handshake and echo, a large write in pieces, the end of the peer's data, close_notify
// both ways, and a KeyUpdate the client asks for while a large write is blocked on a client that
// is not reading (the read's answer must go out through the write in progress), and the
// buffers an idle stream keeps.
#include "proxy/tls_stream.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "tls/tls_context.hpp"

namespace strait::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// The server side: a TlsStream on an accepted socket, run by io.
struct Server {
  Server() {
    const tls::PemPair pem = tls::make_self_signed("stream.test");
    std::string error;
    ctx = tls::make_server_context(pem.cert_pem, pem.key_pem, error);
    EXPECT_TRUE(ctx) << error;
    acceptor.open(tcp::v4());
    acceptor.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor.listen();
  }
  uint16_t port() const { return acceptor.local_endpoint().port(); }
  // Accepts one connection and hands the stream, handshake done, to `then`. send_buffer: a
  // small socket send buffer, so that a large write blocks at once.
  void serve(std::function<void(TlsStream&)> then, int send_buffer = 0) {
    acceptor.async_accept([this, then, send_buffer](const error_code& ec, tcp::socket s) {
      ASSERT_FALSE(ec) << ec.message();
      if (send_buffer > 0) s.set_option(asio::socket_base::send_buffer_size(send_buffer));
      stream = std::make_unique<TlsStream>(std::move(s), ctx.get());
      stream->async_handshake([this, then](const error_code& hec) {
        ASSERT_FALSE(hec) << hec.message();
        then(*stream);
      });
    });
  }
  asio::io_context io;
  tcp::acceptor acceptor{io};
  tls::SslCtxPtr ctx;
  std::unique_ptr<TlsStream> stream;
};

// A blocking TLS 1.3 client; records KeyUpdate messages from the server.
struct Client {
  explicit Client(uint16_t port, int receive_buffer = 0) {
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_msg_callback(
        ctx, [](int write_p, int, int type, const void* buf, size_t len, SSL*, void* arg) {
          if (!write_p && type == SSL3_RT_HANDSHAKE && len > 0 &&
              *static_cast<const unsigned char*>(buf) == 24)
            ++static_cast<Client*>(arg)->key_updates;
        });
    socket.open(tcp::v4());
    if (receive_buffer > 0)
      socket.set_option(asio::socket_base::receive_buffer_size(receive_buffer));
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    ssl = SSL_new(ctx);
    SSL_set_msg_callback_arg(ssl, this);
    SSL_set_fd(ssl, socket.native_handle());
    connected = SSL_connect(ssl) == 1;
  }
  ~Client() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  bool write(const std::string& data) {
    return SSL_write(ssl, data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  }
  // Reads exactly n bytes (false on error or end).
  bool read(std::string& out, size_t n) {
    out.resize(n);
    size_t got = 0;
    while (got < n) {
      const int r = SSL_read(ssl, out.data() + got, static_cast<int>(n - got));
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }
  asio::io_context io;
  tcp::socket socket{io};
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  bool connected = false;
  int key_updates = 0;
};

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

TEST(TlsStream, HandshakesAndEchoesGatheredWritesAsTheyWere) {
  Server server;
  std::string received;
  const std::string head = "head:", tail = ":tail";
  char buffer[64];
  server.serve([&](TlsStream& s) {
    s.async_read_some(asio::buffer(buffer), [&](const error_code& ec, size_t n) {
      ASSERT_FALSE(ec) << ec.message();
      received.assign(buffer, n);
      // Several buffers: gathered into one record, bytes in order.
      std::vector<asio::const_buffer> parts{asio::buffer(head), asio::buffer(received),
                                            asio::buffer(tail)};
      asio::async_write(s, parts, [](const error_code& wec, size_t) { ASSERT_FALSE(wec); });
    });
  });
  std::string reply;
  std::thread client([&] {
    Client c(server.port());
    ASSERT_TRUE(c.connected);
    ASSERT_TRUE(c.write("hello"));
    ASSERT_TRUE(c.read(reply, 15));
  });
  server.io.run();
  client.join();
  EXPECT_EQ(received, "hello");
  EXPECT_EQ(reply, "head:hello:tail");
}

TEST(TlsStream, AKeyUpdateAskedForDuringABlockedWriteIsAnswered) {
  // With small socket buffers on both ends the write blocks at once. The client asks for a key
  // update meanwhile: OpenSSL answers it with its next record, inside the write in progress, and
  // the client must read on with the new keys.
  const std::string big = pattern(1 << 20);
  Server server;
  char one = 0;
  bool read_done = false, write_done = false;
  server.serve(
      [&](TlsStream& s) {
        asio::async_write(s, asio::buffer(big), [&](const error_code& ec, size_t n) {
          EXPECT_FALSE(ec) << ec.message();
          EXPECT_EQ(n, big.size());
          write_done = true;
        });
        s.async_read_some(asio::buffer(&one, 1), [&](const error_code& ec, size_t n) {
          EXPECT_FALSE(ec) << ec.message();
          EXPECT_EQ(n, 1u);
          read_done = true;
        });
      },
      4096);
  std::string got;
  int key_updates = -1;
  std::thread client([&] {
    Client c(server.port(), 4096);
    ASSERT_TRUE(c.connected);
    ASSERT_EQ(SSL_key_update(c.ssl, SSL_KEY_UPDATE_REQUESTED), 1);
    ASSERT_TRUE(c.write("x"));
    ASSERT_TRUE(c.read(got, big.size()));
    key_updates = c.key_updates;
  });
  server.io.run();
  client.join();
  EXPECT_TRUE(read_done);
  EXPECT_TRUE(write_done);
  EXPECT_EQ(one, 'x');
  EXPECT_TRUE(got == big) << "the bytes arrived changed or out of order";
  EXPECT_EQ(key_updates, 1) << "the server's KeyUpdate did not reach the client";
}

TEST(TlsStream, AnAlertMadeWhileReadingJoinsTheWriteInProgress) {
  // The client sends a forged record while the server's large write is stuck (small socket
  // buffers, the client not reading). OpenSSL answers the failed read with a bad_record_mac
  // alert: output made by the read while the write's records are in flight. It must go out
  // after them, intact (written into the buffer being sent it would be lost or corrupt them),
  // and the read must wait for that before it fails.
  const std::string big = pattern(1 << 20);
  Server server;
  char one = 0;
  error_code read_error, write_error;
  bool write_done = false;
  std::promise<void> read_waits;
  bool seen_waiting = false;
  asio::steady_timer poll(server.io);
  std::function<void(int)> watch = [&](int left) {
    // Awaits the condition the client waits for (bounded: 10 s).
    seen_waiting = server.stream->has_waiting_operation();
    if (seen_waiting || left == 0) return read_waits.set_value();
    poll.expires_after(std::chrono::milliseconds(1));
    poll.async_wait([&, left](const error_code&) { watch(left - 1); });
  };
  server.serve(
      [&](TlsStream& s) {
        asio::async_write(s, asio::buffer(big), [&](const error_code& ec, size_t) {
          write_error = ec;
          write_done = true;
          error_code ignored;
          s.next_layer().close(ignored);
        });
        s.async_read_some(asio::buffer(&one, 1),
                          [&](const error_code& ec, size_t) { read_error = ec; });
        watch(10000);
      },
      4096);
  std::string got;
  unsigned long alert = 0;
  std::thread client([&] {
    Client c(server.port(), 4096);
    ASSERT_TRUE(c.connected);
    // An application-data record whose tag can not verify.
    std::string forged = {0x17, 0x03, 0x03, 0x00, 0x20};
    forged += std::string(32, '\x5a');
    asio::write(c.socket, asio::buffer(forged));
    read_waits.get_future().wait_for(std::chrono::seconds(15));
    // The records in flight, then the alert ends the connection.
    char b[16384];
    int n;
    while ((n = SSL_read(c.ssl, b, sizeof b)) > 0) got.append(b, static_cast<size_t>(n));
    alert = ERR_peek_error();
  });
  server.io.run();
  client.join();
  EXPECT_TRUE(seen_waiting) << "the read never waited for the write in progress";
  EXPECT_TRUE(read_error && read_error != asio::error::eof) << read_error.message();
  // The alert ended the session: the rest of the write fails instead of hanging.
  EXPECT_TRUE(write_done);
  EXPECT_TRUE(write_error);
  EXPECT_GT(got.size(), 0u);
  EXPECT_TRUE(big.compare(0, got.size(), got) == 0) << "the bytes arrived changed or out of order";
  EXPECT_EQ(ERR_GET_REASON(alert), SSL_R_SSLV3_ALERT_BAD_RECORD_MAC)
      << "the client did not get the alert after the data: " << ERR_reason_error_string(alert);
}

TEST(TlsStream, TheEndOfThePeersDataIsEofAndShutdownExchangesCloseNotify) {
  Server server;
  error_code read_error, shutdown_error;
  char buffer[16];
  server.serve([&](TlsStream& s) {
    s.async_read_some(asio::buffer(buffer), [&](const error_code& ec, size_t) {
      read_error = ec;
      s.async_shutdown([&](const error_code& sec) { shutdown_error = sec; });
    });
  });
  int client_shutdown = -2;
  std::thread client([&] {
    Client c(server.port());
    ASSERT_TRUE(c.connected);
    // close_notify from the client, then wait for the server's.
    EXPECT_EQ(SSL_shutdown(c.ssl), 0);
    char b;
    EXPECT_EQ(SSL_read(c.ssl, &b, 1), 0);  // the server's close_notify
    EXPECT_EQ(SSL_get_error(c.ssl, 0), SSL_ERROR_ZERO_RETURN);
    client_shutdown = SSL_shutdown(c.ssl);
  });
  server.io.run();
  client.join();
  EXPECT_EQ(read_error, asio::error::eof);
  EXPECT_EQ(client_shutdown, 1);
  // The client's close_notify came before ours went out: both are through.
  EXPECT_FALSE(shutdown_error) << shutdown_error.message();
}

TEST(TlsStream, ATcpCloseWithoutCloseNotifyIsEofToo) {
  Server server;
  error_code read_error;
  char buffer[16];
  std::promise<void> read_ended;
  server.serve([&](TlsStream& s) {
    s.async_read_some(asio::buffer(buffer), [&](const error_code& ec, size_t) {
      read_error = ec;
      read_ended.set_value();
    });
  });
  std::thread client([&] {
    Client c(server.port());
    ASSERT_TRUE(c.connected);
    // A FIN, not a close: closing with the server's session tickets unread would reset.
    c.socket.shutdown(tcp::socket::shutdown_send);
    read_ended.get_future().wait_for(std::chrono::seconds(15));
  });
  server.io.run();
  client.join();
  EXPECT_EQ(read_error, asio::error::eof);
}

}  // namespace
}  // namespace strait::proxy

namespace strait::proxy {
namespace {

TEST(TlsStream, AShutdownWhileAReadIsPendingDoesNotReadTooAndCompletes) {
  // A connection lingers (close_notify) while its body read is still outstanding: the shutdown
  // must not start a second socket read on the same buffer, and must not wait for input that
  // only the pending read could take.
  Server server;
  error_code read_error, shutdown_error;
  bool shutdown_done = false;
  std::promise<void> shut;
  char buffer[16];
  server.serve([&](TlsStream& s) {
    s.async_read_some(asio::buffer(buffer), [&](const error_code& ec, size_t) { read_error = ec; });
    s.async_shutdown([&](const error_code& ec) {
      shutdown_error = ec;
      shutdown_done = true;
      shut.set_value();
    });
  });
  bool got_close_notify = false, shut_in_time = false;
  std::thread client([&] {
    Client c(server.port());
    ASSERT_TRUE(c.connected);
    char b;
    got_close_notify =
        SSL_read(c.ssl, &b, 1) == 0 && SSL_get_error(c.ssl, 0) == SSL_ERROR_ZERO_RETURN;
    // Nothing is sent back until the server's shutdown has completed on its own.
    shut_in_time = shut.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready;
    c.socket.shutdown(tcp::socket::shutdown_send);
  });
  server.io.run();
  client.join();
  EXPECT_TRUE(got_close_notify);
  EXPECT_TRUE(shut_in_time) << "the shutdown waited for input";
  EXPECT_TRUE(shutdown_done);
  EXPECT_FALSE(shutdown_error) << shutdown_error.message();
  EXPECT_TRUE(read_error) << "the pending read ends with the connection";
}

TEST(TlsStream, AShutdownFindsThePeersCloseNotifyAlreadyRead) {
  // The client's last record and its close_notify arrive together; the read takes the record
  // and leaves the alert buffered. The shutdown must find it there, not wait on the socket.
  Server server;
  error_code shutdown_error;
  std::promise<void> shut;
  char one = 0;
  server.serve([&](TlsStream& s) {
    s.async_read_some(asio::buffer(&one, 1), [&](const error_code& ec, size_t) {
      ASSERT_FALSE(ec) << ec.message();
      s.async_shutdown([&](const error_code& sec) {
        shutdown_error = sec;
        shut.set_value();
      });
    });
  });
  bool shut_in_time = false;
  std::thread client([&] {
    Client c(server.port());
    ASSERT_TRUE(c.connected);
    // One TCP segment with the byte's record and the close_notify: cork them together.
    const int on = 1, off = 0;
    ::setsockopt(c.socket.native_handle(), IPPROTO_TCP, TCP_CORK, &on, sizeof on);
    ASSERT_TRUE(c.write("y"));
    EXPECT_EQ(SSL_shutdown(c.ssl), 0);
    ::setsockopt(c.socket.native_handle(), IPPROTO_TCP, TCP_CORK, &off, sizeof off);
    shut_in_time = shut.get_future().wait_for(std::chrono::seconds(5)) == std::future_status::ready;
    c.socket.shutdown(tcp::socket::shutdown_send);
  });
  server.io.run();
  client.join();
  EXPECT_EQ(one, 'y');
  EXPECT_TRUE(shut_in_time) << "the shutdown waited on the socket for a close_notify it had";
  EXPECT_FALSE(shutdown_error) << shutdown_error.message();
}

// Between requests the stream keeps only a small input buffer (OpenSSL frees its own): 10,000
// idle TLS clients must not hold a record-sized buffer each. A large upload grows the buffer
// again, with every byte in order.
TEST(TlsStream, AnIdleStreamKeepsOnlyASmallInputBufferAndGrowsItForLargeInput) {
  Server server;
  const std::string upload = pattern(40000);
  std::string received(upload.size(), '\0');
  size_t largest_input = 0, received_bytes = 0;
  size_t held_released = 0, held_idle = 0;
  char idle_buffer[64];
  std::string idle_received;
  auto echo_and_go_idle = [&](TlsStream& s) {
    asio::async_write(s, asio::buffer(received), [&](const error_code& wec, size_t) {
      ASSERT_FALSE(wec) << wec.message();
      s.release_idle_memory();
      held_released = s.buffered_capacity();
      s.async_read_some(asio::buffer(idle_buffer), [&](const error_code& rec, size_t n) {
        ASSERT_FALSE(rec) << rec.message();
        idle_received.assign(idle_buffer, n);
        held_idle = s.buffered_capacity();
      });
    });
  };
  std::function<void(TlsStream&)> read_upload = [&](TlsStream& s) {
    s.async_read_some(
        asio::buffer(received.data() + received_bytes, received.size() - received_bytes),
        [&](const error_code& ec, size_t n) {
          ASSERT_FALSE(ec) << ec.message();
          largest_input = std::max(largest_input, s.input_capacity());
          received_bytes += n;
          if (received_bytes < received.size()) return read_upload(s);
          echo_and_go_idle(s);
        });
  };
  server.serve(read_upload);
  std::string echoed;
  std::thread client([&] {
    Client c(server.port());
    ASSERT_TRUE(c.connected);
    ASSERT_TRUE(c.write(upload));
    ASSERT_TRUE(c.read(echoed, upload.size()));
    ASSERT_TRUE(c.write("next request"));
  });
  server.io.run();
  client.join();
  EXPECT_TRUE(received == upload);
  EXPECT_TRUE(echoed == upload);
  EXPECT_EQ(idle_received, "next request");
  EXPECT_EQ(largest_input, 18u * 1024);  // record-sized while the upload lasts
  EXPECT_LT(held_released, 128u);        // empty strings only
  EXPECT_GT(held_idle, 0u);
  EXPECT_LE(held_idle, 1024u + 128);
}

// HTTP/2's read: the plaintext buffer is asked for only when a record is there to decrypt, so an
// idle connection's pending read holds none; after a burst, a small read makes the input buffer
// small again by itself (an HTTP/2 connection always has a read pending, so it never gets a
// moment without one to call release_idle_memory in).
TEST(TlsStream, ALazyReadAsksForItsBufferOnlyWhenARecordArrives) {
  Server server;
  const std::string burst = pattern(30000);
  std::string received;
  char buffer[4096];
  int buffer_requests = 0;
  bool asked_before_data = false;
  size_t held_after_burst = 0, held_after_small = 0;
  std::promise<void> read_posted, burst_read, small_read, all_read;
  std::function<void()> read_more;
  read_more = [&] {
    server.stream->async_read_some_lazily(
        [&] {
          ++buffer_requests;
          return asio::buffer(buffer);
        },
        [&](const error_code& ec, size_t n) {
          ASSERT_FALSE(ec) << ec.message();
          received.append(buffer, n);
          if (received.size() < burst.size()) return read_more();
          if (received.size() == burst.size()) {
            held_after_burst = server.stream->buffered_capacity();
            burst_read.set_value();
            return read_more();
          }
          if (received.size() == burst.size() + 6) {  // "small1" read into the large buffer
            small_read.set_value();
            return read_more();
          }
          held_after_small = server.stream->buffered_capacity();  // "small2": a small buffer
          all_read.set_value();
        });
  };
  server.serve([&](TlsStream&) {
    read_more();
    // Nothing has arrived: a pending read, no buffer asked for.
    asio::post(server.io, [&] {
      asked_before_data = buffer_requests > 0;
      read_posted.set_value();
    });
  });
  std::thread client([&] {
    Client c(server.port());
    ASSERT_TRUE(c.connected);
    // Bounded waits: a failure on the server's side ends the test instead of hanging it.
    const auto ready = [](std::promise<void>& p) {
      return p.get_future().wait_for(std::chrono::seconds(15)) == std::future_status::ready;
    };
    ASSERT_TRUE(ready(read_posted));
    ASSERT_TRUE(c.write(burst));
    ASSERT_TRUE(ready(burst_read));
    ASSERT_TRUE(c.write("small1"));
    ASSERT_TRUE(ready(small_read));
    ASSERT_TRUE(c.write("small2"));
    // Closing with the server's session tickets unread would reset the connection.
    all_read.get_future().wait_for(std::chrono::seconds(15));
  });
  server.io.run();
  client.join();
  EXPECT_FALSE(asked_before_data);
  EXPECT_GT(buffer_requests, 0);
  EXPECT_TRUE(received == burst + "small1small2");
  EXPECT_GT(held_after_burst, 16u * 1024);  // a burst: record-sized reads
  EXPECT_LT(held_after_small, 4096u);       // a small read made the next one small (1 KiB)
}

}  // namespace
}  // namespace strait::proxy
