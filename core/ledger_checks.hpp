#pragma once

// The helpers both halves of the ledger's decisions share: core/ledger.cpp (spend) and
// core/ledger_provisioning.cpp. Internal to core; not part of the ledger's interface.

#include "core/api_error.hpp"
#include "core/ids.hpp"
#include "core/ledger.hpp"
#include "core/money.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace steward::core::ledger_checks {

/// An acceptance of `event` that crosses no threshold.
accepted accept(ledger_event event);

/// A decline with `code` and `detail`, naming `scope` when a budget declined.
decline refuse(api_error code, std::string detail, std::optional<budget_scope> scope = {});

/// Declines an amount of a command that is not in the ledger's currency, or not from `min` to
/// `limits::money_amount_max`; `what` names the field in the detail.
std::optional<decline> check_amount(const ledger_state& state, money amount, std::int64_t min,
                                    std::string_view what);

/// Declines a new object's id that is not a well-formed id of `kind`.
std::optional<decline> check_new_id(id_kind kind, std::string_view id);

} // namespace steward::core::ledger_checks
