#include "core/ledger.hpp"

#include "core/api_messages.hpp"
#include "core/ids.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace steward::core {
namespace {

// 2024-05-10T12:00:00Z, as in ledger.test.cpp.
constexpr std::int64_t t0 = 1715342400;
constexpr std::int64_t day = 86400;
constexpr money usd(std::int64_t amount) { return {amount, currency::usd}; }

std::string make_test_id(id_kind kind, std::uint64_t n) {
  id_bits bits{};
  for (int i = 0; i < 8; ++i) bits[15 - i] = static_cast<std::uint8_t>(n >> (8 * i));
  return format_id(kind, bits);
}

class ProvisioningTest : public ::testing::Test {
protected:
  void SetUp() override {
    upsert_user_command user;
    user.platform_ref = "auth0|42";
    user.email = "ada@example.com";
    take(decide_upsert_user(state_, user, t0));
  }

  accepted take(decision d) {
    if (auto* refused = std::get_if<decline>(&d)) {
      ADD_FAILURE() << "declined: " << info(refused->code).code << " " << refused->detail;
      return accepted{};
    }
    auto& ok = std::get<accepted>(d);
    apply_event(state_, ok.event);
    journal_.push_back(ok.event);
    auto violation = check_invariants(state_);
    EXPECT_FALSE(violation) << *violation;
    return ok;
  }

  decline refused(decision d) {
    auto* r = std::get_if<decline>(&d);
    if (r == nullptr) {
      ADD_FAILURE() << "accepted: " << event_type(std::get<accepted>(d).event);
      return decline{};
    }
    return *r;
  }

  std::string next(id_kind kind) { return make_test_id(kind, ++counter_); }

  std::string session(std::int64_t now = t0) {
    std::string id = next(id_kind::session);
    take(decide_open_session(state_, {id, usd(5000), now + day}, now));
    return id;
  }

  open_approval_command approval_command(std::optional<std::string> session_id = {},
                                         std::string value = "superseal.club") {
    open_approval_command command;
    command.id = next(id_kind::approval);
    command.kind = approval_kind::purchase_confirmation;
    command.session = std::move(session_id);
    command.provider = "cloudflare";
    command.service = "registrar:domain";
    command.value = std::move(value);
    command.amount = usd(1299);
    command.message = "Buy superseal.club for $12.99?";
    command.url = "https://platform.example/approvals";
    command.expires_at = t0 + 3600;
    return command;
  }

  std::string open(open_approval_command command, std::int64_t now = t0) {
    take(decide_open_approval(state_, command, now));
    return command.id;
  }

  void approve(const std::string& id, std::int64_t now = t0 + 60) {
    take(decide_decide_approval(state_, {id, true, "ada@example.com", "ok"}, now));
  }

  request_resource_command resource_command(std::optional<std::string> session_id = {}) {
    request_resource_command command;
    command.id = next(id_kind::resource);
    command.provider = "cloudflare";
    command.service = "registrar:domain";
    command.name = "superseal.club";
    command.session = std::move(session_id);
    command.provider_key = "key-" + command.id;
    return command;
  }

  std::string resource(std::optional<std::string> session_id = {}, std::int64_t now = t0) {
    request_resource_command command = resource_command(std::move(session_id));
    take(decide_request_resource(state_, command, now));
    return command.id;
  }

  void update(const std::string& id, resource_status status, std::int64_t now) {
    take(decide_update_resource(state_, {id, status}, now));
  }

  void expect_replay_and_snapshot_match() {
    ledger_state replayed;
    for (const auto& e : journal_) {
      // Every event also survives its journal form.
      std::string json;
      encode_event(e, json);
      ledger_event decoded;
      json_error error = decode_event(json, decoded);
      ASSERT_FALSE(error) << json << ": " << error.pointer << " " << error.detail;
      EXPECT_EQ(decoded, e) << json;
      apply_event(replayed, decoded);
    }
    EXPECT_EQ(replayed, state_);
    std::string snapshot;
    encode_snapshot(state_, snapshot);
    ledger_state decoded;
    json_error error = decode_snapshot(snapshot, decoded);
    ASSERT_FALSE(error) << error.pointer << " " << error.detail;
    EXPECT_EQ(decoded, state_);
  }

