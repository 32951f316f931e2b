#include "controller/kube/status_writer.hpp"

#include <arpa/inet.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "strait/log.hpp"

namespace strait::controller::kube {
namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

json to_json(const std::vector<LoadBalancerIngress>& list) {
  json out = json::array();
  for (const auto& e : list) {
    json item = json::object();
    if (!e.ip.empty()) item["ip"] = e.ip;
    if (!e.hostname.empty()) item["hostname"] = e.hostname;
    out.push_back(item);
  }
  return out;
}

std::string random_suffix() {
  static std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace

std::vector<LoadBalancerIngress> parse_status_addresses(const std::string& list) {
  std::vector<LoadBalancerIngress> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string item =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) {
      if (is_ip(item)) {
        out.push_back({item, ""});
      } else {
        out.push_back({"", item});
      }
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

StatusWriter::StatusWriter(asio::io_context& io, ApiClient& client, const LeaderElector& elector,
                           StatusOptions options)
    : io_(io), client_(client), elector_(elector), options_(std::move(options)) {}

void StatusWriter::update(const Store& store, const std::vector<Warning>& warnings) {
  store_ = store;
  warnings_ = warnings;
  resync();
}

void StatusWriter::resync() {
  if (!elector_.is_leader()) return;
  // One writer at a time; a change arriving meanwhile is picked up by one more pass.
  if (running_) {
    pending_ = true;
    return;
  }
  running_ = true;
  asio::co_spawn(io_, write_all(), [this](std::exception_ptr) {
    running_ = false;
    if (pending_) {
      pending_ = false;
      resync();
    }
  });
}

asio::awaitable<std::vector<LoadBalancerIngress>> StatusWriter::desired_addresses() {
  if (!options_.publish_status_address.empty())
    co_return parse_status_addresses(options_.publish_status_address);
  if (options_.publish_service.empty()) co_return std::vector<LoadBalancerIngress>{};
  size_t slash = options_.publish_service.find('/');
  std::string ns = options_.publish_service.substr(0, slash);
  std::string name = options_.publish_service.substr(slash + 1);
  // The publish Service may live outside --watch-namespace: ask for it directly.
  ApiResponse res =
      co_await client_.request("GET", "/api/v1/namespaces/" + ns + "/services/" + name);
  if (!res.ok()) {
    log_warning("--publish-service " + options_.publish_service + ": " + res.describe());
    co_return std::vector<LoadBalancerIngress>{};
  }
  json svc = json::parse(res.body, nullptr, false);
  std::vector<LoadBalancerIngress> out;
  const json& spec = svc.value("spec", json::object());
  std::string type = spec.value("type", "ClusterIP");
  if (type == "LoadBalancer") {
    json lb = svc.value("status", json::object()).value("loadBalancer", json::object());
    for (const auto& e : lb.value("ingress", json::array()))
      out.push_back({e.value("ip", ""), e.value("hostname", "")});
    co_return out;
  }
  for (const auto& ip : spec.value("externalIPs", json::array()))
    if (ip.is_string()) out.push_back({ip.get<std::string>(), ""});
  if (!out.empty() || type != "NodePort") co_return out;
  // NodePort: clients reach any node; publish the nodes' external (else internal) addresses.
  ApiResponse nodes = co_await client_.request("GET", "/api/v1/nodes");
  json list = json::parse(nodes.ok() ? nodes.body : "{}", nullptr, false);
  for (const auto& node : list.value("items", json::array())) {
    std::string external, internal;
    for (const auto& a : node.value("status", json::object()).value("addresses", json::array())) {
      if (a.value("type", "") == "ExternalIP" && external.empty())
        external = a.value("address", "");
      if (a.value("type", "") == "InternalIP" && internal.empty())
        internal = a.value("address", "");
    }
    std::string address = external.empty() ? internal : external;
    if (!address.empty()) out.push_back({address, ""});
  }
  co_return out;
}

asio::awaitable<void> StatusWriter::write_all() {
  std::vector<LoadBalancerIngress> desired = co_await desired_addresses();
  bool have_source = !options_.publish_status_address.empty() || !options_.publish_service.empty();
  for (const auto& [key, ing] : store_.ingresses) {
    if (!elector_.is_leader()) co_return;
    if (!is_ours(ing, store_, options_.translate)) continue;
    if (!have_source || ing.status_load_balancer == desired) continue;
    json patch = {{"status", {{"loadBalancer", {{"ingress", to_json(desired)}}}}}};
    ApiResponse res = co_await client_.request("PATCH",
                                               "/apis/networking.k8s.io/v1/namespaces/" +
                                                   ing.metadata.namespace_ + "/ingresses/" +
                                                   ing.metadata.name + "/status",
                                               patch.dump(), "application/merge-patch+json");
    if (!res.ok()) log_warning("status of Ingress " + key + ": " + res.describe());
  }
  co_await emit_events();
}

asio::awaitable<void> StatusWriter::emit_events() {
  for (const auto& w : warnings_) {
    if (!elector_.is_leader()) co_return;
    // Warning.object is "Ingress namespace/name".
    constexpr std::string_view kPrefix = "Ingress ";
    if (w.object.rfind(kPrefix, 0) != 0) continue;
    std::string key = w.object.substr(kPrefix.size());
    std::string line = key + ": " + w.message;
    if (emitted_.count(line)) continue;
    auto it = store_.ingresses.find(key);
    if (it == store_.ingresses.end()) continue;
    const Ingress& ing = it->second;
    std::string now = micro_time_now().substr(0, 19) + "Z";
    json event = {{"apiVersion", "v1"},
                  {"kind", "Event"},
                  {"metadata",
                   {{"name", ing.metadata.name + "." + random_suffix()},
                    {"namespace", ing.metadata.namespace_}}},
                  {"involvedObject",
                   {{"apiVersion", "networking.k8s.io/v1"},
                    {"kind", "Ingress"},
                    {"name", ing.metadata.name},
                    {"namespace", ing.metadata.namespace_},
                    {"uid", ing.metadata.uid}}},
                  {"reason", "ConfigWarning"},
                  {"message", w.message},
                  {"type", "Warning"},
                  {"source", {{"component", "strait"}}},
                  {"reportingComponent", "strait.io/ingress-controller"},
                  {"reportingInstance", elector_.identity()},
                  {"firstTimestamp", now},
                  {"lastTimestamp", now},
                  {"count", 1}};
    ApiResponse res = co_await client_.request(
        "POST", "/api/v1/namespaces/" + ing.metadata.namespace_ + "/events", event.dump());
    if (res.ok()) emitted_.insert(line);
  }
}

}  // namespace strait::controller::kube
