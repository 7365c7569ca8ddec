#include "core/api_messages.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace steward::core {
namespace {

// A body the way the HTTP layer hands it over: `json_padding_bytes` readable bytes follow it.
template <class Request>
json_error decode_padded_body(json_error (*decode_fn)(std::string_view, Request&),
                              std::string_view json, Request& out) {
  std::string buffer(json);
  buffer.append(json_padding_bytes, '\0');
  return decode_fn(std::string_view(buffer.data(), json.size()), out);
}

json_error user(std::string_view json, user_upsert_request& out) {
  return decode_padded_body(decode_user_upsert_request, json, out);
}
json_error session(std::string_view json, session_create_request& out) {
  return decode_padded_body(decode_session_create_request, json, out);
}
json_error payment_method(std::string_view json, payment_method_request& out) {
  return decode_padded_body(decode_payment_method_request, json, out);
}
json_error limits_body(std::string_view json, limits_request& out) {
  return decode_padded_body(decode_limits_request, json, out);
}
json_error payment_token(std::string_view json, payment_token_create_request& out) {
  return decode_padded_body(decode_payment_token_create_request, json, out);
}
json_error kill(std::string_view json, kill_request& out) {
  return decode_padded_body(decode_kill_request, json, out);
}
json_error charge(std::string_view json, charge_request& out) {
  return decode_padded_body(decode_charge_request, json, out);
}
json_error refund(std::string_view json, refund_request& out) {
  return decode_padded_body(decode_refund_request, json, out);
}
json_error approval(std::string_view json, approval_decision_request& out) {
  return decode_padded_body(decode_approval_decision_request, json, out);
}

// A well-formed id of `kind` whose value is `n`.
std::string id_of(id_kind kind, std::uint8_t n) {
  id_bits bits{};
  bits[15] = n;
  return format_id(kind, bits);
}

#define EXPECT_FIELD_ERROR(call, expected_code, expected_pointer)                                  \
  do {                                                                                             \
    json_error error_ = (call);                                                                    \
    EXPECT_TRUE(error_.failed) << #call;                                                           \
    EXPECT_EQ(info(error_.code).code, info(expected_code).code) << #call << ": " << error_.detail; \
    EXPECT_EQ(error_.pointer, expected_pointer) << #call << ": " << error_.detail;                 \
  } while (false)

#define EXPECT_OK(call)                                                                            \
  do {                                                                                             \
    json_error error_ = (call);                                                                    \
    EXPECT_FALSE(error_.failed) << #call << ": " << error_.pointer << ": " << error_.detail;       \
  } while (false)

// --- Names -----------------------------------------------------------------------------------------

TEST(ApiMessagesNames, Emails) {
  for (std::string_view good : {"ada@example.com", "Ada.Lovelace+steward@Example.COM",
                                "o'brien@mail.example.co.uk", "\xc3\xb6@xn--bcher-kva.example",
                                "x@a-b.io"})
    EXPECT_TRUE(is_valid_email(good)) << good;
  std::string long_local = std::string(65, 'a') + "@example.com";
  std::string long_total = "a@" + std::string(60, 'b') + "." + std::string(60, 'c') + "." +
                           std::string(60, 'd') + "." + std::string(60, 'e') + ".example.com";
  ASSERT_GT(long_total.size(), email_bytes_max);
  for (std::string_view bad :
       {std::string_view(""), std::string_view("ada"), std::string_view("ada@"),
        std::string_view("@example.com"), std::string_view("ada@localhost"),
        std::string_view(".ada@example.com"), std::string_view("ada.@example.com"),
        std::string_view("a..da@example.com"), std::string_view("a da@example.com"),
        std::string_view("a@b@example.com"), std::string_view("ada@example..com"),
        std::string_view("ada@-example.com"), std::string_view("ada@10.0.0.1"),
        std::string_view("\"ada\"@example.com"), std::string_view("ada@[10.0.0.1]"),
        std::string_view(long_local), std::string_view(long_total)})
    EXPECT_FALSE(is_valid_email(bad)) << bad;
}

TEST(ApiMessagesNames, DomainsSlugsAndPlatformRefs) {
  for (std::string_view good : {"example.com", "superseal.club", "a.b.c.d", "xn--bcher-kva.ch",
                                "my-shop2.dev", "1password.com"})
    EXPECT_TRUE(is_valid_domain(good)) << good;
  std::string label_64 = std::string(64, 'a') + ".com";
  for (std::string_view bad :
       {std::string_view("example"), std::string_view("Example.com"),
        std::string_view("example.com."), std::string_view(".example.com"),
        std::string_view("-a.com"), std::string_view("a-.com"), std::string_view("a_b.com"),
        std::string_view("1.2.3.4"), std::string_view("*.example.com"),
        std::string_view(label_64), std::string_view("")})
    EXPECT_FALSE(is_valid_domain(bad)) << bad;

  EXPECT_TRUE(is_valid_provider_slug("acme"));
  EXPECT_TRUE(is_valid_provider_slug("cloud-2"));
  EXPECT_FALSE(is_valid_provider_slug("-acme"));
  EXPECT_FALSE(is_valid_provider_slug("Acme"));
  EXPECT_FALSE(is_valid_provider_slug("ac_me"));
  EXPECT_FALSE(is_valid_provider_slug(std::string(33, 'a')));
  EXPECT_FALSE(is_valid_provider_slug(""));

  EXPECT_TRUE(is_valid_platform_ref("auth0|5f7c"));
  EXPECT_TRUE(is_valid_platform_ref("github:42"));
  EXPECT_FALSE(is_valid_platform_ref("a/b"));
  EXPECT_FALSE(is_valid_platform_ref("a b"));
  EXPECT_FALSE(is_valid_platform_ref(""));
  EXPECT_FALSE(is_valid_platform_ref(std::string(129, 'x')));
}

// --- PUT /v1/users/{platform_ref} ----------------------------------------------------------------

TEST(ApiMessagesUser, HappyPath) {
  user_upsert_request out;
  EXPECT_OK(user(R"({"email":"ada@example.com","email_verified":true,"name":"Ada Lovelace"})", out));
  EXPECT_EQ(out.email, "ada@example.com");
  EXPECT_EQ(out.email_verified, true);
  EXPECT_TRUE(out.name.present);
  EXPECT_EQ(out.name.value, "Ada Lovelace");
}

TEST(ApiMessagesUser, AbsentMembersStayAbsentAndNullClearsTheName) {
  user_upsert_request absent;
  EXPECT_OK(user("{}", absent));
  EXPECT_FALSE(absent.email);
  EXPECT_FALSE(absent.email_verified);
  EXPECT_FALSE(absent.name.present);

  user_upsert_request cleared;
  EXPECT_OK(user(R"({"name":null})", cleared));
  EXPECT_TRUE(cleared.name.present);
  EXPECT_FALSE(cleared.name.value);
}

TEST(ApiMessagesUser, Rejects) {
  user_upsert_request out;
  EXPECT_FIELD_ERROR(user(R"({"email":"not-an-email"})", out), api_error::invalid_field, "/email");
  EXPECT_FIELD_ERROR(user(R"({"email":null})", out), api_error::invalid_field, "/email");
  EXPECT_FIELD_ERROR(user(R"({"email":")" + std::string(250, 'a') + R"(@example.com"})", out),
                     api_error::invalid_field, "/email");
  EXPECT_FIELD_ERROR(user(R"({"email_verified":"yes"})", out), api_error::invalid_field,
                     "/email_verified");
  EXPECT_FIELD_ERROR(user(R"({"name":")" + std::string(201, 'n') + R"("})", out),
                     api_error::invalid_field, "/name");
  EXPECT_FIELD_ERROR(user(R"({"emial":"ada@example.com"})", out), api_error::unknown_field,
                     "/emial");
  EXPECT_FIELD_ERROR(user("[]", out), api_error::invalid_json, "");
}

// --- POST /v1/users/{id}/sessions ----------------------------------------------------------------

TEST(ApiMessagesSession, HappyPath) {
  session_create_request out;
  EXPECT_OK(session(R"({"run_budget":{"amount":5000,"currency":"usd"},"ttl_seconds":7200,)"
                    R"("intents":{"domains":["superseal.club","example.com"]},"label":"ci run"})",
                    out));
  EXPECT_EQ(out.run_budget, (money{5000, currency::usd}));
  EXPECT_EQ(out.ttl_seconds, 7200);
  EXPECT_EQ(out.intent_domains, (std::vector<std::string>{"superseal.club", "example.com"}));
  EXPECT_EQ(out.label, "ci run");
}

TEST(ApiMessagesSession, Defaults) {
  session_create_request out;
  EXPECT_OK(session(R"({"run_budget":{"amount":0,"currency":"eur"}})", out));
  EXPECT_EQ(out.run_budget, (money{0, currency::eur}));
  EXPECT_EQ(out.ttl_seconds, session_ttl_seconds_default);
  EXPECT_TRUE(out.intent_domains.empty());
  EXPECT_EQ(out.label, "");
  EXPECT_OK(session(R"({"run_budget":{"amount":1,"currency":"usd"},"intents":{}})", out));
}

TEST(ApiMessagesSession, Rejects) {
  session_create_request out;
  const std::string budget = R"("run_budget":{"amount":100,"currency":"usd"})";
  EXPECT_FIELD_ERROR(session("{}", out), api_error::invalid_field, "/run_budget");
  EXPECT_FIELD_ERROR(session(R"({"run_budget":{"amount":-1,"currency":"usd"}})", out),
                     api_error::invalid_field, "/run_budget/amount");
  EXPECT_FIELD_ERROR(session(R"({"run_budget":{"amount":1,"currency":"USD"}})", out),
                     api_error::unsupported_currency, "/run_budget/currency");
  EXPECT_FIELD_ERROR(session(R"({"run_budget":5000})", out), api_error::invalid_field,
                     "/run_budget");
  EXPECT_FIELD_ERROR(session("{" + budget + R"(,"ttl_seconds":0})", out), api_error::invalid_field,
                     "/ttl_seconds");
  EXPECT_FIELD_ERROR(session("{" + budget + R"(,"ttl_seconds":86401})", out),
                     api_error::invalid_field, "/ttl_seconds");
  EXPECT_FIELD_ERROR(session("{" + budget + R"(,"ttl_seconds":60.0})", out),
                     api_error::invalid_field, "/ttl_seconds");
  EXPECT_FIELD_ERROR(
    session("{" + budget + R"(,"intents":{"domains":["example.com","Example.org"]}})", out),
    api_error::invalid_field, "/intents/domains/1");
  EXPECT_FIELD_ERROR(session("{" + budget + R"(,"intents":{"domains":["localhost"]}})", out),
                     api_error::invalid_field, "/intents/domains/0");
  EXPECT_FIELD_ERROR(
    session("{" + budget + R"(,"intents":{"domains":["a.com","b.com","a.com"]}})", out),
    api_error::invalid_field, "/intents/domains/2");
  EXPECT_FIELD_ERROR(session("{" + budget + R"(,"intents":{"domains":[7]}})", out),
                     api_error::invalid_field, "/intents/domains/0");
  EXPECT_FIELD_ERROR(session("{" + budget + R"(,"intents":{"domian":[]}})", out),
                     api_error::unknown_field, "/intents/domian");
  EXPECT_FIELD_ERROR(session("{" + budget + R"(,"label":")" + std::string(201, 'l') + R"("})", out),
                     api_error::invalid_field, "/label");

  std::string many = "{" + budget + R"(,"intents":{"domains":[)";
  for (std::size_t i = 0; i <= intent_domains_max; ++i)
    many += (i ? ",\"d" : "\"d") + std::to_string(i) + ".com\"";
  many += "]}}";
  json_error error = session(many, out);
  EXPECT_TRUE(error.failed);
  EXPECT_EQ(error.code, api_error::invalid_field);
  EXPECT_EQ(error.pointer.rfind("/intents/domains", 0), 0u) << error.pointer;
}

// --- PUT /v1/users/{id}/payment_method -----------------------------------------------------------

TEST(ApiMessagesPaymentMethod, TokenizedReferenceIsAccepted) {
  payment_method_request out;
  EXPECT_OK(payment_method(
    R"({"psp":"stripe","reference":"pm_1Nabc","last4":"4242","brand":"visa"})", out));
  EXPECT_EQ(out.psp, "stripe");
  EXPECT_EQ(out.reference, "pm_1Nabc");
  EXPECT_EQ(out.last4, "4242");
  EXPECT_EQ(out.brand, "visa");

  payment_method_request minimal;
  EXPECT_OK(payment_method(R"({"psp":"adyen","reference":"8515131751004933"})", minimal));
  EXPECT_FALSE(minimal.last4);
  EXPECT_FALSE(minimal.brand);
}

TEST(ApiMessagesPaymentMethod, CardNumbersAreRejectedInEveryMember) {
  const std::string base = R"({"psp":"stripe","reference":"pm_1Nabc","last4":"4242","brand":"visa"})";
  const std::pair<std::string, std::string> cases[] = {
    {"psp", "4111111111111111"},
    {"reference", "4111 1111 1111 1111"},
    {"reference", "pm_5555-5555-5555-4444"},
    {"last4", "4111111111111111"},
    {"brand", "visa 4111 1111 1111 1111 12/27"},
  };
  for (const auto& [member, value] : cases) {
    std::string body = base;
    std::string needle = "\"" + member + "\":\"";
    std::size_t at = body.find(needle) + needle.size();
    body.replace(at, body.find('"', at) - at, value);
    payment_method_request out;
    json_error error = payment_method(body, out);
    EXPECT_TRUE(error.failed) << body;
    EXPECT_EQ(error.code, api_error::invalid_field) << body;
    EXPECT_EQ(error.pointer, "/" + member) << body;
    EXPECT_NE(error.detail.find("card numbers are never accepted"), std::string::npos);
    EXPECT_EQ(error.detail.find("1111"), std::string::npos) << "the detail must not echo it";
  }
}

TEST(ApiMessagesPaymentMethod, Rejects) {
  payment_method_request out;
  EXPECT_FIELD_ERROR(payment_method(R"({"psp":"stripe"})", out), api_error::invalid_field,
                     "/reference");
  EXPECT_FIELD_ERROR(payment_method(R"({"reference":"pm_1"})", out), api_error::invalid_field,
                     "/psp");
  EXPECT_FIELD_ERROR(payment_method(R"({"psp":"Stripe","reference":"pm_1"})", out),
                     api_error::invalid_field, "/psp");
  EXPECT_FIELD_ERROR(payment_method(R"({"psp":"stripe","reference":"pm 1"})", out),
                     api_error::invalid_field, "/reference");
  EXPECT_FIELD_ERROR(payment_method(R"({"psp":"stripe","reference":""})", out),
                     api_error::invalid_field, "/reference");
  EXPECT_FIELD_ERROR(payment_method(R"({"psp":"stripe","reference":"pm_1","last4":"42a2"})", out),
                     api_error::invalid_field, "/last4");
  EXPECT_FIELD_ERROR(payment_method(R"({"psp":"stripe","reference":"pm_1","last4":"424"})", out),
                     api_error::invalid_field, "/last4");
  EXPECT_FIELD_ERROR(payment_method(R"({"psp":"stripe","reference":"pm_1","brand":""})", out),
                     api_error::invalid_field, "/brand");
  EXPECT_FIELD_ERROR(payment_method(R"({"psp":"stripe","reference":"pm_1","number":"x"})", out),
                     api_error::unknown_field, "/number");
}

// --- PUT /v1/users/{id}/limits -------------------------------------------------------------------

TEST(ApiMessagesLimits, AbsentNullAndValueAreThreeDifferentThings) {
  limits_request absent;
  EXPECT_OK(limits_body("{}", absent));
  EXPECT_FALSE(absent.monthly.present);
  EXPECT_TRUE(absent.providers.empty());

  limits_request removed;
  EXPECT_OK(limits_body(R"({"monthly":null})", removed));
  EXPECT_TRUE(removed.monthly.present);
  EXPECT_FALSE(removed.monthly.value);

  limits_request set;
  EXPECT_OK(limits_body(R"({"monthly":{"amount":50000,"currency":"usd"}})", set));
  EXPECT_TRUE(set.monthly.present);
  EXPECT_EQ(set.monthly.value, (money{50000, currency::usd}));
}

TEST(ApiMessagesLimits, ProviderCaps) {
  limits_request out;
  EXPECT_OK(limits_body(R"({"providers":{"zeta":{"amount":700,"currency":"usd"},"acme":null,)"
                        R"("cloud-2":{"currency":"usd","amount":0}}})",
                        out));
  EXPECT_FALSE(out.monthly.present);
  ASSERT_EQ(out.providers.size(), 3u);
  EXPECT_EQ(out.providers[0].provider, "acme"); // sorted by slug
  EXPECT_FALSE(out.providers[0].cap);           // back to the default
  EXPECT_EQ(out.providers[1].provider, "cloud-2");
  EXPECT_EQ(out.providers[1].cap, (money{0, currency::usd}));
  EXPECT_EQ(out.providers[2].provider, "zeta");
  EXPECT_EQ(out.providers[2].cap, (money{700, currency::usd}));

  limits_request empty;
  EXPECT_OK(limits_body(R"({"providers":{}})", empty));
  EXPECT_TRUE(empty.providers.empty());
}

TEST(ApiMessagesLimits, EscapedSlugsAreReadUnescapedAndDestinationsAreReset) {
  limits_request out;
  EXPECT_OK(limits_body(R"({"monthly":null,"providers":{"\u0061cme":{"amount":5,"currency":"usd"}}})",
                        out));
  ASSERT_EQ(out.providers.size(), 1u);
  EXPECT_EQ(out.providers[0].provider, "acme");

  // Reusing a destination must not carry the previous request's members over.
  EXPECT_OK(limits_body("{}", out));
  EXPECT_FALSE(out.monthly.present);
  EXPECT_TRUE(out.providers.empty());
  charge_request charge_out;
  charge_out.resource = "res_left_over";
  charge_out.usage.emplace();
  EXPECT_OK(charge(R"({"payment_token":")" + id_of(id_kind::payment_token, 1) +
                     R"(","amount":1,"currency":"usd","description":""})",
                   charge_out));
  EXPECT_FALSE(charge_out.resource);
  EXPECT_FALSE(charge_out.usage);
}

