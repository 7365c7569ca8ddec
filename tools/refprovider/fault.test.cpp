#include "tools/refprovider/fault.hpp"

#include "tools/refprovider/limits.hpp"

#include <gtest/gtest.h>

namespace steward::refprovider {
namespace {

TEST(fault, parses_each_kind_and_every) {
  fault f;
  ASSERT_FALSE(parse_fault("status:503@3", true, f));
  EXPECT_EQ(f.kind, fault_kind::status);
  EXPECT_EQ(f.status, 503);
  EXPECT_EQ(f.every, 3u);
  ASSERT_FALSE(parse_fault("latency:200", true, f));
  EXPECT_EQ(f.kind, fault_kind::latency);
  EXPECT_EQ(f.delay_ms, 200u);
  EXPECT_EQ(f.every, 1u);
  ASSERT_FALSE(parse_fault("after-charge-timeout:5000", false, f));
  EXPECT_EQ(f.kind, fault_kind::after_charge_timeout);
  EXPECT_EQ(f.delay_ms, 5000u);
  ASSERT_FALSE(parse_fault("drop@4", true, f));
  EXPECT_EQ(f.kind, fault_kind::drop);
  EXPECT_EQ(f.every, 4u);
  ASSERT_FALSE(parse_fault("drop", false, f));
  EXPECT_EQ(f.kind, fault_kind::drop);
}

TEST(fault, refuses_what_it_does_not_know) {
  fault f;
  for (std::string_view bad :
       {"", "status", "status:", "status:404", "status:599", "status:5o3", "latency:0",
        "latency:-1", "latency:99999999999", "drop:1", "dropped", "drop@0", "timeout:10", "status:503@0",
        "status:503@", "status:503@x", "latency:200@2@3"})
    EXPECT_TRUE(parse_fault(bad, true, f)) << bad;
  EXPECT_TRUE(parse_fault("latency:" + std::to_string(limits::fault_delay_ms_max + 1), true, f));
  EXPECT_TRUE(parse_fault("status:503@2", false, f)) << "no @EVERY in the header";
}

TEST(fault, a_plan_hits_every_nth_request_it_applies_to) {
  fault status;
  ASSERT_FALSE(parse_fault("status:503@3", true, status));
  fault slow;
  ASSERT_FALSE(parse_fault("latency:100", true, slow));
  fault_plan plan({status, slow});
  std::vector<std::uint16_t> seen;
  for (int i = 0; i < 6; ++i) {
    // Catalog reads do not count against the status fault, but do get the latency.
    auto other = plan.next(request_class::other);
    EXPECT_EQ(other.status, 0);
    EXPECT_EQ(other.latency_ms, 100u);
    seen.push_back(plan.next(i % 2 ? request_class::create : request_class::provisioning).status);
  }
  EXPECT_EQ(seen, (std::vector<std::uint16_t>{0, 0, 503, 0, 0, 503}));
}

TEST(fault, after_charge_timeout_only_touches_resource_creation) {
  fault late;
  ASSERT_FALSE(parse_fault("after-charge-timeout:5000", true, late));
  fault_effect effect;
  apply(late, request_class::provisioning, effect);
  EXPECT_EQ(effect.after_charge_ms, 0u);
  apply(late, request_class::create, effect);
  EXPECT_EQ(effect.after_charge_ms, 5000u);
  apply(late, request_class::create, effect);
  EXPECT_EQ(effect.after_charge_ms, limits::fault_delay_ms_max) << "delays add up to the cap";
}

TEST(fault, drop_only_touches_resource_creation) {
  fault drop;
  ASSERT_FALSE(parse_fault("drop", true, drop));
  fault_effect effect;
  apply(drop, request_class::other, effect);
  apply(drop, request_class::provisioning, effect);
  EXPECT_FALSE(effect.drop_after_work);
  apply(drop, request_class::create, effect);
  EXPECT_TRUE(effect.drop_after_work);
  EXPECT_EQ(effect.status, 0) << "the work is done; only the answer is lost";
}

} // namespace
} // namespace steward::refprovider
