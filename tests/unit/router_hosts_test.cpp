// Host selection: exact, then wildcard (exactly one label), then the host-less rules.
#include <gtest/gtest.h>

#include "tests/unit/test_support.hpp"

namespace strait::controller::testing {
namespace {

class RouterHosts : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"exact", "wild", "any", "deep"}) {
      store_.upsert(make_service("default", name));
    }
    store_.upsert(make_ingress("default", "a", "foo.bar.com", {{"/", "Prefix", "exact"}}));
    store_.upsert(make_ingress("default", "b", "*.bar.com", {{"/", "Prefix", "wild"}}));
    store_.upsert(make_ingress("default", "c", "", {{"/", "Prefix", "any"}}));
    store_.upsert(make_ingress("default", "d", "*.baz.bar.com", {{"/", "Prefix", "deep"}}));
    t_ = translate(store_, {});
  }
  std::string route(std::string_view host) { return cluster_of(*t_.snapshot, host, "/x"); }

  Store store_;
  Translation t_;
};

TEST_F(RouterHosts, ExactBeatsWildcardBeatsHostless) {
  EXPECT_EQ(route("foo.bar.com"), "default/exact:80");
  EXPECT_EQ(route("other.bar.com"), "default/wild:80");
  EXPECT_EQ(route("unrelated.org"), "default/any:80");
  EXPECT_EQ(t_.snapshot->routes->wildcard_hosts.count("bar.com"), 1u);
  EXPECT_EQ(t_.snapshot->routes->wildcard_hosts.at("bar.com").host, "*.bar.com");
}

TEST_F(RouterHosts, WildcardCoversExactlyOneLabel) {
  EXPECT_EQ(route("bar.com"), "default/any:80");         // zero labels
  EXPECT_EQ(route("x.y.bar.com"), "default/any:80");     // two labels
  EXPECT_EQ(route("x.baz.bar.com"), "default/deep:80");  // the deeper wildcard
  EXPECT_EQ(route("baz.bar.com"), "default/wild:80");    // one label under *.bar.com
  EXPECT_EQ(route(".bar.com"), "default/any:80");        // empty first label
}

TEST_F(RouterHosts, CasePortAndTrailingDotAreIgnored) {
  EXPECT_EQ(route("FOO.Bar.COM"), "default/exact:80");
  EXPECT_EQ(route("foo.bar.com:8080"), "default/exact:80");
  EXPECT_EQ(route("foo.bar.com."), "default/exact:80");
  EXPECT_EQ(route("Foo.Bar.Com.:443"), "default/exact:80");
  EXPECT_EQ(route("X.BAR.COM:80"), "default/wild:80");
}

TEST_F(RouterHosts, OddHostsFallToHostless) {
  EXPECT_EQ(route(""), "default/any:80");
  EXPECT_EQ(route("[fd00::1]:8080"), "default/any:80");
  EXPECT_EQ(route("10.0.0.1"), "default/any:80");
  EXPECT_EQ(route(std::string(300, 'a') + ".bar.com"), "default/any:80");
}

TEST(RouterHostsUpperCaseRule, RuleHostsAreLowerCased) {
  // The API server rejects upper-case hosts; a Store filled by hand still routes sanely.
  Store store;
  store.upsert(make_service("default", "svc"));
  store.upsert(make_ingress("default", "a", "foo.example.com", {{"/"}}));
  Translation t = translate(store, {});
  EXPECT_EQ(t.snapshot->routes->exact_hosts.count("foo.example.com"), 1u);
  EXPECT_EQ(cluster_of(*t.snapshot, "FOO.EXAMPLE.COM", "/"), "default/svc:80");
}

TEST(RouterHostsNoHostless, UnknownHostGetsDefault404) {
  Store store;
  store.upsert(make_service("default", "svc"));
  store.upsert(make_ingress("default", "a", "foo.example.com", {{"/"}}));
  Translation t = translate(store, {});
  RouteMatch m = route_request(*t.snapshot, "other.example.com", "/");
  EXPECT_EQ(m.backend, kBackendNotFound);
  EXPECT_EQ(m.vhost, &t.snapshot->routes->catch_all);
}

}  // namespace
}  // namespace strait::controller::testing
