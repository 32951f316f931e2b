// strait in API mode, driven as an operator drives a cluster: the real kubectl against the
// project's test API server (tests/apiserver, an independent Python implementation), echo pods
// on loopback addresses, and traffic through the real strait binary.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "harness/fake_apiserver.hpp"
#include "harness/fixture.hpp"

namespace it {
namespace {

class ApiModeTest : public IntegrationTest {
 protected:
  void SetUp() override {
    IntegrationTest::SetUp();
    api_ = std::make_unique<FakeApiServer>(dir());
  }
  void TearDown() override {
    IntegrationTest::TearDown();
    api_.reset();
  }

  Strait& start_api_strait(const std::string& kubeconfig_kind = "cert",
                           std::vector<std::string> extra = {}, bool wait = true) {
    StraitOptions o;
    o.manifests = false;
    o.wait_ready = wait;
    o.args = {"--kubeconfig=" + api_->kubeconfig(kubeconfig_kind).string()};
    o.args.insert(o.args.end(), extra.begin(), extra.end());
    return start_strait(o);
  }

  void apply_ok(const std::string& name, const std::string& yaml) {
    CommandResult r = api_->apply(name, yaml);
    ASSERT_TRUE(r.exited_with(0)) << "kubectl apply " << name << ": " << r.describe();
  }

  // Requests per resource and verb the API server has served (from its control port).
  int served(const std::string& resource, const std::string& verb) {
    auto j = nlohmann::json::parse(api_->stats(), nullptr, false);
    if (!j.is_object() || !j.contains("resources")) return -1;
    auto& r = j["resources"];
    if (!r.contains(resource) || !r[resource].contains(verb)) return 0;
    return r[resource][verb].get<int>();
  }

  std::string ingress_address(const std::string& name) {
    CommandResult r = api_->kubectl(
        {"get", "ingress", name, "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}"});
    return r.exited_with(0) ? r.out : "error: " + r.err;
  }

