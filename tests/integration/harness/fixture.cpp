#include "harness/fixture.hpp"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

namespace it {
namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

std::string sanitize(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

}  // namespace

std::string strait_binary() {
  return env_or("STRAIT_BINARY", STRAIT_BINARY);
}
std::string echo_backend_binary() {
  return env_or("ECHO_BACKEND_BINARY", ECHO_BACKEND_BINARY);
}
std::filesystem::path source_dir() {
  return STRAIT_SOURCE_DIR;
}

void IntegrationTest::SetUp() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string base = env_or("TMPDIR", "/tmp");
  std::string tmpl = base + "/strait-it-" +
                     sanitize(std::string(info->test_suite_name()) + "." + info->name()) +
                     "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) FAIL() << "mkdtemp " << tmpl << " failed";
  dir_ = tmpl;
  std::filesystem::create_directories(manifests_dir());
}

void IntegrationTest::TearDown() {
  for (auto& s : straits_) {
    if (!s->exit_expected && !s->process.running() && s->process.exit_status()) {
      ADD_FAILURE() << "strait (pid " << s->process.pid() << ") exited during the test: "
                    << describe_wait_status(*s->process.exit_status());
    }
  }
  // Every test ends with the graceful shutdown an operator gets: SIGTERM, exit 0. (Under the
  // sanitizers this is also when leaks are reported.)
  for (auto& s : straits_) {
    if (s->process.exit_status()) continue;
    const int status = s->process.stop(10s);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ADD_FAILURE() << "strait (pid " << s->process.pid()
                    << ") did not exit 0 on SIGTERM at the end of the test: "
                    << describe_wait_status(status);
    }
  }
  const bool failed = HasFailure();
  for (auto& p : pods_) p->process.stop(2s);
  if (failed) {
    std::ostringstream os;
    for (const auto& s : straits_) {
      os << "==== strait on " << s->address << " http " << s->http_port << " healthz "
         << s->healthz_port << ": "
         << (s->process.exit_status() ? describe_wait_status(*s->process.exit_status()) : "?")
         << "\n---- stderr (tail) ----\n"
         << tail_file(s->stderr_path, 80) << "---- stdout (tail) ----\n"
         << tail_file(s->stdout_path, 20);
    }
    for (const auto& p : pods_) {
      const std::string err = tail_file(p->stderr_path, 10);
      if (!err.empty()) os << "==== pod " << p->name << " stderr ----\n" << err;
    }
    os << "==== scratch directory kept: " << dir_.string() << "\n";
    std::cerr << os.str();
  } else if (std::getenv("STRAIT_IT_KEEP") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  straits_.clear();
  pods_.clear();
}

void IntegrationTest::write_manifest(const std::string& name, const std::string& content) {
  const auto path = manifests_dir() / name;
  std::filesystem::create_directories(path.parent_path());
  write_file_atomic(path, content);
}

void IntegrationTest::remove_manifest(const std::string& name) {
  std::filesystem::remove(manifests_dir() / name);
}

std::vector<EchoPod*> IntegrationTest::start_pods(const std::vector<std::string>& names,
                                                  int extra_listeners) {
  // Another program may hold the chosen port on one of the addresses: then try another port.
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::vector<std::unique_ptr<EchoPod>> started;
    std::string first = next_loopback_address();
    const uint16_t port = free_port(first);
    bool all_up = true;
    for (size_t i = 0; i < names.size() && all_up; ++i) {
      auto pod = std::make_unique<EchoPod>();
      pod->name = names[i];
      pod->address = i == 0 ? first : next_loopback_address();
      pod->port = port;
      const std::string base = sanitize(pod->name) + "-" + pod->address;
      pod->stdout_path = dir_ / (base + ".out");
      pod->stderr_path = dir_ / (base + ".err");
      std::vector<std::string> argv = {echo_backend_binary(), "--name", pod->name, "--listen",
                                       pod->endpoint()};
      for (int l = 0; l < extra_listeners; ++l) {
        argv.push_back("--listen");
        argv.push_back(pod->address + ":0");
      }
      pod->process = Process(argv, {pod->stdout_path, pod->stderr_path});
      // Each listener prints "listening ADDR:PORT" once bound.
      std::vector<uint16_t> ports;
      const bool up = eventually(
          [&] {
            ports.clear();
            std::istringstream in(read_file(pod->stdout_path));
            std::string word, endpoint;
            while (in >> word >> endpoint) {
              if (word == "listening")
                ports.push_back(
                    static_cast<uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1))));
            }
            return ports.size() == static_cast<size_t>(1 + extra_listeners) ||
                   !pod->process.running();
          },
          10s, 5ms);
      if (!up || ports.size() != static_cast<size_t>(1 + extra_listeners)) {
        all_up = false;
        break;
      }
      pod->extra_ports.assign(ports.begin() + 1, ports.end());
      started.push_back(std::move(pod));
    }
    if (!all_up) continue;  // the unique_ptrs stop what did start
    std::vector<EchoPod*> out;
    for (auto& p : started) {
      out.push_back(p.get());
      pods_.push_back(std::move(p));
    }
    return out;
  }
  throw std::runtime_error("could not start echo pods (see " + dir_.string() + ")");
}

BackendStats IntegrationTest::stats(const EchoPod& pod) {
  const auto r = http_get(pod.address, pod.port, "stats", "/__stats");
  if (!r || r->status != 200) {
    ADD_FAILURE() << "cannot read /__stats of pod " << pod.name;
    return {};
  }
  const auto j = r->json();
  return {j.at("requests").get<uint64_t>(), j.at("bytes_received").get<uint64_t>(),
          j.at("connections").get<uint64_t>()};
}