  ledger_state state_;
  std::vector<ledger_event> journal_;
  std::uint64_t counter_ = 0;
};

// --- Text ----------------------------------------------------------------------------------------

TEST(ProvisioningText, AcceptsUtf8WithoutControlsOnly) {
  EXPECT_TRUE(is_provisioning_text(""));
  EXPECT_TRUE(is_provisioning_text("Zoë asked: \"buy it\" \\ 日本 😀"));
  EXPECT_FALSE(is_provisioning_text("two\nlines"));
  EXPECT_FALSE(is_provisioning_text("tab\there"));
  EXPECT_FALSE(is_provisioning_text("del\x7f"));
  EXPECT_FALSE(is_provisioning_text("c1 \xc2\x85"));         // U+0085, a C1 control
  EXPECT_TRUE(is_provisioning_text("nbsp \xc2\xa0"));        // U+00A0, the first after C1
  EXPECT_FALSE(is_provisioning_text("ls \xe2\x80\xa8"));     // U+2028
  EXPECT_FALSE(is_provisioning_text("ps \xe2\x80\xa9"));     // U+2029
  EXPECT_FALSE(is_provisioning_text("overlong \xc0\xaf"));   // '/' in two bytes
  EXPECT_FALSE(is_provisioning_text("overlong \xe0\x80\xaf"));
  EXPECT_FALSE(is_provisioning_text("surrogate \xed\xa0\x80"));
  EXPECT_FALSE(is_provisioning_text("cut \xe2\x82"));
  EXPECT_FALSE(is_provisioning_text("too big \xf4\x90\x80\x80"));
  EXPECT_TRUE(is_provisioning_text("max \xf4\x8f\xbf\xbf"));  // U+10FFFF
  EXPECT_FALSE(is_provisioning_text(std::string("nul\0", 4)));
}

// --- Terms ---------------------------------------------------------------------------------------

TEST_F(ProvisioningTest, TermsNeedAUserAndWellFormedMembers) {
  ledger_state nobody;
  EXPECT_EQ(refused(decide_accept_terms(nobody, {"acme", "2024-05", "ada"}, t0)).code,
            api_error::not_found);

  auto code_of = [&](accept_terms_command command) {
    return refused(decide_accept_terms(state_, command, t0)).code;
  };
  EXPECT_EQ(code_of({"Acme", "2024-05", "ada"}), api_error::invalid_field);
  EXPECT_EQ(code_of({"acme", "", "ada"}), api_error::invalid_field);
  EXPECT_EQ(code_of({"acme", "v 1", "ada"}), api_error::invalid_field);
  EXPECT_EQ(code_of({"acme", std::string(65, 'v'), "ada"}), api_error::invalid_field);
  EXPECT_EQ(code_of({"acme", "v1", ""}), api_error::invalid_field);
  EXPECT_EQ(code_of({"acme", "v1", std::string(201, 'a')}), api_error::invalid_field);
  decline bad_person = refused(decide_accept_terms(state_, {"acme", "v1", "ada\nbob"}, t0));
  EXPECT_EQ(bad_person.detail,
            "accepted_by must be 1 to 200 bytes of UTF-8 text without control characters");

  take(decide_accept_terms(state_, {"acme", std::string(64, 'v'), std::string(200, 'a')}, t0));
  take(decide_accept_terms(state_, {"acme", "2024-06", "Zoë"}, t0 + 5));
  ASSERT_EQ(state_.terms.size(), 1u);
  EXPECT_EQ(state_.terms.at("acme"), (terms_state{"2024-06", "Zoë", t0 + 5}));
  expect_replay_and_snapshot_match();
}

TEST_F(ProvisioningTest, TermsOfTooManyProvidersAreRateLimited) {
  for (std::size_t i = 0; i < limits::ledger_terms_max; ++i)
    take(decide_accept_terms(state_, {"p" + std::to_string(i), "v1", "ada"}, t0));
  EXPECT_EQ(refused(decide_accept_terms(state_, {"one-more", "v1", "ada"}, t0)).code,
            api_error::rate_limited);
  // A known provider may accept new terms.
  take(decide_accept_terms(state_, {"p0", "v2", "ada"}, t0));
  EXPECT_EQ(state_.terms.at("p0").version, "v2");
}

// --- Approvals -----------------------------------------------------------------------------------

TEST_F(ProvisioningTest, OpenApprovalDeclinesEachBadMember) {
  std::string s = session();
  auto check = [&](auto change, api_error code) {
    open_approval_command command = approval_command(s);
    change(command);
    decline d = refused(decide_open_approval(state_, command, t0));
    EXPECT_EQ(d.code, code) << d.detail;
    return d.detail;
  };
  using cmd = open_approval_command;
  check([](cmd& c) { c.id = "apr_short"; }, api_error::invalid_field);
  check([](cmd& c) { c.id = make_test_id(id_kind::resource, 1); }, api_error::invalid_field);
  check([](cmd& c) { c.provider = "-acme"; }, api_error::invalid_field);
  check([](cmd& c) { c.session = make_test_id(id_kind::session, 999); }, api_error::not_found);
  check([](cmd& c) { c.service = "registrar domain"; }, api_error::invalid_field);
  check([](cmd& c) { c.value = std::string(254, 'a'); }, api_error::invalid_field);
  EXPECT_EQ(check([](cmd& c) { c.message = ""; }, api_error::invalid_field),
            "message must be 1 to 500 bytes of UTF-8 text without control characters");
  check([](cmd& c) { c.message = std::string(501, 'm'); }, api_error::invalid_field);
  check([](cmd& c) { c.url = std::string(2049, 'u'); }, api_error::invalid_field);
  check([](cmd& c) { c.url = "https://x.example/a b"; }, api_error::invalid_field);
  check([](cmd& c) { c.url = ""; }, api_error::invalid_field);
  check([](cmd& c) { c.amount = money{1299, currency::eur}; }, api_error::unsupported_currency);
  check([](cmd& c) { c.amount = usd(0); }, api_error::invalid_field);
  check([](cmd& c) { c.expires_at = t0; }, api_error::invalid_field);
  check([](cmd& c) { c.expires_at = t0 + limits::approval_ttl_seconds_max + 1; },
        api_error::invalid_field);

  // The bounds themselves pass; an empty service and value are allowed.
  open_approval_command longest = approval_command(s, std::string(253, 'v'));
  longest.message = std::string(500, 'm');
  longest.url = std::string(2048, 'u');
  longest.service = std::string(128, 's');
  longest.expires_at = t0 + limits::approval_ttl_seconds_max;
  std::string id = open(longest);
  open_approval_command plain = approval_command();
  plain.service.clear();
  plain.value.clear();
  plain.amount.reset();
  plain.url.reset();
  open(plain);
  // The same id again.
  open_approval_command again = approval_command();
  again.id = id;
  EXPECT_EQ(refused(decide_open_approval(state_, again, t0)).code, api_error::invalid_field);
  expect_replay_and_snapshot_match();
}

TEST_F(ProvisioningTest, PendingApprovalsAreBounded) {
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < limits::ledger_approvals_pending_max; ++i) {
    open_approval_command command = approval_command();
    command.message = "m";
    command.url.reset();
    ids.push_back(open(command));
  }
  open_approval_command one_more = approval_command();
  one_more.message = "m";
  one_more.url.reset();
  decline d = refused(decide_open_approval(state_, one_more, t0));
  EXPECT_EQ(d.code, api_error::rate_limited);
  // Deciding one makes room; so does time (an expired one is not pending).
  take(decide_decide_approval(state_, {ids[0], false, "ada"}, t0 + 1));
  take(decide_open_approval(state_, one_more, t0 + 1));
  one_more.id = next(id_kind::approval);
  EXPECT_EQ(refused(decide_open_approval(state_, one_more, t0 + 2)).code, api_error::rate_limited);
  one_more.expires_at = t0 + 3600 + 3600;
  take(decide_open_approval(state_, one_more, t0 + 3600));
}

