#include "net/router.hpp"

#include <gtest/gtest.h>

namespace steward::net {
namespace {

using kind = route_match::kind;

class router_test : public ::testing::Test {
protected:
  router_test() {
    users_ = routes_.add(http_method::put, "/v1/users/{id}");
    user_get_ = routes_.add(http_method::get, "/v1/users/{id}");
    sessions_ = routes_.add(http_method::post, "/v1/users/{id}/sessions");
    me_ = routes_.add(http_method::get, "/v1/users/me");
    catalog_ = routes_.add(http_method::get, "/v1/catalog");
    service_ = routes_.add(http_method::get, "/v1/catalog/{provider}/{service}");
    terms_ = routes_.add(http_method::post, "/v1/users/{user}/terms/{provider}");
    resource_get_ = routes_.add(http_method::get, "/v1/resources/{id}");
    resource_delete_ = routes_.add(http_method::delete_, "/v1/resources/{id}");
    kill_post_ = routes_.add(http_method::post, "/v1/kill");
    kill_delete_ = routes_.add(http_method::delete_, "/v1/kill");
    healthz_ = routes_.add(http_method::get, "/healthz");
    healthz_head_ = routes_.add(http_method::head, "/healthz");
    root_ = routes_.add(http_method::get, "/");
  }

  route_match match(http_method method, std::string_view path) {
    return routes_.match(method, path, params_);
  }

