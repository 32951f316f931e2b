// API-server-like validation: the reasons admission would refuse an object.
#include <gtest/gtest.h>

#include "controller/names.hpp"
#include "controller/validate.hpp"
#include "tests/unit/test_support.hpp"

namespace strait::controller::testing {
namespace {

std::vector<std::string> fields(const std::vector<FieldIssue>& issues) {
  std::vector<std::string> out;
  for (const FieldIssue& i : issues) out.push_back(i.field);
  return out;
}

TEST(Validate, IngressHostForms) {
  struct Case {
    const char* host;
    bool ok;
  };
  for (Case c : std::vector<Case>{{"foo.bar.com", true},
                                  {"*.bar.com", true},
                                  {"a-b.c", true},
                                  {"*", false},
                                  {"*.*.bar.com", false},
                                  {"foo.*.com", false},
                                  {"f*o.bar.com", false},
                                  {"10.0.0.1", false},
                                  {"fd00::1", false},
                                  {"foo.bar.com:80", false},
                                  {"Foo.bar.com", false},
                                  {"foo.bar.com.", false},
                                  {"-foo.com", false},
                                  {"foo..com", false},
                                  {"under_score.com", false}}) {
    EXPECT_EQ(check_ingress_host(c.host).empty(), c.ok) << c.host;
  }
}

TEST(Validate, IngressPathsAndBackends) {
  Ingress ing =
      make_ingress("default", "web", "a.com",
                   {{"/ok"}, {"rel"}, {"/x", "Regex"}, {"/a/../b", "Exact"}, {"", "Prefix"}});
  ing.spec.rules[0].http->paths.push_back(HTTPIngressPath{});  // no pathType, no backend
  HTTPIngressPath both;
  both.path = "/both";
  both.path_type = "Prefix";
  both.backend.service = IngressServiceBackend{"svc", {"http", 80}};
  both.backend.resource = TypedLocalObjectReference{std::nullopt, "Bucket", "b"};
  ing.spec.rules[0].http->paths.push_back(both);
  HTTPIngressPath neither_port = both;
  neither_port.backend.resource.reset();
  neither_port.backend.service->port = {};
  ing.spec.rules[0].http->paths.push_back(neither_port);
  HTTPIngressPath impl;  // ImplementationSpecific may omit the path
  impl.path_type = "ImplementationSpecific";
  impl.backend = service_backend("svc", 80);
  ing.spec.rules[0].http->paths.push_back(impl);

  std::vector<std::string> got = fields(validate_ingress(ing));
  const std::string p = "spec.rules[0].http.paths";
  std::vector<std::string> want = {p + "[1].path",
                                   p + "[2].pathType",
                                   p + "[3].path",
                                   p + "[4].path",
                                   p + "[5].pathType",
                                   p + "[5].backend",
                                   p + "[6].backend",
                                   p + "[6].backend.service.port",
                                   p + "[7].backend.service.port"};
  EXPECT_EQ(got, want);
}

TEST(Validate, IngressNeedsRulesOrDefaultBackend) {
  Ingress ing;
  ing.metadata.name = "x";
  ing.metadata.namespace_ = "default";
  EXPECT_EQ(fields(validate_ingress(ing)), std::vector<std::string>{"spec"});
  ing.spec.default_backend = service_backend("svc", 0);
  EXPECT_EQ(fields(validate_ingress(ing)),
            std::vector<std::string>{"spec.defaultBackend.service.port.number"});
  ing.spec.default_backend = service_backend("svc", 8080);
  EXPECT_TRUE(validate_ingress(ing).empty());
}

TEST(Validate, Service) {
  Service svc = make_service("default", "web", {{"http", 0}, {"http", 70000}});
  svc.ports[1].target_port = IntOrString{true, 0, "Bad_Name"};
  svc.type = "Weird";
  std::vector<std::string> want = {"spec.type", "spec.ports[0].port", "spec.ports[1].name",
                                   "spec.ports[1].port", "spec.ports[1].targetPort"};
  EXPECT_EQ(fields(validate_service(svc)), want);
  Service ext = make_service("default", "ext", {});
  ext.type = "ExternalName";
  EXPECT_EQ(fields(validate_service(ext)), std::vector<std::string>{"spec.externalName"});
  Service two = make_service("default", "two", {{"", 80}, {"b", 81}});
  EXPECT_EQ(fields(validate_service(two)), std::vector<std::string>{"spec.ports[0].name"});
  EXPECT_EQ(fields(validate_service(make_service("default", "9lives"))),
            std::vector<std::string>{"metadata.name"});
}

TEST(Validate, EndpointSlice) {
  EndpointSlice s = make_slice("default", "web-1", "web", "http", 8080, {{"10.0.0.1"}});
  EXPECT_TRUE(validate_endpoint_slice(s).empty());
  s.metadata.labels.clear();
  s.endpoints[0].addresses = {"fd00::1"};
  s.ports[0].port = 0;
  std::vector<std::string> want = {"metadata.labels", "endpoints[0].addresses[0]", "ports[0].port"};
  EXPECT_EQ(fields(validate_endpoint_slice(s)), want);
}

TEST(Validate, TlsSecretNeedsCertAndKey) {
  Secret s;
  s.metadata.name = "tls";
  s.metadata.namespace_ = "default";
  s.type = "kubernetes.io/tls";
  s.data["tls.crt"] = "x";
  EXPECT_EQ(fields(validate_secret(s)), std::vector<std::string>{"data.tls.key"});
  s.string_data["tls.key"] = "y";
  EXPECT_TRUE(validate_secret(s).empty());
}

TEST(Validate, IngressClassParameters) {
  IngressClass c;
  c.metadata.name = "strait";
  c.controller = "strait.io/ingress-controller";
  EXPECT_TRUE(validate_ingress_class(c).empty());
  c.parameters = IngressClassParameters{std::nullopt, "Cfg", "x", "Namespace", std::nullopt};
  EXPECT_EQ(fields(validate_ingress_class(c)),
            std::vector<std::string>{"spec.parameters.namespace"});
  c.controller = "no-slash";
  c.parameters.reset();
  EXPECT_EQ(fields(validate_ingress_class(c)), std::vector<std::string>{"spec.controller"});
}

}  // namespace
}  // namespace strait::controller::testing
