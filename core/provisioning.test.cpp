#include "core/provisioning.hpp"

#include "core/ids.hpp"

#include <gtest/gtest.h>

namespace steward::core {
namespace {

constexpr std::int64_t now = 1'800'000'000;

std::string id_of(id_kind kind, char fill) {
  return std::string(prefix(kind)) + std::string(id_random_chars - 1, '0') + fill;
}

const std::string session = id_of(id_kind::session, '1');

std::string catalog_json() {
  return R"({"services":[)"
         R"({"id":"registrar:domain","name":"Domains","kind":"plan","durable":true,)"
         R"("categories":["domains"],"configuration_schema":{"type":"object","required":["name"],)"
         R"("properties":{"name":{"type":"string","pattern":"^[a-z0-9.-]+$"}},"additionalProperties":false},)"
         R"("pricing":{"type":"fixed","amount":1200,"currency":"usd","interval":"one_time"}},)"
         R"({"id":"hosting:pro","name":"Pro","kind":"plan","durable":false,)"
         R"("configuration_schema":{"type":"object"},)"
         R"("pricing":{"type":"fixed","amount":2000,"currency":"usd","interval":"month"}},)"
         R"({"id":"kv:free","name":"KV","kind":"plan","durable":false,)"
         R"("configuration_schema":{"type":"object","properties":{"region":{"enum":["eu"]}}},)"
         R"("pricing":{"type":"free"}}],)"
         R"("terms":{"url":"https://ref.example/terms","version":"v2"}})";
}

class Preflight : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(parse_provider_catalog("ref", catalog_json(), catalog));
    apply(user_upserted{"ref-1", "ada@example.com", true, std::nullopt, now - 100});
    apply(session_opened{session, money{5000, currency::usd}, now + 3600, "run",
                         {"superseal.club"}, now - 50});
  }

  void apply(ledger_event event) { apply_event(ledger, event); }

  void accept_terms(std::string version = "v2") {
    apply(terms_accepted{"ref", std::move(version), "ada", now - 10});
  }
  void add_payment_method() {
    apply(payment_method_set{"stripe", "pm_123", std::nullopt, std::nullopt, now - 10});
  }
  void approve(std::string value, std::string service = "registrar:domain", char fill = '1') {
    auto id = id_of(id_kind::approval, fill);
    apply(approval_opened{id, approval_kind::purchase_confirmation, session, "ref", service,
                          std::move(value), money{1200, currency::usd}, "buy?", std::nullopt,
                          now + 600, now - 5});
    apply(approval_decided{id, true, "ada", std::nullopt, now - 4});
  }

  preflight_result run(std::string_view service_id, std::string body, kills_in_force kills = {}) {
    provision_request request;
    auto error = decode_provision_request(body, request);
    EXPECT_FALSE(error) << error.detail;
    return run_preflight(ledger, session, catalog, *catalog.find(service_id), request, now,
                         limits::purchase_confirmation_above_default, kills);
  }

  provider_catalog catalog;
  ledger_state ledger;
};

TEST_F(Preflight, AFreeServicePassesEveryCheck) {
  accept_terms();
  auto result = run("kv:free", R"({"service":"ref/kv:free","config":{"region":"eu"}})");
  EXPECT_TRUE(result.passed());
  EXPECT_FALSE(result.hold_amount);
  std::vector<std::string_view> names;
  for (const auto& check : result.checks) {
    names.push_back(check.check);
    EXPECT_TRUE(check.pass) << check.check << ": " << check.detail;
  }
  EXPECT_EQ(names, (std::vector<std::string_view>{"session", "config", "terms", "billing",
                                                  "budget", "account"}));
}

