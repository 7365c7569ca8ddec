#include "core/api_messages.hpp"

#include "core/card_number.hpp"
#include "core/hex.hpp"
#include "core/json_failure.hpp"
#include "core/query_string.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

namespace steward::core {

namespace {

json_error invalid(std::string pointer, std::string detail) {
  return json_failure(api_error::invalid_field, std::move(pointer), std::move(detail));
}

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

std::string pointer_to(std::string_view parent, std::string_view token) {
  std::string pointer(parent);
  pointer += '/';
  append_pointer_token(pointer, token);
  return pointer;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_visible_ascii(char c) { return c > 0x20 && c < 0x7f; }

bool all_visible_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), is_visible_ascii);
}

// Labels of a DNS name; `lowercase_only` rejects `A-Z` (intents), else either case is a letter
// (the domain of an email address).
bool is_valid_dns_name(std::string_view name, bool lowercase_only) {
  if (name.empty() || name.size() > domain_bytes_max) return false;
  std::size_t labels = 0;
  std::string_view last_label;
  std::size_t begin = 0;
  while (true) {
    std::size_t end = name.find('.', begin);
    std::string_view label =
      name.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin);
    if (label.empty() || label.size() > domain_label_bytes_max) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      bool letter = is_lower(c) || (!lowercase_only && is_upper(c));
      if (!letter && !is_digit(c) && c != '-') return false;
    }
    ++labels;
    last_label = label;
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  if (labels < 2) return false;
  return !std::all_of(last_label.begin(), last_label.end(), is_digit);
}

bool is_email_atext(char c) {
  if (is_lower(c) || is_upper(c) || is_digit(c)) return true;
  if (static_cast<unsigned char>(c) >= 0x80) return true; // UTF-8 (RFC 6531); the reader checked it
  return std::string_view("!#$%&'*+/=?^_`{|}~-").find(c) != std::string_view::npos;
}

// What a string-typed JSON value looks like, for "expected object, got string" on a raw member.
std::string_view raw_type_name(std::string_view json) {
  switch (json.empty() ? '\0' : json.front()) {
  case '{': return "object";
  case '[': return "array";
  case '"': return "string";
  case 't':
  case 'f': return "boolean";
  case 'n': return "null";
  default: return "number";
  }
}

// Index just past the JSON string starting at `at` (which holds its opening quote).
std::size_t skip_string(std::string_view json, std::size_t at) {
  for (std::size_t i = at + 1; i < json.size(); ++i) {
    if (json[i] == '\\')
      ++i;
    else if (json[i] == '"')
      return i + 1;
  }
  return json.size();
}

// The member names of a compact, already validated JSON object (as `raw_json` holds it), raw:
// escapes are left in place. Values are skipped.
std::vector<std::string_view> object_member_names(std::string_view json) {
  std::vector<std::string_view> names;
  std::size_t i = 1; // past '{'
  while (i < json.size() && json[i] == '"') {
    std::size_t end = skip_string(json, i);
    names.push_back(json.substr(i + 1, end - i - 2));
    i = end + 1; // past ':'
    std::size_t depth = 0;
    while (i < json.size()) {
      char c = json[i];
      if (depth == 0 && (c == ',' || c == '}')) break;
      if (c == '"') {
        i = skip_string(json, i);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') --depth;
      ++i;
    }
    if (i < json.size() && json[i] == ',') ++i;
  }
  return names;
}

// Prefixes the pointer of an error found while decoding a member's own text.
json_error nested(json_error error, std::string_view parent) {
  error.pointer.insert(0, parent);
  return error;
}

bool is_psp_char(char c) { return is_lower(c) || is_digit(c) || c == '_' || c == '-'; }

} // namespace

// --- Syntax of names ------------------------------------------------------------------------------

bool is_valid_domain(std::string_view domain) noexcept { return is_valid_dns_name(domain, true); }

bool is_valid_email(std::string_view email) noexcept {
  if (email.size() > email_bytes_max) return false;
  std::size_t at = email.rfind('@');
  if (at == std::string_view::npos) return false;
  std::string_view local = email.substr(0, at);
  std::string_view domain = email.substr(at + 1);
  if (local.empty() || local.size() > email_local_part_bytes_max) return false;
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return false;
  for (char c : local)
    if (c != '.' && !is_email_atext(c)) return false; // also rejects a second '@'
  return is_valid_dns_name(domain, false);
}

