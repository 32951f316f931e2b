// route_request(): the per-request lookup of a Snapshot. Runs on every request, so it never
// allocates: the host is normalised into a stack buffer and probed as a string_view. Tables the
// translator built are probed through their RouteIndex (one cache line per host and per path
// probe, see strait/route_index.hpp); others through the maps (StringMap's transparent hash),
// with the same results.
#include <algorithm>
#include <cstddef>
#include <cstring>
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

// The wildcard key of a normalised host: a wildcard covers exactly one label, so drop the first
// label. Empty when there is none to drop.
std::string_view wildcard_key(std::string_view host) {
  size_t dot = host.find('.');
  if (dot != std::string_view::npos && dot > 0 && dot + 1 < host.size()) {
    return host.substr(dot + 1);
  }
  return {};
}

const VirtualHost& pick_host(const RouteTable& s, std::string_view raw_host) {
  char buf[kMaxHost];
  std::string_view host;
  if (!normalise_host(raw_host, buf, host) || host.empty()) return s.catch_all;
  if (auto it = s.exact_hosts.find(host); it != s.exact_hosts.end()) return it->second;
  if (std::string_view key = wildcard_key(host); !key.empty()) {
    if (auto it = s.wildcard_hosts.find(key); it != s.wildcard_hosts.end()) return it->second;
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

// ---- lookups through RouteIndex

using route_index::HostSlot;
using route_index::PathSlot;

// `key` equals the slot's key: the inline bytes, then the rest from where the key is written.
template <typename Slot>
bool same_key(const Slot& slot, std::string_view key, const char* written) {
  if (slot.key_size != key.size()) return false;
  const size_t head = std::min(key.size(), Slot::kInline);
  if (std::memcmp(slot.key, key.data(), head) != 0) return false;
  return key.size() == head ||
         std::memcmp(written + head, key.data() + head, key.size() - head) == 0;
}

const HostSlot* find_host(const std::vector<HostSlot>& table, uint64_t hash, size_t written_skip,
                          std::string_view key) {
  const size_t mask = table.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const HostSlot& slot = table[i];
    if (slot.hash == 0) return nullptr;
    if (slot.hash == hash && same_key(slot, key, slot.vhost->host.data() + written_skip)) {
      return &slot;
    }
  }
}

const PathSlot* find_path(const RouteIndex& index, const HostSlot& host, bool exact,
                          std::string_view key) {
  const uint64_t hash = route_index::path_hash(host.hash, exact, key);
  const size_t mask = index.paths.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const PathSlot& slot = index.paths[i];
    if (slot.hash == 0) return nullptr;
    if (slot.hash == hash && slot.host_id == host.id && slot.exact == exact &&
        same_key(slot, key, slot.route->path.data())) {
      return &slot;
    }
  }
}

// The Prefix candidates of a path, longest first: the path without trailing slashes, then each
// shorter element boundary down to "/" (what match_prefix() probes). `next` returns false after
// "/".
struct PrefixCandidates {
  std::string_view candidate;
  bool done = false;
  explicit PrefixCandidates(std::string_view path) : candidate(trim_trailing_slashes(path)) {}
  void next() {
    if (candidate == "/") {
      done = true;
      return;
    }
    size_t slash = candidate.rfind('/');
    candidate = slash == std::string_view::npos || slash == 0
                    ? std::string_view("/")
                    : trim_trailing_slashes(candidate.substr(0, slash));
  }
};

// match_prefix() through the index: the same candidates, longest first, but only those whose
// length some Prefix key of the host has.
const PathSlot* match_prefix_indexed(const RouteIndex& index, const HostSlot& host,
                                     std::string_view path) {
  if (host.prefix_lengths == 0) return nullptr;
  for (PrefixCandidates c(path); !c.done; c.next()) {
    if (host.prefix_lengths & route_index::length_bit(c.candidate.size())) {
      if (const PathSlot* slot = find_path(index, host, false, c.candidate)) return slot;
    }
  }
  return nullptr;
}

const HostSlot& pick_host_slot(const RouteIndex& index, std::string_view raw_host) {
  char buf[kMaxHost];
  std::string_view host;
  if (!normalise_host(raw_host, buf, host) || host.empty()) return index.catch_all;
  const uint64_t exact_hash = route_index::hash_bytes(host, route_index::kExactHostSeed);
  if (const HostSlot* slot = find_host(index.exact_hosts, exact_hash, 0, host)) return *slot;
  if (std::string_view key = wildcard_key(host); !key.empty()) {
    // The written host is "*." + key.
    const uint64_t hash = route_index::hash_bytes(key, route_index::kWildcardHostSeed);
    if (const HostSlot* slot = find_host(index.wildcard_hosts, hash, 2, key)) return *slot;
  }
  return index.catch_all;
}

RouteMatch route_indexed(const RouteTable& table, std::string_view raw_host,
                         std::string_view path) {
  const RouteIndex& index = table.index;
  const HostSlot& host = pick_host_slot(index, raw_host);
  RouteMatch match;
  match.vhost = host.vhost != nullptr ? host.vhost : &table.catch_all;
  const PathSlot* exact = nullptr;
  if (host.exact_lengths & route_index::length_bit(path.size())) {
    exact = find_path(index, host, true, path);
  }
  const PathSlot* prefix = match_prefix_indexed(index, host, path);
  // Longest written rule path wins; at equal length Exact beats Prefix.
  const PathSlot* best = exact;
  if (prefix != nullptr && (exact == nullptr || prefix->written_size > exact->written_size)) {
    best = prefix;
  }
  if (best == nullptr) {
    match.backend = match.vhost->fallback;
    return match;
  }
  match.route = best->route;
  match.backend = best->cluster;
  return match;
}

}  // namespace

RouteMatch route_request(const Snapshot& snapshot, std::string_view host, std::string_view path) {
  if (snapshot.routes->index.built) return route_indexed(*snapshot.routes, host, path);
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
