#include "controller/decode.hpp"

#include <limits>
#include <optional>

#include "controller/base64.hpp"

namespace strait::controller {
namespace {

using nlohmann::json;

// Thrown inside this file only: the first structural error of an object aborts that object.
struct DecodeFailure {
  FieldIssue issue;
};

[[noreturn]] void fail(std::string field, std::string reason) {
  throw DecodeFailure{{std::move(field), std::move(reason)}};
}

const char* json_type(const json& j) {
  if (j.is_object()) return "object";
  if (j.is_array()) return "array";
  if (j.is_string()) return "string";
  if (j.is_boolean()) return "boolean";
  if (j.is_number()) return "number";
  return "null";
}

// A field view: the JSON value of obj[key] (null when absent) and its path.
struct Field {
  const json* value;
  std::string path;
  bool present() const { return value != nullptr && !value->is_null(); }
};

Field field(const json& obj, std::string_view parent, const char* key) {
  auto it = obj.find(key);
  return {it == obj.end() ? nullptr : &*it, field_child(parent, key)};
}

void expect(const Field& f, bool ok, const char* wanted) {
  if (!ok) fail(f.path, std::string("expected ") + wanted + ", got " + json_type(*f.value));
}

std::optional<std::string> opt_string(const json& obj, std::string_view parent, const char* key) {
  Field f = field(obj, parent, key);
  if (!f.present()) return std::nullopt;
  expect(f, f.value->is_string(), "string");
  return f.value->get<std::string>();
}

std::string string_of(const json& obj, std::string_view parent, const char* key) {
  return opt_string(obj, parent, key).value_or(std::string());
}

int64_t integer_value(const Field& f) {
  expect(f, f.value->is_number_integer(), "integer");
  if (f.value->is_number_unsigned() &&
      f.value->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    fail(f.path, "integer out of range");
  }
  return f.value->get<int64_t>();
}

std::optional<int64_t> opt_int(const json& obj, std::string_view parent, const char* key) {
  Field f = field(obj, parent, key);
  if (!f.present()) return std::nullopt;
  return integer_value(f);
}

std::optional<bool> opt_bool(const json& obj, std::string_view parent, const char* key) {
  Field f = field(obj, parent, key);
  if (!f.present()) return std::nullopt;
  expect(f, f.value->is_boolean(), "boolean");
  return f.value->get<bool>();
}

// The object at obj[key], or null when absent.
const json* opt_object(const json& obj, std::string_view parent, const char* key) {
  Field f = field(obj, parent, key);
  if (!f.present()) return nullptr;
  expect(f, f.value->is_object(), "object");
  return f.value;
}

template <typename Fn>
void for_each_item(const json& obj, std::string_view parent, const char* key, Fn&& fn) {
  Field f = field(obj, parent, key);
  if (!f.present()) return;
  expect(f, f.value->is_array(), "array");
  for (size_t i = 0; i < f.value->size(); ++i) fn((*f.value)[i], field_index(f.path, i));
}

void expect_object(const json& j, const std::string& path) {
  if (!j.is_object()) fail(path, std::string("expected object, got ") + json_type(j));
}

std::vector<std::string> string_list(const json& obj, std::string_view parent, const char* key) {
  std::vector<std::string> out;
  for_each_item(obj, parent, key, [&](const json& item, const std::string& path) {
    if (!item.is_string()) fail(path, std::string("expected string, got ") + json_type(item));
    out.push_back(item.get<std::string>());
  });
  return out;
}

std::map<std::string, std::string> string_map(const json& obj, std::string_view parent,
                                              const char* key) {
  std::map<std::string, std::string> out;
  const json* m = opt_object(obj, parent, key);
  if (m == nullptr) return out;
  std::string path = field_child(parent, key);
  for (auto it = m->begin(); it != m->end(); ++it) {
    if (!it.value().is_string()) {
      fail(field_child(path, it.key()),
           std::string("expected string, got ") + json_type(it.value()));
    }
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

ObjectMeta decode_metadata(const json& obj, Kind kind) {
  ObjectMeta meta;
  const json* m = opt_object(obj, "", "metadata");
  if (m == nullptr) return meta;
  const std::string p = "metadata";
  meta.name = string_of(*m, p, "name");
  meta.namespace_ = string_of(*m, p, "namespace");
  meta.uid = string_of(*m, p, "uid");
  meta.resource_version = string_of(*m, p, "resourceVersion");
  meta.creation_timestamp = string_of(*m, p, "creationTimestamp");
  meta.labels = string_map(*m, p, "labels");
  meta.annotations = string_map(*m, p, "annotations");
  // kubectl puts namespaced objects without a namespace into "default"; so does the file source.
  if (is_namespaced(kind) && meta.namespace_.empty()) meta.namespace_ = "default";
  return meta;
}

IngressBackend decode_backend(const json& b, const std::string& p) {
  expect_object(b, p);
  IngressBackend out;
  if (const json* s = opt_object(b, p, "service")) {
    std::string sp = field_child(p, "service");
    IngressServiceBackend svc;
    svc.name = string_of(*s, sp, "name");
    if (const json* port = opt_object(*s, sp, "port")) {
      std::string pp = field_child(sp, "port");
      svc.port.name = opt_string(*port, pp, "name");
      svc.port.number = opt_int(*port, pp, "number");
    }
    out.service = std::move(svc);
  }
  if (const json* r = opt_object(b, p, "resource")) {
    std::string rp = field_child(p, "resource");
    out.resource = TypedLocalObjectReference{opt_string(*r, rp, "apiGroup"),
                                             string_of(*r, rp, "kind"), string_of(*r, rp, "name")};
  }
  return out;
}

// status.loadBalancer.ingress[] (Ingress and Service share the shape).
std::vector<LoadBalancerIngress> decode_load_balancer_status(const json& obj) {
  std::vector<LoadBalancerIngress> out;
  const json* status = opt_object(obj, "", "status");
  if (status == nullptr) return out;
  const json* lb = opt_object(*status, "status", "loadBalancer");
  if (lb == nullptr) return out;
  for_each_item(*lb, "status.loadBalancer", "ingress", [&](const json& e, const std::string& ep) {
    expect_object(e, ep);
    out.push_back({string_of(e, ep, "ip"), string_of(e, ep, "hostname")});
  });
  return out;
}

Ingress decode_ingress(const json& obj) {
  Ingress ing;
  ing.metadata = decode_metadata(obj, Kind::Ingress);
  ing.status_load_balancer = decode_load_balancer_status(obj);
  const json* spec = opt_object(obj, "", "spec");
  if (spec == nullptr) return ing;
  const std::string sp = "spec";
  ing.spec.ingress_class_name = opt_string(*spec, sp, "ingressClassName");
  if (const json* db = opt_object(*spec, sp, "defaultBackend")) {
    ing.spec.default_backend = decode_backend(*db, "spec.defaultBackend");
  }
  for_each_item(*spec, sp, "rules", [&](const json& r, const std::string& rp) {
    expect_object(r, rp);
    IngressRule rule;
    rule.host = string_of(r, rp, "host");
    if (const json* http = opt_object(r, rp, "http")) {
      rule.http.emplace();
      for_each_item(*http, field_child(rp, "http"), "paths",
                    [&](const json& pj, const std::string& pp) {
                      expect_object(pj, pp);
                      HTTPIngressPath path;
                      path.path = opt_string(pj, pp, "path");
                      path.path_type = opt_string(pj, pp, "pathType");
                      if (const json* b = opt_object(pj, pp, "backend")) {
                        path.backend = decode_backend(*b, field_child(pp, "backend"));
                      }
                      rule.http->paths.push_back(std::move(path));
                    });
    }
    ing.spec.rules.push_back(std::move(rule));
  });
  for_each_item(*spec, sp, "tls", [&](const json& t, const std::string& tp) {
    expect_object(t, tp);
    ing.spec.tls.push_back({string_list(t, tp, "hosts"), string_of(t, tp, "secretName")});
  });
  return ing;
}

IngressClass decode_ingress_class(const json& obj) {
  IngressClass cls;
  cls.metadata = decode_metadata(obj, Kind::IngressClass);
  const json* spec = opt_object(obj, "", "spec");
  if (spec == nullptr) return cls;
  cls.controller = string_of(*spec, "spec", "controller");
  if (const json* p = opt_object(*spec, "spec", "parameters")) {
    const std::string pp = "spec.parameters";
    cls.parameters = IngressClassParameters{
        opt_string(*p, pp, "apiGroup"), string_of(*p, pp, "kind"), string_of(*p, pp, "name"),
        opt_string(*p, pp, "scope"), opt_string(*p, pp, "namespace")};
  }
  return cls;
}

Service decode_service(const json& obj) {
  Service svc;
  svc.metadata = decode_metadata(obj, Kind::Service);
  svc.status_load_balancer = decode_load_balancer_status(obj);
  const json* spec = opt_object(obj, "", "spec");
  if (spec == nullptr) return svc;
  const std::string sp = "spec";
  svc.type = string_of(*spec, sp, "type");
  svc.cluster_ip = string_of(*spec, sp, "clusterIP");
  svc.external_name = string_of(*spec, sp, "externalName");
  svc.external_ips = string_list(*spec, sp, "externalIPs");
  for_each_item(*spec, sp, "ports", [&](const json& pj, const std::string& pp) {
    expect_object(pj, pp);
    ServicePort port;
    port.name = string_of(pj, pp, "name");
    port.port = opt_int(pj, pp, "port").value_or(0);
    Field tp = field(pj, pp, "targetPort");
    if (tp.present()) {
      IntOrString v;
      if (tp.value->is_string()) {
        v.is_string = true;
        v.string_value = tp.value->get<std::string>();
      } else {
        v.int_value = integer_value(tp);
      }
      port.target_port = std::move(v);
    }
    port.protocol = string_of(pj, pp, "protocol");
    port.app_protocol = opt_string(pj, pp, "appProtocol");
    port.node_port = opt_int(pj, pp, "nodePort").value_or(0);
    svc.ports.push_back(std::move(port));
  });
  return svc;
}

EndpointSlice decode_endpoint_slice(const json& obj) {
  EndpointSlice slice;
  slice.metadata = decode_metadata(obj, Kind::EndpointSlice);
  slice.address_type = string_of(obj, "", "addressType");
  for_each_item(obj, "", "endpoints", [&](const json& ej, const std::string& ep) {
    expect_object(ej, ep);
    SliceEndpoint e;
    e.addresses = string_list(ej, ep, "addresses");
    if (const json* c = opt_object(ej, ep, "conditions")) {
      std::string cp = field_child(ep, "conditions");
      e.conditions = {opt_bool(*c, cp, "ready"), opt_bool(*c, cp, "serving"),
                      opt_bool(*c, cp, "terminating")};
    }
    e.hostname = opt_string(ej, ep, "hostname");
    e.node_name = opt_string(ej, ep, "nodeName");
    e.zone = opt_string(ej, ep, "zone");
    slice.endpoints.push_back(std::move(e));
  });
  for_each_item(obj, "", "ports", [&](const json& pj, const std::string& pp) {
    expect_object(pj, pp);
    slice.ports.push_back({opt_string(pj, pp, "name"), opt_int(pj, pp, "port"),
                           opt_string(pj, pp, "protocol"), opt_string(pj, pp, "appProtocol")});
  });
  return slice;
}

Secret decode_secret(const json& obj) {
  Secret secret;
  secret.metadata = decode_metadata(obj, Kind::Secret);
  secret.type = string_of(obj, "", "type");
  for (auto& [key, encoded] : string_map(obj, "", "data")) {
    std::optional<std::string> bytes = base64_decode(encoded);
    if (!bytes) fail(field_child("data", key), "invalid base64 data");
    secret.data[key] = std::move(*bytes);
  }
  secret.string_data = string_map(obj, "", "stringData");
  return secret;
}

Object decode_known(Kind kind, const json& obj) {
  expect_object(obj, "");
  switch (kind) {
    case Kind::Ingress:
      return decode_ingress(obj);
    case Kind::IngressClass:
      return decode_ingress_class(obj);
    case Kind::Service:
      return decode_service(obj);
    case Kind::EndpointSlice:
      return decode_endpoint_slice(obj);
    case Kind::Secret:
      return decode_secret(obj);
  }
  fail("", "unknown kind");
}

std::string prefixed(const std::string& prefix, const std::string& field) {
  if (prefix.empty()) return field;
  if (field.empty()) return prefix;
  return prefix + "." + field;
}

// Decodes one object into `out`; `implied` is the kind a typed List gives its items.
void decode_one(const json& obj, const std::string& at, std::optional<Kind> implied,
                DecodeResult& out) {
  try {
    expect_object(obj, "");
    std::string kind_text = string_of(obj, "", "kind");
    std::string api_version = string_of(obj, "", "apiVersion");
    std::optional<Kind> kind = kind_text.empty() ? implied : kind_from_name(kind_text);
    if (!kind) {
      out.skipped.push_back((at.empty() ? "" : at + ": ") + "skipped kind \"" + kind_text + "\" (" +
                            (api_version.empty() ? "no apiVersion" : api_version) + ")");
      return;
    }
    if (!api_version.empty() && api_version != api_version_of(*kind)) {
      out.skipped.push_back((at.empty() ? "" : at + ": ") + "skipped " + kind_text + " of " +
                            api_version + " (strait reads " + std::string(api_version_of(*kind)) +
                            ")");
      return;
    }
    out.objects.push_back({decode_known(*kind, obj), at});
  } catch (const DecodeFailure& f) {
    out.errors.push_back({prefixed(at, f.issue.field), f.issue.reason});
  }
}

}  // namespace

DecodeResult decode_document(const json& document) {
  DecodeResult out;
  if (!document.is_object()) {
    out.errors.push_back({"", std::string("expected an object, got ") + json_type(document)});
    return out;
  }
  std::string kind = document.contains("kind") && document["kind"].is_string()
                         ? document["kind"].get<std::string>()
                         : std::string();
  constexpr std::string_view kListSuffix = "List";
  bool is_list = kind.size() >= kListSuffix.size() &&
                 std::string_view(kind).substr(kind.size() - kListSuffix.size()) == kListSuffix;
  if (!is_list) {
    decode_one(document, "", std::nullopt, out);
    return out;
  }
  std::optional<Kind> implied = kind_from_name(kind.substr(0, kind.size() - kListSuffix.size()));
  auto items = document.find("items");
  if (items == document.end() || items->is_null()) return out;
  if (!items->is_array()) {
    out.errors.push_back({"items", std::string("expected array, got ") + json_type(*items)});
    return out;
  }
  for (size_t i = 0; i < items->size(); ++i) {
    decode_one((*items)[i], field_index("items", i), implied, out);
  }
  return out;
}

std::variant<Object, FieldIssue> decode_object(Kind kind, const json& json) {
  try {
    return decode_known(kind, json);
  } catch (const DecodeFailure& f) {
    return f.issue;
  }
}

}  // namespace strait::controller
