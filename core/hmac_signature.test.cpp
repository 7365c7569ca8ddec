#include "core/hmac_signature.hpp"

#include "core/limits.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

namespace steward::core {
namespace {

// Known vectors, computed independently with OpenSSL's command line:
//   printf '%s' '<signed payload>' | openssl dgst -sha256 -hmac '<secret>'
constexpr std::string_view secret = "whsec_test_secret";
constexpr std::string_view old_secret = "old_secret";
constexpr std::int64_t t = 1700000000;
// '1700000000.POST./v1/provider/charges?x=1.key-123.{"amount":500,"currency":"usd"}'
constexpr std::string_view post_mac =
  "42a95fc0e56cac75a6ec9aade6eb26aa5b81c4747c59d7d0c8b90516bc262383";
// The same payload with old_secret.
constexpr std::string_view post_mac_old =
  "723e5b37375f0dedd2800f8d0efa7ab95a811f7081d720cbcd9280ab8e75723d";
// '1700000000.GET./v1/provider/charges..' (no key, no body)
constexpr std::string_view get_mac =
  "b608c4615592e936b56eb92a9e71c13de4fa08d097cced05f31bfb3080b8f753";

const signed_request post{"POST", "/v1/provider/charges?x=1", "key-123",
                          R"({"amount":500,"currency":"usd"})"};
const signed_request get{"GET", "/v1/provider/charges", "", ""};

std::string header(std::string_view mac, std::int64_t at = t) {
  return "t=" + std::to_string(at) + ",v1=" + std::string(mac);
}

TEST(HmacSignature, SignMatchesIndependentVectors) {
  EXPECT_EQ(signature_hex(secret, t, post), post_mac);
  EXPECT_EQ(signature_hex(old_secret, t, post), post_mac_old);
  EXPECT_EQ(signature_hex(secret, t, get), get_mac);
  EXPECT_EQ(sign(secret, t, post), header(post_mac));
}

// A thread keeps a keyed context per secret it has used (past 16 it starts over): interleaved
// secrets, more of them than it keeps, each still gives its own vector, and a key is never
// carried from one request into the next.
TEST(HmacSignature, InterleavedSecretsOnOneThreadEachGiveTheirOwnMac) {
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 40; ++i) {
      const std::string other = "rotated-secret-" + std::to_string(i);
      EXPECT_NE(signature_hex(other, t, post), post_mac);
      EXPECT_EQ(signature_hex(secret, t, post), post_mac) << i;
      EXPECT_EQ(signature_hex(old_secret, t, post), post_mac_old) << i;
      EXPECT_EQ(signature_hex(secret, t, get), get_mac) << i;
      EXPECT_EQ(verify(other, header(post_mac), t, post), signature_error::mismatch);
    }
  }
}

TEST(HmacSignature, VerifiesIndependentVectors) {
  EXPECT_EQ(verify(secret, header(post_mac), t, post), signature_error::none);
  EXPECT_EQ(verify(secret, header(get_mac), t, get), signature_error::none);
  EXPECT_EQ(verify(secret, sign(secret, t + 5, post), t, post), signature_error::none);
}

TEST(HmacSignature, ToleranceEdgesBothWays) {
  const std::int64_t tolerance = signature_tolerance_seconds;
  EXPECT_EQ(tolerance, 300);
  EXPECT_EQ(verify(secret, header(post_mac), t + tolerance, post), signature_error::none);
  EXPECT_EQ(verify(secret, header(post_mac), t + tolerance + 1, post), signature_error::expired);
  EXPECT_EQ(verify(secret, header(post_mac), t - tolerance, post), signature_error::none);
  EXPECT_EQ(verify(secret, header(post_mac), t - tolerance - 1, post), signature_error::future);
  EXPECT_EQ(to_api_error(signature_error::expired), api_error::unauthorized);
  EXPECT_EQ(to_api_error(signature_error::future), api_error::unauthorized);
}

