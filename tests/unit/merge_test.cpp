// Merging Ingresses per host, exact-conflict resolution, invalid paths, default backends.
#include <gtest/gtest.h>

#include "tests/unit/test_support.hpp"

namespace strait::controller::testing {
namespace {

class Merge : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"a", "b", "c", "d", "dflt"}) {
      store_.upsert(make_service("default", name));
    }
  }
  Translation run(const TranslateOptions& o = {}) { return translate(store_, o); }
  Store store_;
};

TEST_F(Merge, RulesForOneHostFromSeveralIngressesMerge) {
  store_.upsert(make_ingress("default", "one", "x.com", {{"/a", "Prefix", "a"}}));
  store_.upsert(make_ingress("default", "two", "x.com", {{"/b", "Exact", "b"}}));
  Translation t = run();
  ASSERT_EQ(t.snapshot->routes->exact_hosts.size(), 1u);
  EXPECT_EQ(t.snapshot->routes->exact_hosts.at("x.com").routes.size(), 2u);
  EXPECT_EQ(cluster_of(*t.snapshot, "x.com", "/a/z"), "default/a:80");
  EXPECT_EQ(cluster_of(*t.snapshot, "x.com", "/b"), "default/b:80");
  EXPECT_TRUE(t.warnings.empty()) << warnings_text(t);
}

TEST_F(Merge, ExactConflictOldestWinsWithWarningNamingTheLoser) {
  store_.upsert(
      make_ingress("default", "new", "x.com", {{"/p", "Prefix", "b"}}, "2024-06-01T00:00:00Z"));
  store_.upsert(
      make_ingress("default", "old", "x.com", {{"/p", "Prefix", "a"}}, "2023-01-01T00:00:00Z"));
  Translation t = run();
  EXPECT_EQ(cluster_of(*t.snapshot, "x.com", "/p"), "default/a:80");
  EXPECT_TRUE(has_warning(t, "Ingress default/new", "already defined by Ingress default/old"))
      << warnings_text(t);
  EXPECT_EQ(t.warnings.size(), 1u);
}

TEST_F(Merge, SameTimestampFallsBackToNamespaceName) {
  store_.upsert(make_ingress("default", "zeta", "x.com", {{"/p", "Exact", "b"}}));
  store_.upsert(make_ingress("default", "alpha", "x.com", {{"/p", "Exact", "a"}}));
  Translation t = run();
  EXPECT_EQ(cluster_of(*t.snapshot, "x.com", "/p"), "default/a:80");
  EXPECT_TRUE(has_warning(t, "Ingress default/zeta", "Exact path /p")) << warnings_text(t);
}

TEST_F(Merge, DifferentTypeOrSpellingIsNoConflict) {
  store_.upsert(make_ingress("default", "one", "x.com", {{"/p", "Prefix", "a"}}));
  store_.upsert(make_ingress("default", "two", "x.com", {{"/p", "Exact", "b"}}));
  store_.upsert(make_ingress("default", "three", "x.com", {{"/p/", "Prefix", "c"}}));
  Translation t = run();
  EXPECT_TRUE(t.warnings.empty()) << warnings_text(t);
  EXPECT_EQ(cluster_of(*t.snapshot, "x.com", "/p"), "default/c:80");  // "/p/" longer than "/p"
  EXPECT_EQ(cluster_of(*t.snapshot, "x.com", "/p/q"), "default/c:80");
  const VirtualHost& vh = t.snapshot->routes->exact_hosts.at("x.com");
  EXPECT_EQ(vh.routes[vh.prefix.at("/p")].path, "/p/");
}

