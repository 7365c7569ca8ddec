#include "tools/refprovider/oauth.hpp"

#include "core/jws.hpp"
#include "core/query_string.hpp"
#include "core/secret_token.hpp"
#include "core/sha256.hpp"
#include "net/http_client.hpp"
#include "tools/refprovider/limits.hpp"
#include "tools/refprovider/options.hpp"
#include "tools/refprovider/query_string.hpp"
#include "tools/refprovider/random_text.hpp"

#include <span>

namespace steward::refprovider {

namespace {

bool is_unreserved(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool is_base64url(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

constexpr std::size_t verifier_chars_min = 43;
constexpr std::size_t verifier_chars_max = 128;
/// Unpadded base64url of a 32-byte digest.
constexpr std::size_t s256_challenge_chars = 43;
constexpr std::size_t client_id_chars_max = 64;

} // namespace

bool is_code_verifier(std::string_view verifier) noexcept {
  if (verifier.size() < verifier_chars_min || verifier.size() > verifier_chars_max)
    return false;
  for (char c : verifier)
    if (!is_unreserved(c))
      return false;
  return true;
}

bool is_s256_challenge(std::string_view challenge) noexcept {
  if (challenge.size() != s256_challenge_chars)
    return false;
  for (char c : challenge)
    if (!is_base64url(c))
      return false;
  return true;
}

std::string s256_challenge(std::string_view verifier) {
  auto const digest = core::sha256(verifier);
  return core::base64url_encode(std::span<const std::uint8_t>(digest));
}

bool pkce_matches(std::string_view verifier, std::string_view challenge) {
  if (!is_code_verifier(verifier) || !is_s256_challenge(challenge))
    return false;
  return core::secrets_equal(s256_challenge(verifier), challenge);
}

std::optional<std::string> redirect_uri_problem(std::string_view uri) {
  if (uri.empty())
    return "redirect_uri is required";
  if (uri.size() > limits::url_bytes_max)
    return "redirect_uri is longer than " + std::to_string(limits::url_bytes_max) + " bytes";
  if (uri.find('#') != std::string_view::npos)
    return "redirect_uri must not have a fragment";
  for (char c : uri)
    if (c <= ' ' || c > '~')
      return "redirect_uri must be printable ASCII without spaces";
  auto parsed = net::parse_client_url(uri);
  if (auto* error = std::get_if<net::client_error>(&parsed)) {
    if (*error == net::client_error::insecure_url)
      return "redirect_uri may use http:// only to a loopback host";
    return "redirect_uri must be an absolute http(s) URL";
  }
  return std::nullopt;
}

std::string with_query(std::string_view redirect_uri, std::string_view query) {
  std::string out(redirect_uri);
  auto const mark = out.find('?');
  if (mark == std::string::npos)
    out += '?';
  else if (mark + 1 != out.size() && out.back() != '&')
    out += '&';
  out += query;
  return out;
}

bool is_client_id(std::string_view client_id) noexcept {
  if (client_id.empty() || client_id.size() > client_id_chars_max)
    return false;
  for (char c : client_id)
    if (!is_unreserved(c))
      return false;
  return true;
}

oauth_parameter read_parameter(std::string_view params, std::string_view name) {
  oauth_parameter out;
  while (auto pair = core::next_query_pair(params)) {
    if (pair->name != name)
      continue;
    if (out.what != oauth_parameter::state::absent)
      return {oauth_parameter::state::malformed, {}};
    auto value = percent_decode(pair->value);
    if (!value)
      return {oauth_parameter::state::malformed, {}};
    out = {oauth_parameter::state::present, std::move(*value)};
  }
  return out;
}

namespace {

/// `name` from `params`, required and non-empty; sets `problem` otherwise.
std::string required_parameter(std::string_view params, std::string_view name,
                               std::optional<oauth_error>& problem) {
  auto p = read_parameter(params, name);
  if (problem)
    return {};
  if (p.what == oauth_parameter::state::malformed)
    problem = oauth_error{"invalid_request", std::string(name) + " is malformed or repeated"};
  else if (p.what == oauth_parameter::state::absent || p.value.empty())
    problem = oauth_error{"invalid_request", std::string(name) + " is required"};
  return std::move(p.value);
}

} // namespace

std::optional<oauth_error> read_authorization_request(std::string_view params,
                                                      const oauth_client& client,
                                                      authorization_request& out) {
  std::optional<oauth_error> problem;
  auto response_type = required_parameter(params, "response_type", problem);
  auto client_id = required_parameter(params, "client_id", problem);
  auto redirect_uri = required_parameter(params, "redirect_uri", problem);
  auto state = required_parameter(params, "state", problem);
  auto method = required_parameter(params, "code_challenge_method", problem);
  auto challenge = required_parameter(params, "code_challenge", problem);
  auto hint = required_parameter(params, "login_hint", problem);
  if (problem)
    return problem;
  if (response_type != "code")
    return oauth_error{"unsupported_response_type", "response_type must be code"};
  if (client_id != client.client_id)
    return oauth_error{"unauthorized_client", "unknown client_id"};
  if (auto bad = redirect_uri_problem(redirect_uri))
    return oauth_error{"invalid_request", *bad};
  if (redirect_uri != client.redirect_uri)
    return oauth_error{"invalid_request", "redirect_uri is not registered for this client"};
  if (state.size() > limits::oauth_state_bytes_max)
    return oauth_error{"invalid_request", "state is longer than " +
                                            std::to_string(limits::oauth_state_bytes_max) +
                                            " characters"};
  for (char c : state)
    if (c < ' ' || c > '~')
      return oauth_error{"invalid_request", "state must be printable ASCII"};
  if (method != "S256")
    return oauth_error{"invalid_request", "code_challenge_method must be S256 (plain is refused)"};
  if (!is_s256_challenge(challenge))
    return oauth_error{"invalid_request", "code_challenge must be 43 characters of base64url"};
  if (!is_plausible_email(hint))
    return oauth_error{"invalid_request", "login_hint must be an email address"};
  out = {std::move(client_id), std::move(redirect_uri), std::move(state), std::move(challenge),
         lowercase(hint)};
  return std::nullopt;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    case '\'': out += "&#39;"; break;
    default: out += c;
    }
  }
  return out;
}

std::string consent_page(const authorization_request& request) {
  auto hidden = [](std::string_view name, std::string_view value) {
    return "<input type=\"hidden\" name=\"" + std::string(name) + "\" value=\"" +
           html_escape(value) + "\">\n";
  };
  std::string page =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Link your account</title></head>\n"
    "<body>\n<h1>Link your account</h1>\n<p><strong>" +
    html_escape(request.client_id) + "</strong> asks to use the account of <strong>" +
    html_escape(request.login_hint) +
    "</strong> at this provider: to create resources and charge them to the payments you "
    "approve there.</p>\n"
    "<form method=\"post\" action=\"/oauth/authorize\">\n";
  page += hidden("response_type", "code");
  page += hidden("client_id", request.client_id);
  page += hidden("redirect_uri", request.redirect_uri);
  page += hidden("state", request.state);
  page += hidden("code_challenge", request.code_challenge);
  page += hidden("code_challenge_method", "S256");
  page += hidden("login_hint", request.login_hint);
  page += "<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n"
          "<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n"
          "</form>\n</body></html>\n";
  return page;
}

bool is_form_content_type(std::string_view content_type) noexcept {
  constexpr std::string_view form = "application/x-www-form-urlencoded";
  if (content_type.size() < form.size())
    return false;
  for (std::size_t i = 0; i < form.size(); ++i) {
    char c = content_type[i];
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
    if (c != form[i])
      return false;
  }
  auto rest = content_type.substr(form.size());
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t'))
    rest.remove_prefix(1);
  return rest.empty() || rest.front() == ';';
}

authorization_codes::authorization_codes(std::size_t capacity, std::int64_t lifetime_s,
                                         core::random_source& random)
    : capacity_(capacity), lifetime_s_(lifetime_s), random_(random) {}

std::optional<std::string> authorization_codes::issue(code_grant grant, std::int64_t now) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (by_hash_.size() >= capacity_) {
    // Expired codes can never be redeemed: drop them before refusing. This sweep runs only when
    // full, so its cost is paid once per `capacity` issues at most.
    std::erase_if(by_hash_, [&](const auto& item) {
      return now - item.second.issued_at >= lifetime_s_;
    });
    if (by_hash_.size() >= capacity_)
      return std::nullopt;
  }
  auto code = random_text<authorization_code_random_bytes>(authorization_code_prefix, random_);
  if (!code)
    return std::nullopt;
  by_hash_.emplace(core::hash_token(*code), entry{std::move(grant), now});
  return code;
}

