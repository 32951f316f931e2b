// The lookup structure route_request() probes, laid out so that a cold lookup at 10,000 hosts
// and 100,000 paths costs one dependent cache miss: a small host table (8-byte slots: 10,000
// hosts take 160 KB, which can stay in L2) whose slot gives the place and length of the host's
// block; the block holds everything the lookup reads after that (the host's key, its path
// lengths, its path keys and their answers) in a few adjacent cache lines, all prefetched at
// once as soon as the slot is read. Small hosts are scanned linearly; big ones carry a small
// hash table of their own inside the block. Derived entirely from a RouteTable's maps by
// build_route_index() (controller/route_index.cpp) and read by proxy/router.cpp; not part of a
// table's equality.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

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

// The first n (< 8) bytes at p as a little-endian number, without reading past p + n and without
// a byte loop (whose stores a following 8-byte load would wait for).
inline uint64_t load_short(const char* p, size_t n) {
  if (n >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    return lo | (static_cast<uint64_t>(hi) << (8 * (n - 4)));
  }
  if (n == 0) return 0;
  const auto b = [p](size_t i) { return static_cast<uint64_t>(static_cast<unsigned char>(p[i])); };
  return b(0) | (b(n / 2) << (8 * (n / 2))) | (b(n - 1) << (8 * (n - 1)));
}

inline uint64_t load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

inline uint64_t hash_bytes(std::string_view s, uint64_t seed) {
  constexpr uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull;
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = seed ^ k0;
  while (n >= 8) {
    h = mix(h ^ load8(p), k1);
    p += 8;
    n -= 8;
  }
  // The last n bytes: from the string's last 8 when it has them (one load), else piecewise.
  const uint64_t tail = n == 0          ? 0
                        : s.size() >= 8 ? load8(p + n - 8) >> (8 * (8 - n))
                                        : load_short(p, n);
  h = mix(h ^ tail ^ (static_cast<uint64_t>(s.size()) << 56), k1);
  return mix(h, k0);
}

// a[0, n) == b[0, n), inline: keys are short, and a call to memcmp costs more than comparing.
inline bool equal_bytes(const char* a, const char* b, size_t n) {
  if (n < 8) return load_short(a, n) == load_short(b, n);
  for (size_t i = 0; i + 8 < n; i += 8) {
    if (load8(a + i) != load8(b + i)) return false;
  }
  return load8(a + n - 8) == load8(b + n - 8);
}

// Seeds keeping the key spaces apart (an exact host "foo.com" and the wildcard "*.foo.com" share
// the key "foo.com"; so do an Exact and a Prefix path).
inline constexpr uint64_t kExactHostSeed = 0x8ebc6af09c88c6e3ull;
inline constexpr uint64_t kWildcardHostSeed = 0x589965cc75374cc3ull;
inline constexpr uint64_t kExactPathSeed = 0x1d8e4e27c47d124full;
inline constexpr uint64_t kPrefixPathSeed = 0x72be5d74f27b896full;

// Bit n set: some key of n bytes exists (n < 63); bit 63: some key of 63 bytes or more. Lets a
// lookup skip the candidates that cannot hit (most prefix candidates of a deep path).
inline uint64_t length_bit(size_t n) {
  return uint64_t{1} << (n < 63 ? n : 63);
}

inline constexpr size_t kLine = 64;

// One host table slot. The home slot is hash & mask; the tag is the hash's other half, so a
// probe reads the host's block only when 32 more bits agree (the block then confirms the key).
struct HostSlot {
  uint32_t tag = 0;  // 0: empty
  // Bits 0-26: where the host's block starts, in lines from the arena start; bits 27-31: its
  // length in lines (capped at 31), so the lookup can prefetch all of it without waiting for it.
  uint32_t block = 0;
};
static_assert(sizeof(HostSlot) == 8);
inline constexpr uint32_t kBlockLineBits = 27;
inline constexpr uint32_t kBlockLineMask = (uint32_t{1} << kBlockLineBits) - 1;
inline constexpr uint32_t kMaxBlockLines = 31;

inline uint32_t host_tag(uint64_t hash) {
  const auto tag = static_cast<uint32_t>(hash >> 32);
  return tag == 0 ? 1 : tag;
}

// Hosts with at most this many paths are scanned (their block is a few lines); bigger ones get
// a hash table of entry numbers in their block.
inline constexpr uint32_t kScanMaxPaths = 16;