TEST_F(Merge, InvalidPathIsSkippedRestStillWorks) {
  Ingress ing = make_ingress("default", "web", "x.com",
                             {{"/ok", "Prefix", "a"},
                              {"relative", "Prefix", "b"},
                              {"/t", "Regex", "c"},
                              {"/x//y", "Exact", "d"}});
  ing.spec.rules[0].http->paths[1].path_type = "Prefix";
  IngressRule bad_host;
  bad_host.host = "10.0.0.1";
  bad_host.http = ing.spec.rules[0].http;
  ing.spec.rules.push_back(bad_host);
  store_.upsert(ing);
  Translation t = run();
  EXPECT_EQ(cluster_of(*t.snapshot, "x.com", "/ok"), "default/a:80");
  EXPECT_EQ(t.snapshot->routes->exact_hosts.at("x.com").routes.size(), 1u);
  EXPECT_EQ(t.snapshot->routes->exact_hosts.size(), 1u);
  EXPECT_TRUE(has_warning(t, "Ingress default/web", "spec.rules[0].http.paths[1].path"));
  EXPECT_TRUE(has_warning(t, "Ingress default/web", "spec.rules[0].http.paths[2].pathType"));
  EXPECT_TRUE(has_warning(t, "Ingress default/web", "spec.rules[0].http.paths[3].path"));
  EXPECT_TRUE(has_warning(t, "Ingress default/web", "spec.rules[1].host")) << warnings_text(t);
  // The clusters of skipped paths were never created.
  EXPECT_EQ(t.snapshot->clusters.size(), 1u);
}

TEST_F(Merge, BuiltIn404WhenNothingElse) {
  store_.upsert(make_ingress("default", "web", "x.com", {{"/a", "Prefix", "a"}}));
  Translation t = run();
  EXPECT_EQ(t.snapshot->routes->catch_all.fallback, kBackendNotFound);
  EXPECT_EQ(t.snapshot->routes->exact_hosts.at("x.com").fallback, kBackendNotFound);
  EXPECT_EQ(cluster_of(*t.snapshot, "x.com", "/zzz"), "404");
  EXPECT_EQ(cluster_of(*t.snapshot, "nope.com", "/"), "404");
}

TEST_F(Merge, IngressDefaultBackendIsFallbackOfItsHosts) {
  Ingress ing = make_ingress("default", "web", "x.com", {{"/a", "Prefix", "a"}});
  ing.spec.default_backend = service_backend("b", 80);
  store_.upsert(ing);
  store_.upsert(make_ingress("default", "other", "y.com", {{"/a", "Prefix", "a"}}));
  Translation t = run();
  EXPECT_EQ(cluster_of(*t.snapshot, "x.com", "/zzz"), "default/b:80");
  EXPECT_EQ(t.snapshot->routes->exact_hosts.at("x.com").fallback_ingress, "default/web");
  EXPECT_EQ(cluster_of(*t.snapshot, "y.com", "/zzz"), "404");  // not named by web's rules
  EXPECT_EQ(cluster_of(*t.snapshot, "nope.com", "/"), "404");  // web has rules: no catch-all
}

TEST_F(Merge, OldestDefaultBackendWinsPerHost) {
  Ingress newer =
      make_ingress("default", "newer", "x.com", {{"/n", "Prefix", "a"}}, "2024-06-01T00:00:00Z");
  newer.spec.default_backend = service_backend("c", 80);
  Ingress older =
      make_ingress("default", "older", "x.com", {{"/o", "Prefix", "a"}}, "2023-06-01T00:00:00Z");
  older.spec.default_backend = service_backend("b", 80);
  store_.upsert(newer);
  store_.upsert(older);
  Translation t = run();
  EXPECT_EQ(cluster_of(*t.snapshot, "x.com", "/zzz"), "default/b:80");
  EXPECT_EQ(t.snapshot->routes->exact_hosts.at("x.com").fallback_ingress, "default/older");
  // The losing default backend was never resolved into a cluster.
  for (const auto& c : t.snapshot->clusters) EXPECT_NE(c->name, "default/c:80");
}

