// TLS termination through the real binary: certificates from kubernetes.io/tls Secrets chosen by
// SNI, the self-signed default, protocol floor, session resumption, HTTP->HTTPS redirects, HSTS,
// forwarded headers, a broken Secret beside a good one, and rotation under an open connection.
// Clients: curl, openssl s_client (certificate selection, protocols, resumption, ticket key
// rotation) and sslscan (the whole protocol and cipher surface).
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "harness/fixture.hpp"

namespace it {
namespace {

std::string base64(const std::string& data) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8) | uint8_t(data[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(k[(v >> s) & 63]);
  }
  if (i + 1 == data.size()) {
    uint32_t v = uint8_t(data[i]) << 16;
    out += {k[(v >> 18) & 63], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == data.size()) {
    uint32_t v = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8);
    out += {k[(v >> 18) & 63], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

struct Cert {
  std::filesystem::path crt, key;
  std::string crt_pem, key_pem;
};

// A TLS 1.3 client on OpenSSL itself, for what command-line clients can not do mid-connection
// (KeyUpdate). Blocking socket; every call has the socket's 10 s timeouts.
class OpensslClient {
 public:
  OpensslClient(const std::string& addr, uint16_t port, const std::string& sni) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
    SSL_CTX_set_msg_callback(ctx_, &OpensslClient::on_message);
    fd_ = connect_tcp(addr, port);
    if (fd_ < 0) return;
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ssl_ = SSL_new(ctx_);
    SSL_set_msg_callback_arg(ssl_, this);
    SSL_set_tlsext_host_name(ssl_, sni.c_str());
    SSL_set_fd(ssl_, fd_);
    connected_ = SSL_connect(ssl_) == 1;
  }
  ~OpensslClient() {
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  bool connected() const { return connected_; }
  bool send(const std::string& data) {
    return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  }
  // One response with a Content-Length body: its status, or 0 on error.
  int read_response(std::string* body = nullptr) {
    std::string in;
    char buf[4096];
    size_t head_end = std::string::npos;
    size_t need = std::string::npos;
    while (need == std::string::npos || in.size() < need) {
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) return 0;
      in.append(buf, static_cast<size_t>(n));
      if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
        const std::string head = to_lower(in.substr(0, head_end));
        const size_t cl = head.find("content-length:");
        if (cl == std::string::npos) return 0;
        need = head_end + 4 + std::stoul(head.substr(cl + 15));
      }
    }
    if (body) *body = in.substr(head_end + 4);
    return std::stoi(in.substr(9, 3));
  }
  SSL* ssl() { return ssl_; }
  int key_updates_received() const { return key_updates_received_; }

 private:
  static void on_message(int write_p, int, int content_type, const void* buf, size_t len, SSL*,
                         void* arg) {
    // TLS 1.3 handshake messages after the handshake: a KeyUpdate (type 24) from the server.
    const auto* bytes = static_cast<const unsigned char*>(buf);
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 && bytes[0] == 24)
      ++static_cast<OpensslClient*>(arg)->key_updates_received_;
  }
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
  int key_updates_received_ = 0;
};

class TlsTest : public IntegrationTest {
 protected:
  // A self-signed certificate for `names` (first one is the CN); ec = ECDSA P-256, else RSA.
  Cert make_cert(const std::string& file, const std::vector<std::string>& names, bool ec) {
    Cert c{dir() / (file + ".crt"), dir() / (file + ".key"), "", ""};
    std::string san = "subjectAltName=";
    for (size_t i = 0; i < names.size(); ++i) san += (i ? ",DNS:" : "DNS:") + names[i];
    std::vector<std::string> args = {
        "openssl",         "req",     "-x509", "-nodes",  "-days",        "30",   "-subj",
        "/CN=" + names[0], "-addext", san,     "-keyout", c.key.string(), "-out", c.crt.string()};
    if (ec) {
      args.insert(args.begin() + 3, {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"});
    } else {
      args.insert(args.begin() + 3, {"-newkey", "rsa:2048"});
    }
    CommandResult r = run_command(args, 60s);
    EXPECT_TRUE(r.exited_with(0)) << r.describe();
    c.crt_pem = read_file(c.crt);
    c.key_pem = read_file(c.key);
    return c;
  }

  static std::string secret(const std::string& name, const std::string& crt,
                            const std::string& key) {
    return "apiVersion: v1\nkind: Secret\nmetadata: {name: " + name +
           ", namespace: default}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: " + base64(crt) +
           "\n  tls.key: " + base64(key) + "\n";
  }

  static std::string tls_ingress(const std::string& name, const std::vector<std::string>& hosts,
                                 const std::string& secret_name, const std::string& service) {
    std::string host_list, rules;
    for (const auto& h : hosts) {
      host_list += (host_list.empty() ? "" : ", ") + h;
      rules += "  - host: \"" + h +
               "\"\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: " +
               service + ", port: {number: 80}}}}]}\n";
    }
    return "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: " + name +
           ", namespace: default}\nspec:\n  ingressClassName: strait\n  tls: [{hosts: [\"" +
           [&] {
             std::string q;
             for (size_t i = 0; i < hosts.size(); ++i) q += (i ? "\", \"" : "") + hosts[i];
             return q;
           }() +
           "\"], secretName: " + secret_name + "}]\n  rules:\n" + rules;
  }

  // The subject CN of the certificate strait presents for `sni` (empty: no SNI sent).
  std::string served_cn(const std::string& sni, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"openssl", "s_client", "-connect",
                                     strait().address + ":" + std::to_string(strait().https_port)};
    if (sni.empty()) {
      args.push_back("-noservername");
    } else {
      args.insert(args.end(), {"-servername", sni});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult r = run_command(args, 15s);
    std::string all = r.out + r.err;
    size_t cn = all.find("subject=");
    if (cn == std::string::npos) return "handshake failed";
    std::string line = all.substr(cn, all.find('\n', cn) - cn);
    size_t at = line.find("CN = ");
    return at == std::string::npos ? line : line.substr(at + 5);
  }

  // openssl s_client sending one request (Connection: close) and reading until strait closes:
  // TLS 1.3 tickets come after the handshake, and a client that stops at the handshake may exit
  // before they arrive (then -sess_out writes nothing).
  CommandResult s_client_request(const std::string& host, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {
        "/bin/sh",
        "-c",
        "printf 'GET / HTTP/1.1\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n' \"$0\" | "
        "exec openssl s_client -ign_eof \"$@\"",
        host,
        "-connect",
        strait().address + ":" + std::to_string(strait().https_port)};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_command(args, 15s);
  }

  CurlResult https(const std::string& host, const std::string& path, const Cert& ca,
                   std::vector<std::string> extra = {}) {
    std::string port = std::to_string(strait().https_port);
    std::vector<std::string> args = {"--cacert", ca.crt.string(), "--resolve",
                                     host + ":" + port + ":" + strait().address,
                                     "https://" + host + ":" + port + path};
    args.insert(args.end(), extra.begin(), extra.end());
    return curl(args);
  }

  EchoPod* pod = nullptr;
  void start_app() {
    pod = &start_pod("tls-pod");
    write_manifest("app.yaml",
                   k8s::documents({k8s::ingress_class(),
                                   k8s::app("default", "web", {pod->address}, pod->port)}));
  }
};

TEST_F(TlsTest, CertificatesAreChosenBySniExactThenWildcardThenDefault) {
  start_app();
  Cert rsa = make_cert("rsa", {"rsa.example.com"}, false);
  Cert ecdsa = make_cert("ecdsa", {"ec.example.com"}, true);
  Cert wild = make_cert("wild", {"*.wild.example.com"}, true);
  Cert exact_in_wild = make_cert("exact", {"exact.wild.example.com"}, true);
  write_manifest(
      "tls.yaml",
      k8s::documents({secret("rsa", rsa.crt_pem, rsa.key_pem),
                      secret("ecdsa", ecdsa.crt_pem, ecdsa.key_pem),
                      secret("wild", wild.crt_pem, wild.key_pem),
                      secret("exact", exact_in_wild.crt_pem, exact_in_wild.key_pem),
                      tls_ingress("rsa", {"rsa.example.com"}, "rsa", "web"),
                      tls_ingress("ecdsa", {"ec.example.com"}, "ecdsa", "web"),
                      tls_ingress("wild", {"*.wild.example.com"}, "wild", "web"),
                      tls_ingress("exact", {"exact.wild.example.com"}, "exact", "web")}));
  start_strait();
  EXPECT_EQ(served_cn("rsa.example.com"), "rsa.example.com");
  EXPECT_EQ(served_cn("EC.Example.com"), "ec.example.com");
  EXPECT_EQ(served_cn("a.wild.example.com"), "*.wild.example.com");
  EXPECT_EQ(served_cn("exact.wild.example.com"), "exact.wild.example.com");
  // The wildcard covers one label only; unknown names and no SNI get the default certificate.
  EXPECT_EQ(served_cn("a.b.wild.example.com"), "Kubernetes Ingress Controller Fake Certificate");
  EXPECT_EQ(served_cn("unknown.example.org"), "Kubernetes Ingress Controller Fake Certificate");
  EXPECT_EQ(served_cn(""), "Kubernetes Ingress Controller Fake Certificate");
  // A real client verifying the chain gets through, RSA and ECDSA alike.
  EXPECT_EQ(https("rsa.example.com", "/", rsa).status(), 200);
  EXPECT_EQ(https("ec.example.com", "/", ecdsa).status(), 200);
}

TEST_F(TlsTest, DefaultSslCertificateFlagAnswersUnknownNames) {
  start_app();
  Cert def = make_cert("default", {"default.example.com"}, true);
  write_manifest("tls.yaml", secret("fallback", def.crt_pem, def.key_pem));
  start_strait({.args = {"--default-ssl-certificate=default/fallback"}});
  EXPECT_EQ(served_cn("whatever.example.com"), "default.example.com");
  EXPECT_EQ(served_cn(""), "default.example.com");
}

TEST_F(TlsTest, OnlyTls12And13AndSessionsResume) {
  start_app();
  start_strait();
  std::string at = strait().address + ":" + std::to_string(strait().https_port);
  // SECLEVEL=0 lets this client really offer TLS 1.0/1.1 (Debian's default configuration would
  // refuse before sending anything); strait must answer with a protocol_version alert.
  for (const char* old : {"-tls1", "-tls1_1"}) {
    CommandResult r = run_command(
        {"openssl", "s_client", "-connect", at, old, "-cipher", "DEFAULT@SECLEVEL=0"}, 15s);
    EXPECT_NE((r.out + r.err).find("alert protocol version"), std::string::npos)
        << old << ": " << r.out + r.err;
    EXPECT_EQ(r.out.find("New, TLS"), std::string::npos) << old << r.out;
  }
  for (const char* ok : {"-tls1_2", "-tls1_3"}) {
    CommandResult r = run_command({"openssl", "s_client", "-connect", at, ok}, 15s);
    EXPECT_NE(r.out.find("New, TLS"), std::string::npos) << ok << ": " << r.out + r.err;
  }
  // TLS 1.2 suites outside the profile are refused by the server: RSA key exchange, and CBC with
  // ECDHE and the (ECDSA) default certificate, which the client could otherwise use.
  for (const char* suite : {"AES128-SHA", "ECDHE-ECDSA-AES128-SHA"}) {
    CommandResult weak = run_command({"openssl", "s_client", "-connect", at, "-tls1_2", "-cipher",
                                      std::string(suite) + "@SECLEVEL=0"},
                                     15s);
    EXPECT_NE((weak.out + weak.err).find("alert handshake failure"), std::string::npos)
        << suite << ": " << weak.out + weak.err;
    EXPECT_EQ(weak.out.find("New, TLS"), std::string::npos) << suite << ": " << weak.out;
  }
  // Resumption: the second handshake reuses the first one's session.
  std::string sess = (dir() / "sess.pem").string();
  CommandResult first =
      run_command({"openssl", "s_client", "-connect", at, "-tls1_2", "-sess_out", sess}, 15s);
  ASSERT_NE(first.out.find("New, TLS"), std::string::npos) << first.out;
  CommandResult second =
      run_command({"openssl", "s_client", "-connect", at, "-tls1_2", "-sess_in", sess}, 15s);
  EXPECT_NE(second.out.find("Reused, TLS"), std::string::npos) << second.out;
}

// Session ticket keys (--ssl-session-ticket-key-rotation): the key of the current period
// encrypts, the previous period's still decrypts, older ones are gone. Periods are counted on the
// monotonic clock, which this test shares with strait, so it can act at known points of a period.
// The host has its own certificate: the ClientHello callback has moved the connection to that
// certificate's SSL_CTX, and a ticket two periods old failing to resume shows that the base
// context's rotating keys apply, not that SSL_CTX's own (static) ones. The TLS 1.2 session cache
// (clients without tickets) does not depend on the ticket keys and keeps resuming.
TEST_F(TlsTest, SessionTicketKeysRotateAndTicketsExpireAfterThePreviousPeriod) {
  start_app();
  Cert c = make_cert("tickets", {"tickets.example.com"}, true);
  write_manifest(
      "tls.yaml",
      k8s::documents({secret("tickets", c.crt_pem, c.key_pem),
                      tls_ingress("tickets", {"tickets.example.com"}, "tickets", "web")}));
  constexpr auto kPeriod = 2000ms;
  start_strait({.args = {"--ssl-session-ticket-key-rotation=2s"}});
  ASSERT_EQ(served_cn("tickets.example.com"), "tickets.example.com");
  auto period_now = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch()) /
           kPeriod;
  };
  // Sleeps until `margin` into period p (the condition here is the clock itself).
  auto enter_period = [&](int64_t p, std::chrono::milliseconds margin = 150ms) {
    std::this_thread::sleep_until(std::chrono::steady_clock::time_point(p * kPeriod + margin));
  };
  auto handshake = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), {"-servername", "tickets.example.com"});
    CommandResult r = s_client_request("tickets.example.com", extra);
    if (r.out.find("Reused, TLS") != std::string::npos) return std::string("reused");
    if (r.out.find("New, TLS") != std::string::npos) return std::string("new");
    return "failed: " + r.out + r.err;
  };
  const std::string t13 = (dir() / "t13.pem").string(), t12 = (dir() / "t12.pem").string(),
                    cached12 = (dir() / "cached12.pem").string();
  // Get the sessions within one period (retry if a slow machine crossed a boundary).
  int64_t issued = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    issued = period_now() + 1;
    enter_period(issued);
    ASSERT_EQ(handshake({"-tls1_3", "-sess_out", t13}), "new");
    ASSERT_EQ(handshake({"-tls1_2", "-sess_out", t12}), "new");
    ASSERT_EQ(handshake({"-tls1_2", "-no_ticket", "-sess_out", cached12}), "new");
    if (period_now() == issued) break;
  }
  ASSERT_EQ(period_now(), issued) << "could not get the sessions within one period";
  EXPECT_EQ(handshake({"-tls1_3", "-sess_in", t13}), "reused");
  EXPECT_EQ(handshake({"-tls1_2", "-sess_in", t12}), "reused");
  EXPECT_EQ(handshake({"-tls1_2", "-no_ticket", "-sess_in", cached12}), "reused");
  // Next period: a new key encrypts, the one of the tickets still decrypts.
  enter_period(issued + 1);
  EXPECT_EQ(handshake({"-tls1_3", "-sess_in", t13}), "reused");
  EXPECT_EQ(handshake({"-tls1_2", "-sess_in", t12}), "reused");
  // Two periods on: that key is gone, the tickets give full handshakes; the cache still resumes.
  enter_period(issued + 2);
  EXPECT_EQ(handshake({"-tls1_3", "-sess_in", t13}), "new");
  EXPECT_EQ(handshake({"-tls1_2", "-sess_in", t12}), "new");
  EXPECT_EQ(handshake({"-tls1_2", "-no_ticket", "-sess_in", cached12}), "reused");
}

