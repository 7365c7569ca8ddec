#include "core/json_reader.hpp"

#include "core/assert.hpp"
#include "core/json_writer.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>

namespace steward::core {

bool is_json_number(std::string_view text) noexcept {
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t i = 0, n = text.size();
  if (i < n && text[i] == '-') ++i;
  if (i == n) return false;
  if (text[i] == '0') {
    ++i;
  } else if (is_digit(text[i])) {
    while (i < n && is_digit(text[i])) ++i;
  } else {
    return false;
  }
  if (i < n && text[i] == '.') {
    ++i;
    if (i == n || !is_digit(text[i])) return false;
    while (i < n && is_digit(text[i])) ++i;
  }
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
    if (i == n || !is_digit(text[i])) return false;
    while (i < n && is_digit(text[i])) ++i;
  }
  return i == n;
}

static_assert(json_padding_bytes == simdjson::SIMDJSON_PADDING);

namespace ondemand = simdjson::ondemand;

namespace detail {

namespace {

// A name as the parser left it in its string buffer. Plain pointer and size rather than a
// string_view so that arrays of them are trivially constructible: a decode call and each object's
// frame would otherwise zero about a kilobyte of bookkeeping it mostly never touches.
struct name_ref {
  const char* data;
  std::size_t size;

  static name_ref of(std::string_view name) { return {name.data(), name.size()}; }
  std::string_view view() const { return {data, size}; }
};

// One step of the path from the body's object to the current value.
struct path_segment {
  name_ref key;      // a member name, when `is_index` is false
  std::size_t index; // an array position, when `is_index` is true
  bool is_index;
};

// RFC 6901: `~` becomes `~0` and `/` becomes `~1`.
void append_pointer_token(std::string& out, std::string_view token) {
  for (char c : token) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
}

std::string_view trim_trailing_space(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\n' ||
                           text.back() == '\r'))
    text.remove_suffix(1);
  return text;
}



std::string_view type_name(ondemand::json_type type) {
  switch (type) {
  case ondemand::json_type::array: return "an array";
  case ondemand::json_type::object: return "an object";
  case ondemand::json_type::number: return "a number";
  case ondemand::json_type::string: return "a string";
  case ondemand::json_type::boolean: return "a boolean";
  case ondemand::json_type::null: return "null";
  }
  return "a value";
}

// A short detail for a simdjson error that means the bytes are not acceptable JSON.
std::string_view malformed_detail(simdjson::error_code error) {
  switch (error) {
  case simdjson::EMPTY: return "the body is empty";
  case simdjson::UTF8_ERROR: return "invalid UTF-8";
  case simdjson::UNESCAPED_CHARS: return "unescaped control character in a string";
  case simdjson::UNCLOSED_STRING: return "unterminated string";
  case simdjson::STRING_ERROR: return "invalid escape sequence in a string";
  case simdjson::NUMBER_ERROR: return "malformed number";
  case simdjson::T_ATOM_ERROR:
  case simdjson::F_ATOM_ERROR:
  case simdjson::N_ATOM_ERROR: return "malformed literal";
  case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
    return "unbalanced brackets, or data after the end of the object";
  default: return "malformed JSON";
  }
}

// Bytes simdjson's On-Demand parser allocates per byte of capacity (structural indexes plus the
// string buffer), used to decide when to release its buffers.
constexpr std::size_t parser_bytes_per_capacity_byte = 6;

} // namespace

// What one object's member loop knows; the object_reader of that object points at it.
struct object_frame {
  ondemand::value* value = nullptr; // the value the reader's `read_*` functions read
  std::size_t seen_count = 0;
  std::array<name_ref, json_object_members_max> seen; // names accepted so far (uninitialised)

  bool was_seen(std::string_view name) const {
    for (std::size_t i = 0; i < seen_count; ++i)
      if (seen[i].view() == name) return true;
    return false;
  }
};

