// equivalent(): same routing behaviour, version ignored, clusters compared by value.
#include <gtest/gtest.h>

#include "tests/unit/test_support.hpp"

namespace strait::controller::testing {
namespace {

Store base() {
  Store s;
  s.upsert(make_service("default", "svc"));
  s.upsert(make_slice("default", "svc-1", "svc", "", 8080, {{"10.0.0.1"}, {"10.0.0.2"}}));
  s.upsert(make_ingress("default", "web", "x.com", {{"/a"}, {"/b", "Exact"}}));
  return s;
}

TEST(Equivalent, SameInputsAreEquivalentWhateverTheVersionOrPointers) {
  Translation a = translate(base(), {});
  Translation b = translate(base(), {});
  b.snapshot->version = 99;
  ASSERT_NE(a.snapshot->clusters[0].get(), b.snapshot->clusters[0].get());
  EXPECT_TRUE(equivalent(*a.snapshot, *b.snapshot));
  EXPECT_TRUE(equivalent(*a.snapshot, *a.snapshot));
}

TEST(Equivalent, SliceSplitDifferentlyIsStillEquivalent) {
  Store s = base();
  s.erase(Kind::EndpointSlice, "default/svc-1");
  s.upsert(make_slice("default", "svc-x", "svc", "", 8080, {{"10.0.0.2"}}));
  s.upsert(make_slice("default", "svc-y", "svc", "", 8080, {{"10.0.0.1"}}));
  EXPECT_TRUE(equivalent(*translate(base(), {}).snapshot, *translate(s, {}).snapshot));
}

TEST(Equivalent, EndpointChangeIsNotEquivalent) {
  Store s = base();
  s.upsert(make_slice("default", "svc-1", "svc", "", 8080, {{"10.0.0.1"}, {"10.0.0.3"}}));
  EXPECT_FALSE(equivalent(*translate(base(), {}).snapshot, *translate(s, {}).snapshot));
}

TEST(Equivalent, ReadinessChangeIsNotEquivalent) {
  Store s = base();
  s.upsert(make_slice("default", "svc-1", "svc", "", 8080, {{"10.0.0.1"}, {"10.0.0.2", false}}));
  EXPECT_FALSE(equivalent(*translate(base(), {}).snapshot, *translate(s, {}).snapshot));
}

TEST(Equivalent, RouteChangesAreNotEquivalent) {
  Store s = base();
  s.upsert(make_ingress("default", "web", "x.com", {{"/a"}, {"/b", "Prefix"}}));
  EXPECT_FALSE(equivalent(*translate(base(), {}).snapshot, *translate(s, {}).snapshot));
  Store h = base();
  h.upsert(make_ingress("default", "web", "y.com", {{"/a"}, {"/b", "Exact"}}));
  EXPECT_FALSE(equivalent(*translate(base(), {}).snapshot, *translate(h, {}).snapshot));
}

TEST(Equivalent, DefaultBackendChangeIsNotEquivalent) {
  TranslateOptions o;
  o.default_backend_service = "default/svc";
  EXPECT_FALSE(equivalent(*translate(base(), {}).snapshot, *translate(base(), o).snapshot));
}

TEST(Equivalent, UnrelatedObjectsDoNotMatter) {
  Store s = base();
  s.upsert(make_service("default", "unused"));
  Secret secret;
  secret.metadata.namespace_ = "default";
  secret.metadata.name = "tls";
  s.upsert(secret);
  Ingress foreign = make_ingress("default", "other", "z.com", {{"/"}});
  foreign.spec.ingress_class_name = "nginx";
  s.upsert(foreign);
  EXPECT_TRUE(equivalent(*translate(base(), {}).snapshot, *translate(s, {}).snapshot));
}

}  // namespace
}  // namespace strait::controller::testing
