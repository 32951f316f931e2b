#include "controller/kube/leader_election.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>

#include "strait/clock.hpp"
#include "strait/log.hpp"

namespace strait::controller::kube {
namespace asio = boost::asio;
using json = nlohmann::json;

std::string micro_time_now() {
  std::string out;
  append_utc_timestamp(out, 6);
  return out;
}

std::string default_identity() {
  if (const char* pod = std::getenv("POD_NAME"); pod && *pod) return pod;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::mt19937 rng{std::random_device{}()};
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rng()));
  return std::string(host) + "_" + suffix;
}

LeaderElector::LeaderElector(ApiClient& client, LeaderElectionOptions options)
    : client_(client), options_(std::move(options)) {}

bool LeaderElector::is_leader() const {
  return leader_ && std::chrono::steady_clock::now() - last_renew_ < options_.renew_deadline;
}

std::string LeaderElector::lease_path() const {
  return "/apis/coordination.k8s.io/v1/namespaces/" + options_.namespace_ + "/leases/" +
         options_.lease_name;
}

void LeaderElector::set_leader(bool leading) {
  if (leading == leader_) return;
  leader_ = leading;
  log_info(leading ? "leader election: " + options_.identity + " is now the leader (lease " +
                         options_.namespace_ + "/" + options_.lease_name + ")"
                   : "leader election: " + options_.identity + " stopped leading");
  if (on_change_) on_change_(leading);
}

asio::awaitable<void> LeaderElector::try_acquire_or_renew() {
  auto now = std::chrono::steady_clock::now();
  ApiResponse got = co_await client_.request("GET", lease_path());
  json lease;
  if (got.status == 404) {
    lease = {{"apiVersion", "coordination.k8s.io/v1"},
             {"kind", "Lease"},
             {"metadata", {{"name", options_.lease_name}, {"namespace", options_.namespace_}}},
             {"spec",
              {{"holderIdentity", options_.identity},
               {"leaseDurationSeconds", options_.lease_duration.count()},
               {"acquireTime", micro_time_now()},
               {"renewTime", micro_time_now()},
               {"leaseTransitions", 0}}}};
    ApiResponse created = co_await client_.request(
        "POST", "/apis/coordination.k8s.io/v1/namespaces/" + options_.namespace_ + "/leases",
        lease.dump());
    if (created.ok()) {
      last_renew_ = now;
      set_leader(true);
    }
    co_return;
  }
  if (!got.ok()) {
    if (!logged_error_) log_warning("leader election: " + got.describe());
    logged_error_ = true;
    co_return;
  }
  logged_error_ = false;
  lease = json::parse(got.body, nullptr, false);
  if (!lease.is_object()) co_return;
  json& spec = lease["spec"];
  if (!spec.is_object()) spec = json::object();
  std::string holder = spec.value("holderIdentity", "");
  std::string renew_time = spec.value("renewTime", "");
  if (holder != observed_holder_ || renew_time != observed_renew_time_) {
    observed_holder_ = holder;
    observed_renew_time_ = renew_time;
    observed_at_ = now;
  }
  int64_t duration_s = spec.value("leaseDurationSeconds", options_.lease_duration.count());
  bool expired = now - observed_at_ > std::chrono::seconds(duration_s);
  if (holder != options_.identity && !holder.empty() && !expired) {
    set_leader(false);
    co_return;
  }
  if (holder != options_.identity) {
    spec["acquireTime"] = micro_time_now();
    spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + 1;
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = options_.lease_duration.count();
  spec["renewTime"] = micro_time_now();
  // PUT with the resourceVersion we read: a concurrent writer makes this fail with 409.
  ApiResponse updated = co_await client_.request("PUT", lease_path(), lease.dump());
  if (updated.ok()) {
    last_renew_ = now;
    set_leader(true);
  }
}

asio::awaitable<void> LeaderElector::run() {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  while (!stopped_) {
    co_await try_acquire_or_renew();
    // Not renewed within the deadline: stop writing at once, whoever else takes over.
    if (leader_ && std::chrono::steady_clock::now() - last_renew_ >= options_.renew_deadline)
      set_leader(false);
    timer.expires_after(options_.retry_period);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace strait::controller::kube