TEST(ApiMessagesLimits, Rejects) {
  limits_request out;
  EXPECT_FIELD_ERROR(limits_body(R"({"monthly":{"amount":-5,"currency":"usd"}})", out),
                     api_error::invalid_field, "/monthly/amount");
  EXPECT_FIELD_ERROR(limits_body(R"({"monthly":{"amount":5,"currency":"xyz"}})", out),
                     api_error::unsupported_currency, "/monthly/currency");
  EXPECT_FIELD_ERROR(limits_body(R"({"monthly":5})", out), api_error::invalid_field, "/monthly");
  EXPECT_FIELD_ERROR(limits_body(R"({"providers":[]})", out), api_error::invalid_field,
                     "/providers");
  EXPECT_FIELD_ERROR(limits_body(R"({"providers":null})", out), api_error::invalid_field,
                     "/providers");
  EXPECT_FIELD_ERROR(limits_body(R"({"providers":{"Acme":null}})", out), api_error::invalid_field,
                     "/providers/Acme");
  EXPECT_FIELD_ERROR(limits_body(R"({"providers":{"a/b":null}})", out), api_error::invalid_field,
                     "/providers/a~1b");
  EXPECT_FIELD_ERROR(limits_body(R"({"providers":{"a\"b":null}})", out), api_error::invalid_field,
                     "/providers");
  EXPECT_FIELD_ERROR(limits_body(R"({"providers":{"acme":{"amount":-1,"currency":"usd"}}})", out),
                     api_error::invalid_field, "/providers/acme/amount");
  EXPECT_FIELD_ERROR(limits_body(R"({"providers":{"acme":{"amount":1,"currency":"usd","x":1}}})",
                                 out),
                     api_error::unknown_field, "/providers/acme/x");
  EXPECT_FIELD_ERROR(limits_body(R"({"providers":{"acme":{"amount":1,"currency":"GBP"}}})", out),
                     api_error::unsupported_currency, "/providers/acme/currency");
  EXPECT_FIELD_ERROR(limits_body(R"({"providers":{"acme":7}})", out), api_error::invalid_field,
                     "/providers/acme");
  EXPECT_FIELD_ERROR(limits_body(R"({"providers":{"acme":null,"acme":null}})", out),
                     api_error::invalid_field, "/providers/acme");
  EXPECT_FIELD_ERROR(limits_body(R"({"global":null})", out), api_error::unknown_field, "/global");

  std::string many = R"({"providers":{)";
  for (std::size_t i = 0; i <= limits_providers_max; ++i)
    many += (i ? ",\"p" : "\"p") + std::to_string(i) + "\":null";
  many += "}}";
  EXPECT_FIELD_ERROR(limits_body(many, out), api_error::invalid_field, "/providers");
}

