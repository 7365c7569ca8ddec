#include "core/options.hpp"

#include "core/ids.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <map>
#include <netinet/in.h>

namespace steward::core {

namespace {

// Every message below is a complete sentence fragment after "option: ", so that the printed line
// reads `--io-threads: must be between 1 and 64 or auto (one per core), got 0`.
using apply_fn = std::optional<std::string> (*)(std::string_view value, options& out);
using render_fn = std::vector<std::string> (*)(const options& opts);

enum class value_kind : std::uint8_t { text, boolean };

struct option_spec {
  std::string_view name;
  /// What follows `=` in `usage()`: `HOST:PORT`, `N`. Empty for booleans.
  std::string_view metavar = {};
  std::string_view help = {};
  value_kind kind = value_kind::text;
  /// Accepted on the command line only (config-file, help, version).
  bool flag_only = false;
  /// May be given several times (provider); the first occurrence in a source clears the list.
  bool repeatable = false;
  /// Numeric options accept 1..range_max (the ceiling in core/limits.hpp); 0 for the others.
  std::uint64_t range_max = 0;
  apply_fn apply = nullptr;
  /// The option's current value(s) in config syntax; null for flag-only options.
  render_fn render = nullptr;
  /// Shown in `usage()` instead of the rendered default when that would say nothing (empty).
  std::string_view default_note = {};
};

// --- Small text helpers ----------------------------------------------------------------------------

std::string_view trim(std::string_view text) {
  auto const blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!text.empty() && blank(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && blank(text.back()))
    text.remove_suffix(1);
  return text;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool has_control_or_space(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto const u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto const u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

/// Quotes a user's value in an error message, so that an empty or blank value is visible.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  out.append(text);
  out += '"';
  return out;
}

/// Parses decimal digits only (no sign, no blanks, no hex) into `out`; false on anything else or on
/// overflow of 64 bits.
bool parse_decimal(std::string_view text, std::uint64_t& out) {
  if (text.empty())
    return false;
  std::uint64_t value = 0;
  for (char c : text) {
    if (!is_digit(c))
      return false;
    auto const digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10)
      return false;
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

std::string range_message(std::uint64_t min, std::uint64_t max, std::string_view got) {
  return "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
         std::string(got.empty() ? std::string_view("nothing") : got);
}

std::optional<std::string> parse_bounded(std::string_view text, std::uint64_t min, std::uint64_t max,
                                         std::uint64_t& out) {
  std::uint64_t value = 0;
  if (!parse_decimal(text, value) || value < min || value > max)
    return range_message(min, max, text);
  out = value;
  return std::nullopt;
}

std::optional<std::string> parse_bool(std::string_view text, bool& out) {
  if (text == "true") {
    out = true;
    return std::nullopt;
  }
  if (text == "false") {
    out = false;
    return std::nullopt;
  }
  return "must be true or false, got " + quoted(text);
}

// --- Addresses and URLs ----------------------------------------------------------------------------

bool is_ipv4_literal(const std::string& text) {
  in_addr addr{};
  // glibc's inet_pton takes exactly four decimal parts and rejects leading zeros, so "010.0.0.1"
  // (octal to some tools) cannot mean two different addresses to two programs.
  return inet_pton(AF_INET, text.c_str(), &addr) == 1;
}

bool is_ipv6_literal(const std::string& text) {
  in6_addr addr{};
  return inet_pton(AF_INET6, text.c_str(), &addr) == 1;
}

std::optional<std::string> parse_port(std::string_view text, std::uint64_t min, std::uint16_t& out) {
  std::uint64_t value = 0;
  if (!parse_decimal(text, value) || value < min || value > 65535)
    return "port must be between " + std::to_string(min) + " and 65535, got " + quoted(text);
  out = static_cast<std::uint16_t>(value);
  return std::nullopt;
}

std::optional<std::string> parse_host_port(std::string_view text, host_port& out) {
  host_port result;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto const close = text.find(']');
    if (close == std::string_view::npos)
      return "missing ] after the IPv6 address in " + quoted(text);
    result.host = std::string(text.substr(1, close - 1));
    if (!is_ipv6_literal(result.host))
      return "not an IPv6 address: " + quoted(result.host);
    auto const rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':')
      return "expected HOST:PORT, got " + quoted(text) + " (the port is missing)";
    port_text = rest.substr(1);
  } else {
    auto const colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return "expected HOST:PORT, got " + quoted(text) + " (the port is missing)";
    auto const host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos)
      return "an IPv6 address needs brackets, as in [::1]:8080, got " + quoted(text);
    if (host == "localhost") {
      // Resolving names would be I/O and could bind somewhere unexpected; localhost is the one
      // name everybody means the same thing by, and IPv4 loopback is what the defaults use.
      result.host = "127.0.0.1";
    } else {
      result.host = std::string(host);
      if (!is_ipv4_literal(result.host))
        return "host must be an IPv4 address, a bracketed IPv6 address or localhost, got " +
               quoted(host);
    }
    port_text = text.substr(colon + 1);
  }
  if (auto error = parse_port(port_text, 0, result.port))
    return error;
  out = std::move(result);
  return std::nullopt;
}

/// Checks an `http://` or `https://` base URL with a host, an optional port and an optional path,
/// and returns it without trailing slashes (callers append `/catalog` and the like). Userinfo,
/// queries and fragments are refused: none has a meaning for a base URL, and userinfo would put a
/// credential into logs.
std::optional<std::string> parse_base_url(std::string_view text, std::string& out) {
  std::string_view rest;
  if (text.starts_with("http://"))
    rest = text.substr(7);
  else if (text.starts_with("https://"))
    rest = text.substr(8);
  else
    return "must start with http:// or https://, got " + quoted(text);
  if (has_control_or_space(text))
    return "must not contain spaces or control characters";
  if (text.find_first_of("?#") != std::string_view::npos)
    return "must not contain a query or a fragment (? or #), got " + quoted(text);
  auto const path_start = rest.find('/');
  auto const authority = rest.substr(0, path_start);
  if (authority.find('@') != std::string_view::npos)
    return "must not contain user information (user@host): put secrets in the data dir";
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    auto const close = authority.find(']');
    if (close == std::string_view::npos)
      return "missing ] after the IPv6 address in " + quoted(text);
    host = authority.substr(1, close - 1);
    if (!is_ipv6_literal(std::string(host)))
      return "not an IPv6 address: " + quoted(host);
    auto const after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return "unexpected " + quoted(after) + " after the IPv6 address";
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    auto const colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    auto const host_char = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
             c == '-' || c == '_';
    };
    if (host.empty())
      return "has no host: " + quoted(text);
    if (!std::all_of(host.begin(), host.end(), host_char))
      return "host may contain letters, digits, '.', '-' and '_', got " + quoted(host);
  }
  if (has_port) {
    std::uint16_t port = 0;
    if (auto error = parse_port(port_text, 1, port))
      return error;
  }
  std::string normalized(text);
  while (normalized.size() > 1 && normalized.back() == '/')
    normalized.pop_back();
  out = std::move(normalized);
  return std::nullopt;
}