// The start of every host block (line-aligned). After it, in this order: the host key
// (host_size bytes), uint16_t key sizes[path_count], PathEntry entries[path_count], for a big
// host uint32_t table[table_mask + 1] (entry number + 1, 0: empty) and uint32_t key offsets
// [path_count], then the path key bytes back to back in entry order (a scan adds up the sizes
// instead of reading offsets: a 10-path host's block is 5 lines). Entries
// [0, exact_count) are the Exact paths, the rest the Prefix keys.
struct BlockHeader {
  const VirtualHost* vhost = nullptr;  // null: the table's own catch_all (it moves with the table)
  const Route* routes = nullptr;       // vhost->routes.data(); PathEntry::route indexes it
  uint64_t exact_lengths = 0;          // length_bit() of every Exact path
  uint64_t prefix_lengths = 0;         // length_bit() of every Prefix key
  int32_t fallback = 0;                // vhost->fallback, so a miss needs no further line
  uint32_t path_count = 0;
  uint32_t exact_count = 0;
  uint32_t table_mask = 0;   // 0: scan; else the path table's capacity - 1
  uint32_t prefix_keys = 0;  // where the first Prefix key starts, from the block start
  uint16_t host_size = 0;
};
static_assert(sizeof(BlockHeader) == 56);

// Path keys are at most this long (a longer one leaves the table on its maps, same answers).
inline constexpr size_t kMaxPathKey = UINT16_MAX;

struct PathEntry {
  uint32_t written_size = 0;  // the route's path as written ("/foo/" is longer than its key)
  uint32_t route = 0;         // index into BlockHeader::routes
  int32_t cluster = 0;        // that route's cluster, so a match needs no further line
};
static_assert(sizeof(PathEntry) == 12);

// Where the parts of a block start, from the block start.
struct BlockLayout {
  size_t sizes, entries, table, offsets, keys;
  BlockLayout(size_t host_size, size_t path_count, size_t table_slots) {
    sizes = (sizeof(BlockHeader) + host_size + 1) & ~size_t{1};
    entries = (sizes + path_count * sizeof(uint16_t) + 3) & ~size_t{3};
    table = entries + path_count * sizeof(PathEntry);
    offsets = table + table_slots * sizeof(uint32_t);
    keys = offsets + (table_slots == 0 ? 0 : path_count * sizeof(uint32_t));
  }
};

}  // namespace route_index

struct RouteIndex {
  // Frees the arena, or keeps a large one for the next index (route_index.cpp).
  struct Free {
    // (Constructors, not a member initializer: usable while RouteIndex is still incomplete.)
    Free() noexcept : size(0) {}
    explicit Free(size_t bytes) noexcept : size(bytes) {}
    size_t size;
    void operator()(std::byte* p) const;
  };
  // One allocation (huge pages when it is large): the exact host table, the wildcard host
  // table, then the host blocks.
  std::unique_ptr<std::byte[], Free> arena;
  size_t arena_size = 0;
  const route_index::HostSlot* exact_hosts = nullptr;
  const route_index::HostSlot* wildcard_hosts = nullptr;
  uint32_t exact_mask = 0;  // capacity - 1; at most half full (short runs, always an empty slot)
  uint32_t wildcard_mask = 0;
  uint32_t catch_all_line = 0;  // the host-less rules' block
  bool built = false;

  const std::byte* line(uint32_t n) const { return arena.get() + size_t{n} * route_index::kLine; }

  RouteIndex() = default;
  // The arena does not move with the index, so its tables stay valid; the source is left unbuilt.
  RouteIndex(RouteIndex&& o) noexcept { *this = std::move(o); }
  RouteIndex& operator=(RouteIndex&& o) noexcept {
    arena = std::move(o.arena);
    arena_size = std::exchange(o.arena_size, 0);
    exact_hosts = std::exchange(o.exact_hosts, nullptr);
    wildcard_hosts = std::exchange(o.wildcard_hosts, nullptr);
    exact_mask = std::exchange(o.exact_mask, 0);
    wildcard_mask = std::exchange(o.wildcard_mask, 0);
    catch_all_line = std::exchange(o.catch_all_line, 0);
    built = std::exchange(o.built, false);
    return *this;
  }
  // The blocks point into the table that built them (map nodes and route vectors, which keep
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
