// Manifests edited while strait serves: every change applies without a restart, a broken file is
// reported with file:line and leaves what was last loaded from it in force.
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "harness/fixture.hpp"

namespace it {
namespace {

class LiveUpdateTest : public IntegrationTest {
 protected:
  // The line numbers strait reported for a file ("name.yaml:12") in its log.
  std::vector<int> reported_lines(const std::string& file_name) {
    std::vector<int> out;
    const std::regex re(std::regex_replace(file_name, std::regex(R"([.])"), R"(\.)") +
                        R"(:([0-9]+))");
    const std::string log = strait_log();
    for (std::sregex_iterator it(log.begin(), log.end(), re), end; it != end; ++it)
      out.push_back(std::stoi((*it)[1].str()));
    return out;
  }

  // Requests n times and checks every answer comes from pod.
  void expect_stable(const std::string& host, const std::string& path, const std::string& pod,
                     int n = 10) {
    for (int i = 0; i < n; ++i) ASSERT_EQ(pod_for(host, path), pod) << "request " << i;
  }
};

TEST_F(LiveUpdateTest, EditsToAManifestApplyLive) {
  auto pods = start_pods({"v1", "v2"});
  write_manifest("apps.yaml",
                 k8s::documents({k8s::app("default", "v1", {pods[0]->address}, pods[0]->port),
                                 k8s::app("default", "v2", {pods[1]->address}, pods[1]->port)}));
  write_manifest("route.yaml",
                 k8s::ingress(k8s::simple_ingress("live", "live.example.com", "/", "v1")));
  start_strait();
  ASSERT_EQ(pod_for("live.example.com", "/"), "v1");

  // Replaced through rename(2), as editors and kubectl-style tools do.
  write_manifest("route.yaml",
                 k8s::ingress(k8s::simple_ingress("live", "live.example.com", "/", "v2")));
  EXPECT_TRUE(await_pod("live.example.com", "/", "v2"));
  // Rewritten in place.
  write_file_in_place(manifests_dir() / "route.yaml",
                      k8s::ingress(k8s::simple_ingress("live", "live.example.com", "/", "v1")));
  EXPECT_TRUE(await_pod("live.example.com", "/", "v1"));
  // A host renamed: the old one is gone.
  write_manifest("route.yaml",
                 k8s::ingress(k8s::simple_ingress("live", "renamed.example.com", "/", "v2")));
  EXPECT_TRUE(await_pod("renamed.example.com", "/", "v2"));
  EXPECT_EQ(pod_for("live.example.com", "/"), "status:404");
}

// A ConfigMap volume: each file is a symlink through "..data" to a timestamped directory, and an
// update swaps the "..data" symlink (kubelet's atomic writer). Every event names a hidden entry,
// which strait otherwise skips as a temporary file; the file it resolves to changed all the same.
TEST_F(LiveUpdateTest, ConfigMapStyleSymlinkSwapAppliesLive) {
  namespace fs = std::filesystem;
  auto pods = start_pods({"v1", "v2"});
  write_manifest("apps.yaml",
                 k8s::documents({k8s::app("default", "v1", {pods[0]->address}, pods[0]->port),
                                 k8s::app("default", "v2", {pods[1]->address}, pods[1]->port)}));
  const fs::path dir = manifests_dir();
  auto write_version = [&](const std::string& version, const std::string& service) {
    fs::create_directory(dir / ("..v" + version));
    std::ofstream(dir / ("..v" + version) / "route.yaml")
        << k8s::ingress(k8s::simple_ingress("cm", "cm.example.com", "/", service));
  };
  write_version("1", "v1");
  fs::create_directory_symlink("..v1", dir / "..data");
  fs::create_symlink("..data/route.yaml", dir / "route.yaml");
  start_strait();
  ASSERT_EQ(pod_for("cm.example.com", "/"), "v1");

  write_version("2", "v2");
  // The new directory's events are taken on their own: what follows names only hidden symlinks.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  fs::create_directory_symlink("..v2", dir / "..data_tmp");
  fs::rename(dir / "..data_tmp", dir / "..data");
  EXPECT_TRUE(await_pod("cm.example.com", "/", "v2"));
}

TEST_F(LiveUpdateTest, FilesAndDirectoriesAddedAndRemovedApplyLive) {
  auto pods = start_pods({"base", "added", "nested"});
  std::vector<std::string> apps;
  for (EchoPod* p : pods) apps.push_back(k8s::app("default", p->name, {p->address}, p->port));
  write_manifest("apps.yaml", k8s::documents(apps));
  write_manifest("base.yaml",
                 k8s::ingress(k8s::simple_ingress("base", "base.example.com", "/", "base")));
  start_strait();
  ASSERT_EQ(pod_for("added.example.com", "/"), "status:404");

  write_manifest("added.yml",
                 k8s::ingress(k8s::simple_ingress("added", "added.example.com", "/", "added")));
  EXPECT_TRUE(await_pod("added.example.com", "/", "added"));

  // A directory created after start is watched too (directories are read recursively).
  std::filesystem::create_directories(manifests_dir() / "team" / "sub");
  write_manifest("team/sub/nested.yaml",
                 k8s::ingress(k8s::simple_ingress("nested", "nested.example.com", "/", "nested")));
  EXPECT_TRUE(await_pod("nested.example.com", "/", "nested"));

  remove_manifest("added.yml");
  EXPECT_TRUE(await_pod("added.example.com", "/", "status:404"));
  std::filesystem::remove_all(manifests_dir() / "team");
  EXPECT_TRUE(await_pod("nested.example.com", "/", "status:404"));

  // Files that are not manifests are ignored.
  write_manifest("README.txt", "this is not yaml: [\n");
  write_manifest("notes.md",
                 k8s::ingress(k8s::simple_ingress("md", "md.example.com", "/", "base")));
  // Deleting the Service a route uses turns it into 503.
  write_manifest("apps.yaml", k8s::documents({apps[1], apps[2]}));
  EXPECT_TRUE(await_pod("base.example.com", "/", "status:503"));
  EXPECT_EQ(pod_for("md.example.com", "/"), "status:404");
}

TEST_F(LiveUpdateTest, JsonFilesKubectlListsAndSingleFilePathsAreRead) {
  auto pods = start_pods({"from-json", "from-list", "from-file"});
  // kubectl get -o json style: a List of a Service and its EndpointSlice, in a .json file.
  const EchoPod& j = *pods[0];
  const nlohmann::json list = {
      {"apiVersion", "v1"},
      {"kind", "List"},
      {"items",
       {{{"apiVersion", "v1"},
         {"kind", "Service"},
         {"metadata", {{"name", "from-json"}, {"namespace", "default"}}},
         {"spec", {{"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}}}}}},
        {{"apiVersion", "discovery.k8s.io/v1"},
         {"kind", "EndpointSlice"},
         {"metadata",
          {{"name", "from-json-1"},
           {"namespace", "default"},
           {"labels", {{"kubernetes.io/service-name", "from-json"}}}}},
         {"addressType", "IPv4"},
         {"ports", {{{"name", "http"}, {"port", j.port}}}},
         {"endpoints", {{{"addresses", {j.address}}, {"conditions", {{"ready", true}}}}}}}}}};
  write_manifest("objects.json", list.dump(2));
  // A YAML List holding Ingresses.
  auto indent = [](const std::string& doc) {
    std::string out = "- ";
    for (size_t i = 0; i < doc.size(); ++i) {
      out += doc[i];
      if (doc[i] == '\n' && i + 1 < doc.size()) out += "  ";
    }
    return out;
  };
  write_manifest(
      "list.yaml",
      "apiVersion: v1\nkind: List\nitems:\n" +
          indent(k8s::ingress(k8s::simple_ingress("json", "json.example.com", "/", "from-json"))) +
          indent(k8s::ingress(k8s::simple_ingress("list", "list.example.com", "/", "from-list"))));
  write_manifest("apps.yaml", k8s::app("default", "from-list", {pods[1]->address}, pods[1]->port));
  // A second --manifests naming a single file outside the directory.
  const auto single = dir() / "single.yaml";
  const std::string file_app = k8s::app("default", "from-file", {pods[2]->address}, pods[2]->port);
  write_file_atomic(
      single, k8s::documents({file_app, k8s::ingress(k8s::simple_ingress("file", "file.example.com",
                                                                         "/", "from-file"))}));
  start_strait({.args = {"--manifests", single.string()}});
  EXPECT_EQ(pod_for("json.example.com", "/"), "from-json");
  EXPECT_EQ(pod_for("list.example.com", "/"), "from-list");
  EXPECT_EQ(pod_for("file.example.com", "/"), "from-file");
  // The single file is watched too.
  write_file_atomic(
      single, k8s::documents({file_app, k8s::ingress(k8s::simple_ingress(
                                            "file", "file2.example.com", "/", "from-file"))}));
  EXPECT_TRUE(await_pod("file2.example.com", "/", "from-file"));
  EXPECT_EQ(pod_for("file.example.com", "/"), "status:404");
}

TEST_F(LiveUpdateTest, BadYamlIsReportedAndTheFilesPreviousObjectsStay) {
  auto pods = start_pods({"kept", "other-v1", "other-v2", "fixed"});
  std::vector<std::string> apps;
  for (EchoPod* p : pods) apps.push_back(k8s::app("default", p->name, {p->address}, p->port));
  write_manifest("apps.yaml", k8s::documents(apps));
  write_manifest("routes.yaml",
                 k8s::ingress(k8s::simple_ingress("kept", "kept.example.com", "/", "kept")));
  write_manifest("other.yaml",
                 k8s::ingress(k8s::simple_ingress("other", "other.example.com", "/", "other-v1")));
  start_strait();
  ASSERT_EQ(pod_for("kept.example.com", "/"), "kept");

  // Line 4 (counting from 1, as editors do) holds the error: a mapping value where none may be.
  write_manifest("routes.yaml",
                 "apiVersion: networking.k8s.io/v1\n"
                 "kind: Ingress\n"
                 "metadata:\n"
                 "  name: kept: oops\n"
                 "spec: {}\n");
  ASSERT_TRUE(await_log(R"(routes\.yaml:[0-9]+)")) << "the parse error names file:line";
  const auto lines = reported_lines("routes.yaml");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), 4) << strait_log();
  expect_stable("kept.example.com", "/", "kept");

  // Other files keep applying while this one is broken.
  write_manifest("other.yaml",
                 k8s::ingress(k8s::simple_ingress("other", "other.example.com", "/", "other-v2")));
  EXPECT_TRUE(await_pod("other.example.com", "/", "other-v2"));
  expect_stable("kept.example.com", "/", "kept");

  // Fixed: the new content replaces the old.
  write_manifest("routes.yaml",
                 k8s::ingress(k8s::simple_ingress("kept", "kept.example.com", "/", "fixed")));
  EXPECT_TRUE(await_pod("kept.example.com", "/", "fixed"));
}

TEST_F(LiveUpdateTest, InvalidIngressIsReportedAndTheFilesPreviousObjectsStay) {
  auto pods = start_pods({"old", "new"});
  const std::string old_app = k8s::app("default", "svc", {pods[0]->address}, pods[0]->port);
  const std::string new_app = k8s::app("default", "svc", {pods[1]->address}, pods[1]->port);
  write_manifest("app.yaml", k8s::documents({old_app, k8s::ingress(k8s::simple_ingress(
                                                          "app", "app.example.com", "/", "svc"))}));
  start_strait();
  ASSERT_EQ(pod_for("app.example.com", "/"), "old");

  // Valid YAML, but the Ingress (the last document) has a path that is not absolute and a
  // pathType that does not exist. The Service and slice before it move to pod "new": none of it
  // may apply while the file is invalid.
  k8s::Ingress bad = k8s::simple_ingress("app", "app.example.com", "relative/path", "svc");
  bad.rules[0].paths[0].type = "Sometimes";
  const std::string good_part = k8s::documents({new_app});
  const int bad_doc_first_line =
      static_cast<int>(std::count(good_part.begin(), good_part.end(), '\n')) + 1;
  const std::string content = good_part + k8s::documents({k8s::ingress(bad)});
  const int last_line = static_cast<int>(std::count(content.begin(), content.end(), '\n'));
  write_manifest("app.yaml", content);
  ASSERT_TRUE(await_log(R"(app\.yaml:[0-9]+)")) << "the validation error names file:line";
  const auto lines = reported_lines("app.yaml");
  ASSERT_FALSE(lines.empty());
  EXPECT_GE(lines.back(), bad_doc_first_line) << "the line points into the invalid Ingress";
  EXPECT_LE(lines.back(), last_line);
  expect_stable("app.example.com", "/", "old");

  write_manifest("app.yaml", k8s::documents({new_app, k8s::ingress(k8s::simple_ingress(
                                                          "app", "app.example.com", "/", "svc"))}));
  EXPECT_TRUE(await_pod("app.example.com", "/", "new"));
}

TEST_F(LiveUpdateTest, EndpointChangesApplyLive) {
  auto pods = start_pods({"e1", "e2"});
  const std::string& a1 = pods[0]->address;
  const std::string& a2 = pods[1]->address;
  const int port = pods[0]->port;
  write_manifest("ingress.yaml",
                 k8s::ingress(k8s::simple_ingress("ep", "ep.example.com", "/", "svc")));
  write_manifest("svc.yaml", k8s::app("default", "svc", {a1}, port));
  start_strait();
  ASSERT_EQ(tally("ep.example.com", "/", 5), (std::map<std::string, int>{{"e1", 5}}));

  // Scale up: the new pod gets traffic.
  write_manifest("svc.yaml", k8s::app("default", "svc", {a1, a2}, port));
  EXPECT_TRUE(await_pod("ep.example.com", "/", "e2"));
  const auto both = tally("ep.example.com", "/", 20);
  EXPECT_EQ(both.size(), 2u);

  // e1 goes not ready: after the change is seen, it gets nothing.
  write_manifest("svc.yaml", k8s::app("default", "svc", {a1, a2}, port, {a1}));
  EXPECT_TRUE(eventually([&] { return tally("ep.example.com", "/", 6).size() == 1; }, 10s));
  const uint64_t e1_before = stats(*pods[0]).requests;
  EXPECT_EQ(tally("ep.example.com", "/", 20), (std::map<std::string, int>{{"e2", 20}}));
  EXPECT_EQ(stats(*pods[0]).requests, e1_before);

  // Nothing ready: 503. Ready again: traffic again.
  write_manifest("svc.yaml", k8s::app("default", "svc", {a1, a2}, port, {a1, a2}));
  EXPECT_TRUE(await_pod("ep.example.com", "/", "status:503"));
  write_manifest("svc.yaml", k8s::app("default", "svc", {a1}, port));
  EXPECT_TRUE(await_pod("ep.example.com", "/", "e1"));
}

}  // namespace
}  // namespace it
