// RouteIndex (the host tables and host blocks route_request() probes) against the VirtualHost maps
// it is built from: every lookup must give the same answer either way. A copied RouteTable has no
// index, so the copy answers through the maps.
#include <gtest/gtest.h>

#include <unordered_map>

#include "tests/unit/test_support.hpp"

namespace strait::controller::testing {
namespace {

std::string describe(const RouteMatch& m) {
  std::string out = std::to_string(m.backend) + " host=" + (m.vhost ? m.vhost->host : "?");
  if (m.route != nullptr) {
    out += std::string(m.route->type == PathType::Exact ? " Exact " : " Prefix ") + m.route->path +
           " " + m.route->ingress;
  }
  return out;
}

// Every host x path answered the same with and without the index; returns how many routed.
int expect_agreement(const Snapshot& indexed, const std::vector<std::string>& hosts,
                     const std::vector<std::string>& paths) {
  EXPECT_TRUE(indexed.routes->index.built);
  Snapshot maps;
  maps.routes = std::make_shared<RouteTable>(*indexed.routes);
  maps.clusters = indexed.clusters;
  EXPECT_FALSE(maps.routes->index.built);
  int routed = 0;
  for (const std::string& host : hosts) {
    for (const std::string& path : paths) {
      RouteMatch a = route_request(indexed, host, path);
      RouteMatch b = route_request(maps, host, path);
      EXPECT_EQ(describe(a), describe(b)) << host << " " << path;
      routed += a.route != nullptr;
    }
  }
  return routed;
}

TEST(RouteIndex, AgreesWithTheMaps) {
  const std::string long_host = "a-rather-long-host-name-beyond-the-inline-bytes.example.com";
  const std::string long_path = "/a/path/that/is/longer/than/the/thirty-one/inline/bytes";
  Store store;
  store.upsert(make_service("default", "svc"));
  store.upsert(make_service("default", "other"));
  store.upsert(make_ingress("default", "a", "foo.bar.com",
                            {{"/"},
                             {"/foo", "Exact"},
                             {"/foo/"},
                             {"/foo/bar", "Exact", "other"},
                             {"/foo/bar"},
                             {long_path},
                             {long_path + "/x", "Exact"},
                             {"/static", "ImplementationSpecific"}}));
  store.upsert(make_ingress("default", "b", "*.bar.com", {{"/api"}, {"/api/v1", "Exact"}}));
  store.upsert(make_ingress("default", "c", long_host, {{"/x"}, {long_path, "Exact"}}));
  store.upsert(make_ingress("default", "d", "*." + long_host, {{"/"}}));
  store.upsert(make_ingress("default", "e", "", {{"/c"}, {"/c/d", "Exact"}}));
  store.upsert(make_ingress("default", "f", "bar.com", {{"/only", "Exact"}}));
  Translation t = translate(store, {});

  const std::vector<std::string> hosts = {"foo.bar.com",        "FOO.bar.COM:8443",
                                          "foo.bar.com.",       "x.bar.com",
                                          "x.y.bar.com",        "bar.com",
                                          "BAR.com:80",         ".bar.com",
                                          "none.org",           "",
                                          "[fd00::1]:80",       long_host,
                                          "w." + long_host,     "w." + long_host.substr(0, 30),
                                          std::string(300, 'a')};
  std::vector<std::string> paths = {"",
                                    "/",
                                    "//",
                                    "/foo",
                                    "/foo/",
                                    "/foo//",
                                    "/foo/bar",
                                    "/foo/bar/",
                                    "/foo/bar/baz",
                                    "/foobar",
                                    "/static",
                                    "/static/css/x.css",
                                    "/api",
                                    "/api/v1",
                                    "/api/v1/",
                                    "/api/v2",
                                    "/x",
                                    "/c",
                                    "/c/d",
                                    "/c/d/e",
                                    "/only",
                                    "/only/",
                                    "relative",
                                    long_path,
                                    long_path + "/",
                                    long_path + "/x",
                                    long_path + "/x/y",
                                    long_path.substr(0, 31),
                                    long_path.substr(0, 40)};
  EXPECT_GT(expect_agreement(*t.snapshot, hosts, paths), 100);
}

// Request paths for a host whose rules are `rules`: each rule path, below it, beside it, with
// trailing slashes, and its parents.
std::vector<std::string> paths_around(const std::vector<PathSpec>& rules) {
  std::vector<std::string> out = {"", "/", "//", "/nothing/here", "relative"};
  for (const PathSpec& r : rules) {
    const std::string& p = r.path;
    for (const std::string& s : {p, p + "/", p + "//", p + "/x", p + "/x/y/", p + "x", p + "-"}) {
      out.push_back(s);
    }
    if (size_t slash = p.rfind('/'); slash != std::string::npos && slash > 0) {
      out.push_back(p.substr(0, slash));
    }
    if (p.size() > 1) out.push_back(p.substr(0, p.size() - 1));
  }
  return out;
}

// Hosts with more paths than a block scans get a hash table in their block: the answers must not
// change at the boundary, nor with many keys of one length, nor with the same key both Exact
// and Prefix, nor with keys longer than the length masks tell apart (63 bytes and more).
TEST(RouteIndex, BigHostsAgreeWithTheMaps) {
  Store store;
  for (int s = 0; s < 4; ++s) store.upsert(make_service("default", "svc" + std::to_string(s)));
  const std::string tail(70, 'z');
  std::vector<std::string> hosts = {"none.org", "", "q.wild.example"};
  std::vector<std::string> paths;
  // Path counts just under, at and over the scan limit, and far over it.
  const size_t scan = route_index::kScanMaxPaths;
  for (size_t count : {scan - 1, scan, scan + 1, size_t{300}}) {
    std::vector<PathSpec> rules;
    for (size_t i = 0; i < count; ++i) {
      const std::string n = std::to_string(1000 + i);  // four digits: one length for all
      const std::string service = "svc" + std::to_string(i % 4);
      switch (i % 6) {
        case 0:
          rules.push_back({"/u/" + n, "Exact", service});
          break;
        case 1:
          rules.push_back({"/u/" + n, "Prefix", service});  // beside an Exact of the same key
          break;
        case 2:
          rules.push_back({"/p/" + n + "/", "Prefix", service});
          break;
        case 3:
          rules.push_back({"/p/" + n + "/deep/er", "Prefix", service});
          break;
        case 4:
          rules.push_back({"/l/" + n + "/" + tail, i % 12 == 4 ? "Exact" : "Prefix", service});
          break;
        case 5:
          rules.push_back({"/l/" + n + "/" + tail + "/" + tail, "Prefix", service});
          break;
      }
    }
    if (count > route_index::kScanMaxPaths) rules.push_back({"/", "Prefix", "svc3"});
    const std::string host = "big" + std::to_string(count) + ".example";
    store.upsert(make_ingress("default", host, host, rules));
    hosts.push_back(host);
    hosts.push_back("BIG" + std::to_string(count) + ".example:80");
    std::vector<std::string> around = paths_around(rules);
    paths.insert(paths.end(), around.begin(), around.end());
  }
  store.upsert(make_ingress("default", "wild", "*.wild.example",
                            {{"/u/1000", "Exact", "svc1"}, {"/p", "Prefix", "svc2"}}));
  Translation t = translate(store, {});
  EXPECT_GT(expect_agreement(*t.snapshot, hosts, paths), 1000);
}

// An exact host and a wildcard over the same suffix: the exact one answers for itself, the
// wildcard for one label under it, neither for two labels under it.
TEST(RouteIndex, ExactAndWildcardHostOfOneSuffix) {
  Store store;
  store.upsert(make_service("default", "a"));
  store.upsert(make_service("default", "b"));
  store.upsert(
      make_ingress("default", "exact", "foo.com", {{"/", "Prefix", "a"}, {"/x", "Exact", "a"}}));
  store.upsert(
      make_ingress("default", "wild", "*.foo.com", {{"/", "Prefix", "b"}, {"/x", "Exact", "b"}}));
  store.upsert(make_ingress("default", "sub", "x.foo.com", {{"/y", "Prefix", "a"}}));
  Translation t = translate(store, {});
  const std::vector<std::string> hosts = {"foo.com",     "FOO.COM:1", "x.foo.com", "y.foo.com",
                                          "a.b.foo.com", "com",       ".foo.com",  "foo.com.."};
  expect_agreement(*t.snapshot, hosts, {"/", "/x", "/x/", "/y", "/y/z"});
  const RouteMatch wild = route_request(*t.snapshot, "y.foo.com", "/x");
  ASSERT_NE(wild.route, nullptr);
  EXPECT_EQ(wild.route->ingress, "default/wild");
  const RouteMatch sub = route_request(*t.snapshot, "x.foo.com", "/x");
  EXPECT_EQ(sub.route, nullptr);  // x.foo.com is its own host: no /x rule, its fallback
  EXPECT_EQ(sub.vhost->host, "x.foo.com");
}

// Two hosts whose hashes agree on the home slot and the 32-bit tag: the host table cannot tell
// them apart, so the block's key must (and the probe must go on to the next slot).
TEST(RouteIndex, HostTagCollisions) {
  auto store_with = [](const std::string& a, const std::string& b) {
    Store store;
    store.upsert(make_service("default", "sa"));
    store.upsert(make_service("default", "sb"));
    store.upsert(make_ingress("default", "a", a, {{"/", "Prefix", "sa"}}));
    store.upsert(make_ingress("default", "b", b, {{"/", "Prefix", "sb"}}));
    return store;
  };
  const uint32_t mask =
      translate(store_with("p.test", "q.test"), {}).snapshot->routes->index.exact_mask;
  // Birthday search over 32 tag bits and the home slot's bits: a few hundred thousand names.
  std::unordered_map<uint64_t, std::string> seen;
  std::string a, b;
  for (uint64_t n = 0; a.empty(); ++n) {
    // One length for all, so only the key bytes tell the two apart.
    std::string digits = std::to_string(n);
    std::string name = "c" + std::string(9 - digits.size(), '0') + digits + ".collide.test";
    const uint64_t h = route_index::hash_bytes(name, route_index::kExactHostSeed);
    const uint64_t key = (uint64_t{route_index::host_tag(h)} << 32) | (h & mask);
    auto [it, fresh] = seen.emplace(key, name);
    if (!fresh) {
      a = it->second;
      b = name;
    }
  }
  Translation t = translate(store_with(a, b), {});
  ASSERT_EQ(t.snapshot->routes->index.exact_mask, mask);
  for (const std::string& host : {a, b}) {
    const RouteMatch m = route_request(*t.snapshot, host, "/");
    ASSERT_NE(m.route, nullptr) << host;
    EXPECT_EQ(m.route->ingress, host == a ? "default/a" : "default/b");
  }
  // Either name unconfigured (its twin is) falls through to the default.
  Translation only_a = translate(store_with(a, "other.test"), {});
  EXPECT_EQ(route_request(*only_a.snapshot, b, "/").route, nullptr);
  expect_agreement(*t.snapshot, {a, b, "other.test"}, {"/", "/x"});
}

// The index lives in its own allocation: a table moved elsewhere keeps routing through it
// (the catch-all's answers name the table's new address).
TEST(RouteIndex, MovedTableKeepsItsIndex) {
  Store store;
  store.upsert(make_service("default", "svc"));
  store.upsert(make_ingress("default", "a", "foo.com", {{"/a"}}));
  store.upsert(make_ingress("default", "c", "", {{"/c"}}));
  Translation t = translate(store, {});
  RouteTable table = *t.snapshot->routes;  // a copy: no index until built
  ASSERT_FALSE(table.index.built);
  build_route_index(table);
  ASSERT_TRUE(table.index.built);
  Snapshot moved;
  moved.routes = std::make_shared<RouteTable>(std::move(table));
  moved.clusters = t.snapshot->clusters;
  ASSERT_TRUE(moved.routes->index.built);
  EXPECT_FALSE(table.index.built);  // NOLINT(bugprone-use-after-move): left to its maps
  RouteMatch m = route_request(moved, "foo.com", "/a/b");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->path, "/a");
  m = route_request(moved, "bar.com", "/c");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.vhost, &moved.routes->catch_all);
  EXPECT_EQ(m.route, &moved.routes->catch_all.routes[0]);
  expect_agreement(moved, {"foo.com", "bar.com", ""}, {"/", "/a", "/a/", "/c", "/c/d"});
}

