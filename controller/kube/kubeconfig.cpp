#include "controller/kube/kubeconfig.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "controller/base64.hpp"

namespace strait::controller::kube {
namespace {

std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + what + " " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A named entry of a kubeconfig list (clusters, users, contexts).
YAML::Node find_named(const YAML::Node& list, const std::string& name, const char* what) {
  if (list && list.IsSequence()) {
    for (const auto& item : list) {
      if (item["name"] && item["name"].as<std::string>() == name) return item[what];
    }
  }
  return YAML::Node();
}

std::string string_field(const YAML::Node& node, const char* key) {
  return node && node[key] && node[key].IsScalar() ? node[key].as<std::string>() : std::string();
}

// "data" fields are base64 PEM; file fields are relative to the kubeconfig's directory.
std::string pem_from(const YAML::Node& node, const char* data_key, const char* file_key,
                     const std::filesystem::path& base, const std::string& what) {
  std::string data = string_field(node, data_key);
  if (!data.empty()) {
    auto decoded = base64_decode(data);
    if (!decoded) throw std::runtime_error(what + ": " + data_key + " is not valid base64");
    return *decoded;
  }
  std::string file = string_field(node, file_key);
  if (file.empty()) return {};
  std::filesystem::path p(file);
  if (p.is_relative()) p = base / p;
  return read_file(p.string(), what);
}

void split_host_port(const std::string& hostport, ClusterAccess& access) {
  if (!hostport.empty() && hostport.front() == '[') {
    size_t close = hostport.find(']');
    if (close == std::string::npos) throw std::runtime_error("bad server address " + hostport);
    access.host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size() && hostport[close + 1] == ':')
      access.port = hostport.substr(close + 2);
    return;
  }
  size_t colon = hostport.rfind(':');
  if (colon == std::string::npos) {
    access.host = hostport;
  } else {
    access.host = hostport.substr(0, colon);
    access.port = hostport.substr(colon + 1);
  }
  if (access.host.empty()) throw std::runtime_error("bad server address " + hostport);
}

}  // namespace

void override_server(ClusterAccess& access, const std::string& url) {
  std::string rest = url;
  if (rest.rfind("https://", 0) == 0) {
    rest = rest.substr(8);
  } else if (rest.find("://") != std::string::npos) {
    throw std::runtime_error("API server " + url + ": only https:// is supported");
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos)
    throw std::runtime_error("API server " + url + ": a path prefix is not supported");
  access.port = "443";
  split_host_port(rest, access);
}

ClusterAccess load_kubeconfig(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("kubeconfig " + path + ": " + e.what());
  }
  std::filesystem::path base = std::filesystem::absolute(path).parent_path();
  std::string context_name = string_field(root, "current-context");
  if (context_name.empty()) throw std::runtime_error("kubeconfig " + path + ": no current-context");
  YAML::Node context = find_named(root["contexts"], context_name, "context");
  if (!context)
    throw std::runtime_error("kubeconfig " + path + ": context " + context_name + " not found");
  std::string cluster_name = string_field(context, "cluster");
  std::string user_name = string_field(context, "user");
  YAML::Node cluster = find_named(root["clusters"], cluster_name, "cluster");
  if (!cluster)
    throw std::runtime_error("kubeconfig " + path + ": cluster " + cluster_name + " not found");
  YAML::Node user = find_named(root["users"], user_name, "user");

  ClusterAccess access;
  access.source = "kubeconfig " + path;
  std::string server = string_field(cluster, "server");
  if (server.empty()) throw std::runtime_error("kubeconfig " + path + ": cluster has no server");
  override_server(access, server);
  std::string what = "kubeconfig " + path;
  access.ca_pem =
      pem_from(cluster, "certificate-authority-data", "certificate-authority", base, what);
  access.insecure_skip_tls_verify = string_field(cluster, "insecure-skip-tls-verify") == "true";
  if (user) {
    access.client_cert_pem =
        pem_from(user, "client-certificate-data", "client-certificate", base, what);
    access.client_key_pem = pem_from(user, "client-key-data", "client-key", base, what);
    access.token = string_field(user, "token");
    std::string token_file = string_field(user, "tokenFile");
    if (!token_file.empty()) {
      std::filesystem::path p(token_file);
      access.token_file = (p.is_relative() ? base / p : p).string();
    }
  }
  access.namespace_ = string_field(context, "namespace");
  if (access.namespace_.empty()) access.namespace_ = "default";
  return access;
}

ClusterAccess in_cluster_access() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port || !*host || !*port)
    throw std::runtime_error(
        "not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset): pass --kubeconfig or "
        "--manifests");
  const std::string dir = "/var/run/secrets/kubernetes.io/serviceaccount/";
  ClusterAccess access;
  access.source = "in-cluster";
  access.host = host;
  access.port = port;
  access.ca_pem = read_file(dir + "ca.crt", "service-account CA");
  access.token_file = dir + "token";
  std::ifstream ns(dir + "namespace");
  std::getline(ns, access.namespace_);
  if (access.namespace_.empty()) access.namespace_ = "default";
  return access;
}

}  // namespace strait::controller::kube