// The state of one `decode` call.
struct decode_state {
  json_error error;
  std::size_t depth = 0; // open objects and arrays, the body's object included
  std::size_t path_size = 0;
  std::array<path_segment, limits::json_depth_max + 1> path; // first `path_size` are set
  // Member names of the objects inside raw_json values that are open, for duplicate detection.
  std::vector<std::string_view> raw_keys;

  bool failed() const { return error.failed; }

  void fail(api_error code, std::string_view detail) {
    if (error.failed) return;
    error.failed = true;
    error.code = code;
    error.detail.assign(detail);
    for (std::size_t i = 0; i < path_size; ++i) {
      error.pointer += '/';
      if (path[i].is_index)
        error.pointer += std::to_string(path[i].index);
      else
        append_pointer_token(error.pointer, path[i].key.view());
    }
  }

  void fail_malformed(simdjson::error_code code) {
    if (code == simdjson::CAPACITY)
      fail(api_error::payload_too_large, "body larger than the parser accepts");
    else
      fail(api_error::invalid_json, malformed_detail(code));
  }

  // Path pushes are bounded by depth, which `enter` keeps at most json_depth_max.
  void push_key(std::string_view key) {
    STEWARD_ASSERT(path_size < path.size());
    path[path_size++] = {name_ref::of(key), 0, false};
  }
  void push_index(std::size_t index) {
    STEWARD_ASSERT(path_size < path.size());
    path[path_size++] = {{nullptr, 0}, index, true};
  }
  void pop() { --path_size; }

  bool enter() {
    if (depth == limits::json_depth_max) {
      fail(api_error::invalid_json,
           "nested deeper than " + std::to_string(limits::json_depth_max) + " levels");
      return false;
    }
    ++depth;
    return true;
  }
  void leave() { --depth; }

  // Runs the member loop of `object`, then the final pass (see json_reader.hpp).
  void read_members(ondemand::object& object, callback_ref<void(object_reader&)> declare) {
    object_frame frame;
    object_reader reader(*this, frame);
    for (auto member : object) {
      ondemand::field field;
      if (auto code = std::move(member).get(field)) return fail_malformed(code);
      std::string_view key;
      if (auto code = field.unescaped_key().get(key)) return fail_malformed(code);
      push_key(key);
      if (frame.was_seen(key)) return fail(api_error::invalid_field, "duplicate member");
      reader.key_ = key;
      reader.stage_ = object_reader::stage::unclaimed;
      frame.value = &field.value();
      declare(reader);
      if (failed()) return;
      if (reader.stage_ != object_reader::stage::claimed)
        return fail(api_error::unknown_field, "unknown field");
      // Accepted names are distinct and each was claimed by a declaration, so this only fills up
      // when a decoder declares too many members.
      STEWARD_ASSERT(frame.seen_count < json_object_members_max &&
                     "json decoder declares more members than json_object_members_max");
      frame.seen[frame.seen_count++] = name_ref::of(key);
      pop();
    }
    reader.stage_ = object_reader::stage::final_pass;
    frame.value = nullptr;
    declare(reader);
  }

  // After a typed read failed with `code`: decides between malformed JSON (the value is not JSON at
  // all, whatever type was wanted) and a well-formed value of the wrong type.
  void fail_mismatch(ondemand::value& value, simdjson::error_code code, std::string_view expected) {
    if (code != simdjson::INCORRECT_TYPE) return fail_malformed(code);
    ondemand::json_type type;
    if (auto error = value.type().get(type)) return fail_malformed(error);
    if (type == ondemand::json_type::null) {
      bool is_null = false;
      if (value.is_null().get(is_null) || !is_null) return fail_malformed(simdjson::N_ATOM_ERROR);
      return fail(api_error::invalid_field, "must not be null");
    }
    if (!validate(value, nullptr)) return;
    fail(api_error::invalid_field,
         std::string("expected ").append(expected).append(", got ").append(type_name(type)));
  }

