#pragma once

// Injected faults (DESIGN 5): the reference provider misbehaves on purpose, the ways real providers
// do, so that steward's retries, timeouts and idempotency are tested against them.
//
//     status:CODE                 answer CODE (500, 502 or 503) before doing anything
//     latency:MS                  answer MS milliseconds later than otherwise
//     after-charge-timeout:MS     POST /resources only: do all the work — steward's charge, the
//                                 stored outcome — then answer MS milliseconds late, so that a
//                                 caller with a shorter deadline gives up and retries with the same
//                                 key (the retry replays the stored answer; nothing is charged twice)
//     drop                        POST /resources only: do all the work, then close the connection
//                                 instead of answering — the answer lost on its way back, as when a
//                                 proxy dies; the caller cannot tell whether anything was bought
//
// By configuration, `--fault=KIND[@EVERY]` (repeatable): the fault hits every EVERY-th request it
// applies to (1, the default: every one). `status` applies to the provisioning calls — POST
// /accounts, POST /resources, POST /resources/{id}/rotate, DELETE /resources/{id}; `latency` to
// every request; `after-charge-timeout` to POST /resources attempts that execute (a replay is
// answered at once), `drop` to POST /resources attempts that execute, too. Per request, the header `Refprovider-Fault: KIND` (no `@EVERY`) adds one
// fault to that request, but only when the process was started with `--faults-from-header`: a real
// provider takes no orders from its caller.
//
// Delays are capped by `limits::fault_delay_ms_max`, below the listener's handler timeout. A drop
// closes the connection through `net::responder::abort()`, after the fault's delays.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace steward::refprovider {

enum class fault_kind : std::uint8_t { status, latency, after_charge_timeout, drop };

struct fault {
  fault_kind kind = fault_kind::latency;
  std::uint16_t status = 0;   ///< `status`
  std::uint32_t delay_ms = 0; ///< `latency`, `after_charge_timeout`
  std::uint32_t every = 1;    ///< hits the every-th request it applies to
};

/// Parses `KIND` or, when `allow_every`, `KIND[@EVERY]`. Empty on success; otherwise what is wrong.
std::optional<std::string> parse_fault(std::string_view text, bool allow_every, fault& out);

/// Which requests a fault can apply to.
enum class request_class : std::uint8_t {
  other,         ///< catalog, terms, availability, OAuth, GET /resources/{id}
  provisioning,  ///< POST /accounts, rotate, DELETE /resources/{id}
  create,        ///< POST /resources
};

/// What one request suffers.
struct fault_effect {
  std::uint16_t status = 0;            ///< answer this before any work; 0: none
  std::uint32_t latency_ms = 0;        ///< added to every answer of the request
  std::uint32_t after_charge_ms = 0;   ///< added to an executed POST /resources answer
  bool drop_after_work = false;        ///< an executed POST /resources closes instead of answering
};

/// Adds `f` to `effect` as it applies to a request of class `what` (no counting: the caller decided
/// the fault hits). Delays add up, capped at `limits::fault_delay_ms_max`; a status is kept once.
void apply(const fault& f, request_class what, fault_effect& effect);

/// The configured faults and their counters. Thread-safe (atomic counters).
class fault_plan {
public:
  explicit fault_plan(std::vector<fault> faults);

  /// Counts one request of class `what` against every fault that applies to it and returns the
  /// effect of those that hit it now.
  fault_effect next(request_class what);

  bool empty() const noexcept { return faults_.empty(); }

private:
  std::vector<fault> faults_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counters_;
};

} // namespace steward::refprovider
