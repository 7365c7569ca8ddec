#include "actors/directory.hpp"

#include "actors/actor_test_support.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/test/dsl.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

namespace steward::actors {
namespace {

using namespace testing;

TEST(DirectoryShardIndex, IsStableAndInRange) {
  const std::string user = test_id(core::id_kind::user, 42);
  EXPECT_EQ(shard_index(user, 4), shard_index(user, 4));
  EXPECT_EQ(shard_index(user, 1), 0u);
  // FNV-1a of "" is its offset basis: pinned so that the mapping never changes silently.
  EXPECT_EQ(shard_index("", 1000), 14695981039346656037ull % 1000);
  std::vector<int> used(4, 0);
  for (std::uint64_t n = 0; n < 400; ++n)
    ++used[shard_index(test_id(core::id_kind::user, n), 4)];
  for (int count : used)
    EXPECT_GT(count, 50); // spread over every shard
}

/// A real actor system, because the point is concurrency: first messages for one user race from
/// two threads (and through several shards' worth of other traffic).
struct DirectoryTest : ::testing::Test {
  temp_dir dir;
  std::unique_ptr<storage::sqlite_journal> sqlite = open_journal(dir);
  gated_journal journal{*sqlite};
  loader_pool loader{2};
  capture_loop loop;
  user_counters counters;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system = std::make_unique<caf::actor_system>(cfg);
  directory users{*system, make_config()};

  directory_config make_config() {
    directory_config out;
    out.shards = 4;
    out.journal = &journal;
    out.loader = &loader;
    out.clock = [] { return test_now; };
    out.counters = &counters;
    return out;
  }

  ~DirectoryTest() override {
    users.stop();
    system.reset(); // waits for every actor, before the journal and the loader go
  }

