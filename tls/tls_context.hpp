// OpenSSL server contexts as strait serves them: Mozilla's "intermediate" profile (TLS 1.2 and
// 1.3, ECDHE with AEAD ciphers, no compression, no renegotiation, client cipher preference),
// ALPN h2 and http/1.1. Built off the data path; an SSL_CTX is then shared read-only by every
// worker.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

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

}  // namespace strait::tls