TEST_F(ProvisioningTest, ApprovalsKeptAreBounded) {
  // Denied approvals stay until they retire; past the bound a new one waits for that.
  for (std::size_t i = 0; i < limits::ledger_approvals_max; ++i) {
    open_approval_command command = approval_command();
    command.message = "m";
    command.url.reset();
    std::string id = open(command);
    take(decide_decide_approval(state_, {id, false, "ada"}, t0));
  }
  open_approval_command command = approval_command();
  command.message = "m";
  decline d = refused(decide_open_approval(state_, command, t0));
  EXPECT_EQ(d.code, api_error::rate_limited);
  EXPECT_EQ(d.detail, "too many approvals kept for this user");
}

TEST_F(ProvisioningTest, DecidingNeedsAPendingApproval) {
  EXPECT_EQ(refused(decide_decide_approval(state_, {next(id_kind::approval), true, "ada"}, t0))
              .code,
            api_error::not_found);
  std::string a = open(approval_command());
  auto bad = [&](decide_approval_command command) {
    return refused(decide_decide_approval(state_, command, t0 + 1)).code;
  };
  EXPECT_EQ(bad({a, true, ""}), api_error::invalid_field);
  EXPECT_EQ(bad({a, true, std::string(201, 'x')}), api_error::invalid_field);
  EXPECT_EQ(bad({a, true, "ada", std::string(approval_note_bytes_max + 1, 'n')}),
            api_error::invalid_field);
  EXPECT_EQ(bad({a, true, "ada", "line\nbreak"}), api_error::invalid_field);
  take(decide_decide_approval(state_, {a, true, "ada", std::string(approval_note_bytes_max, 'n')},
                              t0 + 1));

  decline twice = refused(decide_decide_approval(state_, {a, false, "bob"}, t0 + 2));
  EXPECT_EQ(twice.code, api_error::approval_not_pending);
  EXPECT_EQ(info(twice.code).status, 409);
  EXPECT_EQ(info(twice.code).code, "approval_not_pending");
  EXPECT_EQ(twice.detail, "approval " + a + " is approved, not pending");

  std::string denied = open(approval_command());
  take(decide_decide_approval(state_, {denied, false, "ada"}, t0 + 1));
  EXPECT_EQ(refused(decide_decide_approval(state_, {denied, true, "ada"}, t0 + 2)).detail,
            "approval " + denied + " is denied, not pending");

  std::string late = open(approval_command());
  decline expired = refused(decide_decide_approval(state_, {late, true, "ada"}, t0 + 3600));
  EXPECT_EQ(expired.code, api_error::approval_not_pending);
  EXPECT_EQ(expired.detail, "approval " + late + " is expired, not pending");
  take(decide_decide_approval(state_, {late, true, "ada"}, t0 + 3599)); // one second earlier
  expect_replay_and_snapshot_match();
}

TEST_F(ProvisioningTest, UsingNeedsAnApprovedUnusedUnexpiredApproval) {
  std::string r = resource();
  EXPECT_EQ(refused(decide_use_approval(state_, {next(id_kind::approval), r}, t0)).code,
            api_error::not_found);
  std::string a = open(approval_command());
  decline pending = refused(decide_use_approval(state_, {a, r}, t0));
  EXPECT_EQ(pending.code, api_error::approval_not_pending);
  EXPECT_NE(pending.detail.find("is pending"), std::string::npos) << pending.detail;

  approve(a);
  EXPECT_EQ(refused(decide_use_approval(state_, {a, next(id_kind::resource)}, t0 + 61)).code,
            api_error::not_found);
  decline expired = refused(decide_use_approval(state_, {a, r}, t0 + 3600));
  EXPECT_EQ(expired.code, api_error::approval_not_pending);
  EXPECT_NE(expired.detail.find("is expired"), std::string::npos) << expired.detail;

  take(decide_use_approval(state_, {a, r}, t0 + 3599));
  EXPECT_EQ(state_.approvals.at(a).used_by, r);
  decline used = refused(decide_use_approval(state_, {a, r}, t0 + 3599));
  EXPECT_EQ(used.code, api_error::approval_not_pending);
  EXPECT_NE(used.detail.find("is used"), std::string::npos) << used.detail;

  std::string denied = open(approval_command());
  take(decide_decide_approval(state_, {denied, false, "ada"}, t0 + 1));
  EXPECT_EQ(refused(decide_use_approval(state_, {denied, r}, t0 + 2)).code,
            api_error::approval_not_pending);
  expect_replay_and_snapshot_match();
}

