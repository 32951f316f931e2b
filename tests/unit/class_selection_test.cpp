// Which Ingresses strait serves: ingressClassName, the legacy annotation, the default class.
#include <gtest/gtest.h>

#include "tests/unit/test_support.hpp"

namespace strait::controller::testing {
namespace {

IngressClass make_class(const std::string& name, const std::string& controller,
                        bool is_default = false) {
  IngressClass c;
  c.metadata.name = name;
  c.controller = controller;
  if (is_default) c.metadata.annotations[std::string(kDefaultClassAnnotation)] = "true";
  return c;
}

Ingress classless() {
  Ingress ing = make_ingress("default", "web", "a.com", {{"/"}});
  ing.spec.ingress_class_name.reset();
  return ing;
}

Ingress with_class(const std::string& name) {
  Ingress ing = classless();
  ing.spec.ingress_class_name = name;
  return ing;
}

Ingress with_annotation(const std::string& value) {
  Ingress ing = classless();
  ing.metadata.annotations[std::string(kLegacyClassAnnotation)] = value;
  return ing;
}

const TranslateOptions
    kOptions;  // ingress_class "strait", controller "strait.io/ingress-controller"

TEST(ClassSelection, ClassNameMatchingOurController) {
  Store store;
  store.upsert(make_class("edge", "strait.io/ingress-controller"));
  store.upsert(make_class("nginx", "k8s.io/ingress-nginx"));
  EXPECT_TRUE(is_ours(with_class("edge"), store, kOptions));
  EXPECT_FALSE(is_ours(with_class("nginx"), store, kOptions));
  EXPECT_FALSE(is_ours(with_class("missing"), store, kOptions));
}

TEST(ClassSelection, ClassNameEqualToOurNameEvenWithoutTheObject) {
  Store store;
  EXPECT_TRUE(is_ours(with_class("strait"), store, kOptions));
  // ... and even when an IngressClass of that name belongs to someone else (by-name rule).
  store.upsert(make_class("strait", "k8s.io/ingress-nginx"));
  EXPECT_TRUE(is_ours(with_class("strait"), store, kOptions));
}

TEST(ClassSelection, LegacyAnnotation) {
  Store store;
  EXPECT_TRUE(is_ours(with_annotation("strait"), store, kOptions));
  EXPECT_FALSE(is_ours(with_annotation("nginx"), store, kOptions));
  // An annotation naming another class is not overridden by our default class.
  store.upsert(make_class("edge", "strait.io/ingress-controller", true));
  EXPECT_FALSE(is_ours(with_annotation("nginx"), store, kOptions));
}

TEST(ClassSelection, FieldBeatsAnnotation) {
  Store store;
  Ingress ing = with_annotation("strait");
  ing.spec.ingress_class_name = "nginx";
  EXPECT_FALSE(is_ours(ing, store, kOptions));
  ing = with_annotation("nginx");
  ing.spec.ingress_class_name = "strait";
  EXPECT_TRUE(is_ours(ing, store, kOptions));
}

TEST(ClassSelection, ClasslessNeedsOurDefaultClassOrTheFlag) {
  Store store;
  EXPECT_FALSE(is_ours(classless(), store, kOptions));
  store.upsert(make_class("nginx", "k8s.io/ingress-nginx", true));  // someone else's default
  EXPECT_FALSE(is_ours(classless(), store, kOptions));
  store.upsert(make_class("edge", "strait.io/ingress-controller", false));
  EXPECT_FALSE(is_ours(classless(), store, kOptions));
  store.upsert(make_class("edge", "strait.io/ingress-controller", true));
  EXPECT_TRUE(is_ours(classless(), store, kOptions));

  Store empty;
  TranslateOptions flag;
  flag.watch_ingress_without_class = true;
  EXPECT_TRUE(is_ours(classless(), empty, flag));
}

TEST(ClassSelection, DefaultAnnotationMustBeExactlyTrue) {
  Store store;
  IngressClass c = make_class("edge", "strait.io/ingress-controller");
  c.metadata.annotations[std::string(kDefaultClassAnnotation)] = "True";
  store.upsert(c);
  EXPECT_FALSE(is_ours(classless(), store, kOptions));
}

TEST(ClassSelection, ForeignIngressesAreIgnoredWithoutWarnings) {
  Store store;
  store.upsert(make_service("default", "svc"));
  Ingress foreign = with_class("nginx");
  foreign.spec.rules[0].host = "Bad Host!";  // invalid, yet not ours: no warning at all
  store.upsert(foreign);
  Translation t = translate(store, kOptions);
  EXPECT_TRUE(t.warnings.empty()) << warnings_text(t);
  EXPECT_TRUE(t.snapshot->routes->exact_hosts.empty());
  EXPECT_TRUE(t.snapshot->clusters.empty());
}

TEST(ClassSelection, CustomOptions) {
  Store store;
  TranslateOptions o;
  o.ingress_class = "internal";
  o.controller_class = "example.com/edge";
  store.upsert(make_class("private", "example.com/edge"));
  EXPECT_TRUE(is_ours(with_class("internal"), store, o));
  EXPECT_TRUE(is_ours(with_class("private"), store, o));
  EXPECT_FALSE(is_ours(with_class("strait"), store, o));
  EXPECT_TRUE(is_ours(with_annotation("internal"), store, o));
}

}  // namespace
}  // namespace strait::controller::testing