/// Replaces the password of `scheme://user:password@host` and any `password=` query parameter
/// with REDACTED.
std::string redact_postgres_url(std::string_view url) {
  std::string out(url);
  auto const scheme_end = out.find("://");
  if (scheme_end != std::string::npos) {
    auto const authority_start = scheme_end + 3;
    auto const authority_end = out.find_first_of("/?", authority_start);
    auto const at = out.rfind('@', authority_end == std::string::npos ? out.size() : authority_end);
    if (at != std::string::npos && at > authority_start) {
      auto const colon = out.find(':', authority_start);
      if (colon != std::string::npos && colon < at)
        out.replace(colon + 1, at - colon - 1, "REDACTED");
    }
  }
  auto const query = out.find('?');
  if (query != std::string::npos) {
    std::size_t position = query + 1;
    while (position < out.size()) {
      auto const end = std::min(out.find('&', position), out.size());
      if (out.compare(position, 9, "password=") == 0) {
        out.replace(position + 9, end - position - 9, "REDACTED");
        position += 9 + 8 + 1;
      } else {
        position = end + 1;
      }
    }
  }
  return out;
}

// --- Per-option parsers ----------------------------------------------------------------------------

template <auto Member, std::uint64_t Max>
std::optional<std::string> apply_limit(std::string_view value, options& out) {
  using member_type = std::remove_reference_t<decltype(out.*Member)>;
  std::uint64_t parsed = 0;
  if (auto error = parse_bounded(value, 1, Max, parsed))
    return error;
  out.*Member = static_cast<member_type>(parsed);
  return std::nullopt;
}