  const net::http_response* await(std::uint32_t sequence) {
    wait_until([&] { return loop.reply(sequence) != nullptr; }, [] { return false; });
    return loop.reply(sequence);
  }
};

TEST(HibernatedImages, PastTheBoundTheImageKeptLongestGoes) {
  hibernated_images images;
  std::vector<std::uint64_t> dropped;
  auto const drop = [&dropped](const hibernated_images::view& image) { dropped.push_back(image.seq); };
  auto const image = [](std::uint64_t seq) { return user_image{"ledger", seq, core::chain_genesis, 0}; };
  images.put("usr_a", image(1), 2, drop);
  images.put("usr_b", image(2), 2, drop);
  // usr_a activates (its image is taken) and passivates again: now the most recently used.
  ASSERT_EQ(images.take("usr_a")->seq, 1u);
  EXPECT_EQ(images.size(), 1u);
  images.put("usr_a", image(3), 2, drop);
  images.put("usr_c", image(4), 2, drop);
  EXPECT_EQ(dropped, std::vector<std::uint64_t>{2}) << "usr_b was kept longest";
  EXPECT_FALSE(images.find("usr_b"));
  EXPECT_EQ(images.at("usr_a").seq, 3u);
  EXPECT_EQ(images.at("usr_c").seq, 4u);
  // A newer image of a kept user replaces it without dropping another.
  images.put("usr_a", image(5), 2, drop);
  EXPECT_EQ(dropped.size(), 1u);
  EXPECT_EQ(images.at("usr_a").seq, 5u);
  images.put("usr_d", image(6), 2, drop);
  EXPECT_EQ(dropped, (std::vector<std::uint64_t>{2, 4})) << "usr_c was older than usr_a's newer image";
  EXPECT_FALSE(images.take("usr_c"));
  images.clear(drop);
  EXPECT_TRUE(images.empty());
  EXPECT_EQ(dropped, (std::vector<std::uint64_t>{2, 4, 5, 6}));
}

TEST(HibernatedImages, EveryFieldComesBackWhateverTheOrderOfTaking) {
  hibernated_images images;
  auto const image_of = [](int i) {
    user_image image;
    image.ledger = std::string("ledger\0", 7) + std::string(static_cast<std::size_t>(i % 300), 'x') + std::to_string(i);
    image.seq = static_cast<std::uint64_t>(i) * 3 + 1;
    image.hash.fill(static_cast<std::uint8_t>(i));
    image.hash[31] = static_cast<std::uint8_t>(i >> 8);
    image.snapshot_seq = static_cast<std::uint64_t>(i);
    return image;
  };
  auto const same = [](const user_image& a, const user_image& b) {
    return a.ledger == b.ledger && a.seq == b.seq && a.hash == b.hash && a.snapshot_seq == b.snapshot_seq;
  };
  int dropped = 0;
  auto const drop = [&dropped](const hibernated_images::view&) { ++dropped; };
  constexpr int count = 5000;
  // "usr_1" is a prefix of "usr_10": each must find its own.
  for (int i = 0; i < count; ++i)
    images.put("usr_" + std::to_string(i), image_of(i), count, drop);
  EXPECT_EQ(images.size(), static_cast<std::size_t>(count));
  for (int i = 0; i < count; i += 3) {
    auto taken = images.take("usr_" + std::to_string(i));
    ASSERT_TRUE(taken) << i;
    EXPECT_TRUE(same(*taken, image_of(i))) << i;
  }
  for (int i = count - 1; i >= 0; --i) {
    const std::string user = "usr_" + std::to_string(i);
    if (i % 3 == 0) {
      EXPECT_FALSE(images.find(user)) << i;
      continue;
    }
    const auto kept = images.at(user);
    EXPECT_EQ(kept.ledger, image_of(i).ledger) << i;
    EXPECT_EQ(kept.snapshot_seq, static_cast<std::uint64_t>(i));
    auto taken = images.take(user);
    ASSERT_TRUE(taken) << i;
    EXPECT_TRUE(same(*taken, image_of(i))) << i;
  }
  EXPECT_TRUE(images.empty());
  EXPECT_EQ(dropped, 0);
  // And it fills again after being emptied.
  images.put("usr_again", image_of(7), 1, drop);
  EXPECT_TRUE(same(*images.take("usr_again"), image_of(7)));
}

TEST_F(DirectoryTest, ConcurrentFirstMessagesActivateTheUserOnce) {
  for (int round = 0; round < 20; ++round) {
    const std::string user = test_id(core::id_kind::user, 1000 + round);
    const std::string token = test_id(core::id_kind::payment_token, 1000 + round);
    const auto base = static_cast<std::uint32_t>(round * 10);
    std::thread first([&] {
      users.send(token_request(user, token, 5000, net::responder(&loop, 1, base)));
    });
    std::thread second([&] { users.send(spend_request{user, net::responder(&loop, 1, base + 1)}); });
    first.join();
    second.join();
    ASSERT_NE(await(base), nullptr);
    ASSERT_NE(await(base + 1), nullptr);
    EXPECT_EQ(loop.reply(base)->status, 201) << loop.reply(base)->body;
    EXPECT_EQ(loop.reply(base + 1)->status, 200);
    // Later messages reach the same activation: the token it created is there.
    users.send(charge(user, token, 1000 + round, 100, "k", net::responder(&loop, 1, base + 2)));
    ASSERT_NE(await(base + 2), nullptr);
    EXPECT_EQ(loop.reply(base + 2)->status, 201) << loop.reply(base + 2)->body;
  }
  EXPECT_EQ(counters.activations.load(), 20u);
}

TEST_F(DirectoryTest, AUserStoppedByAJournalFailureIsReactivatedFromDurableState) {
  const std::string user = test_id(core::id_kind::user, 5);
  const std::string token = test_id(core::id_kind::payment_token, 5);
  users.send(token_request(user, token, 1'000'000, net::responder(&loop, 1, 0)));
  ASSERT_NE(await(0), nullptr);
  ASSERT_EQ(loop.reply(0)->status, 201);
  users.send(charge(user, token, 1, 300, "k1", net::responder(&loop, 1, 1)));
  ASSERT_NE(await(1), nullptr);
  ASSERT_EQ(loop.reply(1)->status, 201);

  journal.close_gate();
  users.send(charge(user, token, 2, 400, "k2", net::responder(&loop, 1, 2)));
  ASSERT_TRUE(wait_until([&] { return journal.held() == 1; }, [] { return false; }));
  // Sent while the append is held: the shard forwards it to the same activation, which answers
  // it 503 once the journal failed (it is never lost between the two activations).
  users.send(charge(user, token, 3, 500, "k3", net::responder(&loop, 1, 3)));
  journal.open_gate();
  journal.fail(storage::journal_error::io_error);
  ASSERT_NE(await(2), nullptr);
  EXPECT_EQ(loop.reply(2)->status, 503);
  ASSERT_NE(await(3), nullptr);
  EXPECT_EQ(loop.reply(3)->status, 503); // forwarded to the failing activation
  ASSERT_TRUE(wait_until([&] { return counters.stopped.load() == 1; }, [] { return false; }));

  // The next message re-activates the user from the journal: the failed 400 is not there.
  ASSERT_TRUE(wait_until(
    [&] {
      const auto sequence = static_cast<std::uint32_t>(100 + loop.all.size());
      users.send(spend_request{user, net::responder(&loop, 1, sequence)});
      auto* spend = await(sequence);
      return spend != nullptr && spend->status == 200;
    },
    [] { return false; }));
  EXPECT_EQ(counters.activations.load(), 2u);
  users.send(charge(user, token, 4, 400, "k2", net::responder(&loop, 1, 4)));
  ASSERT_NE(await(4), nullptr);
  EXPECT_EQ(loop.reply(4)->status, 201) << loop.reply(4)->body;
  users.send(spend_request{user, net::responder(&loop, 1, 5)});
  ASSERT_NE(await(5), nullptr);
  EXPECT_TRUE(contains(loop.reply(5)->body, R"("spent":{"amount":700,"currency":"usd"})"))
    << loop.reply(5)->body;
  auto verification = sqlite->verify_stream(user);
  ASSERT_TRUE(verification);
  EXPECT_TRUE(verification.value().valid);
}

using shard_pointer = directory_shard::stateful_base<directory_shard_state>;

/// Passivation, deterministically: CAF's test coordinator with its simulated clock drives the idle
/// ticks (`tick()` advances it by one tick period), and the deliveries from the loader pool and the
/// journal's writer thread go through an inbox drained on the test's thread.
struct DirectoryPassivationTest : ::testing::Test, test_coordinator_fixture<> {
  static constexpr std::chrono::milliseconds idle_timeout{1000};
  static constexpr std::chrono::milliseconds tick_period = idle_timeout / 2;

