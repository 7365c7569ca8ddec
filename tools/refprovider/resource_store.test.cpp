#include "tools/refprovider/resource_store.hpp"

#include <gtest/gtest.h>

namespace steward::refprovider {
namespace {

core::idempotency_fingerprint print(std::uint8_t seed) {
  core::idempotency_fingerprint f{};
  f.fill(seed);
  return f;
}

TEST(resource_store, executes_once_then_replays_the_stored_answer) {
  resource_store store(10, 10);
  auto first = store.begin("acct_a", "k1", print(1), "rsc_1");
  ASSERT_EQ(first.what, resource_store::start::execute);
  EXPECT_EQ(first.resource_id, "rsc_1");
  EXPECT_EQ(store.begin("acct_a", "k1", print(1), "rsc_2").what,
            resource_store::start::in_flight);
  EXPECT_EQ(store.begin("acct_a", "k1", print(2), "rsc_2").what,
            resource_store::start::conflict);
  store.finish("acct_a", "k1", 201, "{\"id\":\"rsc_1\"}");
  auto again = store.begin("acct_a", "k1", print(1), "rsc_3");
  ASSERT_EQ(again.what, resource_store::start::replay);
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, "{\"id\":\"rsc_1\"}");
  EXPECT_EQ(store.begin("acct_a", "k1", print(2), "rsc_3").what, resource_store::start::conflict);
}

TEST(resource_store, keys_are_scoped_per_account) {
  resource_store store(10, 10);
  ASSERT_EQ(store.begin("acct_a", "k", print(1), "rsc_1").what, resource_store::start::execute);
  EXPECT_EQ(store.begin("acct_b", "k", print(1), "rsc_2").what, resource_store::start::execute);
}

TEST(resource_store, an_unstored_answer_lets_a_retry_run_with_the_same_resource_id) {
  resource_store store(10, 10);
  ASSERT_EQ(store.begin("acct_a", "k", print(1), "rsc_1").what, resource_store::start::execute);
  store.finish("acct_a", "k", 502, "steward unreachable");
  auto retry = store.begin("acct_a", "k", print(1), "rsc_2");
  ASSERT_EQ(retry.what, resource_store::start::execute);
  EXPECT_EQ(retry.resource_id, "rsc_1") << "the charge key of the first attempt is reused";
  store.finish("acct_a", "k", 402, "declined");
  auto declined = store.begin("acct_a", "k", print(1), "rsc_3");
  EXPECT_EQ(declined.what, resource_store::start::replay) << "a decline is the key's outcome";
  EXPECT_EQ(declined.status, 402);
}

TEST(resource_store, is_bounded) {
  resource_store store(2, 10);
  ASSERT_EQ(store.begin("a", "1", print(1), "r1").what, resource_store::start::execute);
  ASSERT_EQ(store.begin("a", "2", print(1), "r2").what, resource_store::start::execute);
  EXPECT_EQ(store.begin("a", "3", print(1), "r3").what, resource_store::start::full);
  EXPECT_EQ(store.records(), 2u);
}

TEST(resource_store, a_domain_belongs_to_one_resource) {
  resource_store store(10, 10);
  EXPECT_FALSE(store.domain_claimed("a.dev"));
  EXPECT_TRUE(store.claim_domain("a.dev", "rsc_1"));
  EXPECT_TRUE(store.domain_claimed("a.dev"));
  EXPECT_TRUE(store.claim_domain("a.dev", "rsc_1")) << "a retried attempt keeps its claim";
  EXPECT_FALSE(store.claim_domain("a.dev", "rsc_2"));
  store.release_domain("a.dev", "rsc_2");
  EXPECT_FALSE(store.claim_domain("a.dev", "rsc_2")) << "only the owner releases";
  store.release_domain("a.dev", "rsc_1");
  EXPECT_TRUE(store.claim_domain("a.dev", "rsc_2"));
}


resource a_resource(std::string id, std::string account, bool metered = false) {
  resource r;
  r.id = std::move(id);
  r.account_id = std::move(account);
  r.service = metered ? "compute:metered" : "kv:free";
  r.api_key = "rpk_old";
  r.metered = metered;
  return r;
}

TEST(resource_store, a_resource_is_its_owners_alone) {
  resource_store store(10, 10);
  store.add(a_resource("rsc_1", "acct_a"));
  ASSERT_TRUE(store.find("acct_a", "rsc_1"));
  EXPECT_FALSE(store.find("acct_b", "rsc_1"));
  EXPECT_EQ(store.rotate("acct_b", "rsc_1", "rpk_new").what, resource_store::change::not_found);
  EXPECT_EQ(store.remove("acct_b", "rsc_1").what, resource_store::change::not_found);
  EXPECT_EQ(store.find("acct_a", "rsc_1")->api_key, "rpk_old") << "nothing changed";
  EXPECT_EQ(store.find("acct_a", "rsc_1")->status, resource_status::ready);
}

TEST(resource_store, rotation_replaces_the_credential_until_removal) {
  resource_store store(10, 10);
  store.add(a_resource("rsc_1", "acct_a"));
  auto rotated = store.rotate("acct_a", "rsc_1", "rpk_new");
  ASSERT_EQ(rotated.what, resource_store::change::done);
  EXPECT_EQ(rotated.now.api_key, "rpk_new");
  EXPECT_EQ(store.find("acct_a", "rsc_1")->api_key, "rpk_new");
  auto removed = store.remove("acct_a", "rsc_1");
  ASSERT_EQ(removed.what, resource_store::change::done);
  EXPECT_EQ(removed.now.status, resource_status::removed);
  EXPECT_TRUE(removed.now.api_key.empty()) << "a tombstone keeps no secret";
  EXPECT_EQ(store.remove("acct_a", "rsc_1").what, resource_store::change::done) << "idempotent";
  EXPECT_EQ(store.rotate("acct_a", "rsc_1", "rpk_newer").what, resource_store::change::removed);
  EXPECT_EQ(to_string(store.find("acct_a", "rsc_1")->status), "removed");
}

TEST(resource_store, ticks_count_once_and_suspension_is_final) {
  resource_store store(10, 10);
  store.add(a_resource("rsc_m", "acct_a", true));
  EXPECT_TRUE(store.record_tick("rsc_m", 1, 5));
  EXPECT_TRUE(store.record_tick("rsc_m", 1, 5)) << "a replayed tick";
  EXPECT_TRUE(store.record_tick("rsc_m", 2, 5));
  auto kept = store.get("rsc_m");
  EXPECT_EQ(kept->ticks, 2u);
  EXPECT_EQ(kept->charged_total, 10);
  store.suspend("rsc_m", "budget_exceeded");
  EXPECT_EQ(store.get("rsc_m")->status, resource_status::suspended);
  EXPECT_EQ(store.get("rsc_m")->reason, "budget_exceeded");
  EXPECT_FALSE(store.record_tick("rsc_m", 3, 5)) << "a suspended meter does not go on";
  store.suspend("rsc_m", "killed");
  EXPECT_EQ(store.get("rsc_m")->reason, "budget_exceeded") << "the first reason stays";
}

TEST(resource_store, a_tick_answered_after_removal_is_counted_but_ends_the_meter) {
  resource_store store(10, 10);
  store.add(a_resource("rsc_m", "acct_a", true));
  ASSERT_EQ(store.remove("acct_a", "rsc_m").what, resource_store::change::done);
  EXPECT_FALSE(store.record_tick("rsc_m", 1, 5));
  EXPECT_EQ(store.get("rsc_m")->charged_total, 5) << "steward took it: the total agrees";
  store.suspend("rsc_m", "budget_exceeded");
  EXPECT_EQ(store.get("rsc_m")->status, resource_status::removed);
}

TEST(resource_store, is_full_at_its_bound) {
  resource_store store(10, 2);
  store.add(a_resource("rsc_1", "acct_a"));
  EXPECT_FALSE(store.full());
  store.add(a_resource("rsc_2", "acct_a"));
  EXPECT_TRUE(store.full());
  EXPECT_EQ(store.size(), 2u);
}

TEST(resource_store, rotation_keys_are_scoped_by_path) {
  resource_store store(10, 10);
  auto rotate_1 = resource_store::scope_of("acct_a", "POST", "/resources/rsc_1/rotate", "k");
  auto rotate_2 = resource_store::scope_of("acct_a", "POST", "/resources/rsc_2/rotate", "k");
  ASSERT_EQ(store.begin_scope(rotate_1, print(0), {}).what, resource_store::start::execute);
  store.finish_scope(rotate_1, 200, "{\"one\":1}");
  EXPECT_EQ(store.begin_scope(rotate_2, print(0), {}).what, resource_store::start::execute);
  auto again = store.begin_scope(rotate_1, print(0), {});
  EXPECT_EQ(again.what, resource_store::start::replay);
  EXPECT_EQ(again.body, "{\"one\":1}");
  EXPECT_EQ(store.begin("acct_a", "k", print(0), "rsc_9").what, resource_store::start::execute)
    << "POST /resources has its own scope";
}

} // namespace
} // namespace steward::refprovider