/// As `apply_limit`, with 0 allowed: it switches the feature off.
template <auto Member, std::uint64_t Max>
std::optional<std::string> apply_limit_or_off(std::string_view value, options& out) {
  using member_type = std::remove_reference_t<decltype(out.*Member)>;
  std::uint64_t parsed = 0;
  if (auto error = parse_bounded(value, 0, Max, parsed))
    return error;
  out.*Member = static_cast<member_type>(parsed);
  return std::nullopt;
}

template <auto Member>
std::vector<std::string> render_number(const options& opts) {
  return {std::to_string(opts.*Member)};
}

template <std::uint32_t options::*Member, std::uint32_t Max>
std::optional<std::string> apply_thread_count(std::string_view value, options& out) {
  if (value == "auto") {
    out.*Member = 0;
    return std::nullopt;
  }
  std::uint64_t parsed = 0;
  if (!parse_decimal(value, parsed) || parsed < 1 || parsed > Max)
    return "must be between 1 and " + std::to_string(Max) + " or auto (one per core), got " +
           std::string(value.empty() ? std::string_view("nothing") : value);
  out.*Member = static_cast<std::uint32_t>(parsed);
  return std::nullopt;
}

template <std::uint32_t options::*Member>
std::vector<std::string> render_thread_count(const options& opts) {
  auto const value = opts.*Member;
  return {value == 0 ? std::string("auto") : std::to_string(value)};
}

std::optional<std::string> apply_config_file(std::string_view value, options& out) {
  if (value.empty())
    return "needs a path";
  out.config_file = std::string(value);
  return std::nullopt;
}

template <host_port options::*Member>
std::optional<std::string> apply_address(std::string_view value, options& out) {
  return parse_host_port(value, out.*Member);
}

template <host_port options::*Member>
std::vector<std::string> render_address(const options& opts) {
  return {to_string(opts.*Member)};
}

std::optional<std::string> apply_data_dir(std::string_view value, options& out) {
  if (value.empty())
    return "must not be empty";
  if (has_control(value))
    return "must not contain control characters";
  out.data_dir = std::string(value);
  return std::nullopt;
}

std::optional<std::string> apply_kill_register(std::string_view value, options& out) {
  if (value.empty()) { // the default, DIR/kills.db
    out.kill_register.clear();
    return std::nullopt;
  }
  if (has_control(value))
    return "must not contain control characters";
  if (value.back() == '/')
    return "must name a file, not a directory";
  out.kill_register = std::string(value);
  return std::nullopt;
}

std::optional<std::string> apply_journal(std::string_view value, options& out) {
  if (value == "sqlite")
    out.journal = journal_backend::sqlite;
  else if (value == "postgres")
    out.journal = journal_backend::postgres;
  else
    return "must be sqlite or postgres, got " + quoted(value);
  return std::nullopt;
}

std::optional<std::string> apply_postgres_url(std::string_view value, options& out) {
  // Empty clears a URL set by the config file, for a run that overrides journal=sqlite.
  if (!value.empty()) {
    if (!value.starts_with("postgres://") && !value.starts_with("postgresql://"))
      return "must be a libpq URI starting with postgres:// or postgresql://";
    if (has_control_or_space(value))
      return "must not contain spaces or control characters (percent-encode them)";
  }
  out.postgres_url = std::string(value);
  return std::nullopt;
}

std::optional<std::string> apply_io_backend(std::string_view value, options& out) {
  if (value == "auto")
    out.io = io_backend::automatic;
  else if (value == "io_uring")
    out.io = io_backend::io_uring;
  else if (value == "epoll")
    out.io = io_backend::epoll;
  else
    return "must be auto, io_uring or epoll, got " + quoted(value);
  return std::nullopt;
}

std::optional<std::string> apply_provider(std::string_view value, options& out) {
  auto const equals = value.find('=');
  if (equals == std::string_view::npos)
    return "expected SLUG=URL, got " + quoted(value);
  auto const slug = value.substr(0, equals);
  if (!is_valid_provider_slug(slug))
    return "slug must be 1 to 32 of a-z, 0-9 and '-', not starting with '-', got " + quoted(slug);
  for (auto const& existing : out.providers)
    if (existing.slug == slug)
      return "provider " + quoted(slug) + " is given twice";
  provider_option provider{std::string(slug), {}};
  if (auto error = parse_base_url(value.substr(equals + 1), provider.url))
    return "URL of " + quoted(slug) + " " + *error;
  out.providers.push_back(std::move(provider));
  return std::nullopt;
}

