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
  resource_store store(10);
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
  resource_store store(10);
  ASSERT_EQ(store.begin("acct_a", "k", print(1), "rsc_1").what, resource_store::start::execute);
  EXPECT_EQ(store.begin("acct_b", "k", print(1), "rsc_2").what, resource_store::start::execute);
}

TEST(resource_store, an_unstored_answer_lets_a_retry_run_with_the_same_resource_id) {
  resource_store store(10);
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
  resource_store store(2);
  ASSERT_EQ(store.begin("a", "1", print(1), "r1").what, resource_store::start::execute);
  ASSERT_EQ(store.begin("a", "2", print(1), "r2").what, resource_store::start::execute);
  EXPECT_EQ(store.begin("a", "3", print(1), "r3").what, resource_store::start::full);
  EXPECT_EQ(store.records(), 2u);
}

TEST(resource_store, a_domain_belongs_to_one_resource) {
  resource_store store(10);
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

} // namespace
} // namespace steward::refprovider
