#include "tls/tls_context.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>

namespace strait::tls {
namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return e ? buf : "unknown error";
}

// Set once at startup, before any handshake (--use-http2).
std::atomic<bool> offer_h2{true};

// ALPN: the client's list is <len><proto>...; h2 when HTTP/2 is on and the client offers it
// (whatever its order: the server's preference wins, as nginx and Envoy do), else http/1.1.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  static const unsigned char kH2AndHttp11[] = {2,   'h', '2', 8,   'h', 't',
                                               't', 'p', '/', '1', '.', '1'};
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  bool h2 = offer_h2.load(std::memory_order_relaxed);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, h2 ? kH2AndHttp11 : kHttp11,
                            h2 ? sizeof kH2AndHttp11 : sizeof kHttp11, in,
                            inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

}  // namespace

void offer_http2(bool enabled) {
  offer_h2.store(enabled, std::memory_order_relaxed);
}

void apply_server_profile(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  // Mozilla intermediate (v5.7) TLS 1.2 suites without DHE; TLS 1.3 suites are OpenSSL's
  // defaults (all AEAD).
  SSL_CTX_set_cipher_list(ctx,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  SSL_CTX_set1_groups_list(ctx, "X25519:prime256v1:secp384r1");
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_SSLv2 |
                               SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
  // A client that closes TCP without close_notify is an ordinary end of connection (HTTP frames
  // its messages itself), not a fatal error; as a fatal error OpenSSL would also drop the
  // session from the cache. nginx sets the same.
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Intermediate profile: the client chooses among the (all strong) suites.
  SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, 20480);
  SSL_CTX_set_timeout(ctx, 86400);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

SslCtxPtr make_server_context(const std::string& cert_pem, const std::string& key_pem,
                              std::string& error) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    error = "cannot create TLS context: " + openssl_error();
    return nullptr;
  }
  apply_server_profile(ctx.get());
  BioPtr cert_bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  X509* leaf = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr);
  if (leaf == nullptr) {
    error = "tls.crt holds no PEM certificate";
    ERR_clear_error();
    return nullptr;
  }
  int ok = SSL_CTX_use_certificate(ctx.get(), leaf);
  X509_free(leaf);
  if (ok != 1) {
    error = "tls.crt: " + openssl_error();
    return nullptr;
  }
  // The rest of tls.crt is the chain.
  while (X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx.get(), extra) != 1) {
      X509_free(extra);
      error = "tls.crt chain: " + openssl_error();
      return nullptr;
    }
  }
  ERR_clear_error();  // the loop ends on a "no start line" error, which is expected
  BioPtr key_bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    error = "tls.key holds no PEM private key";
    ERR_clear_error();
    return nullptr;
  }
  ok = SSL_CTX_use_PrivateKey(ctx.get(), key);
  EVP_PKEY_free(key);
  if (ok != 1 || SSL_CTX_check_private_key(ctx.get()) != 1) {
    error = "tls.key does not match the certificate in tls.crt";
    ERR_clear_error();
    return nullptr;
  }
  return ctx;
}

PemPair make_self_signed(const std::string& common_name) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) throw std::runtime_error("cannot generate a key: " + openssl_error());
  X509* cert = X509_new();
  // A random 127-bit serial (CA/Browser Forum: at least 64 bits of entropy; testssl.sh flags less).
  BIGNUM* serial = BN_new();
  if (serial == nullptr || BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) == nullptr)
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  BN_free(serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 365L * 24 * 3600);
  X509_set_version(cert, 2);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Acme Co"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
  if (X509_EXTENSION* san =
          X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "DNS:ingress.local")) {
    X509_add_ext(cert, san, -1);
    X509_EXTENSION_free(san);
  }
  X509_sign(cert, key, EVP_sha256());
  PemPair out;
  BioPtr cb(BIO_new(BIO_s_mem())), kb(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cb.get(), cert);
  PEM_write_bio_PrivateKey(kb.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(cb.get(), &data);
  out.cert_pem.assign(data, static_cast<size_t>(n));
  n = BIO_get_mem_data(kb.get(), &data);
  out.key_pem.assign(data, static_cast<size_t>(n));
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

namespace {

std::atomic<SessionTicketKeys*> installed_ticket_keys{nullptr};

int64_t period_of(std::chrono::steady_clock::time_point now, std::chrono::milliseconds rotation) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  return ms.count() / rotation.count();
}

bool set_hmac_key(EVP_MAC_CTX* hmac, const SessionTicketKeys::Key& key) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(
          OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key.hmac_key.data()), key.hmac_key.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(hmac, params) == 1;
}