// A large index's arena is kept when its table goes and serves the next index of about its size
// (a route change at scale would otherwise fault in and zero every page of a fresh one); the
// reused arena routes like the maps.
TEST(RouteIndex, ALargeArenaIsReusedByTheNextIndex) {
  Store store;
  store.upsert(make_service("default", "svc"));
  std::vector<std::string> hosts;
  for (int i = 0; i < 8000; ++i) {
    hosts.push_back("h" + std::to_string(i) + ".example.com");
    store.upsert(make_ingress("default", "i" + std::to_string(i), hosts.back(), {{"/a"}}));
  }
  const std::byte* first_arena = nullptr;
  size_t first_size = 0;
  {
    Translation first = translate(store, {});
    first_arena = first.snapshot->routes->index.arena.get();
    first_size = first.snapshot->routes->index.arena_size;
    ASSERT_GE(first_size, size_t{1} << 20) << "too small to be kept: grow the table";
  }
  store.upsert(make_ingress("default", "extra", "extra.example.com", {{"/b"}}));
  Translation second = translate(store, {});
  EXPECT_EQ(second.snapshot->routes->index.arena.get(), first_arena);
  EXPECT_EQ(second.snapshot->routes->index.arena_size, first_size);
  hosts.resize(50);
  hosts.push_back("extra.example.com");
  expect_agreement(*second.snapshot, hosts, {"/", "/a", "/a/x", "/b"});
}

