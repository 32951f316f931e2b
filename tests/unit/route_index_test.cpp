// RouteIndex (the flat tables route_request() probes) against the VirtualHost maps it is built
// from: every lookup must give the same answer either way. A copied RouteTable has no index, so
// the copy answers through the maps.
#include <gtest/gtest.h>

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
  ASSERT_TRUE(t.snapshot->routes->index.built);
  Snapshot maps;
  maps.routes = std::make_shared<RouteTable>(*t.snapshot->routes);
  maps.clusters = t.snapshot->clusters;
  ASSERT_FALSE(maps.routes->index.built);

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
  int routed = 0;
  for (const std::string& host : hosts) {
    for (const std::string& path : paths) {
      RouteMatch indexed = route_request(*t.snapshot, host, path);
      RouteMatch mapped = route_request(maps, host, path);
      EXPECT_EQ(describe(indexed), describe(mapped)) << host << " " << path;
      routed += indexed.route != nullptr;
    }
  }
  EXPECT_GT(routed, 100);
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
