// Loopback networking for the integration tests: address and port allocation, waiting for a
// listener, and a raw HTTP/1.1 client for byte-exact checks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace it {

using namespace std::chrono_literals;

// A fresh 127.X.Y.Z for each call (X derived from the process id, so concurrent test runs on the
// machine rarely share addresses). Never 127.0.0.0/16.
std::string next_loopback_address();
// A fresh "127.X.Z." prefix (Z >= 200, never used by next_loopback_address()) for tests that need
// a whole /24 of addresses, such as the example manifests' 127.0.1.x.
std::string next_loopback_subnet();
// A port that was free on addr a moment ago (bind to port 0, read it back, close).
uint16_t free_port(const std::string& addr);
// Connected TCP socket (blocking, CLOEXEC) or -1; bind_addr picks the client's source address.
int connect_tcp(const std::string& addr, uint16_t port, std::chrono::milliseconds timeout = 2s,
                const std::string& bind_addr = "", int* error = nullptr);
// Polls until addr:port accepts a connection.
bool wait_for_port(const std::string& addr, uint16_t port, std::chrono::milliseconds timeout);
// True if a connection attempt to addr:port is refused right now.
bool connection_refused(const std::string& addr, uint16_t port);

uint64_t fnv1a64(std::string_view data, uint64_t hash = 0xcbf29ce484222325ULL);
std::string fnv_hex(uint64_t hash);
// The echo_backend /bytes pattern: byte i is 'a' + i % 26. Hash of its first n bytes.
uint64_t pattern_fnv1a64(uint64_t n);
std::string pattern_bytes(uint64_t offset, size_t n);

// A listener that never completes a connection: its accept queue is full and nobody accepts, so
// new SYNs are dropped and a connect() to it hangs until its own timeout. An upstream "blackhole".
class Blackhole {
 public:
  explicit Blackhole(const std::string& addr);
  ~Blackhole();
  Blackhole(const Blackhole&) = delete;
  Blackhole& operator=(const Blackhole&) = delete;
  const std::string& address() const { return addr_; }
  uint16_t port() const { return port_; }

 private:
  std::string addr_;
  uint16_t port_ = 0;
  int listener_ = -1;
  std::vector<int> fillers_;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  std::string version;
  int status = 0;
  std::string reason;
  Headers headers;
  std::string body;
  uint64_t body_bytes = 0;  // also counted when the body went to a sink
  bool chunked = false;
  std::vector<int> interim;  // 1xx statuses received before this response

  // First value of a header (case-insensitive name) or nullptr.
  const std::string* header(std::string_view name) const;
  size_t header_count(std::string_view name) const;
  // The body parsed as JSON (an echo_backend reply); throws on a bad body.
  nlohmann::json json() const;
  std::string describe() const;
};

bool iequals(std::string_view a, std::string_view b);
std::string to_lower(std::string_view s);
// Values of all headers with this name in an echo_backend "headers" array.
std::vector<std::string> echo_header_values(const nlohmann::json& echo, std::string_view name);

class RawClient {
 public:
  RawClient() = default;
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  RawClient(RawClient&& other) noexcept;
  RawClient& operator=(RawClient&& other) noexcept;
  ~RawClient();

  bool connect(const std::string& addr, uint16_t port, const std::string& bind_addr = "",
               std::chrono::milliseconds timeout = 2s);
  bool connected() const { return fd_ >= 0; }
  bool send(std::string_view data);
  // Reads one response. Interim 1xx responses are collected into HttpResponse::interim unless
  // stop_at_interim, in which case the first one is returned. With a sink, the body is passed to
  // it instead of being stored. nullopt on error or timeout (see error()).
  std::optional<HttpResponse> read_response(
      std::chrono::milliseconds timeout = 10s, bool head_request = false,
      bool stop_at_interim = false, const std::function<void(const char*, size_t)>& sink = nullptr);
  // True once the peer closed the connection (EOF or reset) within timeout; buffered bytes are
  // discarded.
  bool wait_closed(std::chrono::milliseconds timeout);
  // True if no byte and no EOF is waiting right now.
  bool idle_now();
  void close();
  int fd() const { return fd_; }
  const std::string& error() const { return error_; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);
  bool read_line(std::string& line, std::chrono::steady_clock::time_point deadline);
  bool read_exact(uint64_t n, std::chrono::steady_clock::time_point deadline, HttpResponse& r,
                  const std::function<void(const char*, size_t)>& sink);
  int fd_ = -1;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  std::string error_;
};

// One request on a fresh connection: "GET path HTTP/1.1" with Host and Connection: close.
std::optional<HttpResponse> http_get(const std::string& addr, uint16_t port,
                                     const std::string& host, const std::string& path,
                                     const Headers& extra = {},
                                     std::chrono::milliseconds timeout = 10s);

}  // namespace it