// --- POST /v1/users/{id}/payment_tokens ----------------------------------------------------------

TEST(ApiMessagesPaymentToken, HappyPathAndRejects) {
  payment_token_create_request out;
  EXPECT_OK(payment_token(R"({"provider":"acme","max_amount":{"amount":2500,"currency":"usd"},)"
                          R"("expires_at":1715342400,"single_use":true})",
                          out));
  EXPECT_EQ(out.provider, "acme");
  EXPECT_EQ(out.max_amount, (money{2500, currency::usd}));
  EXPECT_EQ(out.expires_at, 1715342400);
  EXPECT_TRUE(out.single_use);

  payment_token_create_request defaults;
  EXPECT_OK(payment_token(
    R"({"provider":"acme","max_amount":{"amount":1,"currency":"jpy"},"expires_at":1})", defaults));
  EXPECT_FALSE(defaults.single_use);

  const std::string tail = R"(,"expires_at":1715342400})";
  EXPECT_FIELD_ERROR(
    payment_token(R"({"provider":"Acme","max_amount":{"amount":1,"currency":"usd"})" + tail, out),
    api_error::invalid_field, "/provider");
  EXPECT_FIELD_ERROR(
    payment_token(R"({"provider":"acme","max_amount":{"amount":0,"currency":"usd"})" + tail, out),
    api_error::invalid_field, "/max_amount/amount");
  EXPECT_FIELD_ERROR(
    payment_token(R"({"provider":"acme","max_amount":{"amount":1,"currency":"usd"}})", out),
    api_error::invalid_field, "/expires_at");
  EXPECT_FIELD_ERROR(payment_token(R"({"provider":"acme","max_amount":{"amount":1,)"
                                   R"("currency":"usd"},"expires_at":0})",
                                   out),
                     api_error::invalid_field, "/expires_at");
  EXPECT_FIELD_ERROR(payment_token(R"({"provider":"acme","max_amount":{"amount":1,)"
                                   R"("currency":"usd"},"expires_at":1,"single_use":1})",
                                   out),
                     api_error::invalid_field, "/single_use");
}