std::optional<std::string> apply_webhook_url(std::string_view value, options& out) {
  if (value.empty()) {
    out.webhook_url.clear();
    return std::nullopt;
  }
  // Whether plain http:// goes to a loopback host is checked by stewardd with the sender's own
  // rule (actors/webhook_sender.hpp), which names the remedy.
  return parse_base_url(value, out.webhook_url);
}

std::optional<std::string> apply_public_url(std::string_view value, options& out) {
  if (value.empty()) {
    out.public_url.clear();
    return std::nullopt;
  }
  return parse_base_url(value, out.public_url);
}

template <bool options::*Member>
std::optional<std::string> apply_bool(std::string_view value, options& out) {
  return parse_bool(value, out.*Member);
}

template <bool options::*Member>
std::vector<std::string> render_bool(const options& opts) {
  return {opts.*Member ? "true" : "false"};
}

template <std::string options::*Member>
std::vector<std::string> render_string(const options& opts) {
  return {opts.*Member};
}

std::vector<std::string> render_journal(const options& opts) {
  return {opts.journal == journal_backend::postgres ? "postgres" : "sqlite"};
}

std::vector<std::string> render_postgres_url(const options& opts) {
  return {redact_postgres_url(opts.postgres_url)};
}

std::vector<std::string> render_io_backend(const options& opts) {
  switch (opts.io) {
    case io_backend::io_uring:
      return {"io_uring"};
    case io_backend::epoll:
      return {"epoll"};
    case io_backend::automatic:
      break;
  }
  return {"auto"};
}

std::vector<std::string> render_providers(const options& opts) {
  std::vector<std::string> values;
  values.reserve(opts.providers.size());
  for (auto const& provider : opts.providers)
    values.push_back(provider.slug + "=" + provider.url);
  return values;
}

