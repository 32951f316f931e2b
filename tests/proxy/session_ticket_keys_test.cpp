// The session ticket key ring on its own, at chosen points of the monotonic clock: which key
// encrypts in a period, which keys still decrypt, and when a key is gone. (tls_test.cpp checks the
// same through real handshakes against strait.)
#include "tls/tls_context.hpp"

#include <gtest/gtest.h>

namespace strait::tls {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

constexpr auto kRotation = 10s;
// The start of the period `period` periods after the one the test starts in (the key ring makes
// its first key when constructed, at the real now), plus an offset inside it.
TimePoint at(int64_t period, std::chrono::milliseconds offset = 0ms) {
  static const int64_t now = std::chrono::steady_clock::now().time_since_epoch() / kRotation;
  return TimePoint((now + period) * kRotation + offset);
}

TEST(SessionTicketKeys, OneKeyEncryptsPerPeriod) {
  SessionTicketKeys keys(kRotation);
  auto first = keys.encryption_key(at(10, 1ms));
  auto later_same_period = keys.encryption_key(at(10, 9999ms));
  auto next_period = keys.encryption_key(at(11));
  ASSERT_TRUE(first && later_same_period && next_period);
  EXPECT_EQ(first->name, later_same_period->name);
  EXPECT_EQ(first->aes_key, later_same_period->aes_key);
  EXPECT_NE(first->name, next_period->name);
  EXPECT_NE(first->aes_key, next_period->aes_key);
  EXPECT_NE(first->hmac_key, next_period->hmac_key);
}

TEST(SessionTicketKeys, ThePreviousPeriodsKeyDecryptsAndAskForRenewalOlderOnesAreGone) {
  SessionTicketKeys keys(kRotation);
  auto issued = keys.encryption_key(at(10, 5s));
  ASSERT_TRUE(issued);
  bool current = false;
  auto same = keys.decryption_key(issued->name.data(), at(10, 9s), current);
  ASSERT_TRUE(same);
  EXPECT_TRUE(current);
  EXPECT_EQ(same->aes_key, issued->aes_key);
  EXPECT_EQ(same->hmac_key, issued->hmac_key);

  auto next = keys.decryption_key(issued->name.data(), at(11, 9s), current);
  ASSERT_TRUE(next);
  EXPECT_FALSE(current);  // renew the ticket under the current key

  EXPECT_FALSE(keys.decryption_key(issued->name.data(), at(12), current));
}

TEST(SessionTicketKeys, AKeyExpiresEvenWhenNoTicketWasIssuedInBetween) {
  SessionTicketKeys keys(kRotation);
  auto issued = keys.encryption_key(at(10));
  ASSERT_TRUE(issued);
  bool current = false;
  // Nothing happens for five periods; the key must not have survived by inactivity.
  EXPECT_FALSE(keys.decryption_key(issued->name.data(), at(15), current));
}

TEST(SessionTicketKeys, UnknownKeyNamesDoNotDecrypt) {
  SessionTicketKeys keys(kRotation);
  ASSERT_TRUE(keys.encryption_key(at(10)));
  unsigned char unknown[16] = {};
  bool current = false;
  EXPECT_FALSE(keys.decryption_key(unknown, at(10, 1s), current));
}

}  // namespace
}  // namespace strait::tls
