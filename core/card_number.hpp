#pragma once

// Detects payment card numbers (PANs) in text, so that steward never stores one: `PUT
// /v1/users/{id}/payment_method` takes a tokenised PSP reference only, and "anything that looks
// like a card number is rejected" (DESIGN 4.2). Run it over every string of that request (or the
// raw body: JSON punctuation does not join digits).
//
// What counts as looking like a card number:
//  - Digits are grouped: a group is a maximal run of ASCII digits; consecutive groups belong to one
//    run when exactly one space or `-` separates them (`4111 1111 1111 1111`, `5555-5555-5555-4444`,
//    `3782 822463 10005`). Two separators, or any other byte, end a run.
//  - A candidate is one or more consecutive whole groups of a run holding 12 to 19 digits in all
//    (ISO/IEC 7812 PAN lengths), and it matches when those digits pass the Luhn check.
//  - Candidates are whole groups so that a card number written next to other numbers is still
//    found (`4111 1111 1111 1111 12/27`), while a long unbroken digit string is judged as a whole:
//    trying every 12-19 digit window inside it would flag about one random window in ten, i.e.
//    nearly every long identifier. So 20 digits in a row are not a card number.
//
// False positives are possible by design (a numeric 16-digit PSP reference passes Luhn one time
// in ten); they cost a 400 that names the field, which is the safe side. There is no IIN (brand
// prefix) filter: brands change, and a missed PAN is the expensive error.

#include <cstddef>
#include <string_view>

namespace steward::core {

/// Fewest and most digits of a payment card number (ISO/IEC 7812-1).
inline constexpr std::size_t card_number_digits_min = 12;
inline constexpr std::size_t card_number_digits_max = 19;

/// Where a card number was found.
struct card_number_match {
  bool found = false;
  std::size_t position = 0; ///< byte offset of its first digit
  std::size_t length = 0;   ///< bytes from its first to its last digit, separators included
};

/// The first card number in `text` (lowest position; at that position the fewest groups), or
/// `found == false`.
card_number_match find_card_number(std::string_view text) noexcept;

/// Shorthand for `find_card_number(text).found`.
bool contains_card_number(std::string_view text) noexcept;

/// The Luhn (mod 10) check over the ASCII digits of `text`, ignoring every other byte. False
/// when there is no digit.
bool luhn_valid(std::string_view text) noexcept;

} // namespace steward::core
