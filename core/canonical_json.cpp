#include "core/canonical_json.hpp"

#include "core/assert.hpp"
#include "core/json_reader.hpp"
#include "core/json_writer.hpp"
#include "core/limits.hpp"

#include <simdjson.h>

#include <algorithm>
#include <vector>

namespace steward::core {

namespace ondemand = simdjson::ondemand;

namespace {

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim_trailing_space(std::string_view text) {
  while (!text.empty() && is_json_space(text.back())) text.remove_suffix(1);
  return text;
}


// One member of an object being canonicalised: its unescaped name (a view into the parser's
// string buffer, valid until the next parse) and where its canonical value sits in the output.
struct member_span {
  std::string_view key;
  std::size_t begin;
  std::size_t end;
};

// The thread's parser, as in core/json_reader.cpp: reused so fingerprinting a body allocates
// nothing in the steady state, capped so a huge text fails with CAPACITY instead of growing it.
struct thread_parser {
  ondemand::parser parser{limits::body_bytes_max};
  std::vector<member_span> members; // a stack: each open object owns the tail it pushed
  std::string scratch;
};

thread_local thread_parser this_thread_parser;

// Parser buffers larger than this are released after use, so one large text does not pin memory.
constexpr std::size_t parser_capacity_retained = 64u << 10;

class canonicalizer {
public:
  canonicalizer(std::string& out, thread_parser& local) : out_(out), local_(local) {}

  canonical_json_error error() const { return error_; }

  bool fail(canonical_json_error error) {
    if (error_ == canonical_json_error::none) error_ = error;
    return false;
  }

  bool run(simdjson::padded_string_view input) {
    ondemand::document document;
    if (local_.parser.iterate(input).get(document)) return fail(canonical_json_error::invalid_json);
    ondemand::json_type type;
    if (document.type().get(type)) return fail(canonical_json_error::invalid_json);
    if (type == ondemand::json_type::object || type == ondemand::json_type::array) {
      ondemand::value root;
      if (document.get_value().get(root)) return fail(canonical_json_error::invalid_json);
      if (!value(root)) return false;
      // On-Demand stops after the value's closing bracket; only the end of input may follow.
      const char* rest = nullptr;
      if (document.current_location().get(rest) == simdjson::SUCCESS)
        return fail(canonical_json_error::invalid_json);
      return true;
    }
    return root_scalar(document, type, input);
  }

private:
  // simdjson cannot treat a scalar document as a `value`, so the root scalar has its own path.
  // Its raw token runs to the next structural byte, so anything after the scalar shows up as a
  // non-space byte after the token.
  bool root_scalar(ondemand::document& document, ondemand::json_type type,
                   simdjson::padded_string_view input) {
    const char* start = nullptr;
    std::string_view raw;
    if (document.current_location().get(start) || document.raw_json_token().get(raw))
      return fail(canonical_json_error::invalid_json);
    std::size_t token_end = static_cast<std::size_t>(start - input.data()) + raw.size();
    for (std::size_t i = token_end; i < input.length(); ++i)
      if (!is_json_space(input.data()[i])) return fail(canonical_json_error::invalid_json);
    std::string_view token = trim_trailing_space(raw);
    switch (type) {
    case ondemand::json_type::number: return number(token);
    case ondemand::json_type::string: {
      std::string_view text;
      if (document.get_string().get(text)) return fail(canonical_json_error::invalid_json);
      return string(text);
    }
    case ondemand::json_type::boolean:
    case ondemand::json_type::null:
      // The atom is checked on its token: simdjson 3.0's root `is_null` refuses `null` followed by
      // whitespace, and the token already ends where the value does.
      if (token != "true" && token != "false" && token != "null")
        return fail(canonical_json_error::invalid_json);
      out_ += token;
      return true;
    default: return fail(canonical_json_error::invalid_json);
    }
  }

  bool enter() {
    if (depth_ == limits::json_depth_max) return fail(canonical_json_error::too_deep);
    ++depth_;
    return true;
  }

  bool string(std::string_view text) {
    if (text.size() > limits::json_string_bytes_max)
      return fail(canonical_json_error::string_too_long);
    append_json_string(out_, text);
    return true;
  }

  bool number(std::string_view token) {
    if (!is_json_number(token)) return fail(canonical_json_error::invalid_json);
    out_ += token == "-0" ? std::string_view("0") : token;
    return true;
  }

  bool value(ondemand::value& value) {
    ondemand::json_type type;
    if (value.type().get(type)) return fail(canonical_json_error::invalid_json);
    switch (type) {
    case ondemand::json_type::object: return object(value);
    case ondemand::json_type::array: return array(value);
    case ondemand::json_type::string: {
      std::string_view text;
      if (value.get_string().get(text)) return fail(canonical_json_error::invalid_json);
      return string(text);
    }
    case ondemand::json_type::number:
      // Left unconsumed, as in core/json_reader: parsing it would reject valid JSON that overflows
      // a double (1e999). The enclosing iteration skips it.
      return number(trim_trailing_space(value.raw_json_token()));
    case ondemand::json_type::boolean: {
      bool flag = false;
      if (value.get_bool().get(flag)) return fail(canonical_json_error::invalid_json);
      out_ += flag ? "true" : "false";
      return true;
    }
    case ondemand::json_type::null: {
      bool is_null = false;
      if (value.is_null().get(is_null) || !is_null)
        return fail(canonical_json_error::invalid_json);
      out_ += "null";
      return true;
    }
    }
    return fail(canonical_json_error::invalid_json);
  }

