#pragma once

// Every bound of the process, in one place (STYLE.md, "Limits on everything"). Each `*_max` here is a
// ceiling: configuration may lower it (core/options.hpp validates that) but never raise it. Each
// default is what stewardd uses when the operator says nothing.

#include <cstddef>
#include <cstdint>

namespace steward::core::limits {

// --- Threads -----------------------------------------------------------------------------------
inline constexpr std::uint32_t io_threads_max = 64;
inline constexpr std::uint32_t workers_max = 256;

// --- Connections -------------------------------------------------------------------------------
/// Open client connections per listener, all io threads together; past it a new connection gets
/// one 503 and is closed.
inline constexpr std::uint32_t connections_max = 65536;
inline constexpr std::uint32_t connections_default = 16384;
/// Requests of one connection that may be in flight at once (pipelining); further bytes wait in
/// the kernel until responses have been written (backpressure, not an error).
inline constexpr std::uint32_t pipeline_depth_max = 64;
inline constexpr std::uint32_t pipeline_depth_default = 32;
/// Bytes of responses queued on one connection before it stops reading.
inline constexpr std::size_t connection_output_bytes_max = 4u << 20;

// --- Request size ------------------------------------------------------------------------------
/// Request line (method, target, version, CRLF); past it: 431 headers_too_large. (RFC 9112 3
/// recommends supporting at least 8000 octets.)
inline constexpr std::size_t request_line_bytes_max = 8192;
/// Whole header section including the request line; past it: 431 headers_too_large.
inline constexpr std::size_t header_bytes_max = 32768;
inline constexpr std::size_t header_bytes_default = 16384;
inline constexpr std::size_t header_count_max = 100;
/// Request body after de-chunking; past it: 413 payload_too_large.
inline constexpr std::size_t body_bytes_max = 8u << 20;
inline constexpr std::size_t body_bytes_default = 1u << 20;
/// Chunk-size line and chunk extensions of a chunked body.
inline constexpr std::size_t chunk_line_bytes_max = 1024;
/// Trailer section of a chunked body.
inline constexpr std::size_t trailer_bytes_max = 4096;

static_assert(request_line_bytes_max <= header_bytes_default);
static_assert(header_bytes_default <= header_bytes_max);
static_assert(body_bytes_default <= body_bytes_max);
static_assert(header_bytes_max + body_bytes_max <= connection_output_bytes_max * 4,
              "one request must fit in the input buffer a connection may hold");

// --- Timeouts (milliseconds) --------------------------------------------------------------------
/// From the first byte of a request until its header section is complete (slow-loris).
inline constexpr std::uint32_t header_read_timeout_ms_max = 120'000;
inline constexpr std::uint32_t header_read_timeout_ms_default = 10'000;
/// From the end of the header section until the body is complete.
inline constexpr std::uint32_t body_read_timeout_ms_max = 300'000;
inline constexpr std::uint32_t body_read_timeout_ms_default = 30'000;
/// A keep-alive connection with no request in progress and nothing in flight.
inline constexpr std::uint32_t idle_timeout_ms_max = 3'600'000;
inline constexpr std::uint32_t idle_timeout_ms_default = 60'000;
/// An actor that does not answer within this gets its request answered 503 overloaded.
/// Long-poll routes (approvals, `wait` up to 60 s) add their wait on top of it.
inline constexpr std::uint32_t actor_timeout_ms_max = 120'000;
inline constexpr std::uint32_t actor_timeout_ms_default = 10'000;
/// Graceful drain after SIGTERM/SIGINT: in-flight work gets this long, then connections are cut.
inline constexpr std::uint32_t drain_timeout_ms_max = 300'000;
inline constexpr std::uint32_t drain_timeout_ms_default = 10'000;
/// Granularity of every connection timeout: the io loop checks deadlines this often.
inline constexpr std::uint32_t timer_tick_ms = 100;

static_assert(timer_tick_ms * 10 <= header_read_timeout_ms_default);

// --- io_uring transport ------------------------------------------------------------------------
inline constexpr std::uint32_t uring_entries = 4096;
/// Provided-buffer ring for multishot recv: count must be a power of two.
inline constexpr std::uint32_t recv_buffer_count = 1024;
inline constexpr std::size_t recv_buffer_bytes = 16384;
/// Completions handled per loop iteration before the loop submits again.
inline constexpr std::uint32_t completions_per_batch_max = 512;

static_assert((recv_buffer_count & (recv_buffer_count - 1)) == 0);
static_assert(recv_buffer_count <= 32768, "io_uring buffer rings hold at most 32768 entries");

// --- JSON ---------------------------------------------------------------------------------------
inline constexpr std::size_t json_depth_max = 32;
inline constexpr std::size_t json_string_bytes_max = 65536;

// --- Money, ledger and velocity (core/money.hpp, core/ledger.hpp, core/velocity.hpp) --------------
/// Largest amount, in minor units, that any money field may carry (10^15: ten trillion dollars, or
/// a quadrillion yen). Keeping amounts far below INT64_MAX means a sum of a few of them never
/// overflows, but every sum is still checked.
inline constexpr std::int64_t money_amount_max = 1'000'000'000'000'000;
/// Monthly cap per provider when neither the user nor the provider configures one (DESIGN 3), in
/// minor units of the user's ledger currency: 10000 = $100.
inline constexpr std::int64_t provider_monthly_cap_default = 10'000;
/// Live payment tokens of one user; past it a new token is refused with 429 rate_limited.
inline constexpr std::size_t ledger_tokens_max = 1024;
/// Live sessions of one user.
inline constexpr std::size_t ledger_sessions_max = 1024;
/// Open holds of one user.
inline constexpr std::size_t ledger_holds_max = 1024;
/// Providers with a configured cap or month-to-date spend, per user.
inline constexpr std::size_t ledger_providers_max = 256;
/// Bytes of labels and intent domains together over all live sessions of one user. One session may
/// carry up to 200 + 64 * 253 bytes of them, so a ledger full of such sessions would make a
/// snapshot too large to decode; this bounds the sum instead, far above ordinary use (tens of bytes
/// per session). Opening a session past it is 429 rate_limited. ledger_codec.cpp ties
/// it to the snapshot's size with a static_assert.
inline constexpr std::size_t ledger_session_metadata_bytes_max = 96u << 10;
/// Charges a user's ledger remembers for refunds; the oldest is forgotten past it (a refund of a
/// forgotten charge is 404). Bounds the snapshot size: see the static_assert below.
inline constexpr std::size_t ledger_charges_retained_max = 16'000;
/// Bytes of a charge's description and of a provider slug.
inline constexpr std::size_t charge_description_bytes_max = 500;
inline constexpr std::size_t provider_slug_bytes_max = 32;
/// Longest time a hold may stay open before it expires by itself.
inline constexpr std::int64_t hold_ttl_seconds_max = 86'400;
/// An expired token or session stays in the ledger this long (so a late charge still gets 402
/// token_expired rather than 404), then `decide_expire` retires it.
inline constexpr std::int64_t ledger_retire_after_seconds = 30 * 86'400;
/// Charges per minute per session (velocity limit); configuration may lower it.
inline constexpr std::uint32_t charges_per_minute_max = 600;
inline constexpr std::uint32_t charges_per_minute_default = 60;

static_assert(provider_monthly_cap_default <= money_amount_max);
static_assert(money_amount_max <= INT64_MAX / 8, "a sum of a handful of amounts must not overflow");
static_assert(charges_per_minute_default <= charges_per_minute_max);
static_assert(ledger_charges_retained_max * 400 + ledger_tokens_max * 400 +
                  ledger_sessions_max * 200 + ledger_holds_max * 400 <=
                body_bytes_max,
              "a ledger snapshot (about 400 bytes per charge, token or hold) must stay decodable");

// --- Auth and idempotency (core/idempotency, core/hmac_signature, core/secret_token) ----------
/// An `Idempotency-Key` value: 1 to this many bytes (DESIGN 4.4).
inline constexpr std::size_t idempotency_key_bytes_max = 255;
/// A `Steward-Signature` value; one with more bytes is malformed. Room for `t=` and the most
/// `v1=` entries below with separators.
inline constexpr std::size_t signature_header_bytes_max = 1024;
/// `v1=` entries in one `Steward-Signature` (secret rotation needs two; a few more are tolerated).
inline constexpr std::size_t signature_v1_count_max = 8;
/// A bearer credential (session token, platform key, admin token) in `Authorization`.
inline constexpr std::size_t bearer_token_bytes_max = 512;

static_assert(signature_v1_count_max * 68 + 32 <= signature_header_bytes_max,
              "every allowed v1 entry (`,v1=` and 64 hex digits) must fit in the header");

// --- Journal (storage/journal.hpp, storage/sqlite_journal.hpp) ---------------------------------
/// Append batches waiting for the journal writer; past it an append fails at once with
/// `overloaded` (503 for the client), so memory stays bounded and clients back off instead of
/// waiting on a disk that cannot keep up.
inline constexpr std::uint32_t journal_queue_batches_max = 65536;
inline constexpr std::uint32_t journal_queue_batches_default = 16384;
/// Bytes of events, idempotency records and snapshots waiting for the writer; same answer past it.
inline constexpr std::size_t journal_queue_bytes_max = 1u << 30;
inline constexpr std::size_t journal_queue_bytes_default = 256u << 20;
/// Append batches the writer puts into one transaction (one fsync). Bigger groups spread the fsync
/// over more charges (DESIGN 7: about 69 k charges/s at 64, 86 k at 512) but every callback of a
/// group waits for the whole group.
inline constexpr std::uint32_t journal_commit_batches_max = 4096;
inline constexpr std::uint32_t journal_commit_batches_default = 512;
/// Events, idempotency records, aliases and bytes of one append batch (one actor's answer to one
/// request).
inline constexpr std::uint32_t journal_batch_events_max = 1024;
inline constexpr std::uint32_t journal_batch_idempotency_max = 64;
inline constexpr std::uint32_t journal_batch_aliases_max = 64;
/// Webhook outbox entries of one append batch (the webhooks one request causes).
inline constexpr std::uint32_t journal_batch_outbox_max = 16;
/// Longest alias key, in bytes; keys are 1 to this many bytes.
inline constexpr std::size_t journal_alias_key_bytes_max = 512;
inline constexpr std::size_t journal_batch_bytes_max = 16u << 20;
/// Events one `read_stream` call returns at most; activation reads a longer stream page by page.
inline constexpr std::uint32_t journal_read_events_max = 10000;
/// Aliases one `read_aliases` call returns at most; start-up loads the alias index page by page.
inline constexpr std::uint32_t journal_read_aliases_max = 10000;
/// Outbox entries one `read_outbox` call returns at most, and ids one `complete_outbox` deletes at
/// most: the webhook dispatcher works page by page.
inline constexpr std::uint32_t journal_read_outbox_max = 1000;
/// Streams whose last committed event the journal's writer keeps for its fence checks
/// (`storage/stream_heads.hpp`): 88 bytes each, 5.5 MiB, touched only as streams are written.
inline constexpr std::size_t journal_stream_heads_slots_default = 65536;
/// How long a journal connection waits for a lock held by another process (a backup, the sqlite3
/// shell) before the operation fails with `io_error`.
inline constexpr std::uint32_t journal_busy_timeout_ms = 5000;
/// Idempotency records are kept at least 24 h (DESIGN 4.4). Unlike the other limits this one has
/// a floor: configuration may keep records longer, up to the ceiling, never shorter.
inline constexpr std::int64_t idempotency_retention_s_min = 86'400;
inline constexpr std::int64_t idempotency_retention_s_default = 86'400;
inline constexpr std::int64_t idempotency_retention_s_max = 90 * 86'400;
/// Expired idempotency records deleted by one purge, so that no purge makes its commit slow: each
/// row is a random page of the key index, and 10 000 of them held a commit for about 0.4 s
/// (docs/journal.md, "Idempotency retention"). A purge that hits it is followed 100 ms later.
inline constexpr std::uint32_t idempotency_purge_rows_max = 1000;
inline constexpr std::int64_t idempotency_purge_interval_s = 60;

/// Webhooks that were never delivered (no `--webhook-url`, or a platform that stayed down) leave
/// the outbox after this long, so that the journal does not grow without bound; the purge that
/// removes expired idempotency records removes them, at most `idempotency_purge_rows_max` a time.
inline constexpr std::int64_t outbox_retention_s_min = 86'400;
inline constexpr std::int64_t outbox_retention_s_default = 7 * 86'400;
inline constexpr std::int64_t outbox_retention_s_max = 90 * 86'400;

static_assert(journal_queue_batches_default <= journal_queue_batches_max);
static_assert(journal_queue_bytes_default <= journal_queue_bytes_max);
static_assert(journal_commit_batches_default <= journal_commit_batches_max);
static_assert(journal_commit_batches_max <= journal_queue_batches_max,
              "a commit group is taken from the queue");
static_assert(journal_batch_bytes_max <= journal_queue_bytes_default,
              "the largest batch must fit in an empty queue");
static_assert(idempotency_retention_s_min <= idempotency_retention_s_default &&
              idempotency_retention_s_default <= idempotency_retention_s_max);
static_assert(idempotency_purge_interval_s * 10 <= idempotency_retention_s_min);
/// Kill-switch changes waiting for the kill register's writer (storage/kill_register.hpp); past
/// it a change is refused (503) rather than queued without bound.
inline constexpr std::size_t kill_register_queue_max = 1024;

// --- Actors (actors/user.hpp, actors/loader_pool.hpp) -------------------------------------------
/// Commands a user actor holds while it activates; past it they are answered 503 overloaded.
inline constexpr std::size_t user_stash_commands_max = 1024;
/// A user actor with no command for this long (and nothing pending) is passivated: its shard
/// forgets it and it stops, and the next command activates it again from its image or the
/// journal. 0 disables.
inline constexpr std::uint32_t user_idle_timeout_ms_default = 10'000;
inline constexpr std::uint32_t user_idle_timeout_ms_max = 86'400'000;
/// Images of passivated users (actors/directory.hpp, "Hibernation") the directory keeps, all
/// shards together; past it an arbitrary one is dropped and that user reloads from the journal.
/// 0: passivated users are not kept at all.
inline constexpr std::uint32_t user_hibernated_max_default = 1'000'000;
inline constexpr std::uint32_t user_hibernated_max_max = 100'000'000;
/// MiB of the journal's idempotency filter (storage/idempotency_filter.hpp): it answers which
/// keys the journal certainly does not hold, so that a fresh key needs no read. 16 MiB hold about
/// 8 million keys with one false "maybe" in 200; more keys only make it answer "maybe" more
/// often. 0 disables it.
inline constexpr std::uint32_t idempotency_filter_mib_default = 16;
inline constexpr std::uint32_t idempotency_filter_mib_max = 4096;
/// MiB of WAL after which the journal's writer restarts it between two commits (docs/journal.md,
/// "Checkpoints"). Each restart stops commits for tens of milliseconds (longer for a longer WAL),
/// so the bound trades the 99th percentile against the 99.9th and disk space: 256 MiB gave p99
/// 52 ms at 512 connections, 1 GiB 21.6 ms (docs/benchmarks.md). A crash leaves SQLite up to this
/// much WAL to scan at the next start (0.83 s for 1.09 GB measured).
inline constexpr std::uint32_t wal_restart_mib_default = 1024;
inline constexpr std::uint32_t wal_restart_mib_max = 16384;
/// WAL frames per MiB of WAL: a frame holds one page of the journal, SQLite's default 4 KiB (its
/// 24-byte header aside), so the MiB of `--wal-restart-mib` become the journal's frame bound.
inline constexpr std::uint32_t wal_frames_per_mib = 256;
/// Events appended between two snapshots of a user's ledger, by default.
inline constexpr std::uint64_t user_snapshot_every_events_default = 1000;
/// Blocking journal reads (activations, idempotency look-ups) waiting for the loader pool; past it
/// the request is answered 503 overloaded.
inline constexpr std::size_t loader_queue_jobs_max = 65536;

// --- JSON Schema (core/json_schema.hpp) -------------------------------------------------------
/// Bytes of one service's `configuration_schema` text.
inline constexpr std::size_t json_schema_bytes_max = 256u << 10;
/// Subschemas of one compiled schema, boolean ones and `$defs` included.
inline constexpr std::size_t json_schema_subschemas_max = 4096;
/// `pattern` and `patternProperties` regular expressions of one schema, and bytes of each.
inline constexpr std::size_t json_schema_patterns_max = 64;
inline constexpr std::size_t json_schema_pattern_bytes_max = 512;
/// Size of a pattern's expansion: each atom counts 1 and a `{n,m}` repetition multiplies what it
/// repeats by m (n + 1 when unbounded). It bounds the regex automaton, and so match time per byte.
/// Matching costs up to about 110 ns per byte per unit of weight (measured in a release build:
/// `[a-z]{1,500}x` over 1024 bytes, 58 ms), so with the subject bound below one match takes at
/// most about 30 ms. A domain-name pattern weighs about 130.
inline constexpr std::size_t json_schema_pattern_weight_max = 256;
/// Longest string (or member name) matched against a pattern; a longer one fails `pattern`.
/// Configuration strings checked by patterns are names and domains, far shorter.
inline constexpr std::size_t json_schema_pattern_subject_bytes_max = 1024;
/// Evaluation steps of one `validate` call: one per subschema applied, one per value compared for
/// `enum`/`const`/`uniqueItems`, and 1 + bytes * weight / 2 per pattern match. Past it the config
/// is refused as too complex to check, so one call costs tens of milliseconds at worst (about
/// 45 ms of pattern matching in a release build).
inline constexpr std::uint32_t json_schema_steps_max = 200'000;
/// Subschemas applied inside one another at once (in-place applicators and descents together);
/// bounds the validator's stack.
inline constexpr std::size_t json_schema_eval_depth_max = 256;

static_assert(json_schema_bytes_max <= body_bytes_max);
static_assert(json_schema_pattern_subject_bytes_max <= json_string_bytes_max);
static_assert(json_schema_pattern_subject_bytes_max * json_schema_pattern_weight_max / 2 <
                json_schema_steps_max,
              "the longest match of the heaviest pattern must fit in one validation's budget");
static_assert(json_schema_eval_depth_max >= 4 * json_depth_max,
              "a schema that mirrors a maximally nested instance must be checkable");

// --- Attestation and signing keys (core/jws.hpp, core/attestation.hpp, storage/signing_keys.hpp) ---
/// A compact JWS that is verified at all; an attestation is about 550 bytes, and a longer token is
/// refused before any base64 or JSON work is done on it.
inline constexpr std::size_t jws_bytes_max = 8192;
/// A JWKS document that is parsed at all (a provider fetching steward's `/.well-known/jwks.json`).
inline constexpr std::size_t jwks_bytes_max = 65536;
/// Keys in one JWKS, published or parsed; rotation needs two or three at a time.
inline constexpr std::size_t jwks_keys_max = 16;
/// A `kid`, in a JWS header or a JWK.
inline constexpr std::size_t jws_kid_bytes_max = 64;
/// Each string claim of an attestation (`iss`, `sub`, `aud`, `email`, `name`, `jti`).
inline constexpr std::size_t attestation_claim_bytes_max = 512;
/// The longest an attestation may live, `exp - iat` (DESIGN 5: at most 300 s).
inline constexpr std::int64_t attestation_lifetime_seconds_max = 300;
/// How far in the future `iat` may be on the verifier's clock (clock skew between steward and a
/// provider); `exp` has no leeway, so a replay cache only needs to remember a jti until its `exp`.
inline constexpr std::int64_t attestation_leeway_seconds = 30;
/// Single-use `jti`s a provider's replay cache remembers at once; when full of unexpired entries
/// it refuses new attestations (503) instead of forgetting one, which would allow a replay.
inline constexpr std::size_t attestation_replay_entries_max = 1u << 20;
static_assert(jws_bytes_max <= header_bytes_max && jwks_bytes_max <= body_bytes_max);
static_assert(attestation_claim_bytes_max * 6 < jws_bytes_max);

// --- Vault and intents (core/sealed_box.hpp, storage/vault_keys.hpp, core/intent_guard.hpp) -----
/// Bytes of one sealed credential's plaintext (an API key, an OAuth token, a small JSON object of
/// them); a blob adds 37 bytes. Larger values are refused by `seal`, and larger blobs by `open`.
inline constexpr std::size_t sealed_plaintext_bytes_max = 64u << 10;
/// Bytes of the associated data that binds a blob to its owner (a few ids, length-prefixed).
inline constexpr std::size_t sealed_associated_data_bytes_max = 4096;
/// Retired vault keys (DIR/vault/retired/*.key) loaded at most; they only open, never seal.
inline constexpr std::size_t vault_retired_keys_max = 16;
/// Approved values (intents plus human approvals) one intent check compares a request against.
inline constexpr std::size_t intent_values_max = 256;

static_assert(sealed_plaintext_bytes_max + sealed_associated_data_bytes_max < (1u << 30),
              "OpenSSL takes int lengths");

// --- Outbound client (net/http_client.hpp, net/http_response_parser.hpp, core/circuit_breaker.hpp)
/// A provider's response head (status line, fields, final empty line), and its trailer section.
inline constexpr std::size_t client_response_header_bytes_default = 16384;
inline constexpr std::size_t client_response_header_bytes_max = 65536;
inline constexpr std::size_t client_response_header_count_max = 100;
/// A provider's response body after de-chunking (a catalog is the largest expected answer).
inline constexpr std::size_t client_response_body_bytes_default = 8u << 20;
inline constexpr std::size_t client_response_body_bytes_max = 64u << 20;
/// A chunk-size line with its extensions; real servers send a few bytes.
inline constexpr std::size_t client_chunk_line_bytes_max = 1024;
/// Interim (1xx) responses skipped before the final one; more is a misbehaving peer.
inline constexpr std::uint32_t client_interim_responses_max = 8;
/// An outbound request's URL and body.
inline constexpr std::size_t client_url_bytes_max = 8192;
inline constexpr std::size_t client_request_body_bytes_max = 16u << 20;
/// Connections to one origin (scheme, host, port), busy and idle together.
inline constexpr std::uint32_t client_connections_per_origin_default = 16;
inline constexpr std::uint32_t client_connections_per_origin_max = 256;
/// Requests waiting for a connection of a full origin pool; past it they fail `pool_exhausted`.
inline constexpr std::uint32_t client_queued_requests_per_origin_default = 256;
inline constexpr std::uint32_t client_queued_requests_per_origin_max = 4096;
/// Origins and breakers the client tracks; past it new ones fail `pool_exhausted`.
inline constexpr std::size_t client_origins_max = 1024;
/// An idle keep-alive connection is closed after this long.
inline constexpr std::uint32_t client_idle_timeout_ms_default = 30'000;
inline constexpr std::uint32_t client_idle_timeout_ms_max = 300'000;
/// One attempt (queueing, connect, TLS, send, receive) ends with `timeout` after this long.
inline constexpr std::uint32_t client_request_timeout_ms_default = 10'000;
inline constexpr std::uint32_t client_request_timeout_ms_max = 120'000;
/// Retries after the first attempt, and the backoff between attempts.
inline constexpr std::uint32_t client_retries_default = 2;
inline constexpr std::uint32_t client_retries_max = 5;
inline constexpr std::uint32_t client_backoff_base_ms_default = 100;
inline constexpr std::uint32_t client_backoff_ms_max = 10'000;
/// Circuit breaker: consecutive failures that open it, the failure ratio over a sliding window
/// (evaluated once the window holds enough outcomes), the cool-down, and the half-open probes.
inline constexpr std::uint32_t breaker_consecutive_failures_default = 5;
inline constexpr std::uint32_t breaker_window_ms_default = 30'000;
inline constexpr std::uint32_t breaker_window_outcomes_min_default = 20;
inline constexpr std::uint32_t breaker_failure_percent_default = 50;
inline constexpr std::uint32_t breaker_cooldown_ms_default = 30'000;
inline constexpr std::uint32_t breaker_cooldown_ms_max = 600'000;
inline constexpr std::uint32_t breaker_probes_default = 1;
inline constexpr std::uint32_t breaker_probes_max = 16;

static_assert(client_response_header_bytes_default <= client_response_header_bytes_max);
static_assert(client_response_body_bytes_default <= client_response_body_bytes_max);
static_assert(client_connections_per_origin_default <= client_connections_per_origin_max);
static_assert(client_queued_requests_per_origin_default <= client_queued_requests_per_origin_max);
static_assert(client_idle_timeout_ms_default <= client_idle_timeout_ms_max);
static_assert(client_request_timeout_ms_default <= client_request_timeout_ms_max);
static_assert(client_retries_default <= client_retries_max);
static_assert(client_backoff_base_ms_default <= client_backoff_ms_max);
static_assert(breaker_cooldown_ms_default <= breaker_cooldown_ms_max);
static_assert(breaker_probes_default >= 1 && breaker_probes_default <= breaker_probes_max);
static_assert(breaker_failure_percent_default >= 1 && breaker_failure_percent_default <= 100);

// --- Provisioning ledger (core/ledger_provisioning.hpp) -----------------------------------------
/// Providers whose terms one user accepted, and providers one user is linked to; past either a new
/// provider is refused with 429 rate_limited (a re-acceptance or re-link of a known one is not).
inline constexpr std::size_t ledger_terms_max = 64;
inline constexpr std::size_t ledger_links_max = 64;
/// Approvals of one user that are pending at once; past it a new one is 429 rate_limited.
inline constexpr std::size_t ledger_approvals_pending_max = 16;
/// Approvals one user's ledger keeps, whatever their status (decided, used and expired ones leave
/// `ledger_retire_after_seconds` after they closed); past it a new one is 429 rate_limited.
inline constexpr std::size_t ledger_approvals_max = 64;
/// Resources of one user that are not failed or removed; past it a new one is 429 rate_limited.
inline constexpr std::size_t ledger_resources_live_max = 64;
/// Resources one user's ledger keeps, final ones included until they retire.
inline constexpr std::size_t ledger_resources_max = 128;
/// Longest an approval may wait for its human.
inline constexpr std::int64_t approval_ttl_seconds_max = 7 * 86'400;
/// Members of approvals: the human text, a URL (an OAuth authorize URL with its state and PKCE
/// challenge is a few hundred bytes), the approved value (a domain at most).
inline constexpr std::size_t approval_message_bytes_max = 500;
inline constexpr std::size_t approval_url_bytes_max = 2048;
inline constexpr std::size_t approval_value_bytes_max = 253;
/// A provider's terms version, and who accepted them.
inline constexpr std::size_t terms_version_bytes_max = 64;
inline constexpr std::size_t accepted_by_bytes_max = 200;
/// A catalog service id (without the provider) and a resource's name (a domain at most).
inline constexpr std::size_t service_id_bytes_max = 128;
inline constexpr std::size_t resource_name_bytes_max = 253;
/// Ids and references the provider or the vault hands out: a provider's resource or account id,
/// a vault reference; and a resource's failure code.
inline constexpr std::size_t provider_object_id_bytes_max = 255;
inline constexpr std::size_t vault_ref_bytes_max = 255;
inline constexpr std::size_t failure_code_bytes_max = 64;
/// Bytes of the text members (everything but ids, slugs, enums, numbers) of all provisioning
/// objects of one user together. A new object is refused with 429 rate_limited when it would not
/// fit counting each open object's members that may still be set (a pending approval's decision,
/// a live resource's provider_id, vault_ref and failure_code) at their maximum, so a decision or
/// an update never finds the budget full. It keeps the snapshot decodable: ledger_codec.cpp ties
/// it to the snapshot's size with a static_assert.
inline constexpr std::size_t ledger_provisioning_text_bytes_max = 48u << 10;

static_assert(ledger_approvals_pending_max <= ledger_approvals_max);
static_assert(ledger_resources_live_max <= ledger_resources_max);

// --- Catalog and provider actors (core/catalog.hpp, actors/provider.hpp) -------------------------
/// Services of one provider's catalog; a document with more is refused whole.
inline constexpr std::size_t catalog_services_max = 512;
/// A service id (`registrar:domain`), a category or a metered unit, in bytes.
inline constexpr std::size_t catalog_service_id_bytes_max = 64;
inline constexpr std::size_t catalog_category_bytes_max = 64;
inline constexpr std::size_t catalog_categories_max = 16;
inline constexpr std::size_t catalog_name_bytes_max = 200;
inline constexpr std::size_t catalog_description_bytes_max = 2000;
/// The terms URL of a catalog (and any URL steward shows agents from it).
inline constexpr std::size_t catalog_url_bytes_max = 2048;
inline constexpr std::size_t catalog_terms_version_bytes_max = 64;
/// Services per page of `GET /v1/catalog`: the default and the most a `limit` may ask for.
inline constexpr std::size_t catalog_page_default = 20;
inline constexpr std::size_t catalog_page_max = 100;
/// How often a provider actor revalidates its catalog (If-None-Match), and how long it waits
/// after a failed fetch: from the first value, doubling up to the second.
inline constexpr std::uint32_t catalog_refresh_ms_default = 300'000;
inline constexpr std::uint32_t catalog_retry_ms_min = 1'000;
inline constexpr std::uint32_t catalog_retry_ms_max = 60'000;
/// The deadline of one catalog fetch.
inline constexpr std::uint32_t catalog_fetch_timeout_ms = 10'000;
/// A catalog body larger than this is refused (the JSON limits apply too).
inline constexpr std::size_t catalog_body_bytes_max = 4u << 20;
/// A fixed price above this (minor units of the ledger currency) needs a human's
/// purchase_confirmation even for a service that is not durable ($50).
inline constexpr std::int64_t purchase_confirmation_above_default = 5'000;
/// How long a gate's approval stays open for the human (one day).
inline constexpr std::int64_t approval_ttl_seconds_default = 86'400;
/// The lifetime of the hold the preflight only decides (never places) to test the budgets: any
/// value within `hold_ttl_seconds_max` decides the same.
inline constexpr std::int64_t preflight_hold_probe_seconds = 60;
/// `GET /v1/approvals/{id}?wait=`: the longest wait (DESIGN 4.1), and how many requests may wait
/// per user. The route adds the wait to the server's actor timeout (net::route_table's
/// `extra_wait_ms`), so the long-poll answers before the connection gives up on it.
inline constexpr std::uint32_t approval_wait_seconds_max = 60;
inline constexpr std::size_t user_approval_waiters_max = 64;

// --- Purchases (core/provider_protocol.hpp, actors/user_purchase.cpp) ---------------------------
/// The longest answer steward reads from a provider's accounts, token or resources endpoint.
inline constexpr std::size_t provider_answer_bytes_max = 256u << 10;
/// An account token or OAuth access token a provider hands out, and an authorization code.
inline constexpr std::size_t provider_secret_bytes_max = 1024;
/// A provider's authorize URL: room is left in the approval's URL for steward's state and PKCE
/// challenge (about 120 bytes).
inline constexpr std::size_t authorize_url_bytes_max = approval_url_bytes_max - 256;
/// How long a purchase's hold and its payment token (fixed price) stay valid: long enough for a
/// provider answer in doubt to be reconciled, short enough that a lost purchase frees its budget
/// within the hour.
inline constexpr std::int64_t purchase_hold_seconds = 3'600;
/// Deadline of one attempt of a provider call for a purchase (the client retries within it).
inline constexpr std::uint32_t purchase_call_timeout_ms = 5'000;
/// A purchase whose answer is in doubt (`unknown`) is sent again with the same Idempotency-Key
/// after this delay, doubling, at most this many times; after that it stays `unknown` until the
/// actor's next activation, which tries again.
inline constexpr std::uint32_t purchase_reconcile_delay_ms_min = 1'000;
inline constexpr std::uint32_t purchase_reconcile_attempts_max = 8;
/// Purchases one user may have waiting for a provider at once.
inline constexpr std::size_t user_purchases_in_flight_max = 16;
/// Purchases in flight at one provider, all users together (`--provider-purchases-max`,
/// actors/provider_gate.hpp): past it a new purchase is answered 503 before anything is written or
/// sent. The default is the provider client's pool (128 connections per origin) and its wait queue
/// (256) less room for catalog fetches, rotations and reconciliations.
inline constexpr std::uint32_t provider_purchases_in_flight_default = 256;
inline constexpr std::uint32_t provider_purchases_in_flight_max = 65'536;

} // namespace steward::core::limits
