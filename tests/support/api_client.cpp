#include "tests/support/api_client.hpp"

#include "core/hmac_signature.hpp"

#include <charconv>
#include <chrono>
#include <fstream>
#include <sstream>

namespace steward::test_support {

std::string read_secret(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r'))
    secret.pop_back();
  return secret;
}

std::string json_string(std::string_view json, std::string_view name) {
  std::string needle = "\"" + std::string(name) + "\":\"";
  auto at = json.find(needle);
  if (at == std::string_view::npos)
    return {};
  auto start = at + needle.size();
  auto end = json.find('"', start);
  return end == std::string_view::npos ? std::string() : std::string(json.substr(start, end - start));
}

std::optional<std::int64_t> json_integer(std::string_view json, std::string_view name) {
  std::string needle = "\"" + std::string(name) + "\":";
  auto at = json.find(needle);
  if (at == std::string_view::npos)
    return std::nullopt;
  auto start = json.data() + at + needle.size();
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(start, json.data() + json.size(), value);
  if (error != std::errc() || end == start)
    return std::nullopt;
  return value;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::optional<http_response> api_client::send(std::string_view method, std::string_view target,
                                              std::string_view headers, std::string_view body) {
  auto until = deadline_in(std::chrono::seconds(20));
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!connection_ || connection_->peer_closed()) {
      connection_ = raw_client::connect(port_, until);
      if (!connection_)
        return std::nullopt;
    }
    std::string extra(headers);
    if (!body.empty())
      extra += "Content-Type: application/json\r\n";
    // A body-less POST still says it has no body.
    if (body.empty() && (method == "POST" || method == "PUT" || method == "DELETE"))
      extra += "Content-Length: 0\r\n";
    if (!connection_->send_all(make_request(method, target, extra, body), until)) {
      connection_.reset();
      continue;
    }
    auto response = connection_->read_response(until, method == "HEAD");
    if (!response) {
      const bool retry = connection_->peer_closed() && attempt == 0;
      connection_.reset();
      if (retry)
        continue;
      return std::nullopt;
    }
    if (response->connection_close())
      connection_.reset();
    return response;
  }
  return std::nullopt;
}

std::optional<http_response> api_client::bearer(std::string_view bearer, std::string_view method,
                                                std::string_view target, std::string_view body,
                                                std::string_view key) {
  std::string headers = "Authorization: Bearer " + std::string(bearer) + "\r\n";
  if (!key.empty())
    headers += "Idempotency-Key: " + std::string(key) + "\r\n";
  return send(method, target, headers, body);
}

std::optional<http_response> api_client::signed_request(std::string_view slug,
                                                        std::string_view secret,
                                                        std::string_view method,
                                                        std::string_view target,
                                                        std::string_view body,
                                                        std::string_view key, std::int64_t t) {
  if (t == 0)
    t = unix_now();
  std::string headers = "Steward-Provider: " + std::string(slug) + "\r\n";
  headers += std::string(core::signature_header_name) + ": " +
             core::sign(secret, t, core::signed_request{method, target, key, body}) + "\r\n";
  if (!key.empty())
    headers += "Idempotency-Key: " + std::string(key) + "\r\n";
  return send(method, target, headers, body);
}

} // namespace steward::test_support