// Keys rotating every 100 ms while several clients handshake, resume and get new tickets at once
// on both workers: every handshake succeeds (the sanitizer builds run this one for races on the
// key ring), and tickets do resume.
TEST_F(TlsTest, TicketKeyRotationUnderConcurrentHandshakes) {
  start_app();
  start_strait({.args = {"--ssl-session-ticket-key-rotation=100ms"}});
  std::atomic<int> reused{0}, failed{0};
  std::string failure;
  std::mutex failure_mutex;
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&, i] {
      std::string sess = (dir() / ("c" + std::to_string(i) + ".pem")).string();
      for (int n = 0; n < 12; ++n) {
        std::vector<std::string> args = {i % 2 ? "-tls1_2" : "-tls1_3", "-sess_out", sess};
        if (n > 0) args.insert(args.end(), {"-sess_in", sess});
        CommandResult r = s_client_request("any.example.com", args);
        if (r.out.find("Reused, TLS") != std::string::npos) {
          ++reused;
        } else if (r.out.find("New, TLS") == std::string::npos) {
          ++failed;
          std::lock_guard lock(failure_mutex);
          failure = r.out + r.err;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0) << failure;
  EXPECT_GT(reused.load(), 0);
}

// What sslscan (Debian's, fast) finds on the HTTPS port, per certificate type: Mozilla
// "intermediate" and nothing else. TLS 1.2 and 1.3 only; for 1.2 exactly the three ECDHE+AEAD
// suites of the certificate's key type; for 1.3 the three standard suites; key exchange groups
// X25519, P-256, P-384; no renegotiation (so no insecure one); no Heartbleed; the certificate
// chosen by the SNI sslscan sends. Compression, which this sslscan no longer probes, is checked
// with s_client.
TEST_F(TlsTest, SslscanFindsOnlyTheIntermediateProfile) {
  start_app();
  Cert rsa = make_cert("rsa", {"rsa.example.com"}, false);
  Cert ecdsa = make_cert("ecdsa", {"ec.example.com"}, true);
  write_manifest("tls.yaml",
                 k8s::documents({secret("rsa", rsa.crt_pem, rsa.key_pem),
                                 secret("ecdsa", ecdsa.crt_pem, ecdsa.key_pem),
                                 tls_ingress("rsa", {"rsa.example.com"}, "rsa", "web"),
                                 tls_ingress("ecdsa", {"ec.example.com"}, "ecdsa", "web")}));
  start_strait();
  std::string at = strait().address + ":" + std::to_string(strait().https_port);
  auto all = [](const std::string& text, const std::string& pattern) {
    std::vector<std::smatch> out;
    std::regex re(pattern);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
         ++it)
      out.push_back(*it);
    return out;
  };
  struct Expectation {
    std::string sni, subject, key_type;
    std::set<std::string> tls12_suites;
  };
  const std::set<std::string> tls13_suites = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                              "TLS_CHACHA20_POLY1305_SHA256"};
  for (const Expectation& want :
       std::vector<Expectation>{{"rsa.example.com",
                                 "rsa.example.com",
                                 "RSA",
                                 {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                                  "ECDHE-RSA-CHACHA20-POLY1305"}},
                                {"ec.example.com",
                                 "ec.example.com",
                                 "EC",
                                 {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                  "ECDHE-ECDSA-CHACHA20-POLY1305"}}}) {
    SCOPED_TRACE(want.sni);
    CommandResult scan =
        run_command({"sslscan", "--xml=-", "--no-colour", "--sni-name=" + want.sni, at}, 120s);
    ASSERT_TRUE(scan.exited_with(0)) << scan.describe();
    const std::string& xml = scan.out;
    ASSERT_EQ(xml.find("<error>"), std::string::npos) << xml;
    std::map<std::string, std::string> protocols;
    for (const auto& m :
         all(xml, R"re(<protocol type="(\w+)" version="([\d.]+)" enabled="(\d)")re"))
      protocols[m[1].str() + m[2].str()] = m[3];
    EXPECT_EQ(protocols, (std::map<std::string, std::string>{{"ssl2", "0"},
                                                             {"ssl3", "0"},
                                                             {"tls1.0", "0"},
                                                             {"tls1.1", "0"},
                                                             {"tls1.2", "1"},
                                                             {"tls1.3", "1"}}))
        << xml;
    std::map<std::string, std::set<std::string>> suites;
    for (const auto& m :
         all(xml, R"re(<cipher status="\w+" sslversion="([^"]+)"[^>]* cipher="([^"]+)")re"))
      suites[m[1]].insert(m[2]);
    EXPECT_EQ(suites, (std::map<std::string, std::set<std::string>>{{"TLSv1.2", want.tls12_suites},
                                                                    {"TLSv1.3", tls13_suites}}))
        << xml;
    std::set<std::string> groups;
    for (const auto& m : all(xml, R"re(<group sslversion="[^"]+" bits="\d+" name="([^" ]+))re"))
      groups.insert(m[1]);
    EXPECT_FALSE(groups.empty()) << xml;
    for (const auto& g : groups)
      EXPECT_TRUE(g == "x25519" || g == "secp256r1" || g == "secp384r1") << g;
    EXPECT_NE(xml.find(R"(<renegotiation supported="0")"), std::string::npos) << xml;
    EXPECT_FALSE(all(xml, R"re(<heartbleed sslversion="[^"]+" vulnerable="0")re").empty()) << xml;
    EXPECT_EQ(xml.find(R"(vulnerable="1")"), std::string::npos) << xml;
    auto subject = all(xml, R"re(<subject><!\[CDATA\[([^\]]*)\]\]>)re");
    ASSERT_EQ(subject.size(), 1u) << xml;
    EXPECT_EQ(subject[0][1], want.subject);
    auto key = all(xml, R"re(<pk error="false" type="(\w+)"[^>]* bits="(\d+)")re");
    ASSERT_EQ(key.size(), 1u) << xml;
    EXPECT_EQ(key[0][1], want.key_type);
    if (want.key_type == "RSA") {
      EXPECT_GE(std::stoi(key[0][2]), 2048);
    }
  }
  // No TLS compression, whatever the client offers.
  CommandResult s = run_command({"openssl", "s_client", "-connect", at, "-tls1_2", "-comp"}, 15s);
  EXPECT_NE(s.out.find("Compression: NONE"), std::string::npos) << s.out + s.err;
}

TEST_F(TlsTest, HttpRedirectsToHttpsHstsAndForwardedHeaders) {
  start_app();
  Cert c = make_cert("site", {"secure.example.com"}, true);
  write_manifest("tls.yaml",
                 k8s::documents({secret("site", c.crt_pem, c.key_pem),
                                 tls_ingress("site", {"secure.example.com"}, "site", "web"),
                                 k8s::ingress(k8s::simple_ingress("plain", "plain.example.com", "/",
                                                                  "web"))}));
  Strait& s = start_strait({.args = {"--ssl-redirect-port=443"}});
  // Plain HTTP to a TLS host: 308 to https, path and query kept, nothing reaches the pod.
  auto r = get("secure.example.com", "/a/b?c=d");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 308);
  ASSERT_NE(r->header("Location"), nullptr);
  EXPECT_EQ(*r->header("Location"), "https://secure.example.com/a/b?c=d");
  EXPECT_EQ(stats(*pod).requests, 0u);
  // A host without TLS is served over HTTP as usual, without HSTS.
  auto plain = get("plain.example.com", "/");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->status, 200);
  EXPECT_EQ(plain->header("Strict-Transport-Security"), nullptr);
  // Over HTTPS: HSTS, and the pod learns the request came in over TLS on the HTTPS port.
  CurlResult h = https("secure.example.com", "/x", c);
  ASSERT_EQ(h.status(), 200) << h.describe();
  ASSERT_NE(h.head().header("Strict-Transport-Security"), nullptr) << h.describe();
  EXPECT_EQ(*h.head().header("Strict-Transport-Security"), "max-age=31536000; includeSubDomains");
  auto echo = nlohmann::json::parse(h.body);
  EXPECT_EQ(echo_header_values(echo, "X-Forwarded-Proto"), std::vector<std::string>{"https"});
  EXPECT_EQ(echo_header_values(echo, "X-Forwarded-Port"),
            std::vector<std::string>{std::to_string(s.https_port)});
}