TEST(HmacSignature, TamperedRequestFails) {
  auto tampered = [](signed_request request) {
    return verify(secret, header(post_mac), t, request);
  };
  signed_request request = post;
  request.method = "PUT";
  EXPECT_EQ(tampered(request), signature_error::mismatch);
  request = post;
  request.path = "/v1/provider/charges?x=2";
  EXPECT_EQ(tampered(request), signature_error::mismatch);
  request = post;
  request.path = "/v1/provider/charges"; // query dropped
  EXPECT_EQ(tampered(request), signature_error::mismatch);
  request = post;
  request.idempotency_key = "key-124";
  EXPECT_EQ(tampered(request), signature_error::mismatch);
  request = post;
  request.idempotency_key = "";
  EXPECT_EQ(tampered(request), signature_error::mismatch);
  request = post;
  request.body = R"({"amount":5000,"currency":"usd"})";
  EXPECT_EQ(tampered(request), signature_error::mismatch);
  // A different timestamp than the one signed, and a wrong secret.
  EXPECT_EQ(verify(secret, header(post_mac, t + 1), t, post), signature_error::mismatch);
  EXPECT_EQ(verify("whsec_test_secreT", header(post_mac), t, post), signature_error::mismatch);
  EXPECT_EQ(verify("", header(post_mac), t, post), signature_error::mismatch);
  EXPECT_EQ(to_api_error(signature_error::mismatch), api_error::unauthorized);
}

TEST(HmacSignature, SingleBitFlipInMacFails) {
  std::string mac(post_mac);
  for (std::size_t i = 0; i < mac.size(); ++i) {
    std::string changed = mac;
    changed[i] = changed[i] == '0' ? '1' : '0';
    EXPECT_EQ(verify(secret, header(changed), t, post), signature_error::mismatch) << i;
  }
}

TEST(HmacSignature, RotationAcceptsAnyMatchingV1) {
  const std::string other(64, 'a');
  EXPECT_EQ(verify(secret, header(post_mac_old) + ",v1=" + std::string(post_mac), t, post),
            signature_error::none);
  EXPECT_EQ(verify(old_secret, header(post_mac_old) + ",v1=" + std::string(post_mac), t, post),
            signature_error::none);
  EXPECT_EQ(verify(secret, "v1=" + other + ",t=1700000000,v1=" + std::string(post_mac), t, post),
            signature_error::none);
  EXPECT_EQ(verify(secret, header(other) + ",v1=" + other, t, post), signature_error::mismatch);
  // The most entries allowed, with the match last; one more is malformed.
  std::string many = "t=1700000000";
  for (std::size_t i = 1; i < limits::signature_v1_count_max; ++i) many += ",v1=" + other;
  EXPECT_EQ(verify(secret, many + ",v1=" + std::string(post_mac), t, post), signature_error::none);
  EXPECT_EQ(verify(secret, many + ",v1=" + other + ",v1=" + std::string(post_mac), t, post),
            signature_error::malformed);
}

TEST(HmacSignature, StrictHeaderParsing) {
  const std::string mac(post_mac);
  const std::string upper = [&] {
    std::string s = mac;
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }();
  for (const std::string& value : std::vector<std::string>{
         "", "t=1700000000", "v1=" + mac, "t=,v1=" + mac, "t=-1700000000,v1=" + mac,
         "t=+1700000000,v1=" + mac, "t=01700000000,v1=" + mac, "t=1700000000x,v1=" + mac,
         "t=1700000000.5,v1=" + mac, "t=1234567890123456789,v1=" + mac,
         "t=1700000000,v1=" + upper, "t=1700000000,v1=" + mac.substr(1),
         "t=1700000000,v1=" + mac + "0", "t=1700000000,v1=" + mac.substr(1) + "g",
         "t=1700000000, v1=" + mac, "t=1700000000 ,v1=" + mac, " t=1700000000,v1=" + mac,
         "t=1700000000,v1=" + mac + ",", ",t=1700000000,v1=" + mac,
         "t=1700000000,,v1=" + mac, "t=1700000000,t=1700000000,v1=" + mac,
         "t=1700000000,v0=" + mac + ",v1=" + mac, "T=1700000000,v1=" + mac,
         "t=1700000000;v1=" + mac, "t=1700000000,V1=" + mac, "t=1700000000,v1=",
         "t=1700000000,v1" + mac,
         "t=1700000000,v1=" + mac + std::string(limits::signature_header_bytes_max, ' ')}) {
    EXPECT_EQ(verify(secret, value, t, post), signature_error::malformed) << value;
  }
  EXPECT_EQ(to_api_error(signature_error::malformed), api_error::unauthorized);
}

TEST(HmacSignature, TimestampZeroIsWellFormed) {
  const signed_request request{"POST", "/", "", ""};
  EXPECT_EQ(verify(secret, sign(secret, 0, request), 0, request), signature_error::none);
  EXPECT_EQ(verify(secret, sign(secret, 0, request), 1700000000, request),
            signature_error::expired);
}

} // namespace
} // namespace steward::core