  // Checks that `value` is well-formed JSON within the limits, writing it compactly to `out` when
  // given. Records an error and answers false otherwise.
  bool validate(ondemand::value& value, json_writer* out) {
    ondemand::json_type type;
    if (auto code = value.type().get(type)) return fail_malformed(code), false;
    switch (type) {
    case ondemand::json_type::object: {
      ondemand::object object;
      if (auto code = value.get_object().get(object)) return fail_malformed(code), false;
      if (!enter()) return false;
      if (out) out->begin_object();
      std::size_t keys_begin = raw_keys.size();
      for (auto member : object) {
        ondemand::field field;
        if (auto code = std::move(member).get(field)) return fail_malformed(code), false;
        std::string_view key;
        if (auto code = field.unescaped_key().get(key)) return fail_malformed(code), false;
        push_key(key);
        if (out) out->key(key);
        if (!validate(field.value(), out)) return false;
        pop();
        raw_keys.push_back(key);
      }
      // Sorting this object's names (rather than a hash set) is O(n log n) for an object with
      // many members and allocates nothing beyond the one vector the decode call reuses.
      auto begin = raw_keys.begin() + static_cast<std::ptrdiff_t>(keys_begin);
      std::sort(begin, raw_keys.end());
      if (auto duplicate = std::adjacent_find(begin, raw_keys.end()); duplicate != raw_keys.end()) {
        push_key(*duplicate);
        fail(api_error::invalid_field, "duplicate member");
        return false;
      }
      raw_keys.resize(keys_begin);
      if (out) out->end_object();
      leave();
      return true;
    }
    case ondemand::json_type::array: {
      ondemand::array array;
      if (auto code = value.get_array().get(array)) return fail_malformed(code), false;
      if (!enter()) return false;
      if (out) out->begin_array();
      std::size_t index = 0;
      for (auto element : array) {
        ondemand::value item;
        push_index(index++);
        if (auto code = std::move(element).get(item)) return fail_malformed(code), false;
        if (!validate(item, out)) return false;
        pop();
      }
      if (out) out->end_array();
      leave();
      return true;
    }
    case ondemand::json_type::string: {
      std::string_view text;
      if (auto code = value.get_string().get(text)) return fail_malformed(code), false;
      if (text.size() > limits::json_string_bytes_max) {
        fail(api_error::invalid_field, "string longer than " +
                                         std::to_string(limits::json_string_bytes_max) + " bytes");
        return false;
      }
      if (out) out->string(text);
      return true;
    }
    case ondemand::json_type::number: {
      // Left unconsumed: the enclosing iteration skips it. Parsing it would reject numbers that
      // are valid JSON but overflow a double (1e999).
      std::string_view token = trim_trailing_space(value.raw_json_token());
      if (!is_json_number(token)) return fail_malformed(simdjson::NUMBER_ERROR), false;
      if (out) out->raw(token);
      return true;
    }
    case ondemand::json_type::boolean: {
      bool flag;
      if (value.get_bool().get(flag)) return fail_malformed(simdjson::T_ATOM_ERROR), false;
      if (out) out->boolean(flag);
      return true;
    }
    case ondemand::json_type::null: {
      bool is_null = false;
      if (value.is_null().get(is_null) || !is_null)
        return fail_malformed(simdjson::N_ATOM_ERROR), false;
      if (out) out->null();
      return true;
    }
    }
    return fail_malformed(simdjson::TAPE_ERROR), false;
  }
};

