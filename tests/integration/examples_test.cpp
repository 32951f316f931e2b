// deploy/examples as scripts/demo.sh runs it: every request the demo suggests is answered by the
// pod the example manifests say. The manifests are copied with their 127.0.1.x addresses moved to
// a private range, so a running demo does not interfere.
#include <regex>

#include "harness/fixture.hpp"

namespace it {
namespace {

class ExamplesTest : public IntegrationTest {};

TEST_F(ExamplesTest, TheDemoRequestsReachTheDocumentedPods) {
  const std::string subnet = next_loopback_subnet();
  const auto examples = source_dir() / "deploy" / "examples";
  ASSERT_TRUE(std::filesystem::is_directory(examples)) << examples;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(examples)) {
    const std::string ext = entry.path().extension().string();
    if (ext != ".yaml" && ext != ".yml" && ext != ".json") continue;
    const std::string text =
        std::regex_replace(read_file(entry.path()), std::regex(R"(127\.0\.1\.)"), subnet);
    write_manifest(entry.path().filename().string(), text);
    ++files;
  }
  ASSERT_GT(files, 0);

  // The pods scripts/demo.sh starts (name, last octet); all listen on 8080.
  const std::vector<std::pair<std::string, int>> demo_pods = {
      {"coffee-1", 1}, {"coffee-2", 2},  {"tea-1", 3}, {"api-1", 4},
      {"api-2", 5},    {"preview-1", 6}, {"web-1", 7}};
  std::vector<Process> pods;
  for (const auto& [name, octet] : demo_pods) {
    const std::string address = subnet + std::to_string(octet);
    pods.emplace_back(std::vector<std::string>{echo_backend_binary(), "--name", name, "--listen",
                                               address + ":8080"},
                      SpawnOptions{dir() / (name + ".out"), dir() / (name + ".err")});
  }
  for (const auto& [name, octet] : demo_pods) {
    ASSERT_TRUE(wait_for_port(subnet + std::to_string(octet), 8080, 10s)) << name;
  }
  start_strait();

  auto coffee = tally("cafe.example.com", "/coffee", 10);
  EXPECT_GE(coffee["coffee-1"], 2) << "round-robin over both coffee pods";
  EXPECT_GE(coffee["coffee-2"], 2) << "round-robin over both coffee pods";
  EXPECT_EQ(coffee["coffee-1"] + coffee["coffee-2"], 10);
  const std::string latte = pod_for("cafe.example.com", "/coffee/latte?size=large");
  EXPECT_TRUE(latte == "coffee-1" || latte == "coffee-2") << latte;
  EXPECT_EQ(pod_for("cafe.example.com", "/tea"), "tea-1");
  EXPECT_EQ(tally("api.example.com", "/v1/users", 10), (std::map<std::string, int>{{"api-1", 10}}));
  EXPECT_EQ(pod_for("pr-42.preview.example.com", "/"), "preview-1");
  EXPECT_EQ(pod_for("unknown.example.org", "/whatever"), "web-1");
  // Not matched by the cafe rules nor the wildcard: the default backend.
  EXPECT_EQ(pod_for("a.b.preview.example.com", "/"), "web-1");
  EXPECT_EQ(pod_for("coffee.example.com", "/coffee"), "web-1");

  // The examples load without a single complaint.
  const std::string log = strait_log();
  EXPECT_FALSE(std::regex_search(log, std::regex(R"(\.(yaml|yml|json):[0-9]+)"))) << log;
}

}  // namespace
}  // namespace it