TEST_F(Preflight, GatesOpenInOrderTermsThenBillingThenConfirmation) {
  auto first = run("registrar:domain",
                   R"({"service":"ref/registrar:domain","config":{"name":"superseal.club"}})");
  ASSERT_TRUE(first.gate);
  EXPECT_EQ(first.gate->kind, approval_kind::tos_acceptance);
  // The failed check names the gate it opens, and no error code.
  EXPECT_EQ(first.checks[2].gate, approval_kind::tos_acceptance);
  EXPECT_FALSE(first.checks[2].code);
  EXPECT_EQ(first.gate->url, "https://ref.example/terms");
  EXPECT_FALSE(first.refusal);

  accept_terms();
  auto second = run("registrar:domain",
                    R"({"service":"ref/registrar:domain","config":{"name":"superseal.club"}})");
  ASSERT_TRUE(second.gate);
  EXPECT_EQ(second.gate->kind, approval_kind::billing_setup);

  add_payment_method();
  auto third = run("registrar:domain",
                   R"({"service":"ref/registrar:domain","config":{"name":"superseal.club"}})");
  ASSERT_TRUE(third.gate);
  EXPECT_EQ(third.gate->kind, approval_kind::purchase_confirmation);
  EXPECT_EQ(third.gate->value, "superseal.club");
  EXPECT_EQ(third.gate->amount, (money{1200, currency::usd}));
  EXPECT_EQ(third.value, "superseal.club");

  approve("superseal.club");
  auto ready = run("registrar:domain",
                   R"({"service":"ref/registrar:domain","config":{"name":"superseal.club"}})");
  EXPECT_TRUE(ready.passed()) << (ready.refusal ? ready.refusal->detail : "gate");
  EXPECT_EQ(ready.approval, id_of(id_kind::approval, '1'));
  EXPECT_EQ(ready.hold_amount, (money{1200, currency::usd}));
}

TEST_F(Preflight, TermsOfAnOlderVersionOpenTheGateAgain) {
  accept_terms("v1");
  auto result = run("kv:free", R"({"service":"ref/kv:free"})");
  ASSERT_TRUE(result.gate);
  EXPECT_EQ(result.gate->kind, approval_kind::tos_acceptance);
  EXPECT_NE(result.checks[2].detail.find("version v1"), std::string::npos);
}

TEST_F(Preflight, ALookalikeOfTheIntentIsRefusedNamingTheIntendedValue) {
  accept_terms();
  add_payment_method();
  auto result = run("registrar:domain",
                    R"({"service":"ref/registrar:domain","config":{"name":"superseal.cc"}})");
  ASSERT_TRUE(result.refusal);
  EXPECT_EQ(result.refusal->code, api_error::intent_mismatch);
  EXPECT_EQ(result.expected, "superseal.club");
  EXPECT_FALSE(result.gate); // no human is asked to approve a lookalike
  EXPECT_FALSE(result.hold_amount);
  // An approval of the intended value does not buy the lookalike either.
  approve("superseal.club");
  auto again = run("registrar:domain",
                   R"({"service":"ref/registrar:domain","config":{"name":"superseal.cc"}})");
  ASSERT_TRUE(again.refusal);
  EXPECT_EQ(again.refusal->code, api_error::intent_mismatch);
}

TEST_F(Preflight, AnApprovalIsForItsExactValueServiceAndSession) {
  accept_terms();
  add_payment_method();
  approve("other-name.dev");
  auto result = run("registrar:domain",
                    R"({"service":"ref/registrar:domain","config":{"name":"unrelated.dev"}})");
  ASSERT_TRUE(result.gate);
  EXPECT_EQ(result.gate->kind, approval_kind::purchase_confirmation);
  EXPECT_EQ(result.gate->value, "unrelated.dev");
  // The request's `name` names the same domain as config.name, in any spelling.
  approve("unrelated.dev", "registrar:domain", '2');
  auto named = run("registrar:domain",
                   R"({"service":"ref/registrar:domain","name":"Unrelated.DEV","config":{"name":"unrelated.dev"}})");
  EXPECT_TRUE(named.passed());
  EXPECT_EQ(named.value, "unrelated.dev");
}

TEST_F(Preflight, ConfigAndBudgetRefusals) {
  accept_terms();
  add_payment_method();
  auto bad = run("registrar:domain",
                 R"({"service":"ref/registrar:domain","config":{"name":"superseal.club","x":1}})");
  ASSERT_TRUE(bad.refusal);
  EXPECT_EQ(bad.refusal->code, api_error::config_invalid);

  auto capped = run("hosting:pro",
                    R"({"service":"ref/hosting:pro","max_amount":{"amount":1999,"currency":"usd"}})");
  ASSERT_TRUE(capped.refusal);
  EXPECT_EQ(capped.refusal->code, api_error::budget_exceeded);
  EXPECT_EQ(capped.refusal->scope, budget_scope::token);

  apply(session_budget_set{session, money{1999, currency::usd}, now - 1});
  auto over = run("hosting:pro", R"({"service":"ref/hosting:pro"})");
  ASSERT_TRUE(over.refusal);
  EXPECT_EQ(over.refusal->code, api_error::budget_exceeded);
  EXPECT_EQ(over.refusal->scope, budget_scope::session);
  apply(session_budget_set{session, money{2000, currency::usd}, now - 1});
  EXPECT_TRUE(run("hosting:pro", R"({"service":"ref/hosting:pro"})").passed());
}

