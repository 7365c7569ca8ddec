#include "actors/user.hpp"

#include "actors/actor_test_support.hpp"
#include "core/problem.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/test/dsl.hpp>
#include <gtest/gtest.h>

#include <thread>

namespace steward::actors {
namespace {

using namespace testing;

using user_pointer = user_actor::stateful_base<user_state>;

struct UserActorTest : ::testing::Test, test_coordinator_fixture<> {
  // Declared in this order so that the loader and the journal stop (answering every callback into
  // the inbox) before the inbox goes.
  inbox deliveries;
  temp_dir dir;
  std::unique_ptr<storage::sqlite_journal> sqlite = open_journal(dir);
  gated_journal journal{*sqlite};
  loader_pool loader{1};
  capture_loop loop;
  user_counters counters;
  std::string user = test_id(core::id_kind::user, 1);
  std::string token = test_id(core::id_kind::payment_token, 1);
  std::uint32_t next_sequence = 0;
  /// The actors' clock (unix seconds); tests move it forward.
  std::int64_t clock_now = test_now;

  user_config config(
    std::uint64_t snapshot_every = core::limits::user_snapshot_every_events_default) {
    user_config out;
    out.user = user;
    out.journal = &journal;
    out.loader = &loader;
    out.clock = [this] { return clock_now; };
    out.deliver = deliveries.as_delivery();
    out.snapshot_every_events = snapshot_every;
    out.counters = &counters;
    return out;
  }

  net::responder next_reply(std::uint32_t& sequence) {
    sequence = next_sequence++;
    return net::responder(&loop, 1, sequence);
  }

  /// Runs the actors and the deliveries from other threads until request `sequence` is answered.
  const net::http_response* await(std::uint32_t sequence) {
    bool answered = wait_until([&] { return loop.reply(sequence) != nullptr; },
                               [&] {
                                 bool delivered = deliveries.drain();
                                 sched.run();
                                 return delivered;
                               });
    return answered ? loop.reply(sequence) : nullptr;
  }

  const net::http_response* create_token(const user_actor& actor, std::int64_t max_amount) {
    std::uint32_t sequence = 0;
    caf::anon_send(actor, command_atom::value, user_command{token_request(user, token, max_amount, next_reply(sequence))});
    return await(sequence);
  }

  const net::http_response* charge_once(const user_actor& actor, std::uint64_t n,
                                        std::int64_t amount, std::string_view key) {
    std::uint32_t sequence = 0;
    caf::anon_send(actor, command_atom::value, user_command{charge(user, token, n, amount, key, next_reply(sequence))});
    return await(sequence);
  }

  const net::http_response* send(const user_actor& actor, user_command command) {
    std::uint32_t sequence = next_sequence - 1;
    std::visit([&](auto& request) { request.reply = next_reply(sequence); }, command);
    caf::anon_send(actor, command_atom::value, std::move(command));
    return await(sequence);
  }

  hold_request hold(std::uint64_t n, std::int64_t amount, std::int64_t expires_in,
                    std::optional<std::string> with_token = std::nullopt) {
    hold_request request;
    request.user = user;
    request.command.id = test_id(core::id_kind::hold, n);
    request.command.provider = "acme";
    request.command.token = std::move(with_token);
    request.command.amount = core::money{amount, core::currency::usd};
    request.command.expires_at = clock_now + expires_in;
    request.idempotency = test_key("hold-" + std::to_string(n), "{\"hold\":" + std::to_string(n) + "}");
    return request;
  }

  /// The actor's state, read between scheduler runs (the fixture's `deref` needs CAF's own test
  /// engine, which does not run under GoogleTest).
  user_state& state_of(const user_actor& actor) {
    return dynamic_cast<user_pointer&>(*caf::actor_cast<caf::abstract_actor*>(actor)).state;
  }