TEST_F(ProvisioningTest, FindUsableApprovalMatchesExactly) {
  std::string s = session();
  std::string other_session = session();
  std::string a = open(approval_command(s));
  constexpr auto kind = approval_kind::purchase_confirmation;
  auto find = [&](std::optional<std::string_view> in_session, std::string_view value,
                  std::int64_t now = t0 + 61,
                  approval_kind k = approval_kind::purchase_confirmation,
                  std::string_view provider = "cloudflare",
                  std::string_view service = "registrar:domain") {
    return find_usable_approval(state_, k, in_session, provider, service, value, now);
  };
  EXPECT_EQ(find(s, "superseal.club"), ""); // still pending
  approve(a);
  EXPECT_EQ(find(s, "superseal.club"), a);
  EXPECT_EQ(find(s, "superseal.cc"), "");
  EXPECT_EQ(find(s, "superseal.clu"), "");
  EXPECT_EQ(find(s, "SUPERSEAL.CLUB"), "");
  EXPECT_EQ(find(other_session, "superseal.club"), "");
  EXPECT_EQ(find(std::nullopt, "superseal.club"), ""); // the approval is bound to a session
  EXPECT_EQ(find(s, "superseal.club", t0 + 61, approval_kind::budget_increase), "");
  EXPECT_EQ(find(s, "superseal.club", t0 + 61, kind, "acme"), "");
  EXPECT_EQ(find(s, "superseal.club", t0 + 61, kind, "cloudflare", "registrar:other"), "");
  EXPECT_EQ(find(s, "superseal.club", t0 + 3600), ""); // expired
  EXPECT_EQ(find(s, "superseal.club", t0 + 3599), a);

  take(decide_use_approval(state_, {a, resource(s)}, t0 + 70));
  EXPECT_EQ(find(s, "superseal.club"), ""); // used

  // An approval without a session serves any session, and none.
  std::string any = open(approval_command(std::nullopt, "superseal.dev"));
  approve(any);
  EXPECT_EQ(find(s, "superseal.dev"), any);
  EXPECT_EQ(find(other_session, "superseal.dev"), any);
  EXPECT_EQ(find(std::nullopt, "superseal.dev"), any);

  std::string denied = open(approval_command(s, "superseal.app"));
  take(decide_decide_approval(state_, {denied, false, "ada"}, t0 + 61));
  EXPECT_EQ(find(s, "superseal.app"), "");
}

TEST_F(ProvisioningTest, StatusAndApiJsonOfAnApproval) {
  std::string s = session();
  std::string a = open(approval_command(s));
  const approval_state& approval = state_.approvals.at(a);
  EXPECT_EQ(status_at(approval, t0), approval_status::pending);
  EXPECT_EQ(status_at(approval, t0 + 3600), approval_status::expired);

  std::string json;
  json_writer w(json);
  write_approval(w, a, approval, t0);
  EXPECT_EQ(json, "{\"id\":\"" + a +
                    "\",\"object\":\"approval\",\"kind\":\"purchase_confirmation\",\"status\":"
                    "\"pending\",\"session\":\"" +
                    s +
                    "\",\"provider\":\"cloudflare\",\"service\":\"registrar:domain\",\"value\":"
                    "\"superseal.club\",\"amount\":{\"amount\":1299,\"currency\":\"usd\"},"
                    "\"message\":\"Buy superseal.club for $12.99?\",\"url\":"
                    "\"https://platform.example/approvals\",\"expires_at\":" +
                    std::to_string(t0 + 3600) + ",\"created\":" + std::to_string(t0) +
                    ",\"decided_by\":null,\"decided_at\":null,\"note\":null,\"used_by\":null}");

  approve(a, t0 + 60);
  EXPECT_EQ(status_at(state_.approvals.at(a), t0 + 61), approval_status::approved);
  // Approved but not used in time: no longer usable, so shown as expired.
  EXPECT_EQ(status_at(state_.approvals.at(a), t0 + 3600), approval_status::expired);
  std::string r = resource(s);
  take(decide_use_approval(state_, {a, r}, t0 + 70));
  EXPECT_EQ(status_at(state_.approvals.at(a), t0 + 3600), approval_status::used);
  json.clear();
  json_writer w2(json);
  write_approval(w2, a, state_.approvals.at(a), t0 + 100);
  EXPECT_NE(json.find("\"status\":\"used\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"decided_by\":\"ada@example.com\",\"decided_at\":" +
                      std::to_string(t0 + 60) + ",\"note\":\"ok\",\"used_by\":\"" + r + "\"}"),
            std::string::npos)
    << json;

  open_approval_command bare = approval_command();
  bare.service.clear();
  bare.value.clear();
  bare.amount.reset();
  bare.url.reset();
  std::string b = open(bare);
  take(decide_decide_approval(state_, {b, false, "ada"}, t0 + 1));
  EXPECT_EQ(status_at(state_.approvals.at(b), t0 + 2), approval_status::denied);
  json.clear();
  json_writer w3(json);
  write_approval(w3, b, state_.approvals.at(b), t0 + 2);
  EXPECT_NE(json.find("\"status\":\"denied\",\"session\":null,\"provider\":\"cloudflare\","
                      "\"service\":null,\"value\":null,\"amount\":null"),
            std::string::npos)
    << json;
  EXPECT_NE(json.find("\"url\":null"), std::string::npos) << json;
}

// --- Links ---------------------------------------------------------------------------------------

