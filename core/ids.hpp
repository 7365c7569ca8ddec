#pragma once

// Object ids (DESIGN 3): a type prefix and 128 random bits, e.g. `usr_3xK9...`. The random part is
// 22 base62 characters (62^22 > 2^128), left-padded with '0', so every id of a kind has the same
// length, sorts nowhere in particular, and is URL-safe without escaping. 128 bits make collisions
// and guessing both hopeless, which matters because an id of another user's object must reveal
// nothing (DESIGN 4.5: 404 either way).
//
// Charges are the exception in length and order: a new charge id carries its minting millisecond
// in 8 base62 characters between the prefix and the same random part, so charge ids sort by time
// (`make_id_at`; docs/ledger.md, "Ids"). Charge ids of the older, short form stay valid.
//
// Randomness is injected: tests pass a seeded source so runs replay; production passes
// `openssl_random`, which reads the kernel CSPRNG through OpenSSL's RAND_bytes.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace steward::core {

/// The kinds of object that carry a generated id.
enum class id_kind : std::uint8_t {
  user,          ///< usr_
  session,       ///< ses_
  payment_token, ///< ptk_
  hold,          ///< hld_
  charge,        ///< chg_
  refund,        ///< rfd_ (not in DESIGN 3's table; refunds are objects of their own)
  resource,      ///< res_
  approval,      ///< apr_
  link,          ///< lnk_
  event,         ///< evt_
};

inline constexpr std::size_t id_kind_count = static_cast<std::size_t>(id_kind::event) + 1;

/// Bytes of every prefix, the underscore included.
inline constexpr std::size_t id_prefix_bytes = 4;
/// Base62 characters that encode the 128 random bits.
inline constexpr std::size_t id_random_chars = 22;
/// Bytes of every id that is not time-ordered.
inline constexpr std::size_t id_bytes = id_prefix_bytes + id_random_chars;
/// Base62 characters of a time-ordered id's time: milliseconds since the Unix epoch, fixed width
/// (62^8 ms is about 6 900 years), between the prefix and the random part.
inline constexpr std::size_t id_time_chars = 8;
/// Bytes of a time-ordered id, e.g. `chg_` + 8 time characters + 22 random ones.
inline constexpr std::size_t time_ordered_id_bytes = id_bytes + id_time_chars;
/// Bytes of the longest id of any kind.
inline constexpr std::size_t id_bytes_max = time_ordered_id_bytes;

/// The prefix of `kind`, underscore included, e.g. "chg_".
std::string_view prefix(id_kind kind) noexcept;

/// A supplier of random bytes. `fill` writes exactly `out.size()` bytes and returns true, or
/// returns false when it cannot (entropy source failure); it is then the caller's operating error.
class random_source {
public:
  virtual ~random_source() = default;
  virtual bool fill(std::span<std::uint8_t> out) noexcept = 0;
};

/// Production randomness: OpenSSL's RAND_bytes (a CSPRNG seeded from the kernel). Thread-safe.
/// Requests of up to 64 bytes are served from a per-thread buffer of its output, drawn 1 KiB at a
/// time (wiped as handed out, and dropped in a forked child).
class openssl_random final : public random_source {
public:
  bool fill(std::span<std::uint8_t> out) noexcept override;
};

/// The id's random part: 16 bytes, most significant first.
using id_bits = std::array<std::uint8_t, 16>;

/// The id of `kind` whose random part is `bits`. Pure; `make_id` uses it.
std::string format_id(id_kind kind, const id_bits& bits);

/// A fresh id of `kind`, or empty when `random` fails.
std::optional<std::string> make_id(id_kind kind, random_source& random);

/// Whether new ids of `kind` are minted time-ordered: only charges. A charge's id is the key of
/// the journal's one index entry per charge that nothing else orders (its `chg:` alias, which a
/// refund reads); with the time in front, each commit appends those entries to the index's last
/// pages instead of dirtying a random page per charge (docs/ledger.md, "Ids").
bool is_time_ordered(id_kind kind) noexcept;

/// The time-ordered id of `kind` minted at `unix_ms` whose random part is `bits`: the prefix, the
/// time in `id_time_chars` base62 characters, then the random part as in `format_id`. Ids minted
/// in different milliseconds sort by time, bytewise. Pure.
std::string format_time_ordered_id(id_kind kind, std::uint64_t unix_ms, const id_bits& bits);

/// A fresh id of `kind` minted at `unix_ms` (Unix milliseconds), or empty when `random` fails:
/// time-ordered (`format_time_ordered_id`) when `kind` is, else as `make_id`, the time unused.
/// The time only orders the journal's index entries, so callers pass the system clock's even
/// where a test clock decides expiries.
std::optional<std::string> make_id_at(id_kind kind, random_source& random, std::uint64_t unix_ms);

/// True when `text` is a well-formed id of `kind`: its prefix, then either exactly 22 base62
/// characters whose value is below 2^128 (`id_bytes` long in all), or, for a time-ordered kind,
/// 8 base62 time characters before those (`time_ordered_id_bytes`). Each value thus has exactly
/// one spelling. Charges minted before ids were time-ordered keep the short form, still valid.
bool is_valid(id_kind kind, std::string_view text) noexcept;

/// As above for a prefix given as text ("chg_"); false for a prefix that is not one of ours.
bool is_valid(std::string_view prefix, std::string_view text) noexcept;

/// The kind of a well-formed id, or empty. External input (a path segment, a JSON member) goes
/// through this or `is_valid` before it is used as a key.
std::optional<id_kind> parse_id(std::string_view text) noexcept;

/// The random part of a well-formed id of any kind (the time of a time-ordered one left out), or
/// empty.
std::optional<id_bits> id_value(std::string_view text) noexcept;

/// A provider's slug: `[a-z0-9][a-z0-9-]{0,31}` (`limits::provider_slug_bytes_max` bytes at most).
/// Slugs come from configuration and become a file name (`providers/SLUG.secret`), a URL segment, a
/// metric label and a ledger key, so one rule serves all of them: no case, no dots, no slashes.
bool is_valid_provider_slug(std::string_view slug) noexcept;

} // namespace steward::core