// The table every parser, `usage()` and `describe()` read, so that an option cannot be parseable
// but undocumented. Order is the order of `usage()`; ranges come from core/limits.hpp.
constexpr std::array option_specs{
  option_spec{.name = "config-file",
              .metavar = "PATH",
              .help = "Read options from PATH first; flags given too override it. Flag only.",
              .flag_only = true,
              .apply = apply_config_file,
              .default_note = "none"},
  option_spec{.name = "listen",
              .metavar = "HOST:PORT",
              .help = "Public API address: an IPv4 address, [IPv6] or localhost; port 0 picks a "
                      "free port and stewardd prints the bound one.",
              .apply = apply_address<&options::listen>,
              .render = render_address<&options::listen>},
  option_spec{.name = "admin-listen",
              .metavar = "HOST:PORT",
              .help = "Admin API, /metrics, /healthz and /readyz; same syntax as listen.",
              .apply = apply_address<&options::admin_listen>,
              .render = render_address<&options::admin_listen>},
  option_spec{.name = "data-dir",
              .metavar = "DIR",
              .help = "Embedded journal, keys and secrets.",
              .apply = apply_data_dir,
              .render = render_string<&options::data_dir>},
  option_spec{.name = "kill-register",
              .metavar = "FILE",
              .help = "The kill register's SQLite file (kills at every scope, committed before "
                      "their answer). On a disk of its own, a kill's fsync does not wait behind "
                      "the journal's writes.",
              .apply = apply_kill_register,
              .render = render_string<&options::kill_register>,
              .default_note = "DIR/kills.db"},
  option_spec{.name = "journal",
              .metavar = "sqlite|postgres",
              .help = "Storage backend.",
              .apply = apply_journal,
              .render = render_journal},
  option_spec{.name = "postgres-url",
              .metavar = "URL",
              .help = "libpq URI (postgres://...) of the shared store; required with "
                      "journal=postgres and refused otherwise.",
              .apply = apply_postgres_url,
              .render = render_postgres_url,
              .default_note = "none"},
  option_spec{.name = "io-threads",
              .metavar = "N|auto",
              .help = "Threads serving HTTP connections; auto is one per core.",
              .range_max = limits::io_threads_max,
              .apply = apply_thread_count<&options::io_threads, limits::io_threads_max>,
              .render = render_thread_count<&options::io_threads>},
  option_spec{.name = "workers",
              .metavar = "N|auto",
              .help = "CAF scheduler threads running the actors; auto is one per core.",
              .range_max = limits::workers_max,
              .apply = apply_thread_count<&options::workers, limits::workers_max>,
              .render = render_thread_count<&options::workers>},
  option_spec{.name = "io-backend",
              .metavar = "auto|io_uring|epoll",
              .help = "Server transport; auto uses io_uring when the kernel allows it, else epoll.",
              .apply = apply_io_backend,
              .render = render_io_backend},
  option_spec{.name = "provider",
              .metavar = "SLUG=URL",
              .help = "A provider; repeat for more. Its HMAC secret is DATA_DIR/providers/"
                      "SLUG.secret. SLUG is [a-z0-9][a-z0-9-]{0,31}; URL is "
                      "http(s)://host[:port][/path].",
              .repeatable = true,
              .apply = apply_provider,
              .render = render_providers,
              .default_note = "none"},
  option_spec{.name = "public-url",
              .metavar = "URL",
              .help = "Issuer in attestations and base of OAuth redirects.",
              .apply = apply_public_url,
              .render = render_string<&options::public_url>,
              .default_note = "http:// + the bound public address"},
  option_spec{.name = "webhook-url",
              .metavar = "URL",
              .help = "Where webhooks to the platform are POSTed, signed with the platform key; "
                      "https://host[:port][/path], or http:// to a loopback host. Empty: they "
                      "wait in the journal.",
              .apply = apply_webhook_url,
              .render = render_string<&options::webhook_url>,
              .default_note = "none"},
  option_spec{.name = "demo",
              .help = "Create every missing secret under the data dir (mode 0600) and print "
                      "where it is.",
              .kind = value_kind::boolean,
              .apply = apply_bool<&options::demo>,
              .render = render_bool<&options::demo>},
  option_spec{.name = "connections-max",
              .metavar = "N",
              .help = "Open client connections per listener; past it a new connection gets 503.",
              .range_max = limits::connections_max,
              .apply = apply_limit<&options::connections_max, limits::connections_max>,
              .render = render_number<&options::connections_max>},
  option_spec{.name = "pipeline-depth-max",
              .metavar = "N",
              .help = "Requests of one connection in flight at once (pipelining).",
              .range_max = limits::pipeline_depth_max,
              .apply = apply_limit<&options::pipeline_depth_max, limits::pipeline_depth_max>,
              .render = render_number<&options::pipeline_depth_max>},
  option_spec{.name = "header-bytes-max",
              .metavar = "N",
              .help = "Bytes of a request's header section; past it 431.",
              .range_max = limits::header_bytes_max,
              .apply = apply_limit<&options::header_bytes_max, limits::header_bytes_max>,
              .render = render_number<&options::header_bytes_max>},
  option_spec{.name = "body-bytes-max",
              .metavar = "N",
              .help = "Bytes of a request body; past it 413.",
              .range_max = limits::body_bytes_max,
              .apply = apply_limit<&options::body_bytes_max, limits::body_bytes_max>,
              .render = render_number<&options::body_bytes_max>},
  option_spec{.name = "header-read-timeout-ms",
              .metavar = "N",
              .help = "Milliseconds from a request's first byte to the end of its headers.",
              .range_max = limits::header_read_timeout_ms_max,
              .apply = apply_limit<&options::header_read_timeout_ms,
                                   limits::header_read_timeout_ms_max>,
              .render = render_number<&options::header_read_timeout_ms>},
  option_spec{.name = "body-read-timeout-ms",
              .metavar = "N",
              .help = "Milliseconds from the end of the headers to the end of the body.",
              .range_max = limits::body_read_timeout_ms_max,
              .apply = apply_limit<&options::body_read_timeout_ms,
                                   limits::body_read_timeout_ms_max>,
              .render = render_number<&options::body_read_timeout_ms>},
  option_spec{.name = "idle-timeout-ms",
              .metavar = "N",
              .help = "Milliseconds a keep-alive connection may sit with nothing in progress.",
              .range_max = limits::idle_timeout_ms_max,
              .apply = apply_limit<&options::idle_timeout_ms, limits::idle_timeout_ms_max>,
              .render = render_number<&options::idle_timeout_ms>},
  option_spec{.name = "actor-timeout-ms",
              .metavar = "N",
              .help = "Milliseconds for an actor to answer a request, else 503 overloaded.",
              .range_max = limits::actor_timeout_ms_max,
              .apply = apply_limit<&options::actor_timeout_ms, limits::actor_timeout_ms_max>,
              .render = render_number<&options::actor_timeout_ms>},
  option_spec{.name = "drain-timeout-ms",
              .metavar = "N",
              .help = "Milliseconds of graceful drain after SIGTERM/SIGINT, then connections "
                      "are cut.",
              .range_max = limits::drain_timeout_ms_max,
              .apply = apply_limit<&options::drain_timeout_ms, limits::drain_timeout_ms_max>,
              .render = render_number<&options::drain_timeout_ms>},
  option_spec{.name = "user-idle-timeout-ms",
              .metavar = "N",
              .help = "Milliseconds a user actor may sit idle before it is passivated: kept "
                      "as its compact image (see --user-hibernated-max), or reloaded from the "
                      "journal on its next request; 0: never. Range: 0..86400000.",
              .apply = apply_limit_or_off<&options::user_idle_timeout_ms,
                                          limits::user_idle_timeout_ms_max>,
              .render = render_number<&options::user_idle_timeout_ms>},
  option_spec{.name = "user-hibernated-max",
              .metavar = "N",
              .help = "Passivated users kept in memory as their compact image (a few hundred "
                      "bytes each), so that their next request needs no journal read; past it the "
                      "least recently used one is dropped. 0: none kept. Range: 0..100000000.",
              .apply = apply_limit_or_off<&options::user_hibernated_max,
                                          limits::user_hibernated_max_max>,
              .render = render_number<&options::user_hibernated_max>},
  option_spec{.name = "idempotency-filter-mib",
              .metavar = "N",
              .help = "MiB of the filter that tells which idempotency keys the journal certainly "
                      "does not hold, so that a request with a fresh key needs no journal read "
                      "(16 MiB: about 8 million keys). 0: none. Range: 0..4096.",
              .apply = apply_limit_or_off<&options::idempotency_filter_mib,
                                          limits::idempotency_filter_mib_max>,
              .render = render_number<&options::idempotency_filter_mib>},
  option_spec{.name = "wal-restart-mib",
              .metavar = "N",
              .help = "MiB of write-ahead log after which the journal starts it over between two "
                      "commits. Each restart holds the commits for tens of milliseconds: a larger "
                      "bound means fewer such stalls (a lower 99th percentile), each longer, and "
                      "more disk. Range: 1..16384.",
              .apply = apply_limit<&options::wal_restart_mib, limits::wal_restart_mib_max>,
              .render = render_number<&options::wal_restart_mib>},
  option_spec{.name = "session-charges-per-minute",
              .metavar = "N",
              .help = "Charges one agent session may have approved in any 60 seconds; the next "
                      "is 429 rate_limited with Retry-After. Range: 1..600.",
              .range_max = limits::charges_per_minute_max,
              .apply = apply_limit<&options::session_charges_per_minute,
                                   limits::charges_per_minute_max>,
              .render = render_number<&options::session_charges_per_minute>},
  option_spec{.name = "bulk-nice",
              .metavar = "N",
              .help = "Nice value of the threads that carry the charges (public io threads, actor "
                      "workers, journal, loaders), so that under full load a kill's threads (the "
                      "admin listener, the kill register) get a core first. 0: all threads equal. "
                      "Range: 0..19.",
              .apply = apply_limit_or_off<&options::bulk_nice, bulk_nice_max>,
              .render = render_number<&options::bulk_nice>},
  option_spec{.name = "provider-purchases-max",
              .metavar = "N",
              .help = "Purchases in flight at one provider, all users together; past it a new "
                      "purchase is answered 503 provider_unavailable and nothing is bought.",
              .range_max = limits::provider_purchases_in_flight_max,
              .apply = apply_limit<&options::provider_purchases_max,
                                   limits::provider_purchases_in_flight_max>,
              .render = render_number<&options::provider_purchases_max>},
  option_spec{.name = "help",
              .help = "Print this text and exit. Flag only.",
              .kind = value_kind::boolean,
              .flag_only = true,
              .apply = apply_bool<&options::help>},
  option_spec{.name = "version",
              .help = "Print the version and exit. Flag only.",
              .kind = value_kind::boolean,
              .flag_only = true,
              .apply = apply_bool<&options::version>},
};

