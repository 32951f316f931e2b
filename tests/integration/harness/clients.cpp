#include "harness/clients.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace it {
namespace {

std::string unique_name(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  return std::string(prefix) + "-" + std::to_string(counter.fetch_add(1));
}

uint64_t match_u64(const std::string& text, const std::regex& re, size_t group = 1) {
  std::smatch m;
  if (!std::regex_search(text, m, re)) return 0;
  return std::stoull(m[group].str());
}

// Splits a curl -D file into response heads.
std::vector<HttpResponse> parse_heads(const std::string& text) {
  std::vector<HttpResponse> heads;
  std::istringstream in(text);
  std::string line;
  HttpResponse* cur = nullptr;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.starts_with("HTTP/")) {
      heads.emplace_back();
      cur = &heads.back();
      std::istringstream sl(line);
      sl >> cur->version >> cur->status;
      std::getline(sl, cur->reason);
      if (!cur->reason.empty() && cur->reason.front() == ' ') cur->reason.erase(0, 1);
    } else if (line.empty()) {
      cur = nullptr;
    } else if (cur) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
      cur->headers.emplace_back(line.substr(0, colon), value);
    }
  }
  return heads;
}

}  // namespace

const HttpResponse& CurlResult::head() const {
  static const HttpResponse empty;
  for (auto it = heads.rbegin(); it != heads.rend(); ++it)
    if (it->status >= 200) return *it;
  return empty;
}

std::string CurlResult::describe() const {
  std::ostringstream os;
  os << "curl " << command.describe() << "\n--- last head ---\n"
     << head().describe() << "\n--- body (" << body.size() << " bytes) ---\n"
     << body.substr(0, 2000);
  return os.str();
}

CurlResult run_curl(const std::filesystem::path& scratch_dir, const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout) {
  const std::string name = unique_name("curl");
  const auto body_path = scratch_dir / (name + ".body");
  const auto head_path = scratch_dir / (name + ".head");
  std::vector<std::string> argv = {"curl",
                                   "-sS",
                                   "--max-time",
                                   std::to_string(timeout.count() / 1000.0),
                                   "-o",
                                   body_path.string(),
                                   "-D",
                                   head_path.string(),
                                   "-w",
                                   "%{http_code} %{num_connects} %{size_upload} %{size_download} "
                                   "%{time_total}\\n"};
  // With several URLs, -o applies to the first only: send every body to the same file.
  size_t urls = 0;
  for (const std::string& a : args)
    if (a.starts_with("http://") || a.starts_with("https://")) ++urls;
  for (size_t i = 1; i < urls; ++i) {
    argv.push_back("-o");
    argv.push_back(body_path.string() + "." + std::to_string(i));
  }
  argv.insert(argv.end(), args.begin(), args.end());
  CurlResult r;
  r.command = run_command(argv, timeout + 5s);
  std::istringstream out(r.command.out);
  std::string line;
  while (std::getline(out, line)) {
    CurlTransfer t;
    std::istringstream ls(line);
    double up = 0, down = 0;
    if (ls >> t.status >> t.num_connects >> up >> down >> t.time_total) {
      t.size_upload = static_cast<uint64_t>(up);
      t.size_download = static_cast<uint64_t>(down);
      r.transfers.push_back(t);
    }
  }
  r.heads = parse_heads(read_file(head_path));
  r.body = read_file(body_path);
  for (size_t i = 1; i < urls; ++i)
    r.body += read_file(body_path.string() + "." + std::to_string(i));
  return r;
}

WrkResult run_wrk(const std::filesystem::path& scratch_dir, const std::string& url,
                  const Headers& headers, int threads, int connections, int seconds) {
  const auto script = scratch_dir / (unique_name("wrk") + ".lua");
  {
    std::ofstream out(script);
    out << R"lua(-- Counts 2xx and everything else across all threads.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0 end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format("STRAIT_WRK ok=%d bad=%d\n", o, b))
end
)lua";
  }
  std::vector<std::string> argv = {"wrk",
                                   "-t",
                                   std::to_string(threads),
                                   "-c",
                                   std::to_string(connections),
                                   "-d",
                                   std::to_string(seconds) + "s",
                                   "--timeout",
                                   "5s",
                                   "-s",
                                   script.string()};
  for (const auto& [n, v] : headers) {
    argv.push_back("-H");
    argv.push_back(n + ": " + v);
  }
  argv.push_back(url);
  WrkResult r;
  r.command = run_command(argv, std::chrono::seconds(seconds + 30));
  const std::string& out = r.command.out;
  static const std::regex requests_re(R"((\d+) requests in )");
  static const std::regex counts_re(R"(STRAIT_WRK ok=(\d+) bad=(\d+))");
  static const std::regex socket_re(
      R"(Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+))");
  static const std::regex non2xx_re(R"(Non-2xx or 3xx responses: (\d+))");
  std::smatch m;
  r.parsed = std::regex_search(out, m, requests_re) && std::regex_search(out, counts_re);
  r.requests = match_u64(out, requests_re);
  r.ok_2xx = match_u64(out, counts_re, 1);
  r.not_2xx = match_u64(out, counts_re, 2);
  r.connect_errors = match_u64(out, socket_re, 1);
  r.read_errors = match_u64(out, socket_re, 2);
  r.write_errors = match_u64(out, socket_re, 3);
  r.timeouts = match_u64(out, socket_re, 4);
  r.non_2xx_3xx = match_u64(out, non2xx_re);
  return r;
}

}  // namespace it

