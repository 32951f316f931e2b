#include "harness/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace it {
namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in make_addr(const std::string& addr, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1)
    throw std::invalid_argument("bad IPv4 address " + addr);
  return sa;
}

int ms_left(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string next_loopback_address() {
  static std::atomic<uint32_t> counter{0};
  const uint32_t n = counter.fetch_add(1);
  const unsigned x = 16 + static_cast<unsigned>(::getpid()) % 200;
  return "127." + std::to_string(x) + "." + std::to_string((n / 250) % 256) + "." +
         std::to_string(n % 250 + 2);
}

std::string next_loopback_subnet() {
  static std::atomic<uint32_t> counter{0};
  const unsigned x = 16 + static_cast<unsigned>(::getpid()) % 200;
  return "127." + std::to_string(x) + "." + std::to_string(200 + counter.fetch_add(1) % 56) + ".";
}

uint16_t free_port(const std::string& addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa = make_addr(addr, 0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind " + addr + ":0: " + std::strerror(errno));
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

int connect_tcp(const std::string& addr, uint16_t port, std::chrono::milliseconds timeout,
                const std::string& bind_addr, int* error) {
  int dummy = 0;
  int& err = error ? *error : dummy;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    err = errno;
    return -1;
  }
  if (!bind_addr.empty()) {
    sockaddr_in local = make_addr(bind_addr, 0);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      err = errno;
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in sa = make_addr(addr, port);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (rc == 1) {
      int so_error = 0;
      socklen_t len = sizeof so_error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
      rc = so_error == 0 ? 0 : -1;
      errno = so_error;
    } else {
      rc = -1;
      errno = ETIMEDOUT;
    }
  }
  if (rc != 0) {
    err = errno;
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  err = 0;
  return fd;
}

bool wait_for_port(const std::string& addr, uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const int fd = connect_tcp(addr, port, 500ms);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

bool connection_refused(const std::string& addr, uint16_t port) {
  int err = 0;
  const int fd = connect_tcp(addr, port, 1s, "", &err);
  if (fd >= 0) {
    ::close(fd);
    return false;
  }
  return err == ECONNREFUSED;
}

Blackhole::Blackhole(const std::string& addr) : addr_(addr) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa = make_addr(addr, 0);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(listener_, 0) != 0) {
    throw std::runtime_error("blackhole: cannot listen on " + addr + ": " + std::strerror(errno));
  }
  socklen_t len = sizeof sa;
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&sa), &len);
  port_ = ntohs(sa.sin_port);
  // Fill the accept queue (backlog 0 holds one connection) until a connect stops completing.
  for (int i = 0; i < 8; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    fillers_.push_back(fd);
    ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 200) == 0) return;  // this SYN was dropped: the queue is full
  }
  throw std::runtime_error("blackhole: the accept queue never filled on " + addr);
}

Blackhole::~Blackhole() {
  for (int fd : fillers_) ::close(fd);
  if (listener_ >= 0) ::close(listener_);
}

uint64_t fnv1a64(std::string_view data, uint64_t hash) {
  for (const char c : data) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string fnv_hex(uint64_t hash) {
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(hash));
  return out;
}

std::string pattern_bytes(uint64_t offset, size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>('a' + (offset + i) % 26);
  return out;
}

uint64_t pattern_fnv1a64(uint64_t n) {
  static const std::string block = pattern_bytes(0, 26 * 2520);
  uint64_t hash = 0xcbf29ce484222325ULL;
  while (n > 0) {
    const size_t len = static_cast<size_t>(std::min<uint64_t>(n, block.size()));
    hash = fnv1a64(std::string_view(block.data(), len), hash);
    n -= len;
  }
  return hash;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> echo_header_values(const nlohmann::json& echo, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& h : echo.at("headers"))
    if (iequals(h.at(0).get<std::string>(), name)) out.push_back(h.at(1).get<std::string>());
  return out;
}

const std::string* HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return &v;
  return nullptr;
}

size_t HttpResponse::header_count(std::string_view name) const {
  return static_cast<size_t>(std::count_if(headers.begin(), headers.end(),
                                           [&](const auto& h) { return iequals(h.first, name); }));
}

nlohmann::json HttpResponse::json() const {
  return nlohmann::json::parse(body);
}

std::string HttpResponse::describe() const {
  std::ostringstream os;
  os << version << " " << status << " " << reason << "\n";
  for (const auto& [n, v] : headers) os << n << ": " << v << "\n";
  os << "\n" << body.substr(0, 2000);
  if (body.size() > 2000) os << "...(" << body.size() << " bytes)";
  return os.str();
}

RawClient::RawClient(RawClient&& other) noexcept {
  *this = std::move(other);
}

RawClient& RawClient::operator=(RawClient&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    buf_ = std::move(other.buf_);
    pos_ = std::exchange(other.pos_, 0);
    eof_ = std::exchange(other.eof_, false);
  }
  return *this;
}

RawClient::~RawClient() {
  close();
}

void RawClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
  pos_ = 0;
  eof_ = false;
}

bool RawClient::connect(const std::string& addr, uint16_t port, const std::string& bind_addr,
                        std::chrono::milliseconds timeout) {
  close();
  int err = 0;
  fd_ = connect_tcp(addr, port, timeout, bind_addr, &err);
  if (fd_ < 0) error_ = "connect " + addr + ":" + std::to_string(port) + ": " + std::strerror(err);
  return fd_ >= 0;
}