bool is_valid_platform_ref(std::string_view ref) noexcept {
  if (ref.empty() || ref.size() > platform_ref_bytes_max) return false;
  return std::all_of(ref.begin(), ref.end(), [](char c) { return is_visible_ascii(c) && c != '/'; });
}

// --- Requests --------------------------------------------------------------------------------------

json_error decode_user_upsert_request(std::string_view body, user_upsert_request& out) {
  out = {};
  json_error error = decode(body, padding_readable, [&](object_reader& o) {
    o.optional("email", out.email, email_bytes_max);
    o.optional("email_verified", out.email_verified);
    o.optional("name", out.name, user_name_bytes_max);
  });
  if (error) return error;
  if (out.email && !is_valid_email(*out.email))
    return invalid("/email", "must be an email address such as ada@example.com");
  return {};
}

json_error decode_session_create_request(std::string_view body, session_create_request& out) {
  out = {};
  money_field budget;
  json_error error = decode(body, padding_readable, [&](object_reader& o) {
    o.required("run_budget",
               [&](object_reader& m) { declare_money(m, budget, amount_sign::non_negative); });
    o.optional("ttl_seconds", out.ttl_seconds, 1, session_ttl_seconds_max);
    o.optional("intents", [&](object_reader& i) {
      i.optional("domains", out.intent_domains, intent_domains_max, domain_bytes_max);
    });
    o.optional("label", out.label, session_label_bytes_max);
  });
  if (error) return error;
  if (json_error e = resolve_money(budget, "/run_budget", out.run_budget)) return e;
  for (std::size_t i = 0; i < out.intent_domains.size(); ++i) {
    const std::string& domain = out.intent_domains[i];
    std::string pointer = "/intents/domains/" + std::to_string(i);
    if (std::any_of(domain.begin(), domain.end(), is_upper))
      return invalid(pointer, "must be lowercase");
    if (!is_valid_domain(domain))
      return invalid(pointer, "must be a domain name such as example.com");
    for (std::size_t j = 0; j < i; ++j)
      if (out.intent_domains[j] == domain)
        return invalid(pointer, "duplicate of /intents/domains/" + std::to_string(j));
  }
  return {};
}

namespace {
// Strings of a payment method are read with this generous bound so that a card number is reported
// as one (the safe message) before its length or syntax is.
constexpr std::size_t payment_method_member_bytes_read_max = 1024;
} // namespace

json_error decode_payment_method_request(std::string_view body, payment_method_request& out) {
  out = {};
  constexpr std::size_t bound = payment_method_member_bytes_read_max;
  json_error error = decode(body, padding_readable, [&](object_reader& o) {
    o.required("psp", out.psp, bound);
    o.required("reference", out.reference, bound);
    o.optional("last4", out.last4, bound);
    o.optional("brand", out.brand, bound);
  });
  if (error) return error;

  // Never store anything that looks like a PAN, whichever member carries it. The detail does not
  // quote the value: it must not end up in logs either.
  const std::pair<std::string_view, const std::string*> members[] = {
    {"/psp", &out.psp},
    {"/reference", &out.reference},
    {"/last4", out.last4 ? &*out.last4 : nullptr},
    {"/brand", out.brand ? &*out.brand : nullptr},
  };
  for (const auto& [pointer, value] : members)
    if (value && contains_card_number(*value))
      return invalid(std::string(pointer),
                     "looks like a card number; card numbers are never accepted, send the PSP's "
                     "token for the payment method (e.g. pm_...)");

  if (out.psp.empty() || out.psp.size() > psp_bytes_max ||
      !std::all_of(out.psp.begin(), out.psp.end(), is_psp_char))
    return invalid("/psp", "must be 1 to 32 of a-z, 0-9, '_' and '-', e.g. \"stripe\"");
  if (out.reference.empty() || out.reference.size() > payment_reference_bytes_max ||
      !all_visible_ascii(out.reference))
    return invalid("/reference", "must be 1 to 255 visible ASCII characters (the PSP's token)");
  if (out.last4 && (out.last4->size() != 4 || !std::all_of(out.last4->begin(), out.last4->end(),
                                                            is_digit)))
    return invalid("/last4", "must be exactly four digits");
  if (out.brand && (out.brand->empty() || out.brand->size() > card_brand_bytes_max ||
                    !all_visible_ascii(*out.brand)))
    return invalid("/brand", "must be 1 to 32 visible ASCII characters, e.g. \"visa\"");
  return {};
}