  /// Waits until the actor has loaded (its stash is empty and it is loaded).
  void await_loaded(const user_actor& actor) {
    ASSERT_TRUE(wait_until([&] { return state_of(actor).loaded; },
                           [&] {
                             bool delivered = deliveries.drain();
                             sched.run();
                             return delivered;
                           }));
  }
};

TEST_F(UserActorTest, ChargeIsAnsweredOnlyAfterItsEventIsDurable) {
  auto actor = spawn_user(sys, config());
  auto* created = create_token(actor, 5000);
  ASSERT_NE(created, nullptr);
  ASSERT_EQ(created->status, 201) << created->body;

  journal.close_gate();
  std::uint32_t sequence = 0;
  caf::anon_send(actor, command_atom::value, user_command{charge(user, token, 1, 1299, "k1", next_reply(sequence))});
  ASSERT_TRUE(wait_until([&] { return journal.held() == 1; },
                         [&] {
                           bool delivered = deliveries.drain();
                           sched.run();
                           return delivered;
                         }));
  // Decided and applied in memory, appended, but not durable: no reply yet.
  for (int i = 0; i < 50; ++i) {
    deliveries.drain();
    sched.run();
  }
  EXPECT_EQ(loop.reply(sequence), nullptr);
  EXPECT_EQ(state_of(actor).ledger.providers.at("acme").spent, 1299);

  journal.open_gate();
  journal.release();
  auto* reply = await(sequence);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->status, 201) << reply->body;
  EXPECT_TRUE(contains(reply->body, R"("amount":1299,"currency":"usd")")) << reply->body;
  EXPECT_TRUE(header(*reply, "Idempotent-Replayed").empty());

  // The events are in the journal and the chain verifies.
  auto events = sqlite->read_stream(user, 1, 100);
  ASSERT_TRUE(events);
  ASSERT_EQ(events.value().size(), 2u);
  EXPECT_EQ(events.value()[0].type, "token.created");
  EXPECT_EQ(events.value()[1].type, "charge.created");
  auto verification = sqlite->verify_stream(user);
  ASSERT_TRUE(verification);
  EXPECT_TRUE(verification.value().valid);
  EXPECT_EQ(verification.value().events, 2u);
  EXPECT_EQ(state_of(actor).head_seq, 2u);
  EXPECT_EQ(state_of(actor).head_hash, events.value()[1].hash);
}

TEST_F(UserActorTest, SameKeyAndBodyIsReplayedWithoutChargingAgain) {
  auto actor = spawn_user(sys, config());
  ASSERT_EQ(create_token(actor, 5000)->status, 201);
  auto* first = charge_once(actor, 1, 700, "k1");
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->status, 201);
  const std::string original = first->body;

  // A retry carries a fresh charge id from its handler; the original answer comes back.
  auto* again = charge_once(actor, 2, 700, "k1");
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->status, 201);
  EXPECT_EQ(again->body, original);
  EXPECT_EQ(header(*again, "Idempotent-Replayed"), "true");
  EXPECT_EQ(state_of(actor).ledger.providers.at("acme").spent, 700);
  EXPECT_EQ(sqlite->events_durable(), 2u);
}

TEST_F(UserActorTest, SameKeyWithAnotherBodyIsAConflict) {
  auto actor = spawn_user(sys, config());
  ASSERT_EQ(create_token(actor, 5000)->status, 201);
  ASSERT_EQ(charge_once(actor, 1, 700, "k1")->status, 201);
  auto* conflict = charge_once(actor, 2, 800, "k1");
  ASSERT_NE(conflict, nullptr);
  EXPECT_EQ(conflict->status, 422);
  EXPECT_TRUE(contains(conflict->body, R"("code":"idempotency_conflict")")) << conflict->body;
  EXPECT_EQ(state_of(actor).ledger.providers.at("acme").spent, 700);
}

TEST_F(UserActorTest, ARetryWhileTheOriginalRunsIsInFlight) {
  auto actor = spawn_user(sys, config());
  ASSERT_EQ(create_token(actor, 5000)->status, 201);
  journal.close_gate();
  std::uint32_t original = 0;
  caf::anon_send(actor, command_atom::value, user_command{charge(user, token, 1, 700, "k1", next_reply(original))});
  ASSERT_TRUE(wait_until([&] { return journal.held() == 1; },
                         [&] {
                           bool delivered = deliveries.drain();
                           sched.run();
                           return delivered;
                         }));
  std::uint32_t retry = 0;
  caf::anon_send(actor, command_atom::value, user_command{charge(user, token, 2, 700, "k1", next_reply(retry))});
  auto* busy = await(retry);
  ASSERT_NE(busy, nullptr);
  EXPECT_EQ(busy->status, 409);
  EXPECT_EQ(header(*busy, "Retry-After"), "1");
  journal.open_gate();
  journal.release();
  ASSERT_NE(await(original), nullptr);
  EXPECT_EQ(loop.reply(original)->status, 201);
}