  std::unique_ptr<FakeApiServer> api_;
};

TEST_F(ApiModeTest, ApplyRoutesPublishesStatusScalesAndDeletes) {
  auto pods = start_pods({"a", "b"});
  apply_ok("class", k8s::ingress_class());
  apply_ok("app", k8s::app("default", "web", {pods[0]->address}, pods[0]->port));
  apply_ok("ingress", k8s::ingress(k8s::simple_ingress("web", "web.example.com", "/", "web")));
  start_api_strait("cert", {"--publish-status-address=127.0.0.9"});
  EXPECT_TRUE(await_pod("web.example.com", "/", "a"));
  // The leader writes where strait is reachable into the Ingress status.
  EXPECT_TRUE(eventually([&] { return ingress_address("web") == "127.0.0.9"; }, 15s))
      << ingress_address("web");
  // Scale the EndpointSlice: traffic follows to both pods.
  apply_ok("app", k8s::app("default", "web", {pods[0]->address, pods[1]->address}, pods[0]->port));
  EXPECT_TRUE(eventually(
      [&] {
        auto t = tally("web.example.com", "/", 6);
        return t["a"] > 0 && t["b"] > 0;
      },
      10s));
  // kubectl delete removes the route.
  CommandResult del = api_->kubectl({"delete", "ingress", "web"});
  ASSERT_TRUE(del.exited_with(0)) << del.describe();
  EXPECT_TRUE(await_pod("web.example.com", "/", "status:404"));
}

TEST_F(ApiModeTest, OnlyOwnedIngressesGetStatusAndWarningsBecomeEvents) {
  EchoPod& pod = start_pod("p");
  apply_ok("class", k8s::ingress_class());
  apply_ok("app", k8s::app("default", "web", {pod.address}, pod.port));
  k8s::Ingress other = k8s::simple_ingress("other", "other.example.com", "/", "web");
  other.class_name = "someone-else";
  k8s::Ingress broken = k8s::simple_ingress("broken", "broken.example.com", "/", "missing-svc");
  apply_ok(
      "ingresses",
      k8s::documents({k8s::ingress(k8s::simple_ingress("ours", "ours.example.com", "/", "web")),
                      k8s::ingress(other), k8s::ingress(broken)}));
  start_api_strait("cert", {"--publish-status-address=127.0.0.9"});
  EXPECT_TRUE(eventually([&] { return ingress_address("ours") == "127.0.0.9"; }, 15s));
  EXPECT_EQ(pod_for("other.example.com", "/"), "status:404");
  EXPECT_EQ(pod_for("broken.example.com", "/"), "status:503");
  // The warning about the missing Service reaches the Ingress as a Kubernetes Event.
  EXPECT_TRUE(eventually(
      [&] {
        CommandResult r = api_->kubectl({"get", "events", "-o", "json"});
        auto j = nlohmann::json::parse(r.out, nullptr, false);
        if (!j.is_object()) return false;
        for (const auto& e : j.value("items", nlohmann::json::array())) {
          const auto& obj = e.value("involvedObject", nlohmann::json::object());
          if (obj.value("name", "") == "broken" && e.value("type", "") == "Warning" &&
              e.value("message", "").find("missing-svc") != std::string::npos)
            return true;
        }
        return false;
      },
      15s));
  // Never touched: the Ingress of another class has no status at all.
  EXPECT_EQ(ingress_address("other"), "");
}

TEST_F(ApiModeTest, TokenKubeconfigWorks) {
  EchoPod& pod = start_pod("t");
  apply_ok("all", k8s::documents(
                      {k8s::ingress_class(), k8s::app("default", "web", {pod.address}, pod.port),
                       k8s::ingress(k8s::simple_ingress("web", "tok.example.com", "/", "web"))}));
  start_api_strait("token");
  EXPECT_TRUE(await_pod("tok.example.com", "/", "t"));
}

TEST_F(ApiModeTest, WrongCertificateAuthorityFailsClearlyAndStaysUnready) {
  Strait& s = start_api_strait("wrong-ca", {}, false);
  EXPECT_TRUE(await_log("certificate verify failed", 15s)) << strait_log();
  auto r = http_get(s.address, s.healthz_port, "localhost", "/readyz", {}, 2s);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 503);
}

TEST_F(ApiModeTest, ApiServerCrashKeepsTrafficAndRecoversNewState) {
  auto pods = start_pods({"a", "b"});
  apply_ok("class", k8s::ingress_class());
  apply_ok("apps", k8s::documents({k8s::app("default", "one", {pods[0]->address}, pods[0]->port),
                                   k8s::app("default", "two", {pods[1]->address}, pods[1]->port)}));
  apply_ok("ingress", k8s::ingress(k8s::simple_ingress("web", "crash.example.com", "/", "one")));
  start_api_strait();
  ASSERT_TRUE(await_pod("crash.example.com", "/", "a"));

  api_->kill();
  EXPECT_TRUE(await_log("Kubernetes API unavailable", 15s));
  // The last good configuration keeps serving while the API server is gone.
  for (int i = 0; i < 20; ++i) EXPECT_EQ(pod_for("crash.example.com", "/"), "a");

  api_->restart();
  apply_ok("ingress", k8s::ingress(k8s::simple_ingress("web", "crash.example.com", "/", "two")));
  EXPECT_TRUE(await_pod("crash.example.com", "/", "b", 30s));
  EXPECT_TRUE(await_log("Kubernetes API reachable again", 15s));
  // The outage is logged once, not once per retry.
  std::string log = strait_log();
  size_t first = log.find("Kubernetes API unavailable");
  EXPECT_EQ(log.find("Kubernetes API unavailable", first + 1), std::string::npos) << log;
}

TEST_F(ApiModeTest, DroppedWatchResumesWithoutRelist) {
  EchoPod& pod = start_pod("d");
  apply_ok("all", k8s::documents(
                      {k8s::ingress_class(), k8s::app("default", "web", {pod.address}, pod.port)}));
  start_api_strait();
  int lists = served("ingresses.networking.k8s.io", "list");
  int watches = served("ingresses.networking.k8s.io", "watch");
  ASSERT_GE(lists, 1);
  api_->control("/drop-watches");
  apply_ok("ingress", k8s::ingress(k8s::simple_ingress("web", "drop.example.com", "/", "web")));
  EXPECT_TRUE(await_pod("drop.example.com", "/", "d"));
  EXPECT_GT(served("ingresses.networking.k8s.io", "watch"), watches);
  EXPECT_EQ(served("ingresses.networking.k8s.io", "list"), lists);
}

TEST_F(ApiModeTest, ExpiredHistoryRelistsAndAppliesDeletions) {
  EchoPod& pod = start_pod("e");
  apply_ok("all", k8s::documents(
                      {k8s::ingress_class(), k8s::app("default", "web", {pod.address}, pod.port),
                       k8s::ingress(k8s::simple_ingress("keep", "keep.example.com", "/", "web")),
                       k8s::ingress(k8s::simple_ingress("gone", "gone.example.com", "/", "web"))}));
  start_api_strait();
  ASSERT_TRUE(await_pod("gone.example.com", "/", "e"));
  int lists = served("ingresses.networking.k8s.io", "list");
  // Keep strait's cluster-wide Ingress watch away while the object is deleted and the history
  // is forgotten: it can only learn about the deletion from a new list.
  api_->control("/fail",
                R"({"status":500,"count":100000,"match":"/apis/networking.k8s.io/v1/ingresses"})");
  api_->control("/drop-watches");
  CommandResult del = api_->kubectl({"delete", "ingress", "gone"});
  ASSERT_TRUE(del.exited_with(0)) << del.describe();
  api_->control("/expire-history");
  api_->control("/fail", R"({"status":500,"count":0})");
  EXPECT_TRUE(await_pod("gone.example.com", "/", "status:404", 40s));
  EXPECT_EQ(pod_for("keep.example.com", "/"), "e");
  EXPECT_GT(served("ingresses.networking.k8s.io", "list"), lists);
}

TEST_F(ApiModeTest, ThrottledApiServerIsRetried) {
  EchoPod& pod = start_pod("r");
  api_->control("/fail", R"({"status":429,"count":3,"retry_after":1})");
  apply_ok("all", k8s::documents(
                      {k8s::ingress_class(), k8s::app("default", "web", {pod.address}, pod.port),
                       k8s::ingress(k8s::simple_ingress("web", "retry.example.com", "/", "web"))}));
  start_api_strait();
  EXPECT_TRUE(await_pod("retry.example.com", "/", "r"));
}

TEST_F(ApiModeTest, OneLeaderAmongReplicas) {
  EchoPod& pod = start_pod("l");
  apply_ok("all", k8s::documents(
                      {k8s::ingress_class(), k8s::app("default", "web", {pod.address}, pod.port),
                       k8s::ingress(k8s::simple_ingress("web", "lead.example.com", "/", "web"))}));
  Strait& first = start_api_strait();
  Strait& second = start_api_strait();
  // Every replica proxies; exactly one holds the Lease and says so.
  EXPECT_TRUE(await_pod("lead.example.com", "/", "l"));
  std::string holder;
  EXPECT_TRUE(eventually(
      [&] {
        CommandResult r = api_->kubectl(
            {"get", "lease", "strait-leader", "-o", "jsonpath={.spec.holderIdentity}"});
        holder = r.exited_with(0) ? r.out : "";
        return !holder.empty();
      },
      15s));
  auto leads = [&](const Strait& s) {
    return strait_log(s).find("is now the leader") != std::string::npos;
  };
  EXPECT_TRUE(eventually([&] { return leads(first) || leads(second); }, 10s));
  EXPECT_NE(leads(first), leads(second)) << "exactly one replica leads";
  EXPECT_NE(strait_log(leads(first) ? first : second).find(holder), std::string::npos) << holder;
}

}  // namespace
}  // namespace it