const option_spec* find_spec(std::string_view name) {
  for (auto const& spec : option_specs)
    if (spec.name == name)
      return &spec;
  return nullptr;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      auto const above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

/// "unknown option", with the closest known name when one is close enough to be a typo.
std::string unknown_option_message(std::string_view name, std::string_view prefix,
                                   bool command_line) {
  const option_spec* best = nullptr;
  std::size_t best_distance = SIZE_MAX;
  for (auto const& spec : option_specs) {
    if (!command_line && spec.flag_only)
      continue;
    auto const distance = edit_distance(name, spec.name);
    if (distance < best_distance) {
      best_distance = distance;
      best = &spec;
    }
  }
  std::string message = "unknown option";
  if (best != nullptr && best_distance <= std::max<std::size_t>(2, best->name.size() / 4)) {
    message += "; did you mean ";
    message += prefix;
    message += best->name;
    message += '?';
  }
  return message;
}

std::string file_label(std::string_view name, std::string_view source_name, std::size_t line) {
  std::string label(name);
  label += " (";
  label += source_name;
  label += " line ";
  label += std::to_string(line);
  label += ')';
  return label;
}

/// Width and indent of `usage()`'s descriptions: fits an 80-column terminal.
constexpr std::size_t usage_width = 80;
constexpr std::size_t usage_indent = 6;

/// Appends `text` word-wrapped to `width` columns, each line indented by `indent` spaces.
void wrap_into(std::string& out, std::string_view text, std::size_t indent, std::size_t width) {
  std::size_t column = 0;
  while (!text.empty()) {
    auto const space = text.find(' ');
    auto const word = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
    if (word.empty())
      continue;
    if (column != 0 && column + 1 + word.size() > width) {
      out += '\n';
      column = 0;
    }
    if (column == 0) {
      out.append(indent, ' ');
      column = indent;
    } else {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
  }
  out += '\n';
}

} // namespace

std::string to_string(const host_port& address) {
  if (address.host.find(':') != std::string::npos)
    return "[" + address.host + "]:" + std::to_string(address.port);
  return address.host + ":" + std::to_string(address.port);
}

std::string to_string(const option_error& error) {
  return error.option + ": " + error.message;
}

std::optional<option_error> apply_config_text(std::string_view text, std::string_view source_name,
                                              options& out) {
  // Line of each name's first occurrence, to refuse a repeated setting: in a file that is a
  // forgotten edit, and silently letting the last one win would hide it.
  std::map<std::string_view, std::size_t, std::less<>> seen;
  bool providers_cleared = false;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    auto const end = text.find('\n');
    auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);

    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
        line = line.substr(0, i);
        break;
      }
    }
    line = trim(line);
    if (line.empty())
      continue;

    auto const equals = line.find('=');
    if (equals == std::string_view::npos) {
      return option_error{std::string(source_name) + " line " + std::to_string(line_number),
                          "expected \"name = value\", got " + quoted(line)};
    }
    auto const name = trim(line.substr(0, equals));
    auto const value = trim(line.substr(equals + 1));
    auto label = file_label(name, source_name, line_number);
    if (name.starts_with("--")) {
      return option_error{std::move(label),
                          "write option names without the leading -- in a config file"};
    }
    auto const* spec = find_spec(name);
    if (spec == nullptr)
      return option_error{std::move(label), unknown_option_message(name, "", false)};
    if (spec->flag_only)
      return option_error{std::move(label), "only accepted on the command line"};
    if (!spec->repeatable) {
      auto const [it, inserted] = seen.emplace(spec->name, line_number);
      if (!inserted) {
        return option_error{std::move(label),
                            "already set on line " + std::to_string(it->second)};
      }
    } else if (!providers_cleared) {
      out.providers.clear();
      providers_cleared = true;
    }
    if (auto message = spec->apply(value, out))
      return option_error{std::move(label), std::move(*message)};
  }
  return std::nullopt;
}

