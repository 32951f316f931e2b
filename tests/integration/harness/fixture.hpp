// The GoogleTest fixture every integration test derives from: a scratch directory per test, echo
// pods on their own loopback addresses, strait itself, and helpers to talk to them. Everything it
// starts is stopped in TearDown; on failure the logs of every process are printed and the scratch
// directory is kept.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/clients.hpp"
#include "harness/manifests.hpp"
#include "harness/net.hpp"
#include "harness/process.hpp"

namespace it {

std::string strait_binary();        // $STRAIT_BINARY or build/strait
std::string echo_backend_binary();  // $ECHO_BACKEND_BINARY or build/echo_backend
std::filesystem::path source_dir();

struct EchoPod {
  std::string name;
  std::string address;
  uint16_t port = 0;
  std::vector<uint16_t> extra_ports;  // further listeners on the same address
  Process process;
  std::filesystem::path stdout_path, stderr_path;
  std::string endpoint() const { return address + ":" + std::to_string(port); }
};

struct BackendStats {
  uint64_t requests = 0;
  uint64_t bytes_received = 0;
  uint64_t connections = 0;
};

struct StraitOptions {
  std::vector<std::string> args;  // extra flags, after the defaults (so they can repeat one)
  bool manifests = true;          // --manifests <scratch>/manifests
  bool wait_ready = true;         // wait for /readyz 200
  int workers = 2;
  int shutdown_grace_seconds = 2;  // keeps teardown short
  // Runs strait through this command (e.g. unshare + a shell that execs "$@"); empty: directly.
  std::vector<std::string> launcher{};
};

struct Strait {
  Process process;
  std::string address;
  uint16_t http_port = 0;
  uint16_t https_port = 0;
  uint16_t healthz_port = 0;
  std::filesystem::path stdout_path, stderr_path;
  bool exit_expected = false;  // set by tests that stop it themselves
  std::string url(const std::string& path = "/") const {
    return "http://" + address + ":" + std::to_string(http_port) + path;
  }
  std::string healthz_url(const std::string& path) const {
    return "http://" + address + ":" + std::to_string(healthz_port) + path;
  }
};

class IntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path manifests_dir() const { return dir_ / "manifests"; }
  // Writes (atomically) a file under manifests_dir().
  void write_manifest(const std::string& name, const std::string& content);
  void remove_manifest(const std::string& name);

  // Echo pods on fresh loopback addresses, all on one port (as pods behind one EndpointSlice).
  std::vector<EchoPod*> start_pods(const std::vector<std::string>& names, int extra_listeners = 0);
  EchoPod& start_pod(const std::string& name, int extra_listeners = 0) {
    return *start_pods({name}, extra_listeners).front();
  }
  BackendStats stats(const EchoPod& pod);
  // A loopback address nothing listens on: connections to it are refused.
  std::string unused_address() { return next_loopback_address(); }

  Strait& start_strait(const StraitOptions& options = {});
  Strait& strait() { return *straits_.front(); }
  bool wait_ready(Strait& s, std::chrono::milliseconds timeout = 20s);
  std::string strait_log(const Strait& s) const { return read_file(s.stderr_path); }
  std::string strait_log() const { return strait_log(*straits_.front()); }
  // Polls strait's stderr for a line matching the ECMAScript regex.
  bool await_log(const std::string& regex, std::chrono::milliseconds timeout = 10s);
  // Lines of strait's stderr matching the ECMAScript regex.
  int log_lines(const std::string& regex);
  // The value of one unlabelled (or fully labelled) series on strait's /metrics; -1 if absent.
  double metric(const std::string& series);
  // A helper peer from tests/integration (`script` with args) under /usr/bin/python3, its output
  // in <scratch>/<name>.out/.err; returns once it has printed "listening".
  Process start_python_peer(const std::string& name, const std::string& script,
                            const std::vector<std::string>& args);

  // One GET on a fresh connection to strait's HTTP port.
  std::optional<HttpResponse> get(const std::string& host, const std::string& path,
                                  const Headers& headers = {});
  // Which pod answered GET host+path: the echo "pod" for a 200 reply, else "status:N" or
  // "error:...". Made for EXPECT_EQ and polling.
  std::string pod_for(const std::string& host, const std::string& path,
                      const Headers& headers = {});
  // Polls until pod_for(host, path) == expected.
  bool await_pod(const std::string& host, const std::string& path, const std::string& expected,
                 std::chrono::milliseconds timeout = 10s);
  // n requests, tallied by pod_for().
  std::map<std::string, int> tally(const std::string& host, const std::string& path, int n);

  // curl against strait: --connect-to is not needed, the URL names strait's address.
  CurlResult curl(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 30s) {
    return run_curl(dir_, args, timeout);
  }

 private:
  std::filesystem::path dir_;
  std::deque<std::unique_ptr<EchoPod>> pods_;
  std::deque<std::unique_ptr<Strait>> straits_;
};

// Runs strait with the given arguments to completion (for command-line tests).
CommandResult run_strait(const std::vector<std::string>& args,
                         std::chrono::milliseconds timeout = 10s);

// VmRSS of a process in KiB (0 if unreadable).
uint64_t rss_kib(pid_t pid);

}  // namespace it