// --- POST and DELETE /v1/kill ----------------------------------------------------------------------

TEST(ApiMessagesKill, EveryScope) {
  kill_request out;
  EXPECT_OK(kill(R"({"scope":"global"})", out));
  EXPECT_EQ(out.scope, kill_scope::global);
  EXPECT_EQ(out.id, "");

  const std::string session_id = id_of(id_kind::session, 1);
  EXPECT_OK(kill(R"({"scope":"session","id":")" + session_id + "\"}", out));
  EXPECT_EQ(out.scope, kill_scope::session);
  EXPECT_EQ(out.id, session_id);

  const std::string user_id = id_of(id_kind::user, 2);
  EXPECT_OK(kill(R"({"id":")" + user_id + R"(","scope":"user"})", out));
  EXPECT_EQ(out.scope, kill_scope::user);
  EXPECT_EQ(out.id, user_id);

  EXPECT_OK(kill(R"({"scope":"provider","id":"acme"})", out));
  EXPECT_EQ(out.scope, kill_scope::provider);
  EXPECT_EQ(out.id, "acme");
}

TEST(ApiMessagesKill, Rejects) {
  kill_request out;
  EXPECT_FIELD_ERROR(kill("{}", out), api_error::invalid_field, "/scope");
  EXPECT_FIELD_ERROR(kill(R"({"scope":"everything"})", out), api_error::invalid_field, "/scope");
  EXPECT_FIELD_ERROR(kill(R"({"scope":"global","id":"acme"})", out), api_error::invalid_field,
                     "/id");
  EXPECT_FIELD_ERROR(kill(R"({"scope":"session"})", out), api_error::invalid_field, "/id");
  EXPECT_FIELD_ERROR(kill(R"({"scope":"session","id":")" + id_of(id_kind::user, 1) + "\"}", out),
                     api_error::invalid_field, "/id");
  EXPECT_FIELD_ERROR(kill(R"({"scope":"user","id":"usr_short"})", out), api_error::invalid_field,
                     "/id");
  EXPECT_FIELD_ERROR(kill(R"({"scope":"provider","id":"ACME"})", out), api_error::invalid_field,
                     "/id");
  EXPECT_FIELD_ERROR(kill(R"({"scope":"global","reason":"x"})", out), api_error::unknown_field,
                     "/reason");
}

