#pragma once

// The journal (DESIGN 6): the source of truth and the audit log at once. Every state change of a
// user is an event in that user's stream, numbered by `seq` from 1 and hash-chained
// (core/hash_chain.hpp). Snapshots bound activation time; idempotency records live beside the
// events so that a side effect and its replayable answer become durable in one transaction.
//
// This is the interface the user actors use. The SQLite backend (storage/sqlite_journal.hpp) is
// the embedded default; a PostgreSQL backend implements the same contract for scale-out.
//
// Who computes the chain: the caller. A stream has exactly one writer, its user actor, which
// keeps the stream's head (last seq and hash) in memory anyway, so it computes each event's hash
// with `core::next_chain_hash` and states in the batch which hash it chained from (`prev_hash`).
// The journal fences the append instead of recomputing it: the batch is stored only if its first
// event continues the stored head (seq `first - 1` exists and carries `prev_hash`, or the first seq
// is 1 and `prev_hash` is the genesis) and no seq is taken. Every read recomputes the chain, so a
// wrong hash, whether written by a buggy caller or changed on disk afterwards, is reported as
// `corrupt` at its seq and never handed out as valid history. This keeps SHA-256 off the single
// writer thread, which is the throughput bottleneck, and a PostgreSQL backend can fence the same
// way with one indexed lookup.

#include "core/assert.hpp"
#include "core/hash_chain.hpp"
#include "core/limits.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace steward::storage {

/// Every way a journal operation can fail. What the caller must do is in docs/journal.md.
enum class journal_error : std::uint8_t {
  /// A seq of the batch is already taken, or the batch does not continue the stored head: another
  /// writer (another node, or this actor's stale view) got there first. Reload the stream from
  /// the journal and decide again; nothing of this batch was stored.
  conflict,
  /// The append queue is full. Nothing was stored; answer 503 `overloaded` and let the client
  /// retry with its idempotency key.
  overloaded,
  /// The disk or the database failed. Nothing of the batch is durable; the actor stops and is
  /// re-activated from durable state, the client gets 503.
  io_error,
  /// A read found stored history that fails the hash chain (or a gap): `journal_failure::bad_seq`
  /// names the first bad seq. Never serve that stream as valid; alert an operator.
  corrupt,
  /// The request is malformed (empty stream, seqs not consecutive, a limit exceeded, ...): a
  /// programmer error in the caller, reported as a value because it must not take the writer down.
  invalid_request,
  /// The journal is stopping or stopped; nothing was stored.
  stopped,
};

constexpr std::string_view to_string(journal_error error) noexcept {
  switch (error) {
    case journal_error::conflict: return "conflict";
    case journal_error::overloaded: return "overloaded";
    case journal_error::io_error: return "io_error";
    case journal_error::corrupt: return "corrupt";
    case journal_error::invalid_request: return "invalid_request";
    case journal_error::stopped: return "stopped";
  }
  return "unknown";
}

/// A failed journal operation: the code, and for `corrupt` the first bad seq.
struct journal_failure {
  journal_error code = journal_error::io_error;
  std::uint64_t bad_seq = 0;
};

/// The value of a synchronous journal operation, or why it failed (CAF's `expected`, without CAF:
/// storage/ does not depend on the actor runtime).
template <class T>
class journal_result {
public:
  journal_result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  journal_result(journal_failure failure) : state_(std::in_place_index<1>, failure) {}
  journal_result(journal_error code) : state_(std::in_place_index<1>, journal_failure{code, 0}) {}

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    STEWARD_ASSERT(has_value());
    return std::get<0>(state_);
  }
  const T& value() const& {
    STEWARD_ASSERT(has_value());
    return std::get<0>(state_);
  }
  T&& value() && {
    STEWARD_ASSERT(has_value());
    return std::get<0>(std::move(state_));
  }
  const journal_failure& failure() const {
    STEWARD_ASSERT(!has_value());
    return std::get<1>(state_);
  }
  journal_error error() const { return failure().code; }

private:
  std::variant<T, journal_failure> state_;
};

/// One journal entry; also the audit record.
struct event {
  std::string stream;
  std::uint64_t seq = 0;
  std::string type;
  /// Canonical JSON of the event, opaque to the journal (it is hashed and stored as is).
  std::string payload;
  /// Unix seconds.
  std::int64_t created_at = 0;
  /// `core::next_chain_hash(hash of seq - 1, this event)`, computed by the caller.
  core::chain_hash hash{};
};

