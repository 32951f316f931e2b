#include "tls/certificate_set.hpp"

#include <openssl/tls1.h>

#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace strait::tls {
namespace {

int set_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Reads the host_name entry of the server_name extension from the ClientHello.
std::string_view client_hello_server_name(SSL* ssl) {
  const unsigned char* p = nullptr;
  size_t len = 0;
  if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) || len < 5) return {};
  size_t list = (static_cast<size_t>(p[0]) << 8) | p[1];
  if (list + 2 != len || p[2] != TLSEXT_NAMETYPE_host_name) return {};
  size_t name = (static_cast<size_t>(p[3]) << 8) | p[4];
  if (name + 5 > len) return {};
  return {reinterpret_cast<const char*>(p + 5), name};
}

// Runs for every ClientHello (with or without SNI), before the certificate is chosen.
int on_client_hello(SSL* ssl, int*, void*) {
  const auto* set = static_cast<const CertificateSet*>(SSL_get_ex_data(ssl, set_index()));
  if (set == nullptr) return SSL_CLIENT_HELLO_SUCCESS;
  SSL_CTX* chosen = set->select(client_hello_server_name(ssl));
  if (chosen != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, chosen);
  return SSL_CLIENT_HELLO_SUCCESS;
}

}  // namespace

void CertificateSet::install(SSL_CTX* base) {
  SSL_CTX_set_client_hello_cb(base, on_client_hello, nullptr);
}

void CertificateSet::attach(SSL* ssl, const CertificateSet* set) {
  SSL_set_ex_data(ssl, set_index(), const_cast<CertificateSet*>(set));
}

SSL_CTX* CertificateSet::select(std::string_view server_name) const {
  char buf[256];
  if (!server_name.empty() && server_name.size() < sizeof buf) {
    size_t n = server_name.size();
    if (server_name.back() == '.') --n;
    for (size_t i = 0; i < n; ++i)
      buf[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(server_name[i])));
    std::string_view name(buf, n);
    if (auto it = exact_.find(name); it != exact_.end()) return it->second;
    size_t dot = name.find('.');
    if (dot != std::string_view::npos && dot > 0) {
      if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end()) return it->second;
    }
  }
  return default_.get();
}

std::shared_ptr<const CertificateSet> CertificateSet::build(const RouteTable& routes,
                                                            const CertificateSet* previous,
                                                            std::shared_ptr<SSL_CTX> fallback,
                                                            std::vector<std::string>& warnings) {
  auto set = std::make_shared<CertificateSet>();
  // One context per distinct certificate; an unchanged Secret keeps its context (and so its
  // parsed key) from the previous build.
  auto context_for = [&](const TlsBinding& b) -> std::shared_ptr<SSL_CTX> {
    for (const auto& e : set->contexts_)
      if (e.cert_pem == b.cert_pem && e.key_pem == b.key_pem) return e.ctx;
    if (previous) {
      for (const auto& e : previous->contexts_) {
        if (e.cert_pem == b.cert_pem && e.key_pem == b.key_pem) {
          set->contexts_.push_back(e);
          return e.ctx;
        }
      }
    }
    std::string error;
    SslCtxPtr ctx = make_server_context(b.cert_pem, b.key_pem, error);
    if (!ctx) {
      warnings.push_back("TLS Secret " + b.secret +
                         (b.ingress.empty() ? std::string(" (--default-ssl-certificate)")
                                            : " (Ingress " + b.ingress + ")") +
                         ": " + error + "; served with the default certificate");
      return nullptr;
    }
    CertificateSet::install(ctx.get());
    std::shared_ptr<SSL_CTX> shared(ctx.release(), SSL_CTX_free);
    set->contexts_.push_back({b.cert_pem, b.key_pem, shared});
    return shared;
  };
  set->default_ = std::move(fallback);
  for (const TlsBinding& b : routes.default_certificate) {
    if (auto ctx = context_for(b)) set->default_ = ctx;
  }
  for (const TlsBinding& b : routes.tls) {
    auto ctx = context_for(b);
    if (!ctx) continue;
    if (b.host.rfind("*.", 0) == 0) {
      set->wildcard_.emplace(b.host.substr(2), ctx.get());
    } else {
      set->exact_.emplace(b.host, ctx.get());
    }
  }
  return set;
}

std::vector<std::pair<std::string, int64_t>> CertificateSet::expiries() const {
  auto not_after = [](SSL_CTX* ctx) -> int64_t {
    X509* cert = ctx ? SSL_CTX_get0_certificate(ctx) : nullptr;
    std::tm tm{};
    if (cert == nullptr || ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
    return static_cast<int64_t>(timegm(&tm));
  };
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& [host, ctx] : exact_) out.emplace_back(host, not_after(ctx));
  for (const auto& [suffix, ctx] : wildcard_) out.emplace_back("*." + suffix, not_after(ctx));
  out.emplace_back("", not_after(default_.get()));
  return out;
}

}  // namespace strait::tls
