// stewardd: the steward daemon. This file only wires the parts together — options, the data dir's
// secrets, metrics, the actor system, and the public and admin listeners — and owns the process's
// lifetime: start, print where it listens, wait for SIGTERM/SIGINT, drain, exit 0.

#include "actors/alias_index.hpp"
#include "actors/api.hpp"
#include "actors/directory.hpp"
#include "actors/kill_switch.hpp"
#include "actors/loader_pool.hpp"
#include "actors/node.hpp"
#include "actors/provider.hpp"
#include "actors/webhook_sender.hpp"
#include "core/assert.hpp"
#include "core/attestation.hpp"
#include "core/metrics.hpp"
#include "core/options.hpp"
#include "core/thread_identity.hpp"
#include "net/listener_metrics.hpp"
#include "net/problem_response.hpp"
#include "net/server.hpp"
#include "storage/data_dir.hpp"
#include "storage/signing_keys.hpp"
#include "storage/sqlite_journal.hpp"
#include "storage/vault_keys.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <caf/thread_hook.hpp>

#ifdef STEWARD_ALLOCATOR_MIMALLOC
#  include <mimalloc.h>
#endif

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

using namespace steward;

namespace {

constexpr std::string_view version = "0.1.0";
constexpr int exit_bad_option = 2;
constexpr int exit_start_failed = 1;
/// Connections to one provider origin. A purchase holds its connection for the provider's whole
/// answer, which includes the provider's charge round trip into steward and its durable commit:
/// with the client's default of 16, provisions stopped at about 650/s with stewardd half idle
/// (docs/benchmarks.md, "End-to-end provisions").
constexpr std::uint32_t provider_connections_per_origin = 128;

net::io_backend to_net(core::io_backend backend) {
  switch (backend) {
  case core::io_backend::automatic: return net::io_backend::auto_select;
  case core::io_backend::io_uring: return net::io_backend::io_uring;
  case core::io_backend::epoll: return net::io_backend::epoll;
  }
  return net::io_backend::auto_select;
}

net::connection_settings connection_settings_from(const core::options& opts) {
  net::connection_settings settings;
  settings.parse.header_bytes_max = opts.header_bytes_max;
  settings.parse.request_line_bytes_max =
    std::min(opts.header_bytes_max, core::limits::request_line_bytes_max);
  settings.parse.body_bytes_max = opts.body_bytes_max;
  settings.pipeline_depth_max = opts.pipeline_depth_max;
  settings.header_read_timeout_ms = opts.header_read_timeout_ms;
  settings.body_read_timeout_ms = opts.body_read_timeout_ms;
  settings.idle_timeout_ms = opts.idle_timeout_ms;
  settings.actor_timeout_ms = opts.actor_timeout_ms;
  return settings;
}

/// Gives CAF's threads (the workers that run the actors, its clock) the `--bulk-nice` value: they
/// carry the charges, while a kill is answered without them.
class bulk_thread_hook final : public caf::thread_hook {
public:
  explicit bulk_thread_hook(int nice) : nice_(nice) {}
  void init(caf::actor_system&) override {}
  void thread_started() override { core::nice_this_thread(nice_); }
  void thread_terminates() override {}

private:
  int nice_;
};

net::server_config listener_config(std::string name, const core::host_port& address,
                                   std::uint32_t io_threads, const core::options& opts) {
  net::server_config config;
  config.name = std::move(name);
  config.host = address.host;
  config.port = address.port;
  config.io_threads = io_threads;
  config.backend = to_net(opts.io);
  config.connections_max = opts.connections_max;
  config.drain_timeout_ms = opts.drain_timeout_ms;
  config.connection = connection_settings_from(opts);
  return config;
}

net::http_response static_json(std::string_view body) {
  net::http_response response;
  response.body = std::string(body);
  return response;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// `/.well-known/openid-configuration`, built once the issuer is known (with port 0 that is only
/// after the listener is bound; a request in between gets 503).
class issuer_document {
public:
  void set(std::string_view issuer) {
    auto document = core::build_openid_configuration(issuer);
    std::lock_guard lock(mutex_);
    document_ = std::move(document);
    issuer_ = std::string(issuer);
  }
  /// The issuer; empty until it is known.
  std::string issuer() const {
    std::lock_guard lock(mutex_);
    return issuer_;
  }
  net::http_response response() const {
    std::lock_guard lock(mutex_);
    if (document_.empty()) {
      return net::problem_response(core::api_error::overloaded,
                                   "starting: the issuer is not known yet");
    }
    net::http_response response = static_json(document_);
    response.headers.emplace_back("Cache-Control", "public, max-age=300");
    return response;
  }

private:
  mutable std::mutex mutex_;
  std::string document_;
  std::string issuer_;
};

/// Reads options from the config file (if any) and the flags; exits on the first bad one.
core::options load_options(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  core::options opts;
  auto fail = [](const core::option_error& error) {
    std::cerr << "stewardd: " << core::to_string(error) << "\n";
    std::exit(exit_bad_option);
  };
  if (auto path = core::config_file_argument(args)) {
    std::ifstream file(*path);
    if (!file) {
      std::cerr << "stewardd: --config-file: cannot read " << *path << "\n";
      std::exit(exit_bad_option);
    }
    std::stringstream text;
    text << file.rdbuf();
    if (auto error = core::apply_config_text(text.str(), *path, opts))
      fail(*error);
  }
  if (auto error = core::apply_arguments(args, opts))
    fail(*error);
  if (auto error = core::validate(opts))
    fail(*error);
  return opts;
}

/// Freed memory goes back to the system at once instead of after mimalloc's delays (25 ms and
/// 500 ms in 2.0.9), which only pass when the thread that owns the pages allocates again. CAF's
/// workers fall idle once 100 000 users have hibernated after a burst, and then kept about 100 MB
/// they no longer used: 292 MB of RSS against 192 MB with these (docs/benchmarks.md, "Memory and
/// restart"), for about 2 % of the durable charges/s. An operator's MIMALLOC_* variable wins.
void tune_allocator() {
#ifdef STEWARD_ALLOCATOR_MIMALLOC
  if (std::getenv("MIMALLOC_DECOMMIT_DELAY") == nullptr)
    mi_option_set(mi_option_decommit_delay, 0);
  if (std::getenv("MIMALLOC_SEGMENT_DECOMMIT_DELAY") == nullptr)
    mi_option_set(mi_option_segment_decommit_delay, 0);
#endif
}

void report_allocator() {
#ifdef STEWARD_ALLOCATOR_MIMALLOC
  void* probe = std::malloc(64);
  bool ours = mi_is_in_heap_region(probe);
  std::free(probe);
  if (!ours)
    std::cerr << "stewardd: warning: built for mimalloc but malloc is not served by it\n";
  std::cout << "allocator: mimalloc " << mi_version() / 100 << "." << mi_version() / 10 % 10 << "." << mi_version() % 10 << (ours ? "" : " (NOT ACTIVE)") << "\n";
#else
  std::cout << "allocator: system\n";
#endif
}

} // namespace

int main(int argc, char** argv) {
  tune_allocator();
  auto opts = load_options(argc, argv);
  if (opts.help) {
    std::cout << core::usage();
    return 0;
  }
  if (opts.version) {
    std::cout << "stewardd " << version << "\n";
    return 0;
  }

  // Secrets: --demo creates what is missing; otherwise every one must already be there.
  std::vector<std::string> slugs;
  for (auto& provider : opts.providers)
    slugs.push_back(provider.slug);
  storage::demo_result demo;
  if (opts.demo) {
    if (auto error = storage::ensure_demo_secrets(opts.data_dir, slugs, demo)) {
      std::cerr << "stewardd: --demo: " << storage::to_string(*error) << "\n";
      return exit_start_failed;
    }
  }
  // The vault's key comes from STEWARD_VAULT_KEY or DIR/vault.key; without either stewardd
  // refuses to start (--demo creates the file).
  auto const vault_environment = storage::vault_key_from_environment();
  storage::secrets secrets;
  if (auto error = storage::load_secrets(opts.data_dir, slugs, secrets,
                                         vault_environment ? storage::vault_key_file_rule::optional
                                                           : storage::vault_key_file_rule::required)) {
    std::cerr << "stewardd: " << storage::to_string(*error) << "\n";
    return exit_start_failed;
  }
  storage::vault_key_ring vault;
  {
    storage::vault_key_sources sources;
    sources.environment = vault_environment;
    if (secrets.vault_key_loaded)
      sources.file_key = std::span<const std::uint8_t, core::vault_key_bytes>(secrets.vault_key);
    sources.data_dir = opts.data_dir;
    if (auto error = storage::load_vault_keys(sources, vault)) {
      std::cerr << "stewardd: " << storage::to_string(*error) << "\n";
      return exit_start_failed;
    }
  }
  // Attestations are signed with the newest key under DIR/signing/; every loaded key is published.
  std::optional<storage::signing_key_ring> signing;
  if (auto error = storage::signing_key_ring::make(secrets.signing_keys, unix_now(), signing)) {
    std::cerr << "stewardd: " << storage::to_string(*error) << "\n";
    return exit_start_failed;
  }
  storage::data_dir_lock dir_lock;
  if (auto error = storage::lock_data_dir(opts.data_dir, dir_lock)) {
    std::cerr << "stewardd: " << storage::to_string(*error) << "\n";
    return exit_start_failed;
  }

  if (opts.journal != core::journal_backend::sqlite) {
    std::cerr << "stewardd: --journal=postgres: the PostgreSQL journal is not built yet; use "
                 "--journal=sqlite\n";
    return exit_start_failed;
  }

  // Signals are taken by the main thread alone: block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto cores = std::thread::hardware_concurrency();
  auto io_threads = core::resolve_io_threads(opts, cores);
  auto workers = core::resolve_workers(opts, cores);

  core::metrics::registry metrics;
  std::atomic<bool> draining{false};
  actors::mailbox_counter node_mailbox;
  metrics.add_callback_counter("steward_survivable_failures_total",
                               "Conditions that should never happen but were survived (see logs).",
                               {}, [] { return core::survivable_failures(); });
  metrics.add_callback_gauge("steward_actor_mailbox_depth",
                             "Messages sent to actors of a kind and not yet handled.",
                             {{"actor", "node"}}, [&node_mailbox] { return node_mailbox.depth(); });

  // The journal, and what is read back from it before the first request: the alias index and
  // the global and provider kill switches.
  storage::sqlite_journal_options journal_options;
  journal_options.path = std::filesystem::path(opts.data_dir) / "journal.db";
  journal_options.thread_nice = static_cast<int>(opts.bulk_nice);
  journal_options.idempotency_filter_bytes = std::size_t{opts.idempotency_filter_mib} << 20;
  journal_options.wal_restart_frames = opts.wal_restart_mib * core::limits::wal_frames_per_mib;
  journal_options.notice = [](const std::string& line) { std::cerr << "stewardd: " << line << std::endl; };
  static constexpr double commit_bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                             0.1,    0.2,   0.5,   1,     2,    5};
  journal_options.commit_durations = &metrics.add_histogram(
    "steward_journal_commit_duration_seconds",
    "Journal transactions, from BEGIN to the COMMIT's return (the WAL's fsync included).", commit_bounds);
  journal_options.wal_restart_durations = &metrics.add_histogram(
    "steward_journal_wal_restart_duration_seconds",
    "WAL restarts the journal writer ran between two commits; no commit overlaps one.", commit_bounds);
  std::string journal_error;
  auto journal = storage::sqlite_journal::open(journal_options, journal_error);
  if (!journal) {
    std::cerr << "stewardd: " << journal_error << "\n";
    return exit_start_failed;
  }
  // The kill register: the durable state of the global and provider kill switches, in a file of
  // its own so that a kill's ack never waits behind the journal's group commit.
  auto const kills_path = opts.kill_register.empty() ? std::filesystem::path(opts.data_dir) / "kills.db"
                                                      : std::filesystem::path(opts.kill_register);
  auto kill_register = storage::kill_register::open(kills_path, journal_error);
  if (!kill_register) {
    std::cerr << "stewardd: " << journal_error << "\n";
    return exit_start_failed;
  }
  actors::alias_index aliases;
  actors::kill_switch kills(slugs, kill_register.get(), journal.get());
  for (auto failure : {aliases.load(*journal), kills.load()}) {
    if (failure) {
      std::cerr << "stewardd: " << journal_options.path.string() << ": cannot read the journal ("
                << storage::to_string(failure->code) << ")\n";
      return exit_start_failed;
    }
  }
  actors::loader_pool loader(2, static_cast<int>(opts.bulk_nice));
  actors::user_counters user_counters;

