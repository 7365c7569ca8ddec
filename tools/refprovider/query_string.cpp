#include "tools/refprovider/query_string.hpp"

#include "core/hex.hpp"
#include "core/query_string.hpp"

namespace steward::refprovider {

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size())
        return std::nullopt;
      int high = core::hex_value(text[i + 1]);
      int low = core::hex_value(text[i + 2]);
      if (high < 0 || low < 0)
        return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> query_parameter(std::string_view query, std::string_view name,
                                           bool* present) {
  if (present)
    *present = false;
  while (auto pair = core::next_query_pair(query)) {
    if (pair->name == name) {
      if (present)
        *present = true;
      return percent_decode(pair->value);
    }
  }
  return std::nullopt;
}

} // namespace steward::refprovider
