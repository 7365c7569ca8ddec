#include "actors/kill_switch.hpp"

#include "actors/webhook_events.hpp"

#include "core/ids.hpp"
#include "core/json_reader.hpp"
#include "core/json_writer.hpp"
#include "core/limits.hpp"

#include <future>
#include <map>
#include <memory>
#include <set>
#include <utility>

namespace steward::actors {

namespace {

constexpr std::string_view kill_event_type = "kill.set";

std::string encode_kill(std::string_view slug, bool active, std::int64_t at) {
  std::string out;
  core::json_writer json(out);
  json.begin_object()
    .member("type", kill_event_type)
    .member("scope", slug.empty() ? std::string_view("global") : std::string_view("provider"));
  json.key("id");
  if (slug.empty())
    json.null();
  else
    json.value(slug);
  json.member("active", active).member("at", at).end_object();
  return out;
}

struct kill_event {
  std::string type;
  std::string scope;
  core::nullable<std::string> id;
  bool active = false;
  std::int64_t at = 0;
};

bool decode_kill(std::string_view json, kill_event& out) {
  auto error = core::decode(json, [&](core::object_reader& o) {
    o.required("type", out.type, 16);
    o.required("scope", out.scope, 16);
    o.optional("id", out.id, 64);
    o.required("active", out.active);
    o.required("at", out.at, std::int64_t{0}, std::numeric_limits<std::int64_t>::max());
  });
  return !error && out.type == kill_event_type;
}

} // namespace

kill_switch::kill_switch(std::vector<std::string> providers, storage::kill_register* durable,
                         storage::journal* journal)
    : register_(durable), journal_(journal) {
  for (auto& slug : providers)
    providers_.emplace(std::move(slug), std::make_unique<flag>());
}

bool kill_switch::provider(std::string_view slug) const noexcept {
  auto found = providers_.find(std::string(slug));
  return found != providers_.end() && found->second->on.load(std::memory_order_seq_cst);
}

void kill_switch::set(std::string_view slug, bool active) noexcept {
  if (slug.empty()) {
    global_.store(active, std::memory_order_seq_cst);
    return;
  }
  if (auto found = providers_.find(std::string(slug)); found != providers_.end())
    found->second->on.store(active, std::memory_order_seq_cst);
}

void kill_switch::change(std::string_view slug, bool active, std::int64_t now,
                         std::function<void(bool durable)> done) {
  if (active)
    set(slug, true);
  storage::kill_record record{slug.empty() ? "global" : "provider", std::string(slug), active, now};
  // The register answers changes in the order it received them, so re-applying each one's state
  // when it is durable leaves the flag as the last durable change says (a lift queued before a
  // kill clears the flag only until that kill is durable, and that kill has not been acked yet).
  register_->write(std::move(record), [this, slug = std::string(slug), active, now,
                                       done = std::move(done)](bool durable) {
    if (!durable) {
      done(false);
      return;
    }
    set(slug, active);
    done(true);
    journal_change(slug, active, now, [this](bool journaled) {
      if (!journaled)
        audit_failures_.fetch_add(1, std::memory_order_relaxed);
    });
  });
}

namespace {

std::string scoped_key(std::string_view scope, std::string_view id) {
  std::string key(scope);
  key += ':';
  key += id;
  return key;
}

} // namespace

std::optional<kill_switch::scoped_state> kill_switch::scoped(std::string_view scope,
                                                             std::string_view id) const {
  const std::string key = scoped_key(scope, id);
  std::shared_lock lock(scoped_mutex_);
  auto found = scoped_.find(key);
  if (found == scoped_.end())
    return std::nullopt;
  return found->second.state;
}

void kill_switch::change_scoped(std::string_view scope, std::string_view id, bool active,
                                std::int64_t now,
                                std::function<void(bool durable, std::uint64_t version)> done) {
  std::string key = scoped_key(scope, id);
  std::lock_guard order(scoped_order_mutex_);
  const std::uint64_t version = ++scoped_versions_;
  {
    std::unique_lock lock(scoped_mutex_);
    auto& entry = scoped_[key];
    if (active)
      entry.state.active = true; // in force from here; a lift only once durable
    entry.state.version = version;
    ++entry.writing;
  }
  // As in `change`: each change re-applies its state once durable, in the register's order.
  register_->write({std::string(scope), std::string(id), active, now},
                   [this, key = std::move(key), active, version, done = std::move(done)](bool durable) {
                     {
                       std::unique_lock lock(scoped_mutex_);
                       // Still there: `settle` forgets nothing that is being written.
                       auto& entry = scoped_[key];
                       --entry.writing;
                       if (durable)
                         entry.state.active = active;
                     }
                     done(durable, version);
                   });
}

void kill_switch::settle(std::string_view scope, std::string_view id, scoped_state seen) {
  const std::string key = scoped_key(scope, id);
  std::lock_guard order(scoped_order_mutex_);
  {
    std::unique_lock lock(scoped_mutex_);
    auto found = scoped_.find(key);
    if (found == scoped_.end() || found->second.writing != 0 ||
        found->second.state.version != seen.version || found->second.state.active != seen.active)
      return;
    scoped_.erase(found);
  }
  // Queued behind every change made before, and before any made after: the row removed is the
  // one the user's stream shows (and the removal also checks its state).
  register_->erase({std::string(scope), std::string(id), seen.active, 0}, [this](bool done) {
    if (done)
      settled_.fetch_add(1, std::memory_order_relaxed);
  });
}

void kill_switch::journal_change(std::string_view slug, bool active, std::int64_t at,
                                 std::function<void(bool durable)> done) {
  storage::append_batch batch;
  batch.stream = std::string(system_stream);
  // The chain head is advanced under the lock, in the order the journal receives the batches.
  std::lock_guard lock(head_mutex_);
  storage::event entry;
  entry.stream = batch.stream;
  entry.seq = head_seq_ + 1;
  entry.type = std::string(kill_event_type);
  entry.payload = encode_kill(slug, active, at);
  entry.created_at = at;
  entry.hash = core::next_chain_hash(head_hash_, storage::chain_fields(entry));
  batch.prev_hash = head_hash_;
  head_seq_ = entry.seq;
  head_hash_ = entry.hash;
  if (active) {
    storage::outbox_entry webhook;
    webhook.id = derived_event_id(std::string(system_stream) + "/kill/" + std::to_string(entry.seq));
    webhook.stream = batch.stream;
    webhook.type = "kill.activated";
    webhook.payload = kill_payload(slug.empty() ? "global" : "provider", slug, at);
    webhook.created_at = at;
    batch.outbox.push_back(std::move(webhook));
  }
  const std::uint64_t seq = entry.seq;
  const core::chain_hash hash = entry.hash;
  batch.events.push_back(std::move(entry));
  journal_->append(std::move(batch), [this, active, seq, hash, generation = generation_,
                                      done = std::move(done)](storage::append_outcome outcome) {
    on_appended(outcome.durable(), seq, hash, generation);
    if (outcome.durable() && active && outbox_ready_)
      outbox_ready_();
    done(outcome.durable());
  });
}

void kill_switch::on_appended(bool durable, std::uint64_t seq, const core::chain_hash& hash,
                              std::uint64_t generation) {
  std::lock_guard lock(head_mutex_);
  if (durable) {
    if (seq > durable_seq_) {
      durable_seq_ = seq;
      durable_hash_ = hash;
    }
    return;
  }
  // Nothing of this batch is stored, and every batch already chained after it will fail the
  // journal's fence: continue from what is durable.
  if (generation != generation_)
    return;
  head_seq_ = durable_seq_;
  head_hash_ = durable_hash_;
  ++generation_;
}

std::optional<storage::journal_failure> kill_switch::load() {
  // The journaled state of each switch (empty id: global), as the system stream's last word.
  std::map<std::string, kill_event> journaled;
  {
    std::lock_guard lock(head_mutex_);
    std::uint64_t seq = 0;
    for (;;) {
      auto page = journal_->read_stream(system_stream, seq + 1, core::limits::journal_read_events_max);
      if (!page)
        return page.failure();
      for (const auto& stored : page.value()) {
        kill_event event;
        if (stored.type == kill_event_type) {
          if (!decode_kill(stored.payload, event))
            return storage::journal_failure{storage::journal_error::corrupt, stored.seq};
          journaled[event.id.value ? *event.id.value : std::string()] = event;
        }
        seq = stored.seq;
        head_hash_ = stored.hash;
      }
      if (page.value().size() < core::limits::journal_read_events_max)
        break;
    }
    head_seq_ = seq;
    durable_seq_ = seq;
    durable_hash_ = head_hash_;
  }

  // Each disagreement is written and waited for here, before the first request is served.
  std::vector<std::future<bool>> writes;
  auto const wait_for = [&writes](auto&& write) {
    auto answered = std::make_shared<std::promise<bool>>();
    writes.push_back(answered->get_future());
    write([answered](bool durable) { answered->set_value(durable); });
  };
  std::set<std::string> registered;
  for (const auto& record : register_->loaded()) {
    if (record.scope == user_scope || record.scope == session_scope) {
      // Journaled in the user's stream by its actor, which reconciles when it activates.
      std::lock_guard order(scoped_order_mutex_);
      std::unique_lock lock(scoped_mutex_);
      scoped_[scoped_key(record.scope, record.id)].state = {record.active, ++scoped_versions_};
      continue;
    }
    set(record.id, record.active);
    registered.insert(record.id);
    auto found = journaled.find(record.id);
    const bool journal_agrees = found == journaled.end() ? !record.active
                                                         : found->second.active == record.active;
    if (!journal_agrees)
      wait_for([&](auto done) { journal_change(record.id, record.active, record.at, std::move(done)); });
  }
  for (const auto& [slug, event] : journaled) {
    if (registered.contains(slug))
      continue;
    set(slug, event.active);
    wait_for([&](auto done) {
      register_->write({slug.empty() ? "global" : "provider", slug, event.active, event.at}, std::move(done));
    });
  }
  for (auto& write : writes)
    if (!write.get())
      return storage::journal_failure{storage::journal_error::io_error, 0};
  return std::nullopt;
}

} // namespace steward::actors