  bool array(ondemand::value& value) {
    ondemand::array array;
    if (value.get_array().get(array)) return fail(canonical_json_error::invalid_json);
    if (!enter()) return false;
    out_ += '[';
    bool first = true;
    for (auto element : array) {
      ondemand::value item;
      if (std::move(element).get(item)) return fail(canonical_json_error::invalid_json);
      if (!first) out_ += ',';
      first = false;
      if (!this->value(item)) return false;
    }
    out_ += ']';
    --depth_;
    return true;
  }

  // Members are canonicalised in input order into `out_`, then the object is rebuilt in key order:
  // every level copies its text once, so the cost is bounded by depth × size.
  bool object(ondemand::value& value) {
    ondemand::object object;
    if (value.get_object().get(object)) return fail(canonical_json_error::invalid_json);
    if (!enter()) return false;
    const std::size_t object_begin = out_.size();
    const std::size_t members_begin = local_.members.size();
    for (auto member : object) {
      ondemand::field field;
      if (std::move(member).get(field)) return fail(canonical_json_error::invalid_json);
      std::string_view key;
      if (field.unescaped_key().get(key)) return fail(canonical_json_error::invalid_json);
      if (key.size() > limits::json_string_bytes_max)
        return fail(canonical_json_error::string_too_long);
      const std::size_t begin = out_.size();
      if (!this->value(field.value())) return false;
      local_.members.push_back({key, begin, out_.size()});
    }
    auto first = local_.members.begin() + static_cast<std::ptrdiff_t>(members_begin);
    auto last = local_.members.end();
    std::sort(first, last, [](const member_span& a, const member_span& b) { return a.key < b.key; });
    if (std::adjacent_find(first, last, [](const member_span& a, const member_span& b) {
          return a.key == b.key;
        }) != last)
      return fail(canonical_json_error::duplicate_key);

    std::string& scratch = local_.scratch;
    scratch.clear();
    scratch += '{';
    for (auto it = first; it != last; ++it) {
      if (it != first) scratch += ',';
      append_json_string(scratch, it->key);
      scratch += ':';
      scratch.append(out_, it->begin, it->end - it->begin);
    }
    scratch += '}';
    out_.resize(object_begin);
    out_ += scratch;
    local_.members.resize(members_begin);
    --depth_;
    return true;
  }

  std::string& out_;
  thread_parser& local_;
  std::size_t depth_ = 0;
  canonical_json_error error_ = canonical_json_error::none;
};

} // namespace

std::string_view describe(canonical_json_error error) noexcept {
  switch (error) {
  case canonical_json_error::none: return "valid";
  case canonical_json_error::invalid_json: return "malformed JSON";
  case canonical_json_error::too_deep: return "nested too deeply";
  case canonical_json_error::duplicate_key: return "duplicate member";
  case canonical_json_error::string_too_long: return "string too long";
  case canonical_json_error::too_large: return "JSON text too large";
  }
  return "malformed JSON";
}

api_error to_api_error(canonical_json_error error) noexcept {
  switch (error) {
  case canonical_json_error::none: break;
  case canonical_json_error::invalid_json:
  case canonical_json_error::too_deep: return api_error::invalid_json;
  case canonical_json_error::duplicate_key:
  case canonical_json_error::string_too_long: return api_error::invalid_field;
  case canonical_json_error::too_large: return api_error::payload_too_large;
  }
  STEWARD_SURVIVABLE(false && "to_api_error called without an error");
  return api_error::internal;
}

canonical_json_error append_canonical_json(std::string& out, std::string_view json) {
  if (json.size() > limits::body_bytes_max) return canonical_json_error::too_large;
  // A null view (an absent body) must not reach simdjson; empty text is not JSON either way.
  if (json.empty()) return canonical_json_error::invalid_json;
  simdjson::padded_string padded(json);
  thread_parser& local = this_thread_parser;
  const std::size_t out_begin = out.size();
  canonicalizer canonicalizer(out, local);
  bool ok = canonicalizer.run(padded);
  local.members.clear();
  if (local.parser.capacity() > parser_capacity_retained) {
    local.parser = ondemand::parser{limits::body_bytes_max};
    local.scratch = std::string();
    local.members = std::vector<member_span>();
  }
  if (!ok) {
    out.resize(out_begin);
    STEWARD_DEBUG_ASSERT(canonicalizer.error() != canonical_json_error::none);
    return canonicalizer.error();
  }
  return canonical_json_error::none;
}

canonical_json canonicalize_json(std::string_view json) {
  canonical_json result;
  result.error = append_canonical_json(result.text, json);
  return result;
}

} // namespace steward::core