TEST_F(Merge, RulelessIngressSetsCatchAllOldestWins) {
  Ingress a;
  a.metadata.name = "late";
  a.metadata.namespace_ = "default";
  a.metadata.creation_timestamp = "2024-02-01T00:00:00Z";
  a.spec.ingress_class_name = "strait";
  a.spec.default_backend = service_backend("c", 80);
  Ingress b = a;
  b.metadata.name = "early";
  b.metadata.creation_timestamp = "2024-01-01T00:00:00Z";
  b.spec.default_backend = service_backend("d", 80);
  store_.upsert(a);
  store_.upsert(b);
  store_.upsert(make_ingress("default", "web", "x.com", {{"/a", "Prefix", "a"}}));
  TranslateOptions o;
  o.default_backend_service = "default/dflt";
  Translation t = run(o);
  EXPECT_EQ(cluster_of(*t.snapshot, "nope.com", "/"), "default/d:80");
  EXPECT_EQ(t.snapshot->routes->catch_all.fallback_ingress, "default/early");
  // Hosts without their own default backend use the controller's.
  EXPECT_EQ(cluster_of(*t.snapshot, "x.com", "/zzz"), "default/dflt:80");
  EXPECT_EQ(t.snapshot->routes->exact_hosts.at("x.com").fallback_ingress, "");
}

TEST_F(Merge, ControllerDefaultBackendService) {
  store_.upsert(make_service("ops", "fallback", {{"http", 8080}, {"admin", 9000}}));
  store_.upsert(make_ingress("default", "web", "x.com", {{"/a", "Prefix", "a"}}));
  TranslateOptions o;
  o.default_backend_service = "ops/fallback";
  Translation t = run(o);
  EXPECT_EQ(cluster_of(*t.snapshot, "x.com", "/zzz"), "ops/fallback:8080");  // first port
  EXPECT_EQ(cluster_of(*t.snapshot, "nope.com", "/"), "ops/fallback:8080");
  EXPECT_TRUE(t.warnings.empty()) << warnings_text(t);

  o.default_backend_service = "ops/missing";
  t = run(o);
  EXPECT_EQ(cluster_of(*t.snapshot, "nope.com", "/"), "503");
  EXPECT_TRUE(has_warning(t, "Service ops/missing", "not found")) << warnings_text(t);
}

TEST_F(Merge, HostlessRulesAndDefaultBackendShareTheCatchAll) {
  Ingress ing = make_ingress("default", "web", "", {{"/a", "Prefix", "a"}});
  ing.spec.default_backend = service_backend("b", 80);
  store_.upsert(ing);
  Translation t = run();
  EXPECT_EQ(cluster_of(*t.snapshot, "any.com", "/a"), "default/a:80");
  EXPECT_EQ(cluster_of(*t.snapshot, "any.com", "/b"), "default/b:80");
}

TEST_F(Merge, DocsExampleThreeRules) {
  store_.upsert(make_service("default", "service1"));
  store_.upsert(make_service("default", "service2"));
  store_.upsert(make_service("default", "service3"));
  Ingress ing =
      make_ingress("default", "name-virtual-host", "first.bar.com", {{"/", "Prefix", "service1"}});
  ing.spec.rules.push_back(
      make_ingress("default", "x", "second.bar.com", {{"/", "Prefix", "service2"}}).spec.rules[0]);
  ing.spec.rules.push_back(
      make_ingress("default", "x", "", {{"/", "Prefix", "service3"}}).spec.rules[0]);
  store_.upsert(ing);
  Translation t = run();
  EXPECT_EQ(cluster_of(*t.snapshot, "first.bar.com", "/"), "default/service1:80");
  EXPECT_EQ(cluster_of(*t.snapshot, "second.bar.com", "/x"), "default/service2:80");
  EXPECT_EQ(cluster_of(*t.snapshot, "third.bar.com", "/"), "default/service3:80");
}

TEST_F(Merge, TranslationIsDeterministicAndEquivalent) {
  store_.upsert(
      make_ingress("default", "one", "x.com", {{"/a", "Prefix", "a"}, {"/b", "Exact", "b"}}));
  store_.upsert(make_ingress("default", "two", "*.x.com", {{"/", "Prefix", "c"}}));
  Translation t1 = run();
  Translation t2 = run();
  t2.snapshot->version = 42;
  EXPECT_TRUE(equivalent(*t1.snapshot, *t2.snapshot));
  EXPECT_EQ(t1.warnings, t2.warnings);
}

}  // namespace
}  // namespace strait::controller::testing
