// The certificates of one configuration, chosen per connection by the name the client sends
// (SNI): exact names before wildcards (one label), then the default certificate. Built off the
// data path whenever the route table changes, reusing the SSL_CTX of every Secret that did not
// change; swapped with the Snapshot, so a rotated Secret applies to new handshakes while open
// connections keep theirs.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "strait/snapshot.hpp"
#include "tls/tls_context.hpp"

namespace strait::tls {

class CertificateSet {
 public:
  // fallback: the context for unknown names when the table has no default certificate (the
  // self-signed one). Problems with a Secret become warnings; its hosts use the default.
  static std::shared_ptr<const CertificateSet> build(const RouteTable& routes,
                                                     const CertificateSet* previous,
                                                     std::shared_ptr<SSL_CTX> fallback,
                                                     std::vector<std::string>& warnings);

  // The context for a server name (any case); never null.
  SSL_CTX* select(std::string_view server_name) const;
  size_t size() const { return contexts_.size(); }
  // host ("" for the default) -> notAfter of its certificate, seconds since the epoch.
  std::vector<std::pair<std::string, int64_t>> expiries() const;

  // Installs the ClientHello callback on the context connections are created from, and ties a
  // connection to the set it must use (call before the handshake).
  static void install(SSL_CTX* base);
  static void attach(SSL* ssl, const CertificateSet* set);

 private:
  struct Entry {
    std::string cert_pem, key_pem;  // identity, for reuse across builds
    std::shared_ptr<SSL_CTX> ctx;
  };
  std::vector<Entry> contexts_;
  StringMap<SSL_CTX*> exact_;
  StringMap<SSL_CTX*> wildcard_;  // key: suffix after "*."
  std::shared_ptr<SSL_CTX> default_;
};

}  // namespace strait::tls