namespace it {
namespace {

TEST_F(ApiModeTest, PublishServiceLoadBalancerAndNodePortAddresses) {
  EchoPod& pod = start_pod("s");
  apply_ok("all", k8s::documents(
                      {k8s::ingress_class(), k8s::app("default", "web", {pod.address}, pod.port),
                       k8s::ingress(k8s::simple_ingress("web", "pub.example.com", "/", "web"))}));
  apply_ok("lb", R"(apiVersion: v1
kind: Service
metadata: {name: strait-lb, namespace: ingress}
spec:
  type: LoadBalancer
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: strait-np, namespace: ingress}
spec:
  type: NodePort
  ports: [{name: http, port: 80, nodePort: 30080}]
---
apiVersion: v1
kind: Node
metadata: {name: node-1}
)");
  auto patch_status = [&](const std::vector<std::string>& what, const std::string& json) {
    std::vector<std::string> args = {"patch"};
    args.insert(args.end(), what.begin(), what.end());
    args.insert(args.end(), {"--subresource=status", "--type=merge", "-p", json});
    CommandResult r = api_->kubectl(args);
    ASSERT_TRUE(r.exited_with(0)) << r.describe();
  };
  patch_status({"service", "strait-lb", "-n", "ingress"},
               R"({"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.77"}]}}})");
  patch_status({"node", "node-1"},
               R"({"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.81"}]}})");

