// OpenSSL server contexts as strait serves them: Mozilla's "intermediate" profile (TLS 1.2 and
// 1.3, ECDHE with AEAD ciphers, no compression, no renegotiation, client cipher preference),
// ALPN h2 and http/1.1. Built off the data path; an SSL_CTX is then shared read-only by every
// worker.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace strait::tls {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// Whether ALPN offers "h2" (before "http/1.1"); call before serving (--use-http2).
void offer_http2(bool enabled);

// Applies the profile to a server context (protocols, ciphers, options, ALPN).
void apply_server_profile(SSL_CTX* ctx);

// A context serving cert_pem (leaf then chain) with key_pem (RSA or ECDSA). On failure returns
// null and says why in `error` (unparsable PEM, key does not match the certificate, ...).
SslCtxPtr make_server_context(const std::string& cert_pem, const std::string& key_pem,
                              std::string& error);

// A self-signed ECDSA P-256 certificate made at start, like ingress-nginx's "Kubernetes Ingress
// Controller Fake Certificate": what unknown names get when no default certificate is set.
struct PemPair {
  std::string cert_pem;
  std::string key_pem;
};
PemPair make_self_signed(const std::string& common_name);

// The keys that encrypt session tickets, rotated as nginx does with several ssl_session_ticket_key
// files: time is cut into periods of `rotation`, each period has its own random key (RAND_bytes,
// made when the period's first ticket is issued or presented), the current period's key
// encrypts, and the previous period's key still decrypts (that ticket is then renewed under the
// current key). So a ticket resumes for at least one period and at most two, and no key decrypts
// after two periods (it is wiped at the next handshake), which bounds what a leaked key can open
// (forward secrecy of resumed sessions). Periods are counted on the monotonic clock, so
// wall-clock steps neither expire nor revive keys.
class SessionTicketKeys {
 public:
  struct Key {
    int64_t period = 0;  // steady-clock milliseconds / rotation
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> aes_key{};   // AES-256-CBC
    std::array<unsigned char, 32> hmac_key{};  // HMAC-SHA256
  };

  explicit SessionTicketKeys(std::chrono::milliseconds rotation);
  ~SessionTicketKeys();
  SessionTicketKeys(const SessionTicketKeys&) = delete;
  SessionTicketKeys& operator=(const SessionTicketKeys&) = delete;

  // The key that encrypts a ticket issued at `now` (nullopt only if RAND_bytes fails).
  std::optional<Key> encryption_key(std::chrono::steady_clock::time_point now);
  // The key named `name` if it still decrypts at `now`; `current` says whether it is the key
  // that encrypts now (else the ticket should be renewed).
  std::optional<Key> decryption_key(const unsigned char* name,
                                    std::chrono::steady_clock::time_point now, bool& current);
  std::chrono::milliseconds rotation() const { return rotation_; }

  // Makes `session_ctx` encrypt and decrypt tickets with these keys. OpenSSL runs the ticket
  // callback of the connection's *session* context, the one SSL_new() was given, even after the
  // ClientHello callback has switched the connection to a per-certificate SSL_CTX
  // (SSL_set_SSL_CTX keeps session_ctx), so only the base context needs it; tls_test proves it
  // with a per-certificate host. That callback has no user argument and the session context is
  // not reachable from the connection, so one instance per process is installed (the last one
  // wins); it must outlive every connection of that context.
  void install(SSL_CTX* session_ctx);

 private:
  // Called with mutex_ held: forgets (and wipes) keys too old to decrypt and makes the key of
  // `now`'s period if it does not exist yet; returns it (null if RAND_bytes failed).
  const Key* advance(std::chrono::steady_clock::time_point now);

  const std::chrono::milliseconds rotation_;
  // Taken once per ticket issued or presented: a few hundred nanoseconds beside a handshake's
  // public-key operations, and it makes rotation safe with every worker handshaking at once.
  std::mutex mutex_;
  std::vector<Key> keys_;  // newest last; at most two
};

}  // namespace strait::tls