json_error decode_limits_request(std::string_view body, limits_request& out) {
  out = {};
  nullable<money_field> monthly;
  raw_json providers;
  json_error error = decode(body, padding_readable, [&](object_reader& o) {
    o.optional("monthly", monthly, [](object_reader& m, money_field& field) {
      declare_money(m, field, amount_sign::non_negative);
    });
    o.optional("providers", providers);
  });
  if (error) return error;

  out.monthly.present = monthly.present;
  out.monthly.value.reset();
  if (monthly.value) {
    if (json_error e = resolve_money(*monthly.value, "/monthly", out.monthly.value.emplace()))
      return e;
  }

  out.providers.clear();
  if (providers.text.empty()) return {}; // absent
  if (providers.text.front() != '{')
    return invalid("/providers",
                   "expected object, got " + std::string(raw_type_name(providers.text)));

  // The member names are provider slugs, which a decoder cannot declare in advance: read the names
  // from the validated compact text, check them, then decode the values by name.
  std::vector<std::string_view> names = object_member_names(providers.text);
  if (names.size() > limits_providers_max)
    return invalid("/providers", "at most " + std::to_string(limits_providers_max) +
                                   " providers in one request");
  for (std::string_view name : names) {
    // A name with an escape in its compact form holds a quote, backslash or control character:
    // never a slug.
    if (name.find('\\') != std::string_view::npos)
      return invalid("/providers", "member names must be provider slugs");
    if (!is_valid_provider_slug(name))
      return invalid(pointer_to("/providers", name),
                     "must be a provider slug: 1 to 32 of a-z, 0-9 and '-'");
  }
  std::vector<nullable<money_field>> caps(names.size());
  error = decode(providers.text, [&](object_reader& o) {
    for (std::size_t i = 0; i < names.size(); ++i)
      o.optional(names[i], caps[i], [](object_reader& m, money_field& field) {
        declare_money(m, field, amount_sign::non_negative);
      });
  });
  if (error) return nested(std::move(error), "/providers");

  out.providers.reserve(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    provider_cap_change& change = out.providers.emplace_back();
    change.provider = std::string(names[i]);
    if (caps[i].value) {
      if (json_error e = resolve_money(*caps[i].value, pointer_to("/providers", names[i]),
                                       change.cap.emplace()))
        return e;
    }
  }
  std::sort(out.providers.begin(), out.providers.end(),
            [](const auto& a, const auto& b) { return a.provider < b.provider; });
  return {};
}

json_error decode_payment_token_create_request(std::string_view body,
                                               payment_token_create_request& out) {
  out = {};
  money_field max_amount;
  json_error error = decode(body, padding_readable, [&](object_reader& o) {
    o.required("provider", out.provider, limits::provider_slug_bytes_max);
    o.required("max_amount",
               [&](object_reader& m) { declare_money(m, max_amount, amount_sign::positive); });
    o.required("expires_at", out.expires_at, std::int64_t{1}, unix_seconds_max);
    o.optional("single_use", out.single_use);
    o.optional("session", out.session, id_bytes);
  });
  if (error) return error;
  if (!is_valid_provider_slug(out.provider))
    return invalid("/provider", "must be a provider slug: 1 to 32 of a-z, 0-9 and '-'");
  if (out.session && !is_valid(id_kind::session, *out.session))
    return invalid("/session", "must be a session id (ses_...)");
  return resolve_money(max_amount, "/max_amount", out.max_amount);
}

std::string_view to_string(kill_scope scope) noexcept {
  switch (scope) {
  case kill_scope::session: return "session";
  case kill_scope::user: return "user";
  case kill_scope::provider: return "provider";
  case kill_scope::global: return "global";
  }
  return "global";
}

std::optional<kill_scope> parse_kill_scope(std::string_view text) noexcept {
  for (kill_scope scope :
       {kill_scope::session, kill_scope::user, kill_scope::provider, kill_scope::global})
    if (text == to_string(scope)) return scope;
  return std::nullopt;
}

