// build_route_index(): the flat hash tables route_request() probes (include/strait/
// route_index.hpp), derived from a finished RouteTable's maps.
#include <algorithm>
#include <bit>
#include <cstring>

#include "strait/snapshot.hpp"

namespace strait {
namespace {

using route_index::HostSlot;
using route_index::PathSlot;

// A power of two at least twice `count` (at most half full), and never zero.
size_t capacity_for(size_t count) {
  return std::bit_ceil(std::max<size_t>(8, count * 2));
}

template <typename Slot>
Slot& free_slot(std::vector<Slot>& table, uint64_t hash) {
  const size_t mask = table.size() - 1;
  size_t i = hash & mask;
  while (table[i].hash != 0) i = (i + 1) & mask;
  return table[i];
}

template <size_t N>
void copy_inline(char (&dst)[N], std::string_view key) {
  std::memcpy(dst, key.data(), std::min(N, key.size()));
}

// Fills the path slots of one host and its length masks. False when a key does not match its
// route (a table not built by the translator): the router then keeps using the maps.
bool add_paths(RouteIndex& index, HostSlot& host, const VirtualHost& vh) {
  for (bool exact : {true, false}) {
    for (const auto& [key, position] : exact ? vh.exact : vh.prefix) {
      if (position >= vh.routes.size()) return false;
      const Route& route = vh.routes[position];
      if (std::string_view(route.path).substr(0, key.size()) != key ||
          (exact && route.path.size() != key.size())) {
        return false;
      }
      const uint64_t hash = route_index::path_hash(host.hash, exact, key);
      PathSlot& slot = free_slot(index.paths, hash);
      slot.hash = hash;
      slot.route = &route;
      slot.host_id = host.id;
      slot.cluster = route.cluster;
      slot.key_size = static_cast<uint32_t>(key.size());
      slot.written_size = static_cast<uint32_t>(route.path.size());
      slot.exact = exact;
      copy_inline(slot.key, key);
      (exact ? host.exact_lengths : host.prefix_lengths) |= route_index::length_bit(key.size());
    }
  }
  return true;
}

}  // namespace

void build_route_index(RouteTable& table) {
  RouteIndex index;
  size_t paths = table.catch_all.exact.size() + table.catch_all.prefix.size();
  for (const auto* hosts : {&table.exact_hosts, &table.wildcard_hosts}) {
    for (const auto& [key, vh] : *hosts) paths += vh.exact.size() + vh.prefix.size();
  }
  index.paths.resize(capacity_for(paths));
  index.exact_hosts.resize(capacity_for(table.exact_hosts.size()));
  index.wildcard_hosts.resize(capacity_for(table.wildcard_hosts.size()));

  uint32_t next_id = 1;  // 0 is the catch-all
  index.catch_all.hash = route_index::kCatchAllHash;
  if (!add_paths(index, index.catch_all, table.catch_all)) return;
  for (bool wildcard : {false, true}) {
    const auto& hosts = wildcard ? table.wildcard_hosts : table.exact_hosts;
    auto& slots = wildcard ? index.wildcard_hosts : index.exact_hosts;
    for (const auto& [key, vh] : hosts) {
      // The key must be the host as written (after "*." for wildcards): lookups verify it there.
      std::string_view written(vh.host);
      if (wildcard && !written.starts_with("*.")) return;
      if (written.substr(wildcard ? 2 : 0) != key || key.size() > 255) return;
      const uint64_t hash = route_index::hash_bytes(
          key, wildcard ? route_index::kWildcardHostSeed : route_index::kExactHostSeed);
      HostSlot& slot = free_slot(slots, hash);
      slot.hash = hash;
      slot.vhost = &vh;
      slot.id = next_id++;
      slot.key_size = static_cast<uint16_t>(key.size());
      copy_inline(slot.key, key);
      if (!add_paths(index, slot, vh)) return;
    }
  }
  index.built = true;
  table.index = std::move(index);
}

}  // namespace strait
