#include "actors/provider.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <iostream>

namespace steward::actors {

const core::provider_catalog* catalog_board::view::find(std::string_view slug) const noexcept {
  auto it = std::lower_bound(slugs.begin(), slugs.end(), slug);
  if (it == slugs.end() || *it != slug)
    return nullptr;
  return catalogs[static_cast<std::size_t>(it - slugs.begin())].get();
}

bool catalog_board::view::configured(std::string_view slug) const noexcept {
  return std::binary_search(slugs.begin(), slugs.end(), slug);
}

catalog_board::catalog_board(std::vector<std::string> slugs) {
  std::sort(slugs.begin(), slugs.end());
  slugs.erase(std::unique(slugs.begin(), slugs.end()), slugs.end());
  auto first = std::make_shared<view>();
  first->catalogs.resize(slugs.size());
  first->slugs = std::move(slugs);
  view_ = std::move(first);
}

void catalog_board::publish(std::shared_ptr<const core::provider_catalog> catalog) {
  if (!catalog)
    return;
  std::lock_guard lock(mutex_);
  auto it = std::lower_bound(view_->slugs.begin(), view_->slugs.end(), catalog->provider);
  if (it == view_->slugs.end() || *it != catalog->provider)
    return;
  // Copy on write: readers keep the view they took, unchanged.
  auto next = std::make_shared<view>(*view_);
  next->catalogs[static_cast<std::size_t>(it - view_->slugs.begin())] = std::move(catalog);
  view_ = std::move(next);
}

std::shared_ptr<const catalog_board::view> catalog_board::current() const {
  std::lock_guard lock(mutex_);
  return view_;
}

void provider_state::log(std::string_view line) const {
  if (config.log)
    config.log(line);
  else
    std::cerr << "stewardd: provider " << config.slug << ": " << line << "\n";
}

void provider_state::start_fetch(provider_actor self) {
  if (fetch_in_flight)
    return;
  fetch_in_flight = true;
  net::client_request request;
  request.method = net::http_method::get;
  request.url = config.base_url + "/catalog";
  request.provider = config.slug;
  request.timeout_ms = core::limits::catalog_fetch_timeout_ms;
  request.headers.emplace_back("Accept", "application/json");
  if (!etag.empty())
    request.headers.emplace_back("If-None-Match", etag);
  config.client->request(std::move(request), [self](net::client_result result) {
    caf::anon_send(self, fetched_atom::value, catalog_fetched{std::move(result)});
  });
}

void provider_state::schedule(provider_actor self, bool failed) {
  std::chrono::milliseconds delay = config.refresh_interval;
  if (failed) {
    retry_delay = retry_delay.count() == 0 ? config.retry_min
                                           : std::min(retry_delay * 2, config.retry_max);
    delay = std::min(retry_delay, config.refresh_interval);
  } else {
    retry_delay = std::chrono::milliseconds(0);
  }
  if (delay.count() > 0)
    caf::delayed_anon_send(self, delay, refresh_atom::value);
}

void provider_state::on_fetched(provider_actor self, net::client_result result) {
  fetch_in_flight = false;
  auto fail = [&](std::string_view why) {
    if (config.counters)
      config.counters->catalog_failures.fetch_add(1, std::memory_order_relaxed);
    log(std::string("catalog fetch failed: ") + std::string(why) +
        (etag.empty() ? "; no catalog yet" : "; the previous catalog stays in use"));
    schedule(self, true);
  };
  auto* response = std::get_if<net::client_response>(&result);
  if (!response) {
    fail(net::to_string(std::get<net::client_error>(result)));
    return;
  }
  if (response->status == 304 && !etag.empty()) {
    if (config.counters)
      config.counters->catalog_revalidations.fetch_add(1, std::memory_order_relaxed);
    schedule(self, false);
    return;
  }
  if (response->status != 200) {
    fail("HTTP " + std::to_string(response->status));
    return;
  }
  if (response->body.size() > core::limits::catalog_body_bytes_max) {
    fail("the catalog is larger than " + std::to_string(core::limits::catalog_body_bytes_max) +
         " bytes");
    return;
  }
  auto catalog = std::make_shared<core::provider_catalog>();
  if (auto error = core::parse_provider_catalog(config.slug, response->body, *catalog)) {
    fail("not a protocol v1 catalog: " + *error);
    return;
  }
  for (const auto& hidden : catalog->hidden)
    log("service hidden: " + hidden);
  if (config.counters) {
    config.counters->catalog_fetches.fetch_add(1, std::memory_order_relaxed);
    config.counters->catalog_services.store(static_cast<std::int64_t>(catalog->services.size()),
                                            std::memory_order_relaxed);
    config.counters->catalog_hidden.store(static_cast<std::int64_t>(catalog->hidden.size()),
                                          std::memory_order_relaxed);
  }
  // Without a validator every refresh downloads again, which is correct, only slower.
  etag = std::string(response->header("ETag"));
  config.board->publish(std::move(catalog));
  schedule(self, false);
}

namespace {

provider_actor::behavior_type provider_behavior(
  provider_actor::stateful_pointer<provider_state> self, provider_config config) {
  self->state.config = std::move(config);
  self->state.start_fetch(self);
  return {
    [self](refresh_atom) { self->state.start_fetch(self); },
    [self](fetched_atom, catalog_fetched& fetched) {
      self->state.on_fetched(self, std::move(fetched.result));
    },
  };
}

} // namespace

provider_actor spawn_provider(caf::actor_system& system, provider_config config) {
  return system.spawn(provider_behavior, std::move(config));
}

} // namespace steward::actors
