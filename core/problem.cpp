#include "core/problem.hpp"

#include "core/assert.hpp"
#include "core/json_writer.hpp"

#include <charconv>

namespace steward::core {

namespace {

// The members `start` writes; an extension member of the same name would make the body ambiguous.
bool is_standard_member(std::string_view key) {
  return key == "type" || key == "title" || key == "status" || key == "detail" || key == "code";
}

void append_integer(std::string& out, std::int64_t number) {
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof digits, number);
  out.append(digits, result.ptr);
}

} // namespace

problem::problem(api_error code, std::string_view detail) : code_(code) { start(detail); }

problem::problem(const json_error& error) : code_(error.code) {
  if (!STEWARD_SURVIVABLE(error.failed)) {
    code_ = api_error::internal;
    start("request decoding reported no error");
    return;
  }
  if (error.pointer.empty()) {
    start(error.detail);
  } else {
    std::string detail;
    detail.reserve(error.pointer.size() + 2 + error.detail.size());
    detail.append(error.pointer).append(": ").append(error.detail);
    start(detail);
  }
  member("field", error.pointer);
}

void problem::start(std::string_view detail) {
  const api_error_info& about = info(code_);
  body_.reserve(160 + detail.size());
  // Written by hand rather than with json_writer because the object stays open for `member`
  // calls; the strings still go through the writer's escaping.
  body_.append(R"({"type":")").append(problem_type_prefix).append(about.code);
  body_.append(R"(","title":)");
  append_json_string(body_, about.title);
  body_.append(R"(,"status":)");
  append_integer(body_, about.status);
  body_.append(R"(,"detail":)");
  append_json_string(body_, detail);
  body_.append(R"(,"code":")").append(about.code).append("\"");
}

void problem::append_key(std::string_view key) {
  STEWARD_ASSERT(!is_standard_member(key) && "problem: extension member shadows a standard one");
  STEWARD_ASSERT(!body_.empty() && "problem: used after body()");
#ifndef NDEBUG
  // A raw quote only occurs in the body as structure (inside strings it is escaped), so finding
  // `,"key":` means the member is already there.
  std::string existing = ",";
  append_json_string(existing, key);
  existing += ':';
  STEWARD_DEBUG_ASSERT(body_.find(existing) == std::string::npos && "problem: member added twice");
#endif
  body_.push_back(',');
  append_json_string(body_, key);
  body_.push_back(':');
}

problem& problem::member(std::string_view key, std::string_view value) & {
  append_key(key);
  append_json_string(body_, value);
  return *this;
}

problem& problem::member(std::string_view key, std::int64_t value) & {
  append_key(key);
  append_integer(body_, value);
  return *this;
}

problem& problem::retry_after(std::uint32_t seconds) & {
  retry_after_ = seconds;
  return member("retry_after", static_cast<std::int64_t>(seconds));
}

std::string problem::body() && {
  body_.push_back('}');
  return std::move(body_);
}

} // namespace steward::core