// Hosts are lower-cased eight bytes at a time: every byte value, in the first and second word,
// routes exactly as an ASCII-only tolower says (bytes >= 0x80 and the neighbours of 'A'..'Z'
// untouched).
TEST(RouteIndex, HostCaseFoldingByteByByte) {
  Store store;
  store.upsert(make_service("default", "svc"));
  for (char c = 'a'; c <= 'z'; ++c) {
    for (const std::string& host :
         {std::string("host") + c + "name.example", std::string("hostname.exa") + c + "mple"}) {
      store.upsert(make_ingress("default", host, host, {{"/"}}));
    }
  }
  Translation t = translate(store, {});
  for (int byte = 1; byte < 256; ++byte) {
    const char c = static_cast<char>(byte);
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    const bool known = lower >= 'a' && lower <= 'z';
    for (const auto& [request, expected] :
         {std::pair{std::string("HOST") + c + "NAME.example",
                    std::string("host") + lower + "name.example"},
          std::pair{std::string("HostName.EXA") + c + "mple",
                    std::string("hostname.exa") + lower + "mple"}}) {
      const RouteMatch m = route_request(*t.snapshot, request, "/");
      EXPECT_EQ(m.route != nullptr, known) << byte;
      if (known && m.route != nullptr) {
        EXPECT_EQ(m.vhost->host, expected) << byte;
      }
    }
  }
}