// --- POST /v1/provider/charges ----------------------------------------------------------------------

TEST(ApiMessagesCharge, HappyPath) {
  const std::string token = id_of(id_kind::payment_token, 3);
  const std::string resource = id_of(id_kind::resource, 4);
  charge_request out;
  EXPECT_OK(charge(R"({"payment_token":")" + token +
                     R"(","amount":1299,"currency":"usd","description":"domain superseal.club",)"
                     R"("resource":")" +
                     resource + R"(","usage":{"quantity":12,"unit":"gb_month"}})",
                   out));
  EXPECT_EQ(out.payment_token, token);
  EXPECT_EQ(out.amount, (money{1299, currency::usd}));
  EXPECT_EQ(out.description, "domain superseal.club");
  EXPECT_EQ(out.resource, resource);
  ASSERT_TRUE(out.usage);
  EXPECT_EQ(out.usage->quantity, 12);
  EXPECT_EQ(out.usage->unit, "gb_month");

  charge_request minimal;
  EXPECT_OK(charge(R"({"payment_token":")" + token +
                     R"(","amount":1,"currency":"jpy","description":""})",
                   minimal));
  EXPECT_EQ(minimal.amount, (money{1, currency::jpy}));
  EXPECT_FALSE(minimal.resource);
  EXPECT_FALSE(minimal.usage);
}

TEST(ApiMessagesCharge, Rejects) {
  const std::string token = id_of(id_kind::payment_token, 3);
  const std::string head = R"({"payment_token":")" + token + "\"";
  const std::string valid_tail = R"(,"amount":100,"currency":"usd","description":"x")";
  charge_request out;
  EXPECT_FIELD_ERROR(charge(head + R"(,"amount":0,"currency":"usd","description":"x"})", out),
                     api_error::invalid_field, "/amount");
  EXPECT_FIELD_ERROR(
    charge(head + R"(,"amount":1000000000000001,"currency":"usd","description":"x"})", out),
    api_error::invalid_field, "/amount");
  EXPECT_FIELD_ERROR(charge(head + R"(,"amount":"100","currency":"usd","description":"x"})", out),
                     api_error::invalid_field, "/amount");
  EXPECT_FIELD_ERROR(charge(head + R"(,"amount":100,"currency":"USD","description":"x"})", out),
                     api_error::unsupported_currency, "/currency");
  EXPECT_FIELD_ERROR(charge(head + R"(,"amount":100,"currency":"usd"})", out),
                     api_error::invalid_field, "/description");
  EXPECT_FIELD_ERROR(charge(head + R"(,"amount":100,"currency":"usd","description":")" +
                              std::string(limits::charge_description_bytes_max + 1, 'd') + "\"}",
                            out),
                     api_error::invalid_field, "/description");
  EXPECT_FIELD_ERROR(charge(R"({"payment_token":"ptk_abc")" + valid_tail + "}", out),
                     api_error::invalid_field, "/payment_token");
  EXPECT_FIELD_ERROR(
    charge(R"({"payment_token":")" + id_of(id_kind::charge, 3) + "\"" + valid_tail + "}", out),
    api_error::invalid_field, "/payment_token");
  EXPECT_FIELD_ERROR(
    charge(head + valid_tail + R"(,"resource":")" + id_of(id_kind::session, 1) + "\"}", out),
    api_error::invalid_field, "/resource");
  EXPECT_FIELD_ERROR(charge(head + valid_tail + R"(,"usage":{"quantity":0,"unit":"gb"}})", out),
                     api_error::invalid_field, "/usage/quantity");
  EXPECT_FIELD_ERROR(charge(head + valid_tail + R"(,"usage":{"quantity":1}})", out),
                     api_error::invalid_field, "/usage/unit");
  EXPECT_FIELD_ERROR(charge(head + valid_tail + R"(,"usage":{"quantity":1,"unit":""}})", out),
                     api_error::invalid_field, "/usage/unit");
  EXPECT_FIELD_ERROR(charge(head + valid_tail + R"(,"usage":{"quantity":1,"units":"gb"}})", out),
                     api_error::unknown_field, "/usage/units");
  EXPECT_FIELD_ERROR(charge(head + valid_tail + R"(,"hold":"x"})", out), api_error::unknown_field,
                     "/hold");
}