  // Webhooks to the platform leave the journal's outbox through one sender, signed with the
  // platform key. Without a URL they stay in the outbox until one is configured.
  std::unique_ptr<actors::webhook_sender> webhooks;
  if (!opts.webhook_url.empty()) {
    if (auto problem = actors::validate_webhook_url(opts.webhook_url)) {
      std::cerr << "stewardd: --webhook-url: " << *problem << "\n";
      return exit_start_failed;
    }
    actors::webhook_config webhook_config;
    webhook_config.url = opts.webhook_url;
    webhook_config.secret = secrets.platform_key;
    webhook_config.journal = journal.get();
    webhook_config.metrics = &metrics;
    webhooks = std::make_unique<actors::webhook_sender>(std::move(webhook_config));
    metrics.add_callback_counter("steward_webhooks_delivered_total",
                                 "Webhooks the platform acknowledged with a 2xx.", {},
                                 [&webhooks] { return webhooks->delivered(); });
    metrics.add_callback_counter("steward_webhook_failed_attempts_total",
                                 "Webhook attempts that failed and will be retried.", {},
                                 [&webhooks] { return webhooks->failed_attempts(); });
  }
  std::function<void()> outbox_ready;
  if (webhooks)
    outbox_ready = [sender = webhooks.get()] { sender->notify(); };
  kills.on_outbox_ready(outbox_ready);
  metrics.add_callback_gauge("steward_aliases", "Aliases (tokens, sessions, users) in memory.", {},
                             [&aliases] { return aliases.size(); });
  metrics.add_callback_counter("steward_kill_register_commits_total",
                               "Transactions of the kill register (DIR/kills.db).", {},
                               [&kill_register] { return kill_register->commits(); });
  metrics.add_callback_counter("steward_kill_audit_failures_total",
                               "Registered kill changes the journal could not take; they are "
                               "journaled at the next start.",
                               {}, [&kills] { return kills.audit_failures(); });
  metrics.add_callback_counter("steward_journal_events_durable_total",
                               "Events the journal made durable.", {},
                               [&journal] { return journal->events_durable(); });
  metrics.add_callback_counter("steward_journal_commits_total",
                               "Journal transactions committed (one fsync each).", {},
                               [&journal] { return journal->commits(); });
  metrics.add_callback_counter("steward_journal_wal_restarts_total",
                               "WAL restarts the journal writer made to bound the WAL under steady load.", {},
                               [&journal] { return journal->wal_restarts(); });
  metrics.add_callback_counter("steward_journal_redone_groups_total",
                               "Journal groups stored again, a savepoint per batch, after a batch failed.", {},
                               [&journal] { return journal->redone_groups(); });
  metrics.add_callback_counter("steward_journal_fences_from_memory_total",
                               "Appends whose fence the journal's writer checked against a stream "
                               "head it holds, without reading the journal.", {},
                               [&journal] { return journal->fences_from_memory(); });
  // Null with --idempotency-filter-mib=0; its metrics then read 0.
  const storage::idempotency_filter* idempotency_filter = journal->filter();
  metrics.add_callback_counter("steward_journal_idempotency_reads_saved_total",
                               "Requests with a fresh idempotency key that the journal's filter "
                               "let skip the journal read.", {},
                               [idempotency_filter] { return idempotency_filter ? idempotency_filter->answered_no() : 0; });
  metrics.add_callback_gauge("steward_journal_idempotency_filter_keys",
                             "Keys in the idempotency filter's live generations; past "
                             "steward_journal_idempotency_filter_capacity_keys it saves fewer reads "
                             "(--idempotency-filter-mib).", {},
                             [idempotency_filter] {
                               return static_cast<std::int64_t>(idempotency_filter ? idempotency_filter->keys() : 0);
                             });
  metrics.add_callback_gauge("steward_journal_idempotency_filter_capacity_keys",
                             "Keys the idempotency filter is sized for.", {},
                             [idempotency_filter] {
                               return static_cast<std::int64_t>(idempotency_filter ? idempotency_filter->capacity() : 0);
                             });
  metrics.add_callback_counter("steward_journal_overloads_total",
                               "Appends refused because the journal queue was full.", {},
                               [&journal] { return journal->overloads(); });
  metrics.add_callback_counter("steward_webhooks_expired_total",
                               "Webhooks deleted undelivered after the outbox retention (7 days).",
                               {}, [&journal] { return journal->outbox_expired(); });
  metrics.add_callback_counter("steward_user_activations_total",
                               "User actors activated from the journal.", {}, [&user_counters] {
                                 return user_counters.activations.load(std::memory_order_relaxed);
                               });
  metrics.add_callback_counter("steward_user_passivations_total",
                               "Idle user actors that stopped.", {}, [&user_counters] {
                                 return user_counters.passivations.load(std::memory_order_relaxed);
                               });
  metrics.add_callback_counter("steward_user_resumptions_total",
                               "User actors activated from a kept image, without a journal read.",
                               {}, [&user_counters] {
                                 return user_counters.resumed.load(std::memory_order_relaxed);
                               });
  metrics.add_callback_gauge("steward_users_hibernated",
                             "Passivated users kept in memory as their image.", {},
                             [&user_counters] {
                               return user_counters.hibernated.load(std::memory_order_relaxed);
                             });
  metrics.add_callback_gauge("steward_user_image_bytes",
                             "Ledger bytes of the images of passivated users kept in memory.", {},
                             [&user_counters] {
                               return user_counters.image_bytes.load(std::memory_order_relaxed);
                             });
  metrics.add_callback_counter("steward_user_images_dropped_total",
                               "Images of passivated users dropped past --user-hibernated-max.",
                               {}, [&user_counters] {
                                 return user_counters.images_dropped.load(std::memory_order_relaxed);
                               });