  // Declared in this order so that the loader and the journal stop before the inbox goes.
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
  /// The actors' clock (unix seconds), apart from CAF's simulated clock that drives the ticks.
  std::int64_t clock_now = test_now;
  std::optional<directory> users;
  std::vector<caf::actor> watchers;

  void start(std::chrono::milliseconds idle = idle_timeout,
             std::size_t hibernated_max = core::limits::user_hibernated_max_default) {
    directory_config config;
    config.shards = 2;
    config.hibernated_max = hibernated_max;
    config.journal = &journal;
    config.loader = &loader;
    config.clock = [this] { return clock_now; };
    config.deliver = deliveries.as_delivery();
    config.idle_timeout = idle;
    config.counters = &counters;
    users.emplace(sys, std::move(config));
  }

  ~DirectoryPassivationTest() override {
    if (users)
      users->stop();
    sched.run();
  }

  /// Sends `command` through the directory with a fresh reply sequence, and returns it.
  std::uint32_t post(user_command command) {
    const std::uint32_t sequence = next_sequence++;
    std::visit([&](auto& request) { request.reply = net::responder(&loop, 1, sequence); },
               command);
    users->send(std::move(command));
    return sequence;
  }

  bool step() {
    bool delivered = deliveries.drain();
    sched.run();
    return delivered;
  }

  /// Runs the actors and the deliveries from other threads until request `sequence` is answered.
  const net::http_response* await(std::uint32_t sequence) {
    wait_until([&] { return loop.reply(sequence) != nullptr; }, [&] { return step(); });
    return loop.reply(sequence);
  }

  const net::http_response* ask(user_command command) { return await(post(std::move(command))); }

  /// One idle tick: the simulated clock moves by one tick period, and everything it set off runs.
  void tick() {
    sched.advance_time(tick_period);
    sched.run();
  }

  directory_shard_state& shard(const std::string& id) {
    return dynamic_cast<shard_pointer&>(
             *caf::actor_cast<caf::abstract_actor*>(users->shard_for(id)))
      .state;
  }
  directory_shard_state& shard() { return shard(user); }

  user_state& state_of_user(const user_actor& actor) {
    return dynamic_cast<user_actor::stateful_base<user_state>&>(
             *caf::actor_cast<caf::abstract_actor*>(actor))
      .state;
  }

