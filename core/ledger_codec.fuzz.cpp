// libFuzzer target for the ledger's decoders (core/ledger_codec.cpp): `decode_event` reads every
// event a user's journal holds and `decode_snapshot` every snapshot, at each activation. The
// journal is trusted storage, but a decoder that crashes on a damaged row would take a user (or
// the process) down instead of reporting `corrupt`; STYLE.md, every parser of bytes has one.
//
// The first byte picks the decoder (even: event, odd: snapshot); the rest is the JSON text.
// Invariants, beyond "no crash, no sanitizer report":
//  - what decodes re-encodes to bytes that decode to an equal value, and encoding that again gives
//    the same bytes (the encoding is canonical, so hashes over it are stable);
//  - a decoded snapshot passes `check_invariants`;
//  - an error always carries a detail.
//
// Seeds: run the binary with STEWARD_WRITE_SEEDS=DIR and it writes one encoded example of each
// event type and two snapshots into DIR, then exits (tools/fuzz-parser does this).

#include "core/assert.hpp"
#include "core/ledger.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace steward::core;

void run_event(std::string_view json) {
  ledger_event event;
  if (auto error = decode_event(json, event)) {
    STEWARD_ASSERT(!error.detail.empty() && "a decode error without a detail");
    return;
  }
  std::string first;
  encode_event(event, first);
  ledger_event again;
  STEWARD_ASSERT(!decode_event(first, again) && "an encoded event does not decode");
  STEWARD_ASSERT(again == event && "an event changed through encode and decode");
  std::string second;
  encode_event(again, second);
  STEWARD_ASSERT(first == second && "event encoding is not canonical");
}

void run_snapshot(std::string_view json) {
  ledger_state state;
  if (auto error = decode_snapshot(json, state)) {
    STEWARD_ASSERT(!error.detail.empty() && "a decode error without a detail");
    return;
  }
  STEWARD_ASSERT(!check_invariants(state) && "a decoded snapshot breaks the ledger's invariants");
  std::string first;
  encode_snapshot(state, first);
  ledger_state again;
  STEWARD_ASSERT(!decode_snapshot(first, again) && "an encoded snapshot does not decode");
  STEWARD_ASSERT(again == state && "a snapshot changed through encode and decode");
  std::string second;
  encode_snapshot(again, second);
  STEWARD_ASSERT(first == second && "snapshot encoding is not canonical");
}

constexpr std::string_view user_id = "usr_1111111111111111111111";
constexpr std::string_view session_id = "ses_1111111111111111111111";
constexpr std::string_view token_id = "ptk_1111111111111111111111";
constexpr std::string_view hold_id = "hld_1111111111111111111111";
constexpr std::string_view charge_id = "chg_1111111111111111111111";
constexpr std::string_view refund_id = "rfd_1111111111111111111111";
constexpr std::string_view approval_id = "apr_1111111111111111111111";
constexpr std::string_view denied_approval_id = "apr_2222222222222222222222";
constexpr std::string_view link_id = "lnk_1111111111111111111111";
constexpr std::string_view resource_id = "res_1111111111111111111111";
constexpr std::int64_t t0 = 1'780'000'000;