/// The fields of `e` that its hash covers, as views into `e`.
inline core::chain_event chain_fields(const event& e) noexcept {
  return {e.stream, e.seq, e.type, e.created_at, e.payload};
}

/// The stored answer to an idempotent request (DESIGN 4.4), replayed for the same key.
struct idempotency_record {
  /// (principal, method, path, key), already joined by the caller into one unique string.
  std::string scope_key;
  /// SHA-256 of the canonical JSON request body.
  std::array<std::uint8_t, 32> fingerprint{};
  /// HTTP status of the original answer (5xx answers are never stored).
  std::uint16_t status = 0;
  std::string response_body;
  /// Unix seconds; the record is kept at least the configured retention after it.
  std::int64_t created_at = 0;
};

/// An actor's state at `seq`, so that activation reads only the events after it.
struct snapshot {
  std::string stream;
  std::uint64_t seq = 0;
  /// The hash of event `seq`: the head the actor continues the chain from after loading it.
  core::chain_hash hash{};
  /// Opaque to the journal.
  std::string state;
  std::int64_t created_at = 0;
};

/// Longest alias key, in bytes; keys are 1 to this many bytes.
inline constexpr std::size_t alias_key_bytes_max = core::limits::journal_alias_key_bytes_max;

/// An entry of the alias index: a durable map from a key a client presents (`"ptk:ptk_…"`,
/// `"sst:<hex hash>"`, `"ref:<platform ref>"`) to the stream that owns it (a user id). An alias is
/// written in the same batch as the events that mint what it names, so neither exists without the
/// other. Once stored, a key names the same stream for good.
struct alias {
  /// 1 to `alias_key_bytes_max` bytes, opaque to the journal; keys are ordered bytewise.
  std::string key;
  /// Non-empty; need not be the batch's stream.
  std::string stream;
  friend bool operator==(const alias&, const alias&) = default;
};

/// Longest webhook event id and webhook type, in bytes; both are 1 to this many bytes.
inline constexpr std::size_t outbox_id_bytes_max = 64;
inline constexpr std::size_t outbox_type_bytes_max = 64;
/// Largest webhook payload (the JSON of the webhook's `data`), in bytes.
inline constexpr std::size_t outbox_payload_bytes_max = 64 * 1024;

static_assert(core::limits::journal_batch_outbox_max *
                  (outbox_id_bytes_max + outbox_type_bytes_max + outbox_payload_bytes_max) <
                core::limits::journal_batch_bytes_max,
              "a batch full of the largest webhooks must leave room for its events");

/// A webhook waiting for delivery (DESIGN 4.2: `budget.threshold`, `kill.activated`, ...). It is
/// written in the same batch as the events that cause it, so a crash can lose neither one without
/// the other; the dispatcher reads pending entries with `read_outbox` and deletes the delivered
/// ones with `complete_outbox`.
struct outbox_entry {
  /// Assigned by the journal when the entry is stored (ignored in an append): strictly increasing
  /// in commit order and never reused, so it is the dispatcher's cursor for `read_outbox`.
  std::uint64_t n = 0;
  /// The webhook event id (an `evt_` id), 1 to `outbox_id_bytes_max` bytes, unique among the
  /// entries in the outbox.
  std::string id;
  /// The stream the webhook concerns, opaque to the journal; need not be the batch's stream.
  std::string stream;
  /// The webhook type (`budget.threshold`), 1 to `outbox_type_bytes_max` bytes.
  std::string type;
  /// The JSON body of the webhook's `data`, opaque to the journal, at most `outbox_payload_bytes_max`.
  std::string payload;
  /// Unix seconds.
  std::int64_t created_at = 0;
  friend bool operator==(const outbox_entry&, const outbox_entry&) = default;
};

/// Longest vault reference, in bytes; references are 1 to this many bytes.
inline constexpr std::size_t sealed_ref_bytes_max = 64;
/// Largest sealed blob, in bytes: the largest plaintext the vault seals plus the blob's header and
/// tag (core/sealed_box.hpp: `sealed_overhead_bytes`, 37).
inline constexpr std::size_t sealed_blob_bytes_max = core::limits::sealed_plaintext_bytes_max + 64;
/// Blobs sealed, and references unsealed, per batch at most.
inline constexpr std::uint32_t journal_batch_sealed_max = 16;
inline constexpr std::uint32_t journal_batch_unsealed_max = 16;

