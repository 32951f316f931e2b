#include "proxy/outlier_detector.hpp"

#include <gtest/gtest.h>

namespace strait::proxy {
namespace {

using std::chrono::milliseconds;

Cluster cluster_of(std::initializer_list<const char*> endpoints) {
  Cluster c;
  c.name = "default/app:80";
  for (const char* text : endpoints) {
    Endpoint e;
    e.text = text;
    c.endpoints.push_back(e);
  }
  return c;
}

OutlierOptions options(uint32_t max_fails = 3) {
  OutlierOptions o;
  o.max_fails = max_fails;
  o.fail_timeout = milliseconds(10000);
  o.max_fail_timeout = milliseconds(40000);
  return o;
}

TEST(OutlierDetector, RoundRobinWhenNothingFailed) {
  OutlierDetector d(options());
  const Cluster c = cluster_of({"a:1", "b:1", "c:1"});
  for (uint64_t cursor = 0; cursor < 6; ++cursor) EXPECT_EQ(d.choose(c, cursor, 0), cursor % 3);
  EXPECT_EQ(d.choose(cluster_of({}), 0, 0), OutlierDetector::kNone);
}

TEST(OutlierDetector, ConsecutiveFailuresEjectAndASuccessResetsTheCount) {
  OutlierDetector d(options(3));
  const Cluster c = cluster_of({"a:1", "b:1"});
  EXPECT_EQ(d.report_failure("a:1", 0).count(), 0);
  EXPECT_EQ(d.report_failure("a:1", 1).count(), 0);
  d.report_success("a:1", 2);  // the count starts again
  EXPECT_EQ(d.tracked(), 0u) << "a success after failures leaves no state behind";
  EXPECT_EQ(d.report_failure("a:1", 3).count(), 0);
  EXPECT_EQ(d.report_failure("a:1", 4).count(), 0);
  EXPECT_FALSE(d.ejected("a:1", 5));
  EXPECT_EQ(d.report_failure("a:1", 5).count(), 10000);
  EXPECT_TRUE(d.ejected("a:1", 6));
  // Ejected: every cursor position picks b.
  EXPECT_EQ(d.choose(c, 0, 6), 1u);
  EXPECT_EQ(d.choose(c, 1, 6), 1u);
  // Back after the ejection.
  EXPECT_FALSE(d.ejected("a:1", 10005));
  EXPECT_EQ(d.choose(c, 0, 10005), 0u);
}

TEST(OutlierDetector, AReturningEndpointIsOnProbationAndBacksOffExponentially) {
  OutlierDetector d(options(2));
  uint64_t now = 0;
  d.report_failure("a:1", now);
  EXPECT_EQ(d.report_failure("a:1", now).count(), 10000);
  now += 10000;
  // One failure after the return ejects again, twice as long; then 4x, then the cap (40 s).
  EXPECT_EQ(d.report_failure("a:1", now).count(), 20000);
  now += 20000;
  EXPECT_EQ(d.report_failure("a:1", now).count(), 40000);
  now += 40000;
  EXPECT_EQ(d.report_failure("a:1", now).count(), 40000);
  now += 40000;
  // Serving right after the return does not forgive it yet...
  d.report_success("a:1", now + 1);
  EXPECT_EQ(d.tracked(), 1u);
  // ...serving a whole fail_timeout after it does: the next ejection is short again.
  d.report_success("a:1", now + 10000);
  EXPECT_EQ(d.tracked(), 0u);
  now += 20000;
  EXPECT_EQ(d.report_failure("a:1", now).count(), 0);
  EXPECT_EQ(d.report_failure("a:1", now).count(), 10000);
}

TEST(OutlierDetector, FailuresWhileEjectedDoNotExtendIt) {
  OutlierDetector d(options(1));
  EXPECT_EQ(d.report_failure("a:1", 0).count(), 10000);
  EXPECT_EQ(d.report_failure("a:1", 5000).count(), 0);
  EXPECT_FALSE(d.ejected("a:1", 10000));
}

TEST(OutlierDetector, WhenEveryEndpointIsEjectedTheyAreUsedAnyway) {
  OutlierDetector d(options(1));
  const Cluster c = cluster_of({"a:1", "b:1"});
  d.report_failure("a:1", 0);
  d.report_failure("b:1", 0);
  EXPECT_EQ(d.choose(c, 0, 1), 0u);
  EXPECT_EQ(d.choose(c, 1, 1), 1u);
}

TEST(OutlierDetector, RetriesSkipTriedEndpointsAndPreferHealthyOnes) {
  OutlierDetector d(options(1));
  const Cluster c = cluster_of({"a:1", "b:1", "c:1"});
  const uint32_t tried_a[] = {0};
  EXPECT_EQ(d.choose(c, 1, 0, tried_a, 1), 1u);
  d.report_failure("b:1", 0);  // ejected
  EXPECT_EQ(d.choose(c, 1, 0, tried_a, 1), 2u) << "the ejected b is skipped";
  const uint32_t tried_ac[] = {0, 2};
  EXPECT_EQ(d.choose(c, 0, 0, tried_ac, 2), 1u) << "ejected, but the only one not tried";
  const uint32_t tried_all[] = {0, 1, 2};
  EXPECT_EQ(d.choose(c, 0, 0, tried_all, 3), OutlierDetector::kNone);
}

TEST(OutlierDetector, ZeroMaxFailsNeverEjects) {
  OutlierDetector d(options(0));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(d.report_failure("a:1", 0).count(), 0);
  EXPECT_FALSE(d.ejected("a:1", 0));
  EXPECT_EQ(d.tracked(), 0u);
}

TEST(OutlierDetector, SweepForgetsEndpointsThatStoppedFailing) {
  OutlierDetector d(options(3));
  d.report_failure("gone:1", 0);
  d.report_failure("ejected:1", 0);
  d.report_failure("ejected:1", 0);
  d.report_failure("ejected:1", 0);
  d.sweep(39999);
  EXPECT_EQ(d.tracked(), 2u);
  d.sweep(40000);  // max_fail_timeout without a failure
  EXPECT_EQ(d.tracked(), 0u);
}

}  // namespace
}  // namespace strait::proxy
