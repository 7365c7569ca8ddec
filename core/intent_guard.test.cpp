#include "core/intent_guard.hpp"

#include "core/limits.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace steward::core {
namespace {

using strings = std::vector<std::string>;

intent_decision check(std::string_view requested, const strings& intents,
                      const strings& approved = {}) {
  return check_intent(requested, intents, approved);
}

// --- The incident --------------------------------------------------------------------------------

TEST(IntentGuard, DesignIncidentIsALookalike) {
  const intent_decision decision = check("superseal.cc", {"superseal.club"});
  EXPECT_EQ(decision.verdict, intent_verdict::lookalike);
  EXPECT_EQ(decision.expected, "superseal.club");
  EXPECT_EQ(decision.rule, lookalike_rule::other_suffix);
  EXPECT_FALSE(decision);
  EXPECT_EQ(to_api_error(decision.verdict), api_error::intent_mismatch);
}

TEST(IntentGuard, ExactMatchAfterNormalisationIsAllowed) {
  const intent_decision decision = check("SuperSeal.Club.", {"superseal.club"});
  EXPECT_EQ(decision.verdict, intent_verdict::allowed);
  EXPECT_TRUE(decision);
  EXPECT_EQ(decision.requested, "superseal.club");
  EXPECT_TRUE(decision.expected.empty());
  // Either list may approve it, and the approved side is normalised too.
  EXPECT_TRUE(check("superseal.club", {}, {"SUPERSEAL.CLUB."}));
  EXPECT_TRUE(check("superseal.club", {"other.com"}, {"superseal.club"}));
}

// --- Normalisation -------------------------------------------------------------------------------

TEST(IntentGuard, NormaliseAcceptsAndFolds) {
  EXPECT_EQ(normalize_domain("Example.COM"), "example.com");
  EXPECT_EQ(normalize_domain("example.com."), "example.com");
  EXPECT_EQ(normalize_domain("a-b.example.co.uk"), "a-b.example.co.uk");
  EXPECT_EQ(normalize_domain("123.example"), "123.example");
  EXPECT_EQ(normalize_domain("xn--bcher-kva.de"), "xn--bcher-kva.de");
  EXPECT_EQ(normalize_domain("XN--BCHER-KVA.DE"), "xn--bcher-kva.de");
  // UTF-8 is encoded to its A-label (RFC 3492 encodings checked with Python's punycode codec).
  EXPECT_EQ(normalize_domain("b\xC3\xBC" "cher.de"), "xn--bcher-kva.de");
  EXPECT_EQ(normalize_domain("B\xC3\xBC" "CHER.de"), "xn--bcher-kva.de");
  const std::string label63(63, 'a');
  EXPECT_EQ(normalize_domain(label63 + ".com"), label63 + ".com");
  // 253 bytes exactly: 3 labels of 63, one of 61, dots.
  const std::string longest = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(longest.size(), 253u);
  EXPECT_EQ(normalize_domain(longest), longest);
  EXPECT_EQ(normalize_domain(longest + "."), longest);
}

TEST(IntentGuard, NormaliseRejects) {
  const std::string label63(63, 'a');
  const std::string too_long =
    label63 + "." + label63 + "." + label63 + "." + std::string(62, 'b'); // 254 bytes
  for (const std::string& bad : {
         std::string{},
         std::string{"."},
         std::string{"com"},              // one label
         std::string{"example.com.."},    // two trailing dots
         std::string{".example.com"},     // empty first label
         std::string{"example..com"},     // empty middle label
         std::string{"exa mple.com"},     // space
         std::string{"exa_mple.com"},     // underscore
         std::string{"-example.com"},     // leading hyphen
         std::string{"example-.com"},     // trailing hyphen
         std::string{"ab--cd.com"},       // reserved hyphens, not xn--
         std::string{"example.123"},      // numeric top-level label
         std::string{"1.2.3.4"},          // an IPv4 address
         std::string(64, 'a') + ".com",   // label over 63
         too_long,
         std::string{"xn--.com"},         // empty punycode
         std::string{"xn--abc-.com"},     // trailing hyphen
         std::string{"xn--a.com"},        // decodes to U+0080, a control character
         std::string{"xn--z.com"},        // truncated variable-length integer
         std::string{"xn--99999999999a.com"}, // overflow
         std::string{"ex\xC3.com"},       // truncated UTF-8
         std::string{"ex\xC0\xAF.com"},   // overlong UTF-8
         std::string{"ex\xED\xA0\x80.com"}, // UTF-16 surrogate
         std::string{"ex\xE3\x80\x82" "ample.com"}, // ideographic full stop inside a label
         std::string{"ex--\xC3\xA4mple.com"} // U-label with hyphens at 3-4
       }) {
    EXPECT_EQ(normalize_domain(bad), std::nullopt) << bad;
    EXPECT_EQ(check(bad, {"example.com"}).verdict, intent_verdict::invalid) << bad;
  }
  EXPECT_EQ(to_api_error(intent_verdict::invalid), api_error::config_invalid);
}

// --- Punycode ------------------------------------------------------------------------------------

TEST(IntentGuard, PunycodeKnownAnswers) {
  // Computed with Python's independent `str.encode("punycode")`.
  struct vector {
    std::u32string unicode;
    std::string_view ascii;
  };
  const vector vectors[] = {
    {U"b\u00fccher", "bcher-kva"},
    {U"m\u00fcnchen", "mnchen-3ya"},
    {U"\u043f\u0440\u0438\u043c\u0435\u0440", "e1afmkfd"},
    {U"ma\u00f1ana", "maana-pta"},
    {U"\u4f8b\u3048", "r8jz45g"},
    {U"\u0455uperseal", "uperseal-jhh"},
    {U"d\u00e9j\u00e0", "dj-kia8a"},
  };
  for (const auto& v : vectors) {
    EXPECT_EQ(detail::punycode_encode(v.unicode), v.ascii);
    EXPECT_EQ(detail::punycode_decode(v.ascii), v.unicode) << v.ascii;
  }
  EXPECT_EQ(detail::punycode_decode("ab\xC3\xA4-kva"), std::nullopt); // non-ASCII basic part
  EXPECT_EQ(detail::punycode_decode("bcher-kv!"), std::nullopt);      // not a digit
}

// --- Lookalike rules -----------------------------------------------------------------------------

TEST(IntentGuard, OtherSuffix) {
  for (std::string_view request : {"superseal.cc", "superseal.co", "superseal.com",
                                   "superseal.co.uk", "superseal.clubs"}) {
    const intent_decision decision = check(request, {"superseal.club"});
    EXPECT_EQ(decision.verdict, intent_verdict::lookalike) << request;
    EXPECT_EQ(decision.rule, lookalike_rule::other_suffix) << request;
    EXPECT_EQ(decision.expected, "superseal.club") << request;
  }
  // Even a two-letter name: the suffix rule does not depend on length.
  EXPECT_EQ(check("ab.net", {"ab.com"}).verdict, intent_verdict::lookalike);
}

TEST(IntentGuard, Separators) {
  for (std::string_view request : {"super-seal.club", "super.seal.club", "su-per-seal.club"}) {
    const intent_decision decision = check(request, {"superseal.club"});
    EXPECT_EQ(decision.verdict, intent_verdict::lookalike) << request;
    EXPECT_EQ(decision.rule, lookalike_rule::separators) << request;
    EXPECT_EQ(decision.expected, "superseal.club");
  }
  // And the other way round: the approved value has the hyphen.
  EXPECT_EQ(check("superseal.club", {"super-seal.club"}).rule, lookalike_rule::separators);
}

TEST(IntentGuard, ConfusableDigitsAndLetters) {
  const std::pair<std::string_view, std::string_view> cases[] = {
    {"supersea1.club", "superseal.club"}, {"g00gle.com", "google.com"},
    {"paypa1.com", "paypal.com"},         {"paypai.com", "paypal.com"},
    {"rnicrosoft.com", "microsoft.com"},  {"vvikipedia.org", "wikipedia.org"},
    {"cloudfiare.com", "cloudflare.com"}, {"clropbox.com", "dropbox.com"},
  };
  for (const auto& [request, approved] : cases) {
    const intent_decision decision = check(request, {std::string(approved)});
    EXPECT_EQ(decision.verdict, intent_verdict::lookalike) << request;
    EXPECT_EQ(decision.rule, lookalike_rule::confusable) << request;
    EXPECT_EQ(decision.expected, approved) << request;
  }
}

TEST(IntentGuard, ConfusableHomoglyphsAsPunycodeOrUtf8) {
  // Cyrillic ѕ (U+0455), Cyrillic а (U+0430), Cyrillic е (U+0435), Latin ä; each as its A-label
  // (checked with Python) and, where given, as UTF-8.
  for (std::string_view request :
       {"xn--uperseal-jhh.club", "xn--supersel-76g.club", "xn--supersal-h8g.club",
        "xn--supersl-7fg8b.club", "\xD1\x95uperseal.club", "SUPERSE\xD0\x90L.club"}) {
    const intent_decision decision = check(request, {"superseal.club"});
    EXPECT_EQ(decision.verdict, intent_verdict::lookalike) << request;
    EXPECT_EQ(decision.rule, lookalike_rule::confusable) << request;
    EXPECT_EQ(decision.expected, "superseal.club") << request;
    EXPECT_TRUE(decision.requested.starts_with("xn--")) << decision.requested;
  }
  EXPECT_EQ(check("xn--exmple-cua.com", {"example.com"}).rule, lookalike_rule::confusable);
  // Greek ο (U+03BF) in "gοogle".
  EXPECT_EQ(check("g\xCE\xBFogle.com", {"google.com"}).rule, lookalike_rule::confusable);
  EXPECT_EQ(detail::skeleton("xn--uperseal-jhh.club"), "superseal.dub");
}

TEST(IntentGuard, ContainsApprovedValue) {
  for (std::string_view request :
       {"shop.superseal.club", "superseal.club.example.com", "superseal-login.club",
        "getsuperseal.com"}) {
    const intent_decision decision = check(request, {"superseal.club"});
    EXPECT_EQ(decision.verdict, intent_verdict::lookalike) << request;
    EXPECT_EQ(decision.rule, lookalike_rule::contains) << request;
  }
  // The parent of an approved subdomain is related too.
  EXPECT_EQ(check("superseal.club", {"shop.superseal.club"}).rule, lookalike_rule::contains);
  // A short approved name inside a longer one is not enough: "ab" is in "lab".
  EXPECT_EQ(check("lab.org", {"ab.com"}).verdict, intent_verdict::not_intended);
}

TEST(IntentGuard, TyposScaledByLength) {
  const std::pair<std::string_view, std::string_view> flagged[] = {
    {"supresael.club", "superseal.club"}, // two transpositions
    {"superseel.club", "superseal.club"}, // one substitution
    {"supersea.club", "superseal.club"},  // one deletion
    {"supersueal.club", "superseal.club"},// one insertion
    {"stripe.dev", "strpie.com"},         // one swap, other suffix too
    {"abce.com", "abcd.com"},             // 4 characters: one edit
  };
  for (const auto& [request, approved] : flagged) {
    const intent_decision decision = check(request, {std::string(approved)});
    EXPECT_EQ(decision.verdict, intent_verdict::lookalike) << request;
    EXPECT_EQ(decision.rule, lookalike_rule::typo) << request;
  }
  const std::pair<std::string_view, std::string_view> unrelated[] = {
    {"xy.com", "ab.com"},           // 2 characters: no edits tolerated
    {"abc.com", "abd.com"},         // 3 characters: none either
    {"abef.com", "abcd.com"},       // 4 characters: two edits is too many
    {"sunsetseal.club", "superseal.club"},
    {"example.org", "superseal.club"},
  };
  for (const auto& [request, approved] : unrelated) {
    const intent_decision decision = check(request, {std::string(approved)});
    EXPECT_EQ(decision.verdict, intent_verdict::not_intended) << request;
    EXPECT_TRUE(decision.expected.empty()) << request;
    EXPECT_EQ(to_api_error(decision.verdict), api_error::intent_mismatch);
  }
}

TEST(IntentGuard, EditDistanceIsOptimalStringAlignment) {
  EXPECT_EQ(detail::edit_distance("", ""), 0u);
  EXPECT_EQ(detail::edit_distance("abc", ""), 3u);
  EXPECT_EQ(detail::edit_distance("", "abc"), 3u);
  EXPECT_EQ(detail::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(detail::edit_distance("ab", "ba"), 1u);   // one swap, not two substitutions
  EXPECT_EQ(detail::edit_distance("ca", "abc"), 3u);  // OSA, not unrestricted (which says 2)
  EXPECT_EQ(detail::edit_distance("superseal", "supresael"), 2u);
}

TEST(IntentGuard, ClosestApprovedValueIsNamed) {
  const intent_decision decision =
    check("superseal.co", {"superseal.club", "superseal.cc", "example.com"});
  EXPECT_EQ(decision.verdict, intent_verdict::lookalike);
  EXPECT_EQ(decision.expected, "superseal.cc");
  // Order matters only on a tie: both are one substitution away.
  EXPECT_EQ(check("abcx.com", {"abcd.com", "abce.com"}).expected, "abcd.com");
  EXPECT_EQ(check("abcx.com", {"abce.com", "abcd.com"}).expected, "abce.com");
  // The human-approved list is searched too.
  EXPECT_EQ(check("superseal.cc", {"example.com"}, {"superseal.club"}).expected, "superseal.club");
}

TEST(IntentGuard, ExactMatchWinsOverResemblance) {
  // superseal.cc is approved in its own right: allowed, though it resembles superseal.club.
  const intent_decision decision = check("superseal.cc", {"superseal.club", "superseal.cc"});
  EXPECT_EQ(decision.verdict, intent_verdict::allowed);
}

TEST(IntentGuard, NothingApprovedMeansNotIntended) {
  EXPECT_EQ(check("superseal.club", {}).verdict, intent_verdict::not_intended);
  // Invalid approved values are skipped, never matched.
  EXPECT_EQ(check("superseal.club", {"not a domain", ""}).verdict, intent_verdict::not_intended);
}

TEST(IntentGuard, ExactMatchIsFoundPastTheResemblanceLimit) {
  strings many;
  for (std::size_t i = 0; i < limits::intent_values_max + 10; ++i)
    many.push_back("filler" + std::to_string(i) + ".com");
  many.push_back("superseal.club");
  EXPECT_TRUE(check("superseal.club", many));
  // Past the limit a lookalike is no longer explained, but it is still refused.
  EXPECT_EQ(check("superseal.cc", many).verdict, intent_verdict::not_intended);
}

TEST(IntentGuard, NeverAllowsALookalike) {
  // Every lookalike above, re-checked against the two-value list: none is allowed.
  for (std::string_view request :
       {"superseal.cc", "supersea1.club", "super-seal.club", "xn--uperseal-jhh.club",
        "superseal.club.example.com", "supresael.club"}) {
    EXPECT_FALSE(check(request, {"superseal.club"}, {"superseal.club"})) << request;
  }
  EXPECT_EQ(to_api_error(intent_verdict::lookalike), api_error::intent_mismatch);
}

TEST(IntentGuard, DescribeNamesEveryValue) {
  EXPECT_EQ(describe(intent_verdict::lookalike), "lookalike");
  EXPECT_EQ(describe(intent_verdict::not_intended), "not_intended");
  EXPECT_EQ(describe(lookalike_rule::other_suffix), "other_suffix");
  EXPECT_EQ(describe(lookalike_rule::typo), "typo");
}

} // namespace
} // namespace steward::core
