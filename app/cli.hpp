// Command-line flags. Names follow ingress-nginx's where one exists, so an operator's args carry
// over. Parsing never exits: it returns an error naming the flag, and main() exits 2.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "controller/translator.hpp"
#include "proxy/proxy_options.hpp"

namespace strait::app {

struct Options {
  std::vector<std::string> manifests;
  std::string kubeconfig;              // API mode from a kubeconfig file
  std::string apiserver_host;          // overrides the server of the kubeconfig / in-cluster config
  std::string watch_namespace;         // empty: all namespaces
  std::string publish_service;         // "namespace/name" whose address goes into Ingress status
  std::string publish_status_address;  // explicit status addresses (comma-separated)
  std::string election_id = "strait-leader";  // Lease name in the pod's namespace
  bool update_status = true;
  uint16_t healthz_port = 10254;
  std::string healthz_host;  // empty: same as --bind-address
  std::chrono::milliseconds shutdown_grace_period{30000};
  // After SIGTERM, /readyz fails at once but traffic is still accepted this long, so load
  // balancers and kube-proxy stop sending new connections before the listeners close.
  std::chrono::milliseconds shutdown_delay{5000};
  proxy::ProxyOptions proxy;
  controller::TranslateOptions translate;
  bool help = false;
  bool version = false;
};

struct ParseResult {
  Options options;
  std::string error;  // one line naming the flag; empty on success
};

ParseResult parse_command_line(const std::vector<std::string>& args);
std::string usage();

// "1m", "512k", "8m", "1g", "1048576" -> bytes (nginx size syntax). nullopt when malformed.
std::optional<uint64_t> parse_size(std::string_view text);
// "60", "60s", "500ms", "2m", "12h" -> duration (bare numbers are seconds, like ingress-nginx's).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace strait::app