std::optional<option_error> apply_arguments(std::span<const std::string_view> args, options& out) {
  bool providers_cleared = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto const argument = args[i];
    if (argument == "-h") {
      out.help = true;
      continue;
    }
    if (!argument.starts_with("--") || argument.size() == 2) {
      return option_error{std::string(argument),
                          "unexpected argument; options look like --name=value (see --help)"};
    }
    auto const equals = argument.find('=');
    auto const name = argument.substr(2, equals == std::string_view::npos ? argument.npos
                                                                          : equals - 2);
    std::string label = "--" + std::string(name);
    auto const* spec = find_spec(name);
    if (spec == nullptr)
      return option_error{std::move(label), unknown_option_message(name, "--", true)};

    std::string_view value;
    if (equals != std::string_view::npos) {
      value = argument.substr(equals + 1);
    } else if (spec->kind == value_kind::boolean) {
      value = "true";
    } else if (i + 1 < args.size() && !args[i + 1].starts_with("--")) {
      value = args[++i];
    } else {
      return option_error{std::move(label),
                          "needs a value, as in --" + std::string(spec->name) + "=" +
                            std::string(spec->metavar)};
    }
    if (spec->repeatable && !providers_cleared) {
      out.providers.clear();
      providers_cleared = true;
    }
    if (auto message = spec->apply(value, out))
      return option_error{std::move(label), std::move(*message)};
  }
  return std::nullopt;
}