  caf::actor_system_config caf_config;
  caf_config.set("scheduler.max-threads", std::size_t(workers));
  caf_config.set("logger.console", caf::atom("none"));
  caf_config.add_thread_hook<bulk_thread_hook>(static_cast<int>(opts.bulk_nice));
  auto system = std::make_unique<caf::actor_system>(caf_config);
  auto node = actors::spawn_node(*system, actors::node_config{&draining, &node_mailbox});

  // Purchases: user actors call providers through the provider client (below), attest with the
  // signing ring, seal with the vault, and name steward by the issuer (known once listening).
  core::openssl_random random;
  issuer_document openid;
  if (!opts.public_url.empty())
    openid.set(opts.public_url);
  net::client_options client_options;
  client_options.metrics = &metrics;
  client_options.connections_per_origin_max = provider_connections_per_origin;
  net::http_client provider_client(client_options);
  actors::provider_gate purchase_gate(opts.provider_purchases_max);
  actors::purchase_services purchases;
  purchases.client = &provider_client;
  purchases.gate = &purchase_gate;
  for (const auto& provider : opts.providers) {
    purchases.base_urls.emplace(provider.slug, provider.url);
    purchase_gate.add(provider.slug);
    core::metrics::label_set labels{{"provider", provider.slug}};
    metrics.add_callback_gauge("steward_provider_purchases_in_flight",
                               "Purchases admitted at the provider and not yet settled.", labels,
                               [&purchase_gate, slug = provider.slug] {
                                 return purchase_gate.in_flight(slug);
                               });
    metrics.add_callback_counter("steward_provider_purchases_refused_total",
                                 "Purchases answered 503 because the provider had "
                                 "--provider-purchases-max in flight.",
                                 labels, [&purchase_gate, slug = provider.slug] {
                                   return purchase_gate.refused(slug);
                                 });
  }
  purchases.signer = &signing->signer();
  purchases.issuer = [&openid] { return openid.issuer(); };
  purchases.vault = &vault;
  purchases.random = &random;

