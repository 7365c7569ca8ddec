#include "tools/refprovider/options.hpp"

#include "core/ids.hpp"
#include "net/http_client.hpp"
#include "tools/refprovider/limits.hpp"
#include "tools/refprovider/oauth.hpp"

#include <arpa/inet.h>

#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

namespace steward::refprovider {

namespace {

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::optional<std::string> parse_listen(std::string_view text, options& out) {
  auto const colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return "expected HOST:PORT, got " + quoted(text);
  std::string host(text.substr(0, colon));
  if (host == "localhost")
    host = "127.0.0.1";
  in_addr addr{};
  if (inet_pton(AF_INET, host.c_str(), &addr) != 1)
    return "host must be an IPv4 address or localhost, got " + quoted(host);
  auto const port_text = text.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5)
    return "port must be a number from 0 to 65535, got " + quoted(port_text);
  std::uint32_t port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9')
      return "port must be a number from 0 to 65535, got " + quoted(port_text);
    port = port * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (port > 65535)
    return "port must be a number from 0 to 65535, got " + quoted(port_text);
  out.host = std::move(host);
  out.port = static_cast<std::uint16_t>(port);
  return std::nullopt;
}

std::optional<std::string> parse_steward_url(std::string_view text, options& out) {
  if (text.size() > limits::url_bytes_max)
    return "longer than " + std::to_string(limits::url_bytes_max) + " bytes";
  while (!text.empty() && text.back() == '/')
    text.remove_suffix(1);
  auto parsed = net::parse_client_url(text);
  if (auto* error = std::get_if<net::client_error>(&parsed)) {
    if (*error == net::client_error::insecure_url)
      return "http:// is only allowed to a loopback host; use https://, got " + quoted(text);
    return "expected an absolute http(s) URL, got " + quoted(text);
  }
  auto const& url = std::get<net::client_url>(parsed);
  if (url.target.find('?') != std::string::npos)
    return "must not have a query string, got " + quoted(text);
  out.steward_url = std::string(text);
  return std::nullopt;
}

std::optional<std::string> parse_existing_accounts(std::string_view text, options& out) {
  std::vector<std::string> emails;
  std::set<std::string> seen;
  while (true) {
    auto const comma = text.find(',');
    auto const item = text.substr(0, comma);
    if (!is_plausible_email(item))
      return "not an email address: " + quoted(item);
    auto email = lowercase(item);
    if (!seen.insert(email).second)
      return "lists " + quoted(email) + " twice";
    if (emails.size() == limits::existing_accounts_max)
      return "more than " + std::to_string(limits::existing_accounts_max) + " emails";
    emails.push_back(std::move(email));
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  out.existing_accounts = std::move(emails);
  return std::nullopt;
}

/// A decimal number from `min` to `max`.
std::optional<std::int64_t> parse_number(std::string_view text, std::int64_t min,
                                         std::int64_t max) {
  if (text.empty() || text.size() > 12)
    return std::nullopt;
  std::int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value < min || value > max)
    return std::nullopt;
  return value;
}

std::optional<std::string> parse_terms_version(std::string_view text, options& out) {
  if (text.empty() || text.size() > limits::terms_version_bytes_max)
    return "must be 1 to " + std::to_string(limits::terms_version_bytes_max) + " characters";
  for (char c : text)
    if (c <= ' ' || c > '~')
      return "must be printable ASCII without spaces, got " + quoted(text);
  out.terms_version = std::string(text);
  return std::nullopt;
}

} // namespace

std::string to_string(const option_error& error) {
  return error.option + ": " + error.message;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_plausible_email(std::string_view text) noexcept {
  if (text.empty() || text.size() > limits::email_bytes_max)
    return false;
  for (char c : text)
    if (c <= ' ' || c > '~' || c == ',')
      return false;
  auto const at = text.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == text.size())
    return false;
  return text.find('@', at + 1) == std::string_view::npos;
}