// A path key longer than a block records (64 KB) leaves the table on its maps: same answers.
TEST(RouteIndex, OverlongPathKeyFallsBackToTheMaps) {
  Store store;
  store.upsert(make_service("default", "svc"));
  const std::string huge = "/" + std::string(route_index::kMaxPathKey + 1, 'p');
  store.upsert(make_ingress("default", "a", "foo.com", {{"/a"}, {huge, "Exact"}}));
  Translation t = translate(store, {});
  EXPECT_FALSE(t.snapshot->routes->index.built);
  RouteMatch m = route_request(*t.snapshot, "foo.com", huge);
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->path, huge);
  m = route_request(*t.snapshot, "foo.com", "/a/b");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->path, "/a");
}

// Deep paths (30 elements) under rules at several depths, an Exact among them and a Prefix
// written with a trailing slash: the longest candidate with a rule wins, as in the maps.
TEST(RouteIndex, DeepPathsAgreeWithTheMaps) {
  Store store;
  store.upsert(make_service("default", "a"));
  store.upsert(make_service("default", "b"));
  std::string deep;
  std::vector<PathSpec> rules = {{"/", "Prefix", "a"}};
  std::vector<std::string> paths = {"/", ""};
  for (int depth = 1; depth <= 30; ++depth) {
    deep += "/" + std::to_string(depth);
    if (depth % 7 == 0) rules.push_back({deep, "Prefix", depth % 2 ? "a" : "b"});
    if (depth == 13) rules.push_back({deep + "/", "Prefix", "b"});
    if (depth == 20) rules.push_back({deep, "Exact", "a"});
    paths.push_back(deep);
    paths.push_back(deep + "/");
    paths.push_back(deep + "//x");
  }
  store.upsert(make_ingress("default", "deep", "deep.example", rules));
  Translation t = translate(store, {});
  EXPECT_GT(expect_agreement(*t.snapshot, {"deep.example", "other.example"}, paths), 80);
}

TEST(RouteIndex, EmptyTableRoutesToTheDefault) {
  Store store;
  Translation t = translate(store, {});
  ASSERT_TRUE(t.snapshot->routes->index.built);
  RouteMatch m = route_request(*t.snapshot, "foo.com", "/");
  EXPECT_EQ(m.backend, kBackendNotFound);
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.vhost, &t.snapshot->routes->catch_all);
}

}  // namespace
}  // namespace strait::controller::testing