static_assert(core::limits::journal_batch_outbox_max *
                    (outbox_id_bytes_max + outbox_type_bytes_max + outbox_payload_bytes_max) +
                  journal_batch_sealed_max * (sealed_ref_bytes_max + sealed_blob_bytes_max) <
                core::limits::journal_batch_bytes_max,
              "a batch full of the largest webhooks and blobs must leave room for its events");

/// A credential sealed by the vault (DESIGN 6: "credentials are AES-256-GCM sealed in the vault
/// ..., events hold only the vault reference"). It is written in the same batch as the event that
/// holds its `ref`, so the reference and the blob become durable together and neither exists
/// without the other.
struct sealed_entry {
  /// The vault reference the events hold, minted by the caller: 1 to `sealed_ref_bytes_max` bytes,
  /// opaque to the journal, unique among the stored blobs.
  std::string ref;
  /// The stream that owns the credential, non-empty; need not be the batch's stream.
  std::string stream;
  /// The sealed bytes (core::seal's output), 1 to `sealed_blob_bytes_max` bytes, opaque to the
  /// journal and stored exactly as given (any byte, NUL included).
  std::string blob;
  friend bool operator==(const sealed_entry&, const sealed_entry&) = default;
};

/// What one actor makes durable at once: its new events, the idempotency records they answer,
/// the aliases they mint, the webhooks they cause, the blobs it seals and unseals, and optionally a
/// snapshot. All of it is stored in one transaction, or none of it.
struct append_batch {
  std::string stream;
  /// The hash the first event chains from: the hash of event `first seq - 1`, or
  /// `core::chain_genesis` when the first seq is 1. Unused when `events` is empty.
  core::chain_hash prev_hash{};
  /// Consecutive seqs of `stream`. May be empty when the batch only stores idempotency records
  /// (an answer without a state change), aliases, outbox entries or a snapshot.
  std::vector<event> events;
  std::vector<idempotency_record> idempotency;
  /// At most `limits::journal_batch_aliases_max`. A key already stored with the same stream is a
  /// no-op; a key stored (or stored earlier in this batch) with another stream fails the whole
  /// batch with `conflict`.
  std::vector<alias> aliases;
  /// Webhooks to deliver once the batch is durable; at most `limits::journal_batch_outbox_max`.
  /// An id already in the outbox (or twice in this batch) fails the whole batch with `conflict`.
  std::vector<outbox_entry> outbox;
  /// Blobs to store in the vault; at most `journal_batch_sealed_max`. A ref already stored (or
  /// twice in this batch) fails the whole batch with `conflict`.
  std::vector<sealed_entry> sealed;
  /// Vault references whose blobs to delete, each 1 to `sealed_ref_bytes_max` bytes; at most
  /// `journal_batch_unsealed_max`. A ref not stored is ignored. Applied after `sealed`, so a batch
  /// that seals and unseals the same ref leaves it unsealed.
  std::vector<std::string> unsealed;
  /// Replaces the stream's snapshot if its seq is newer than the stored one. Its seq must be an
  /// event of this batch or one already stored.
  std::optional<storage::snapshot> snapshot;
};

/// The answer to an append: durable, or why not (and then nothing of the batch is stored).
struct append_outcome {
  std::optional<journal_error> error;
  bool durable() const noexcept { return !error.has_value(); }
};

/// Called exactly once per append. Runs on the journal's writer thread (or, for an append refused
/// up front — `overloaded`, `invalid_request`, `stopped` — on the appending thread, before
/// `append` returns). It must not block and must not throw: post the outcome to the caller's own
/// executor (an actor message) and return, because every other batch's callback and the next
/// group commit wait behind it.
using append_callback = std::function<void(append_outcome)>;

/// `verify_stream`'s answer, the body of `GET /v1/users/{id}/audit/verify`.
struct stream_verification {
  bool valid = true;
  /// Events in the stream, including those after a bad one.
  std::uint64_t events = 0;
  std::optional<std::uint64_t> first_bad_seq;
};

/// The journal contract. Appends are asynchronous and batched; reads are synchronous and may be
/// called from any thread, concurrently with appends. A read blocks its thread on storage: it
/// costs microseconds when the pages are cached and a disk read per uncached page otherwise, and
/// it recomputes SHA-256 over every event returned. They are meant for activation and audit
/// endpoints, not per request.
class journal {
public:
  virtual ~journal() = default;