TEST_F(Preflight, KilledOrExpiredSessionsGoNoFurther) {
  apply(kill_set{true, session, true, now - 1});
  auto killed = run("kv:free", R"({"service":"ref/kv:free"})");
  ASSERT_TRUE(killed.refusal);
  EXPECT_EQ(killed.refusal->code, api_error::killed);
  EXPECT_EQ(killed.checks.size(), 1u);
}

TEST_F(Preflight, KillsTheLedgerDoesNotShowYetRefuseAlike) {
  auto open = run("kv:free", R"({"service":"ref/kv:free"})");
  ASSERT_FALSE(open.checks.empty());
  EXPECT_TRUE(open.checks[0].pass) << "no kill: the session check passes";
  auto user = run("kv:free", R"({"service":"ref/kv:free"})", {true, false});
  ASSERT_TRUE(user.refusal);
  EXPECT_EQ(user.refusal->code, api_error::killed);
  EXPECT_EQ(user.refusal->detail, "the user's kill switch is on");
  EXPECT_EQ(user.checks.size(), 1u);
  auto session_only = run("kv:free", R"({"service":"ref/kv:free"})", {false, true});
  ASSERT_TRUE(session_only.refusal);
  EXPECT_EQ(session_only.refusal->code, api_error::killed);
  EXPECT_EQ(session_only.refusal->detail, "the session's kill switch is on");
}

TEST(ProvisionRequest, DecodesStrictly) {
  provision_request request;
  ASSERT_FALSE(decode_provision_request(
    R"({"service":"ref/kv:free","name":"n","config":{"a":[1]},"max_amount":{"amount":5,"currency":"usd"},"dry_run":true})",
    request));
  EXPECT_EQ(request.service, "ref/kv:free");
  EXPECT_EQ(request.config.text, R"({"a":[1]})");
  EXPECT_EQ(request.max_amount, (money{5, currency::usd}));
  EXPECT_TRUE(request.dry_run);
  ASSERT_FALSE(decode_provision_request(R"({"service":"ref/kv:free"})", request));
  EXPECT_EQ(request.config.text, "{}");
  EXPECT_EQ(decode_provision_request(R"({"service":"ref/kv:free","extra":1})", request).code,
            api_error::unknown_field);
  EXPECT_EQ(decode_provision_request(R"({"service":"kv:free"})", request).pointer, "/service");
  EXPECT_EQ(decode_provision_request(R"({"service":"ref/kv:free","config":[1]})", request).pointer,
            "/config");
  EXPECT_EQ(decode_provision_request(
              R"({"service":"ref/kv:free","max_amount":{"amount":5,"currency":"xxx"}})", request)
              .code,
            api_error::unsupported_currency);
}