TEST_F(ProvisioningTest, LinksReplacePerProviderAndHideTheVaultRef) {
  ledger_state nobody;
  std::string l1 = next(id_kind::link);
  EXPECT_EQ(refused(decide_create_link(nobody, {l1, "acme", "acct_1", link_outcome::created,
                                                "vault:acme:1"},
                                       t0))
              .code,
            api_error::not_found);
  auto code_of = [&](create_link_command command) {
    return refused(decide_create_link(state_, command, t0)).code;
  };
  EXPECT_EQ(code_of({"lnk_bad", "acme", "acct_1", link_outcome::created, "v"}),
            api_error::invalid_field);
  EXPECT_EQ(code_of({l1, "ACME", "acct_1", link_outcome::created, "v"}), api_error::invalid_field);
  EXPECT_EQ(code_of({l1, "acme", "", link_outcome::created, "v"}), api_error::invalid_field);
  EXPECT_EQ(code_of({l1, "acme", "acct 1", link_outcome::created, "v"}), api_error::invalid_field);
  EXPECT_EQ(code_of({l1, "acme", "acct_1", link_outcome::created, ""}), api_error::invalid_field);
  EXPECT_EQ(code_of({l1, "acme", "acct_1", link_outcome::created, std::string(256, 'v')}),
            api_error::invalid_field);

  take(decide_create_link(state_, {l1, "acme", "acct_1", link_outcome::created, "vault:1"}, t0));
  // The same link id cannot name a second link.
  EXPECT_EQ(code_of({l1, "other", "acct_9", link_outcome::created, "vault:9"}),
            api_error::invalid_field);
  std::string l2 = next(id_kind::link);
  take(decide_create_link(state_,
                          {l2, "acme", "acct_2", link_outcome::linked_existing, "vault:2"},
                          t0 + 10));
  ASSERT_EQ(state_.links.size(), 1u);
  EXPECT_EQ(state_.links.at("acme"),
            (link_state{l2, "acct_2", link_outcome::linked_existing, "vault:2", t0 + 10}));

  std::string json;
  json_writer w(json);
  write_link(w, "acme", state_.links.at("acme"));
  EXPECT_EQ(json, "{\"id\":\"" + l2 +
                    "\",\"object\":\"link\",\"provider\":\"acme\",\"account_id\":\"acct_2\","
                    "\"outcome\":\"linked_existing\",\"created\":" +
                    std::to_string(t0 + 10) + "}");
  EXPECT_EQ(json.find("vault"), std::string::npos);
  expect_replay_and_snapshot_match();
}

// --- Resources -----------------------------------------------------------------------------------

TEST_F(ProvisioningTest, RequestResourceDeclinesEachBadMember) {
  std::string s = session();
  std::string t = next(id_kind::payment_token);
  take(decide_create_token(state_, {t, "cloudflare", s, usd(2000), t0 + 3600, true}, t0));
  accepted placed = take(decide_hold(state_, {next(id_kind::hold), "cloudflare", s, t, usd(1299),
                                             t0 + 600},
                                     t0));
  std::string h = std::get<hold_placed>(placed.event).id;
  std::string other_token = next(id_kind::payment_token);
  take(decide_create_token(state_, {other_token, "acme", s, usd(2000), t0 + 3600, true}, t0));
  std::string other_hold = next(id_kind::hold);
  take(decide_hold(state_, {other_hold, "acme", s, {}, usd(10), t0 + 600}, t0));

  auto check = [&](auto change, api_error code) {
    request_resource_command command = resource_command(s);
    change(command);
    decline d = refused(decide_request_resource(state_, command, t0));
    EXPECT_EQ(d.code, code) << d.detail;
  };
  using cmd = request_resource_command;
  check([](cmd& c) { c.id = "res_1"; }, api_error::invalid_field);
  check([](cmd& c) { c.provider = ""; }, api_error::invalid_field);
  check([](cmd& c) { c.service = ""; }, api_error::invalid_field);
  check([](cmd& c) { c.service = std::string(129, 's'); }, api_error::invalid_field);
  check([](cmd& c) { c.name = std::string(254, 'n'); }, api_error::invalid_field);
  check([](cmd& c) { c.name = "bad\tname"; }, api_error::invalid_field);
  check([](cmd& c) { c.provider_key = ""; }, api_error::invalid_field);
  check([](cmd& c) { c.provider_key = std::string(256, 'k'); }, api_error::invalid_field);
  check([](cmd& c) { c.provider_key = "k\x01"; }, api_error::invalid_field);
  check([&](cmd& c) { c.session = make_test_id(id_kind::session, 999); }, api_error::not_found);
  check([&](cmd& c) { c.hold = make_test_id(id_kind::hold, 999); }, api_error::not_found);
  check([&](cmd& c) { c.token = make_test_id(id_kind::payment_token, 999); }, api_error::not_found);
  check([&](cmd& c) { c.token = other_token; }, api_error::not_found);
  check([&](cmd& c) { c.hold = other_hold; }, api_error::invalid_field);

  request_resource_command good = resource_command(s);
  good.hold = h;
  good.token = t;
  good.name = std::string(253, 'n');
  good.service = std::string(128, 's');
  good.provider_key = "printable key with spaces";
  take(decide_request_resource(state_, good, t0));
  const resource_state& r = state_.resources.at(good.id);
  EXPECT_EQ(r.status, resource_status::pending);
  EXPECT_EQ(r.hold, h);
  EXPECT_EQ(r.token, t);
  EXPECT_EQ(r.created, t0);
  EXPECT_EQ(refused(decide_request_resource(state_, good, t0)).code, api_error::invalid_field);
  expect_replay_and_snapshot_match();
}

TEST_F(ProvisioningTest, LiveResourcesAreBounded) {
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < limits::ledger_resources_live_max; ++i) ids.push_back(resource());
  decline d = refused(decide_request_resource(state_, resource_command(), t0));
  EXPECT_EQ(d.code, api_error::rate_limited);
  EXPECT_EQ(d.detail, "too many live resources for this user");
  // A failed one is no longer live.
  update(ids[0], resource_status::failed, t0 + 1);
  resource();
  EXPECT_EQ(refused(decide_request_resource(state_, resource_command(), t0)).code,
            api_error::rate_limited);
}

TEST(ResourceTransitions, ExactlyTheDocumentedOnes) {
  using enum resource_status;
  const resource_status all[] = {pending, ready, needs_human, unknown, failed, removed};
  const std::pair<resource_status, resource_status> allowed[] = {
    {pending, ready},  {pending, failed}, {pending, unknown}, {pending, needs_human},
    {unknown, ready},  {unknown, failed}, {unknown, unknown}, {needs_human, pending},
    {needs_human, failed}, {ready, ready}, {ready, removed},
  };
  for (resource_status from : all)
    for (resource_status to : all) {
      bool expected = false;
      for (const auto& [a, b] : allowed) expected = expected || (a == from && b == to);
      EXPECT_EQ(resource_transition_allowed(from, to), expected)
        << to_string(from) << " -> " << to_string(to);
    }
}

