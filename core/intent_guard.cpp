#include "core/intent_guard.hpp"

#include "core/assert.hpp"
#include "core/limits.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <vector>

namespace steward::core {

namespace {

constexpr std::size_t domain_bytes_max = 253;
constexpr std::size_t label_bytes_max = 63;
/// Raw input read at most: a UTF-8 name whose A-label form fits in 253 bytes is far shorter.
constexpr std::size_t input_bytes_max = 1024;
constexpr std::string_view ace_prefix = "xn--";

// --- Punycode (RFC 3492 5, 6) --------------------------------------------------------------------

constexpr std::uint32_t base = 36;
constexpr std::uint32_t tmin = 1;
constexpr std::uint32_t tmax = 26;
constexpr std::uint32_t skew = 38;
constexpr std::uint32_t damp = 700;
constexpr std::uint32_t initial_bias = 72;
constexpr std::uint32_t initial_n = 128;
constexpr std::uint32_t max_int = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint32_t code_point_max = 0x10FFFF;

std::uint32_t adapt(std::uint32_t delta, std::uint32_t points, bool first) {
  delta = first ? delta / damp : delta / 2;
  delta += delta / points;
  std::uint32_t k = 0;
  while (delta > ((base - tmin) * tmax) / 2) {
    delta /= base - tmin;
    k += base;
  }
  return k + (base - tmin + 1) * delta / (delta + skew);
}

char encode_digit(std::uint32_t digit) {
  return static_cast<char>(digit < 26 ? 'a' + digit : '0' + (digit - 26));
}

std::uint32_t decode_digit(char c) {
  if (c >= 'a' && c <= 'z') return static_cast<std::uint32_t>(c - 'a');
  if (c >= '0' && c <= '9') return static_cast<std::uint32_t>(c - '0' + 26);
  return base; // not a digit
}

std::uint32_t threshold(std::uint32_t k, std::uint32_t bias) {
  if (k <= bias) return tmin;
  if (k >= bias + tmax) return tmax;
  return k - bias;
}

bool is_surrogate(char32_t c) { return c >= 0xD800 && c <= 0xDFFF; }

// Non-ASCII code points that are no letter of any script: controls, spaces, invisible format
// characters, dot-likes that browsers treat as label separators, private use, non-characters.
bool is_disallowed(char32_t c) {
  return (c >= 0x80 && c <= 0xA0) || c == 0xAD || (c >= 0x2000 && c <= 0x200F) ||
         (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x206F) || c == 0x3000 ||
         c == 0x3002 || (c >= 0xE000 && c <= 0xF8FF) || c == 0xFEFF || c == 0xFF0E ||
         c == 0xFF61 || (c >= 0xFFF0 && c <= 0xFFFF) || (c & 0xFFFE) == 0xFFFE;
}

// --- Characters ----------------------------------------------------------------------------------

bool is_ldh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
bool decode_utf8(std::string_view text, std::u32string& out) {
  out.clear();
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    char32_t c = 0;
    char32_t minimum = 0;
    if (lead < 0x80) {
      length = 1;
      c = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      c = lead & 0x1F;
      minimum = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      c = lead & 0x0F;
      minimum = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      c = lead & 0x07;
      minimum = 0x10000;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t j = 1; j < length; ++j) {
      const auto next = static_cast<unsigned char>(text[i + j]);
      if ((next & 0xC0) != 0x80) return false;
      c = (c << 6) | (next & 0x3F);
    }
    if (c < minimum || c > code_point_max || is_surrogate(c)) return false;
    out += c;
    i += length;
  }
  return true;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// Homoglyphs that look like one lowercase Latin letter, sorted by code point. A selection of the
// most abused ones (Latin with diacritics, Greek, Cyrillic, IPA), after Unicode's confusables data.
struct homoglyph {
  char32_t code_point;
  char latin;
};
constexpr homoglyph homoglyphs[] = {
  {0x00C0, 'a'}, {0x00C1, 'a'}, {0x00C2, 'a'}, {0x00C3, 'a'}, {0x00C4, 'a'}, {0x00C5, 'a'},
  {0x00C7, 'c'}, {0x00C8, 'e'}, {0x00C9, 'e'}, {0x00CA, 'e'}, {0x00CB, 'e'}, {0x00CC, 'i'},
  {0x00CD, 'i'}, {0x00CE, 'i'}, {0x00CF, 'i'}, {0x00D1, 'n'}, {0x00D2, 'o'}, {0x00D3, 'o'},
  {0x00D4, 'o'}, {0x00D5, 'o'}, {0x00D6, 'o'}, {0x00D8, 'o'}, {0x00D9, 'u'}, {0x00DA, 'u'},
  {0x00DB, 'u'}, {0x00DC, 'u'}, {0x00DD, 'y'}, {0x00E0, 'a'}, {0x00E1, 'a'}, {0x00E2, 'a'},
  {0x00E3, 'a'}, {0x00E4, 'a'}, {0x00E5, 'a'}, {0x00E7, 'c'}, {0x00E8, 'e'}, {0x00E9, 'e'},
  {0x00EA, 'e'}, {0x00EB, 'e'}, {0x00EC, 'i'}, {0x00ED, 'i'}, {0x00EE, 'i'}, {0x00EF, 'i'},
  {0x00F1, 'n'}, {0x00F2, 'o'}, {0x00F3, 'o'}, {0x00F4, 'o'}, {0x00F5, 'o'}, {0x00F6, 'o'},
  {0x00F8, 'o'}, {0x00F9, 'u'}, {0x00FA, 'u'}, {0x00FB, 'u'}, {0x00FC, 'u'}, {0x00FD, 'y'},
  {0x00FF, 'y'}, {0x0101, 'a'}, {0x0103, 'a'}, {0x0105, 'a'}, {0x0107, 'c'}, {0x010D, 'c'},
  {0x0113, 'e'}, {0x0117, 'e'}, {0x0119, 'e'}, {0x011B, 'e'}, {0x012B, 'i'}, {0x012F, 'i'},
  {0x0131, 'i'}, {0x0142, 'l'}, {0x0144, 'n'}, {0x0148, 'n'}, {0x014D, 'o'}, {0x0151, 'o'},
  {0x0159, 'r'}, {0x015B, 's'}, {0x0161, 's'}, {0x0163, 't'}, {0x016B, 'u'}, {0x016F, 'u'},
  {0x0171, 'u'}, {0x017A, 'z'}, {0x017C, 'z'}, {0x017E, 'z'}, {0x0251, 'a'}, {0x0261, 'g'},
  {0x0269, 'i'}, {0x0391, 'a'}, {0x0392, 'b'}, {0x0395, 'e'}, {0x0396, 'z'}, {0x0397, 'h'},
  {0x0399, 'i'}, {0x039A, 'k'}, {0x039C, 'm'}, {0x039D, 'n'}, {0x039F, 'o'}, {0x03A1, 'p'},
  {0x03A4, 't'}, {0x03A5, 'y'}, {0x03A7, 'x'}, {0x03B1, 'a'}, {0x03B3, 'y'}, {0x03B5, 'e'},
  {0x03B9, 'i'}, {0x03BA, 'k'}, {0x03BD, 'v'}, {0x03BF, 'o'}, {0x03C1, 'p'}, {0x03C4, 't'},
  {0x03C5, 'u'}, {0x03C7, 'x'}, {0x03C9, 'w'}, {0x0405, 's'}, {0x0406, 'i'}, {0x0408, 'j'},
  {0x0410, 'a'}, {0x0412, 'b'}, {0x0415, 'e'}, {0x041A, 'k'}, {0x041C, 'm'}, {0x041D, 'h'},
  {0x041E, 'o'}, {0x0420, 'p'}, {0x0421, 'c'}, {0x0422, 't'}, {0x0425, 'x'}, {0x0430, 'a'},
  {0x0435, 'e'}, {0x043E, 'o'}, {0x0440, 'p'}, {0x0441, 'c'}, {0x0443, 'y'}, {0x0445, 'x'},
  {0x0450, 'e'}, {0x0451, 'e'}, {0x0455, 's'}, {0x0456, 'i'}, {0x0457, 'i'}, {0x0458, 'j'},
  {0x04BB, 'h'}, {0x04CF, 'l'}, {0x0501, 'd'}, {0x051B, 'q'}, {0x051D, 'w'},
};

constexpr bool homoglyphs_sorted() {
  for (std::size_t i = 1; i < std::size(homoglyphs); ++i)
    if (homoglyphs[i - 1].code_point >= homoglyphs[i].code_point) return false;
  return true;
}
static_assert(homoglyphs_sorted(), "binary search needs the table sorted");

// The Latin letter a code point looks like, or 0 when it is not in the table.
char latin_lookalike(char32_t c) {
  if (c >= 0xFF41 && c <= 0xFF5A) return static_cast<char>('a' + (c - 0xFF41)); // fullwidth a-z
  if (c >= 0xFF21 && c <= 0xFF3A) return static_cast<char>('a' + (c - 0xFF21)); // fullwidth A-Z
  if (c >= 0xFF10 && c <= 0xFF19) return static_cast<char>('0' + (c - 0xFF10)); // fullwidth 0-9
  const auto found =
    std::lower_bound(std::begin(homoglyphs), std::end(homoglyphs), c,
                     [](const homoglyph& entry, char32_t key) { return entry.code_point < key; });
  return found != std::end(homoglyphs) && found->code_point == c ? found->latin : '\0';
}

// --- Domains -------------------------------------------------------------------------------------

std::vector<std::string_view> split_labels(std::string_view domain) {
  std::vector<std::string_view> labels;
  std::size_t begin = 0;
  while (true) {
    const std::size_t dot = domain.find('.', begin);
    labels.push_back(domain.substr(begin, dot == std::string_view::npos ? dot : dot - begin));
    if (dot == std::string_view::npos) return labels;
    begin = dot + 1;
  }
}

// Normalises one label into `out` (appended); false when it is not a valid label.
bool normalize_label(std::string_view label, std::string& out) {
  if (label.empty() || label.size() > input_bytes_max) return false;
  const bool ascii = std::all_of(label.begin(), label.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  std::string a_label;
  if (ascii) {
    a_label.reserve(label.size());
    for (char c : label) a_label += ascii_lower(c);
    if (!std::all_of(a_label.begin(), a_label.end(), is_ldh)) return false;
  } else {
    std::u32string code_points;
    if (!decode_utf8(label, code_points)) return false;
    // The reserved hyphens of RFC 5891 4.2.3.1 apply to the U-label too.
    if (code_points.size() >= 4 && code_points[2] == U'-' && code_points[3] == U'-') return false;
    for (char32_t& c : code_points) {
      if (c >= 0x80) continue;
      c = static_cast<char32_t>(ascii_lower(static_cast<char>(c)));
      if (!is_ldh(static_cast<char>(c))) return false;
    }
    if (std::any_of(code_points.begin(), code_points.end(), is_disallowed)) return false;
    const std::optional<std::string> encoded = detail::punycode_encode(code_points);
    if (!encoded) return false;
    a_label = std::string(ace_prefix) + *encoded;
  }
  if (a_label.size() > label_bytes_max || a_label.front() == '-' || a_label.back() == '-')
    return false;
  // Hyphens in positions 3 and 4 are reserved for ACE prefixes (RFC 5891 4.2.3.1).
  if (a_label.size() >= 4 && a_label[2] == '-' && a_label[3] == '-') {
    if (!a_label.starts_with(ace_prefix)) return false;
    const std::optional<std::u32string> decoded =
      detail::punycode_decode(std::string_view(a_label).substr(ace_prefix.size()));
    // An A-label must decode, must hold something non-ASCII, and must be the one encoding of it.
    if (!decoded ||
        std::all_of(decoded->begin(), decoded->end(), [](char32_t c) { return c < 0x80; }) ||
        std::any_of(decoded->begin(), decoded->end(), is_disallowed) ||
        detail::punycode_encode(*decoded) != std::string_view(a_label).substr(ace_prefix.size()))
      return false;
  }
  out += a_label;
  return true;
}

// The public suffix as guessed in the header comment: how many labels at the end it spans.
std::size_t suffix_labels(const std::vector<std::string_view>& labels) {
  static constexpr std::string_view second_levels[] = {"ac", "co",  "com", "edu", "gov",
                                                       "ne", "net", "or",  "org"};
  if (labels.size() >= 3 && labels.back().size() == 2) {
    const std::string_view second = labels[labels.size() - 2];
    if (std::find(std::begin(second_levels), std::end(second_levels), second) !=
        std::end(second_levels))
      return 2;
  }
  return 1;
}

std::string join(std::span<const std::string_view> labels) {
  std::string out;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += '.';
    out += labels[i];
  }
  return out;
}

std::string without_separators(std::string_view text) {
  std::string out;
  for (char c : text)
    if (c != '-' && c != '.') out += c;
  return out;
}

// What the rules compare about one normalised domain, computed once per value.
struct domain_view {
  std::string full;
  std::vector<std::string> labels;
  std::string name;                     // labels left of the suffix, joined with dots
  std::string name_bare;                // `name` without hyphens and dots
  std::string name_key;                 // skeleton of `name` without hyphens and dots
};

domain_view view_of(std::string normalized) {
  domain_view view;
  view.full = std::move(normalized);
  const std::vector<std::string_view> labels = split_labels(view.full);
  view.labels.assign(labels.begin(), labels.end());
  const std::size_t name_labels = labels.size() - suffix_labels(labels);
  view.name = join(std::span(labels).first(name_labels));
  view.name_bare = without_separators(view.name);
  view.name_key = without_separators(detail::skeleton(view.name));
  return view;
}

bool ends_with_labels(const domain_view& outer, const domain_view& inner) {
  return outer.labels.size() > inner.labels.size() &&
         std::equal(inner.labels.rbegin(), inner.labels.rend(), outer.labels.rbegin());
}

bool starts_with_labels(const domain_view& outer, const domain_view& inner) {
  return outer.labels.size() > inner.labels.size() &&
         std::equal(inner.labels.begin(), inner.labels.end(), outer.labels.begin());
}

std::size_t typo_tolerance(std::size_t name_chars) {
  if (name_chars <= 3) return 0;
  if (name_chars <= 7) return 1;
  return 2;
}

constexpr std::size_t contains_key_chars_min = 5;

lookalike_rule resemblance(const domain_view& request, const domain_view& approved) {
  if (request.name == approved.name) return lookalike_rule::other_suffix;
  if (request.name_bare == approved.name_bare) return lookalike_rule::separators;
  if (request.name_key == approved.name_key) return lookalike_rule::confusable;
  if (ends_with_labels(request, approved) || ends_with_labels(approved, request) ||
      starts_with_labels(request, approved) ||
      (approved.name_key.size() >= contains_key_chars_min &&
       request.name_key.find(approved.name_key) != std::string::npos))
    return lookalike_rule::contains;
  const std::size_t tolerance = typo_tolerance(approved.name_key.size());
  if (tolerance > 0 && detail::edit_distance(request.name_key, approved.name_key) <= tolerance)
    return lookalike_rule::typo;
  return lookalike_rule::none;
}

} // namespace

// --- Public --------------------------------------------------------------------------------------

namespace detail {

std::optional<std::string> punycode_encode(std::u32string_view input) {
  if (input.size() > label_bytes_max * 4) return std::nullopt; // keeps every count in range
  std::string output;
  for (char32_t c : input)
    if (c < 0x80) output += static_cast<char>(c);
  const auto basic = static_cast<std::uint32_t>(output.size());
  std::uint32_t handled = basic;
  if (basic > 0) output += '-';
  std::uint32_t n = initial_n;
  std::uint32_t delta = 0;
  std::uint32_t bias = initial_bias;
  while (handled < input.size()) {
    std::uint32_t m = max_int;
    for (char32_t c : input)
      if (c >= n && c < m) m = c;
    if (m - n > (max_int - delta) / (handled + 1)) return std::nullopt;
    delta += (m - n) * (handled + 1);
    n = m;
    for (char32_t c : input) {
      if (c < n && ++delta == 0) return std::nullopt;
      if (c != n) continue;
      std::uint32_t q = delta;
      for (std::uint32_t k = base;; k += base) {
        const std::uint32_t t = threshold(k, bias);
        if (q < t) break;
        output += encode_digit(t + (q - t) % (base - t));
        q = (q - t) / (base - t);
      }
      output += encode_digit(q);
      bias = adapt(delta, handled + 1, handled == basic);
      delta = 0;
      ++handled;
    }
    ++delta;
    ++n;
  }
  return output;
}

std::optional<std::u32string> punycode_decode(std::string_view input) {
  std::u32string output;
  const std::size_t delimiter = input.rfind('-');
  std::size_t in = 0;
  if (delimiter != std::string_view::npos) {
    for (std::size_t j = 0; j < delimiter; ++j) {
      if (static_cast<unsigned char>(input[j]) >= 0x80) return std::nullopt;
      output += static_cast<char32_t>(input[j]);
    }
    in = delimiter + 1;
  }
  std::uint32_t n = initial_n;
  std::uint32_t i = 0;
  std::uint32_t bias = initial_bias;
  while (in < input.size()) {
    const std::uint32_t old_i = i;
    std::uint32_t w = 1;
    for (std::uint32_t k = base;; k += base) {
      if (in >= input.size()) return std::nullopt;
      const std::uint32_t digit = decode_digit(input[in++]);
      if (digit >= base) return std::nullopt;
      if (digit > (max_int - i) / w) return std::nullopt;
      i += digit * w;
      const std::uint32_t t = threshold(k, bias);
      if (digit < t) break;
      if (w > max_int / (base - t)) return std::nullopt;
      w *= base - t;
    }
    const auto points = static_cast<std::uint32_t>(output.size() + 1);
    bias = adapt(i - old_i, points, old_i == 0);
    if (i / points > max_int - n) return std::nullopt;
    n += i / points;
    i %= points;
    if (n > code_point_max || is_surrogate(n) || output.size() >= label_bytes_max)
      return std::nullopt;
    output.insert(output.begin() + i, static_cast<char32_t>(n));
    ++i;
  }
  return output;
}

std::string skeleton(std::string_view normalized) {
  std::string mapped;
  bool first_label = true;
  for (std::string_view label : split_labels(normalized)) {
    if (!first_label) mapped += '.';
    first_label = false;
    std::optional<std::u32string> decoded;
    if (label.starts_with(ace_prefix)) decoded = punycode_decode(label.substr(ace_prefix.size()));
    if (!decoded) {
      mapped += label;
      continue;
    }
    for (char32_t c : *decoded) {
      if (c < 0x80) {
        mapped += ascii_lower(static_cast<char>(c));
      } else if (const char latin = latin_lookalike(c)) {
        mapped += latin;
      } else {
        append_utf8(mapped, c); // unlike any ASCII letter, and unlike any other code point
      }
    }
  }
  std::string out;
  out.reserve(mapped.size());
  for (std::size_t i = 0; i < mapped.size(); ++i) {
    const char c = mapped[i];
    const char next = i + 1 < mapped.size() ? mapped[i + 1] : '\0';
    if (c == 'r' && next == 'n') {
      out += 'm';
      ++i;
    } else if (c == 'v' && next == 'v') {
      out += 'w';
      ++i;
    } else if (c == 'c' && next == 'l') {
      out += 'd';
      ++i;
    } else if (c == '0') {
      out += 'o';
    } else if (c == '1' || c == 'i') {
      out += 'l';
    } else {
      out += c;
    }
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Three rolling rows of the optimal-string-alignment matrix.
  std::vector<std::size_t> before(b.size() + 1);
  std::vector<std::size_t> previous(b.size() + 1);
  std::vector<std::size_t> current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      std::size_t best = std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        best = std::min(best, before[j - 2] + 1);
      current[j] = best;
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

} // namespace detail

std::optional<std::string> normalize_domain(std::string_view domain) {
  if (domain.empty() || domain.size() > input_bytes_max) return std::nullopt;
  if (domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty()) return std::nullopt;
  std::string out;
  std::size_t labels = 0;
  std::string_view last_label;
  for (std::string_view label : split_labels(domain)) {
    if (labels > 0) out += '.';
    const std::size_t start = out.size();
    if (!normalize_label(label, out)) return std::nullopt;
    last_label = std::string_view(out).substr(start);
    ++labels;
    if (out.size() > domain_bytes_max) return std::nullopt;
  }
  if (labels < 2) return std::nullopt;
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  if (std::all_of(last_label.begin(), last_label.end(), is_digit))
    return std::nullopt;
  return out;
}

intent_decision check_intent(std::string_view requested, std::span<const std::string> intents,
                             std::span<const std::string> approved) {
  intent_decision decision;
  std::optional<std::string> normalized = normalize_domain(requested);
  if (!normalized) return decision; // invalid
  decision.requested = *normalized;

  // Exact matches first, over every value: a long list must never hide an allowed one.
  std::vector<std::string> values;
  values.reserve(intents.size() + approved.size());
  for (auto list : {intents, approved}) {
    for (const std::string& value : list) {
      std::optional<std::string> candidate = normalize_domain(value);
      if (!candidate) continue;
      if (*candidate == decision.requested) {
        decision.verdict = intent_verdict::allowed;
        return decision;
      }
      if (values.size() < limits::intent_values_max) values.push_back(std::move(*candidate));
    }
  }

  const domain_view request = view_of(std::move(*normalized));
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (std::string& value : values) {
    const domain_view candidate = view_of(std::move(value));
    const lookalike_rule rule = resemblance(request, candidate);
    if (rule == lookalike_rule::none) continue;
    const std::size_t distance = detail::edit_distance(request.full, candidate.full);
    if (distance < best_distance) {
      best_distance = distance;
      decision.expected = candidate.full;
      decision.rule = rule;
    }
  }
  decision.verdict =
    decision.expected.empty() ? intent_verdict::not_intended : intent_verdict::lookalike;
  return decision;
}

api_error to_api_error(intent_verdict verdict) noexcept {
  switch (verdict) {
  case intent_verdict::lookalike:
  case intent_verdict::not_intended: return api_error::intent_mismatch;
  case intent_verdict::invalid: return api_error::config_invalid;
  case intent_verdict::allowed: break;
  }
  STEWARD_SURVIVABLE(verdict != intent_verdict::allowed);
  return api_error::internal;
}

std::string_view describe(intent_verdict verdict) noexcept {
  switch (verdict) {
  case intent_verdict::allowed: return "allowed";
  case intent_verdict::lookalike: return "lookalike";
  case intent_verdict::not_intended: return "not_intended";
  case intent_verdict::invalid: return "invalid";
  }
  return "unknown";
}

std::string_view describe(lookalike_rule rule) noexcept {
  switch (rule) {
  case lookalike_rule::none: return "none";
  case lookalike_rule::other_suffix: return "other_suffix";
  case lookalike_rule::separators: return "separators";
  case lookalike_rule::confusable: return "confusable";
  case lookalike_rule::contains: return "contains";
  case lookalike_rule::typo: return "typo";
  }
  return "unknown";
}

} // namespace steward::core
