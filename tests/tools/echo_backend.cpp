// echo_backend: a small HTTP/1.1 origin server that plays a pod behind strait in the integration
// tests, the demo and the benchmarks.
//
//   echo_backend --listen 127.0.1.1:8080 [--listen 127.0.1.1:0 ...] [--name coffee-1]
//
// Every listener prints "listening ADDR:PORT" on stdout once bound (port 0 shows the port the
// kernel chose), so a test can learn its ports. Plain POSIX sockets and one thread per connection:
// no dependencies, nothing shared but three counters. Bodies are read and written in constant
// memory, whatever their size.
//
// Endpoints (any method; HEAD gets the head only):
//   /bytes/N[?chunked=1]  N bytes of the pattern byte[i] = 'a' + i % 26, Content-Length or chunked
//   /status/CODE          that status (200..599) with a small text body
//   /delay/MS             waits MS milliseconds, then answers like any other path
//   /close                answers, with Connection: close, and closes the connection
//   /fault/MODE           misbehaves as MODE (below) for this request
//   /__control/fault/MODE every later request (but /__stats and /__control) misbehaves as MODE;
//                         MODE "none" restores normal answers (--fault MODE sets it at start)
//   /__control/graceful   SIGTERM then stops like a pod's server would (see --graceful-stop)
//   /__stats              {"requests":N,"bytes_received":N,"connections":N}: request heads
//   received,
//                         request body bytes received and connections accepted so far, not counting
//                         /__stats requests themselves (a request is counted as soon as its head
//                         arrives, so a cut-short request still shows)
//   anything else         200 application/json, the request as the backend saw it:
//     {"pod":NAME,"method":..,"target":..,"version":..,"headers":[[name,value],...],
//      "body_bytes":N,"body_fnv1a64":"16 hex digits","local":"ADDR:PORT","peer":"ADDR:PORT"}
// A request header "X-Echo-Response-Header: Name: Value" (repeatable) adds "Name: Value" to the
// response; a Date, Content-Type or Server given that way replaces the default one (the server
// sends no Server header by default), which lets tests check what a proxy does with response
// headers.
//
// Fault modes, to play a failing pod (each reads the whole request first):
//   garbage         answers bytes that are not HTTP, then keeps the connection open
//   reset           resets the connection (RST) without answering
//   reset-mid-body  sends a 200 head announcing 1 MiB and 64 KiB of it, then resets
//   stall           never answers; holds the connection until the client closes it
//   big-head        a 200 whose head is 80 KiB (40 fields of 2000 bytes)
//   close-after-response  a complete 200 without "Connection: close", then closes the connection,
//                   the FIN in the same segment as the response
// With --graceful-stop (or after /__control/graceful), SIGTERM stops accepting (the listeners
// close: new connections are refused), closes idle keep-alive connections, lets requests in
// progress finish (answered with Connection: close) and exits once none is left (30 s at most).
// Without it, SIGTERM exits at once.
//
// Strings are JSON-escaped; bytes >= 0x80 are written as \u00XX so the output is always
// valid JSON.
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

std::atomic<uint64_t> g_requests{0};
std::atomic<uint64_t> g_bytes_received{0};
std::atomic<uint64_t> g_connections{0};
std::string g_name = "echo";

enum class Fault : int {
  None,
  Garbage,
  Reset,
  ResetMidBody,
  Stall,
  BigHead,
  CloseAfterResponse,
  Unknown
};
std::atomic<int> g_fault{static_cast<int>(Fault::None)};
std::atomic<bool> g_graceful_stop{false};
std::atomic<bool> g_draining{false};

Fault parse_fault(std::string_view name) {
  if (name == "none") return Fault::None;
  if (name == "garbage") return Fault::Garbage;
  if (name == "reset") return Fault::Reset;
  if (name == "reset-mid-body") return Fault::ResetMidBody;
  if (name == "stall") return Fault::Stall;
  if (name == "big-head") return Fault::BigHead;
  if (name == "close-after-response") return Fault::CloseAfterResponse;
  return Fault::Unknown;
}

