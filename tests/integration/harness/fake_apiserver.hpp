// The project's test API server (tests/apiserver/fake_apiserver.py, Python, independent of
// strait's own protocol code) as a test peer: started on 127.0.0.1, restartable on the same port
// with its state, driven by the real kubectl and by its fault-injection control port.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "harness/process.hpp"

namespace it {

class FakeApiServer {
 public:
  // Starts the server with its certificates and state under dir; throws when it does not come up.
  explicit FakeApiServer(const std::filesystem::path& dir);
  ~FakeApiServer();

  void kill();     // SIGKILL: as a crashed API server
  void restart();  // same port, same certificates, same state file
  bool running() { return process_.running(); }

  uint16_t port() const { return port_; }
  std::filesystem::path kubeconfig(const std::string& kind = "cert") const {
    return certs_ / ("kubeconfig-" + kind);
  }
  // kubectl --kubeconfig <cert kubeconfig> args...
  CommandResult kubectl(const std::vector<std::string>& args) const;
  // kubectl apply -f of a manifest text (written to a file under dir).
  CommandResult apply(const std::string& name, const std::string& yaml) const;
  // POST to the control port; returns the response body ("" on failure).
  std::string control(const std::string& path, const std::string& json_body = "{}") const;
  std::string stats() const;

 private:
  void start(uint16_t port);
  std::filesystem::path dir_, certs_;
  Process process_;
  uint16_t port_ = 0;
  uint16_t control_port_ = 0;
  int generation_ = 0;
};

}  // namespace it
