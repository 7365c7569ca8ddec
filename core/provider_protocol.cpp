#include "core/provider_protocol.hpp"

#include "core/api_messages.hpp"
#include "core/base64url.hpp"
#include "core/json_writer.hpp"
#include "core/limits.hpp"
#include "core/query_string.hpp"
#include "core/sha256.hpp"

#include <openssl/hmac.h>
#include <simdjson.h>

#include <array>

namespace steward::core {

namespace {

/// A provider's answer as a DOM object, or nullopt when it is not one JSON object.
struct answer_document {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
};

bool parse_answer(std::string_view body, answer_document& out) {
  if (body.size() > limits::provider_answer_bytes_max)
    return false;
  simdjson::dom::element root;
  if (out.parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS)
    return false;
  return root.get_object().get(out.object) == simdjson::SUCCESS;
}

/// A string member of 1 to `max` bytes of visible ASCII, or nullopt.
std::optional<std::string> visible_member(const simdjson::dom::object& object,
                                          std::string_view key, std::size_t max) {
  std::string_view value;
  if (object.at_key(key).get_string().get(value) != simdjson::SUCCESS || value.empty() ||
      value.size() > max)
    return std::nullopt;
  for (char c : value)
    if (c <= ' ' || c > '~')
      return std::nullopt;
  return std::string(value);
}

bool is_http_url(std::string_view url) {
  return url.starts_with("https://") || url.starts_with("http://");
}

} // namespace

std::optional<account_answer> read_account_answer(std::string_view body) {
  answer_document doc;
  if (!parse_answer(body, doc))
    return std::nullopt;
  std::string_view outcome;
  if (doc.object.at_key("outcome").get_string().get(outcome) != simdjson::SUCCESS)
    return std::nullopt;
  account_answer answer;
  if (outcome == "oauth_required") {
    answer.what = account_answer::kind::oauth_required;
    auto url = visible_member(doc.object, "authorize_url", limits::authorize_url_bytes_max);
    if (!url || !is_http_url(*url))
      return std::nullopt;
    answer.authorize_url = std::move(*url);
    if (doc.object.at_key("account_id").error() != simdjson::NO_SUCH_FIELD) {
      auto id = visible_member(doc.object, "account_id", limits::provider_object_id_bytes_max);
      if (!id)
        return std::nullopt;
      answer.account_id = std::move(*id);
    }
    return answer;
  }
  if (outcome != "created")
    return std::nullopt;
  auto id = visible_member(doc.object, "account_id", limits::provider_object_id_bytes_max);
  simdjson::dom::object credentials;
  if (!id || doc.object.at_key("credentials").get_object().get(credentials) != simdjson::SUCCESS)
    return std::nullopt;
  auto token = visible_member(credentials, "account_token", limits::provider_secret_bytes_max);
  if (!token)
    return std::nullopt;
  answer.account_id = std::move(*id);
  answer.account_token = std::move(*token);
  return answer;
}

std::optional<token_answer> read_token_answer(std::string_view body) {
  answer_document doc;
  if (!parse_answer(body, doc))
    return std::nullopt;
  auto token = visible_member(doc.object, "access_token", limits::provider_secret_bytes_max);
  auto id = visible_member(doc.object, "account_id", limits::provider_object_id_bytes_max);
  if (!token || !id)
    return std::nullopt;
  return token_answer{std::move(*token), std::move(*id)};
}

std::optional<resource_answer> read_resource_answer(std::string_view body) {
  answer_document doc;
  if (!parse_answer(body, doc))
    return std::nullopt;
  resource_answer answer;
  auto id = visible_member(doc.object, "id", limits::provider_object_id_bytes_max);
  auto status = visible_member(doc.object, "status", 16);
  if (!id || !status || (*status != "ready" && *status != "pending"))
    return std::nullopt;
  answer.id = std::move(*id);
  answer.status = std::move(*status);
  simdjson::dom::element credentials;
  if (doc.object.at_key("credentials").get(credentials) == simdjson::SUCCESS) {
    if (!credentials.is_object())
      return std::nullopt;
    answer.credentials = simdjson::minify(credentials);
    if (answer.credentials.size() > limits::sealed_plaintext_bytes_max)
      return std::nullopt;
  }
  simdjson::dom::object price;
  if (doc.object.at_key("price").get_object().get(price) == simdjson::SUCCESS) {
    std::int64_t amount = 0;
    std::string_view code;
    if (price.at_key("amount").get_int64().get(amount) != simdjson::SUCCESS || amount < 0 ||
        price.at_key("currency").get_string().get(code) != simdjson::SUCCESS)
      return std::nullopt;
    auto currency = parse_currency(code);
    if (!currency)
      return std::nullopt;
    answer.price = money{amount, *currency};
  }
  return answer;
}

std::string resource_order_body(std::string_view service, std::string_view name,
                                std::string_view config, const std::optional<order_token>& token) {
  std::string out;
  json_writer w(out);
  w.begin_object().member("service", service).member("name", name).key("config").raw(config);
  if (token) {
    w.key("payment_token")
      .begin_object()
      .member("id", std::string_view(token->id))
      .member("max_amount", token->max_amount.amount)
      .member("currency", to_string(token->max_amount.code))
      .member("expires_at", token->expires_at)
      .end_object();
  }
  w.end_object();
  return out;
}

std::string account_request_body(std::string_view attestation) {
  std::string out;
  json_writer w(out);
  w.begin_object().member("attestation", attestation).end_object();
  return out;
}

std::string pkce_verifier(std::span<const std::uint8_t> key, std::string_view approval) {
  static constexpr std::string_view label = "steward pkce verifier v1";
  std::string message(label);
  message.push_back('\0');
  message.append(approval);
  std::array<std::uint8_t, 32> mac{};
  unsigned int length = 0;
  HMAC(sha256_algorithm(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &length);
  return base64url_encode(std::span<const std::uint8_t>(mac.data(), length));
}

std::string pkce_challenge(std::string_view verifier) {
  auto digest = sha256(verifier);
  return base64url_encode(std::span<const std::uint8_t>(digest.data(), digest.size()));
}

std::string authorize_url_with_pkce(std::string_view authorize_url, std::string_view state,
                                    std::string_view challenge) {
  std::string out(authorize_url);
  out += authorize_url.find('?') == std::string_view::npos ? '?' : '&';
  out += "state=" + percent_encode(state) + "&code_challenge=" + percent_encode(challenge) +
         "&code_challenge_method=S256";
  return out;
}

std::string token_request_form(std::string_view code, std::string_view verifier,
                               std::string_view redirect_uri, std::string_view client_id) {
  return "grant_type=authorization_code&code=" + percent_encode(code) +
         "&code_verifier=" + percent_encode(verifier) +
         "&redirect_uri=" + percent_encode(redirect_uri) + "&client_id=" + percent_encode(client_id);
}

std::optional<oauth_callback> read_oauth_callback(std::string_view query) {
  oauth_callback out;
  bool seen_state = false, seen_code = false, seen_error = false;
  std::size_t parameters = 0;
  while (auto pair = next_query_pair(query)) {
    if (++parameters > query_parameters_max)
      return std::nullopt;
    std::string name, value;
    if (!percent_decode(pair->name, name, true))
      return std::nullopt;
    if (pair->has_value && !percent_decode(pair->value, value, true))
      return std::nullopt;
    auto take = [&](bool& seen, std::string& into) {
      if (seen)
        return false;
      seen = true;
      into = std::move(value);
      return true;
    };
    if (name == "state" && !take(seen_state, out.state))
      return std::nullopt;
    if (name == "code" && !take(seen_code, out.code))
      return std::nullopt;
    if (name == "error" && !take(seen_error, out.error))
      return std::nullopt;
  }
  if (out.state.empty() || (out.code.empty() && out.error.empty()) ||
      out.code.size() > limits::provider_secret_bytes_max ||
      out.error.size() > limits::provider_object_id_bytes_max)
    return std::nullopt;
  return out;
}

} // namespace steward::core
