// The Kubernetes docs' path-matching example table (reference section 2.2), end to end:
// Ingress -> translate -> route_request.
#include <gtest/gtest.h>

#include "tests/unit/test_support.hpp"

namespace strait::controller::testing {
namespace {

struct Case {
  std::vector<PathSpec> rules;  // all on one host
  std::string request;
  std::string want;  // "<type> <path>" of the matching rule, or "" for the default backend
};

std::string matched(const Snapshot& s, const std::string& path) {
  RouteMatch m = route_request(s, "example.com", path);
  if (m.route == nullptr) return "";
  return std::string(m.route->type == PathType::Exact ? "Exact " : "Prefix ") + m.route->path;
}

TEST(RouterPaths, KubernetesDocsTable) {
  const std::vector<Case> cases = {
      {{{"/", "Prefix"}}, "/", "Prefix /"},
      {{{"/", "Prefix"}}, "/anything/at/all", "Prefix /"},
      {{{"/foo", "Exact"}}, "/foo", "Exact /foo"},
      {{{"/foo", "Exact"}}, "/bar", ""},
      {{{"/foo", "Exact"}}, "/foo/", ""},
      {{{"/foo/", "Exact"}}, "/foo", ""},
      {{{"/foo", "Prefix"}}, "/foo", "Prefix /foo"},
      {{{"/foo", "Prefix"}}, "/foo/", "Prefix /foo"},
      {{{"/foo/", "Prefix"}}, "/foo", "Prefix /foo/"},
      {{{"/foo/", "Prefix"}}, "/foo/", "Prefix /foo/"},
      {{{"/aaa/bb", "Prefix"}}, "/aaa/bbb", ""},
      {{{"/aaa/bbb", "Prefix"}}, "/aaa/bbb", "Prefix /aaa/bbb"},
      {{{"/aaa/bbb/", "Prefix"}}, "/aaa/bbb", "Prefix /aaa/bbb/"},
      {{{"/aaa/bbb", "Prefix"}}, "/aaa/bbb/", "Prefix /aaa/bbb"},
      {{{"/aaa/bbb", "Prefix"}}, "/aaa/bbb/ccc", "Prefix /aaa/bbb"},
      {{{"/aaa/bbb", "Prefix"}}, "/aaa/bbbxyz", ""},
      {{{"/", "Prefix"}, {"/aaa", "Prefix"}}, "/aaa/ccc", "Prefix /aaa"},
      {{{"/", "Prefix"}, {"/aaa", "Prefix"}, {"/aaa/bbb", "Prefix"}},
       "/aaa/bbb",
       "Prefix /aaa/bbb"},
      {{{"/", "Prefix"}, {"/aaa", "Prefix"}, {"/aaa/bbb", "Prefix"}}, "/ccc", "Prefix /"},
      {{{"/aaa", "Prefix"}}, "/ccc", ""},
      {{{"/foo", "Prefix"}, {"/foo", "Exact"}}, "/foo", "Exact /foo"},
      // The API doc's extra case: with /foo and /foo/ both Prefix, the longer one wins.
      {{{"/foo", "Prefix"}, {"/foo/", "Prefix"}}, "/foo", "Prefix /foo/"},
      {{{"/foo/", "Prefix"}, {"/foo", "Prefix"}}, "/foo/bar", "Prefix /foo/"},
      // ImplementationSpecific is treated as Prefix.
      {{{"/img", "ImplementationSpecific"}}, "/img/a.png", "Prefix /img"},
      // Case-sensitive.
      {{{"/foo", "Prefix"}}, "/FOO", ""},
      {{{"/foo", "Exact"}}, "/FOO", ""},
  };
  for (const Case& c : cases) {
    Store store;
    store.upsert(make_ingress("default", "web", "example.com", c.rules));
    Translation t = translate(store, {});
    std::string rules;
    for (const PathSpec& p : c.rules) rules += p.type + " " + p.path + ", ";
    EXPECT_EQ(matched(*t.snapshot, c.request), c.want)
        << "rules: " << rules << "request " << c.request;
  }
}

TEST(RouterPaths, LongestWrittenPathWinsAcrossExactAndPrefix) {
  Store store;
  store.upsert(make_ingress("default", "web", "example.com",
                            {{"/a", "Exact"}, {"/a/b", "Prefix"}, {"/a/b/c", "Exact"}}));
  Translation t = translate(store, {});
  EXPECT_EQ(matched(*t.snapshot, "/a"), "Exact /a");
  EXPECT_EQ(matched(*t.snapshot, "/a/b/c"), "Exact /a/b/c");
  EXPECT_EQ(matched(*t.snapshot, "/a/b/c/"), "Prefix /a/b");
  EXPECT_EQ(matched(*t.snapshot, "/a/b/cd"), "Prefix /a/b");
  EXPECT_EQ(matched(*t.snapshot, "/a/"), "");
}

TEST(RouterPaths, OddRequestPaths) {
  Store store;
  store.upsert(make_ingress("default", "web", "example.com", {{"/aaa", "Prefix"}}));
  Translation t = translate(store, {});
  EXPECT_EQ(matched(*t.snapshot, "/aaa//"), "Prefix /aaa");
  EXPECT_EQ(matched(*t.snapshot, "/aaa//x"), "Prefix /aaa");
  EXPECT_EQ(matched(*t.snapshot, ""), "");
  EXPECT_EQ(matched(*t.snapshot, "*"), "");
  EXPECT_EQ(matched(*t.snapshot, "//"), "");
}

TEST(RouterPaths, NoMatchGoesToHostFallback) {
  Store store;
  store.upsert(make_ingress("default", "web", "example.com", {{"/aaa", "Prefix"}}));
  Translation t = translate(store, {});
  RouteMatch m = route_request(*t.snapshot, "example.com", "/ccc");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.backend, kBackendNotFound);
  ASSERT_NE(m.vhost, nullptr);
  EXPECT_EQ(m.vhost->host, "example.com");
}

}  // namespace
}  // namespace strait::controller::testing