TEST_F(ProvisioningTest, UpdateResourceFollowsTheLifecycle) {
  EXPECT_EQ(refused(decide_update_resource(state_, {next(id_kind::resource), resource_status::ready},
                                           t0))
              .code,
            api_error::not_found);
  std::string r = resource();
  decline no = refused(decide_update_resource(state_, {r, resource_status::removed}, t0 + 1));
  EXPECT_EQ(no.code, api_error::resource_state_conflict);
  EXPECT_EQ(info(no.code).status, 409);
  EXPECT_EQ(no.detail, "resource " + r + " is pending; it cannot become removed");

  update(r, resource_status::unknown, t0 + 1);
  update(r, resource_status::unknown, t0 + 2); // still unknown after a retry
  EXPECT_EQ(refused(decide_update_resource(state_, {r, resource_status::needs_human}, t0 + 3)).code,
            api_error::resource_state_conflict);
  // Members: present ones replace, absent ones keep.
  take(decide_update_resource(state_, {r, resource_status::ready, "cf-123", usd(1299), "vault:r1"},
                              t0 + 3));
  take(decide_update_resource(state_, {r, resource_status::ready, {}, {}, "vault:r2"}, t0 + 4));
  const resource_state& state = state_.resources.at(r);
  EXPECT_EQ(state.provider_id, "cf-123");
  EXPECT_EQ(state.price, usd(1299));
  EXPECT_EQ(state.vault_ref, "vault:r2");
  EXPECT_EQ(state.updated, t0 + 4);
  EXPECT_EQ(refused(decide_update_resource(state_, {r, resource_status::ready, "a b"}, t0 + 5)).code,
            api_error::invalid_field);
  EXPECT_EQ(refused(decide_update_resource(state_, {r, resource_status::ready, {},
                                                    money{1, currency::eur}},
                                           t0 + 5))
              .code,
            api_error::unsupported_currency);
  update(r, resource_status::removed, t0 + 6);
  for (resource_status to : {resource_status::ready, resource_status::removed,
                             resource_status::pending, resource_status::failed}) {
    decline d = refused(decide_update_resource(state_, {r, to}, t0 + 7));
    EXPECT_EQ(d.code, api_error::resource_state_conflict);
    EXPECT_NE(d.detail.find("is removed (final)"), std::string::npos) << d.detail;
  }

  std::string f = resource();
  update(f, resource_status::needs_human, t0 + 1);
  update(f, resource_status::pending, t0 + 2);
  take(decide_update_resource(state_, {f, resource_status::failed, {}, {}, {}, "provider_error"},
                              t0 + 3));
  EXPECT_EQ(refused(decide_update_resource(state_, {f, resource_status::pending}, t0 + 4)).code,
            api_error::resource_state_conflict);
  expect_replay_and_snapshot_match();
}

TEST_F(ProvisioningTest, ResourceJsonNeverShowsTheVaultRef) {
  std::string s = session();
  std::string r = resource(s);
  take(decide_update_resource(state_, {r, resource_status::ready, "cf-123", usd(1299), "vault:r1"},
                              t0 + 3));
  std::string json;
  json_writer w(json);
  write_resource(w, r, state_.resources.at(r));
  EXPECT_EQ(json, "{\"id\":\"" + r +
                    "\",\"object\":\"resource\",\"service\":\"cloudflare/registrar:domain\","
                    "\"provider\":\"cloudflare\",\"name\":\"superseal.club\",\"status\":\"ready\","
                    "\"price\":{\"amount\":1299,\"currency\":\"usd\"},\"session\":\"" +
                    s +
                    "\",\"provider_id\":\"cf-123\",\"failure_code\":null,\"created\":" +
                    std::to_string(t0) + ",\"updated\":" + std::to_string(t0 + 3) + "}");
  EXPECT_EQ(json.find("vault"), std::string::npos);
  EXPECT_EQ(json.find("key-"), std::string::npos); // nor the provider idempotency key
}

// --- The text budget -----------------------------------------------------------------------------

TEST_F(ProvisioningTest, TextBudgetRefusesNewObjectsButNeverADecision) {
  std::vector<std::string> ids;
  decline stop;
  for (int i = 0; i < 64; ++i) {
    open_approval_command command = approval_command(std::nullopt, std::string(253, 'v'));
    command.message = std::string(500, 'm');
    command.url = std::string(2048, 'u');
    command.service = std::string(128, 's');
    command.expires_at = t0 + 100 + i;
    decision d = decide_open_approval(state_, command, t0 + i);
    if (auto* refused_now = std::get_if<decline>(&d)) {
      stop = *refused_now;
      break;
    }
    take(std::move(d));
    ids.push_back(command.id);
  }
  EXPECT_EQ(stop.code, api_error::rate_limited);
  EXPECT_NE(stop.detail.find("too much text"), std::string::npos) << stop.detail;
  // Fewer than the pending bound fit, so it is the budget that refused.
  EXPECT_LT(ids.size(), limits::ledger_approvals_pending_max);
  EXPECT_GT(ids.size(), 5u);
  // Every open approval can still be decided with the longest decision.
  for (const std::string& id : ids)
    take(decide_decide_approval(state_, {id, true, std::string(200, 'd'),
                                         std::string(approval_note_bytes_max, 'n')},
                                t0 + 99));
  EXPECT_FALSE(check_invariants(state_));
  expect_replay_and_snapshot_match();
}

// --- Retirement ----------------------------------------------------------------------------------