bool RawClient::send(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = std::string("send: ") + std::strerror(errno);
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool RawClient::fill(Clock::time_point deadline) {
  if (eof_) {
    error_ = "connection closed by peer";
    return false;
  }
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (1 << 20)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  pollfd p{fd_, POLLIN, 0};
  const int rc = ::poll(&p, 1, ms_left(deadline));
  if (rc == 0) {
    error_ = "timed out waiting for data";
    return false;
  }
  char tmp[65536];
  const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
  if (n <= 0) {
    eof_ = true;
    error_ = n == 0 ? "connection closed by peer" : std::string("recv: ") + std::strerror(errno);
    return false;
  }
  buf_.append(tmp, static_cast<size_t>(n));
  return true;
}

bool RawClient::read_line(std::string& line, Clock::time_point deadline) {
  for (;;) {
    const size_t eol = buf_.find("\r\n", pos_);
    if (eol != std::string::npos) {
      line = buf_.substr(pos_, eol - pos_);
      pos_ = eol + 2;
      return true;
    }
    if (buf_.size() - pos_ > 64 * 1024) {
      error_ = "line too long";
      return false;
    }
    if (!fill(deadline)) return false;
  }
}

bool RawClient::read_exact(uint64_t n, Clock::time_point deadline, HttpResponse& r,
                           const std::function<void(const char*, size_t)>& sink) {
  while (n > 0) {
    if (pos_ == buf_.size() && !fill(deadline)) return false;
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n, buf_.size() - pos_));
    if (sink) {
      sink(buf_.data() + pos_, take);
    } else {
      r.body.append(buf_, pos_, take);
    }
    r.body_bytes += take;
    pos_ += take;
    n -= take;
  }
  return true;
}

std::optional<HttpResponse> RawClient::read_response(
    std::chrono::milliseconds timeout, bool head_request, bool stop_at_interim,
    const std::function<void(const char*, size_t)>& sink) {
  const auto deadline = Clock::now() + timeout;
  HttpResponse r;
  for (;;) {
    std::string line;
    if (!read_line(line, deadline)) return std::nullopt;
    const size_t sp1 = line.find(' ');
    if (sp1 == std::string::npos || !line.starts_with("HTTP/")) {
      error_ = "bad status line: " + line;
      return std::nullopt;
    }
    r.version = line.substr(0, sp1);
    const size_t sp2 = line.find(' ', sp1 + 1);
    const std::string code = line.substr(sp1 + 1, sp2 == std::string::npos ? sp2 : sp2 - sp1 - 1);
    r.reason = sp2 == std::string::npos ? "" : line.substr(sp2 + 1);
    r.status = 0;
    std::from_chars(code.data(), code.data() + code.size(), r.status);
    r.headers.clear();
    for (;;) {
      if (!read_line(line, deadline)) return std::nullopt;
      if (line.empty()) break;
      const size_t colon = line.find(':');
      if (colon == std::string::npos) {
        error_ = "bad header line: " + line;
        return std::nullopt;
      }
      r.headers.emplace_back(line.substr(0, colon),
                             std::string(trim(std::string_view(line).substr(colon + 1))));
    }
    if (r.status >= 100 && r.status < 200 && r.status != 101) {
      if (stop_at_interim) return r;
      r.interim.push_back(r.status);
      continue;
    }
    break;
  }
  if (head_request || r.status == 204 || r.status == 304 || r.status == 101) return r;
  const std::string* te = r.header("Transfer-Encoding");
  if (te && to_lower(*te).find("chunked") != std::string::npos) {
    r.chunked = true;
    for (;;) {
      std::string line;
      if (!read_line(line, deadline)) return std::nullopt;
      const std::string size_text(trim(std::string_view(line).substr(0, line.find(';'))));
      uint64_t size = 0;
      const auto [p, ec] =
          std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
      if (ec != std::errc() || p != size_text.data() + size_text.size() || size_text.empty()) {
        error_ = "bad chunk size line: " + line;
        return std::nullopt;
      }
      if (size == 0) break;
      if (!read_exact(size, deadline, r, sink)) return std::nullopt;
      if (!read_line(line, deadline) || !line.empty()) {
        error_ = "missing CRLF after chunk";
        return std::nullopt;
      }
    }
    for (;;) {  // trailers
      std::string line;
      if (!read_line(line, deadline)) return std::nullopt;
      if (line.empty()) break;
    }
    return r;
  }
  if (const std::string* cl = r.header("Content-Length")) {
    uint64_t n = 0;
    std::from_chars(cl->data(), cl->data() + cl->size(), n);
    if (!read_exact(n, deadline, r, sink)) return std::nullopt;
    return r;
  }
  // Delimited by the end of the connection.
  for (;;) {
    if (pos_ < buf_.size()) read_exact(buf_.size() - pos_, deadline, r, sink);
    if (!fill(deadline)) break;
  }
  if (!eof_) return std::nullopt;
  return r;
}

bool RawClient::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!eof_) {
    pos_ = buf_.size();
    if (!fill(deadline) && !eof_) return false;
  }
  return true;
}

bool RawClient::idle_now() {
  if (pos_ < buf_.size() || eof_) return false;
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

std::optional<HttpResponse> http_get(const std::string& addr, uint16_t port,
                                     const std::string& host, const std::string& path,
                                     const Headers& extra, std::chrono::milliseconds timeout) {
  RawClient c;
  if (!c.connect(addr, port)) return std::nullopt;
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n";
  for (const auto& [n, v] : extra) req += n + ": " + v + "\r\n";
  req += "Connection: close\r\n\r\n";
  if (!c.send(req)) return std::nullopt;
  return c.read_response(timeout);
}

}  // namespace it