TEST_F(UserActorTest, BudgetDeclinesNameTheirScopeAndAreReplayedDurably) {
  auto actor = spawn_user(sys, config());
  ASSERT_EQ(create_token(actor, 5000)->status, 201);
  auto* token_decline = charge_once(actor, 1, 5001, "k1");
  ASSERT_NE(token_decline, nullptr);
  EXPECT_EQ(token_decline->status, 402);
  EXPECT_EQ(token_decline->content_type, core::problem_content_type);
  EXPECT_TRUE(contains(token_decline->body, R"("code":"budget_exceeded")"));
  EXPECT_TRUE(contains(token_decline->body, R"("scope":"token")")) << token_decline->body;
  // Exactly the token's max passes.
  EXPECT_EQ(charge_once(actor, 2, 5000, "k2")->status, 201);

  // A decline is the key's outcome, stored in the journal: a new activation replays it.
  auto stored = sqlite->find_idempotency(test_key("k1", "{\"amount\":5001}").scope_key);
  ASSERT_TRUE(stored);
  ASSERT_TRUE(stored.value().has_value());
  EXPECT_EQ(stored.value()->status, 402);
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  sched.run();
  auto second = spawn_user(sys, config());
  auto* replayed = charge_once(second, 3, 5001, "k1");
  ASSERT_NE(replayed, nullptr);
  EXPECT_EQ(replayed->status, 402);
  EXPECT_EQ(header(*replayed, "Idempotent-Replayed"), "true");
  EXPECT_TRUE(contains(replayed->body, R"("scope":"token")"));
}

TEST_F(UserActorTest, ProviderCapDeclineNamesProviderMonthly) {
  auto actor = spawn_user(sys, config());
  ASSERT_EQ(create_token(actor, 1'000'000)->status, 201);
  ASSERT_EQ(charge_once(actor, 1, 9000, "k1")->status, 201);
  auto* decline = charge_once(actor, 2, 1001, "k2");
  ASSERT_NE(decline, nullptr);
  EXPECT_EQ(decline->status, 402);
  EXPECT_TRUE(contains(decline->body, R"("scope":"provider_monthly")")) << decline->body;
  EXPECT_EQ(charge_once(actor, 3, 1000, "k3")->status, 201);

  std::uint32_t sequence = 0;
  caf::anon_send(actor, command_atom::value, user_command{spend_request{user, next_reply(sequence)}});
  auto* spend = await(sequence);
  ASSERT_NE(spend, nullptr);
  EXPECT_EQ(spend->status, 200);
  EXPECT_TRUE(contains(spend->body,
                       R"({"provider":"acme","spent":{"amount":10000,"currency":"usd"},)"
                       R"("held":{"amount":0,"currency":"usd"},"cap":{"amount":10000,"currency":"usd"}})"))
    << spend->body;
}

TEST_F(UserActorTest, AReactivatedUserHasTheSameLedger) {
  auto actor = spawn_user(sys, config(/*snapshot_every=*/3));
  ASSERT_EQ(create_token(actor, 1'000'000)->status, 201);
  for (std::uint64_t i = 1; i <= 5; ++i)
    ASSERT_EQ(charge_once(actor, i, 100 * static_cast<std::int64_t>(i), "k" + std::to_string(i))->status,
              201);
  const core::ledger_state before = state_of(actor).ledger;
  const auto seq = state_of(actor).head_seq;
  const auto hash = state_of(actor).head_hash;
  EXPECT_EQ(seq, 6u);
  // A snapshot was written on the way (every 3 events), so activation reads it and the tail.
  auto snapshot = sqlite->latest_snapshot(user);
  ASSERT_TRUE(snapshot);
  ASSERT_TRUE(snapshot.value().has_value());
  EXPECT_EQ(snapshot.value()->seq, 6u);

  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  sched.run();
  auto again = spawn_user(sys, config(3));
  await_loaded(again);
  EXPECT_EQ(state_of(again).ledger, before);
  EXPECT_EQ(state_of(again).head_seq, seq);
  EXPECT_EQ(state_of(again).head_hash, hash);
  EXPECT_EQ(state_of(again).snapshot_seq, 6u);
  EXPECT_EQ(counters.activations.load(), 2u);

  // It continues the chain.
  ASSERT_EQ(charge_once(again, 9, 50, "k9")->status, 201);
  auto verification = sqlite->verify_stream(user);
  ASSERT_TRUE(verification);
  EXPECT_TRUE(verification.value().valid);
  EXPECT_EQ(verification.value().events, 7u);
}