json_error decode_kill_request(std::string_view body, kill_request& out) {
  out = {};
  std::string scope;
  std::optional<std::string> id;
  json_error error = decode(body, padding_readable, [&](object_reader& o) {
    o.required("scope", scope, 16);
    o.optional("id", id, 64);
  });
  if (error) return error;
  auto parsed = parse_kill_scope(scope);
  if (!parsed) return invalid("/scope", "must be one of session, user, provider, global");
  out.scope = *parsed;
  out.id.clear();
  if (out.scope == kill_scope::global) {
    if (id) return invalid("/id", "must be absent for scope global");
    return {};
  }
  if (!id) return invalid("/id", "required for scope " + std::string(to_string(out.scope)));
  switch (out.scope) {
  case kill_scope::session:
    if (!is_valid(id_kind::session, *id)) return invalid("/id", "must be a session id (ses_...)");
    break;
  case kill_scope::user:
    if (!is_valid(id_kind::user, *id)) return invalid("/id", "must be a user id (usr_...)");
    break;
  case kill_scope::provider:
    if (!is_valid_provider_slug(*id)) return invalid("/id", "must be a provider slug");
    break;
  case kill_scope::global: break;
  }
  out.id = std::move(*id);
  return {};
}

json_error decode_charge_request(std::string_view body, charge_request& out) {
  out = {};
  std::string currency_code;
  json_error error = decode(body, padding_readable, [&](object_reader& o) {
    o.required("payment_token", out.payment_token, id_bytes);
    o.required("amount", out.amount.amount, std::int64_t{1}, limits::money_amount_max);
    o.required("currency", currency_code, currency_field_bytes_max);
    o.required("description", out.description, limits::charge_description_bytes_max);
    o.optional("resource", out.resource, id_bytes);
    o.optional("usage", out.usage, [](object_reader& u, charge_usage& usage) {
      u.required("quantity", usage.quantity, std::int64_t{1}, limits::money_amount_max);
      u.required("unit", usage.unit, usage_unit_bytes_max);
    });
  });
  if (error) return error;
  if (!is_valid(id_kind::payment_token, out.payment_token))
    return invalid("/payment_token", "must be a payment token id (ptk_...)");
  auto code = parse_currency(currency_code);
  if (!code)
    return json_failure(api_error::unsupported_currency, "/currency",
                       "unsupported currency; use a lowercase ISO 4217 code such as \"usd\"");
  out.amount.code = *code;
  if (out.resource && !is_valid(id_kind::resource, *out.resource))
    return invalid("/resource", "must be a resource id (res_...)");
  if (out.usage && (out.usage->unit.empty() || !all_visible_ascii(out.usage->unit)))
    return invalid("/usage/unit", "must be 1 to 64 visible ASCII characters, e.g. \"gb_month\"");
  return {};
}

json_error decode_refund_request(std::string_view body, refund_request& out) {
  out = {};
  return decode(body, padding_readable, [&](object_reader& o) {
    o.required("amount", out.amount, std::int64_t{1}, limits::money_amount_max);
  });
}

json_error decode_approval_decision_request(std::string_view body,
                                            approval_decision_request& out) {
  out = {};
  json_error error = decode(body, padding_readable, [&](object_reader& o) {
    o.required("decided_by", out.decided_by, decided_by_bytes_max);
    o.optional("note", out.note, approval_note_bytes_max);
  });
  if (error) return error;
  if (out.decided_by.empty()) return invalid("/decided_by", "must not be empty");
  return {};
}

// --- Pagination ---------------------------------------------------------------------------------

bool percent_decode(std::string_view text, std::string& out, bool plus_is_space) {
  out.clear();
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return false;
      int high = hex_value(text[i + 1]);
      int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) return false;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return true;
}

std::string percent_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::optional<std::uint64_t> query_number(std::string_view query, std::string_view name,
                                          std::uint64_t fallback, std::uint64_t max) {
  std::optional<std::uint64_t> found;
  while (auto pair = next_query_pair(query)) {
    if (pair->name != name)
      continue;
    if (found || !pair->has_value)
      return std::nullopt;
    std::string_view const digits = pair->value;
    std::uint64_t value = 0;
    auto const [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
        value > max)
      return std::nullopt;
    found = value;
  }
  return found.value_or(fallback);
}