TEST_F(ProvisioningTest, ClosedApprovalsAndFinalResourcesRetire) {
  constexpr std::int64_t retire = limits::ledger_retire_after_seconds;
  std::string r_removed = resource();
  update(r_removed, resource_status::ready, t0 + 1);
  update(r_removed, resource_status::removed, t0 + 10);
  std::string r_failed = resource();
  update(r_failed, resource_status::failed, t0 + 20);
  std::string r_ready = resource();
  update(r_ready, resource_status::ready, t0 + 1);

  std::string denied = open(approval_command());
  take(decide_decide_approval(state_, {denied, false, "ada"}, t0 + 30));
  std::string used = open(approval_command());
  approve(used, t0 + 40);
  take(decide_use_approval(state_, {used, r_ready}, t0 + 50));
  std::string expired = open(approval_command()); // expires at t0 + 3600, never decided
  std::string approved_unused = open(approval_command());
  approve(approved_unused, t0 + 60);
  open_approval_command later = approval_command();
  later.expires_at = t0 + 7 * day;
  std::string still_open = open(later);

  auto retirements = [&](std::int64_t now) {
    std::vector<std::string> out;
    for (const ledger_event& e : decide_expire(state_, now))
      if (const auto* r = std::get_if<retired>(&e))
        out.push_back(std::string(event_type(e)) + " " + r->id);
    return out;
  };
  EXPECT_TRUE(retirements(t0 + 9 + retire).empty());
  EXPECT_EQ(retirements(t0 + 10 + retire),
            (std::vector<std::string>{"resource.retired " + r_removed}));
  EXPECT_EQ(retirements(t0 + 50 + retire),
            (std::vector<std::string>{"approval.retired " + denied, "approval.retired " + used,
                                      "resource.retired " + r_removed,
                                      "resource.retired " + r_failed}));
  // Past their expiry, the undecided and the approved-but-unused ones close too.
  std::int64_t now = t0 + 3600 + retire;
  for (const ledger_event& e : decide_expire(state_, now)) take(decision{accepted{e, {}, 0}});
  EXPECT_FALSE(state_.approvals.contains(expired));
  EXPECT_FALSE(state_.approvals.contains(approved_unused));
  EXPECT_FALSE(state_.approvals.contains(denied));
  EXPECT_FALSE(state_.approvals.contains(used));
  EXPECT_TRUE(state_.approvals.contains(still_open));
  EXPECT_FALSE(state_.resources.contains(r_removed));
  EXPECT_FALSE(state_.resources.contains(r_failed));
  EXPECT_TRUE(state_.resources.contains(r_ready));
  expect_replay_and_snapshot_match();
}

// --- Journal and snapshot ------------------------------------------------------------------------

TEST_F(ProvisioningTest, EveryMemberSurvivesReplayAndSnapshot) {
  std::string s = session();
  std::string t = next(id_kind::payment_token);
  take(decide_create_token(state_, {t, "cloudflare", s, usd(2000), t0 + 3600, true}, t0));
  accepted placed = take(decide_hold(state_, {next(id_kind::hold), "cloudflare", s, t, usd(1299),
                                             t0 + 600},
                                     t0));
  std::string h = std::get<hold_placed>(placed.event).id;
  take(decide_accept_terms(state_, {"cloudflare", "2024-05-01", "Zoë \"Z\" \\ Ødegaard"}, t0));
  take(decide_create_link(state_, {next(id_kind::link), "cloudflare", "acct_77",
                                   link_outcome::linked_existing, "vault:link:cloudflare"},
                          t0 + 1));
  std::string a = open(approval_command(s), t0 + 2);
  take(decide_decide_approval(state_, {a, true, "ada@example.com", "fine by me ✓"}, t0 + 3));
  request_resource_command request = resource_command(s);
  request.hold = h;
  request.token = t;
  take(decide_request_resource(state_, request, t0 + 4));
  take(decide_use_approval(state_, {a, request.id}, t0 + 5));
  take(decide_update_resource(state_, {request.id, resource_status::unknown, {}, {}, {}, "timeout"},
                              t0 + 6));
  take(decide_update_resource(state_, {request.id, resource_status::ready, "cf-9", usd(1299),
                                       "vault:res:1"},
                              t0 + 7));
  std::string denied = open(approval_command(std::nullopt, ""), t0 + 8);
  take(decide_decide_approval(state_, {denied, false, "bob"}, t0 + 9));

  const approval_state& approval = state_.approvals.at(a);
  EXPECT_EQ(approval.session, s);
  EXPECT_EQ(approval.amount, usd(1299));
  EXPECT_EQ(approval.note, "fine by me ✓");
  EXPECT_EQ(approval.used_by, request.id);
  EXPECT_EQ(approval.used_at, t0 + 5);
  const resource_state& resource = state_.resources.at(request.id);
  EXPECT_EQ(resource.failure_code, "timeout");
  EXPECT_EQ(resource.provider_id, "cf-9");
  EXPECT_EQ(resource.vault_ref, "vault:res:1");
  expect_replay_and_snapshot_match();

  // The currency cannot change under approvals and resources that carry money.
  ledger_state fresh;
  fresh.approvals = state_.approvals;
  EXPECT_EQ(refused(decide_set_currency(fresh, {currency::eur}, t0)).code,
            api_error::invalid_field);
}