// --- Refunds and approvals -----------------------------------------------------------------------

TEST(ApiMessagesRefund, HappyPathAndRejects) {
  refund_request out;
  EXPECT_OK(refund(R"({"amount":500})", out));
  EXPECT_EQ(out.amount, 500);
  EXPECT_FIELD_ERROR(refund("{}", out), api_error::invalid_field, "/amount");
  EXPECT_FIELD_ERROR(refund(R"({"amount":0})", out), api_error::invalid_field, "/amount");
  EXPECT_FIELD_ERROR(refund(R"({"amount":1e3})", out), api_error::invalid_field, "/amount");
  EXPECT_FIELD_ERROR(refund(R"({"amount":5,"currency":"usd"})", out), api_error::unknown_field,
                     "/currency");
}

TEST(ApiMessagesApproval, HappyPathAndRejects) {
  approval_decision_request out;
  EXPECT_OK(approval(R"({"decided_by":"ada@example.com","note":"ok for this run"})", out));
  EXPECT_EQ(out.decided_by, "ada@example.com");
  EXPECT_EQ(out.note, "ok for this run");

  approval_decision_request no_note;
  EXPECT_OK(approval(R"({"decided_by":"ada"})", no_note));
  EXPECT_EQ(no_note.note, "");

  EXPECT_FIELD_ERROR(approval(R"({"note":"x"})", out), api_error::invalid_field, "/decided_by");
  EXPECT_FIELD_ERROR(approval(R"({"decided_by":""})", out), api_error::invalid_field,
                     "/decided_by");
  EXPECT_FIELD_ERROR(approval(R"({"decided_by":"a","note":")" + std::string(1001, 'n') + "\"}",
                              out),
                     api_error::invalid_field, "/note");
  EXPECT_FIELD_ERROR(approval(R"({"decided_by":"a","approved":true})", out),
                     api_error::unknown_field, "/approved");
}

// --- Pagination ---------------------------------------------------------------------------------

TEST(ApiMessagesPagination, DefaultsAndValues) {
  page_request out;
  EXPECT_OK(parse_page_query("", id_kind::charge, out));
  EXPECT_EQ(out.limit, page_limit_default);
  EXPECT_FALSE(out.starting_after);

  const std::string charge_id = id_of(id_kind::charge, 9);
  EXPECT_OK(parse_page_query("status=pending&limit=100&starting_after=" + charge_id + "&q=a%26b",
                             id_kind::charge, out));
  EXPECT_EQ(out.limit, 100u);
  EXPECT_EQ(out.starting_after, charge_id);

  EXPECT_OK(parse_page_query("limit=1", std::nullopt, out));
  EXPECT_EQ(out.limit, 1u);
  EXPECT_FALSE(out.starting_after) << "a previous value must not leak into the result";

  // Percent-encoded names and values, and empty pairs.
  std::string escaped = charge_id;
  escaped.replace(3, 1, "%5f");
  EXPECT_OK(parse_page_query("%6cimit=%32%30&&starting_after=" + escaped + "&", id_kind::charge,
                             out));
  EXPECT_EQ(out.limit, 20u);
  EXPECT_EQ(out.starting_after, charge_id);

  EXPECT_OK(parse_page_query("starting_after=" + id_of(id_kind::user, 1), std::nullopt, out));
  EXPECT_EQ(out.limit, page_limit_default);
}

TEST(ApiMessagesPagination, Rejects) {
  page_request out;
  for (std::string_view bad : {"limit=0", "limit=101", "limit=", "limit", "limit=abc",
                               "limit=1.5", "limit=+5", "limit=-1", "limit=%2B5",
                               "limit=99999999999999999999999", "limit=5&limit=6", "limit=%4"})
    EXPECT_FIELD_ERROR(parse_page_query(bad, std::nullopt, out), api_error::invalid_field,
                       "/limit");
  const std::string charge_id = id_of(id_kind::charge, 9);
  for (const std::string& bad :
       {std::string("starting_after="), std::string("starting_after=chg_123"),
        "starting_after=" + id_of(id_kind::refund, 9),
        "starting_after=" + charge_id + "&starting_after=" + charge_id})
    EXPECT_FIELD_ERROR(parse_page_query(bad, id_kind::charge, out), api_error::invalid_field,
                       "/starting_after");
  EXPECT_FIELD_ERROR(parse_page_query("li%zzmit=5", std::nullopt, out), api_error::invalid_field,
                     "");
  std::string many;
  for (std::size_t i = 0; i <= query_parameters_max; ++i) many += "a=1&";
  EXPECT_FIELD_ERROR(parse_page_query(many, std::nullopt, out), api_error::invalid_field, "");
  EXPECT_FIELD_ERROR(parse_page_query("q=" + std::string(query_bytes_max, 'x'), std::nullopt, out),
                     api_error::invalid_field, "");
}

TEST(ApiMessagesPagination, PercentDecode) {
  std::string out;
  EXPECT_TRUE(percent_decode("a%20b+c%2Bd%2f", out, true));
  EXPECT_EQ(out, "a b c+d/");
  EXPECT_TRUE(percent_decode("a+b", out, false));
  EXPECT_EQ(out, "a+b");
  EXPECT_FALSE(percent_decode("%", out, true));
  EXPECT_FALSE(percent_decode("%2", out, true));
  EXPECT_FALSE(percent_decode("%g0", out, true));
}

