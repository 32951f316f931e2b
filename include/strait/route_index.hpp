// The lookup structure route_request() probes: two open-addressing hash tables (hosts, and
// (host, path) pairs) whose slots are one cache line each and carry their key inline, so a
// lookup at 10,000 hosts and 100,000 paths costs one cache line for the host and one per path
// probe, and the path probes of one request are independent of each other (the CPU overlaps
// them). Derived entirely from a RouteTable's maps by build_route_index() (controller/
// route_index.cpp) and read by proxy/router.cpp; not part of a table's equality.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace strait {

struct Route;
struct VirtualHost;

namespace route_index {

// A 64-bit hash of short strings (wyhash's mixing: 8 bytes at a time, a 128-bit multiply per
// step). Deterministic: the table is built from configuration, never from request data, so a
// client cannot make probes longer than the configuration already made them.
inline uint64_t mix(uint64_t a, uint64_t b) {
  __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t hash_bytes(std::string_view s, uint64_t seed) {
  constexpr uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull;
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = seed ^ k0;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = mix(h ^ w, k1);
    p += 8;
    n -= 8;
  }
  uint64_t tail = 0;
  if (n > 0) std::memcpy(&tail, p, n);
  h = mix(h ^ tail ^ (static_cast<uint64_t>(s.size()) << 56), k1);
  h = mix(h, k0);
  return h == 0 ? 1 : h;  // 0 marks an empty slot
}

// Seeds keeping the key spaces apart (an exact host "foo.com" and the wildcard "*.foo.com" share
// the key "foo.com").
inline constexpr uint64_t kExactHostSeed = 0x8ebc6af09c88c6e3ull;
inline constexpr uint64_t kWildcardHostSeed = 0x589965cc75374cc3ull;
inline constexpr uint64_t kExactPathSeed = 0x1d8e4e27c47d124full;
inline constexpr uint64_t kPrefixPathSeed = 0x72be5d74f27b896full;

inline constexpr uint64_t kCatchAllHash = 0x2d358dccaa6c78a5ull;

// Keyed by the host's own hash (HostSlot::hash); the slot also records the host's id, which the
// lookup compares.
inline uint64_t path_hash(uint64_t host_hash, bool exact, std::string_view key) {
  return hash_bytes(key, (exact ? kExactPathSeed : kPrefixPathSeed) ^ host_hash);
}

// Bit n set: some key of n bytes exists (n < 63); bit 63: some key of 63 bytes or more. Lets a
// lookup skip the probes that cannot hit (most prefix candidates of a deep path).
inline uint64_t length_bit(size_t n) {
  return uint64_t{1} << (n < 63 ? n : 63);
}

struct alignas(64) HostSlot {
  uint64_t hash = 0;  // 0: empty (the catch-all's is kCatchAllHash)
  const VirtualHost* vhost = nullptr;
  uint64_t exact_lengths = 0;   // length_bit() of every Exact path
  uint64_t prefix_lengths = 0;  // length_bit() of every Prefix key
  uint32_t id = 0;              // this host's key space in the path table
  uint16_t key_size = 0;        // host names are at most 253 bytes
  static constexpr size_t kInline = 26;
  char key[kInline] = {};  // the first kInline bytes of the key; the rest is in vhost->host
};
static_assert(sizeof(HostSlot) == 64);

struct alignas(64) PathSlot {
  uint64_t hash = 0;  // 0: empty
  const Route* route = nullptr;
  uint32_t host_id = 0;
  int32_t cluster = 0;        // route->cluster, so a match needs no further cache line
  uint32_t key_size = 0;      // Exact: the path; Prefix: prefix_key(path)
  uint32_t written_size = 0;  // route->path.size() ("/foo/" is longer than its key "/foo")
  bool exact = false;         // an Exact path (else a Prefix key)
  static constexpr size_t kInline = 31;
  char key[kInline] = {};  // the first kInline bytes of the key; the key is a prefix of route->path
};
static_assert(sizeof(PathSlot) == 64);

}  // namespace route_index

struct RouteIndex {
  // Capacities are powers of two, at most half full (short probe runs, always an empty slot).
  std::vector<route_index::HostSlot> exact_hosts;
  std::vector<route_index::HostSlot> wildcard_hosts;
  std::vector<route_index::PathSlot> paths;
  route_index::HostSlot catch_all;  // vhost null: the table's own catch_all (id 0)
  bool built = false;

  RouteIndex() = default;
  RouteIndex(RouteIndex&&) = default;
  RouteIndex& operator=(RouteIndex&&) = default;
  // The slots point into the table that built them (map nodes and route vectors, which keep
  // their addresses when the table moves, not when it is copied): a copy starts unbuilt and
  // route_request() falls back to the maps.
  RouteIndex(const RouteIndex&) {}
  RouteIndex& operator=(const RouteIndex&) {
    *this = RouteIndex();
    return *this;
  }
  // Derived from the maps that RouteTable's equality compares.
  bool operator==(const RouteIndex&) const { return true; }
};

}  // namespace strait