TEST(ProvisioningCodec, EventsRefuseForeignAndMalformedMembers) {
  const std::string a = make_test_id(id_kind::approval, 1);
  const std::string r = make_test_id(id_kind::resource, 2);
  auto decode = [](const std::string& json) {
    ledger_event event;
    return decode_event(json, event);
  };
  EXPECT_FALSE(decode(R"({"type":"terms.accepted","provider":"acme","version":"v1","accepted_by":"ada","at":1})"));
  json_error foreign = decode(
    R"({"type":"terms.accepted","provider":"acme","version":"v1","accepted_by":"ada","id":")" + a +
    R"(","at":1})");
  EXPECT_EQ(foreign.code, api_error::unknown_field);
  EXPECT_EQ(foreign.pointer, "/id");
  json_error control = decode(R"({"type":"approval.decided","id":")" + a +
                              R"(","approved":true,"decided_by":"a\nb","at":1})");
  EXPECT_EQ(control.code, api_error::invalid_field);
  EXPECT_EQ(control.pointer, "/decided_by");
  EXPECT_EQ(decode(R"({"type":"approval.used","id":")" + a + R"(","resource":")" + a +
                   R"(","at":1})")
              .pointer,
            "/resource");
  EXPECT_EQ(decode(R"({"type":"resource.updated","id":")" + r + R"(","status":"gone","at":1})")
              .pointer,
            "/status");
  EXPECT_EQ(decode(R"({"type":"resource.retired","id":")" + a + R"(","at":1})").pointer, "/id");
  EXPECT_EQ(decode(R"({"type":"link.created","id":")" + make_test_id(id_kind::link, 3) +
                   R"(","provider":"acme","account_id":"x","outcome":"stolen","vault_ref":"v","at":1})")
              .pointer,
            "/outcome");
  // `name` is read up to a resource name's length, but a user's name keeps its own bound.
  EXPECT_EQ(decode(R"({"type":"user.upserted","platform_ref":"p","email":"a@example.com",)"
                   R"("email_verified":true,"name":")" +
                   std::string(201, 'n') + R"(","at":1})")
              .pointer,
            "/name");
}

TEST_F(ProvisioningTest, SnapshotRefusesInconsistentProvisioning) {
  std::string r = resource();
  std::string a = open(approval_command());
  std::string snapshot;
  encode_snapshot(state_, snapshot);
  // An approval marked used although nobody approved it.
  std::string used = snapshot;
  std::string marker = "\"created\":" + std::to_string(t0) + "}";
  std::size_t at = used.find(marker, used.find("\"approvals\""));
  ASSERT_NE(at, std::string::npos);
  used.insert(at + marker.size() - 1, ",\"used_by\":\"" + r + "\",\"used_at\":5");
  ledger_state decoded;
  json_error error = decode_snapshot(used, decoded);
  EXPECT_EQ(error.code, api_error::invalid_field);
  EXPECT_NE(error.detail.find("used but not approved"), std::string::npos) << error.detail;
  // A resource with a status that does not exist.
  std::string status = snapshot;
  status.replace(status.find("\"status\":\"pending\""), 18, "\"status\":\"pendin\"");
  EXPECT_EQ(decode_snapshot(status, decoded).pointer, "/resources/0/status");
}

/// ledger_codec.cpp bounds a snapshot with per-object sizes of the provisioning maps without
/// their text members; this measures the longest such objects against those numbers.
TEST_F(ProvisioningTest, SnapshotObjectsFitTheirSizeEstimates) {
  const std::string slug(limits::provider_slug_bytes_max, 'p');
  const std::int64_t late = unix_seconds_max;
  auto snapshot_bytes = [](const ledger_state& state) {
    std::string json;
    encode_snapshot(state, json);
    return json.size();
  };
  ledger_state base;
  std::size_t empty = snapshot_bytes(base);

  ledger_state with;
  with.terms[slug] = {"", "", late};
  EXPECT_LE(snapshot_bytes(with) - empty, 160u);

  with = base;
  with.links[slug] = {make_test_id(id_kind::link, 1), "", link_outcome::linked_existing, "", late};
  EXPECT_LE(snapshot_bytes(with) - empty, 200u);

  with = base;
  approval_state approval;
  approval.kind = approval_kind::purchase_confirmation;
  approval.session = make_test_id(id_kind::session, 1);
  approval.provider = slug;
  approval.amount = usd(limits::money_amount_max);
  approval.url = "";
  approval.expires_at = approval.created = approval.decided_at = approval.used_at = late;
  approval.approved = false;
  approval.note = "";
  approval.used_by = make_test_id(id_kind::resource, 1);
  with.approvals[make_test_id(id_kind::approval, 1)] = approval;
  EXPECT_LE(snapshot_bytes(with) - empty, 560u);

  with = base;
  resource_state resource;
  resource.provider = slug;
  resource.session = make_test_id(id_kind::session, 1);
  resource.status = resource_status::needs_human;
  resource.provider_id = resource.vault_ref = resource.failure_code = "";
  resource.hold = make_test_id(id_kind::hold, 1);
  resource.token = make_test_id(id_kind::payment_token, 1);
  resource.price = usd(limits::money_amount_max);
  resource.created = resource.updated = late;
  with.resources[make_test_id(id_kind::resource, 1)] = resource;
  EXPECT_LE(snapshot_bytes(with) - empty, 560u);
}

} // namespace
} // namespace steward::core

namespace steward::core {
namespace {

TEST_F(ProvisioningTest, RevealsOfReadyCredentialsAreRecordedAndReplayed) {
  std::string s = session();
  std::string id = resource(s);
  // Pending, and without sealed credentials: nothing to reveal.
  EXPECT_EQ(refused(decide_reveal_resource(state_, id, s, t0)).code, api_error::not_found);
  take(decide_update_resource(state_, {id, resource_status::ready, "prov-1", usd(1299), "vault-1"},
                              t0 + 1));
  EXPECT_EQ(refused(decide_reveal_resource(state_, "res_nothing", s, t0)).code,
            api_error::not_found);
  EXPECT_EQ(refused(decide_reveal_resource(state_, id, "ses_unknown", t0)).code,
            api_error::not_found);
  auto revealed = take(decide_reveal_resource(state_, id, s, t0 + 2));
  EXPECT_EQ(event_type(revealed.event), "resource.revealed");
  take(decide_reveal_resource(state_, id, std::nullopt, t0 + 3)); // the platform's export
  take(decide_update_resource(state_, {id, resource_status::removed}, t0 + 4));
  EXPECT_EQ(refused(decide_reveal_resource(state_, id, s, t0 + 5)).code,
            api_error::resource_state_conflict);
  expect_replay_and_snapshot_match();
}

} // namespace
} // namespace steward::core