  Strait& lb = start_api_strait("cert", {"--publish-service=ingress/strait-lb"});
  EXPECT_TRUE(eventually([&] { return ingress_address("web") == "127.0.0.77"; }, 15s))
      << ingress_address("web");
  // The load balancer's address changes: the status follows.
  patch_status({"service", "strait-lb", "-n", "ingress"},
               R"({"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.78"}]}}})");
  EXPECT_TRUE(eventually([&] { return ingress_address("web") == "127.0.0.78"; }, 15s))
      << ingress_address("web");
  lb.process.stop(10s);
  lb.exit_expected = true;
  // A NodePort Service publishes the nodes' addresses. (The Lease of the stopped replica must
  // expire first: lease duration 30 s is too long for a test, so remove it.)
  api_->kubectl({"delete", "lease", "strait-leader"});
  start_api_strait("cert", {"--publish-service=ingress/strait-np"});
  EXPECT_TRUE(eventually([&] { return ingress_address("web") == "127.0.0.81"; }, 20s))
      << ingress_address("web");
}

}  // namespace
}  // namespace it

namespace it {
namespace {

TEST_F(ApiModeTest, TlsSecretsAreFetchedOnlyOnceAnIngressReferencesThem) {
  EchoPod& pod = start_pod("k");
  // A kubernetes.io/tls Secret nobody references yet (the key material is irrelevant here).
  apply_ok("secret", R"(apiVersion: v1
kind: Secret
metadata: {name: site-tls, namespace: default}
type: kubernetes.io/tls
data: {tls.crt: Y2VydA==, tls.key: a2V5}
)");
  apply_ok("all", k8s::documents(
                      {k8s::ingress_class(), k8s::app("default", "web", {pod.address}, pod.port)}));
  start_api_strait();
  // Listed with the field selector, but not kept: strait has not asked for it by name (the one
  // GET so far is kubectl apply's).
  const int gets = served("secrets", "get");
  EXPECT_EQ(gets, 1);
  apply_ok("ingress", R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default}
spec:
  ingressClassName: strait
  tls: [{hosts: [tls.example.com], secretName: site-tls}]
  rules:
  - host: tls.example.com
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
)");
  // The Ingress is applied (its TLS host redirects plain HTTP to HTTPS).
  EXPECT_TRUE(await_pod("tls.example.com", "/", "status:308"));
  // Now an Ingress names it: strait fetches that one Secret.
  EXPECT_TRUE(eventually([&] { return served("secrets", "get") == gets + 1; }, 10s))
      << api_->stats();
}

}  // namespace
}  // namespace it

namespace it {
namespace {

// In a pod, strait finds the API server from KUBERNETES_SERVICE_HOST/_PORT and authenticates
// with the mounted service-account token and CA. A private mount namespace stands in for the
// pod: a tmpfs over /run holds /run/secrets/kubernetes.io/serviceaccount (/var/run -> /run).
TEST_F(ApiModeTest, InClusterServiceAccount) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a private mount namespace";
  CommandResult probe = run_command({"unshare", "--mount", "true"});
  if (!probe.exited_with(0)) GTEST_SKIP() << "unshare --mount unavailable: " << probe.describe();
  EchoPod& pod = start_pod("c");
  apply_ok("all", k8s::documents(
                      {k8s::ingress_class(), k8s::app("default", "web", {pod.address}, pod.port),
                       k8s::ingress(k8s::simple_ingress("web", "pod.example.com", "/", "web"))}));
  std::filesystem::path sa = dir() / "serviceaccount";
  std::filesystem::create_directories(sa);
  std::filesystem::path certs = api_->kubeconfig().parent_path();
  std::filesystem::copy_file(certs / "ca.crt", sa / "ca.crt");
  std::filesystem::copy_file(certs / "token", sa / "token");
  write_file_atomic(sa / "namespace", "default");
  const std::string target = "/run/secrets/kubernetes.io/serviceaccount";
  StraitOptions o;
  o.manifests = false;
  o.launcher = {"unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                "mount -t tmpfs tmpfs /run && mkdir -p " + target + " && cp " + sa.string() +
                    "/* " + target +
                    "/ && exec env KUBERNETES_SERVICE_HOST=127.0.0.1 "
                    "KUBERNETES_SERVICE_PORT=" +
                    std::to_string(api_->port()) + " \"$@\"",
                "sh"};
  start_strait(o);
  EXPECT_TRUE(await_pod("pod.example.com", "/", "c"));
  EXPECT_TRUE(await_log("in-cluster", 5s)) << strait_log();
}

}  // namespace
}  // namespace it
