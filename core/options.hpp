#pragma once

// stewardd's configuration (DESIGN 8): the options, their defaults, and parsing them from the config
// file's text and from the command line. Pure: the caller reads the file, this only parses text, so
// every rule here is unit-tested without touching the disk.
//
// Precedence, lowest first: built-in defaults (core/limits.hpp), the config file, the command line.
// Stewardd's start-up is:
//
//   options opts;
//   if (auto path = config_file_argument(args)) { read *path; apply_config_text(text, *path, opts); }
//   apply_arguments(args, opts);   // flags override the file
//   validate(opts);                // rules that involve more than one option
//
// and it stops at the first error, printing `to_string(error)`.

#include "core/limits.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace steward::core {

/// A listening address: an IPv4 or IPv6 literal (without brackets) and a port; port 0 asks the
/// kernel for a free port.
struct host_port {
  std::string host;
  std::uint16_t port = 0;

  friend bool operator==(const host_port&, const host_port&) = default;
};

/// Renders `HOST:PORT`, with brackets around an IPv6 host (`[::1]:8080`).
std::string to_string(const host_port& address);

enum class journal_backend : std::uint8_t { sqlite, postgres };
enum class io_backend : std::uint8_t { automatic, io_uring, epoll };

/// One `--provider=SLUG=URL`: the provider's slug and its base URL (no trailing slash).
struct provider_option {
  std::string slug;
  std::string url;

  friend bool operator==(const provider_option&, const provider_option&) = default;
};

/// Everything stewardd can be told. Members default to what stewardd uses when the operator says
/// nothing; `*_max` and `*_timeout_ms` start at the defaults of core/limits.hpp and may only be
/// lowered below the ceilings there.
/// The largest `--bulk-nice`: the kernel's lowest priority.
inline constexpr std::uint32_t bulk_nice_max = 19;

struct options {
  /// `--config-file`: read before the flags are applied; empty when none was given.
  std::string config_file;

  host_port listen{"127.0.0.1", 8080};
  host_port admin_listen{"127.0.0.1", 8081};
  std::string data_dir = "./data";
  /// The kill register's file; empty: `DIR/kills.db`. Another disk than the journal's spares each
  /// kill's fsync the journal's flushes (docs/benchmarks.md, "Kill ack").
  std::string kill_register;
  journal_backend journal = journal_backend::sqlite;
  /// libpq URI (`postgres://` or `postgresql://`); required with, and only with, the postgres journal.
  std::string postgres_url;
  /// 0 means one per core: see `resolve_io_threads`.
  std::uint32_t io_threads = 0;
  /// 0 means one per core: see `resolve_workers`.
  std::uint32_t workers = 0;
  io_backend io = io_backend::automatic;
  /// In the order given; slugs are unique.
  std::vector<provider_option> providers;
  /// Empty means `http://` + the bound public address (known only after binding).
  std::string public_url;
  /// Where webhooks to the platform are POSTed (http://host[:port][/path]); empty: none are sent
  /// (they wait in the journal's outbox until one is configured).
  std::string webhook_url;
  bool demo = false;

  std::uint32_t connections_max = limits::connections_default;
  std::uint32_t pipeline_depth_max = limits::pipeline_depth_default;
  std::size_t header_bytes_max = limits::header_bytes_default;
  std::size_t body_bytes_max = limits::body_bytes_default;
  std::uint32_t header_read_timeout_ms = limits::header_read_timeout_ms_default;
  std::uint32_t body_read_timeout_ms = limits::body_read_timeout_ms_default;
  std::uint32_t idle_timeout_ms = limits::idle_timeout_ms_default;
  std::uint32_t actor_timeout_ms = limits::actor_timeout_ms_default;
  std::uint32_t drain_timeout_ms = limits::drain_timeout_ms_default;
  /// A user actor idle this long is passivated (taken out of memory); 0: never.
  std::uint32_t user_idle_timeout_ms = limits::user_idle_timeout_ms_default;
  std::uint32_t user_hibernated_max = limits::user_hibernated_max_default;
  /// MiB of the journal's idempotency filter; 0: none, every fresh key is looked up.
  std::uint32_t idempotency_filter_mib = limits::idempotency_filter_mib_default;
  std::uint32_t wal_restart_mib = limits::wal_restart_mib_default;
  std::uint32_t provider_purchases_max = limits::provider_purchases_in_flight_default;
  std::uint32_t session_charges_per_minute = limits::charges_per_minute_default;
  /// Nice value of the threads that carry the charges (the public listener's io threads, the
  /// actor workers, the journal's writer and checkpointer, the loader pool), 0..19; the admin
  /// listener's io thread and the kill register's writer stay at the process's own.
  std::uint32_t bulk_nice = 5;

  /// `--help` / `--version`: the binary prints `usage()` or its version and exits.
  bool help = false;
  bool version = false;

  friend bool operator==(const options&, const options&) = default;
};

/// A rejected option. `option` names it as the user wrote it: `--io-threads` on the command line,
/// `io-threads (steward.conf line 7)` in a config file, or the bare name for a rule that involves
/// several options (`postgres-url`).
struct option_error {
  std::string option;
  std::string message;

  friend bool operator==(const option_error&, const option_error&) = default;
};

/// `option: message`, the line stewardd prints before exiting.
std::string to_string(const option_error& error);

/// Applies a config file's text over `out`: one `name = value` per line, names as the flags without
/// `--`, `#` starting a comment (at the start of a line or after whitespace), blank lines ignored.
/// `source_name` (usually the path) appears in errors. A name may appear once, except `provider`;
/// the `provider` lines of a file replace any providers set before. Stops at the first error, with
/// `out` partly updated.
std::optional<option_error> apply_config_text(std::string_view text, std::string_view source_name,
                                              options& out);

/// Applies command-line arguments (without the program name) over `out`: `--name=value`, or
/// `--name value` for options that take a value; booleans are `--demo` or `--demo=true|false`. A
/// later flag overrides an earlier one; the `--provider` flags replace any providers set before
/// (from the config file) and accumulate among themselves. Stops at the first error.
std::optional<option_error> apply_arguments(std::span<const std::string_view> args, options& out);

/// The `--config-file` path among `args`, if any (the last one wins). Malformed arguments yield
/// nullopt here; `apply_arguments` reports them.
std::optional<std::string> config_file_argument(std::span<const std::string_view> args);

/// Checks the rules between options, once every source has been applied: postgres-url goes with
/// journal=postgres and only with it; listen and admin-listen differ unless their port is 0.
std::optional<option_error> validate(const options& opts);

/// The io thread count to start: the configured one, or the core count capped at
/// `limits::io_threads_max` (at least 1, if the core count is unknown and given as 0).
std::uint32_t resolve_io_threads(const options& opts, std::uint32_t core_count);

/// The CAF scheduler worker count: the configured one, or the core count capped at
/// `limits::workers_max` (at least 1).
std::uint32_t resolve_workers(const options& opts, std::uint32_t core_count);

/// `--help` text: every option with its value syntax, meaning and default.
std::string usage();

/// The effective configuration in config-file syntax, every option on its own line (flag-only
/// options excepted), so that `apply_config_text(describe(o))` reproduces `o`. A password inside
/// postgres-url is shown as `REDACTED`, because this text ends up in logs.
std::string describe(const options& opts);

/// The names of every option accepted in a config file, in `usage()` order (for tests and tools).
std::vector<std::string_view> config_option_names();

} // namespace steward::core