// --- Responses ----------------------------------------------------------------------------------

template <class Write>
std::string render(Write&& write) {
  std::string out;
  json_writer w(out);
  write(w);
  EXPECT_TRUE(w.complete());
  return out;
}

TEST(ApiMessagesResponses, User) {
  user_view user{id_of(id_kind::user, 1), "auth0|42", "ada@example.com", true, "Ada", 1715342400};
  EXPECT_EQ(render([&](json_writer& w) { write_user(w, user); }),
            R"({"id":"usr_0000000000000000000001","object":"user","platform_ref":"auth0|42",)"
            R"("email":"ada@example.com","email_verified":true,"name":"Ada","created":1715342400})");
  user.name.reset();
  EXPECT_EQ(render([&](json_writer& w) { write_user(w, user); }),
            R"({"id":"usr_0000000000000000000001","object":"user","platform_ref":"auth0|42",)"
            R"("email":"ada@example.com","email_verified":true,"name":null,"created":1715342400})");
}

TEST(ApiMessagesResponses, SessionCarriesItsTokenOnlyWhenGiven) {
  session_view session;
  session.id = id_of(id_kind::session, 2);
  session.user = id_of(id_kind::user, 1);
  session.label = "ci";
  session.intent_domains = {"superseal.club"};
  session.budget.run_budget = {5000, currency::usd};
  session.budget.spent = 1200;
  session.budget.held = 300;
  session.budget.expires_at = 1715346000;
  session.created = 1715342400;
  const std::string without =
    R"({"id":"ses_0000000000000000000002","object":"session","user":"usr_0000000000000000000001",)"
    R"("label":"ci","budget":{"limit":{"amount":5000,"currency":"usd"},)"
    R"("spent":{"amount":1200,"currency":"usd"},"held":{"amount":300,"currency":"usd"}},)"
    R"("intents":{"domains":["superseal.club"]},"killed":false,"expires_at":1715346000,)"
    R"("created":1715342400})";
  EXPECT_EQ(render([&](json_writer& w) { write_session(w, session); }), without);
  std::string with = without;
  with.insert(with.size() - 1, R"(,"token":"sst_secret")");
  EXPECT_EQ(render([&](json_writer& w) { write_session(w, session, "sst_secret"); }), with);
}

TEST(ApiMessagesResponses, PaymentToken) {
  token_state token;
  token.provider = "acme";
  token.max_amount = {2500, currency::eur};
  token.expires_at = 1715428800;
  token.single_use = true;
  token.used = 1000;
  token.held = 500;
  const std::string id = id_of(id_kind::payment_token, 3);
  EXPECT_EQ(render([&](json_writer& w) { write_payment_token(w, id, token); }),
            R"({"id":"ptk_0000000000000000000003","object":"payment_token","provider":"acme",)"
            R"("session":null,"max_amount":{"amount":2500,"currency":"eur"},)"
            R"("used":{"amount":1000,"currency":"eur"},"held":{"amount":500,"currency":"eur"},)"
            R"("expires_at":1715428800,"single_use":true,"revoked":false})");
  token.session = id_of(id_kind::session, 2);
  EXPECT_NE(render([&](json_writer& w) { write_payment_token(w, id, token); })
              .find(R"("session":"ses_0000000000000000000002")"),
            std::string::npos);
}

TEST(ApiMessagesResponses, ChargeAndRefund) {
  charge_view view{id_of(id_kind::charge, 4),       {1299, currency::usd}, 0,
                   id_of(id_kind::payment_token, 3), "acme",                "plan",
                   std::nullopt,                     1715342400};
  const std::string expected =
    R"({"id":"chg_0000000000000000000004","object":"charge","status":"succeeded","amount":1299,)"
    R"("currency":"usd","payment_token":"ptk_0000000000000000000003","provider":"acme",)"
    R"("description":"plan","created":1715342400,"amount_refunded":0})";
  EXPECT_EQ(render([&](json_writer& w) { write_charge(w, view); }), expected);
  view.resource = id_of(id_kind::resource, 5);
  view.amount_refunded = 299;
  EXPECT_EQ(render([&](json_writer& w) { write_charge(w, view); }),
            R"({"id":"chg_0000000000000000000004","object":"charge","status":"succeeded",)"
            R"("amount":1299,"currency":"usd","payment_token":"ptk_0000000000000000000003",)"
            R"("provider":"acme","description":"plan","created":1715342400,"amount_refunded":299,)"
            R"("resource":"res_0000000000000000000005"})");

  refund_created refund{id_of(id_kind::refund, 6), id_of(id_kind::charge, 4), {299, currency::usd},
                        1715342500};
  EXPECT_EQ(render([&](json_writer& w) { write_refund(w, refund); }),
            R"({"id":"rfd_0000000000000000000006","object":"refund","status":"succeeded",)"
            R"("charge":"chg_0000000000000000000004","amount":299,"currency":"usd",)"
            R"("created":1715342500})");
}

constexpr std::int64_t may_10_2024 = 1715342400;

ledger_state sample_ledger() {
  ledger_state ledger;
  ledger.month = month_index(may_10_2024);
  ledger.global_cap = 50000;
  ledger.global_spent = 1500;
  ledger.global_held = 200;
  ledger.providers["acme"] = provider_state{std::nullopt, 1500, 200};
  ledger.providers["zeta"] = provider_state{money{3000, currency::usd}, 0, 0};
  ledger.holds[id_of(id_kind::hold, 7)] =
    hold_state{"acme", id_of(id_kind::session, 2), std::nullopt, 200, may_10_2024 + 600};
  return ledger;
}