TEST_F(UserActorTest, AReactivationFromEventsAloneHasTheSameLedger) {
  auto actor = spawn_user(sys, config(/*snapshot_every=*/0));
  ASSERT_EQ(create_token(actor, 1'000'000)->status, 201);
  ASSERT_EQ(charge_once(actor, 1, 250, "k1")->status, 201);
  ASSERT_EQ(charge_once(actor, 2, 5000, "k2")->status, 201);
  const core::ledger_state before = state_of(actor).ledger;
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  sched.run();
  auto again = spawn_user(sys, config(0));
  await_loaded(again);
  EXPECT_EQ(state_of(again).ledger, before);
  EXPECT_EQ(state_of(again).snapshot_seq, 0u);
}

TEST_F(UserActorTest, AJournalFailureAnswers503StopsAndLosesNothingAcknowledged) {
  auto actor = spawn_user(sys, config());
  ASSERT_EQ(create_token(actor, 1'000'000)->status, 201);
  ASSERT_EQ(charge_once(actor, 1, 300, "k1")->status, 201);

  journal.close_gate();
  std::uint32_t failed = 0;
  caf::anon_send(actor, command_atom::value, user_command{charge(user, token, 2, 400, "k2", next_reply(failed))});
  ASSERT_TRUE(wait_until([&] { return journal.held() == 1; },
                         [&] {
                           bool delivered = deliveries.drain();
                           sched.run();
                           return delivered;
                         }));
  journal.fail(storage::journal_error::io_error);
  journal.open_gate();
  auto* reply = await(failed);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->status, 503);
  EXPECT_TRUE(contains(reply->body, R"("code":"overloaded")"));
  EXPECT_EQ(counters.stopped.load(), 1u);

  // The state that ran ahead went with the actor; a new activation has only the durable charge,
  // and the client's retry with the same key executes (503 is not a stored outcome).
  auto again = spawn_user(sys, config());
  await_loaded(again);
  EXPECT_EQ(state_of(again).ledger.providers.at("acme").spent, 300);
  auto* retry = charge_once(again, 3, 400, "k2");
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(retry->status, 201);
  EXPECT_TRUE(header(*retry, "Idempotent-Replayed").empty());
  EXPECT_EQ(state_of(again).ledger.providers.at("acme").spent, 700);
  auto verification = sqlite->verify_stream(user);
  ASSERT_TRUE(verification);
  EXPECT_TRUE(verification.value().valid);
  EXPECT_EQ(verification.value().events, 3u);
}

TEST_F(UserActorTest, CommandsSentBeforeActivationFinishesAreStashedInOrder) {
  auto actor = spawn_user(sys, config());
  std::uint32_t token_reply = 0;
  std::uint32_t charge_reply = 0;
  caf::anon_send(actor, command_atom::value, user_command{token_request(user, token, 5000, next_reply(token_reply))});
  caf::anon_send(actor, command_atom::value, user_command{charge(user, token, 1, 100, "k1", next_reply(charge_reply))});
  sched.run(); // both handled before the load result arrives
  EXPECT_FALSE(state_of(actor).loaded);
  EXPECT_EQ(state_of(actor).stash.size(), 2u);
  ASSERT_NE(await(charge_reply), nullptr);
  EXPECT_EQ(loop.reply(token_reply)->status, 201);
  EXPECT_EQ(loop.reply(charge_reply)->status, 201);
}

/// Caps hold exactly under concurrency: a real actor system, 200 charges sent from 8 threads.
TEST(UserActorConcurrency, CapsAreExactUnderTwoHundredConcurrentCharges) {
  temp_dir dir;
  auto journal = open_journal(dir);
  loader_pool loader{2};
  capture_loop loop;
  const std::string user = test_id(core::id_kind::user, 7);
  const std::string token = test_id(core::id_kind::payment_token, 7);
  {
    caf::actor_system_config cfg;
    caf::actor_system system{cfg};
    user_config config;
    config.user = user;
    config.journal = journal.get();
    config.loader = &loader;
    config.clock = [] { return test_now; };
    auto actor = spawn_user(system, config);
    caf::anon_send(actor, command_atom::value, user_command{token_request(user, token, 1'000'000, net::responder(&loop, 1, 100000))});
    ASSERT_TRUE(wait_until([&] { return loop.collect() == 1; }, [] { return false; }));
    ASSERT_EQ(loop.all[0].response.status, 201);

    constexpr int threads = 8;
    constexpr int per_thread = 25;
    std::vector<std::thread> senders;
    for (int t = 0; t < threads; ++t)
      senders.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          const auto n = static_cast<std::uint32_t>(t * per_thread + i);
          std::string key = "c";
          key += std::to_string(n);
          caf::anon_send(actor, command_atom::value, user_command{charge(user, token, n + 1, 100, key,
                                net::responder(&loop, 1, n))});
        }
      });
    for (auto& sender : senders)
      sender.join();
    ASSERT_TRUE(wait_until([&] { return loop.collect() == 201; }, [] { return false; }, 60));
    int approved = 0;
    int declined = 0;
    for (const auto& entry : loop.all) {
      if (entry.sequence == 100000)
        continue;
      if (entry.response.status == 201)
        ++approved;
      else if (entry.response.status == 402 &&
               contains(entry.response.body, R"("scope":"provider_monthly")"))
        ++declined;
    }
    // The default provider cap is 10000 cents: exactly 100 charges of 100 fit.
    EXPECT_EQ(approved, 100);
    EXPECT_EQ(declined, 100);
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  }
  auto verification = journal->verify_stream(user);
  ASSERT_TRUE(verification);
  EXPECT_TRUE(verification.value().valid);
  EXPECT_EQ(verification.value().events, 101u);
  auto reloaded = load_user(*journal, user);
  ASSERT_FALSE(reloaded.failure);
  EXPECT_EQ(reloaded.ledger.providers.at("acme").spent, 10000);
}

} // namespace
} // namespace steward::actors