// Open connections and whether each waits for a request (idle), for the graceful stop.
std::mutex g_open_mutex;
std::unordered_map<int, bool> g_open;  // fd -> idle

size_t open_connections() {
  std::lock_guard lock(g_open_mutex);
  return g_open.size();
}

void set_idle(int fd, bool idle) {
  std::lock_guard lock(g_open_mutex);
  g_open[fd] = idle;
}

constexpr size_t kMaxHead = 64 * 1024;
constexpr size_t kBufferSize = 2 * kMaxHead;
constexpr size_t kMaxLine = 8 * 1024;  // chunk-size and trailer lines
// 2520 * 26 bytes: every block of the pattern starts with 'a', so blocks can be sent back to back.
constexpr size_t kPatternBlock = 26 * 2520;

const std::string& pattern_block() {
  static const std::string block = [] {
    std::string b(kPatternBlock, '\0');
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>('a' + i % 26);
    return b;
  }();
  return block;
}

struct Fnv1a64 {
  uint64_t hash = 0xcbf29ce484222325ULL;
  void update(const char* data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      hash ^= static_cast<unsigned char>(data[i]);
      hash *= 0x100000001b3ULL;
    }
  }
  std::string hex() const {
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(hash));
    return out;
  }
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto la = static_cast<char>(std::tolower(static_cast<unsigned char>(a[i])));
    const auto lb = static_cast<char>(std::tolower(static_cast<unsigned char>(b[i])));
    if (la != lb) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when the comma-separated header value holds token (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// True when the query string holds the parameter item ("name=value") exactly.
bool query_has(std::string_view query, std::string_view item) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    if (query.substr(0, amp) == item) return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

template <typename T>
bool parse_number(std::string_view s, T& out, int base = 10) {
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && ptr == s.data() + s.size();
}

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", u);
      out += esc;
    } else {
      out += c;
    }
  }
  out += '"';
}

std::string http_date() {
  char buf[64];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string address_text(const sockaddr_in& sa) {
  char ip[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(sa.sin_port));
}

const char* reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

struct Request {
  std::string method;
  std::string target;
  std::string version;
  std::vector<std::pair<std::string, std::string>> headers;

  const std::string* header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (iequals(n, name)) return &v;
    return nullptr;
  }
  std::string_view path() const { return std::string_view(target).substr(0, target.find('?')); }
  std::string_view query() const {
    const size_t q = target.find('?');
    return q == std::string::npos ? std::string_view() : std::string_view(target).substr(q + 1);
  }
};

