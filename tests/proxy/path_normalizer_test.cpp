#include "proxy/path_normalizer.hpp"

#include <gtest/gtest.h>

namespace strait::proxy {
namespace {

std::string norm(std::string_view in) {
  std::string out;
  switch (normalize_path(in, out)) {
    case PathCheck::Unchanged:
      return std::string(in);
    case PathCheck::Normalized:
      return out;
    case PathCheck::Rejected:
      return "REJECTED";
  }
  return "?";
}

TEST(PathNormalizer, LeavesOrdinaryPathsAlone) {
  std::string out = "untouched";
  EXPECT_EQ(normalize_path("/api/v1/users", out), PathCheck::Unchanged);
  EXPECT_EQ(out, "untouched");
  EXPECT_EQ(normalize_path("/", out), PathCheck::Unchanged);
  EXPECT_EQ(normalize_path("/a/b/", out), PathCheck::Unchanged);
  EXPECT_EQ(normalize_path("/a.b/c..d/.e", out), PathCheck::Unchanged);
}

TEST(PathNormalizer, RemovesDotSegmentsAndMergesSlashes) {
  EXPECT_EQ(norm("/a/../b"), "/b");
  EXPECT_EQ(norm("/a/./b"), "/a/b");
  EXPECT_EQ(norm("/a/b/.."), "/a/");
  EXPECT_EQ(norm("/a/b/."), "/a/b/");
  EXPECT_EQ(norm("/.."), "/");
  EXPECT_EQ(norm("/../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(norm("//admin"), "/admin");
  EXPECT_EQ(norm("/a//b///c/"), "/a/b/c/");
}

TEST(PathNormalizer, DecodesUnreservedAndUppercasesOtherEscapes) {
  EXPECT_EQ(norm("/%61dmin"), "/admin");
  EXPECT_EQ(norm("/%2e%2e/admin"), "/admin");
  EXPECT_EQ(norm("/a/%2E/b"), "/a/b");
  EXPECT_EQ(norm("/x%20y"), "/x%20y");
  EXPECT_EQ(norm("/x%3a"), "/x%3A");
  EXPECT_EQ(norm("/%7Euser"), "/~user");
}

TEST(PathNormalizer, MalformedEscapesAreRejected) {
  // Found by fuzz_path: "%4%44" decoded to "%4D", which a second pass decoded again.
  EXPECT_EQ(norm("/%4%444"), "REJECTED");
  EXPECT_EQ(norm("/a%"), "REJECTED");
  EXPECT_EQ(norm("/a%zz"), "REJECTED");
}

TEST(PathNormalizer, EncodedSlashStaysButCannotHideADotSegment) {
  EXPECT_EQ(norm("/projects/group%2Fname"), "/projects/group%2Fname");
  EXPECT_EQ(norm("/projects/group%2fname"), "/projects/group%2Fname");
  EXPECT_EQ(norm("/public/..%2Fadmin"), "REJECTED");
  EXPECT_EQ(norm("/public/%2E%2E%2Fadmin"), "REJECTED");
  EXPECT_EQ(norm("/public/.%5Cadmin"), "REJECTED");
  EXPECT_EQ(norm("/a%2F..%2Fb"), "REJECTED");
}

}  // namespace
}  // namespace strait::proxy