// OpenSSL's contract (SSL_CTX_set_tlsext_ticket_key_evp_cb): encrypting, fill key_name and iv and
// return 1; decrypting, return 0 for an unknown key (full handshake), 1 to accept, 2 to accept
// and issue a fresh ticket, -1 on error.
int ticket_key_callback(SSL*, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                        EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* hmac, int encrypt) {
  SessionTicketKeys* keys = installed_ticket_keys.load(std::memory_order_acquire);
  if (keys == nullptr) return encrypt ? -1 : 0;
  auto now = std::chrono::steady_clock::now();
  if (encrypt) {
    std::optional<SessionTicketKeys::Key> key = keys->encryption_key(now);
    if (!key) return -1;
    int iv_length = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
    bool ok =
        RAND_bytes(iv, iv_length) == 1 &&
        EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes_key.data(), iv) == 1 &&
        set_hmac_key(hmac, *key);
    std::memcpy(key_name, key->name.data(), key->name.size());
    OPENSSL_cleanse(&*key, sizeof *key);
    return ok ? 1 : -1;
  }
  bool current = false;
  std::optional<SessionTicketKeys::Key> key = keys->decryption_key(key_name, now, current);
  if (!key) return 0;
  bool ok = EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes_key.data(), iv) == 1 &&
            set_hmac_key(hmac, *key);
  OPENSSL_cleanse(&*key, sizeof *key);
  if (!ok) return -1;
  return current ? 1 : 2;
}

}  // namespace

SessionTicketKeys::SessionTicketKeys(std::chrono::milliseconds rotation)
    : rotation_(std::max(rotation, std::chrono::milliseconds(1))) {
  std::lock_guard lock(mutex_);
  if (advance(std::chrono::steady_clock::now()) == nullptr)
    throw std::runtime_error("cannot generate a session ticket key: " + openssl_error());
}

SessionTicketKeys::~SessionTicketKeys() {
  SessionTicketKeys* self = this;
  installed_ticket_keys.compare_exchange_strong(self, nullptr);
  OPENSSL_cleanse(keys_.data(), keys_.size() * sizeof(Key));
}

void SessionTicketKeys::install(SSL_CTX* session_ctx) {
  installed_ticket_keys.store(this, std::memory_order_release);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(session_ctx, ticket_key_callback);
}

const SessionTicketKeys::Key* SessionTicketKeys::advance(
    std::chrono::steady_clock::time_point now) {
  int64_t period = period_of(now, rotation_);
  // Only the current and the previous period's keys decrypt.
  auto first_kept = std::find_if(keys_.begin(), keys_.end(),
                                 [&](const Key& k) { return k.period >= period - 1; });
  if (first_kept != keys_.begin()) {
    OPENSSL_cleanse(keys_.data(), static_cast<size_t>(first_kept - keys_.begin()) * sizeof(Key));
    keys_.erase(keys_.begin(), first_kept);
  }
  // Keys are made when a period's first ticket is issued or presented. The clock is monotonic,
  // so `period` never goes back.
  if (keys_.empty() || keys_.back().period < period) {
    Key key;
    key.period = period;
    bool ok = RAND_bytes(key.name.data(), key.name.size()) == 1 &&
              RAND_bytes(key.aes_key.data(), key.aes_key.size()) == 1 &&
              RAND_bytes(key.hmac_key.data(), key.hmac_key.size()) == 1;
    if (ok) keys_.push_back(key);
    OPENSSL_cleanse(&key, sizeof key);
    if (!ok) return nullptr;
  }
  return &keys_.back();
}

std::optional<SessionTicketKeys::Key> SessionTicketKeys::encryption_key(
    std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  const Key* key = advance(now);
  if (key == nullptr) return std::nullopt;
  return *key;
}

std::optional<SessionTicketKeys::Key> SessionTicketKeys::decryption_key(
    const unsigned char* name, std::chrono::steady_clock::time_point now, bool& current) {
  std::lock_guard lock(mutex_);
  const Key* newest = advance(now);
  for (const Key& k : keys_) {
    if (std::memcmp(k.name.data(), name, k.name.size()) == 0) {
      current = &k == newest;
      return k;
    }
  }
  return std::nullopt;
}

}  // namespace strait::tls
