// The Kubernetes API round-trip fixtures: every one decodes (JSON and YAML alike), and every
// one fails validation for the reasons its placeholder values deserve.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "controller/decode.hpp"
#include "controller/validate.hpp"
#include "controller/yaml_json.hpp"
#include "tests/unit/test_support.hpp"

namespace strait::controller::testing {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Object decode_fixture(const std::string& file) {
  std::string path = std::string(STRAIT_FIXTURES_DIR) + "/" + file;
  nlohmann::json json;
  if (file.ends_with(".json")) {
    json = nlohmann::json::parse(read(path));
  } else {
    std::vector<YamlDocument> docs = parse_yaml_documents(read(path));
    EXPECT_EQ(docs.size(), 1u);
    json = docs.at(0).json;
  }
  DecodeResult r = decode_document(json);
  EXPECT_TRUE(r.errors.empty()) << file << ": " << r.errors.at(0).field << ": "
                                << r.errors.at(0).reason;
  EXPECT_TRUE(r.skipped.empty()) << file;
  EXPECT_EQ(r.objects.size(), 1u) << file;
  return r.objects.at(0).object;
}

bool names(const std::vector<FieldIssue>& issues, const std::string& field) {
  for (const FieldIssue& i : issues) {
    if (i.field == field) return true;
  }
  return false;
}

std::string dump(const std::vector<FieldIssue>& issues) {
  std::string out;
  for (const FieldIssue& i : issues) out += i.field + ": " + i.reason + "\n";
  return out;
}

class Fixture : public ::testing::TestWithParam<const char*> {};

TEST_P(Fixture, Ingress) {
  Object o = decode_fixture(std::string("networking.k8s.io.v1.Ingress.") + GetParam());
  const Ingress& ing = std::get<Ingress>(o);
  EXPECT_EQ(ing.metadata.name, "nameValue");
  EXPECT_EQ(ing.metadata.namespace_, "namespaceValue");
  EXPECT_EQ(ing.metadata.uid, "uidValue");
  EXPECT_EQ(ing.metadata.resource_version, "resourceVersionValue");
  EXPECT_EQ(ing.metadata.creation_timestamp, "2008-01-01T01:01:01Z");
  EXPECT_EQ(ing.metadata.annotations.at("annotationsKey"), "annotationsValue");
  EXPECT_EQ(ing.metadata.labels.at("labelsKey"), "labelsValue");
  EXPECT_EQ(ing.spec.ingress_class_name, "ingressClassNameValue");
  ASSERT_TRUE(ing.spec.default_backend && ing.spec.default_backend->service);
  EXPECT_EQ(ing.spec.default_backend->service->port.number, 2);
  ASSERT_EQ(ing.spec.rules.size(), 1u);
  EXPECT_EQ(ing.spec.rules[0].host, "hostValue");
  const HTTPIngressPath& p = ing.spec.rules[0].http->paths.at(0);
  EXPECT_EQ(p.path, "pathValue");
  EXPECT_EQ(p.path_type, "pathTypeValue");
  EXPECT_EQ(p.backend.service->name, "nameValue");
  EXPECT_EQ(p.backend.service->port.name, "nameValue");
  EXPECT_EQ(p.backend.resource->kind, "kindValue");
  EXPECT_EQ(ing.spec.tls.at(0).hosts, std::vector<std::string>{"hostsValue"});
  EXPECT_EQ(ing.spec.tls.at(0).secret_name, "secretNameValue");
  ASSERT_EQ(ing.status_load_balancer.size(), 1u);
  EXPECT_EQ(ing.status_load_balancer[0].ip, "ipValue");
  EXPECT_EQ(ing.status_load_balancer[0].hostname, "hostnameValue");

  std::vector<FieldIssue> issues = validate(o);
  const std::string path0 = "spec.rules[0].http.paths[0]";
  for (const std::string& field : std::vector<std::string>{
           "metadata.name", "metadata.namespace", "spec.ingressClassName", "spec.rules[0].host",
           path0 + ".pathType", path0 + ".backend", path0 + ".backend.service.port",
           path0 + ".backend.service.name", "spec.defaultBackend", "spec.tls[0].hosts[0]"}) {
    EXPECT_TRUE(names(issues, field)) << field << "\n" << dump(issues);
  }
}

TEST_P(Fixture, IngressClass) {
  Object o = decode_fixture(std::string("networking.k8s.io.v1.IngressClass.") + GetParam());
  const IngressClass& c = std::get<IngressClass>(o);
  EXPECT_EQ(c.controller, "controllerValue");
  EXPECT_EQ(c.parameters->scope, "scopeValue");
  EXPECT_EQ(c.parameters->namespace_, "namespaceValue");
  EXPECT_EQ(c.metadata.namespace_, "namespaceValue");  // kept as sent, though cluster-scoped
  std::vector<FieldIssue> issues = validate(o);
  EXPECT_TRUE(names(issues, "spec.controller")) << dump(issues);
  EXPECT_TRUE(names(issues, "spec.parameters.scope")) << dump(issues);
}

TEST_P(Fixture, Service) {
  Object o = decode_fixture(std::string("core.v1.Service.") + GetParam());
  const Service& s = std::get<Service>(o);
  EXPECT_EQ(s.type, "typeValue");
  EXPECT_EQ(s.external_name, "externalNameValue");
  EXPECT_EQ(s.cluster_ip, "clusterIPValue");
  ASSERT_EQ(s.ports.size(), 1u);
  EXPECT_EQ(s.ports[0].port, 3);
  EXPECT_EQ(s.ports[0].node_port, 5);
  EXPECT_TRUE(s.ports[0].target_port->is_string);
  EXPECT_EQ(s.ports[0].target_port->string_value, "targetPortValue");
  EXPECT_EQ(s.ports[0].app_protocol, "appProtocolValue");
  EXPECT_EQ(s.external_ips, std::vector<std::string>{"externalIPsValue"});
  ASSERT_EQ(s.status_load_balancer.size(), 1u);
  EXPECT_EQ(s.status_load_balancer[0].ip, "ipValue");
  EXPECT_EQ(s.status_load_balancer[0].hostname, "hostnameValue");
  std::vector<FieldIssue> issues = validate(o);
  for (const char* field : {"metadata.name", "spec.type", "spec.ports[0].name",
                            "spec.ports[0].targetPort", "spec.ports[0].protocol"}) {
    EXPECT_TRUE(names(issues, field)) << field << "\n" << dump(issues);
  }
}

TEST_P(Fixture, EndpointSlice) {
  Object o = decode_fixture(std::string("discovery.k8s.io.v1.EndpointSlice.") + GetParam());
  const EndpointSlice& s = std::get<EndpointSlice>(o);
  EXPECT_EQ(s.address_type, "addressTypeValue");
  ASSERT_EQ(s.endpoints.size(), 1u);
  EXPECT_EQ(s.endpoints[0].addresses, std::vector<std::string>{"addressesValue"});
  EXPECT_EQ(s.endpoints[0].conditions.terminating, true);
  EXPECT_EQ(s.endpoints[0].zone, "zoneValue");
  EXPECT_EQ(s.ports.at(0).port, 3);
  EXPECT_EQ(s.ports.at(0).name, "nameValue");
  std::vector<FieldIssue> issues = validate(o);
  for (const char* field :
       {"addressType", "metadata.labels", "ports[0].name", "ports[0].protocol"}) {
    EXPECT_TRUE(names(issues, field)) << field << "\n" << dump(issues);
  }
}

TEST_P(Fixture, Secret) {
  Object o = decode_fixture(std::string("core.v1.Secret.") + GetParam());
  const Secret& s = std::get<Secret>(o);
  EXPECT_EQ(s.type, "typeValue");
  EXPECT_EQ(s.data.at("dataKey"), std::string("\x02"));
  EXPECT_EQ(s.string_data.at("stringDataKey"), "stringDataValue");
  std::vector<FieldIssue> issues = validate(o);
  EXPECT_TRUE(names(issues, "metadata.name")) << dump(issues);
}

TEST_P(Fixture, OtherKindsAreSkippedNotErrors) {
  for (const char* kind : {"core.v1.Endpoints.", "core.v1.Status.", "core.v1.WatchEvent."}) {
    ManifestFile f = load_manifest_file(std::string(STRAIT_FIXTURES_DIR) + "/" + kind + GetParam());
    EXPECT_TRUE(f.ok) << joined(f.errors);
    EXPECT_TRUE(f.objects.empty());
    EXPECT_EQ(f.notices.size(), 1u) << kind;
  }
}

TEST_P(Fixture, LoadingReportsValidationErrorsWithLines) {
  std::string path =
      std::string(STRAIT_FIXTURES_DIR) + "/networking.k8s.io.v1.Ingress." + GetParam();
  ManifestFile f = load_manifest_file(path);
  EXPECT_FALSE(f.ok);
  EXPECT_TRUE(f.objects.empty());
  // Line of `pathType: pathTypeValue` in the fixture file.
  std::istringstream text(read(path));
  std::string line;
  int number = 0, expected = 0;
  while (std::getline(text, line)) {
    ++number;
    if (line.find("pathTypeValue") != std::string::npos) expected = number;
  }
  bool found = false;
  for (const ManifestError& e : f.errors) {
    EXPECT_EQ(e.file, path);
    EXPECT_GT(e.line, 0);
    if (e.reason.find("pathType") != std::string::npos) {
      EXPECT_EQ(e.line, expected) << e.to_string();
      found = true;
    }
  }
  EXPECT_TRUE(found) << joined(f.errors);
}

TEST_P(Fixture, TranslatesWithoutCrashing) {
  Store store;
  for (const char* kind :
       {"networking.k8s.io.v1.Ingress.", "networking.k8s.io.v1.IngressClass.", "core.v1.Service.",
        "discovery.k8s.io.v1.EndpointSlice.", "core.v1.Secret."}) {
    store.upsert(decode_fixture(std::string(kind) + GetParam()));
  }
  TranslateOptions o;
  o.ingress_class = "ingressClassNameValue";
  Translation t = translate(store, o);
  // Everything in the fixture Ingress is invalid: nothing routes, all is reported.
  EXPECT_TRUE(t.snapshot->routes->exact_hosts.empty());
  EXPECT_TRUE(has_warning(t, "Ingress namespaceValue/nameValue", "spec.rules[0].host"))
      << warnings_text(t);
  EXPECT_EQ(cluster_of(*t.snapshot, "x", "/"), "404");
}

INSTANTIATE_TEST_SUITE_P(Formats, Fixture, ::testing::Values("json", "yaml"));

}  // namespace
}  // namespace strait::controller::testing