class Connection {
 public:
  Connection(int fd, std::string local, std::string peer)
      : fd_(fd), local_(std::move(local)), peer_(std::move(peer)), buf_(kBufferSize) {
    set_idle(fd_, true);
  }
  ~Connection() {
    {
      std::lock_guard lock(g_open_mutex);
      g_open.erase(fd_);
    }
    ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void serve() {
    // A draining server answers what it has started and then closes (as Go's Shutdown does).
    while (serve_one() && !g_draining.load()) {
      if (buffered().empty()) set_idle(fd_, true);
    }
  }

 private:
  // One request/response exchange; false when the connection must end.
  bool serve_one() {
    std::string head;
    const int head_status = read_head(head);
    if (head_status == 0) return false;
    if (head_status != 200) {
      send_simple(head_status, "bad request head\n", false);
      return false;
    }
    Request req;
    if (!parse_head(head, req)) {
      send_simple(400, "bad request\n", false);
      return false;
    }
    const bool stats = req.path() == "/__stats" || req.path().starts_with("/__control/");
    if (!stats) g_requests.fetch_add(1, std::memory_order_relaxed);
    if (const std::string* upgrade = req.header("Upgrade");
        upgrade && has_token(*upgrade, "websocket")) {
      return websocket_echo(req);
    }

    // Framing of the request body.
    bool chunked = false;
    uint64_t content_length = 0;
    if (const std::string* te = req.header("Transfer-Encoding")) {
      std::string_view codings = *te;
      const size_t comma = codings.rfind(',');
      const std::string_view last =
          trim(comma == std::string_view::npos ? codings : codings.substr(comma + 1));
      if (!iequals(last, "chunked")) {
        send_simple(400, "unsupported transfer-encoding\n", false);
        return false;
      }
      chunked = true;
    } else {
      bool seen = false;
      for (const auto& [n, v] : req.headers) {
        if (!iequals(n, "Content-Length")) continue;
        uint64_t cl = 0;
        if (!parse_number(trim(v), cl) || (seen && cl != content_length)) {
          send_simple(400, "bad content-length\n", false);
          return false;
        }
        content_length = cl;
        seen = true;
      }
    }
    bool keep_alive = req.version == "HTTP/1.1";
    if (const std::string* conn = req.header("Connection")) {
      if (has_token(*conn, "close")) keep_alive = false;
      if (req.version == "HTTP/1.0" && has_token(*conn, "keep-alive")) keep_alive = true;
    }
    if (req.version != "HTTP/1.1" && req.version != "HTTP/1.0") {
      send_simple(505, "version not supported\n", false);
      return false;
    }
    const std::string* expect = req.header("Expect");
    if (expect && iequals(trim(*expect), "100-continue") && req.version == "HTTP/1.1" &&
        (chunked || content_length > 0)) {
      if (!send_all("HTTP/1.1 100 Continue\r\n\r\n")) return false;
    }

    Fnv1a64 fnv;
    uint64_t body_bytes = 0;
    auto on_body = [&](const char* data, size_t n) {
      fnv.update(data, n);
      body_bytes += n;
      if (!stats) g_bytes_received.fetch_add(n, std::memory_order_relaxed);
    };
    const bool body_ok = chunked ? read_chunked(on_body) : read_exact(content_length, on_body);
    if (!body_ok) return false;
    if (g_draining.load()) keep_alive = false;
    Fault fault = stats ? Fault::None : static_cast<Fault>(g_fault.load());
    if (req.path().starts_with("/fault/")) fault = parse_fault(req.path().substr(7));
    if (fault != Fault::None) return misbehave(fault);
    return respond(req, keep_alive, body_bytes, fnv);
  }

  // Plays a failing pod; false: the connection ends.
  bool misbehave(Fault fault) {
    switch (fault) {
      case Fault::Garbage:
        send_all("SSH-2.0-OpenSSH_9.2p1 this is not HTTP\r\n\r\n");
        wait_for_peer_close();
        return false;
      case Fault::Reset:
        reset();
        return false;
      case Fault::ResetMidBody: {
        std::string head = response_head(200, "application/octet-stream", {}, true);
        head += "Content-Length: 1048576\r\n\r\n";
        if (!send_all(head) || !send_all(std::string_view(pattern_block().data(), 65536)))
          return false;
        // Reset only once the peer has acknowledged those bytes, so it has something to
        // forward before it learns of the reset (bounded: 2 s).
        for (int i = 0; i < 400; ++i) {
          int unacked = 0;
          if (::ioctl(fd_, SIOCOUTQ, &unacked) != 0 || unacked == 0) break;
          ::poll(nullptr, 0, 5);
        }
        reset();
        return false;
      }
      case Fault::Stall:
        wait_for_peer_close();
        return false;
      case Fault::BigHead: {
        std::string head = response_head(200, "text/plain", {}, true);
        for (int i = 0; i < 40; ++i)
          head += "X-Big-" + std::to_string(i) + ": " + std::string(2000, 'b') + "\r\n";
        head += "Content-Length: 3\r\n\r\nbig";
        send_all(head);
        return true;
      }
      case Fault::CloseAfterResponse: {
        // A complete keep-alive response, then the connection ends. Corked, so the FIN rides on
        // the segment that carries the response: the proxy learns of both in one epoll event.
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &one, sizeof one);
        std::string msg = response_head(200, "text/plain", {}, true);
        msg += "Content-Length: 4\r\n\r\nbye\n";
        send_all(msg);
        return false;
      }
      case Fault::None:
        return true;
      case Fault::Unknown:
        break;
    }
    send_simple(400, "unknown fault\n", false);
    return false;
  }

