// build_route_index(): the host tables and host blocks route_request() probes (include/strait/
// route_index.hpp), derived from a finished RouteTable's maps.
#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "strait/snapshot.hpp"

namespace strait {
namespace {

using route_index::BlockHeader;
using route_index::BlockLayout;
using route_index::HostSlot;
using route_index::kLine;
using route_index::PathEntry;

// A power of two at least twice `count` (at most half full), and never zero.
size_t capacity_for(size_t count) {
  return std::bit_ceil(std::max<size_t>(8, count * 2));
}

size_t round_up(size_t n, size_t to) {
  return (n + to - 1) / to * to;
}

// Arenas at least this large go on transparent huge pages: a lookup then needs no page walk
// for the blocks (measured on this VM: a random read 92-159 ns with THP, 125-196 ns without).
// Smaller ones would waste most of a 2 MB page.
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugeArenaMin = size_t{1} << 20;

// One host to lay out: its key as the table holds it (after "*." for wildcards), its rules.
struct Pending {
  std::string_view key;
  const VirtualHost* vh;
  bool catch_all;
  size_t table_slots;  // 0: small host, scanned
  size_t bytes;        // the block, whole lines
};

// The path keys of a host in block order: Exact first, then Prefix. False when a key does not
// match its route (a table not built by the translator): the router then keeps using the maps.
struct PathKey {
  std::string_view key;
  const Route* route;
  uint32_t position;
  bool exact;
};
bool collect_paths(const VirtualHost& vh, std::vector<PathKey>& out) {
  out.clear();
  for (bool exact : {true, false}) {
    for (const auto& [key, position] : exact ? vh.exact : vh.prefix) {
      if (position >= vh.routes.size()) return false;
      const Route& route = vh.routes[position];
      if (std::string_view(route.path).substr(0, key.size()) != key ||
          (exact && route.path.size() != key.size()) || key.size() > route_index::kMaxPathKey ||
          route.path.size() > UINT32_MAX) {
        return false;
      }
      out.push_back({key, &route, position, exact});
    }
  }
  return true;
}

size_t block_bytes(const Pending& p, const std::vector<PathKey>& paths) {
  const BlockLayout layout(p.key.size(), paths.size(), p.table_slots);
  size_t bytes = layout.keys;
  for (const PathKey& k : paths) bytes += k.key.size();
  return round_up(bytes, kLine);
}

// Writes one host's block at `block` (zeroed, line-aligned).
void fill_block(std::byte* block, const Pending& p, const std::vector<PathKey>& paths) {
  const BlockLayout layout(p.key.size(), paths.size(), p.table_slots);
  auto* header = new (block) BlockHeader;
  header->vhost = p.catch_all ? nullptr : p.vh;
  header->routes = p.vh->routes.data();
  header->fallback = p.vh->fallback;
  header->host_size = static_cast<uint16_t>(p.key.size());
  header->path_count = static_cast<uint32_t>(paths.size());
  header->table_mask = p.table_slots == 0 ? 0 : static_cast<uint32_t>(p.table_slots - 1);
  if (!p.key.empty()) std::memcpy(block + sizeof(BlockHeader), p.key.data(), p.key.size());

  // The arena comes from aligned_alloc, which creates these implicit-lifetime objects (zeroed).
  auto* sizes = reinterpret_cast<uint16_t*>(block + layout.sizes);
  auto* entries = reinterpret_cast<PathEntry*>(block + layout.entries);
  auto* table = p.table_slots == 0 ? nullptr : reinterpret_cast<uint32_t*>(block + layout.table);
  auto* offsets =
      p.table_slots == 0 ? nullptr : reinterpret_cast<uint32_t*>(block + layout.offsets);
  size_t key_offset = layout.keys;
  for (size_t i = 0; i < paths.size(); ++i) {
    const PathKey& k = paths[i];
    header->exact_count += k.exact;
    (k.exact ? header->exact_lengths : header->prefix_lengths) |=
        route_index::length_bit(k.key.size());
    sizes[i] = static_cast<uint16_t>(k.key.size());
    if (!k.exact && header->prefix_keys == 0) {
      header->prefix_keys = static_cast<uint32_t>(key_offset);  // Prefix keys follow the Exact
    }
    entries[i].written_size = static_cast<uint32_t>(k.route->path.size());
    entries[i].route = k.position;
    entries[i].cluster = k.route->cluster;
    if (!k.key.empty()) std::memcpy(block + key_offset, k.key.data(), k.key.size());
    key_offset += k.key.size();
    if (table != nullptr) {
      offsets[i] = static_cast<uint32_t>(key_offset - k.key.size());
      const uint64_t hash = route_index::hash_bytes(
          k.key, k.exact ? route_index::kExactPathSeed : route_index::kPrefixPathSeed);
      size_t slot = hash & header->table_mask;
      while (table[slot] != 0) slot = (slot + 1) & header->table_mask;
      table[slot] = static_cast<uint32_t>(i + 1);
    }
  }
}

// One spare large arena. A configuration change builds the new index while the old one still
// serves, then the old one goes: a fresh arena costs a page fault and the kernel's zeroing of
// every page (8 % of the CPU of a route change at 10,000 hosts), a reused one only the memset.
constinit std::mutex spare_mutex;
constinit std::byte* spare_arena = nullptr;
constinit size_t spare_size = 0;

// A spare of at least `bytes` (and not more than twice that), or null.
std::byte* take_spare(size_t& bytes) {
  std::lock_guard lock(spare_mutex);
  if (spare_arena == nullptr || spare_size < bytes || spare_size / 2 > bytes) return nullptr;
  bytes = spare_size;
  spare_size = 0;
  return std::exchange(spare_arena, nullptr);
}

// The arena: zeroed, line-aligned, on huge pages when large. Null when out of memory.
std::byte* allocate_arena(size_t& bytes) {
  const bool huge = bytes >= kHugeArenaMin;
  bytes = round_up(bytes, huge ? kHugePage : kLine);
  std::byte* arena = huge ? take_spare(bytes) : nullptr;
  if (arena == nullptr) {
    arena = static_cast<std::byte*>(std::aligned_alloc(huge ? kHugePage : kLine, bytes));
    if (arena == nullptr) return nullptr;
    // Advice only: without THP the arena is ordinary pages and lookups give the same answers.
    if (huge) (void)madvise(arena, bytes, MADV_HUGEPAGE);
  }
  std::memset(arena, 0, bytes);
  return arena;
}

}  // namespace

void RouteIndex::Free::operator()(std::byte* p) const {
  if (p == nullptr) return;
  if (size >= kHugeArenaMin) {
    std::lock_guard lock(spare_mutex);
    std::swap(p, spare_arena);  // the most recent one is the likeliest size of the next
    spare_size = size;
  }
  std::free(p);
}

void build_route_index(RouteTable& table) {
  // Lay out every host first (sizes), then allocate once and fill.
  std::vector<Pending> pending;
  pending.reserve(1 + table.exact_hosts.size() + table.wildcard_hosts.size());
  pending.push_back({"", &table.catch_all, true, 0, 0});
  for (bool wildcard : {false, true}) {
    for (const auto& [key, vh] : wildcard ? table.wildcard_hosts : table.exact_hosts) {
      // The key must be the host as written (after "*." for wildcards): the block holds it.
      std::string_view written(vh.host);
      if (wildcard && !written.starts_with("*.")) return;
      if (written.substr(wildcard ? 2 : 0) != key || key.size() > 255) return;
      pending.push_back({key, &vh, false, 0, 0});
    }
  }
  std::vector<PathKey> paths;
  const size_t exact_slots = capacity_for(table.exact_hosts.size());
  const size_t wildcard_slots = capacity_for(table.wildcard_hosts.size());
  size_t bytes = round_up((exact_slots + wildcard_slots) * sizeof(HostSlot), kLine);
  for (Pending& p : pending) {
    if (!collect_paths(*p.vh, paths)) return;
    p.table_slots = paths.size() > route_index::kScanMaxPaths ? capacity_for(paths.size()) : 0;
    p.bytes = block_bytes(p, paths);
    bytes += p.bytes;
  }
  // Block offsets are line numbers in 27 bits (8 GB), far above any real configuration.
  if (bytes / kLine > route_index::kBlockLineMask) return;

  RouteIndex index;
  index.arena_size = bytes;
  std::byte* allocated = allocate_arena(index.arena_size);
  if (allocated == nullptr) return;
  index.arena = {allocated, RouteIndex::Free{index.arena_size}};
  std::byte* arena = index.arena.get();
  auto* exact_hosts = reinterpret_cast<HostSlot*>(arena);
  auto* wildcard_hosts = reinterpret_cast<HostSlot*>(arena + exact_slots * sizeof(HostSlot));
  index.exact_hosts = exact_hosts;
  index.wildcard_hosts = wildcard_hosts;
  index.exact_mask = static_cast<uint32_t>(exact_slots - 1);
  index.wildcard_mask = static_cast<uint32_t>(wildcard_slots - 1);

  size_t offset = round_up((exact_slots + wildcard_slots) * sizeof(HostSlot), kLine);
  const size_t wildcard_from = 1 + table.exact_hosts.size();
  for (size_t i = 0; i < pending.size(); ++i) {
    const Pending& p = pending[i];
    collect_paths(*p.vh, paths);  // succeeded above
    fill_block(arena + offset, p, paths);
    const auto line = static_cast<uint32_t>(offset / kLine);
    const auto lines =
        static_cast<uint32_t>(std::min<size_t>(p.bytes / kLine, route_index::kMaxBlockLines));
    offset += p.bytes;
    if (p.catch_all) {
      index.catch_all_line = line;
      continue;
    }
    const bool wildcard = i >= wildcard_from;
    const uint64_t hash = route_index::hash_bytes(
        p.key, wildcard ? route_index::kWildcardHostSeed : route_index::kExactHostSeed);
    HostSlot* slots = wildcard ? wildcard_hosts : exact_hosts;
    const uint32_t mask = wildcard ? index.wildcard_mask : index.exact_mask;
    size_t s = hash & mask;
    while (slots[s].tag != 0) s = (s + 1) & mask;
    slots[s].tag = route_index::host_tag(hash);
    slots[s].block = line | (lines << route_index::kBlockLineBits);
  }
  index.built = true;
  table.index = std::move(index);
}

}  // namespace strait