Strait& IntegrationTest::start_strait(const StraitOptions& options) {
  auto s = std::make_unique<Strait>();
  s->address = next_loopback_address();
  s->http_port = free_port(s->address);
  do {
    s->https_port = free_port(s->address);
  } while (s->https_port == s->http_port);
  do {
    s->healthz_port = free_port(s->address);
  } while (s->healthz_port == s->http_port || s->healthz_port == s->https_port);
  const std::string tag = "strait-" + std::to_string(straits_.size());
  s->stdout_path = dir_ / (tag + ".out");
  s->stderr_path = dir_ / (tag + ".err");
  std::vector<std::string> argv = options.launcher;
  std::vector<std::string> strait_argv = {
      strait_binary(), "--bind-address=" + s->address,
      "--http-port=" + std::to_string(s->http_port),
      "--https-port=" + std::to_string(s->https_port),
      "--healthz-port=" + std::to_string(s->healthz_port),
      "--workers=" + std::to_string(options.workers),
      "--shutdown-grace-period=" + std::to_string(options.shutdown_grace_seconds),
      // Tests stop strait often; the load-balancer delay has its own test.
      "--shutdown-delay=0"};
  argv.insert(argv.end(), strait_argv.begin(), strait_argv.end());
  if (options.manifests) argv.push_back("--manifests=" + manifests_dir().string());
  argv.insert(argv.end(), options.args.begin(), options.args.end());
  if (!std::filesystem::exists(strait_binary())) {
    throw std::runtime_error("strait binary not found at " + strait_binary() +
                             " (build it, or set STRAIT_BINARY)");
  }
  s->process = Process(argv, {s->stdout_path, s->stderr_path});
  Strait& ref = *s;
  straits_.push_back(std::move(s));
  if (options.wait_ready && !wait_ready(ref)) {
    throw std::runtime_error("strait did not become ready (GET /readyz on " + ref.address + ":" +
                             std::to_string(ref.healthz_port) + ")");
  }
  return ref;
}

bool IntegrationTest::wait_ready(Strait& s, std::chrono::milliseconds timeout) {
  return eventually(
             [&] {
               if (!s.process.running()) return true;
               const auto r = http_get(s.address, s.healthz_port, "localhost", "/readyz", {}, 2s);
               return r && r->status == 200;
             },
             timeout) &&
         s.process.running();
}

bool IntegrationTest::await_log(const std::string& regex, std::chrono::milliseconds timeout) {
  const std::regex re(regex);
  return eventually(
      [&] {
        std::istringstream in(strait_log());
        std::string line;
        while (std::getline(in, line))
          if (std::regex_search(line, re)) return true;
        return false;
      },
      timeout, 50ms);
}

std::optional<HttpResponse> IntegrationTest::get(const std::string& host, const std::string& path,
                                                 const Headers& headers) {
  return http_get(strait().address, strait().http_port, host, path, headers);
}

std::string IntegrationTest::pod_for(const std::string& host, const std::string& path,
                                     const Headers& headers) {
  RawClient c;
  if (!c.connect(strait().address, strait().http_port)) return "error:" + c.error();
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n";
  for (const auto& [n, v] : headers) req += n + ": " + v + "\r\n";
  req += "Connection: close\r\n\r\n";
  if (!c.send(req)) return "error:" + c.error();
  const auto r = c.read_response(10s);
  if (!r) return "error:" + c.error();
  if (r->status != 200) return "status:" + std::to_string(r->status);
  try {
    return r->json().at("pod").get<std::string>();
  } catch (const std::exception&) {
    return "status:200 (not an echo reply)";
  }
}

bool IntegrationTest::await_pod(const std::string& host, const std::string& path,
                                const std::string& expected, std::chrono::milliseconds timeout) {
  std::string last;
  const bool ok = eventually(
      [&] {
        last = pod_for(host, path);
        return last == expected;
      },
      timeout, 25ms);
  if (!ok) {
    std::cerr << "await_pod(" << host << ", " << path << "): expected " << expected << ", last got "
              << last << "\n";
  }
  return ok;
}

std::map<std::string, int> IntegrationTest::tally(const std::string& host, const std::string& path,
                                                  int n) {
  std::map<std::string, int> out;
  for (int i = 0; i < n; ++i) ++out[pod_for(host, path)];
  return out;
}

CommandResult run_strait(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {strait_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, timeout);
}

uint64_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6));
  }
  return 0;
}

}  // namespace it

namespace it {

int IntegrationTest::log_lines(const std::string& regex) {
  const std::regex re(regex);
  std::istringstream in(strait_log());
  std::string line;
  int n = 0;
  while (std::getline(in, line))
    if (std::regex_search(line, re)) ++n;
  return n;
}

double IntegrationTest::metric(const std::string& series) {
  const auto r = http_get(strait().address, strait().healthz_port, "localhost", "/metrics", {}, 5s);
  if (!r || r->status != 200) return -1;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return -1;
}

Process IntegrationTest::start_python_peer(const std::string& name, const std::string& script,
                                           const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   (source_dir() / "tests/integration" / script).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  Process peer(argv, SpawnOptions{.stdout_path = dir() / (name + ".out"),
                                  .stderr_path = dir() / (name + ".err")});
  EXPECT_TRUE(eventually(
      [&] { return read_file(dir() / (name + ".out")).find("listening") != std::string::npos; },
      20s))
      << read_file(dir() / (name + ".err"));
  return peer;
}

}  // namespace it