  // SO_LINGER 0: close() sends RST instead of FIN.
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }

  void wait_for_peer_close() {
    char sink[4096];
    while (true) {
      const ssize_t n = ::recv(fd_, sink, sizeof sink, 0);
      if (n == 0 || (n < 0 && errno != EINTR)) return;
    }
  }

  // A WebSocket handshake: 101, then every byte that arrives is sent back as it is (a byte
  // echo, which is what a proxy's tunnel must preserve), until the client closes. The 101 also
  // carries "X-Echo-Connection" with the Connection header the pod received.
  bool websocket_echo(const Request& req) {
    const std::string* conn = req.header("Connection");
    std::string head =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: echo\r\nX-Echo-Connection: " +
        (conn ? *conn : std::string("-")) + "\r\n\r\nhello from " + g_name + "\n";
    if (!send_all(head)) return false;
    for (;;) {
      if (buffered().empty() && !fill()) return false;
      std::string_view data = buffered();
      g_bytes_received.fetch_add(data.size(), std::memory_order_relaxed);
      if (!send_all(data)) return false;
      begin_ += data.size();
    }
  }

  bool respond(const Request& req, bool keep_alive, uint64_t body_bytes, const Fnv1a64& fnv) {
    const std::string_view path = req.path();
    const bool head_only = req.method == "HEAD";
    std::vector<std::pair<std::string, std::string>> extra;
    for (const auto& [n, v] : req.headers) {
      if (!iequals(n, "X-Echo-Response-Header")) continue;
      const size_t colon = v.find(':');
      if (colon == std::string::npos || colon == 0) continue;
      extra.emplace_back(std::string(trim(std::string_view(v).substr(0, colon))),
                         std::string(trim(std::string_view(v).substr(colon + 1))));
    }
    if (path.starts_with("/__control/fault/")) {
      const Fault f = parse_fault(path.substr(17));
      if (f == Fault::Unknown)
        return send_response(400, "text/plain", "unknown fault\n", extra, keep_alive, head_only) &&
               keep_alive;
      g_fault = static_cast<int>(f);
      return send_response(200, "text/plain", "ok\n", extra, keep_alive, head_only) && keep_alive;
    }
    if (path == "/__control/graceful") {
      g_graceful_stop = true;
      return send_response(200, "text/plain", "ok\n", extra, keep_alive, head_only) && keep_alive;
    }
    if (path == "/__stats") {
      std::string body = "{\"requests\":" + std::to_string(g_requests.load()) +
                         ",\"bytes_received\":" + std::to_string(g_bytes_received.load()) +
                         ",\"connections\":" + std::to_string(g_connections.load()) +
                         ",\"open_connections\":" + std::to_string(open_connections()) + "}";
      return send_response(200, "application/json", body, extra, keep_alive, head_only) &&
             keep_alive;
    }
    if (path.starts_with("/bytes/")) {
      uint64_t n = 0;
      if (!parse_number(path.substr(7), n)) {
        return send_response(400, "text/plain", "bad byte count\n", extra, keep_alive, head_only) &&
               keep_alive;
      }
      return send_pattern(n, query_has(req.query(), "chunked=1"), extra, keep_alive, head_only) &&
             keep_alive;
    }
    if (path.starts_with("/status/")) {
      int code = 0;
      if (!parse_number(path.substr(8), code) || code < 200 || code > 599) {
        return send_response(400, "text/plain", "bad status\n", extra, keep_alive, head_only) &&
               keep_alive;
      }
      const bool bodiless = code == 204 || code == 304;
      return send_response(code, "text/plain",
                           bodiless ? std::string() : "status " + std::to_string(code) + "\n",
                           extra, keep_alive, head_only, bodiless) &&
             keep_alive;
    }
    if (path.starts_with("/delay/")) {
      uint64_t ms = 0;
      if (!parse_number(path.substr(7), ms)) {
        return send_response(400, "text/plain", "bad delay\n", extra, keep_alive, head_only) &&
               keep_alive;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<uint64_t>(ms, 600000)));
    }
    if (path == "/close") keep_alive = false;
    return send_response(200, "application/json", echo_json(req, body_bytes, fnv), extra,
                         keep_alive, head_only) &&
           keep_alive;
  }

  std::string echo_json(const Request& req, uint64_t body_bytes, const Fnv1a64& fnv) const {
    std::string out;
    out.reserve(512);
    out += "{\"pod\":";
    json_string(out, g_name);
    out += ",\"method\":";
    json_string(out, req.method);
    out += ",\"target\":";
    json_string(out, req.target);
    out += ",\"version\":";
    json_string(out, req.version);
    out += ",\"headers\":[";
    for (size_t i = 0; i < req.headers.size(); ++i) {
      if (i) out += ',';
      out += '[';
      json_string(out, req.headers[i].first);
      out += ',';
      json_string(out, req.headers[i].second);
      out += ']';
    }
    out += "],\"body_bytes\":" + std::to_string(body_bytes) + ",\"body_fnv1a64\":\"" + fnv.hex() +
           "\",\"local\":";
    json_string(out, local_);
    out += ",\"peer\":";
    json_string(out, peer_);
    out += "}\n";
    return out;
  }

  static bool overridden(const std::vector<std::pair<std::string, std::string>>& extra,
                         std::string_view name) {
    return std::any_of(extra.begin(), extra.end(),
                       [&](const auto& h) { return iequals(h.first, name); });
  }

  std::string response_head(int status, std::string_view content_type,
                            const std::vector<std::pair<std::string, std::string>>& extra,
                            bool keep_alive) const {
    std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
    if (!overridden(extra, "Date")) head += "Date: " + http_date() + "\r\n";
    if (!overridden(extra, "Content-Type") && !content_type.empty())
      head += "Content-Type: " + std::string(content_type) + "\r\n";
    for (const auto& [n, v] : extra) head += n + ": " + v + "\r\n";
    if (!keep_alive) head += "Connection: close\r\n";
    return head;
  }

  bool send_response(int status, std::string_view content_type, const std::string& body,
                     const std::vector<std::pair<std::string, std::string>>& extra, bool keep_alive,
                     bool head_only, bool bodiless = false) {
    std::string msg = response_head(status, bodiless ? "" : content_type, extra, keep_alive);
    if (!bodiless) msg += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    msg += "\r\n";
    if (!head_only) msg += body;
    return send_all(msg);
  }

  bool send_pattern(uint64_t n, bool chunked,
                    const std::vector<std::pair<std::string, std::string>>& extra, bool keep_alive,
                    bool head_only) {
    std::string head = response_head(200, "application/octet-stream", extra, keep_alive);
    head += chunked ? "Transfer-Encoding: chunked\r\n"
                    : "Content-Length: " + std::to_string(n) + "\r\n";
    head += "\r\n";
    if (!send_all(head)) return false;
    if (head_only) return true;
    const std::string& block = pattern_block();
    uint64_t left = n;
    while (left > 0) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(left, block.size()));
      if (chunked) {
        char size_line[32];
        const int sl = std::snprintf(size_line, sizeof size_line, "%zx\r\n", len);
        iovec iov[3] = {{size_line, static_cast<size_t>(sl)},
                        {const_cast<char*>(block.data()), len},
                        {const_cast<char*>("\r\n"), 2}};
        if (!send_iov(iov, 3)) return false;
      } else if (!send_all(std::string_view(block.data(), len))) {
        return false;
      }
      left -= len;
    }
    return !chunked || send_all("0\r\n\r\n");
  }

  void send_simple(int status, const std::string& body, bool keep_alive) {
    send_response(status, "text/plain", body, {}, keep_alive, false);
  }

  bool send_all(std::string_view data) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    return send_iov(&iov, 1);
  }

  bool send_iov(iovec* iov, int count) {
    while (count > 0) {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(count);
      const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      auto left = static_cast<size_t>(n);
      while (count > 0 && left >= iov->iov_len) {
        left -= iov->iov_len;
        ++iov;
        --count;
      }
      if (count > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + left;
        iov->iov_len -= left;
      }
    }
    return true;
  }

  // Reads more bytes into the buffer; false on EOF or error.
  bool fill() {
    if (begin_ == end_) begin_ = end_ = 0;
    if (end_ == buf_.size()) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      if (end_ == buf_.size()) return false;
    }
    for (;;) {
      const ssize_t n = ::recv(fd_, buf_.data() + end_, buf_.size() - end_, 0);
      if (n > 0) {
        end_ += static_cast<size_t>(n);
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
  }

  std::string_view buffered() const { return {buf_.data() + begin_, end_ - begin_}; }

  // 200 with the head (request line and headers) in out, 0 when the peer closed cleanly between
  // requests, 400/431 for a broken or oversized head.
  int read_head(std::string& out) {
    size_t scanned = 0;
    for (;;) {
      // Tolerate empty lines before a request line (RFC 9112 2.2).
      while (buffered().starts_with("\r\n")) begin_ += 2;
      const std::string_view data = buffered();
      const size_t end = data.find("\r\n\r\n", scanned > 3 ? scanned - 3 : 0);
      if (end != std::string_view::npos) {
        out.assign(data.substr(0, end + 2));
        begin_ += end + 4;
        return 200;
      }
      scanned = data.size();
      if (data.size() >= kMaxHead) return 431;
      const bool had_bytes = !data.empty();
      if (!fill()) return had_bytes ? 400 : 0;
      if (!had_bytes) set_idle(fd_, false);
    }
  }

  static bool parse_head(const std::string& head, Request& req) {
    std::string_view rest = head;
    size_t eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    const size_t sp1 = line.find(' ');
    const size_t sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp1 == sp2 || sp1 == 0) return false;
    req.method = line.substr(0, sp1);
    req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    req.version = line.substr(sp2 + 1);
    if (req.target.empty() || req.target.find(' ') != std::string::npos) return false;
    while (!rest.empty()) {
      eol = rest.find("\r\n");
      const std::string_view h = rest.substr(0, eol);
      rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 2);
      if (h.empty()) continue;
      if (h.front() == ' ' || h.front() == '\t') return false;  // obsolete line folding
      const size_t colon = h.find(':');
      if (colon == std::string_view::npos || colon == 0) return false;
      const std::string_view name = h.substr(0, colon);
      if (name.find_first_of(" \t") != std::string_view::npos) return false;
      req.headers.emplace_back(std::string(name), std::string(trim(h.substr(colon + 1))));
    }
    return true;
  }

  template <typename Sink>
  bool read_exact(uint64_t n, Sink& sink) {
    while (n > 0) {
      if (begin_ == end_ && !fill()) return false;
      const size_t take = static_cast<size_t>(std::min<uint64_t>(n, end_ - begin_));
      sink(buf_.data() + begin_, take);
      begin_ += take;
      n -= take;
    }
    return true;
  }

  bool read_line(std::string& line) {
    size_t scanned = 0;
    for (;;) {
      const std::string_view data = buffered();
      const size_t eol = data.find("\r\n", scanned > 0 ? scanned - 1 : 0);
      if (eol != std::string_view::npos) {
        line.assign(data.substr(0, eol));
        begin_ += eol + 2;
        return true;
      }
      scanned = data.size();
      if (data.size() > kMaxLine || !fill()) return false;
    }
  }

  template <typename Sink>
  bool read_chunked(Sink& sink) {
    std::string line;
    for (;;) {
      if (!read_line(line)) return false;
      std::string_view size_text = line;
      size_text = trim(size_text.substr(0, size_text.find(';')));
      uint64_t size = 0;
      if (!parse_number(size_text, size, 16)) {
        send_simple(400, "bad chunk size\n", false);
        return false;
      }
      if (size == 0) break;
      if (!read_exact(size, sink)) return false;
      std::string crlf;
      if (!read_line(crlf) || !crlf.empty()) {
        send_simple(400, "bad chunk end\n", false);
        return false;
      }
    }
    for (;;) {  // trailer section, ignored
      if (!read_line(line)) return false;
      if (line.empty()) return true;
    }
  }

  int fd_;
  std::string local_;
  std::string peer_;
  std::vector<char> buf_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