  router routes_;
  route_params params_;
  route_id users_{}, user_get_{}, sessions_{}, me_{}, catalog_{}, service_{}, terms_{},
    resource_get_{}, resource_delete_{}, kill_post_{}, kill_delete_{}, healthz_{}, healthz_head_{},
    root_{};
};

TEST_F(router_test, ids_are_dense_and_patterns_are_kept) {
  EXPECT_EQ(routes_.size(), 14u);
  EXPECT_EQ(users_, 0);
  EXPECT_EQ(root_, 13);
  EXPECT_EQ(routes_.pattern(sessions_), "/v1/users/{id}/sessions");
  EXPECT_EQ(routes_.pattern(service_), "/v1/catalog/{provider}/{service}");
  EXPECT_EQ(routes_.pattern(999), "");
}

TEST_F(router_test, literal_route) {
  auto m = match(http_method::get, "/v1/catalog");
  EXPECT_EQ(m.result, kind::found);
  EXPECT_EQ(m.id, catalog_);
  EXPECT_EQ(params_.size(), 0u);
  EXPECT_EQ(match(http_method::get, "/").id, root_);
}

TEST_F(router_test, parameters_are_captured) {
  auto m = match(http_method::post, "/v1/users/usr_123/sessions");
  ASSERT_EQ(m.result, kind::found);
  EXPECT_EQ(m.id, sessions_);
  ASSERT_EQ(params_.size(), 1u);
  EXPECT_EQ(params_.get("id"), "usr_123");
  EXPECT_EQ(params_[0].name, "id");
  EXPECT_EQ(params_.get("missing"), "");

  m = match(http_method::get, "/v1/catalog/cloudflare/registrar:domain");
  ASSERT_EQ(m.result, kind::found);
  EXPECT_EQ(m.id, service_);
  EXPECT_EQ(params_.get("provider"), "cloudflare");
  EXPECT_EQ(params_.get("service"), "registrar:domain");
}

TEST_F(router_test, parameter_names_belong_to_the_matched_route) {
  // `{id}` and `{user}` share a trie position; each route reports its own names.
  ASSERT_EQ(match(http_method::post, "/v1/users/u1/terms/cf").id, terms_);
  EXPECT_EQ(params_.get("user"), "u1");
  EXPECT_EQ(params_.get("provider"), "cf");
  EXPECT_EQ(params_.get("id"), "");
}

TEST_F(router_test, values_view_the_request_path) {
  const std::string path = "/v1/resources/res_9";
  ASSERT_EQ(match(http_method::get, path).result, kind::found);
  EXPECT_EQ(params_.get("id").data(), path.data() + 14);
}

TEST_F(router_test, literal_beats_parameter) {
  auto m = match(http_method::get, "/v1/users/me");
  EXPECT_EQ(m.result, kind::found);
  EXPECT_EQ(m.id, me_);
  EXPECT_EQ(params_.size(), 0u);
  EXPECT_EQ(match(http_method::get, "/v1/users/mex").id, user_get_);
  EXPECT_EQ(params_.get("id"), "mex");
}

TEST_F(router_test, falls_back_to_the_parameter_when_the_literal_has_no_such_method) {
  // "/v1/users/me" only has GET; PUT goes to the `{id}` route.
  auto m = match(http_method::put, "/v1/users/me");
  EXPECT_EQ(m.result, kind::found);
  EXPECT_EQ(m.id, users_);
  EXPECT_EQ(params_.get("id"), "me");
}

TEST(router, backtracks_from_a_literal_dead_end) {
  router routes;
  auto literal = routes.add(http_method::get, "/a/b/c");
  auto param = routes.add(http_method::get, "/a/{x}/d");
  route_params params;
  EXPECT_EQ(routes.match(http_method::get, "/a/b/c", params).id, literal);
  auto m = routes.match(http_method::get, "/a/b/d", params);
  EXPECT_EQ(m.result, kind::found);
  EXPECT_EQ(m.id, param);
  EXPECT_EQ(params.get("x"), "b");
}

TEST_F(router_test, trailing_slash_does_not_match) {
  EXPECT_EQ(match(http_method::get, "/v1/users/").result, kind::not_found);
  EXPECT_EQ(match(http_method::get, "/v1/catalog/").result, kind::not_found);
  EXPECT_EQ(match(http_method::get, "/healthz/").result, kind::not_found);
  EXPECT_EQ(match(http_method::post, "/v1/users/u1/sessions/").result, kind::not_found);
}

TEST_F(router_test, empty_segments_do_not_match_parameters) {
  EXPECT_EQ(match(http_method::post, "/v1/users//sessions").result, kind::not_found);
  EXPECT_EQ(match(http_method::get, "/v1//catalog").result, kind::not_found);
  EXPECT_EQ(match(http_method::get, "//").result, kind::not_found);
  EXPECT_EQ(match(http_method::get, "/v1/catalog/cf/").result, kind::not_found);
}

TEST_F(router_test, unknown_paths) {
  EXPECT_EQ(match(http_method::get, "/v2/catalog").result, kind::not_found);
  EXPECT_EQ(match(http_method::get, "/v1/catalog/cf").result, kind::not_found);
  EXPECT_EQ(match(http_method::get, "/v1/catalog/cf/svc/extra").result, kind::not_found);
  EXPECT_EQ(match(http_method::get, "").result, kind::not_found);
  EXPECT_EQ(match(http_method::get, "*").result, kind::not_found);
  EXPECT_EQ(match(http_method::get, "v1/catalog").result, kind::not_found);
  EXPECT_EQ(match(http_method::get, "/V1/catalog").result, kind::not_found); // case-sensitive
  EXPECT_EQ(params_.size(), 0u);
}

TEST_F(router_test, percent_encoded_bytes_pass_through_undecoded) {
  auto m = match(http_method::get, "/v1/resources/res%2F1%20x");
  ASSERT_EQ(m.result, kind::found);
  EXPECT_EQ(params_.get("id"), "res%2F1%20x");
  // An encoded letter is not the letter: "%63atalog" is not "catalog".
  EXPECT_EQ(match(http_method::get, "/v1/%63atalog").result, kind::not_found);
}

TEST_F(router_test, head_uses_get_routes_unless_it_has_its_own) {
  auto m = match(http_method::head, "/v1/catalog");
  EXPECT_EQ(m.result, kind::found);
  EXPECT_EQ(m.id, catalog_);
  EXPECT_EQ(match(http_method::head, "/healthz").id, healthz_head_);
  EXPECT_EQ(match(http_method::get, "/healthz").id, healthz_);
  EXPECT_EQ(match(http_method::head, "/v1/resources/r1").id, resource_get_);
}

TEST_F(router_test, method_not_allowed_lists_the_allowed_methods) {
  auto m = match(http_method::post, "/v1/catalog");
  EXPECT_EQ(m.result, kind::method_not_allowed);
  EXPECT_EQ(m.allow, "GET, HEAD");

  m = match(http_method::get, "/v1/kill");
  EXPECT_EQ(m.result, kind::method_not_allowed);
  EXPECT_EQ(m.allow, "POST, DELETE");

  m = match(http_method::post, "/v1/resources/r1");
  EXPECT_EQ(m.result, kind::method_not_allowed);
  EXPECT_EQ(m.allow, "GET, HEAD, DELETE");

  // Both the literal and the parameter route reach "/v1/users/me": the union is allowed.
  m = match(http_method::delete_, "/v1/users/me");
  EXPECT_EQ(m.result, kind::method_not_allowed);
  EXPECT_EQ(m.allow, "GET, HEAD, PUT");

  m = match(http_method::other, "/healthz");
  EXPECT_EQ(m.result, kind::method_not_allowed);
  EXPECT_EQ(m.allow, "GET, HEAD");
  EXPECT_EQ(params_.size(), 0u);
}

TEST(router, allow_list_order_covers_every_method) {
  router routes;
  for (auto method : {http_method::options, http_method::delete_, http_method::patch,
                      http_method::put, http_method::post, http_method::head})
    routes.add(method, "/x");
  route_params params;
  auto m = routes.match(http_method::get, "/x", params);
  EXPECT_EQ(m.result, kind::method_not_allowed);
  EXPECT_EQ(m.allow, "HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
  routes.add(http_method::get, "/y");
  EXPECT_EQ(routes.match(http_method::post, "/y", params).allow, "GET, HEAD");
}

TEST(router, eight_parameters_fit) {
  router routes;
  auto id = routes.add(http_method::get, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}");
  route_params params;
  auto m = routes.match(http_method::get, "/1/2/3/4/5/6/7/8", params);
  ASSERT_EQ(m.result, kind::found);
  EXPECT_EQ(m.id, id);
  ASSERT_EQ(params.size(), route_params_max);
  EXPECT_EQ(params.get("a"), "1");
  EXPECT_EQ(params.get("h"), "8");
}

TEST(router, clears_params_of_an_earlier_match) {
  router routes;
  routes.add(http_method::get, "/u/{id}");
  route_params params;
  ASSERT_EQ(routes.match(http_method::get, "/u/1", params).result, kind::found);
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(routes.match(http_method::get, "/nope", params).result, kind::not_found);
  EXPECT_EQ(params.size(), 0u);
  EXPECT_EQ(params.get("id"), "");
}

TEST(router_death, bad_patterns_are_programmer_errors) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto add = [](http_method method, std::string_view pattern) {
    router routes;
    routes.add(http_method::get, "/v1/users/{id}");
    routes.add(method, pattern);
  };
  EXPECT_DEATH(add(http_method::get, "v1/x"), "assertion failed");
  EXPECT_DEATH(add(http_method::get, ""), "assertion failed");
  EXPECT_DEATH(add(http_method::get, "/v1//x"), "assertion failed");
  EXPECT_DEATH(add(http_method::get, "/v1/x/"), "assertion failed");
  EXPECT_DEATH(add(http_method::get, "/v1/{}"), "assertion failed");
  EXPECT_DEATH(add(http_method::get, "/v1/{a-b}"), "assertion failed");
  EXPECT_DEATH(add(http_method::get, "/v1/{id}.json"), "assertion failed");
  EXPECT_DEATH(add(http_method::get, "/v1/{a}/{a}"), "assertion failed");
  EXPECT_DEATH(add(http_method::get, "/v1/x?y"), "assertion failed");
  EXPECT_DEATH(add(http_method::other, "/v1/x"), "assertion failed");
  EXPECT_DEATH(add(http_method::get, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}"), "assertion failed");
  // Same method and shape as the existing route, even with another parameter name.
  EXPECT_DEATH(add(http_method::get, "/v1/users/{user}"), "assertion failed");
}

} // namespace
} // namespace steward::net