  /// Queues `batch`; `on_appended` says when it is durable or why it is not. Never blocks: a
  /// full queue answers `overloaded` at once.
  virtual void append(append_batch batch, append_callback on_appended) = 0;

  /// Events of `stream` with seq >= `from_seq` (from 1), in order, at most `limit` (capped by
  /// `limits::journal_read_events_max`). The chain of the returned events is checked against the
  /// stored hash of event `from_seq - 1`; a mismatch or gap fails with `corrupt`. An empty result
  /// means the stream has no event at `from_seq`.
  virtual journal_result<std::vector<event>> read_stream(std::string_view stream, std::uint64_t from_seq,
                                                         std::uint32_t limit) = 0;

  /// The stream's newest snapshot, if any; `corrupt` when its hash is not the stored hash of its seq.
  virtual journal_result<std::optional<snapshot>> latest_snapshot(std::string_view stream) = 0;

  /// The idempotency record of `scope_key`, if stored and not yet purged.
  virtual journal_result<std::optional<idempotency_record>> find_idempotency(std::string_view scope_key) = 0;

  /// False only when the journal certainly holds no record of `scope_key`: `find_idempotency`
  /// would answer none, and the caller may skip it. Every key whose append was answered durable
  /// before the call is answered true; one whose append is still queued may be answered false
  /// (its appender holds it meanwhile). The default says "maybe" always.
  virtual bool may_hold_idempotency(std::string_view /*scope_key*/) const noexcept { return true; }

  /// The stream that alias `key` names, if stored. A key outside 1..`alias_key_bytes_max` bytes
  /// cannot be stored and is answered "none" without a lookup, so a key built from client input
  /// needs no checking first.
  virtual journal_result<std::optional<std::string>> find_alias(std::string_view key) = 0;

  /// Aliases with key > `after_key` (bytewise), in key order, at most `limit` (capped by
  /// `limits::journal_read_aliases_max`): one page of the whole index, for loading it into memory
  /// at start-up. Start with an empty `after_key`, continue with the last key returned; a page
  /// shorter than the limit asked for is the last. Each page is its own read: aliases stored
  /// meanwhile may or may not appear in later pages.
  virtual journal_result<std::vector<alias>> read_aliases(std::string_view after_key, std::uint32_t limit) = 0;

  /// The sealed blob stored under vault reference `ref`, exactly as appended, if stored (and not
  /// unsealed since). A ref outside 1..`sealed_ref_bytes_max` bytes cannot be stored and is
  /// answered "none" without a lookup.
  virtual journal_result<std::optional<std::string>> read_sealed(std::string_view ref) = 0;

  /// Pending outbox entries with n > `after_n`, in ascending n, at most `limit` (capped by
  /// `limits::journal_read_outbox_max`). Start with 0 and continue with the last n returned; a
  /// page shorter than the limit asked for is the last. Because n increases in commit order, an
  /// entry committed after a page was read always appears in a later page.
  virtual journal_result<std::vector<outbox_entry>> read_outbox(std::uint64_t after_n, std::uint32_t limit) = 0;

  /// Deletes the outbox entries with these ids (delivered) in the writer's next transaction,
  /// queued in order with the appends (so a full queue answers `overloaded`). Ids not in the
  /// outbox are ignored. More than `limits::journal_read_outbox_max` ids, or an id outside 1..
  /// `outbox_id_bytes_max` bytes, is `invalid_request`. `on_completed` is called exactly once and
  /// answers like an append's callback.
  virtual void complete_outbox(std::vector<std::string> ids, append_callback on_completed) = 0;

  /// Recomputes the whole chain of `stream` from the genesis. Reads every event: cost grows with
  /// the stream, so it belongs to audit endpoints.
  virtual journal_result<stream_verification> verify_stream(std::string_view stream) = 0;

  /// Asks the writer to delete idempotency records older than their retention, and outbox entries
  /// older than theirs (undelivered webhooks), in its next transaction (the writer also does this
  /// by itself periodically). The callback answers like an append's.
  virtual void purge_idempotency(append_callback on_purged) = 0;

  /// Refuses new appends (`stopped`), makes everything already queued durable, answers every
  /// callback and joins the writer. Idempotent. Reads keep working until destruction.
  virtual void stop() = 0;
};

} // namespace steward::storage