  /// The user's actor in its shard's map, or an invalid handle.
  user_actor mapped() {
    auto found = shard().users.find(user);
    return found == shard().users.end() ? user_actor{} : found->second;
  }

  /// Passivates every idle user: three ticks, the first of which may still see commands.
  void passivate_idle() {
    tick();
    tick();
    tick();
  }

  std::size_t charges_in_journal() {
    auto events = sqlite->read_stream(user, 1, 1000);
    std::size_t out = 0;
    for (const auto& event : events.value())
      out += event.type == "charge.created" ? 1 : 0;
    return out;
  }

  /// The user's stream verified from the genesis: its event count (0, with a failure, if broken).
  std::uint64_t verified_events() {
    auto verification = sqlite->verify_stream(user);
    EXPECT_TRUE(verification);
    if (!verification)
      return 0;
    EXPECT_TRUE(verification.value().valid);
    return verification.value().events;
  }

  std::string spend_body() {
    auto* spend = ask(spend_request{user, {}});
    return spend == nullptr ? std::string() : spend->body;
  }

  /// Counts the down messages of `actor`, seen by an actor of the test (kept alive in `watchers`:
  /// an actor nobody references is gone).
  std::shared_ptr<int> watch(const user_actor& actor) {
    auto downs = std::make_shared<int>(0);
    // The state goes in as spawn arguments: CAF 0.17 dereferences a null tuple for a function
    // actor spawned without any (UBSan reports it inside CAF's init_fun_factory).
    auto watch_actor = [](caf::event_based_actor* watcher, user_actor watched,
                          std::shared_ptr<int> count) -> caf::behavior {
      watcher->monitor(watched);
      watcher->set_down_handler([watcher, count](caf::down_msg&) {
        ++*count;
        watcher->quit();
      });
      return {[](int) {}};
    };
    watchers.push_back(sys.spawn(watch_actor, actor, downs));
    sched.run();
    return downs;
  }
};

TEST_F(DirectoryPassivationTest, AWaveOfPassivationsLeavesEveryUserAnImageAndNoActorWatched) {
  start();
  constexpr int count = 300;
  std::vector<std::string> ids;
  for (int n = 0; n < count; ++n) {
    ids.push_back(test_id(core::id_kind::user, 3000 + n));
    ASSERT_EQ(ask(token_request(ids.back(), test_id(core::id_kind::payment_token, 3000 + n), 1'000'000, {}))->status,
              201);
  }
  std::set<directory_shard_state*> shards;
  for (const auto& id : ids)
    shards.insert(&shard(id));
  ASSERT_EQ(shards.size(), 2u);
  std::size_t watched = 0;
  for (auto* s : shards)
    watched += s->monitored.size();
  EXPECT_EQ(watched, static_cast<std::size_t>(count));

  // All of them go idle at once: each down message finds its user, and nothing is left behind.
  passivate_idle();
  for (auto* s : shards) {
    EXPECT_TRUE(s->users.empty());
    EXPECT_TRUE(s->retiring.empty());
    EXPECT_TRUE(s->monitored.empty());
  }
  EXPECT_EQ(counters.hibernated.load(), count);
  EXPECT_EQ(counters.passivations.load(), static_cast<std::uint64_t>(count));

  // A third of them come back, each from its image.
  for (int n = 0; n < count; n += 3)
    ASSERT_EQ(ask(charge(ids[static_cast<std::size_t>(n)], test_id(core::id_kind::payment_token, 3000 + n),
                         static_cast<std::uint64_t>(n), 100, "wave-" + std::to_string(n), {}))
                ->status,
              201)
      << n;
  EXPECT_EQ(counters.resumed.load(), static_cast<std::uint64_t>(count / 3));
  EXPECT_EQ(counters.hibernated.load(), count - count / 3);
  watched = 0;
  for (auto* s : shards)
    watched += s->monitored.size();
  EXPECT_EQ(watched, static_cast<std::size_t>(count / 3));
}

TEST_F(DirectoryPassivationTest, AnIdleUserIsPassivatedAndReactivatedFromTheJournal) {
  start(idle_timeout, /*hibernated_max=*/0);
  ASSERT_EQ(ask(token_request(user, token, 1'000'000, {}))->status, 201);
  ASSERT_EQ(ask(charge(user, token, 1, 300, "k1", {}))->status, 201);
  const user_actor first = mapped();
  ASSERT_TRUE(first);
  auto downs = watch(first);

  tick(); // sees the commands above: not quiet
  tick(); // quiet once
  EXPECT_EQ(mapped(), first);
  EXPECT_EQ(counters.passivations.load(), 0u);
  ASSERT_EQ(shard().monitored.size(), 1u);
  EXPECT_EQ(shard().monitored.begin()->first, first.id());
  EXPECT_EQ(shard().monitored.begin()->second, user);
  tick(); // quiet twice: a whole idle_timeout without a command
  EXPECT_FALSE(mapped());
  EXPECT_TRUE(shard().users.empty());
  EXPECT_TRUE(shard().retiring.empty()) << "the shard saw the old actor go down";
  EXPECT_TRUE(shard().monitored.empty());
  EXPECT_EQ(*downs, 1);
  EXPECT_EQ(counters.passivations.load(), 1u);
  EXPECT_EQ(counters.activations.load(), 1u);
  EXPECT_EQ(counters.stopped.load(), 0u);
  EXPECT_TRUE(shard().hibernated.empty()) << "no image is kept with a bound of 0";
  EXPECT_EQ(counters.hibernated.load(), 0);

  // The next command activates the user again, from the journal: the token still charges and the
  // earlier charge still counts.
  auto* charged = ask(charge(user, token, 2, 400, "k2", {}));
  ASSERT_NE(charged, nullptr);
  EXPECT_EQ(charged->status, 201) << charged->body;
  EXPECT_EQ(counters.activations.load(), 2u);
  EXPECT_EQ(counters.resumed.load(), 0u);
  ASSERT_TRUE(mapped());
  EXPECT_NE(mapped(), first);
  EXPECT_TRUE(contains(spend_body(), R"("spent":{"amount":700,"currency":"usd"})")) << spend_body();
  EXPECT_EQ(verified_events(), 3u);
}

TEST_F(DirectoryPassivationTest, AUserWithCommandsBetweenTicksStaysActive) {
  start();
  ASSERT_EQ(ask(token_request(user, token, 1'000'000, {}))->status, 201);
  const user_actor first = mapped();
  for (int i = 0; i < 10; ++i) {
    tick();
    ASSERT_EQ(ask(spend_request{user, {}})->status, 200);
  }
  EXPECT_EQ(mapped(), first);
  EXPECT_EQ(counters.passivations.load(), 0u);
  EXPECT_EQ(counters.activations.load(), 1u);
  // Once the commands stop, it goes: the ticks above were live.
  tick();
  tick();
  tick();
  EXPECT_FALSE(mapped());
  EXPECT_EQ(counters.passivations.load(), 1u);
}

TEST_F(DirectoryPassivationTest, AUserWithAnAppendInFlightIsPassivatedOnlyOnceItIsDurable) {
  start();
  ASSERT_EQ(ask(token_request(user, token, 1'000'000, {}))->status, 201);
  const user_actor first = mapped();
  journal.close_gate();
  const auto charged = post(charge(user, token, 1, 300, "k1", {}));
  ASSERT_TRUE(wait_until([&] { return journal.held() == 1; }, [&] { return step(); }));
  for (int i = 0; i < 6; ++i)
    tick();
  EXPECT_EQ(mapped(), first) << "an append in flight keeps the actor";
  EXPECT_EQ(counters.passivations.load(), 0u);
  EXPECT_EQ(loop.reply(charged), nullptr);

  journal.open_gate();
  journal.release();
  ASSERT_NE(await(charged), nullptr);
  EXPECT_EQ(loop.reply(charged)->status, 201);
  EXPECT_EQ(mapped(), first);
  tick(); // quiet for long enough already, and now nothing is pending
  EXPECT_FALSE(mapped());
  EXPECT_EQ(counters.passivations.load(), 1u);
  EXPECT_TRUE(contains(spend_body(), R"("spent":{"amount":300,"currency":"usd"})"));
  EXPECT_EQ(counters.activations.load(), 1u);
  EXPECT_EQ(counters.resumed.load(), 1u) << "the image was made once the charge was durable";
}

TEST_F(DirectoryPassivationTest, AnOpenHoldKeepsTheUserActiveUntilItIsReleased) {
  start();
  ASSERT_EQ(ask(token_request(user, token, 1'000'000, {}))->status, 201);
  hold_request hold;
  hold.user = user;
  hold.command.id = test_id(core::id_kind::hold, 1);
  hold.command.provider = "acme";
  hold.command.amount = core::money{500, core::currency::usd};
  hold.command.expires_at = test_now + 600;
  hold.idempotency = test_key("hold-1", "{\"hold\":1}");
  ASSERT_EQ(ask(std::move(hold))->status, 201);
  const user_actor first = mapped();
  for (int i = 0; i < 6; ++i)
    tick();
  EXPECT_EQ(mapped(), first) << "its expiry timer is work the actor owns";
  ASSERT_EQ(ask(release_hold_request{user, test_id(core::id_kind::hold, 1), {}})->status, 200);
  tick();
  tick();
  tick();
  EXPECT_FALSE(mapped());
  EXPECT_EQ(counters.passivations.load(), 1u);
}

TEST_F(DirectoryPassivationTest, AChargeInASessionsVelocityWindowKeepsTheUserActive) {
  start();
  const std::string session = test_id(core::id_kind::session, 1);
  open_session_request open;
  open.user = user;
  open.command.id = session;
  open.command.run_budget = core::money{5000, core::currency::usd};
  open.command.expires_at = test_now + 3600;
  open.token = "sst_test";
  open.token_hash = "hash";
  ASSERT_EQ(ask(std::move(open))->status, 201);
  auto minted = token_request(user, token, 1'000'000, {});
  minted.command.session = session;
  ASSERT_EQ(ask(std::move(minted))->status, 201);
  ASSERT_EQ(ask(charge(user, token, 1, 100, "k1", {}))->status, 201);
  const user_actor first = mapped();
  for (int i = 0; i < 6; ++i)
    tick();
  EXPECT_EQ(mapped(), first) << "a fresh activation would forget the charge's velocity";
  clock_now += core::velocity_window_seconds - 1; // the charge still counts
  tick();
  EXPECT_EQ(mapped(), first);
  clock_now += 1; // and now it no longer does
  tick();
  EXPECT_FALSE(mapped());
  EXPECT_EQ(counters.passivations.load(), 1u);
}

TEST_F(DirectoryPassivationTest, ACommandForwardedBeforeThePassivationIsAnsweredByTheOldActor) {
  start();
  ASSERT_EQ(ask(token_request(user, token, 1'000'000, {}))->status, 201);
  const user_actor first = mapped();
  auto downs = watch(first);
  tick();
  tick();
  // The third tick fires, and before anything runs a charge reaches the shard: it is in the
  // shard's mailbox ahead of the `passivate` the actor is about to send.
  journal.close_gate();
  sched.advance_time(tick_period);
  const auto first_charge = post(charge(user, token, 1, 6000, "k1", {}));
  sched.run();
  EXPECT_FALSE(mapped()) << "the shard accepted the passivation";
  ASSERT_EQ(shard().retiring.count(user), 1u);
  ASSERT_TRUE(wait_until([&] { return journal.held() == 1; }, [&] { return step(); }));
  EXPECT_EQ(*downs, 0) << "the old actor waits for its append";

  // A command while the old actor drains waits in the shard: a fresh activation now would read
  // the journal without the charge above.
  const auto second_charge = post(charge(user, token, 2, 6000, "k2", {}));
  sched.run();
  EXPECT_EQ(shard().retiring.at(user).waiting.size(), 1u);
  EXPECT_EQ(counters.activations.load(), 1u);

  journal.open_gate();
  journal.release();
  ASSERT_NE(await(first_charge), nullptr);
  EXPECT_EQ(loop.reply(first_charge)->status, 201) << loop.reply(first_charge)->body;
  ASSERT_NE(await(second_charge), nullptr);
  EXPECT_EQ(*downs, 1);
  EXPECT_EQ(counters.activations.load(), 1u);
  EXPECT_EQ(counters.resumed.load(), 1u);
  EXPECT_TRUE(shard().retiring.empty());
  EXPECT_TRUE(shard().hibernated.empty()) << "the image went to the fresh actor";
  // The fresh activation, from the old actor's image, saw the first charge (handled after the
  // passivation was asked for): 6000 + 6000 is over the 10000 provider cap.
  EXPECT_EQ(loop.reply(second_charge)->status, 402) << loop.reply(second_charge)->body;
  EXPECT_TRUE(contains(loop.reply(second_charge)->body, R"("scope":"provider_monthly")"));

  // Nothing applied twice: a retry of the first charge is a replay.
  auto* retry = ask(charge(user, token, 3, 6000, "k1", {}));
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(retry->status, 201);
  EXPECT_EQ(header(*retry, "Idempotent-Replayed"), "true");
  EXPECT_EQ(charges_in_journal(), 1u);
  EXPECT_TRUE(contains(spend_body(), R"("spent":{"amount":6000,"currency":"usd"})"));
  EXPECT_EQ(counters.passivations.load(), 1u);
  EXPECT_EQ(counters.stopped.load(), 0u);
  EXPECT_EQ(verified_events(), 2u) << "the token and the one charge";
}

TEST_F(DirectoryPassivationTest, ACommandAfterThePassivationGoesToAFreshActivation) {
  start();
  ASSERT_EQ(ask(token_request(user, token, 1'000'000, {}))->status, 201);
  const user_actor first = mapped();
  tick();
  tick();
  // The third tick: the actor alone runs and sends `passivate`; the charge reaches the shard
  // after it.
  sched.advance_time(tick_period);
  ASSERT_TRUE(sched.try_run_once());
  EXPECT_TRUE(state_of_user(first).passivation_requested);
  const auto charged = post(charge(user, token, 1, 300, "k1", {}));
  auto* reply = await(charged);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->status, 201) << reply->body;
  EXPECT_EQ(counters.passivations.load(), 1u);
  EXPECT_EQ(counters.activations.load(), 1u);
  EXPECT_EQ(counters.resumed.load(), 1u);
  ASSERT_TRUE(mapped());
  EXPECT_NE(mapped(), first);
  EXPECT_EQ(charges_in_journal(), 1u);
  EXPECT_TRUE(contains(spend_body(), R"("spent":{"amount":300,"currency":"usd"})"));
}

TEST_F(DirectoryPassivationTest, AnIdleUserIsKeptAsItsImageAndResumedWithoutAJournalRead) {
  start();
  ASSERT_EQ(ask(token_request(user, token, 1'000'000, {}))->status, 201);
  ASSERT_EQ(ask(charge(user, token, 1, 300, "k1", {}))->status, 201);
  const user_actor first = mapped();
  std::string snapshot;
  core::encode_snapshot(state_of_user(first).ledger, snapshot);
  passivate_idle();
  EXPECT_FALSE(mapped());
  EXPECT_TRUE(shard().retiring.empty());
  ASSERT_TRUE(shard().hibernated.find(user));
  EXPECT_EQ(counters.hibernated.load(), 1);
  const auto kept = shard().hibernated.at(user);
  EXPECT_EQ(kept.seq, 2u) << "the stream's head: the token and the charge";
  EXPECT_FALSE(kept.ledger.empty());
  EXPECT_LT(kept.ledger.size(), snapshot.size() / 2) << "the image is the snapshot, deflated";
  EXPECT_EQ(counters.image_bytes.load(), static_cast<std::int64_t>(kept.ledger.size()));

  // The next command resumes the user from the image: no load from the journal, and the state is
  // the durable one (the earlier charge counts, the next append continues the chain).
  auto* charged = ask(charge(user, token, 2, 400, "k2", {}));
  ASSERT_NE(charged, nullptr);
  EXPECT_EQ(charged->status, 201) << charged->body;
  EXPECT_EQ(counters.activations.load(), 1u);
  EXPECT_EQ(counters.resumed.load(), 1u);
  EXPECT_TRUE(shard().hibernated.empty());
  EXPECT_EQ(counters.hibernated.load(), 0);
  ASSERT_TRUE(mapped());
  EXPECT_NE(mapped(), first);
  EXPECT_TRUE(contains(spend_body(), R"("spent":{"amount":700,"currency":"usd"})")) << spend_body();
  // Idempotency records live in the journal, not in the image: a retry of the first charge is a
  // replay, not a second charge.
  auto* retry = ask(charge(user, token, 3, 300, "k1", {}));
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(header(*retry, "Idempotent-Replayed"), "true");
  EXPECT_EQ(charges_in_journal(), 2u);

  // And again: a second hibernation carries the second charge.
  passivate_idle();
  EXPECT_EQ(shard().hibernated.at(user).seq, 3u);
  EXPECT_TRUE(contains(spend_body(), R"("spent":{"amount":700,"currency":"usd"})"));
  EXPECT_EQ(counters.resumed.load(), 2u);
  EXPECT_EQ(counters.activations.load(), 1u);
  EXPECT_EQ(verified_events(), 3u);
}

TEST_F(DirectoryPassivationTest, ImagesPastTheBoundAreDroppedAndTheirUsersReloadFromTheJournal) {
  start(idle_timeout, /*hibernated_max=*/2); // one image per shard
  // Two users of the same shard, each with a token and a charge.
  const std::string second = [&] {
    for (std::uint64_t n = 2;; ++n) {
      auto id = test_id(core::id_kind::user, n);
      if (&shard(id) == &shard(user))
        return id;
    }
  }();
  const std::string second_token = test_id(core::id_kind::payment_token, 2);
  ASSERT_EQ(ask(token_request(user, token, 1'000'000, {}))->status, 201);
  ASSERT_EQ(ask(charge(user, token, 1, 300, "k1", {}))->status, 201);
  ASSERT_EQ(ask(token_request(second, second_token, 1'000'000, {}))->status, 201);
  ASSERT_EQ(ask(charge(second, second_token, 2, 500, "k2", {}))->status, 201);
  passivate_idle();
  EXPECT_TRUE(shard().users.empty());
  EXPECT_EQ(shard().hibernated.size(), 1u) << "the bound";
  EXPECT_EQ(counters.hibernated.load(), 1);
  EXPECT_EQ(counters.images_dropped.load(), 1u);
  EXPECT_EQ(counters.passivations.load(), 2u);

  // Either way each user's next command sees its durable state: one from its image, the other
  // from the journal.
  auto* first_spend = ask(spend_request{user, {}});
  ASSERT_NE(first_spend, nullptr);
  EXPECT_TRUE(contains(first_spend->body, R"("spent":{"amount":300,"currency":"usd"})"));
  auto* second_spend = ask(spend_request{second, {}});
  ASSERT_NE(second_spend, nullptr);
  EXPECT_TRUE(contains(second_spend->body, R"("spent":{"amount":500,"currency":"usd"})"));
  EXPECT_EQ(counters.resumed.load(), 1u);
  EXPECT_EQ(counters.activations.load(), 3u) << "two first activations, one reload";
  EXPECT_EQ(counters.hibernated.load(), 0);
}

TEST_F(DirectoryPassivationTest, AnActorThatFailsWhileRetiringLeavesNoImage) {
  start();
  ASSERT_EQ(ask(token_request(user, token, 1'000'000, {}))->status, 201);
  tick();
  tick();
  // The passivation is asked for while a charge is on its way to the actor; its append fails.
  journal.close_gate();
  sched.advance_time(tick_period);
  const auto charged = post(charge(user, token, 1, 300, "k1", {}));
  sched.run();
  ASSERT_EQ(shard().retiring.count(user), 1u);
  ASSERT_TRUE(wait_until([&] { return journal.held() == 1; }, [&] { return step(); }));
  journal.fail(storage::journal_error::io_error);
  journal.open_gate();
  auto* reply = await(charged);
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->status, 503);
  ASSERT_TRUE(wait_until([&] { return shard().retiring.empty(); }, [&] { return step(); }));
  EXPECT_TRUE(shard().hibernated.empty()) << "its memory had a charge the journal refused";
  EXPECT_EQ(counters.hibernated.load(), 0);

  // The next activation reads the journal: no charge.
  EXPECT_TRUE(contains(spend_body(), R"("spent":{"amount":0,"currency":"usd"})")) << spend_body();
  EXPECT_EQ(counters.activations.load(), 2u);
  EXPECT_EQ(counters.resumed.load(), 0u);
  EXPECT_EQ(charges_in_journal(), 0u);
}

TEST_F(DirectoryPassivationTest, AZeroIdleTimeoutDisablesPassivation) {
  start(std::chrono::milliseconds(0));
  ASSERT_EQ(ask(token_request(user, token, 1'000'000, {}))->status, 201);
  const user_actor first = mapped();
  EXPECT_FALSE(sched.has_pending_timeout()) << "no idle timer is armed";
  for (int i = 0; i < 10; ++i)
    sched.advance_time(std::chrono::minutes(10));
  sched.run();
  EXPECT_EQ(mapped(), first);
  EXPECT_EQ(counters.passivations.load(), 0u);
}

} // namespace
} // namespace steward::actors