namespace {

// The thread's parser. The capacity ceiling makes a body over the HTTP limit fail with CAPACITY
// instead of growing the buffers without bound.
struct thread_parser {
  ondemand::parser parser{limits::body_bytes_max};
  bool busy = false;
};

thread_local thread_parser this_thread_parser;

json_error decode_with_parser(simdjson::padded_string_view input,
                              callback_ref<void(object_reader&)> declare) {
  thread_parser& local = this_thread_parser;
  STEWARD_ASSERT(!local.busy && "json decode is not reentrant: a declaration called decode()");
  local.busy = true;

  decode_state state;
  [&] {
    // An absent body may come as a null view; simdjson must not be handed that.
    if (input.length() == 0) return state.fail_malformed(simdjson::EMPTY);
    ondemand::document document;
    if (auto code = local.parser.iterate(input).get(document)) return state.fail_malformed(code);
    ondemand::json_type type;
    if (auto code = document.type().get(type)) return state.fail_malformed(code);
    if (type != ondemand::json_type::object)
      return state.fail(api_error::invalid_json, "the body must be a JSON object");
    ondemand::object object;
    if (auto code = document.get_object().get(object)) return state.fail_malformed(code);
    state.depth = 1;
    state.read_members(object, declare);
    if (state.failed()) return;
    // On-Demand stops at the object's closing brace; anything but whitespace after it is an error
    // (`{}{}`, `{} x`; simdjson catches some of these already in get_object).
    const char* rest = nullptr;
    if (document.current_location().get(rest) == simdjson::SUCCESS)
      state.fail(api_error::invalid_json, "unexpected data after the object");
  }();

  if (local.parser.capacity() * parser_bytes_per_capacity_byte > json_parser_bytes_retained)
    local.parser = ondemand::parser{limits::body_bytes_max};
  local.busy = false;
  return std::move(state.error);
}

} // namespace

json_error decode_padded(std::string_view body, callback_ref<void(object_reader&)> declare) {
  return decode_with_parser(
    simdjson::padded_string_view(body.data(), body.size(), body.size() + json_padding_bytes),
    declare);
}

json_error decode_copied(std::string_view body, callback_ref<void(object_reader&)> declare) {
  simdjson::padded_string copy(body);
  return decode_with_parser(copy, declare);
}

} // namespace detail

// --- object_reader -----------------------------------------------------------------------------

void object_reader::require_seen(std::string_view key) {
  if (state_->failed() || frame_->was_seen(key)) return;
  state_->push_key(key);
  state_->fail(api_error::invalid_field, "required");
}

bool object_reader::take_null() {
  bool is_null = false;
  if (frame_->value->is_null().get(is_null)) {
    state_->fail_malformed(simdjson::N_ATOM_ERROR);
    return true;
  }
  return is_null;
}

bool object_reader::read_string(std::string& out, std::size_t bytes_max) {
  STEWARD_ASSERT(bytes_max <= limits::json_string_bytes_max);
  std::string_view text;
  if (auto code = frame_->value->get_string().get(text))
    return state_->fail_mismatch(*frame_->value, code, "a string"), false;
  if (text.size() > bytes_max) {
    state_->fail(api_error::invalid_field,
                 "longer than " + std::to_string(bytes_max) + " bytes");
    return false;
  }
  out.assign(text);
  return true;
}

bool object_reader::read_bool(bool& out) {
  if (auto code = frame_->value->get_bool().get(out))
    return state_->fail_mismatch(*frame_->value, code, "a boolean"), false;
  return true;
}

namespace {

// After get_int64/get_uint64 failed on something that may be a number.
template <class Integer>
void fail_integer(detail::decode_state& state, ondemand::value& value, simdjson::error_code code,
                  Integer min, Integer max) {
  ondemand::json_type type;
  if (value.type().get(type) == simdjson::SUCCESS && type == ondemand::json_type::number) {
    std::string_view token = detail::trim_trailing_space(value.raw_json_token());
    if (!is_json_number(token)) return state.fail_malformed(simdjson::NUMBER_ERROR);
    if (token.find_first_of(".eE") != std::string_view::npos)
      return state.fail(api_error::invalid_field, "must be an integer");
    // An integer literal that does not fit 64 bits.
    return state.fail(api_error::invalid_field, "must be an integer from " +
                                                  std::to_string(min) + " to " +
                                                  std::to_string(max));
  }
  state.fail_mismatch(value, code, "an integer");
}

} // namespace

