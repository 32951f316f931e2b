// How to reach the API server: from a kubeconfig file (current context) or from inside a pod
// (service-account token, mounted CA, KUBERNETES_SERVICE_HOST/_PORT). Startup code: throws
// std::runtime_error with a reason an operator can act on.
#pragma once

#include <string>

namespace strait::controller::kube {

struct ClusterAccess {
  std::string host;  // "127.0.0.1", "kubernetes.default.svc", "[::1]" without brackets
  std::string port = "443";
  std::string ca_pem;  // empty: the system's trust store
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;       // static bearer token
  std::string token_file;  // re-read when it changes (projected service-account tokens rotate)
  bool insecure_skip_tls_verify = false;
  std::string namespace_;  // the context's / pod's namespace
  std::string source;      // "kubeconfig /path" or "in-cluster", for logs
  std::string server_url() const { return "https://" + host + ":" + port; }
};

ClusterAccess load_kubeconfig(const std::string& path);
ClusterAccess in_cluster_access();
// --apiserver-host: "https://host:port" (or "host:port").
void override_server(ClusterAccess& access, const std::string& url);

}  // namespace strait::controller::kube