struct ConnectionArgs {
  int fd;
  std::string local;
  std::string peer;
};

void* connection_main(void* arg) {
  auto* args = static_cast<ConnectionArgs*>(arg);
  {
    Connection conn(args->fd, std::move(args->local), std::move(args->peer));
    delete args;
    conn.serve();
  }
  return nullptr;
}

void accept_loop(int listen_fd, std::string local) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (;;) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        ::poll(nullptr, 0, 10);  // out of descriptors: give other connections time to end
        continue;
      }
      if (g_draining.load()) return;  // the listener was shut down by the graceful stop
      std::fprintf(stderr, "echo_backend: accept on %s: %s\n", local.c_str(), std::strerror(errno));
      return;
    }
    g_connections.fetch_add(1, std::memory_order_relaxed);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto* args = new ConnectionArgs{fd, local, address_text(peer)};
    pthread_t thread;
    if (pthread_create(&thread, &attr, connection_main, args) != 0) {
      ::close(fd);
      delete args;
    }
  }
}

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "echo_backend: %s\n", message.c_str());
  std::fprintf(stderr,
               "usage: echo_backend --listen ADDR:PORT [--listen ...] [--name NAME] "
               "[--fault MODE] [--graceful-stop]\n");
  std::exit(2);
}

int open_listener(const std::string& spec, std::string& bound) {
  const size_t colon = spec.rfind(':');
  if (colon == std::string::npos) usage_error("--listen wants ADDR:PORT, got '" + spec + "'");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  uint16_t port = 0;
  if (inet_pton(AF_INET, spec.substr(0, colon).c_str(), &sa.sin_addr) != 1 ||
      !parse_number(std::string_view(spec).substr(colon + 1), port)) {
    usage_error("--listen wants IPv4ADDR:PORT, got '" + spec + "'");
  }
  sa.sin_port = htons(port);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(fd, SOMAXCONN) != 0) {
    std::fprintf(stderr, "echo_backend: cannot listen on %s: %s\n", spec.c_str(),
                 std::strerror(errno));
    std::exit(1);
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  bound = address_text(sa);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> listens;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    const size_t eq = arg.find('=');
    const bool inline_value = arg.starts_with("--") && eq != std::string::npos;
    if (inline_value) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: echo_backend --listen ADDR:PORT [--listen ...] [--name NAME] [--fault MODE] "
          "[--graceful-stop]\n");
      return 0;
    }
    if (arg == "--graceful-stop") {
      g_graceful_stop = true;
      continue;
    }
    if (arg != "--listen" && arg != "--name" && arg != "--fault")
      usage_error("unknown flag " + arg);
    if (!inline_value) {
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      value = argv[++i];
    }
    if (arg == "--listen") {
      listens.push_back(value);
    } else if (arg == "--fault") {
      const Fault f = parse_fault(value);
      if (f == Fault::Unknown) usage_error("unknown fault " + value);
      g_fault = static_cast<int>(f);
    } else {
      g_name = value;
    }
  }
  if (listens.empty()) listens.push_back("127.0.0.1:0");

  // Signals are taken synchronously by main; every other thread inherits the blocked mask.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::vector<int> listeners;
  for (const std::string& spec : listens) {
    std::string bound;
    const int fd = open_listener(spec, bound);
    listeners.push_back(fd);
    std::printf("listening %s\n", bound.c_str());
    std::fflush(stdout);
    std::thread(accept_loop, fd, bound).detach();
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  if (g_graceful_stop.load()) {
    // As a pod's server does on SIGTERM: no new connections, idle keep-alive connections
    // closed, requests in progress answered (with Connection: close), then exit.
    g_draining = true;
    for (const int fd : listeners) ::shutdown(fd, SHUT_RDWR);  // wakes accept(); refuses SYNs
    for (const int fd : listeners) ::close(fd);
    for (int i = 0; i < 3000; ++i) {
      {
        std::lock_guard lock(g_open_mutex);
        for (const auto& [fd, idle] : g_open)
          if (idle) ::shutdown(fd, SHUT_RDWR);
        if (g_open.empty()) break;
      }
      ::poll(nullptr, 0, 10);
    }
  }
  std::fflush(stdout);
  std::fflush(stderr);
  // Connection threads are detached and may be mid-request: leave without running destructors.
  std::_Exit(0);
}