  actors::directory_config directory_config;
  directory_config.journal = journal.get();
  directory_config.loader = &loader;
  directory_config.counters = &user_counters;
  directory_config.aliases = &aliases;
  directory_config.kills = &kills;
  directory_config.idle_timeout = std::chrono::milliseconds(opts.user_idle_timeout_ms);
  directory_config.hibernated_max = opts.user_hibernated_max;
  directory_config.charges_per_minute = opts.session_charges_per_minute;
  directory_config.outbox_ready = outbox_ready;
  directory_config.purchases = &purchases;
  actors::directory users(*system, directory_config);

  // Providers: one outbound client for every provider call (pools per origin, a breaker per
  // provider), and one actor per provider that keeps its catalog on the board.
  actors::catalog_board catalog(slugs);
  std::vector<std::unique_ptr<actors::provider_counters>> provider_counters;
  std::vector<actors::provider_actor> providers;
  for (const auto& provider : opts.providers) {
    auto& counters = *provider_counters.emplace_back(std::make_unique<actors::provider_counters>());
    core::metrics::label_set labels{{"provider", provider.slug}};
    metrics.add_callback_counter("steward_catalog_fetches_total",
                                 "Catalog versions fetched and published.", labels,
                                 [&counters] { return counters.catalog_fetches.load(); });
    metrics.add_callback_counter("steward_catalog_revalidations_total",
                                 "Catalog refreshes answered 304 Not Modified.", labels,
                                 [&counters] { return counters.catalog_revalidations.load(); });
    metrics.add_callback_counter("steward_catalog_failures_total",
                                 "Catalog fetches that failed; the previous catalog stayed.",
                                 labels, [&counters] { return counters.catalog_failures.load(); });
    metrics.add_callback_gauge("steward_catalog_services", "Services offered from the catalog.",
                               labels, [&counters] { return counters.catalog_services.load(); });
    metrics.add_callback_gauge("steward_catalog_hidden_services",
                               "Services of the catalog steward cannot offer (see logs).", labels,
                               [&counters] { return counters.catalog_hidden.load(); });
    actors::provider_config provider_config;
    provider_config.slug = provider.slug;
    provider_config.base_url = provider.url;
    provider_config.client = &provider_client;
    provider_config.board = &catalog;
    provider_config.counters = &counters;
    providers.push_back(actors::spawn_provider(*system, std::move(provider_config)));
  }

