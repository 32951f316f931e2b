// Routing through the real proxy: which pod answers for a Host and a path, following the Ingress
// API (exact, wildcard and host-less rules; Exact and Prefix paths) and the default backends.
#include "harness/fixture.hpp"

namespace it {
namespace {

using k8s::BackendRef;
using k8s::Ingress;
using k8s::IngressPath;
using k8s::IngressRule;

class RoutingTest : public IntegrationTest {
 protected:
  // One pod, and one Service (with an EndpointSlice) of the same name, per name.
  std::map<std::string, EchoPod*> apps(const std::vector<std::string>& names,
                                       const std::string& file = "apps.yaml") {
    std::map<std::string, EchoPod*> out;
    std::vector<std::string> docs;
    for (EchoPod* pod : start_pods(names)) {
      out[pod->name] = pod;
      docs.push_back(k8s::app("default", pod->name, {pod->address}, pod->port));
    }
    write_manifest(file, k8s::documents(docs));
    return out;
  }

  static IngressPath path(const std::string& p, const std::string& type,
                          const std::string& service) {
    return {p, type, {service, 80, ""}};
  }
};

TEST_F(RoutingTest, RoutesByExactWildcardAndHostlessRules) {
  apps({"exact", "prefix", "root", "wild", "hostless"});
  Ingress foo;
  foo.name = "foo";
  foo.rules = {{"foo.example.com",
                {path("/exact", "Exact", "exact"), path("/prefix", "Prefix", "prefix"),
                 path("/", "Prefix", "root")}}};
  Ingress wild;
  wild.name = "wild";
  wild.rules = {{"*.wild.example.com", {path("/", "Prefix", "wild")}}};
  Ingress hostless;
  hostless.name = "hostless";
  hostless.rules = {{"", {path("/hostless", "Prefix", "hostless")}}};
  write_manifest("ingresses.yaml", k8s::documents({k8s::ingress_class(), k8s::ingress(foo),
                                                   k8s::ingress(wild), k8s::ingress(hostless)}));
  start_strait();

  // Exact host, Exact and Prefix paths, "/" catching the rest of that host.
  EXPECT_EQ(pod_for("foo.example.com", "/exact"), "exact");
  EXPECT_EQ(pod_for("foo.example.com", "/exact?q=/prefix"), "exact") << "the query is not matched";
  EXPECT_EQ(pod_for("foo.example.com", "/exact/"), "root") << "Exact /exact does not match /exact/";
  EXPECT_EQ(pod_for("foo.example.com", "/exactly"), "root");
  EXPECT_EQ(pod_for("foo.example.com", "/prefix"), "prefix");
  EXPECT_EQ(pod_for("foo.example.com", "/prefix/"), "prefix");
  EXPECT_EQ(pod_for("foo.example.com", "/prefix/a/b"), "prefix");
  EXPECT_EQ(pod_for("foo.example.com", "/prefixed"), "root") << "Prefix matches whole elements";
  EXPECT_EQ(pod_for("foo.example.com", "/other"), "root");
  // A host matched by a host rule never falls through to the host-less rules.
  EXPECT_EQ(pod_for("foo.example.com", "/hostless"), "root");

  // Wildcards cover exactly one DNS label.
  EXPECT_EQ(pod_for("a.wild.example.com", "/anything"), "wild");
  EXPECT_EQ(pod_for("b.wild.example.com", "/"), "wild");
  EXPECT_EQ(pod_for("a.b.wild.example.com", "/anything"), "status:404");
  EXPECT_EQ(pod_for("wild.example.com", "/anything"), "status:404");
  EXPECT_EQ(pod_for("a.b.wild.example.com", "/hostless"), "hostless")
      << "a host no host rule matches takes the host-less rules";

  // Host-less rules apply to every other host.
  EXPECT_EQ(pod_for("other.example.org", "/hostless"), "hostless");
  EXPECT_EQ(pod_for("other.example.org", "/hostless/x?y=1"), "hostless");
  EXPECT_EQ(pod_for("127.0.0.1", "/hostless"), "hostless");
  EXPECT_EQ(pod_for("other.example.org", "/hostlessness"), "status:404");
  EXPECT_EQ(pod_for("other.example.org", "/"), "status:404");
}

TEST_F(RoutingTest, HostHeaderIsMatchedWithoutCaseOrPort) {
  apps({"exact", "wild"});
  Ingress ing;
  ing.name = "case";
  ing.rules = {{"foo.example.com", {path("/", "Prefix", "exact")}},
               {"*.wild.example.com", {path("/", "Prefix", "wild")}}};
  write_manifest("ingress.yaml", k8s::ingress(ing));
  start_strait();
  EXPECT_EQ(pod_for("FOO.Example.COM", "/"), "exact");
  EXPECT_EQ(pod_for("foo.example.com:8080", "/"), "exact");
  EXPECT_EQ(pod_for("Foo.Example.Com:" + std::to_string(strait().http_port), "/x"), "exact");
  EXPECT_EQ(pod_for("API.Wild.Example.com:443", "/"), "wild");
  EXPECT_EQ(pod_for("foo.example.com.evil", "/"), "status:404");
  EXPECT_EQ(pod_for("xfoo.example.com", "/"), "status:404");
}

TEST_F(RoutingTest, ExactHostBeatsWildcardBeatsHostless) {
  apps({"exact", "wild", "hostless"});
  write_manifest(
      "ingress.yaml",
      k8s::documents({k8s::ingress(k8s::simple_ingress("a", "api.example.com", "/", "exact")),
                      k8s::ingress(k8s::simple_ingress("b", "*.example.com", "/", "wild")),
                      k8s::ingress(k8s::simple_ingress("c", "", "/", "hostless"))}));
  start_strait();
  EXPECT_EQ(pod_for("api.example.com", "/v1"), "exact");
  EXPECT_EQ(pod_for("www.example.com", "/v1"), "wild");
  EXPECT_EQ(pod_for("example.com", "/v1"), "hostless");
  EXPECT_EQ(pod_for("www.example.net", "/v1"), "hostless");
}

TEST_F(RoutingTest, LongestPathWinsAndExactBeatsPrefixAtEqualLength) {
  apps({"exact-foo", "prefix-foo", "foo-bar", "slash", "impl"});
  Ingress ing;
  ing.name = "paths";
  ing.rules = {{"paths.example.com",
                {path("/foo", "Exact", "exact-foo"), path("/foo", "Prefix", "prefix-foo"),
                 path("/foo/bar/", "Prefix", "foo-bar"), path("/aaa/bbb/", "Prefix", "slash"),
                 path("/impl", "ImplementationSpecific", "impl")}}};
  write_manifest("ingress.yaml", k8s::ingress(ing));
  start_strait();
  EXPECT_EQ(pod_for("paths.example.com", "/foo"), "exact-foo");
  EXPECT_EQ(pod_for("paths.example.com", "/foo/"), "prefix-foo");
  EXPECT_EQ(pod_for("paths.example.com", "/foo/baz"), "prefix-foo");
  EXPECT_EQ(pod_for("paths.example.com", "/foo/bar"), "foo-bar")
      << "a trailing slash on the rule is ignored";
  EXPECT_EQ(pod_for("paths.example.com", "/foo/bar/baz"), "foo-bar");
  EXPECT_EQ(pod_for("paths.example.com", "/foo/barbaz"), "prefix-foo");
  EXPECT_EQ(pod_for("paths.example.com", "/foobar"), "status:404");
  EXPECT_EQ(pod_for("paths.example.com", "/aaa/bbb"), "slash");
  EXPECT_EQ(pod_for("paths.example.com", "/aaa/bbb/ccc"), "slash");
  EXPECT_EQ(pod_for("paths.example.com", "/aaa/bbbxyz"), "status:404");
  EXPECT_EQ(pod_for("paths.example.com", "/aaa"), "status:404");
  EXPECT_EQ(pod_for("paths.example.com", "/impl/x"), "impl")
      << "ImplementationSpecific is treated as Prefix";
  EXPECT_EQ(pod_for("paths.example.com", "/implx"), "status:404");
  EXPECT_EQ(pod_for("paths.example.com", "/FOO"), "status:404") << "paths are case-sensitive";
}

TEST_F(RoutingTest, RulesForOneHostMergeAcrossIngresses) {
  apps({"one", "two", "older", "newer"});
  Ingress a = k8s::simple_ingress("a", "merge.example.com", "/one", "one");
  Ingress b = k8s::simple_ingress("b", "merge.example.com", "/two", "two");
  // The same host and path in two Ingresses: the older one wins.
  Ingress older = k8s::simple_ingress("z-older", "merge.example.com", "/same", "older");
  older.creation_timestamp = "2020-01-01T00:00:00Z";
  Ingress newer = k8s::simple_ingress("a-newer", "merge.example.com", "/same", "newer");
  newer.creation_timestamp = "2024-01-01T00:00:00Z";
  write_manifest("a.yaml", k8s::ingress(a));
  write_manifest("b.yaml",
                 k8s::documents({k8s::ingress(b), k8s::ingress(newer), k8s::ingress(older)}));
  start_strait();
  EXPECT_EQ(pod_for("merge.example.com", "/one"), "one");
  EXPECT_EQ(pod_for("merge.example.com", "/two/x"), "two");
  EXPECT_EQ(pod_for("merge.example.com", "/same"), "older");
}

TEST_F(RoutingTest, UnmatchedRequestsGet404FromTheBuiltInDefaultBackend) {
  auto pods = apps({"only"});
  write_manifest("ingress.yaml",
                 k8s::ingress(k8s::simple_ingress("only", "only.example.com", "/app", "only")));
  start_strait();
  const auto r = curl({strait().url("/nothing-here"), "-H", "Host: unknown.example.com"});
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.status(), 404) << r.describe();
  EXPECT_EQ(pod_for("only.example.com", "/elsewhere"), "status:404");
  EXPECT_EQ(pod_for("only.example.com", "/app"), "only");
  EXPECT_EQ(stats(*pods["only"]).requests, 1u) << "only the routed request reached the pod";
}

TEST_F(RoutingTest, IngressDefaultBackendTakesUnmatchedTraffic) {
  apps({"catch-all", "routed"});
  Ingress catch_all;
  catch_all.name = "catch-all";
  catch_all.default_backend = BackendRef{"catch-all", 80, ""};
  write_manifest("ingress.yaml",
                 k8s::documents({k8s::ingress(catch_all),
                                 k8s::ingress(k8s::simple_ingress("routed", "routed.example.com",
                                                                  "/app", "routed"))}));
  start_strait();
  EXPECT_EQ(pod_for("routed.example.com", "/app"), "routed");
  EXPECT_EQ(pod_for("unknown.example.com", "/"), "catch-all");
  EXPECT_EQ(pod_for("unknown.example.com", "/some/path?q=1"), "catch-all");
  EXPECT_EQ(pod_for("10.1.2.3", "/"), "catch-all");
}

TEST_F(RoutingTest, DefaultBackendServiceFlagReplacesThe404) {
  apps({"fallback", "routed"});
  write_manifest("ingress.yaml",
                 k8s::ingress(k8s::simple_ingress("routed", "routed.example.com", "/", "routed")));
  start_strait({.args = {"--default-backend-service", "default/fallback"}});
  EXPECT_EQ(pod_for("routed.example.com", "/x"), "routed");
  EXPECT_EQ(pod_for("unknown.example.com", "/x"), "fallback");
  const auto r = get("unknown.example.com", "/y?z=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->json()["target"], "/y?z=1");
}

TEST_F(RoutingTest, OnlyIngressesOfOurClassAreServed) {
  apps({"ours", "legacy", "theirs", "classless"});
  Ingress ours = k8s::simple_ingress("ours", "ours.example.com", "/", "ours");
  Ingress legacy = k8s::simple_ingress("legacy", "legacy.example.com", "/", "legacy");
  legacy.class_name.reset();
  legacy.annotations = {{"kubernetes.io/ingress.class", "strait"}};
  Ingress theirs = k8s::simple_ingress("theirs", "theirs.example.com", "/", "theirs");
  theirs.class_name = "nginx";
  Ingress theirs_legacy =
      k8s::simple_ingress("theirs-legacy", "theirs2.example.com", "/", "theirs");
  theirs_legacy.class_name.reset();
  theirs_legacy.annotations = {{"kubernetes.io/ingress.class", "nginx"}};
  Ingress classless = k8s::simple_ingress("classless", "classless.example.com", "/", "classless");
  classless.class_name.reset();
  write_manifest(
      "ingress.yaml",
      k8s::documents({k8s::ingress_class(), k8s::ingress_class("nginx", "k8s.io/ingress-nginx"),
                      k8s::ingress(ours), k8s::ingress(legacy), k8s::ingress(theirs),
                      k8s::ingress(theirs_legacy), k8s::ingress(classless)}));
  start_strait();
  EXPECT_EQ(pod_for("ours.example.com", "/"), "ours");
  EXPECT_EQ(pod_for("legacy.example.com", "/"), "legacy");
  EXPECT_EQ(pod_for("theirs.example.com", "/"), "status:404");
  EXPECT_EQ(pod_for("theirs2.example.com", "/"), "status:404");
  EXPECT_EQ(pod_for("classless.example.com", "/"), "status:404");
}

TEST_F(RoutingTest, IngressesWithoutClassWhenAskedOrWhenOurClassIsTheDefault) {
  apps({"classless"});
  Ingress classless = k8s::simple_ingress("classless", "classless.example.com", "/", "classless");
  classless.class_name.reset();
  write_manifest("ingress.yaml", k8s::ingress(classless));
  start_strait({.args = {"--watch-ingress-without-class=true"}});
  EXPECT_EQ(pod_for("classless.example.com", "/"), "classless");

  // Without the flag, an IngressClass marked as the cluster default takes them.
  write_manifest("class.yaml", k8s::ingress_class("strait", "strait.io/ingress-controller", true));
  Strait& second = start_strait();
  const auto r = http_get(second.address, second.http_port, "classless.example.com", "/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->describe();
}

}  // namespace
}  // namespace it