std::optional<option_error> parse_options(std::span<const std::string_view> args, options& out) {
  options result;
  std::set<std::string> given;
  for (auto arg : args) {
    auto const equals = arg.find('=');
    std::string name(arg.substr(0, equals));
    if (name.rfind("--", 0) != 0)
      return option_error{name, "not an option (options look like --name=value)"};
    if (name == "--oauth-auto-consent" || name == "--faults-from-header") {
      // A switch: it takes no value.
      if (equals != std::string_view::npos)
        return option_error{name, "takes no value"};
      if (!given.insert(name).second)
        return option_error{name, "given twice"};
      (name == "--oauth-auto-consent" ? result.oauth_auto_consent : result.faults_from_header) =
        true;
      continue;
    }
    if (equals == std::string_view::npos)
      return option_error{name, "needs a value (--name=value)"};
    auto const value = arg.substr(equals + 1);
    if (name == "--fault") {
      // The one repeatable option: each occurrence adds a fault.
      if (result.faults.size() == limits::faults_max)
        return option_error{name, "more than " + std::to_string(limits::faults_max) + " faults"};
      fault parsed;
      if (auto problem = parse_fault(value, true, parsed))
        return option_error{name, *problem + ", got " + quoted(value)};
      result.faults.push_back(parsed);
      continue;
    }
    if (!given.insert(name).second)
      return option_error{name, "given twice"};
    std::optional<std::string> problem;
    if (name == "--listen")
      problem = parse_listen(value, result);
    else if (name == "--steward-url")
      problem = parse_steward_url(value, result);
    else if (name == "--secret-file") {
      if (value.empty())
        problem = "needs a path";
      result.secret_file = std::string(value);
    } else if (name == "--slug") {
      if (!core::is_valid_provider_slug(value))
        problem = "must match [a-z0-9][a-z0-9-]{0,31}, got " + quoted(value);
      result.slug = std::string(value);
    } else if (name == "--existing-accounts")
      problem = parse_existing_accounts(value, result);
    else if (name == "--terms-version")
      problem = parse_terms_version(value, result);
    else if (name == "--oauth-client-id") {
      if (!is_client_id(value))
        problem = "must be 1 to 64 characters of A-Z a-z 0-9 - . _ ~, got " + quoted(value);
      result.oauth_client_id = std::string(value);
    } else if (name == "--oauth-redirect-uri") {
      problem = redirect_uri_problem(value);
      result.oauth_redirect_uri = std::string(value);
    }
    else if (name == "--meter-interval-ms") {
      auto number = parse_number(value, 0, limits::meter_interval_ms_max);
      if (!number)
        problem = "must be milliseconds from 0 (off) to " +
                  std::to_string(limits::meter_interval_ms_max) + ", got " + quoted(value);
      else
        result.meter_interval_ms = static_cast<std::uint32_t>(*number);
    } else if (name == "--meter-units") {
      auto number = parse_number(value, 1, limits::meter_units_max);
      if (!number)
        problem = "must be a number from 1 to " + std::to_string(limits::meter_units_max) +
                  ", got " + quoted(value);
      else
        result.meter_units = *number;
    }
    else
      return option_error{name, "unknown option"};
    if (problem)
      return option_error{name, *problem};
  }
  for (std::string_view required : {"--listen", "--steward-url", "--secret-file"})
    if (!given.count(std::string(required)))
      return option_error{std::string(required), "is required"};
  if (result.oauth_redirect_uri.empty())
    result.oauth_redirect_uri = result.steward_url + "/oauth/callback";
  out = std::move(result);
  return std::nullopt;
}

std::optional<option_error> load_secret(const std::string& path, std::string& out) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return option_error{"--secret-file", "cannot read " + quoted(path)};
  std::string text;
  text.resize(limits::secret_bytes_max + 2);
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(file.gcount()));
  if (!text.empty() && text.back() == '\n')
    text.pop_back();
  if (text.empty())
    return option_error{"--secret-file", quoted(path) + " is empty"};
  if (text.size() > limits::secret_bytes_max)
    return option_error{"--secret-file", quoted(path) + " is longer than " +
                                           std::to_string(limits::secret_bytes_max) + " bytes"};
  for (char c : text)
    if (static_cast<unsigned char>(c) < ' ' || c == 0x7f)
      return option_error{"--secret-file", quoted(path) + " holds control characters"};
  out = std::move(text);
  return std::nullopt;
}

} // namespace steward::refprovider