  actors::api_context api;
  api.catalog = &catalog;
  api.users = &users;
  api.aliases = &aliases;
  api.kills = &kills;
  api.journal = journal.get();
  api.loader = &loader;
  api.platform_key = secrets.platform_key;
  api.admin_token = secrets.admin_token;
  for (const auto& provider : secrets.provider_secrets)
    api.provider_secrets.emplace(provider.slug, provider.secret);
  api.random = &random;

  // Public listener. /healthz answers on the io thread (the HTTP floor); everything else goes to
  // actors.
  net::route_table public_routes;
  public_routes.add(net::http_method::get, "/healthz",
                    [](const net::http_request&, const net::route_params&, net::responder reply) {
                      reply.respond(static_json(R"({"status":"ok"})"));
                    });
  public_routes.add(net::http_method::get, "/readyz",
                    actors::readiness_handler(node, node_mailbox));
  actors::add_api_routes(public_routes, api);
  // Discovery for providers (DESIGN 4.3, 5): the keys that verify attestations, and the issuer.
  // The issuer is --public-url, or http:// and the bound public address, known once listening.
  public_routes.add(net::http_method::get, core::jwks_path,
                    [&signing](const net::http_request&, const net::route_params&,
                               net::responder reply) {
                      net::http_response response = static_json(signing->jwks_document());
                      response.headers.emplace_back("Cache-Control", "public, max-age=300");
                      reply.respond(std::move(response));
                    });
  public_routes.add(net::http_method::get, core::openid_configuration_path,
                    [&openid](const net::http_request&, const net::route_params&,
                              net::responder reply) { reply.respond(openid.response()); });
  net::listener_metrics public_stats(metrics, "public", public_routes.routes);

