// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews
// every retry period; a candidate takes over a lease it has seen unchanged for a whole lease
// duration (local observation time, so clock skew between nodes does not matter); a leader that
// could not renew within the renew deadline stops acting as leader at once. Only the leader
// writes Ingress status and Events; every replica proxies traffic regardless.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "controller/kube/api_client.hpp"

namespace strait::controller::kube {

struct LeaderElectionOptions {
  std::string namespace_;
  std::string lease_name;
  std::string identity;
  // ingress-nginx's values: a 30 s lease, renewed within 15 s, retried every 2 s.
  std::chrono::seconds lease_duration{30};
  std::chrono::seconds renew_deadline{15};
  std::chrono::milliseconds retry_period{2000};
};

class LeaderElector {
 public:
  LeaderElector(ApiClient& client, LeaderElectionOptions options);
  boost::asio::awaitable<void> run();
  void stop() { stopped_ = true; }
  bool is_leader() const;
  const std::string& identity() const { return options_.identity; }
  void on_change(std::function<void(bool leading)> fn) { on_change_ = std::move(fn); }

 private:
  boost::asio::awaitable<void> try_acquire_or_renew();
  void set_leader(bool leading);
  std::string lease_path() const;

  ApiClient& client_;
  LeaderElectionOptions options_;
  bool leader_ = false;
  std::chrono::steady_clock::time_point last_renew_{};
  std::string observed_holder_;
  std::string observed_renew_time_;
  std::chrono::steady_clock::time_point observed_at_{};
  bool stopped_ = false;
  bool logged_error_ = false;
  std::function<void(bool)> on_change_;
};

// RFC 3339 with microseconds, as Kubernetes MicroTime fields want.
std::string micro_time_now();
// A default identity: POD_NAME, else the host name with a random suffix.
std::string default_identity();

}  // namespace strait::controller::kube
