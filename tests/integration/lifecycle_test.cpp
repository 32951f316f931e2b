// The process as an operator drives it: graceful shutdown on SIGTERM, and the command line.
#include <signal.h>
#include <sys/wait.h>

#include <sstream>

#include "harness/fixture.hpp"

namespace it {
namespace {

class LifecycleTest : public IntegrationTest {
 protected:
  static StraitOptions grace(int seconds) {
    StraitOptions options;
    options.shutdown_grace_seconds = seconds;
    return options;
  }
};

std::vector<std::string> non_empty_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

TEST_F(LifecycleTest, SigtermFinishesInFlightRequestsRefusesNewOnesAndExitsZero) {
  EchoPod& pod = start_pod("slow");
  write_manifest("app.yaml", k8s::app("default", "slow", {pod.address}, pod.port));
  write_manifest("ingress.yaml",
                 k8s::ingress(k8s::simple_ingress("s", "slow.example.com", "/", "slow")));
  Strait& s = start_strait(grace(20));

  RawClient in_flight;
  ASSERT_TRUE(in_flight.connect(s.address, s.http_port));
  ASSERT_TRUE(in_flight.send("GET /delay/3000 HTTP/1.1\r\nHost: slow.example.com\r\n\r\n"));
  ASSERT_TRUE(eventually([&] { return stats(pod).requests >= 1; }, 5s))
      << "the slow request never reached the pod";

  s.exit_expected = true;
  const auto signalled = Clock::now();
  s.process.signal(SIGTERM);
  // New connections are refused once the listener is closed: soon, not after the drain.
  EXPECT_TRUE(eventually([&] { return connection_refused(s.address, s.http_port); }, 1500ms))
      << "strait still accepts connections after SIGTERM";
  EXPECT_TRUE(in_flight.idle_now()) << "the in-flight request was cut short";

  const auto r = in_flight.read_response(10s);
  ASSERT_TRUE(r) << "the in-flight request failed: " << in_flight.error();
  EXPECT_EQ(r->status, 200) << r->describe();
  EXPECT_EQ(r->json()["target"], "/delay/3000");
  EXPECT_GE(Clock::now() - signalled, 2s) << "the response came early?";

  const auto status = s.process.wait_exit(10s);
  ASSERT_TRUE(status) << "strait did not exit after its last request";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
}

TEST_F(LifecycleTest, SigtermDoesNotWaitForIdleKeepAliveConnections) {
  EchoPod& pod = start_pod("p");
  write_manifest("app.yaml", k8s::app("default", "p", {pod.address}, pod.port));
  write_manifest("ingress.yaml", k8s::ingress(k8s::simple_ingress("p", "p.example.com", "/", "p")));
  Strait& s = start_strait(grace(30));
  RawClient idle;
  ASSERT_TRUE(idle.connect(s.address, s.http_port));
  ASSERT_TRUE(idle.send("GET / HTTP/1.1\r\nHost: p.example.com\r\n\r\n"));
  ASSERT_TRUE(idle.read_response()) << idle.error();

  s.exit_expected = true;
  s.process.signal(SIGTERM);
  EXPECT_TRUE(idle.wait_closed(5s)) << "the idle keep-alive connection was not closed";
  const auto status = s.process.wait_exit(5s);
  ASSERT_TRUE(status) << "strait waited for an idle connection instead of exiting";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
}

TEST_F(LifecycleTest, SigtermWithNothingInFlightExitsPromptly) {
  write_manifest("empty.yaml", k8s::ingress_class());
  Strait& s = start_strait(grace(30));
  s.exit_expected = true;
  s.process.signal(SIGTERM);
  const auto status = s.process.wait_exit(5s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
}

TEST(CommandLineTest, VersionAndHelpExitZero) {
  const auto version = run_strait({"--version"});
  EXPECT_TRUE(version.exited_with(0)) << version.describe();
  EXPECT_NE(version.out.find("0."), std::string::npos) << version.describe();
  const auto help = run_strait({"--help"});
  EXPECT_TRUE(help.exited_with(0)) << help.describe();
  for (const char* flag :
       {"--manifests", "--http-port", "--https-port", "--healthz-port", "--bind-address",
        "--workers", "--ingress-class", "--controller-class", "--watch-ingress-without-class",
        "--default-backend-service", "--proxy-body-size", "--proxy-connect-timeout",
        "--proxy-read-timeout", "--proxy-send-timeout", "--shutdown-grace-period"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << "--help does not mention " << flag;
  }
}

TEST(CommandLineTest, UnknownFlagsAndBadValuesExitTwoWithOneLineNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string flag;  // must appear in the error line
  };
  const std::vector<Case> cases = {
      {{"--no-such-flag"}, "no-such-flag"},
      {{"--no-such-flag=1"}, "no-such-flag"},
      {{"--http-port=notaport"}, "http-port"},
      {{"--http-port", "70000"}, "http-port"},
      {{"--http-port"}, "http-port"},  // missing value
      {{"--healthz-port=-1"}, "healthz-port"},
      {{"--workers=zero"}, "workers"},
      {{"--proxy-body-size=12q"}, "proxy-body-size"},
      {{"--proxy-read-timeout=soon"}, "proxy-read-timeout"},
      {{"--bind-address=not-an-ip"}, "bind-address"},
      {{"--default-backend-service=no-namespace"}, "default-backend-service"},
      {{"--watch-ingress-without-class=maybe"}, "watch-ingress-without-class"},
  };
  // Should a bad flag be accepted, strait must still only listen on loopback, on free ports.
  const std::string addr = next_loopback_address();
  const std::vector<std::string> base = {
      "--bind-address=" + addr, "--http-port=" + std::to_string(free_port(addr)),
      "--https-port=" + std::to_string(free_port(addr)),
      "--healthz-port=" + std::to_string(free_port(addr)),
      "--manifests=" + (source_dir() / "deploy" / "examples").string()};
  for (const Case& c : cases) {
    std::vector<std::string> args = base;
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = run_strait(args, 5s);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    EXPECT_TRUE(r.exited_with(2)) << joined << "\n" << r.describe();
    const auto lines = non_empty_lines(r.err);
    EXPECT_EQ(lines.size(), 1u) << joined << ": expected one line on stderr\n" << r.describe();
    EXPECT_NE(r.err.find(c.flag), std::string::npos)
        << joined << ": the error does not name " << c.flag << "\n"
        << r.describe();
  }
}

}  // namespace
}  // namespace it
