// The pure function from the object store to a routing Snapshot: every piece of Kubernetes
// Ingress semantics strait implements lives behind translate(). No I/O, no clocks, no globals:
// the same Store and options always give an equivalent Snapshot and the same warnings.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "controller/store.hpp"
#include "strait/snapshot.hpp"

namespace strait::controller {

struct TranslateOptions {
  std::string ingress_class = "strait";  // IngressClass name (and legacy annotation value) we own
  std::string controller_class = "strait.io/ingress-controller";  // IngressClass spec.controller
  bool watch_ingress_without_class = false;
  std::string default_backend_service;  // "namespace/name"; empty = built-in 404
  std::string default_ssl_certificate;  // "namespace/name"; empty = self-signed at start
};

struct Warning {
  std::string object;  // "Ingress default/web"
  std::string message;
  bool operator==(const Warning&) const = default;
};

struct Translation {
  std::shared_ptr<Snapshot> snapshot;
  std::vector<Warning> warnings;
};

Translation translate(const Store& store, const TranslateOptions& options);

// Whether this controller serves `ingress` (class selection; see ingress_class.cpp).
bool is_ours(const Ingress& ingress, const Store& store, const TranslateOptions& options);

// A Prefix rule path's key in VirtualHost::prefix: trailing slashes removed, "/" stays "/".
std::string_view prefix_key(std::string_view path);

}  // namespace strait::controller
