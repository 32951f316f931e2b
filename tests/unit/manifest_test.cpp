// Manifest loading: YAML/JSON, multi-document, Lists, scalars, errors with file and line.
#include <gtest/gtest.h>

#include "controller/decode.hpp"
#include "controller/yaml_json.hpp"
#include "tests/unit/test_support.hpp"

namespace strait::controller::testing {
namespace {

const char* kGood = R"(# two documents and a List
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  annotations:
    kubernetes.io/ingress.class: strait
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              name: http
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: ignored
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: web-abc
    labels:
      kubernetes.io/service-name: web
  addressType: IPv4
  endpoints:
  - addresses: ["10.1.0.1"]
    conditions: {ready: true}
  ports:
  - name: http
    port: 8080
)";

TEST(Manifest, MultiDocumentAndList) {
  ManifestFile f = parse_manifest(kGood, "good.yaml");
  ASSERT_TRUE(f.ok) << joined(f.errors);
  ASSERT_EQ(f.objects.size(), 3u);
  EXPECT_EQ(describe(f.objects[0]), "Service default/web");  // namespace defaulted
  EXPECT_EQ(describe(f.objects[1]), "Ingress shop/web");
  EXPECT_EQ(describe(f.objects[2]), "EndpointSlice default/web-abc");
  ASSERT_EQ(f.notices.size(), 1u);
  EXPECT_NE(f.notices[0].find("ConfigMap"), std::string::npos) << f.notices[0];
  EXPECT_EQ(std::get<Service>(f.objects[0]).ports[0].target_port->int_value, 8080);
}

TEST(Manifest, TypedListItemsMayOmitKind) {
  nlohmann::json list = {{"kind", "ServiceList"},
                         {"apiVersion", "v1"},
                         {"items", {{{"metadata", {{"name", "a"}, {"namespace", "ns"}}}}}}};
  DecodeResult r = decode_document(list);
  ASSERT_TRUE(r.errors.empty());
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(describe(r.objects[0].object), "Service ns/a");
  EXPECT_EQ(r.objects[0].field, "items[0]");
}

TEST(Manifest, JsonFileContent) {
  ManifestFile f = parse_manifest(
      R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s","namespace":"n"},
          "spec":{"type":"ExternalName","externalName":"db.example.com","ports":[{"port":5432}]}})",
      "s.json");
  ASSERT_TRUE(f.ok) << joined(f.errors);
  EXPECT_EQ(std::get<Service>(f.objects.at(0)).external_name, "db.example.com");
}

TEST(Manifest, YamlSyntaxErrorHasLine) {
  ManifestFile f =
      parse_manifest("apiVersion: v1\nkind: Service\nmetadata:\n  name: [oops\n", "bad.yaml");
  ASSERT_FALSE(f.ok);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].file, "bad.yaml");
  EXPECT_GE(f.errors[0].line, 4);
  EXPECT_NE(f.errors[0].reason.find("YAML syntax error"), std::string::npos);
}

TEST(Manifest, WrongTypeNamesFieldAndLine) {
  const char* text = R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  ingressClassName: strait
  rules:
  - http:
      paths:
      - path: /a
        pathType: Prefix
        backend: {service: {name: a, port: {number: 80}}}
      - path: /b
        pathType: 5
        backend: {service: {name: b, port: {number: 80}}}
)";
  ManifestFile f = parse_manifest(text, "ing.yaml");
  ASSERT_FALSE(f.ok);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].line, 14);
  EXPECT_EQ(f.errors[0].to_string(),
            "ing.yaml:14: spec.rules[0].http.paths[1].pathType: expected string, got number");
}

TEST(Manifest, ValidationErrorNamesObjectFieldAndLine) {
  const char* text = R"(apiVersion: v1
kind: Service
metadata:
  name: ok
spec:
  ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  rules:
  - host: "*"
    http:
      paths:
      - path: /a
        backend: {service: {name: a, port: {number: 80}}}
)";
  ManifestFile f = parse_manifest(text, "ing.yaml");
  ASSERT_FALSE(f.ok);
  EXPECT_TRUE(f.objects.empty());  // all or nothing
  ASSERT_EQ(f.errors.size(), 2u) << joined(f.errors);
  EXPECT_EQ(f.errors[0].to_string(),
            "ing.yaml:14: Ingress default/web: spec.rules[0].host: a bare '*' is not allowed; use "
            "'*.<domain>'");
  // A missing field points at its parent: the list item of the path.
  EXPECT_EQ(f.errors[1].line, 17);
  EXPECT_NE(f.errors[1].reason.find("pathType must be specified"), std::string::npos);
}