authorization_codes::redeemed authorization_codes::redeem(std::string_view code,
                                                          std::string_view client_id,
                                                          std::string_view redirect_uri,
                                                          std::string_view verifier,
                                                          std::int64_t now) {
  auto const hash = core::hash_token(code);
  entry found;
  {
    std::lock_guard<std::mutex> guard(mutex_);
    auto at = by_hash_.find(hash);
    if (at == by_hash_.end())
      return {redeem_error::unknown, {}};
    found = std::move(at->second);
    by_hash_.erase(at);
  }
  // A code from the future (the clock went back) is as suspicious as an old one.
  if (now - found.issued_at >= lifetime_s_ || now < found.issued_at)
    return {redeem_error::expired, {}};
  if (found.grant.client_id != client_id)
    return {redeem_error::client_mismatch, {}};
  if (found.grant.redirect_uri != redirect_uri)
    return {redeem_error::redirect_mismatch, {}};
  if (!pkce_matches(verifier, found.grant.challenge))
    return {redeem_error::verifier_mismatch, {}};
  return {redeem_error::none, std::move(found.grant.email)};
}

std::size_t authorization_codes::size() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return by_hash_.size();
}

std::string_view to_string(authorization_codes::redeem_error error) noexcept {
  using e = authorization_codes::redeem_error;
  switch (error) {
  case e::none: return "none";
  case e::unknown: return "unknown code";
  case e::expired: return "expired code";
  case e::client_mismatch: return "the code was issued to another client";
  case e::redirect_mismatch: return "the code was issued for another redirect_uri";
  case e::verifier_mismatch: return "code_verifier does not match the code_challenge";
  }
  return "unknown";
}

} // namespace steward::refprovider