json_error parse_page_query(std::string_view query, std::optional<id_kind> kind,
                            page_request& out) {
  out = page_request{};
  if (query.size() > query_bytes_max)
    return invalid("", "query string longer than " + std::to_string(query_bytes_max) + " bytes");
  bool seen_limit = false;
  bool seen_starting_after = false;
  std::size_t parameters = 0;
  std::string name;
  std::string value;
  while (auto pair = next_query_pair(query)) {
    if (pair->name.empty() && !pair->has_value) continue; // `a=1&&b=2`
    if (++parameters > query_parameters_max)
      return invalid("", "more than " + std::to_string(query_parameters_max) +
                           " query parameters");
    std::string_view raw_name = pair->name;
    std::string_view raw_value = pair->value;
    if (!percent_decode(raw_name, name, true))
      return invalid("", "malformed percent-encoding in the query string");
    bool is_limit = name == "limit";
    bool is_starting_after = name == "starting_after";
    if (!is_limit && !is_starting_after) continue; // the route's own parameters
    std::string pointer = "/" + name;
    if (!percent_decode(raw_value, value, true))
      return invalid(pointer, "malformed percent-encoding");
    if (is_limit) {
      if (std::exchange(seen_limit, true)) return invalid(pointer, "given twice");
      std::size_t limit = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), limit);
      if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() ||
          !std::all_of(value.begin(), value.end(), is_digit) || limit < 1 ||
          limit > page_limit_max)
        return invalid(pointer, "must be an integer from 1 to " + std::to_string(page_limit_max));
      out.limit = limit;
    } else {
      if (std::exchange(seen_starting_after, true)) return invalid(pointer, "given twice");
      auto id = parse_id(value);
      if (!id || (kind && *id != *kind))
        return invalid(pointer, kind ? "must be an id of the listed objects (" +
                                         std::string(prefix(*kind)) + "...)"
                                     : std::string("must be an object id"));
      out.starting_after = value;
    }
  }
  return {};
}

// --- Responses ----------------------------------------------------------------------------------

void write_user(json_writer& w, const user_view& user) {
  w.begin_object();
  w.member("id", std::string_view(user.id)).member("object", std::string_view("user"));
  w.member("platform_ref", std::string_view(user.platform_ref));
  w.member("email", std::string_view(user.email)).member("email_verified", user.email_verified);
  w.key("name");
  if (user.name)
    w.string(*user.name);
  else
    w.null();
  w.member("created", user.created).end_object();
}

void write_session(json_writer& w, const session_view& session,
                   std::optional<std::string_view> token) {
  const currency code = session.budget.run_budget.code;
  w.begin_object();
  w.member("id", std::string_view(session.id)).member("object", std::string_view("session"));
  w.member("user", std::string_view(session.user));
  w.member("label", std::string_view(session.label));
  w.key("budget").begin_object();
  w.key("limit");
  write_money(w, session.budget.run_budget);
  w.key("spent");
  write_money(w, {session.budget.spent, code});
  w.key("held");
  write_money(w, {session.budget.held, code});
  w.end_object();
  w.key("intents").begin_object().key("domains").begin_array();
  for (const std::string& domain : session.intent_domains) w.string(domain);
  w.end_array().end_object();
  w.member("killed", session.killed);
  w.member("expires_at", session.budget.expires_at).member("created", session.created);
  if (token) w.member("token", *token);
  w.end_object();
}

void write_payment_token(json_writer& w, std::string_view id, const token_state& token) {
  const currency code = token.max_amount.code;
  w.begin_object();
  w.member("id", id).member("object", std::string_view("payment_token"));
  w.member("provider", std::string_view(token.provider));
  w.key("session");
  if (token.session)
    w.string(*token.session);
  else
    w.null();
  w.key("max_amount");
  write_money(w, token.max_amount);
  w.key("used");
  write_money(w, {token.used, code});
  w.key("held");
  write_money(w, {token.held, code});
  w.member("expires_at", token.expires_at).member("single_use", token.single_use);
  w.member("revoked", token.revoked).end_object();
}

