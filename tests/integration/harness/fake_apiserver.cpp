#include "harness/fake_apiserver.hpp"

#include <poll.h>
#include <unistd.h>

#include <stdexcept>

#include "harness/fixture.hpp"
#include "harness/net.hpp"

namespace it {
namespace {

// Reads "key ADDR:PORT" lines from the child's stdout until `until` shows up.
std::vector<std::string> read_lines_until(int fd, const std::string& until,
                                          std::chrono::milliseconds timeout) {
  std::vector<std::string> lines;
  std::string pending;
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
    char buf[512];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      lines.push_back(pending.substr(0, nl));
      pending.erase(0, nl + 1);
      if (lines.back().rfind(until, 0) == 0) return lines;
    }
  }
  throw std::runtime_error("fake API server did not print '" + until + "'");
}

uint16_t port_of(const std::string& line) {
  return static_cast<uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
}

}  // namespace

FakeApiServer::FakeApiServer(const std::filesystem::path& dir)
    : dir_(dir / "apiserver"), certs_(dir / "apiserver" / "certs") {
  std::filesystem::create_directories(certs_);
  start(0);
}

FakeApiServer::~FakeApiServer() {
  process_.stop(5s);
}

void FakeApiServer::start(uint16_t port) {
  ++generation_;
  std::vector<std::string> argv = {"python3",
                                   "-B",
                                   (source_dir() / "tests/apiserver/fake_apiserver.py").string(),
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(port),
                                   "--certs",
                                   certs_.string(),
                                   "--control",
                                   "127.0.0.1:" + std::to_string(control_port_),
                                   "--state-file",
                                   (dir_ / "state.jsonl").string(),
                                   "--bookmark-interval",
                                   "0.5"};
  SpawnOptions options;
  options.stdout_pipe = true;
  options.stderr_path = dir_ / ("apiserver-" + std::to_string(generation_) + ".err");
  process_ = Process(argv, options);
  for (const auto& line : read_lines_until(process_.stdout_fd(), "listening", 20s)) {
    if (line.rfind("control ", 0) == 0) control_port_ = port_of(line);
    if (line.rfind("listening ", 0) == 0) port_ = port_of(line);
  }
}

void FakeApiServer::kill() {
  process_.signal(SIGKILL);
  process_.wait_exit(5s);
}

void FakeApiServer::restart() {
  if (process_.running()) kill();
  start(port_);
}

CommandResult FakeApiServer::kubectl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"kubectl", "--kubeconfig", kubeconfig().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, 30s);
}

CommandResult FakeApiServer::apply(const std::string& name, const std::string& yaml) const {
  std::filesystem::path file = dir_ / (name + ".yaml");
  write_file_atomic(file, yaml);
  return kubectl({"apply", "-f", file.string()});
}

std::string FakeApiServer::control(const std::string& path, const std::string& json_body) const {
  CommandResult r =
      run_command({"curl", "-s", "-X", "POST", "-H", "Content-Type: application/json", "--data",
                   json_body, "http://127.0.0.1:" + std::to_string(control_port_) + path},
                  10s);
  return r.exited_with(0) ? r.out : std::string();
}

std::string FakeApiServer::stats() const {
  CommandResult r = run_command(
      {"curl", "-s", "http://127.0.0.1:" + std::to_string(control_port_) + "/stats"}, 10s);
  return r.out;
}

}  // namespace it