bool object_reader::read_int64(std::int64_t& out, std::int64_t min, std::int64_t max) {
  std::int64_t number;
  if (auto code = frame_->value->get_int64().get(number))
    return fail_integer(*state_, *frame_->value, code, min, max), false;
  if (number < min || number > max) {
    state_->fail(api_error::invalid_field,
                 "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
    return false;
  }
  out = number;
  return true;
}

bool object_reader::read_uint64(std::uint64_t& out, std::uint64_t min, std::uint64_t max) {
  std::uint64_t number;
  if (auto code = frame_->value->get_uint64().get(number))
    return fail_integer(*state_, *frame_->value, code, min, max), false;
  if (number < min || number > max) {
    state_->fail(api_error::invalid_field,
                 "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
    return false;
  }
  out = number;
  return true;
}

void object_reader::read_object(detail::callback_ref<void(object_reader&)> declare) {
  ondemand::object object;
  if (auto code = frame_->value->get_object().get(object))
    return state_->fail_mismatch(*frame_->value, code, "an object");
  if (!state_->enter()) return;
  state_->read_members(object, declare);
  state_->leave();
}

void object_reader::read_array(std::size_t items_max, detail::callback_ref<void()> item) {
  ondemand::value* member_value = frame_->value;
  ondemand::array array;
  if (auto code = member_value->get_array().get(array))
    return state_->fail_mismatch(*member_value, code, "an array");
  if (!state_->enter()) return;
  std::size_t index = 0;
  for (auto element : array) {
    ondemand::value value;
    if (auto code = std::move(element).get(value)) {
      state_->push_index(index);
      state_->fail_malformed(code);
      break;
    }
    if (index == items_max) {
      state_->fail(api_error::invalid_field, "more than " + std::to_string(items_max) + " items");
      break;
    }
    state_->push_index(index++);
    frame_->value = &value;
    item();
    frame_->value = member_value;
    if (state_->failed()) break;
    state_->pop();
  }
  frame_->value = member_value;
  if (!state_->failed()) state_->leave();
}

void object_reader::read_raw_json(raw_json& out) {
  out.text.clear();
  json_writer writer(out.text);
  state_->validate(*frame_->value, &writer);
}

// --- Non-template declarations ---------------------------------------------------------------------

void object_reader::required(std::string_view key, std::string& out, std::size_t bytes_max) {
  if (claim(key, presence::required)) read_string(out, bytes_max);
}

void object_reader::optional(std::string_view key, std::string& out, std::size_t bytes_max) {
  if (claim(key, presence::optional)) read_string(out, bytes_max);
}

void object_reader::optional(std::string_view key, std::optional<std::string>& out,
                             std::size_t bytes_max) {
  if (claim(key, presence::optional)) read_string(out.emplace(), bytes_max);
}

void object_reader::optional(std::string_view key, nullable<std::string>& out,
                             std::size_t bytes_max) {
  if (!claim(key, presence::optional)) return;
  out.present = true;
  if (take_null())
    out.value.reset();
  else
    read_string(out.value.emplace(), bytes_max);
}

void object_reader::required(std::string_view key, bool& out) {
  if (claim(key, presence::required)) read_bool(out);
}

void object_reader::optional(std::string_view key, bool& out) {
  if (claim(key, presence::optional)) read_bool(out);
}

void object_reader::optional(std::string_view key, std::optional<bool>& out) {
  if (claim(key, presence::optional)) read_bool(out.emplace());
}

void object_reader::optional(std::string_view key, nullable<bool>& out) {
  if (!claim(key, presence::optional)) return;
  out.present = true;
  if (take_null())
    out.value.reset();
  else
    read_bool(out.value.emplace());
}

void object_reader::required(std::string_view key, std::vector<std::string>& out,
                             std::size_t items_max, std::size_t item_bytes_max) {
  if (!claim(key, presence::required)) return;
  out.clear();
  read_array(items_max, [&] { read_string(out.emplace_back(), item_bytes_max); });
}

void object_reader::optional(std::string_view key, std::vector<std::string>& out,
                             std::size_t items_max, std::size_t item_bytes_max) {
  if (!claim(key, presence::optional)) return;
  out.clear();
  read_array(items_max, [&] { read_string(out.emplace_back(), item_bytes_max); });
}

void object_reader::required(std::string_view key, raw_json& out) {
  if (claim(key, presence::required)) read_raw_json(out);
}

void object_reader::optional(std::string_view key, raw_json& out) {
  if (claim(key, presence::optional)) read_raw_json(out);
}

} // namespace steward::core
