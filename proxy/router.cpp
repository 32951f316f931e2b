// route_request(): the per-request lookup of a Snapshot. Runs on every request, so it never
// allocates: the host is normalised into a stack buffer and probed as a string_view. Tables the
// translator built are probed through their RouteIndex (an L2-resident host table, then one
// host block, see strait/route_index.hpp); others through the maps (StringMap's transparent
// hash), with the same results.
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
  // Eight bytes at a time: 0x20 added to each byte in 'A'..'Z' (bytes >= 0x80 left alone).
  size_t i = 0;
  for (; i + 8 <= host.size(); i += 8) {
    const uint64_t w = route_index::load8(host.data() + i);
    const uint64_t low7 = w & 0x7f7f7f7f7f7f7f7full;
    const uint64_t ge_a = low7 + 0x3f3f3f3f3f3f3f3full;  // high bit: byte >= 'A' (0x41)
    const uint64_t gt_z = low7 + 0x2525252525252525ull;  // high bit: byte > 'Z' (0x5a)
    const uint64_t upper = ge_a & ~gt_z & ~w & 0x8080808080808080ull;
    const uint64_t lowered = w | (upper >> 2);
    std::memcpy(buf + i, &lowered, 8);
  }
  for (; i < host.size(); ++i) {
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

using route_index::BlockHeader;
using route_index::BlockLayout;
using route_index::HostSlot;
using route_index::PathEntry;

bool same_bytes(const std::byte* stored, std::string_view key) {
  return route_index::equal_bytes(reinterpret_cast<const char*>(stored), key.data(), key.size());
}

// The prefetch cap: the blocks of the hosts the corpus and real clusters have (up to about 15
// paths) fit; a bigger host's block is read where its hash table points.
constexpr uint32_t kPrefetchLines = 8;

// The block of the host whose key is `key`, or null. The slot is usually an L2 hit (the tables
// are small); its block is the lookup's one cache miss, so every line of it is requested at once.
const BlockHeader* find_host(const RouteIndex& index, const HostSlot* table, uint32_t mask,
                             uint64_t hash, std::string_view key) {
  const uint32_t tag = route_index::host_tag(hash);
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const HostSlot slot = table[i];
    if (slot.tag == 0) return nullptr;
    if (slot.tag != tag) continue;
    const std::byte* block = index.line(slot.block & route_index::kBlockLineMask);
    const uint32_t lines = std::min(slot.block >> route_index::kBlockLineBits, kPrefetchLines);
    for (uint32_t l = 0; l < lines; ++l) __builtin_prefetch(block + l * route_index::kLine);
    const auto* header = reinterpret_cast<const BlockHeader*>(block);
    if (header->host_size == key.size() && same_bytes(block + sizeof(BlockHeader), key)) {
      return header;
    }
  }
}

const BlockHeader& pick_host_block(const RouteIndex& index, std::string_view raw_host) {
  const auto& catch_all = *reinterpret_cast<const BlockHeader*>(index.line(index.catch_all_line));
  char buf[kMaxHost];
  std::string_view host;
  if (!normalise_host(raw_host, buf, host) || host.empty()) return catch_all;
  const uint64_t exact_hash = route_index::hash_bytes(host, route_index::kExactHostSeed);
  // The wildcard slot is requested together with the exact one (it does not depend on the
  // exact probe): a wildcard request then waits for one slot, not two in a row.
  const std::string_view key = wildcard_key(host);
  const uint64_t wildcard_hash =
      key.empty() ? 0 : route_index::hash_bytes(key, route_index::kWildcardHostSeed);
  if (!key.empty()) __builtin_prefetch(&index.wildcard_hosts[wildcard_hash & index.wildcard_mask]);
  if (const BlockHeader* h =
          find_host(index, index.exact_hosts, index.exact_mask, exact_hash, host)) {
    return *h;
  }
  if (!key.empty()) {
    if (const BlockHeader* h =
            find_host(index, index.wildcard_hosts, index.wildcard_mask, wildcard_hash, key)) {
      return *h;
    }
  }
  return catch_all;
}

// The entry of the host's Exact path or Prefix key equal to `key`, or null: a scan of the key
// sizes for a small host (its keys are back to back, so the scan adds up where each starts),
// the host's own hash table for a big one.
const PathEntry* find_path(const BlockHeader& host, bool exact, std::string_view key) {
  const auto* block = reinterpret_cast<const std::byte*>(&host);
  const BlockLayout layout(host.host_size, host.path_count,
                           host.table_mask + (host.table_mask != 0));
  const auto* sizes = reinterpret_cast<const uint16_t*>(block + layout.sizes);
  const auto* entries = reinterpret_cast<const PathEntry*>(block + layout.entries);
  if (host.table_mask == 0) {
    const uint32_t end = exact ? host.exact_count : host.path_count;
    size_t offset = exact ? layout.keys : host.prefix_keys;
    for (uint32_t i = exact ? 0 : host.exact_count; i < end; offset += sizes[i++]) {
      if (sizes[i] == key.size() && same_bytes(block + offset, key)) return &entries[i];
    }
    return nullptr;
  }
  const auto* table = reinterpret_cast<const uint32_t*>(block + layout.table);
  const auto* offsets = reinterpret_cast<const uint32_t*>(block + layout.offsets);
  const uint64_t hash = route_index::hash_bytes(
      key, exact ? route_index::kExactPathSeed : route_index::kPrefixPathSeed);
  for (size_t i = hash & host.table_mask;; i = (i + 1) & host.table_mask) {
    const uint32_t slot = table[i];
    if (slot == 0) return nullptr;
    const uint32_t e = slot - 1;
    if ((e < host.exact_count) == exact && sizes[e] == key.size() &&
        same_bytes(block + offsets[e], key)) {
      return &entries[e];
    }
  }
}

// The Prefix candidates of a path, longest first: the path without trailing slashes, then each
// shorter element boundary down to "/" (what match_prefix() probes). `done` after "/".
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
const PathEntry* match_prefix_indexed(const BlockHeader& host, std::string_view path) {
  if (host.prefix_lengths == 0) return nullptr;
  for (PrefixCandidates c(path); !c.done; c.next()) {
    if (host.prefix_lengths & route_index::length_bit(c.candidate.size())) {
      if (const PathEntry* e = find_path(host, false, c.candidate)) return e;
    }
  }
  return nullptr;
}

RouteMatch route_indexed(const RouteTable& table, std::string_view raw_host,
                         std::string_view path) {
  const BlockHeader& host = pick_host_block(table.index, raw_host);
  RouteMatch match;
  match.vhost = host.vhost != nullptr ? host.vhost : &table.catch_all;
  const PathEntry* exact = nullptr;
  if (host.exact_lengths & route_index::length_bit(path.size())) {
    exact = find_path(host, true, path);
  }
  const PathEntry* prefix = match_prefix_indexed(host, path);
  // Longest written rule path wins; at equal length Exact beats Prefix.
  const PathEntry* best = exact;
  if (prefix != nullptr && (exact == nullptr || prefix->written_size > exact->written_size)) {
    best = prefix;
  }
  if (best == nullptr) {
    match.backend = host.fallback;
    return match;
  }
  match.route = host.routes + best->route;
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