  // Admin listener: probes, metrics and the operator's kill switch, loopback by default. It has
  // an io thread of its own, mostly idle, so a kill sent here neither waits behind the public
  // listener's requests nor finds it full.
  net::route_table admin_routes;
  actors::add_admin_api_routes(admin_routes, api);
  admin_routes.add(net::http_method::get, "/healthz",
                   [](const net::http_request&, const net::route_params&, net::responder reply) {
                     reply.respond(static_json(R"({"status":"ok"})"));
                   });
  admin_routes.add(net::http_method::get, "/readyz", actors::readiness_handler(node, node_mailbox));
  admin_routes.add(net::http_method::get, "/metrics",
                   [&metrics](const net::http_request&, const net::route_params&,
                              net::responder reply) {
                     net::http_response response;
                     response.content_type = "text/plain; version=0.0.4";
                     response.body = metrics.render();
                     reply.respond(std::move(response));
                   });
  net::listener_metrics admin_stats(metrics, "admin", admin_routes.routes);

  auto public_config = listener_config("public", opts.listen, io_threads, opts);
  public_config.thread_nice = static_cast<int>(opts.bulk_nice);
  net::server public_server(std::move(public_config), std::move(public_routes), public_stats);
  net::server admin_server(listener_config("admin", opts.admin_listen, 1, opts),
                           std::move(admin_routes), admin_stats);