/// A ledger built through decide/apply, so that the snapshot seed is a real one.
ledger_state sample_state(std::vector<ledger_event>& events) {
  ledger_state state;
  auto take = [&](decision made) {
    if (auto* ok = std::get_if<accepted>(&made)) {
      apply_event(state, ok->event);
      events.push_back(ok->event);
    }
  };
  upsert_user_command user;
  user.platform_ref = "auth0|42";
  user.email = "ada@example.com";
  take(decide_upsert_user(state, user, t0));
  take(decide_open_session(state,
                           {std::string(session_id), {5000, currency::usd}, t0 + 3600, "ci",
                            {"superseal.club"}},
                           t0));
  take(decide_create_token(state,
                           {std::string(token_id), "acme", std::string(session_id),
                            {4000, currency::usd}, t0 + 3600, false},
                           t0));
  take(decide_hold(state,
                   {std::string(hold_id), "acme", std::string(session_id), std::string(token_id),
                    {1000, currency::usd}, t0 + 600},
                   t0));
  take(decide_charge(state,
                     {std::string(charge_id), std::string(token_id), "acme",
                      {700, currency::usd}, "plan", std::string(hold_id)},
                     t0 + 1));
  take(decide_refund(state,
                     {std::string(refund_id), std::string(charge_id), "acme", {200, currency::usd}},
                     t0 + 2));
  take(decide_set_cap(state, {cap_kind::global, "", money{50000, currency::usd}}, t0 + 3));
  take(decide_set_payment_method(state, {"stripe", "pm_1Nabc", "4242", "visa"}, t0 + 4));
  take(decide_kill(state, std::string_view(session_id), true, t0 + 5));
  // Provisioning: one of each event, with every optional member set somewhere.
  take(decide_accept_terms(state, {"acme", "2026-01", "Ada Lovelace"}, t0 + 6));
  take(decide_create_link(state, {std::string(link_id), "acme", "acct_42",
                                  link_outcome::linked_existing, "vault:acme:1"},
                          t0 + 7));
  take(decide_open_approval(state,
                            {std::string(approval_id), approval_kind::purchase_confirmation,
                             std::string(session_id), "acme", "registrar:domain", "superseal.club",
                             money{1299, currency::usd}, "Buy superseal.club?",
                             "https://platform.example/a", t0 + 3600},
                            t0 + 8));
  take(decide_decide_approval(state, {std::string(approval_id), true, "ada", "go"}, t0 + 9));
  take(decide_request_resource(state,
                               {std::string(resource_id), "acme", "registrar:domain",
                                "superseal.club", std::string(session_id), std::nullopt,
                                std::string(token_id), "idem-1"},
                               t0 + 10));
  take(decide_use_approval(state, {std::string(approval_id), std::string(resource_id)}, t0 + 11));
  take(decide_update_resource(state,
                              {std::string(resource_id), resource_status::ready, "cf-1",
                               money{1299, currency::usd}, "vault:res:1", std::nullopt},
                              t0 + 12));
  take(decide_open_approval(state,
                            {std::string(denied_approval_id), approval_kind::account_link,
                             std::nullopt, "acme", "", "", std::nullopt, "Link acme?",
                             std::nullopt, t0 + 3600},
                            t0 + 13));
  take(decide_decide_approval(state, {std::string(denied_approval_id), false, "ada"}, t0 + 14));
  return state;
}

void write_file(const std::filesystem::path& path, char selector, std::string_view json) {
  std::string bytes(1, selector);
  bytes += json;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size()) {
    std::fprintf(stderr, "cannot write seed %s\n", path.c_str());
    std::exit(1);
  }
  std::fclose(file);
}

void write_seeds(const char* directory) {
  std::filesystem::create_directories(directory);
  std::vector<ledger_event> events;
  const ledger_state state = sample_state(events);
  std::size_t index = 0;
  for (const auto& event : events) {
    std::string json;
    encode_event(event, json);
    write_file(std::filesystem::path(directory) / ("event-" + std::to_string(index++) + ".json"),
               '\0', json);
  }
  std::string json;
  encode_snapshot(state, json);
  write_file(std::filesystem::path(directory) / "snapshot-full.json", '\1', json);
  json.clear();
  encode_snapshot(ledger_state{}, json);
  write_file(std::filesystem::path(directory) / "snapshot-empty.json", '\1', json);
  std::printf("wrote %zu seeds to %s\n", events.size() + 2, directory);
  std::exit(0);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* directory = std::getenv("STEWARD_WRITE_SEEDS")) write_seeds(directory);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  std::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0)
    run_event(json);
  else
    run_snapshot(json);
  return 0;
}
