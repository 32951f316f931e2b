// The Store, the file source's ManifestSet (last good objects per file, merge order), and the
// expansion of --manifests paths.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/unit/test_support.hpp"

namespace strait::controller::testing {
namespace {

namespace fs = std::filesystem;

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("strait-unit-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& rel, const std::string& text) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  fs::path dir_;
};

std::string service_yaml(const std::string& name, int port) {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name +
         "}\nspec: {ports: [{port: " + std::to_string(port) + "}]}\n";
}

TEST(StoreTest, UpsertEraseAndSliceIndex) {
  Store s;
  EXPECT_TRUE(s.upsert(make_service("a", "svc")));
  EXPECT_FALSE(s.upsert(make_service("a", "svc")));  // replaced
  s.upsert(make_slice("a", "svc-1", "svc", "", 80, {{"10.0.0.1"}}));
  s.upsert(make_slice("a", "svc-2", "other", "", 80, {{"10.0.0.2"}}));
  s.upsert(make_slice("ab", "svc-3", "svc", "", 80, {{"10.0.0.3"}}));  // namespace "ab" != "a"
  ASSERT_EQ(s.slices_for("a", "svc").size(), 1u);
  EXPECT_EQ(s.slices_for("a", "svc")[0]->metadata.name, "svc-1");
  EXPECT_TRUE(s.contains(Kind::Service, "a/svc"));
  EXPECT_TRUE(s.erase(Kind::Service, "a/svc"));
  EXPECT_FALSE(s.erase(Kind::Service, "a/svc"));
  EXPECT_EQ(s.size(), 3u);
  IngressClass c;
  c.metadata.name = "strait";
  s.upsert(c);
  EXPECT_TRUE(s.contains(Kind::IngressClass, "strait"));
}

TEST_F(TempDir, ManifestSetKeepsLastGoodObjectsOfABrokenFile) {
  std::string path = write("svc.yaml", service_yaml("web", 80));
  ManifestSet set;
  EXPECT_TRUE(set.load(path).ok);
  write("svc.yaml", service_yaml("web", 81) + "---\nkind: [broken\n");
  ManifestFile bad = set.load(path);
  EXPECT_FALSE(bad.ok);
  ManifestSet::Merged m = set.merged();
  ASSERT_EQ(m.store.services.size(), 1u);
  EXPECT_EQ(m.store.services.at("default/web").ports[0].port, 80);  // the previous version
  write("svc.yaml", service_yaml("web", 82));
  EXPECT_TRUE(set.load(path).ok);
  EXPECT_EQ(set.merged().store.services.at("default/web").ports[0].port, 82);
  EXPECT_TRUE(set.remove_file(path));
  EXPECT_TRUE(set.merged().store.services.empty());
  EXPECT_FALSE(set.remove_file(path));
}

TEST_F(TempDir, DuplicateAcrossFilesFirstSortedPathWins) {
  std::string b = write("b.yaml", service_yaml("web", 2));
  std::string a = write("a.yaml", service_yaml("web", 1));
  ManifestSet set;
  set.load(b);  // load order does not matter, path order does
  set.load(a);
  ManifestSet::Merged m = set.merged();
  EXPECT_EQ(m.store.services.at("default/web").ports[0].port, 1);
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_NE(m.warnings[0].find(a), std::string::npos) << m.warnings[0];
  EXPECT_NE(m.warnings[0].find(b), std::string::npos) << m.warnings[0];
  EXPECT_NE(m.warnings[0].find("Service default/web"), std::string::npos) << m.warnings[0];
}

TEST_F(TempDir, ExpandManifestPaths) {
  write("z.yaml", "");
  write("a.yml", "");
  write("sub/deeper/c.json", "");
  write("notes.txt", "");
  write(".hidden.yaml", "");
  write("..data/d.yaml", "");
  write(".git/e.yaml", "");
  fs::create_symlink(dir_ / "..data/d.yaml", dir_ / "d.yaml");  // ConfigMap-mount style
  std::string single = write("elsewhere/explicit.conf", "");
  std::vector<std::string> errors;
  std::vector<std::string> got = expand_manifest_paths(
      {dir_.string(), single, (dir_ / "a.yml").string(), (dir_ / "missing").string()}, errors);
  std::vector<std::string> want = {(dir_ / "a.yml").string(), (dir_ / "d.yaml").string(), single,
                                   (dir_ / "sub/deeper/c.json").string(),
                                   (dir_ / "z.yaml").string()};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("missing"), std::string::npos);
}

}  // namespace
}  // namespace strait::controller::testing
