// Real HTTP clients run as child processes: curl for requests as users send them, wrk for load.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "harness/net.hpp"
#include "harness/process.hpp"

namespace it {

// One transfer as curl's --write-out reports it.
struct CurlTransfer {
  int status = 0;
  int num_connects = 0;
  uint64_t size_upload = 0;
  uint64_t size_download = 0;
  double time_total = 0;
};

struct CurlResult {
  CommandResult command;
  std::vector<CurlTransfer> transfers;  // one per URL, in order
  std::vector<HttpResponse> heads;      // every response head curl saw (-D), 1xx included
  std::string body;                     // the bodies of every transfer, concatenated
  bool ok() const { return command.exited_with(0); }
  int status() const { return transfers.empty() ? 0 : transfers.back().status; }
  // The last final (non-1xx) response head.
  const HttpResponse& head() const;
  std::string describe() const;
};

// Runs curl -sS with the given arguments (URLs included), keeping its output in scratch_dir.
CurlResult run_curl(const std::filesystem::path& scratch_dir, const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = 30s);

struct WrkResult {
  CommandResult command;
  bool parsed = false;  // the summary lines were found
  uint64_t requests = 0;
  uint64_t ok_2xx = 0;   // counted by the Lua script: 200..299
  uint64_t not_2xx = 0;  // everything else
  uint64_t connect_errors = 0, read_errors = 0, write_errors = 0, timeouts = 0;
  uint64_t non_2xx_3xx = 0;  // wrk's own "Non-2xx or 3xx responses"
  uint64_t socket_errors() const { return connect_errors + read_errors + write_errors + timeouts; }
};

// wrk -t threads -c connections -d seconds, with extra headers (e.g. Host), counting statuses
// with a Lua script written into scratch_dir. The run is killed at seconds + 30.
WrkResult run_wrk(const std::filesystem::path& scratch_dir, const std::string& url,
                  const Headers& headers, int threads, int connections, int seconds);

// A transfer whose body is too large to hold: curl runs with a pipe and the body is hashed as it
// streams through this process.
struct StreamResult {
  int wait_status = -1;
  bool timed_out = false;
  std::string curl_stderr;
  int http_status = 0;  // of the last final response head
  HttpResponse head;
  uint64_t bytes = 0;  // downloaded body bytes (download) or uploaded bytes written (upload)
  uint64_t fnv = 0;    // FNV-1a 64 of the downloaded body
  std::string body;    // the (small) response body of an upload
  bool curl_ok() const;
  std::string describe() const;
};

// curl -o - with args (URL, headers...): hashes the body.
StreamResult curl_stream_download(const std::filesystem::path& scratch_dir,
                                  const std::vector<std::string>& args,
                                  std::chrono::milliseconds timeout);
// curl -T - with args: feeds n bytes of the echo pattern on stdin. With content_length the
// request carries Content-Length: n, else curl sends it chunked.
StreamResult curl_stream_upload(const std::filesystem::path& scratch_dir,
                                const std::vector<std::string>& args, uint64_t n,
                                bool content_length, std::chrono::milliseconds timeout);

// Samples a process's VmRSS every few milliseconds on its own thread until destroyed.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid);
  ~RssSampler();
  RssSampler(const RssSampler&) = delete;
  RssSampler& operator=(const RssSampler&) = delete;
  uint64_t peak_kib() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace it
