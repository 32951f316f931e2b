// Publishes where strait is reachable into status.loadBalancer.ingress of every Ingress we own
// (from --publish-status-address, or --publish-service's load-balancer status, externalIPs, or
// node addresses for a NodePort Service), and turns translation warnings into Kubernetes Events.
// Leader only; Ingresses of other classes are never touched; patches go to the status
// subresource.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <set>
#include <string>
#include <vector>

#include "controller/kube/api_client.hpp"
#include "controller/kube/leader_election.hpp"
#include "controller/store.hpp"
#include "controller/translator.hpp"

namespace strait::controller::kube {

struct StatusOptions {
  std::string publish_service;         // "namespace/name"
  std::string publish_status_address;  // comma-separated IPs or hostnames
  TranslateOptions translate;
};

class StatusWriter {
 public:
  StatusWriter(boost::asio::io_context& io, ApiClient& client, const LeaderElector& elector,
               StatusOptions options);
  // After every sync: remember the state and, if leading, bring statuses and events up to date.
  void update(const Store& store, const std::vector<Warning>& warnings);
  // Leadership gained: write everything again.
  void resync();

 private:
  boost::asio::awaitable<void> write_all();
  boost::asio::awaitable<std::vector<LoadBalancerIngress>> desired_addresses();
  boost::asio::awaitable<void> emit_events();

  boost::asio::io_context& io_;
  ApiClient& client_;
  const LeaderElector& elector_;
  StatusOptions options_;
  Store store_;  // a copy of the last synced store: the writer runs after the sync returns
  std::vector<Warning> warnings_;
  std::set<std::string> emitted_;  // warnings already sent as Events
  bool running_ = false;
  bool pending_ = false;
};

// Parses --publish-status-address: IPs become {ip}, names {hostname}.
std::vector<LoadBalancerIngress> parse_status_addresses(const std::string& list);

}  // namespace strait::controller::kube