namespace it {
namespace {

std::vector<std::string> stream_argv(const std::filesystem::path& head_path,
                                     std::chrono::milliseconds timeout) {
  return {"curl",       "-sS",
          "--max-time", std::to_string(timeout.count() / 1000.0),
          "-D",         head_path.string()};
}

void finish(Process& p, StreamResult& r, const std::filesystem::path& head_path,
            const std::filesystem::path& err_path, Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  auto status = p.wait_exit(std::max(left, std::chrono::milliseconds(1000)));
  if (!status) {
    r.timed_out = true;
    status = p.stop(1s);
  }
  r.wait_status = *status;
  r.curl_stderr = read_file(err_path);
  const auto heads = parse_heads(read_file(head_path));
  for (const auto& h : heads)
    if (h.status >= 200) r.head = h;
  r.http_status = r.head.status;
}

}  // namespace

bool StreamResult::curl_ok() const {
  return !timed_out && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
}

std::string StreamResult::describe() const {
  std::ostringstream os;
  os << "curl " << (timed_out ? "timed out" : describe_wait_status(wait_status))
     << ", stderr: " << curl_stderr << "\nhttp status " << http_status << ", " << bytes
     << " body bytes, fnv " << fnv_hex(fnv) << "\n--- head ---\n"
     << head.describe() << "\n--- body ---\n"
     << body.substr(0, 2000);
  return os.str();
}

StreamResult curl_stream_download(const std::filesystem::path& scratch_dir,
                                  const std::vector<std::string>& args,
                                  std::chrono::milliseconds timeout) {
  const std::string name = unique_name("download");
  const auto head_path = scratch_dir / (name + ".head");
  const auto err_path = scratch_dir / (name + ".err");
  auto argv = stream_argv(head_path, timeout);
  argv.push_back("-o");
  argv.push_back("-");
  argv.insert(argv.end(), args.begin(), args.end());
  const auto deadline = Clock::now() + timeout + 5s;
  Process p(argv, {.stdout_path = {}, .stderr_path = err_path, .stdout_pipe = true});
  StreamResult r;
  r.fnv = 0xcbf29ce484222325ULL;
  std::vector<char> buf(1 << 20);
  for (;;) {
    pollfd pfd{p.stdout_fd(), POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) == 0) break;
    const ssize_t n = ::read(p.stdout_fd(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    r.fnv = fnv1a64(std::string_view(buf.data(), static_cast<size_t>(n)), r.fnv);
    r.bytes += static_cast<uint64_t>(n);
  }
  finish(p, r, head_path, err_path, deadline);
  return r;
}

StreamResult curl_stream_upload(const std::filesystem::path& scratch_dir,
                                const std::vector<std::string>& args, uint64_t n,
                                bool content_length, std::chrono::milliseconds timeout) {
  const std::string name = unique_name("upload");
  const auto head_path = scratch_dir / (name + ".head");
  const auto err_path = scratch_dir / (name + ".err");
  const auto body_path = scratch_dir / (name + ".body");
  auto argv = stream_argv(head_path, timeout);
  argv.insert(argv.end(), {"-o", body_path.string(), "-T", "-"});
  if (content_length) {
    argv.push_back("-H");
    argv.push_back("Content-Length: " + std::to_string(n));
    argv.push_back("-H");
    argv.push_back("Transfer-Encoding:");  // else curl -T - sends both
  }
  argv.insert(argv.end(), args.begin(), args.end());
  const auto deadline = Clock::now() + timeout + 5s;
  Process p(argv, {.stdout_path = {}, .stderr_path = err_path, .stdin_pipe = true});
  ::fcntl(p.stdin_fd(), F_SETFL, ::fcntl(p.stdin_fd(), F_GETFL) | O_NONBLOCK);
  StreamResult r;
  static const std::string block = pattern_bytes(0, 26 * 2520 * 4);
  uint64_t offset = 0;  // always a multiple of 26 at the start of a block
  size_t in_block = 0;
  while (offset + in_block < n) {
    const size_t len = static_cast<size_t>(std::min<uint64_t>(block.size(), n - offset));
    pollfd pfd{p.stdin_fd(), POLLOUT, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) == 0) break;
    if (pfd.revents & (POLLERR | POLLHUP)) break;
    const ssize_t w = ::write(p.stdin_fd(), block.data() + in_block, len - in_block);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      break;  // curl went away
    }
    in_block += static_cast<size_t>(w);
    if (in_block == len) {
      offset += len;
      in_block = 0;
    }
  }
  r.bytes = offset + in_block;
  p.close_stdin();
  finish(p, r, head_path, err_path, deadline);
  r.body = read_file(body_path);
  return r;
}

struct RssSampler::State {
  pid_t pid;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> peak{0};
  std::thread thread;
};

RssSampler::RssSampler(pid_t pid) : state_(std::make_unique<State>()) {
  state_->pid = pid;
  state_->thread = std::thread([s = state_.get()] {
    while (!s->stop.load()) {
      std::ifstream in("/proc/" + std::to_string(s->pid) + "/status");
      std::string line;
      while (std::getline(in, line)) {
        if (line.starts_with("VmRSS:")) {
          const uint64_t kib = std::stoull(line.substr(6));
          if (kib > s->peak.load()) s->peak.store(kib);
        }
      }
      std::this_thread::sleep_for(20ms);
    }
  });
}

RssSampler::~RssSampler() {
  state_->stop.store(true);
  state_->thread.join();
}

uint64_t RssSampler::peak_kib() const {
  return state_->peak.load();
}

}  // namespace it
