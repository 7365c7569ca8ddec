#include "core/options.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace steward::core {
namespace {

/// Applies flags given as one initializer list, the way `main` passes `argv + 1`.
std::optional<option_error> apply_flags(std::initializer_list<std::string_view> flags,
                                        options& out) {
  std::vector<std::string_view> args(flags);
  return apply_arguments(args, out);
}

options parse_flags(std::initializer_list<std::string_view> flags) {
  options out;
  auto error = apply_flags(flags, out);
  EXPECT_FALSE(error) << to_string(*error);
  return out;
}

std::string flag_error(std::initializer_list<std::string_view> flags) {
  options out;
  auto error = apply_flags(flags, out);
  return error ? to_string(*error) : std::string("(accepted)");
}

std::string file_error(std::string_view text) {
  options out;
  auto error = apply_config_text(text, "steward.conf", out);
  return error ? to_string(*error) : std::string("(accepted)");
}

TEST(options, defaults_are_those_of_design_8_and_limits) {
  const options opts;
  EXPECT_EQ(opts.listen, (host_port{"127.0.0.1", 8080}));
  EXPECT_EQ(opts.admin_listen, (host_port{"127.0.0.1", 8081}));
  EXPECT_EQ(opts.data_dir, "./data");
  EXPECT_TRUE(opts.kill_register.empty()) << "DIR/kills.db";
  EXPECT_EQ(opts.journal, journal_backend::sqlite);
  EXPECT_EQ(opts.io, io_backend::automatic);
  EXPECT_TRUE(opts.providers.empty());
  EXPECT_TRUE(opts.public_url.empty());
  EXPECT_FALSE(opts.demo);
  EXPECT_EQ(opts.connections_max, limits::connections_default);
  EXPECT_EQ(opts.header_bytes_max, limits::header_bytes_default);
  EXPECT_EQ(opts.drain_timeout_ms, limits::drain_timeout_ms_default);
  EXPECT_EQ(opts.bulk_nice, 5u);
  EXPECT_FALSE(validate(opts));
}

TEST(options, every_flag_is_parsed) {
  auto const opts = parse_flags({
    "--listen=0.0.0.0:0",
    "--admin-listen=[::1]:9000",
    "--data-dir=/var/lib/steward",
    "--kill-register=/var/lib/steward-kills/kills.db",
    "--journal=postgres",
    "--postgres-url=postgresql://steward@db/steward",
    "--io-threads=2",
    "--workers=3",
    "--io-backend=epoll",
    "--provider=ref=http://127.0.0.1:9100",
    "--public-url=https://steward.example.com/",
    "--demo",
    "--connections-max=100",
    "--pipeline-depth-max=4",
    "--header-bytes-max=8192",
    "--body-bytes-max=65536",
    "--header-read-timeout-ms=1000",
    "--body-read-timeout-ms=2000",
    "--idle-timeout-ms=3000",
    "--actor-timeout-ms=4000",
    "--drain-timeout-ms=5000",
    "--user-idle-timeout-ms=0",
    "--user-hibernated-max=5",
    "--idempotency-filter-mib=0",
    "--wal-restart-mib=64",
    "--provider-purchases-max=2",
    "--session-charges-per-minute=7",
    "--bulk-nice=0",
  });
  EXPECT_EQ(opts.listen, (host_port{"0.0.0.0", 0}));
  EXPECT_EQ(opts.admin_listen, (host_port{"::1", 9000}));
  EXPECT_EQ(opts.data_dir, "/var/lib/steward");
  EXPECT_EQ(opts.kill_register, "/var/lib/steward-kills/kills.db");
  EXPECT_EQ(opts.journal, journal_backend::postgres);
  EXPECT_EQ(opts.postgres_url, "postgresql://steward@db/steward");
  EXPECT_EQ(opts.io_threads, 2u);
  EXPECT_EQ(opts.workers, 3u);
  EXPECT_EQ(opts.io, io_backend::epoll);
  ASSERT_EQ(opts.providers.size(), 1u);
  EXPECT_EQ(opts.providers[0], (provider_option{"ref", "http://127.0.0.1:9100"}));
  EXPECT_EQ(opts.public_url, "https://steward.example.com");
  EXPECT_TRUE(opts.demo);
  EXPECT_EQ(opts.connections_max, 100u);
  EXPECT_EQ(opts.pipeline_depth_max, 4u);
  EXPECT_EQ(opts.header_bytes_max, 8192u);
  EXPECT_EQ(opts.body_bytes_max, 65536u);
  EXPECT_EQ(opts.header_read_timeout_ms, 1000u);
  EXPECT_EQ(opts.body_read_timeout_ms, 2000u);
  EXPECT_EQ(opts.idle_timeout_ms, 3000u);
  EXPECT_EQ(opts.actor_timeout_ms, 4000u);
  EXPECT_EQ(opts.drain_timeout_ms, 5000u);
  EXPECT_EQ(opts.user_idle_timeout_ms, 0u) << "0 switches passivation off";
  EXPECT_EQ(opts.provider_purchases_max, 2u);
  EXPECT_EQ(opts.user_hibernated_max, 5u);
  EXPECT_EQ(opts.idempotency_filter_mib, 0u) << "0 switches the filter off";
  EXPECT_EQ(opts.wal_restart_mib, 64u);
  EXPECT_EQ(opts.session_charges_per_minute, 7u);
  EXPECT_EQ(opts.bulk_nice, 0u) << "0 keeps every thread at the process's nice value";
  EXPECT_FALSE(validate(opts));
}

TEST(options, a_value_may_follow_as_the_next_argument) {
  auto const opts = parse_flags({"--listen", "localhost:0", "--data-dir", "d", "--demo"});
  EXPECT_EQ(opts.listen, (host_port{"127.0.0.1", 0}));
  EXPECT_EQ(opts.data_dir, "d");
  EXPECT_TRUE(opts.demo);
  EXPECT_EQ(flag_error({"--listen"}), "--listen: needs a value, as in --listen=HOST:PORT");
  EXPECT_EQ(flag_error({"--data-dir", "--demo"}), "--data-dir: needs a value, as in --data-dir=DIR");
}

TEST(options, booleans_and_help) {
  EXPECT_TRUE(parse_flags({"--demo=true"}).demo);
  EXPECT_FALSE(parse_flags({"--demo", "--demo=false"}).demo);
  EXPECT_EQ(flag_error({"--demo=yes"}), "--demo: must be true or false, got \"yes\"");
  EXPECT_TRUE(parse_flags({"--help"}).help);
  EXPECT_TRUE(parse_flags({"-h"}).help);
  EXPECT_TRUE(parse_flags({"--version"}).version);
}

TEST(options, numbers_are_decimal_digits_within_range) {
  EXPECT_EQ(flag_error({"--io-threads=0"}),
            "--io-threads: must be between 1 and 64 or auto (one per core), got 0");
  EXPECT_EQ(flag_error({"--io-threads=65"}),
            "--io-threads: must be between 1 and 64 or auto (one per core), got 65");
  EXPECT_EQ(parse_flags({"--io-threads=64"}).io_threads, 64u);
  EXPECT_EQ(parse_flags({"--workers=5", "--workers=auto"}).workers, 0u);
  EXPECT_EQ(flag_error({"--workers=257"}),
            "--workers: must be between 1 and 256 or auto (one per core), got 257");
  EXPECT_EQ(flag_error({"--connections-max=0"}),
            "--connections-max: must be between 1 and 65536, got 0");
  EXPECT_EQ(flag_error({"--connections-max=65537"}),
            "--connections-max: must be between 1 and 65536, got 65537");
  EXPECT_EQ(parse_flags({"--connections-max=65536"}).connections_max, 65536u);
  EXPECT_EQ(parse_flags({"--body-bytes-max=007"}).body_bytes_max, 7u);
  for (auto const bad : {"-1", "+5", "0x10", "1e3", "10 ", " 10", "", "1_000", "١"}) {
    options opts;
    std::string flag = std::string("--idle-timeout-ms=") + bad;
    std::vector<std::string_view> args{flag};
    EXPECT_TRUE(apply_arguments(args, opts)) << bad;
    EXPECT_EQ(opts.idle_timeout_ms, limits::idle_timeout_ms_default);
  }
  // 2^64 would wrap to 0 and 2^64 + 5 to 5 without the overflow check.
  EXPECT_EQ(flag_error({"--drain-timeout-ms=18446744073709551621"}),
            "--drain-timeout-ms: must be between 1 and 300000, got 18446744073709551621");
  EXPECT_EQ(flag_error({"--session-charges-per-minute=601"}),
            "--session-charges-per-minute: must be between 1 and 600, got 601");
  EXPECT_EQ(flag_error({"--provider-purchases-max=0"}),
            "--provider-purchases-max: must be between 1 and 65536, got 0");
  EXPECT_EQ(flag_error({"--user-idle-timeout-ms=86400001"}),
            "--user-idle-timeout-ms: must be between 0 and 86400000, got 86400001");
  EXPECT_EQ(flag_error({"--user-hibernated-max=100000001"}),
            "--user-hibernated-max: must be between 0 and 100000000, got 100000001");
  EXPECT_EQ(flag_error({"--idempotency-filter-mib=4097"}),
            "--idempotency-filter-mib: must be between 0 and 4096, got 4097");
  EXPECT_EQ(flag_error({"--wal-restart-mib=0"}),
            "--wal-restart-mib: must be between 1 and 16384, got 0");
  EXPECT_EQ(flag_error({"--wal-restart-mib=16385"}),
            "--wal-restart-mib: must be between 1 and 16384, got 16385");
  EXPECT_EQ(flag_error({"--header-bytes-max=32769"}),
            "--header-bytes-max: must be between 1 and 32768, got 32769");
  EXPECT_EQ(flag_error({"--bulk-nice=20"}), "--bulk-nice: must be between 0 and 19, got 20");
  EXPECT_TRUE(parse_flags({"--kill-register=/k.db", "--kill-register="}).kill_register.empty())
    << "empty: DIR/kills.db";
  EXPECT_EQ(flag_error({"--kill-register=/var/lib/kills/"}),
            "--kill-register: must name a file, not a directory");
}

TEST(options, listen_addresses) {
  EXPECT_EQ(parse_flags({"--listen=[::]:443"}).listen, (host_port{"::", 443}));
  EXPECT_EQ(parse_flags({"--listen=localhost:65535"}).listen, (host_port{"127.0.0.1", 65535}));
  EXPECT_EQ(parse_flags({"--listen=10.1.2.3:0"}).listen, (host_port{"10.1.2.3", 0}));
  EXPECT_EQ(flag_error({"--listen=127.0.0.1"}),
            "--listen: expected HOST:PORT, got \"127.0.0.1\" (the port is missing)");
  EXPECT_EQ(flag_error({"--listen=127.0.0.1:65536"}),
            "--listen: port must be between 0 and 65535, got \"65536\"");
  EXPECT_EQ(flag_error({"--listen=127.0.0.1:"}),
            "--listen: port must be between 0 and 65535, got \"\"");
  EXPECT_EQ(flag_error({"--listen=example.com:80"}),
            "--listen: host must be an IPv4 address, a bracketed IPv6 address or localhost, got "
            "\"example.com\"");
  EXPECT_EQ(flag_error({"--admin-listen=::1:80"}),
            "--admin-listen: an IPv6 address needs brackets, as in [::1]:8080, got \"::1:80\"");
  EXPECT_EQ(flag_error({"--listen=[::1]"}),
            "--listen: expected HOST:PORT, got \"[::1]\" (the port is missing)");
  EXPECT_EQ(flag_error({"--listen=[zz]:1"}), "--listen: not an IPv6 address: \"zz\"");
  for (auto const bad : {"256.0.0.1:1", "1.2.3:1", "010.0.0.1:1", ":80", "1.2.3.4:-1"}) {
    options opts;
    std::string flag = std::string("--listen=") + bad;
    std::vector<std::string_view> args{flag};
    EXPECT_TRUE(apply_arguments(args, opts)) << bad;
  }
  EXPECT_EQ(to_string(host_port{"::1", 80}), "[::1]:80");
  EXPECT_EQ(to_string(host_port{"127.0.0.1", 0}), "127.0.0.1:0");
}

TEST(options, providers) {
  auto const opts = parse_flags({"--provider=cloud-1=https://api.example.com:8443/steward/v1/",
                                 "--provider=9=http://[::1]:80"});
  ASSERT_EQ(opts.providers.size(), 2u);
  EXPECT_EQ(opts.providers[0],
            (provider_option{"cloud-1", "https://api.example.com:8443/steward/v1"}));
  EXPECT_EQ(opts.providers[1], (provider_option{"9", "http://[::1]:80"}));

  EXPECT_EQ(flag_error({"--provider=a=http://x", "--provider=a=http://y"}),
            "--provider: provider \"a\" is given twice");
  EXPECT_EQ(flag_error({"--provider=https://x.io"}),
            "--provider: expected SLUG=URL, got \"https://x.io\"");
  EXPECT_EQ(flag_error({"--provider=Ref=http://x"}),
            "--provider: slug must be 1 to 32 of a-z, 0-9 and '-', not starting with '-', got "
            "\"Ref\"");
  EXPECT_EQ(flag_error({"--provider=ref"}), "--provider: expected SLUG=URL, got \"ref\"");
  EXPECT_EQ(flag_error({"--provider=ref=ftp://x"}),
            "--provider: URL of \"ref\" must start with http:// or https://, got \"ftp://x\"");
  EXPECT_EQ(flag_error({"--provider=ref=http://u:p@x"}),
            "--provider: URL of \"ref\" must not contain user information (user@host): put "
            "secrets in the data dir");
  std::string const long_slug(33, 'a');
  std::string const long_flag = "--provider=" + long_slug + "=http://x";
  std::string const max_flag = "--provider=" + long_slug.substr(1) + "=http://x";
  std::vector<std::string> const bad_values{
    "Ref=http://x",  "-a=http://x",   "a_b=http://x",     "=http://x",     long_flag,
    "a=http://",     "a=http://x:0",  "a=http://x:99999", "a=http://x/?q", "a=http://x/#f",
    "a=http://x y",  "a=http://[::1", "a=http:///path"};
  for (auto const& bad : bad_values) {
    options opts;
    std::string flag = bad.starts_with("--") ? bad : "--provider=" + bad;
    std::vector<std::string_view> args{flag};
    EXPECT_TRUE(apply_arguments(args, opts)) << bad;
  }
  EXPECT_EQ(parse_flags({max_flag}).providers.size(), 1u);
}

TEST(options, config_file_syntax) {
  options opts;
  auto const text = "# stewardd\n"
                    "\n"
                    "listen = 0.0.0.0:9000   # public\r\n"
                    "  data-dir=/srv/steward#1\n"
                    "provider = a=http://127.0.0.1:1\n"
                    "provider = b=http://127.0.0.1:2\n"
                    "\t# indented comment\n"
                    "demo = true";
  auto error = apply_config_text(text, "steward.conf", opts);
  ASSERT_FALSE(error) << to_string(*error);
  EXPECT_EQ(opts.listen, (host_port{"0.0.0.0", 9000}));
  // '#' starts a comment only at the start or after a blank, so it may appear inside a value.
  EXPECT_EQ(opts.data_dir, "/srv/steward#1");
  ASSERT_EQ(opts.providers.size(), 2u);
  EXPECT_EQ(opts.providers[1].slug, "b");
  EXPECT_TRUE(opts.demo);
}

TEST(options, config_file_errors_name_the_option_and_line) {
  EXPECT_EQ(file_error("listen = 127.0.0.1:1\n\n\n\n\n\nio-threads = 0\n"),
            "io-threads (steward.conf line 7): must be between 1 and 64 or auto (one per core), "
            "got 0");
  EXPECT_EQ(file_error("workers = 2\nworkers = 3\n"),
            "workers (steward.conf line 2): already set on line 1");
  EXPECT_EQ(file_error("config-file = other.conf\n"),
            "config-file (steward.conf line 1): only accepted on the command line");
  EXPECT_EQ(file_error("help = true\n"), "help (steward.conf line 1): only accepted on the command line");
  EXPECT_EQ(file_error("--listen = 127.0.0.1:1\n"),
            "--listen (steward.conf line 1): write option names without the leading -- in a "
            "config file");
  EXPECT_EQ(file_error("listen 127.0.0.1:1\n"),
            "steward.conf line 1: expected \"name = value\", got \"listen 127.0.0.1:1\"");
  EXPECT_EQ(file_error("io-thread = 4\n"),
            "io-thread (steward.conf line 1): unknown option; did you mean io-threads?");
  EXPECT_EQ(file_error("colour = blue\n"), "colour (steward.conf line 1): unknown option");
  EXPECT_EQ(file_error("workers = 4 threads\n"),
            "workers (steward.conf line 1): must be between 1 and 256 or auto (one per core), got "
            "4 threads");
  EXPECT_EQ(file_error("demo =\n"), "demo (steward.conf line 1): must be true or false, got \"\"");
}

TEST(options, unknown_flags_are_named_with_a_suggestion) {
  EXPECT_EQ(flag_error({"--data-dri=x"}), "--data-dri: unknown option; did you mean --data-dir?");
  EXPECT_EQ(flag_error({"--listne", "x"}), "--listne: unknown option; did you mean --listen?");
  EXPECT_EQ(flag_error({"--frobnicate"}), "--frobnicate: unknown option");
  EXPECT_EQ(flag_error({"stray"}),
            "stray: unexpected argument; options look like --name=value (see --help)");
  EXPECT_EQ(flag_error({"--"}), "--: unexpected argument; options look like --name=value (see --help)");
}

TEST(options, flags_override_the_file_and_replace_its_providers) {
  options opts;
  ASSERT_FALSE(apply_config_text("listen = 127.0.0.1:1\n"
                                 "workers = 8\n"
                                 "provider = a=http://127.0.0.1:1\n"
                                 "provider = b=http://127.0.0.1:2\n",
                                 "f", opts));
  ASSERT_FALSE(apply_flags({"--listen=127.0.0.1:2", "--provider=c=http://127.0.0.1:3",
                            "--provider=a=http://127.0.0.1:4"},
                           opts));
  EXPECT_EQ(opts.listen.port, 2);
  EXPECT_EQ(opts.workers, 8u);
  ASSERT_EQ(opts.providers.size(), 2u);
  EXPECT_EQ(opts.providers[0], (provider_option{"c", "http://127.0.0.1:3"}));
  EXPECT_EQ(opts.providers[1], (provider_option{"a", "http://127.0.0.1:4"}));

  // Without --provider flags, the file's providers stay.
  options kept;
  ASSERT_FALSE(apply_config_text("provider = a=http://127.0.0.1:1\n", "f", kept));
  ASSERT_FALSE(apply_flags({"--demo"}, kept));
  EXPECT_EQ(kept.providers.size(), 1u);
}

TEST(options, config_file_argument) {
  std::vector<std::string_view> args{"--demo", "--config-file=a.conf", "--config-file", "b.conf"};
  EXPECT_EQ(config_file_argument(args), "b.conf");
  std::vector<std::string_view> none{"--demo"};
  EXPECT_EQ(config_file_argument(none), std::nullopt);
  std::vector<std::string_view> broken{"--config-file=a.conf", "--bogus"};
  EXPECT_EQ(config_file_argument(broken), std::nullopt);
  EXPECT_EQ(flag_error({"--config-file="}), "--config-file: needs a path");
}

TEST(options, validate_rules_between_options) {
  options postgres_without_url;
  postgres_without_url.journal = journal_backend::postgres;
  EXPECT_EQ(validate(postgres_without_url),
            (option_error{"postgres-url", "required when journal is postgres"}));

  auto url_without_postgres = parse_flags({"--postgres-url=postgres://db/steward"});
  ASSERT_TRUE(validate(url_without_postgres));
  EXPECT_EQ(validate(url_without_postgres)->option, "postgres-url");
  // An empty value clears a URL that a config file set.
  ASSERT_FALSE(apply_flags({"--postgres-url="}, url_without_postgres));
  EXPECT_FALSE(validate(url_without_postgres));

  EXPECT_EQ(flag_error({"--postgres-url=mysql://db"}),
            "--postgres-url: must be a libpq URI starting with postgres:// or postgresql://");

  auto same = parse_flags({"--listen=127.0.0.1:9000", "--admin-listen=localhost:9000"});
  EXPECT_EQ(validate(same),
            (option_error{"admin-listen", "must differ from listen (127.0.0.1:9000)"}));
  // Two port-0 listeners get two different free ports.
  EXPECT_FALSE(validate(parse_flags({"--listen=127.0.0.1:0", "--admin-listen=127.0.0.1:0"})));
}

TEST(options, thread_counts_resolve_against_the_core_count) {
  options opts;
  EXPECT_EQ(resolve_io_threads(opts, 2), 2u);
  EXPECT_EQ(resolve_io_threads(opts, 0), 1u);
  EXPECT_EQ(resolve_io_threads(opts, 1000), limits::io_threads_max);
  EXPECT_EQ(resolve_workers(opts, 1000), limits::workers_max);
  EXPECT_EQ(resolve_workers(opts, 12), 12u);
  opts.io_threads = 3;
  opts.workers = 5;
  EXPECT_EQ(resolve_io_threads(opts, 2), 3u);
  EXPECT_EQ(resolve_workers(opts, 2), 5u);
}

TEST(options, describe_round_trips_and_redacts_the_postgres_password) {
  auto const opts = parse_flags({"--listen=[::]:0", "--journal=postgres",
                                 "--postgres-url=postgres://db:5432/steward", "--io-threads=7",
                                 "--provider=a=http://127.0.0.1:1", "--provider=b=https://b.io/x",
                                 "--public-url=https://s.example", "--demo",
                                 "--idle-timeout-ms=1234", "--io-backend=io_uring"});
  auto const text = describe(opts);
  options reparsed;
  auto error = apply_config_text(text, "describe", reparsed);
  ASSERT_FALSE(error) << to_string(*error) << "\n" << text;
  EXPECT_EQ(reparsed, opts);

  options defaults_reparsed;
  ASSERT_FALSE(apply_config_text(describe(options{}), "describe", defaults_reparsed));
  EXPECT_EQ(defaults_reparsed, options{});
  EXPECT_NE(describe(options{}).find("io-threads = auto\n"), std::string::npos);
  EXPECT_NE(describe(options{}).find("# provider: none\n"), std::string::npos);

  auto secret = parse_flags(
    {"--postgres-url=postgresql://steward:hunter2@db/steward?sslmode=require&password=hunter3"});
  auto const shown = describe(secret);
  EXPECT_EQ(shown.find("hunter"), std::string::npos) << shown;
  EXPECT_NE(shown.find("postgres-url = postgresql://steward:REDACTED@db/steward?sslmode=require&"
                       "password=REDACTED\n"),
            std::string::npos)
    << shown;
}

TEST(options, usage_lists_every_option_with_its_default) {
  auto const text = usage();
  for (auto const name : config_option_names())
    EXPECT_NE(text.find("  --" + std::string(name)), std::string::npos) << name;
  for (auto const flag : {"  --config-file=PATH", "  --help\n", "  --version\n"})
    EXPECT_NE(text.find(flag), std::string::npos) << flag;
  // Descriptions wrap, so compare with line breaks folded into spaces.
  std::string flat;
  for (char c : text) {
    if (c == '\n' || c == ' ') {
      if (!flat.empty() && flat.back() != ' ')
        flat += ' ';
    } else {
      flat += c;
    }
  }
  EXPECT_NE(flat.find("Default: 127.0.0.1:8080."), std::string::npos);
  EXPECT_NE(flat.find("Default: 127.0.0.1:8081."), std::string::npos);
  EXPECT_NE(flat.find("Default: ./data."), std::string::npos);
  EXPECT_NE(flat.find("Range: 1..64 or auto. Default: auto."), std::string::npos);
  EXPECT_NE(flat.find("Range: 1..65536. Default: 16384."), std::string::npos);
  EXPECT_NE(flat.find("Default: http:// + the bound public address."), std::string::npos);
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line))
    EXPECT_LE(line.size(), 80u) << line;
}