TEST_F(Preflight, DryRunAnswerListsEveryCheck) {
  auto result = run("kv:free", R"({"service":"ref/kv:free"})");
  std::string out;
  json_writer w(out);
  write_preflight(w, "ref/kv:free", result);
  EXPECT_NE(out.find(R"("pass":false,"checks":[)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"({"check":"terms","pass":false,"code":"tos_acceptance")"), std::string::npos)
    << out;
}

} // namespace
} // namespace steward::core

namespace steward::core {
namespace {

TEST(ApprovalStatusText, RoundTripsEveryStatusAndRefusesOthers) {
  for (auto status : {approval_status::pending, approval_status::approved, approval_status::denied,
                      approval_status::expired, approval_status::used})
    EXPECT_EQ(parse_approval_status(to_string(status)), status);
  EXPECT_FALSE(parse_approval_status("maybe"));
  EXPECT_FALSE(parse_approval_status("Pending"));
}

} // namespace
} // namespace steward::core

namespace steward::core {
namespace {

class Purchase : public Preflight {
protected:
  std::variant<purchase_plan, decline> plan(std::string_view service_id, std::string body,
                                            const preflight_result& checked) {
    provision_request request;
    EXPECT_FALSE(decode_provision_request(body, request));
    purchase_ids ids{id_of(id_kind::resource, '7'), id_of(id_kind::payment_token, '7'),
                     id_of(id_kind::hold, '7')};
    return plan_purchase(ledger, session, catalog, *catalog.find(service_id), request, checked,
                         ids, now);
  }
};

TEST_F(Purchase, ADomainGetsAScopedTokenAHoldAndUsesItsApproval) {
  accept_terms();
  add_payment_method();
  approve("superseal.club");
  const std::string body = R"({"service":"ref/registrar:domain","config":{"name":"superseal.club"}})";
  auto checked = run("registrar:domain", body);
  ASSERT_TRUE(checked.passed());
  auto planned = plan("registrar:domain", body, checked);
  ASSERT_TRUE(std::holds_alternative<purchase_plan>(planned));
  auto& made = std::get<purchase_plan>(planned);
  std::vector<std::string_view> types;
  for (const auto& event : made.events)
    types.push_back(event_type(event));
  EXPECT_EQ(types, (std::vector<std::string_view>{"token.created", "hold.placed",
                                                  "resource.requested", "approval.used"}));
  const auto& token = std::get<token_created>(made.events[0]);
  EXPECT_EQ(token.provider, "ref");
  EXPECT_EQ(token.session, session);
  EXPECT_EQ(token.max_amount, (money{1200, currency::usd}));
  EXPECT_TRUE(token.single_use);
  EXPECT_EQ(token.expires_at, now + limits::purchase_hold_seconds);
  const auto& hold = std::get<hold_placed>(made.events[1]);
  EXPECT_EQ(hold.token, token.id);
  EXPECT_EQ(hold.amount, (money{1200, currency::usd}));
  EXPECT_EQ(made.provider_key, "steward-" + id_of(id_kind::resource, '7'));
  EXPECT_EQ(made.order,
            R"({"service":"registrar:domain","name":"superseal.club","config":{"name":"superseal.club"},)"
            R"("payment_token":{"id":")" + token.id +
              R"(","max_amount":1200,"currency":"usd","expires_at":)" +
              std::to_string(now + limits::purchase_hold_seconds) + "}}");
  // The plan was decided on a copy: the ledger is unchanged until the actor applies it.
  EXPECT_TRUE(ledger.tokens.empty());
  EXPECT_TRUE(ledger.holds.empty());
}

TEST_F(Purchase, AFreeServiceGetsNeitherTokenNorHold) {
  accept_terms();
  const std::string body = R"({"service":"ref/kv:free"})";
  auto checked = run("kv:free", body);
  ASSERT_TRUE(checked.passed());
  auto planned = plan("kv:free", body, checked);
  ASSERT_TRUE(std::holds_alternative<purchase_plan>(planned));
  auto& made = std::get<purchase_plan>(planned);
  ASSERT_EQ(made.events.size(), 1u);
  EXPECT_EQ(event_type(made.events[0]), "resource.requested");
  EXPECT_FALSE(made.token);
  EXPECT_EQ(made.order, R"({"service":"kv:free","name":"","config":{}})");
}

TEST_F(Purchase, ABudgetThatMovedSinceTheChecksDeclinesAndChangesNothing) {
  accept_terms();
  add_payment_method();
  const std::string body = R"({"service":"ref/hosting:pro"})";
  auto checked = run("hosting:pro", body);
  ASSERT_TRUE(checked.passed());
  // Another purchase of the session took most of its budget meanwhile.
  apply(hold_placed{id_of(id_kind::hold, '1'), "ref", session, std::nullopt,
                    money{4000, currency::usd}, now + 60, now});
  auto planned = plan("hosting:pro", body, checked);
  ASSERT_TRUE(std::holds_alternative<decline>(planned));
  EXPECT_EQ(std::get<decline>(planned).code, api_error::budget_exceeded);
  EXPECT_EQ(std::get<decline>(planned).scope, budget_scope::session);
  EXPECT_TRUE(ledger.tokens.empty());
}

TEST_F(Purchase, ANameGivenTwiceMustBeTheSameName) {
  accept_terms();
  add_payment_method();
  auto differ = run("registrar:domain",
                    R"({"service":"ref/registrar:domain","name":"superseal.club",)"
                    R"("config":{"name":"superseal.cc"}})");
  ASSERT_TRUE(differ.refusal);
  EXPECT_EQ(differ.refusal->code, api_error::config_invalid);
  auto same = run("registrar:domain",
                  R"({"service":"ref/registrar:domain","name":"SuperSeal.Club.",)"
                  R"("config":{"name":"superseal.club"}})");
  EXPECT_FALSE(same.refusal) << same.refusal->detail;
}

} // namespace
} // namespace steward::core