void write_charge(json_writer& w, const charge_view& charge) {
  w.begin_object();
  w.member("id", std::string_view(charge.id)).member("object", std::string_view("charge"));
  w.member("status", std::string_view("succeeded"));
  w.member("amount", charge.amount.amount).member("currency", to_string(charge.amount.code));
  w.member("payment_token", std::string_view(charge.payment_token));
  w.member("provider", std::string_view(charge.provider));
  w.member("description", std::string_view(charge.description));
  w.member("created", charge.created).member("amount_refunded", charge.amount_refunded);
  if (charge.resource) w.member("resource", std::string_view(*charge.resource));
  w.end_object();
}

void write_refund(json_writer& w, const refund_created& refund) {
  w.begin_object();
  w.member("id", std::string_view(refund.id)).member("object", std::string_view("refund"));
  w.member("status", std::string_view("succeeded"));
  w.member("charge", std::string_view(refund.charge));
  w.member("amount", refund.amount.amount).member("currency", to_string(refund.amount.code));
  w.member("created", refund.at).end_object();
}

namespace {
// "YYYY-MM" of a `month_index`.
std::string month_text(std::int64_t month) {
  std::int64_t years = month >= 0 ? month / 12 : -((-month + 11) / 12);
  std::int64_t month_of_year = month - years * 12 + 1;
  std::string year = std::to_string(1970 + years);
  if (year.size() < 4) year.insert(0, 4 - year.size(), '0');
  return year + (month_of_year < 10 ? "-0" : "-") + std::to_string(month_of_year);
}
} // namespace

void write_spend(json_writer& w, const ledger_state& ledger, std::int64_t now) {
  const currency code = ledger.ledger_currency;
  const std::int64_t current = std::max(ledger.month, month_index(now));
  // The ledger resets month-to-date spend on the first event of a month; until then what it holds
  // is an earlier month's.
  const bool stale = current != ledger.month;
  auto money_of = [&](std::int64_t amount) {
    return money{amount, code};
  };
  w.begin_object().member("object", std::string_view("spend"));
  w.member("month", std::string_view(month_text(current)));
  w.member("currency", to_string(code));
  w.key("total").begin_object();
  w.key("spent");
  write_money(w, money_of(stale ? 0 : ledger.global_spent));
  w.key("held");
  write_money(w, money_of(ledger.global_held));
  w.key("cap");
  if (ledger.global_cap)
    write_money(w, money_of(*ledger.global_cap));
  else
    w.null();
  w.end_object();
  w.key("provider_cap_default");
  write_money(w, money_of(ledger.provider_cap_default));
  w.key("providers").begin_array();
  for (const auto& [slug, provider] : ledger.providers) {
    w.begin_object().member("provider", std::string_view(slug));
    w.key("spent");
    write_money(w, money_of(stale ? 0 : provider.spent));
    w.key("held");
    write_money(w, money_of(provider.held));
    w.key("cap");
    write_money(w, money_of(provider_cap(ledger, slug)));
    w.end_object();
  }
  w.end_array();
  w.key("holds").begin_array();
  for (const auto& [id, hold] : ledger.holds) {
    w.begin_object().member("id", std::string_view(id));
    w.member("provider", std::string_view(hold.provider));
    w.key("session");
    if (hold.session)
      w.string(*hold.session);
    else
      w.null();
    w.key("token");
    if (hold.token)
      w.string(*hold.token);
    else
      w.null();
    w.key("amount");
    write_money(w, money_of(hold.amount));
    w.member("expires_at", hold.expires_at).end_object();
  }
  w.end_array();
  w.end_object();
}

void write_kill(json_writer& w, const kill_view& kill) {
  w.begin_object().member("object", std::string_view("kill"));
  w.member("scope", to_string(kill.scope));
  w.key("id");
  if (kill.scope == kill_scope::global)
    w.null();
  else
    w.string(kill.id);
  w.member("active", kill.active).member("created", kill.created).end_object();
}

problem budget_exceeded_problem(budget_scope scope, std::string_view detail) {
  return std::move(problem(api_error::budget_exceeded, detail).member("scope", to_string(scope)));
}

problem decline_problem(const decline& refused) {
  problem body(refused.code, refused.detail);
  if (refused.scope) body.member("scope", to_string(*refused.scope));
  return body;
}

} // namespace steward::core
