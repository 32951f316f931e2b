// Rolling updates without a failed request (issue 6): file mode plays the EndpointSlice changes
// of a rollout while keep-alive clients keep strait busy, and the old pod stops the way a real
// one does on SIGTERM (listener closed, idle keep-alive connections closed, requests in progress
// answered). Terminating endpoints (ready=false, serving=true, terminating=true) get no new
// requests while a ready one exists; requests already on them finish.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <mutex>
#include <sstream>
#include <thread>

#include "harness/fixture.hpp"

namespace it {
namespace {

constexpr const char* kHost = "roll.example.com";

// Keep-alive clients sending GETs until stopped (or a bound), counting every outcome.
class Load {
 public:
  Load(std::string address, uint16_t port, int clients) {
    for (int i = 0; i < clients; ++i)
      threads_.emplace_back([this, address, port] { run(address, port); });
  }
  ~Load() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  uint64_t ok() const { return ok_; }
  uint64_t not_ok() const { return not_ok_; }
  uint64_t errors() const { return errors_; }
  std::string failures() {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& f : failures_) out += f + "\n";
    return out;
  }

 private:
  void fail(std::atomic<uint64_t>& counter, const std::string& what) {
    ++counter;
    std::lock_guard lock(mutex_);
    if (failures_.size() < 20) failures_.push_back(what);
  }
  void run(const std::string& address, uint16_t port) {
    RawClient c;
    // Bounded: 60 s at most, whatever happens to the stop flag.
    const auto deadline = Clock::now() + 60s;
    while (!stop_ && Clock::now() < deadline) {
      if (!c.connected() && !c.connect(address, port)) {
        fail(errors_, "connect: " + c.error());
        continue;
      }
      if (!c.send(std::string("GET /load HTTP/1.1\r\nHost: ") + kHost + "\r\n\r\n")) {
        fail(errors_, "send: " + c.error());
        c.close();
        continue;
      }
      const auto r = c.read_response(10s);
      if (!r) {
        fail(errors_, "read: " + c.error());
        c.close();
        continue;
      }
      if (r->status == 200) {
        ++ok_;
      } else {
        fail(not_ok_, "status " + std::to_string(r->status));
      }
      // strait closes a connection after --keepalive-requests; the client then reconnects.
      if (const std::string* conn = r->header("Connection"); conn && iequals(*conn, "close"))
        c.close();
    }
  }
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> ok_{0}, not_ok_{0}, errors_{0};
  std::mutex mutex_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

class RollingUpdateTest : public IntegrationTest {
 protected:
  void write_endpoints(const std::vector<k8s::SliceEndpoint>& endpoints, int port) {
    write_manifest("roll.yaml",
                   k8s::documents({k8s::service("default", "roll", {{"http", 80, "http"}}),
                                   k8s::endpoint_slice("default", "roll-1", "roll",
                                                       {{"http", port}}, endpoints)}));
  }
  // Writes the endpoints and waits until every worker routes with them.
  void apply_endpoints(const std::vector<k8s::SliceEndpoint>& endpoints, int port) {
    const double before = metric("strait_config_propagation_seconds_count");
    write_endpoints(endpoints, port);
    ASSERT_TRUE(
        eventually([&] { return metric("strait_config_propagation_seconds_count") > before; }, 10s))
        << "the change never reached every worker";
  }
  // Waits until pod has answered n more requests than now.
  bool await_requests(const EchoPod& pod, uint64_t n) {
    const uint64_t start = stats(pod).requests;
    return eventually([&] { return stats(pod).requests >= start + n; }, 15s);
  }
  static void enable_graceful_stop(const EchoPod& pod) {
    const auto r = http_get(pod.address, pod.port, "pod", "/__control/graceful");
    ASSERT_TRUE(r && r->status == 200);
  }
};

TEST_F(RollingUpdateTest, TerminatingPodFinishesItsRequestsAndGetsNoNewOnes) {
  auto pods = start_pods({"a", "b"});
  EchoPod& a = *pods[0];
  EchoPod& b = *pods[1];
  enable_graceful_stop(a);
  write_manifest("ingress.yaml", k8s::ingress(k8s::simple_ingress("roll", kHost, "/", "roll")));
  write_endpoints({{a.address, true}}, a.port);
  start_strait();

  // A slow request lands on pod A, the only one, and is still running when A turns terminating
  // and then receives SIGTERM.
  std::optional<HttpResponse> slow;
  Clock::duration slow_took{};
  std::jthread slow_client([&] {
    const auto start = Clock::now();
    slow = http_get(strait().address, strait().http_port, kHost, "/delay/5000", {}, 20s);
    slow_took = Clock::now() - start;
  });
  ASSERT_TRUE(eventually([&] { return stats(a).requests >= 1; }, 5s));
  const auto slow_started = Clock::now();

  Load load(strait().address, strait().http_port, 3);
  ASSERT_TRUE(await_requests(a, 50)) << "no load on A";
  // Pod B is added, ready.
  apply_endpoints({{a.address, true}, {b.address, true}}, a.port);
  ASSERT_TRUE(await_requests(b, 50)) << "no load on B";
  // A turns terminating: ready false, serving true. B takes every new request.
  apply_endpoints({{a.address, false, true}, {b.address, true}}, a.port);
  ASSERT_TRUE(await_requests(b, 100));  // requests that picked A before the change are done
  const uint64_t a_after_switch = stats(a).requests;
  ASSERT_TRUE(await_requests(b, 200));
  EXPECT_EQ(stats(a).requests, a_after_switch) << "a terminating endpoint got new requests";
  ASSERT_LT(Clock::now() - slow_started, 4000ms) << "too slow: the slow request already ended";

  // Then A stops like a pod: its keep-alive connections from strait close, its listener goes.
  a.process.signal(SIGTERM);
  const auto a_exit = a.process.wait_exit(15s);
  ASSERT_TRUE(a_exit) << "pod A did not stop";
  EXPECT_TRUE(WIFEXITED(*a_exit) && WEXITSTATUS(*a_exit) == 0);
  ASSERT_TRUE(await_requests(b, 300));
  load.stop();
  slow_client.join();

  ASSERT_TRUE(slow) << "the slow request on the terminating pod failed";
  EXPECT_EQ(slow->status, 200);
  EXPECT_EQ(slow->json()["pod"], "a");
  EXPECT_GE(slow_took, 4900ms);
  RecordProperty("requests_ok", std::to_string(load.ok()));
  EXPECT_GT(load.ok(), 500u);
  EXPECT_EQ(load.not_ok(), 0u) << load.failures();
  EXPECT_EQ(load.errors(), 0u) << load.failures();
}

TEST_F(RollingUpdateTest, PodStoppingBeforeItsEndpointIsRemovedCostsNoRequest) {
  // The kubelet's SIGTERM and the EndpointSlice update race in a real cluster: here the pod stops
  // first, while strait still routes to it. Its pooled connections close under strait, and new
  // connects are refused: GETs move to the other endpoint, nobody sees an error.
  auto pods = start_pods({"a", "b"});
  EchoPod& a = *pods[0];
  EchoPod& b = *pods[1];
  enable_graceful_stop(a);
  write_manifest("ingress.yaml", k8s::ingress(k8s::simple_ingress("roll", kHost, "/", "roll")));
  write_endpoints({{a.address, true}, {b.address, true}}, a.port);
  start_strait();
  Load load(strait().address, strait().http_port, 3);
  ASSERT_TRUE(await_requests(a, 100));
  a.process.signal(SIGTERM);
  ASSERT_TRUE(a.process.wait_exit(15s)) << "pod A did not stop";
  ASSERT_TRUE(await_requests(b, 300));
  apply_endpoints({{b.address, true}}, a.port);
  ASSERT_TRUE(await_requests(b, 200));
  load.stop();
  RecordProperty("requests_ok", std::to_string(load.ok()));
  EXPECT_GT(load.ok(), 500u);
  EXPECT_EQ(load.not_ok(), 0u) << load.failures();
  EXPECT_EQ(load.errors(), 0u) << load.failures();
}

}  // namespace
}  // namespace it
