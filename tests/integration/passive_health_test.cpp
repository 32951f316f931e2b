// Passive health (issue 6): an endpoint whose connects keep failing is ejected for a back-off
// period, so requests stop paying a connect attempt to it; it comes back once the period is
// over, and failing again right after its return ejects it for twice as long.
#include <regex>
#include <sstream>

#include "harness/fixture.hpp"

namespace it {
namespace {

class PassiveHealthTest : public IntegrationTest {
 protected:
  static std::string escape(const std::string& s) {
    return std::regex_replace(s, std::regex(R"([.\[\]])"), R"(\$&)");
  }
};

TEST_F(PassiveHealthTest, DeadEndpointIsEjectedThenReturnsAfterTheBackOff) {
  EchoPod& live = start_pod("live");
  const std::string dead_address = unused_address();
  const std::string dead = dead_address + ":" + std::to_string(live.port);
  write_manifest("app.yaml", k8s::app("default", "half", {dead_address, live.address}, live.port));
  write_manifest("ingress.yaml",
                 k8s::ingress(k8s::simple_ingress("half", "half.example.com", "/", "half")));
  // One worker: passive health is per worker, and one makes the counts exact.
  start_strait({.args = {"--upstream-max-fails=2", "--upstream-fail-timeout=3s",
                         "--upstream-max-fail-timeout=20s"},
                .workers = 1});
  const std::string ejected_line = "upstream endpoint ejected: endpoint=" + escape(dead);
  const std::string refused_line = "upstream error: endpoint=" + escape(dead) +
                                   " service=default/half:80 reason=\"connect failed: Connection "
                                   "refused\" action=retry";

  // Round robin alternates, so within a few requests the dead endpoint fails twice (each time
  // the request moves to the live one) and is ejected.
  for (int i = 0; i < 10 && log_lines(ejected_line) == 0; ++i)
    ASSERT_EQ(pod_for("half.example.com", "/" + std::to_string(i)), "live") << i;
  ASSERT_TRUE(await_log(ejected_line + " for=3\\.000s", 2s)) << strait_log();
  const auto ejected_at = Clock::now();
  EXPECT_EQ(metric("strait_upstream_ejections_total"), 1);
  EXPECT_EQ(metric("strait_upstream_connect_errors_total"), 2);
  EXPECT_EQ(log_lines(refused_line), 2);

  // Ejected: no request pays a connect attempt to it any more.
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(pod_for("half.example.com", "/ejected/" + std::to_string(i)), "live") << i;
  ASSERT_LT(Clock::now() - ejected_at, 2500ms) << "too slow to observe the ejection window";
  EXPECT_EQ(metric("strait_upstream_connect_errors_total"), 2);
  EXPECT_EQ(log_lines(refused_line), 2);

  // The pod comes up at that address: after the back-off it gets traffic again.
  Process back({echo_backend_binary(), "--name", "back", "--listen", dead},
               {dir() / "back.out", dir() / "back.err"});
  ASSERT_TRUE(wait_for_port(dead_address, live.port, 5s));
  ASSERT_TRUE(await_pod("half.example.com", "/back", "back", 10s));
  EXPECT_GE(Clock::now() - ejected_at, 2500ms) << "it returned before its back-off was over";

  // Failing right after its return ejects it again at once, for twice as long; requests still
  // succeed on the live endpoint.
  back.stop(2s);
  for (int i = 0; i < 10 && log_lines(ejected_line) < 2; ++i)
    ASSERT_EQ(pod_for("half.example.com", "/again/" + std::to_string(i)), "live") << i;
  EXPECT_TRUE(await_log(ejected_line + " for=6\\.000s", 2s)) << strait_log();
  EXPECT_EQ(metric("strait_upstream_ejections_total"), 2);
  EXPECT_EQ(metric("strait_upstream_connect_errors_total"), 3)
      << "one failure after the return is enough";
}

TEST_F(PassiveHealthTest, TheLastEndpointsAreUsedEvenWhenEjected) {
  // Both endpoints refuse: they are ejected, yet requests still try them (502, not 503), and
  // once one comes back it answers without waiting for its back-off to end.
  const std::string a = unused_address(), b = unused_address();
  const uint16_t port = free_port(a);
  write_manifest("app.yaml", k8s::app("default", "gone", {a, b}, port));
  write_manifest("ingress.yaml",
                 k8s::ingress(k8s::simple_ingress("gone", "gone.example.com", "/", "gone")));
  start_strait({.args = {"--upstream-max-fails=1", "--upstream-fail-timeout=60s"}, .workers = 1});
  ASSERT_EQ(pod_for("gone.example.com", "/1"), "status:502");
  ASSERT_TRUE(await_log(
      "upstream endpoint ejected: endpoint=" + escape(b + ":" + std::to_string(port)), 2s));
  ASSERT_TRUE(await_log(
      "upstream endpoint ejected: endpoint=" + escape(a + ":" + std::to_string(port)), 2s));
  Process up({echo_backend_binary(), "--name", "up", "--listen", a + ":" + std::to_string(port)},
             {dir() / "up.out", dir() / "up.err"});
  ASSERT_TRUE(wait_for_port(a, port, 5s));
  std::map<std::string, int> seen = tally("gone.example.com", "/2", 4);
  EXPECT_EQ(seen["up"], 4) << "all ejected: endpoints are tried in turn, the live one answers";
}

}  // namespace
}  // namespace it