std::optional<std::string> config_file_argument(std::span<const std::string_view> args) {
  options scratch;
  if (apply_arguments(args, scratch) || scratch.config_file.empty())
    return std::nullopt;
  return scratch.config_file;
}

std::optional<option_error> validate(const options& opts) {
  if (opts.journal == journal_backend::postgres && opts.postgres_url.empty())
    return option_error{"postgres-url", "required when journal is postgres"};
  if (opts.journal != journal_backend::postgres && !opts.postgres_url.empty()) {
    // Refused rather than ignored: a URL without journal=postgres almost always means the
    // operator believes the shared store is in use while every event goes to a local file.
    return option_error{"postgres-url",
                        "is set but journal is sqlite; set journal=postgres, or clear it with "
                        "--postgres-url="};
  }
  if (opts.listen.port != 0 && opts.listen == opts.admin_listen)
    return option_error{"admin-listen", "must differ from listen (" + to_string(opts.listen) + ")"};
  return std::nullopt;
}

std::uint32_t resolve_io_threads(const options& opts, std::uint32_t core_count) {
  if (opts.io_threads != 0)
    return opts.io_threads;
  return std::clamp<std::uint32_t>(core_count, 1, limits::io_threads_max);
}

std::uint32_t resolve_workers(const options& opts, std::uint32_t core_count) {
  if (opts.workers != 0)
    return opts.workers;
  return std::clamp<std::uint32_t>(core_count, 1, limits::workers_max);
}

std::string usage() {
  std::string out =
    "Usage: stewardd [OPTION]...\n"
    "\n"
    "Every option that is not flag-only can also be set in a config file as\n"
    "`name = value` (the name without --); flags override the file. Limits may be\n"
    "lowered, never raised.\n"
    "\n";
  const options defaults;
  for (auto const& spec : option_specs) {
    out += "  --";
    out += spec.name;
    if (!spec.metavar.empty()) {
      out += '=';
      out += spec.metavar;
    }
    out += '\n';
    std::string text(spec.help);
    if (spec.range_max != 0) {
      text += " Range: 1..";
      text += std::to_string(spec.range_max);
      if (spec.metavar.ends_with("|auto"))
        text += " or auto";
      text += '.';
    }
    if (spec.render != nullptr) {
      text += " Default: ";
      auto const values = spec.render(defaults);
      if (values.empty() || (values.size() == 1 && values.front().empty()))
        text += spec.default_note;
      else
        text += values.front();
      text += '.';
    }
    wrap_into(out, text, usage_indent, usage_width);
  }
  return out;
}

std::string describe(const options& opts) {
  std::string out;
  for (auto const& spec : option_specs) {
    if (spec.render == nullptr)
      continue;
    auto const values = spec.render(opts);
    if (values.empty()) {
      out += "# ";
      out += spec.name;
      out += ": ";
      out += spec.default_note;
      out += '\n';
    }
    for (auto const& value : values) {
      out += spec.name;
      out += " =";
      if (!value.empty()) {
        out += ' ';
        out += value;
      }
      out += '\n';
    }
  }
  return out;
}

std::vector<std::string_view> config_option_names() {
  std::vector<std::string_view> names;
  for (auto const& spec : option_specs)
    if (!spec.flag_only)
      names.push_back(spec.name);
  return names;
}

} // namespace steward::core