TEST_F(TlsTest, AKeyUpdateAskedForIsAnsweredAndTheConnectionGoesOn) {
  // The client rotates its keys and asks strait to do the same: strait's answer is output made
  // while reading, and both sides must agree on the new keys for the next exchanges.
  start_app();
  Cert c = make_cert("site", {"keys.example.com"}, true);
  write_manifest("tls.yaml",
                 k8s::documents({secret("site", c.crt_pem, c.key_pem),
                                 tls_ingress("site", {"keys.example.com"}, "site", "web")}));
  start_strait();
  OpensslClient client(strait().address, strait().https_port, "keys.example.com");
  ASSERT_TRUE(client.connected());
  const std::string request = "GET /k HTTP/1.1\r\nHost: keys.example.com\r\n";
  ASSERT_TRUE(client.send(request + "\r\n"));
  ASSERT_EQ(client.read_response(), 200);
  ASSERT_EQ(SSL_key_update(client.ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
  // A head longer than one read of an idle connection: the rest waits inside OpenSSL.
  ASSERT_TRUE(client.send(request + "X-Padding: " + std::string(2000, 'p') + "\r\n\r\n"));
  std::string body;
  ASSERT_EQ(client.read_response(&body), 200);
  EXPECT_EQ(echo_header_values(nlohmann::json::parse(body), "X-Padding").at(0).size(), 2000u);
  EXPECT_EQ(client.key_updates_received(), 1) << "strait did not update its keys";
  ASSERT_TRUE(client.send(request + "\r\n"));
  EXPECT_EQ(client.read_response(), 200);
}

TEST_F(TlsTest, BrokenSecretBesideAGoodOneOnlyAffectsItsHost) {
  start_app();
  Cert good = make_cert("good", {"good.example.com"}, true);
  Cert other = make_cert("other", {"bad.example.com"}, true);
  // The key does not belong to the certificate.
  write_manifest("tls.yaml",
                 k8s::documents({secret("good", good.crt_pem, good.key_pem),
                                 secret("bad", other.crt_pem, good.key_pem),
                                 tls_ingress("good", {"good.example.com"}, "good", "web"),
                                 tls_ingress("bad", {"bad.example.com"}, "bad", "web")}));
  start_strait();
  EXPECT_TRUE(await_log("TLS Secret default/bad \\(Ingress default/bad\\): tls.key does not match"))
      << strait_log();
  EXPECT_EQ(served_cn("good.example.com"), "good.example.com");
  EXPECT_EQ(served_cn("bad.example.com"), "Kubernetes Ingress Controller Fake Certificate");
  EXPECT_EQ(https("good.example.com", "/", good).status(), 200);
}

// An open TLS connection through openssl s_client, driven over its stdin/stdout.
class SClient {
 public:
  SClient(const std::string& at, const std::string& sni)
      : process_({"openssl", "s_client", "-quiet", "-connect", at, "-servername", sni}, [] {
          SpawnOptions o;
          o.stdin_pipe = true;
          o.stdout_pipe = true;
          return o;
        }()) {}
  bool request(const std::string& host, std::string& out) {
    std::string req = "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
    if (::write(process_.stdin_fd(), req.data(), req.size()) != static_cast<ssize_t>(req.size()))
      return false;
    out.clear();
    auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline && out.find("\"pod\"") == std::string::npos) {
      pollfd p{process_.stdout_fd(), POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(process_.stdout_fd(), buf, sizeof buf);
      if (n <= 0) return false;
      out.append(buf, static_cast<size_t>(n));
    }
    return out.find("HTTP/1.1 200") != std::string::npos;
  }

 private:
  Process process_;
};

TEST_F(TlsTest, RotatedSecretAppliesToNewHandshakesWithoutClosingOpenConnections) {
  start_app();
  Cert v1 = make_cert("v1", {"rot.example.com", "v1.rot.example.com"}, true);
  Cert v2 = make_cert("v2", {"rot.example.com", "v2.rot.example.com"}, true);
  auto manifest = [&](const Cert& c) {
    return k8s::documents({secret("rot", c.crt_pem, c.key_pem),
                           tls_ingress("rot", {"rot.example.com"}, "rot", "web")});
  };
  write_manifest("tls.yaml", manifest(v1));
  start_strait();
  ASSERT_EQ(https("rot.example.com", "/", v1).status(), 200);
  SClient open(strait().address + ":" + std::to_string(strait().https_port), "rot.example.com");
  std::string out;
  ASSERT_TRUE(open.request("rot.example.com", out)) << out;

  write_manifest("tls.yaml", manifest(v2));
  // New handshakes get the new certificate...
  EXPECT_TRUE(eventually([&] { return https("rot.example.com", "/", v2).status() == 200; }, 10s));
  EXPECT_NE(https("rot.example.com", "/", v1).status(), 200);
  // ...and the connection opened before the rotation keeps working.
  EXPECT_TRUE(open.request("rot.example.com", out)) << out;
}

}  // namespace
}  // namespace it
