// route_request(): the per-request lookup of a Snapshot. Runs on every request, so it never
// allocates: the host is normalised into a stack buffer and every map is probed with
// string_views (StringMap's transparent hash).
#include <cstddef>
#include <string_view>

#include "strait/snapshot.hpp"

namespace strait {
namespace {

// Longest DNS name; longer Host headers cannot name a configured host.
constexpr size_t kMaxHost = 255;

// Host header -> lower-case host without port and trailing dot, written into `buf`. Returns
// false when the result cannot be a configured host name (too long).
bool normalise_host(std::string_view host, char (&buf)[kMaxHost], std::string_view& out) {
  if (!host.empty() && host.front() == '[') {
    // "[v6]:port": keep the bracketed literal (never a rule host, so it falls through).
    size_t close = host.find(']');
    host = close == std::string_view::npos ? host : host.substr(0, close + 1);
  } else if (size_t colon = host.find(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.size() > kMaxHost) return false;
  for (size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  out = std::string_view(buf, host.size());
  return true;
}

const VirtualHost& pick_host(const RouteTable& s, std::string_view raw_host) {
  char buf[kMaxHost];
  std::string_view host;
  if (!normalise_host(raw_host, buf, host) || host.empty()) return s.catch_all;
  if (auto it = s.exact_hosts.find(host); it != s.exact_hosts.end()) return it->second;
  // A wildcard covers exactly one label: drop the first label and look up the rest.
  size_t dot = host.find('.');
  if (dot != std::string_view::npos && dot > 0 && dot + 1 < host.size()) {
    if (auto it = s.wildcard_hosts.find(host.substr(dot + 1)); it != s.wildcard_hosts.end()) {
      return it->second;
    }
  }
  return s.catch_all;
}

std::string_view trim_trailing_slashes(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  return p;
}

// The longest Prefix rule matching `path` element-wise: the prefix keys are probed for the path
// itself, then for each shorter element boundary down to "/".
const Route* match_prefix(const VirtualHost& vh, std::string_view path) {
  if (vh.prefix.empty()) return nullptr;
  std::string_view candidate = trim_trailing_slashes(path);
  while (true) {
    if (auto it = vh.prefix.find(candidate); it != vh.prefix.end()) {
      return &vh.routes[it->second];
    }
    if (candidate == "/") return nullptr;
    size_t slash = candidate.rfind('/');
    if (slash == std::string_view::npos || slash == 0) {
      candidate = "/";
    } else {
      candidate = trim_trailing_slashes(candidate.substr(0, slash));
    }
  }
}

}  // namespace

RouteMatch route_request(const Snapshot& snapshot, std::string_view host, std::string_view path) {
  RouteMatch match;
  const VirtualHost& vh = pick_host(*snapshot.routes, host);
  match.vhost = &vh;
  const Route* exact = nullptr;
  if (auto it = vh.exact.find(path); it != vh.exact.end()) exact = &vh.routes[it->second];
  const Route* prefix = match_prefix(vh, path);
  // Longest written rule path wins; at equal length Exact beats Prefix.
  const Route* best = exact;
  if (prefix != nullptr && (exact == nullptr || prefix->path.size() > exact->path.size())) {
    best = prefix;
  }
  if (best == nullptr) {
    match.backend = vh.fallback;
    return match;
  }
  match.route = best;
  match.backend = best->cluster;
  return match;
}

}  // namespace strait