/// The repository's docs/steward.conf.example: from STEWARD_SOURCE_DIR if set, else searched
/// upwards from the working directory and from this executable (tests run inside a build dir at
/// the repository root).
std::optional<std::filesystem::path> find_example_config() {
  namespace fs = std::filesystem;
  auto const relative = fs::path("docs") / "steward.conf.example";
  if (auto const* source_dir = std::getenv("STEWARD_SOURCE_DIR")) {
    auto const path = fs::path(source_dir) / relative;
    if (fs::exists(path))
      return path;
  }
  std::vector<fs::path> starts{fs::current_path()};
  std::error_code error;
  auto const self = fs::read_symlink("/proc/self/exe", error);
  if (!error)
    starts.push_back(self.parent_path());
  for (auto start : starts) {
    for (int depth = 0; depth < 6 && !start.empty(); ++depth, start = start.parent_path()) {
      auto const path = start / relative;
      if (fs::exists(path) && fs::exists(start / "core" / "limits.hpp"))
        return path;
      if (start == start.parent_path())
        break;
    }
  }
  return std::nullopt;
}

TEST(options, example_config_lists_every_option_with_its_default) {
  auto const path = find_example_config();
  if (!path)
    GTEST_SKIP() << "docs/steward.conf.example not found; set STEWARD_SOURCE_DIR";
  std::ifstream file(*path);
  std::stringstream buffer;
  buffer << file.rdbuf();
  auto const text = buffer.str();

  // Its active lines are the defaults, so that the example cannot drift from the code.
  options applied;
  auto error = apply_config_text(text, path->string(), applied);
  ASSERT_FALSE(error) << to_string(*error);
  EXPECT_EQ(applied, options{});
  EXPECT_EQ(describe(applied), describe(options{}));

  // Every option appears, active or as a commented example.
  for (auto const name : config_option_names()) {
    std::string const active = std::string("\n").append(name).append(" =");
    std::string const commented = std::string("\n# ").append(name).append(" =");
    EXPECT_TRUE(text.find(active) != std::string::npos ||
                text.find(commented) != std::string::npos)
      << name << " is missing from " << path->string();
  }

  // The commented examples are valid when uncommented.
  std::istringstream lines(text);
  std::string line;
  std::string uncommented;
  while (std::getline(lines, line)) {
    for (auto const name : config_option_names()) {
      std::string const prefix = std::string("# ").append(name).append(" = ");
      if (line.starts_with(prefix))
        uncommented += line.substr(2) + "\n";
    }
  }
  EXPECT_FALSE(uncommented.empty());
  options examples;
  error = apply_config_text(uncommented, "uncommented examples", examples);
  EXPECT_FALSE(error) << to_string(*error) << "\n" << uncommented;
}

} // namespace
} // namespace steward::core