  std::string fallback_note;
  if (auto problem = public_server.start(&fallback_note)) {
    std::cerr << "stewardd: --listen: " << *problem << "\n";
    return exit_start_failed;
  }
  if (!fallback_note.empty())
    std::cerr << "stewardd: " << fallback_note << "\n";
  if (auto problem = admin_server.start()) {
    std::cerr << "stewardd: --admin-listen: " << *problem << "\n";
    public_server.drain();
    public_server.wait();
    return exit_start_failed;
  }

  for (auto* listener : {&public_server, &admin_server})
    metrics
      .add_gauge("steward_io_backend", "The transport each listener runs on (1 = in use).",
                 {{"listener", listener == &public_server ? "public" : "admin"},
                  {"backend", std::string(net::to_string(listener->backend()))}})
      .set(1);

  if (opts.public_url.empty())
    openid.set("http://" + public_server.bound_address());
  // The first line is the contract scripts rely on (DESIGN 8).
  std::cout << "listening public=" << public_server.bound_address()
            << " admin=" << admin_server.bound_address() << "\n";
  std::cout << "io backend: " << net::to_string(public_server.backend()) << ", " << io_threads
            << " io thread(s), " << workers << " worker(s)\n";
  report_allocator();
  for (auto& path : demo.created)
    std::cout << "demo: created secret " << path << "\n";
  std::cout << std::flush;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cout << "stewardd: " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
            << ", draining" << std::endl;

  draining = true;
  public_server.drain();
  admin_server.drain();
  public_server.wait();
  admin_server.wait();

  // Everything queued becomes durable (its callbacks still reach live actors), then the actors
  // stop: they may hold responders naming the loops, so before the servers go away.
  // The loader's queued reads run before the actors go: their results are messages to them.
  if (webhooks)
    webhooks->stop();
  provider_client.stop(); // its callbacks send to the provider actors
  for (auto& provider : providers)
    caf::anon_send_exit(provider, caf::exit_reason::user_shutdown);
  kill_register->stop(); // its callbacks append to the journal
  journal->stop();
  loader.stop();
  users.stop();
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
  system.reset();
  std::cout << "stewardd: stopped" << std::endl;
  return 0;
}