TEST(ApiMessagesResponses, Spend) {
  ledger_state ledger = sample_ledger();
  EXPECT_EQ(render([&](json_writer& w) { write_spend(w, ledger, may_10_2024); }),
            R"({"object":"spend","month":"2024-05","currency":"usd",)"
            R"("total":{"spent":{"amount":1500,"currency":"usd"},)"
            R"("held":{"amount":200,"currency":"usd"},"cap":{"amount":50000,"currency":"usd"}},)"
            R"("provider_cap_default":{"amount":10000,"currency":"usd"},)"
            R"("providers":[{"provider":"acme","spent":{"amount":1500,"currency":"usd"},)"
            R"("held":{"amount":200,"currency":"usd"},"cap":{"amount":10000,"currency":"usd"}},)"
            R"({"provider":"zeta","spent":{"amount":0,"currency":"usd"},)"
            R"("held":{"amount":0,"currency":"usd"},"cap":{"amount":3000,"currency":"usd"}}],)"
            R"("holds":[{"id":"hld_0000000000000000000007","provider":"acme",)"
            R"("session":"ses_0000000000000000000002","token":null,)"
            R"("amount":{"amount":200,"currency":"usd"},"expires_at":1715343000}]})");
}

TEST(ApiMessagesResponses, SpendOfAMonthWithoutEventsYetIsZero) {
  ledger_state ledger = sample_ledger();
  ledger.global_cap.reset();
  constexpr std::int64_t june_1_2024 = 1717200000;
  std::string body = render([&](json_writer& w) { write_spend(w, ledger, june_1_2024); });
  EXPECT_NE(body.find(R"("month":"2024-06")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("total":{"spent":{"amount":0,"currency":"usd"},)"
                      R"("held":{"amount":200,"currency":"usd"},"cap":null})"),
            std::string::npos)
    << body;
  EXPECT_NE(body.find(R"({"provider":"acme","spent":{"amount":0,"currency":"usd"},)"
                      R"("held":{"amount":200,"currency":"usd"})"),
            std::string::npos)
    << body;

  ledger_state empty;
  std::string first = render([&](json_writer& w) { write_spend(w, empty, 0); });
  EXPECT_NE(first.find(R"("month":"1970-01")"), std::string::npos) << first;
  EXPECT_NE(first.find(R"("providers":[],"holds":[])"), std::string::npos) << first;
}

TEST(ApiMessagesResponses, KillAndList) {
  EXPECT_EQ(render([](json_writer& w) { write_kill(w, {kill_scope::global, "", true, 100}); }),
            R"({"object":"kill","scope":"global","id":null,"active":true,"created":100})");
  EXPECT_EQ(render([](json_writer& w) {
              write_kill(w, {kill_scope::provider, "acme", false, 100});
            }),
            R"({"object":"kill","scope":"provider","id":"acme","active":false,"created":100})");

  std::vector<kill_view> kills{{kill_scope::user, id_of(id_kind::user, 1), true, 5},
                               {kill_scope::global, "", true, 6}};
  EXPECT_EQ(render([&](json_writer& w) {
              write_list(w, kills, true,
                         [](json_writer& out, const kill_view& kill) { write_kill(out, kill); });
            }),
            R"({"object":"list","data":[{"object":"kill","scope":"user",)"
            R"("id":"usr_0000000000000000000001","active":true,"created":5},)"
            R"({"object":"kill","scope":"global","id":null,"active":true,"created":6}],)"
            R"("has_more":true})");
  std::vector<int> none;
  EXPECT_EQ(render([&](json_writer& w) {
              write_list(w, none, false, [](json_writer& out, int n) { out.int64(n); });
            }),
            R"({"object":"list","data":[],"has_more":false})");
}

TEST(ApiMessagesResponses, BudgetExceededProblem) {
  problem body = budget_exceeded_problem(budget_scope::session, "the run budget has 120 usd left");
  EXPECT_EQ(body.status(), 402);
  EXPECT_EQ(std::move(body).body(),
            R"({"type":"urn:steward:problem:budget_exceeded","title":"Budget exceeded",)"
            R"("status":402,"detail":"the run budget has 120 usd left","code":"budget_exceeded",)"
            R"("scope":"session"})");

  decline refused{api_error::budget_exceeded, budget_scope::provider_monthly, "cap reached"};
  std::string declined = decline_problem(refused).body();
  EXPECT_NE(declined.find(R"("scope":"provider_monthly"})"), std::string::npos) << declined;
  decline revoked{api_error::token_revoked, std::nullopt, "revoked"};
  std::string no_scope = decline_problem(revoked).body();
  EXPECT_EQ(no_scope.find("scope"), std::string::npos) << no_scope;
  EXPECT_NE(no_scope.find(R"("code":"token_revoked")"), std::string::npos) << no_scope;
}

TEST(QueryNumber, ReadsOneDecimalParameterAndRefusesEverythingElse) {
  EXPECT_EQ(query_number("", "limit", 10, 100), 10u) << "absent: the fallback";
  EXPECT_EQ(query_number("starting_after=5", "limit", 10, 100), 10u);
  EXPECT_EQ(query_number("limit=100", "limit", 10, 100), 100u);
  EXPECT_EQ(query_number("a=1&limit=0&b", "limit", 10, 100), 0u) << "0 is the route's to refuse";
  EXPECT_EQ(query_number("starting_after=18446744073709551615", "starting_after", 0,
                         std::numeric_limits<std::uint64_t>::max()),
            std::numeric_limits<std::uint64_t>::max());
  for (std::string_view bad : {"limit=101", "limit=", "limit", "limit=1&limit=1", "limit=-1",
                               "limit=+1", "limit=1x", "limit=%31", "limit= 1",
                               "limit=18446744073709551616"})
    EXPECT_FALSE(query_number(bad, "limit", 10, 100)) << bad;
  EXPECT_EQ(query_number("limits=7&xlimit=8", "limit", 10, 100), 10u) << "only the exact name";
}

} // namespace
} // namespace steward::core
