#include "core/json_writer.hpp"

#include "core/assert.hpp"

#include <bit>
#include <charconv>
#include <cstring>

namespace steward::core {

namespace {

// --- Escaping ------------------------------------------------------------------------------------

// Bytes that can be copied as they are: printable ASCII except `"` and `\`, plus DEL. Everything
// else needs a look: an escape, or UTF-8 validation for bytes >= 0x80.
constexpr std::array<bool, 256> make_plain_table() {
  std::array<bool, 256> table{};
  for (int c = 0x20; c < 0x80; ++c) table[c] = c != '"' && c != '\\';
  return table;
}
constexpr std::array<bool, 256> plain = make_plain_table();

constexpr std::uint64_t every_byte(std::uint8_t b) { return 0x0101010101010101ull * b; }
constexpr std::uint64_t high_bits = every_byte(0x80);

// Marks (with its high bit) each byte of `word` that is not plain. Each test below can set false
// marks only in bytes above a true one (a borrow travels upward), so the lowest mark of their union
// is exact, which is all the caller uses.
inline std::uint64_t not_plain_bytes(std::uint64_t word) noexcept {
  std::uint64_t below_space = (word - every_byte(0x20)) & ~word;
  std::uint64_t quote = word ^ every_byte('"');
  std::uint64_t backslash = word ^ every_byte('\\');
  std::uint64_t is_quote = (quote - every_byte(1)) & ~quote;
  std::uint64_t is_backslash = (backslash - every_byte(1)) & ~backslash;
  return (below_space | is_quote | is_backslash | word) & high_bits;
}

// Advances `p` past plain bytes, eight at a time while it can.
inline const char* skip_plain(const char* p, const char* end) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    while (end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, sizeof word);
      if (std::uint64_t marks = not_plain_bytes(word)) return p + std::countr_zero(marks) / 8;
      p += 8;
    }
  }
  while (p < end && plain[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

constexpr char hex_digits[] = "0123456789abcdef";

void append_ascii_escape(std::string& out, unsigned char c) {
  switch (c) {
  case '"': out.append("\\\"", 2); return;
  case '\\': out.append("\\\\", 2); return;
  case '\b': out.append("\\b", 2); return;
  case '\f': out.append("\\f", 2); return;
  case '\n': out.append("\\n", 2); return;
  case '\r': out.append("\\r", 2); return;
  case '\t': out.append("\\t", 2); return;
  default: break;
  }
  char escape[6] = {'\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 0xf]};
  out.append(escape, sizeof escape);
}

// The result of looking at one sequence that starts with a byte >= 0x80.
struct utf8_sequence {
  std::size_t length;   // bytes the sequence occupies (when invalid: its maximal subpart, >= 1)
  bool valid;
  char32_t code_point; // when valid
};

// Validates the sequence at `p` after Unicode 15, table 3-7 (well-formed UTF-8 byte sequences).
// The allowed range of the second byte is what excludes overlong forms (E0, F0), surrogates (ED)
// and code points above U+10FFFF (F4); lead bytes C0, C1 and F5..FF never start a valid sequence.
utf8_sequence read_utf8(const unsigned char* p, const unsigned char* end) noexcept {
  unsigned char lead = p[0];
  std::size_t needed;
  unsigned char second_min = 0x80, second_max = 0xbf;
  char32_t code_point;
  if (lead >= 0xc2 && lead <= 0xdf) {
    needed = 2;
    code_point = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    needed = 3;
    code_point = lead & 0x0f;
    if (lead == 0xe0) second_min = 0xa0;
    if (lead == 0xed) second_max = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    needed = 4;
    code_point = lead & 0x07;
    if (lead == 0xf0) second_min = 0x90;
    if (lead == 0xf4) second_max = 0x8f;
  } else {
    return {1, false, 0};
  }
  std::size_t length = 1;
  while (length < needed) {
    if (p + length == end) return {length, false, 0};
    unsigned char c = p[length];
    unsigned char min = length == 1 ? second_min : 0x80;
    unsigned char max = length == 1 ? second_max : 0xbf;
    if (c < min || c > max) return {length, false, 0};
    code_point = (code_point << 6) | (c & 0x3f);
    ++length;
  }
  return {length, true, code_point};
}

} // namespace

void append_json_string(std::string& out, std::string_view text) {
  out.reserve(out.size() + text.size() + 2);
  out.push_back('"');
  const char* p = text.data();
  const char* end = p + text.size();
  // Bytes from `run` to `p` are still to be copied as they are; they are appended in one go when
  // something needs rewriting, so plain text and valid UTF-8 cost one append per string.
  const char* run = p;
  for (;;) {
    p = skip_plain(p, end);
    if (p == end) break;
    auto c = static_cast<unsigned char>(*p);
    if (c < 0x80) {
      out.append(run, static_cast<std::size_t>(p - run));
      append_ascii_escape(out, c);
      run = ++p;
      continue;
    }
    auto sequence = read_utf8(reinterpret_cast<const unsigned char*>(p),
                              reinterpret_cast<const unsigned char*>(end));
    if (sequence.valid && sequence.code_point != 0x2028 && sequence.code_point != 0x2029) {
      p += sequence.length;
      continue;
    }
    out.append(run, static_cast<std::size_t>(p - run));
    if (!sequence.valid)
      out.append("\\ufffd", 6);
    else if (sequence.code_point == 0x2028)
      out.append("\\u2028", 6);
    else
      out.append("\\u2029", 6);
    p += sequence.length;
    run = p;
  }
  out.append(run, static_cast<std::size_t>(p - run));
  out.push_back('"');
}

// --- json_writer -----------------------------------------------------------------------------------

void json_writer::before_value() {
  std::uint8_t& level = levels_[depth_];
  if (level & is_object) {
    STEWARD_ASSERT((level & key_written) && "json_writer: a member needs key() before its value");
    level &= static_cast<std::uint8_t>(~key_written);
    return;
  }
  if (level & has_items) {
    STEWARD_ASSERT(depth_ > 0 && "json_writer: only one value at the top level");
    out_.push_back(',');
  }
  level |= has_items;
}

void json_writer::open(char bracket, std::uint8_t kind) {
  before_value();
  STEWARD_ASSERT(depth_ < limits::json_depth_max && "json_writer: nested too deep");
  levels_[++depth_] = kind;
  out_.push_back(bracket);
}

void json_writer::close(char bracket, std::uint8_t kind) {
  STEWARD_ASSERT(depth_ > 0 && "json_writer: end without begin");
  std::uint8_t level = levels_[depth_];
  STEWARD_ASSERT((level & is_object) == kind && "json_writer: end_object/end_array mismatch");
  STEWARD_ASSERT(!(level & key_written) && "json_writer: key() without a value");
  --depth_;
  out_.push_back(bracket);
}

json_writer& json_writer::begin_object() {
  open('{', is_object);
  return *this;
}

json_writer& json_writer::end_object() {
  close('}', is_object);
  return *this;
}

json_writer& json_writer::begin_array() {
  open('[', 0);
  return *this;
}

json_writer& json_writer::end_array() {
  close(']', 0);
  return *this;
}

json_writer& json_writer::key(std::string_view name) {
  std::uint8_t& level = levels_[depth_];
  STEWARD_ASSERT((level & is_object) && "json_writer: key() outside an object");
  STEWARD_ASSERT(!(level & key_written) && "json_writer: two keys in a row");
  if (level & has_items) out_.push_back(',');
  level |= has_items | key_written;
  append_json_string(out_, name);
  out_.push_back(':');
  return *this;
}

json_writer& json_writer::string(std::string_view text) {
  before_value();
  append_json_string(out_, text);
  return *this;
}

json_writer& json_writer::int64(std::int64_t number) {
  before_value();
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof digits, number);
  out_.append(digits, result.ptr);
  return *this;
}

json_writer& json_writer::uint64(std::uint64_t number) {
  before_value();
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof digits, number);
  out_.append(digits, result.ptr);
  return *this;
}

json_writer& json_writer::boolean(bool flag) {
  before_value();
  if (flag)
    out_.append("true", 4);
  else
    out_.append("false", 5);
  return *this;
}

json_writer& json_writer::null() {
  before_value();
  out_.append("null", 4);
  return *this;
}

json_writer& json_writer::raw(std::string_view json) {
  STEWARD_DEBUG_ASSERT(!json.empty());
  before_value();
  out_.append(json);
  return *this;
}

} // namespace steward::core