TEST(Manifest, ErrorInListItemPointsIntoTheList) {
  const char* text = R"(kind: List
apiVersion: v1
items:
- kind: Service
  apiVersion: v1
  metadata: {name: a}
  spec: {ports: [{port: 80}]}
- kind: Service
  apiVersion: v1
  metadata: {name: b}
  spec:
    ports:
    - port: 70000
)";
  ManifestFile f = parse_manifest(text, "list.yaml");
  ASSERT_FALSE(f.ok);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_EQ(f.errors[0].line, 13);
  EXPECT_NE(f.errors[0].reason.find("items[1].spec.ports[0].port"), std::string::npos);
}

TEST(Manifest, ScalarResolution) {
  std::vector<YamlDocument> docs = parse_yaml_documents(R"(
a: ~
b: null
c: true
d: False
e: 42
f: -7
g: 1.5
h: "42"
i: 'true'
j: 0x1F
k: 1.0e3
l:
m: "null"
n: hello
)");
  ASSERT_EQ(docs.size(), 1u);
  const nlohmann::json& j = docs[0].json;
  EXPECT_TRUE(j["a"].is_null());
  EXPECT_TRUE(j["b"].is_null());
  EXPECT_EQ(j["c"], true);
  EXPECT_EQ(j["d"], false);
  EXPECT_TRUE(j["e"].is_number_integer());
  EXPECT_EQ(j["e"], 42);
  EXPECT_EQ(j["f"], -7);
  EXPECT_TRUE(j["g"].is_number_float());
  EXPECT_EQ(j["h"], "42");
  EXPECT_EQ(j["i"], "true");
  EXPECT_EQ(j["j"], "0x1F");  // only decimal integers resolve; hex/octal stay strings
  EXPECT_EQ(j["k"], 1000.0);
  EXPECT_TRUE(j["l"].is_null());
  EXPECT_EQ(j["m"], "null");
  EXPECT_EQ(j["n"], "hello");
}

TEST(Manifest, QuotedNumberWhereIntegerExpectedIsAnError) {
  ManifestFile f = parse_manifest(
      "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - port: \"80\"\n",
      "q.yaml");
  ASSERT_FALSE(f.ok);
  EXPECT_EQ(f.errors.at(0).to_string(),
            "q.yaml:6: spec.ports[0].port: expected integer, got string");
}

TEST(Manifest, UnknownFieldsIgnoredUnknownApiVersionSkipped) {
  ManifestFile f = parse_manifest(R"(apiVersion: v1
kind: Service
metadata: {name: a, surprise: 1}
spec: {ports: [{port: 80, future: [1, 2]}], brandNew: {x: y}}
---
apiVersion: extensions/v1beta1
kind: Ingress
metadata: {name: old}
spec: {backend: {serviceName: a, servicePort: 80}}
)",
                                  "u.yaml");
  ASSERT_TRUE(f.ok) << joined(f.errors);
  EXPECT_EQ(f.objects.size(), 1u);
  EXPECT_EQ(f.notices.size(), 1u);
}

TEST(Manifest, BadBase64InSecret) {
  ManifestFile f = parse_manifest(
      "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  tls.crt: '!!!'\n", "s.yaml");
  ASSERT_FALSE(f.ok);
  EXPECT_EQ(f.errors.at(0).to_string(), "s.yaml:5: data.tls.crt: invalid base64 data");
}

TEST(Manifest, DecodeObjectOfKnownKind) {
  auto ok = decode_object(Kind::Ingress, {{"metadata", {{"name", "x"}}}});
  ASSERT_TRUE(std::holds_alternative<Object>(ok));
  auto bad = decode_object(Kind::Ingress, {{"spec", {{"rules", {{{"host", 1}}}}}}});
  ASSERT_TRUE(std::holds_alternative<FieldIssue>(bad));
  EXPECT_EQ(std::get<FieldIssue>(bad).field, "spec.rules[0].host");
}

TEST(Manifest, UnreadableFile) {
  ManifestFile f = load_manifest_file("/nonexistent/strait/x.yaml");
  ASSERT_FALSE(f.ok);
  EXPECT_EQ(f.errors.at(0).line, 0);
}

TEST(Manifest, EndToEndRouting) {
  Store store = store_from_yaml(kGood);
  Translation t = translate(store, {});
  // The Ingress is in "shop" but the Service in "default": unresolvable there.
  EXPECT_EQ(cluster_of(*t.snapshot, "shop.example.com", "/"), "503");
  EXPECT_TRUE(has_warning(t, "Ingress shop/web", "Service shop/web not found"));

  std::string fixed = kGood;
  fixed.replace(fixed.find("  namespace: shop\n"), 18, "");
  t = translate(store_from_yaml(fixed), {});
  EXPECT_TRUE(t.warnings.empty()) << warnings_text(t);
  EXPECT_EQ(cluster_of(*t.snapshot, "shop.example.com", "/"), "default/web:http");
  RouteMatch m = route_request(*t.snapshot, "shop.example.com", "/");
  EXPECT_EQ(t.snapshot->clusters.at(static_cast<size_t>(m.backend))->endpoints.at(0).text,
            "10.1.0.1:8080");
}

}  // namespace
}  // namespace strait::controller::testing