namespace steward::actors {
namespace {

TEST_F(UserActorTest, HoldReservesTheBudgetUntilItIsReleased) {
  auto actor = spawn_user(sys, config());
  ASSERT_EQ(create_token(actor, 1'000'000)->status, 201);
  auto* held = send(actor, hold(1, 6000, 600));
  ASSERT_NE(held, nullptr);
  ASSERT_EQ(held->status, 201) << held->body;
  EXPECT_TRUE(contains(held->body, R"("object":"hold","status":"held")")) << held->body;

  auto* refused = charge_once(actor, 1, 5000, "k1");
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->status, 402);
  EXPECT_TRUE(contains(refused->body, R"("scope":"provider_monthly")")) << refused->body;

  auto* released = send(actor, release_hold_request{user, test_id(core::id_kind::hold, 1), {}});
  ASSERT_NE(released, nullptr);
  EXPECT_EQ(released->status, 200) << released->body;
  EXPECT_EQ(charge_once(actor, 2, 5000, "k2")->status, 201);
  auto* again = send(actor, release_hold_request{user, test_id(core::id_kind::hold, 1), {}});
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->status, 404) << "a released hold is gone";
}

TEST_F(UserActorTest, ExpiredHoldIsReleasedByTheTimerAndJournaled) {
  auto actor = spawn_user(sys, config());
  ASSERT_EQ(create_token(actor, 1'000'000)->status, 201);
  ASSERT_EQ(send(actor, hold(1, 6000, 60))->status, 201);
  EXPECT_EQ(charge_once(actor, 1, 5000, "k1")->status, 402);

  // Not yet: a timeout fired early changes nothing.
  clock_now += 30;
  sched.trigger_timeouts();
  sched.run();
  EXPECT_EQ(state_of(actor).ledger.holds.size(), 1u);

  clock_now += 31;
  sched.trigger_timeouts();
  sched.run();
  EXPECT_TRUE(state_of(actor).ledger.holds.empty());
  EXPECT_EQ(charge_once(actor, 2, 5000, "k2")->status, 201);

  auto events = journal.read_stream(user, 1, 100);
  ASSERT_TRUE(events);
  bool released = false;
  for (const auto& event : events.value())
    if (event.type == "hold.expired")
      released = true;
  EXPECT_TRUE(released) << "the expiry is in the audit trail";
}

TEST_F(UserActorTest, ChargeNamingAHoldSettlesItAndReleasesTheRest) {
  auto actor = spawn_user(sys, config());
  ASSERT_EQ(create_token(actor, 1'000'000)->status, 201);
  ASSERT_EQ(send(actor, hold(1, 6000, 600, token))->status, 201);
  auto settle = charge(user, token, 1, 4000, "k1", {});
  settle.command.hold = test_id(core::id_kind::hold, 1);
  auto* settled = send(actor, std::move(settle));
  ASSERT_NE(settled, nullptr);
  ASSERT_EQ(settled->status, 201) << settled->body;
  EXPECT_TRUE(state_of(actor).ledger.holds.empty());
  // 4000 spent, nothing held: exactly 6000 is left under the 10000 cap.
  EXPECT_EQ(charge_once(actor, 2, 6001, "k2")->status, 402);
  EXPECT_EQ(charge_once(actor, 3, 6000, "k3")->status, 201);
}

} // namespace
} // namespace steward::actors
