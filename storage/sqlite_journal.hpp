#pragma once

// The embedded journal backend (DESIGN 6): one SQLite file in WAL mode with `synchronous=FULL`.
//
// Writes: appenders push batches into a bounded queue; one writer thread takes everything queued
// (at most `commit_batches`), stores it in ONE transaction — each batch under its own SAVEPOINT, so
// a batch that conflicts fails alone — commits (one fsync of the WAL), then answers every callback.
// Under load a commit therefore carries many actors' events: group commit.
//
// Reads go through a second connection, which WAL lets read while the writer writes; one mutex
// serialises the readers among themselves.
//
// Schema changes are a versioned list of migrations applied in one transaction at open, recorded
// in `schema_version`; a file written by a newer binary is refused. Layout and contract:
// docs/journal.md.

#include "core/limits.hpp"
#include "core/metrics.hpp"
#include "storage/idempotency_filter.hpp"
#include "storage/journal.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace steward::storage {

/// Unix seconds now.
using journal_clock = std::function<std::int64_t()>;

/// The smallest `sqlite_journal_options::wal_restart_frames`: tests use small WALs.
inline constexpr std::uint32_t wal_restart_frames_min = 16;

struct sqlite_journal_options {
  /// The database file; its directory must exist. `-wal` and `-shm` files appear beside it.
  std::filesystem::path path;
  /// Batches that may wait for the writer (ceiling `limits::journal_queue_batches_max`).
  std::uint32_t queue_batches = core::limits::journal_queue_batches_default;
  /// Bytes that may wait for the writer (ceiling `limits::journal_queue_bytes_max`).
  std::size_t queue_bytes = core::limits::journal_queue_bytes_default;
  /// Batches per transaction at most (ceiling `limits::journal_commit_batches_max`).
  std::uint32_t commit_batches = core::limits::journal_commit_batches_default;
  /// Idempotency records older than this are purged (floor `limits::idempotency_retention_s_min`).
  std::int64_t idempotency_retention_s = core::limits::idempotency_retention_s_default;
  /// Outbox entries older than this are deleted undelivered (`limits::outbox_retention_s_*`).
  std::int64_t outbox_retention_s = core::limits::outbox_retention_s_default;
  /// WAL frames (4 KiB pages) past which a writer that never idles has the WAL restarted once the
  /// checkpointer has copied it all (about 1 GiB by default; at least `wal_restart_frames_min`;
  /// docs/journal.md).
  std::uint32_t wal_restart_frames =
      core::limits::wal_restart_mib_default * core::limits::wal_frames_per_mib;
  /// Bytes of the filter that answers which idempotency keys the file certainly does not hold
  /// (`storage/idempotency_filter.hpp`), so that a fresh key needs no read; 0: none, every key
  /// is looked up.
  std::size_t idempotency_filter_bytes = std::size_t{16} << 20;
  /// Streams whose last committed event the writer holds, so that an append continuing one needs
  /// no read for its fence (`storage/stream_heads.hpp`); 88 bytes each; 0: every fence reads.
  std::size_t stream_heads_slots = core::limits::journal_stream_heads_slots_default;
  /// Nice value of the writer and checkpointer threads (0..19; `--bulk-nice`).
  int thread_nice = 0;
  /// Time source for purging; the system clock when empty. Tests inject one to age records.
  journal_clock clock;
  /// Lines for the operator while `open` works on an existing file: before a schema migration
  /// (which may take tens of seconds on a large journal, in one transaction) and once it is done.
  /// Not called for a new file. Called on the opening thread; may be empty.
  std::function<void(const std::string&)> notice;
  /// Observes the duration of each commit `commits()` counts, from its BEGIN to its COMMIT's
  /// return (the WAL's fsync included); may be null. Must outlive the journal.
  core::metrics::histogram* commit_durations = nullptr;
  /// Observes each WAL restart the writer runs between two commits (`wal_restarts`), which no
  /// commit overlaps; may be null. Must outlive the journal.
  core::metrics::histogram* wal_restart_durations = nullptr;
};

/// The SQLite journal. Thread-safe: `append`, the reads and the counters may be called from any
/// thread. The destructor stops the writer (see `stop`).
class sqlite_journal final : public journal {
public:
  /// The schema version this binary writes; a file with a newer one is refused at open.
  static constexpr int schema_version = 6;

  /// Opens (creating if missing) and migrates the database, then starts the writer thread. On
  /// failure returns null and sets `error` to a sentence naming the file and the cause, for the
  /// operator; options outside their limits are refused the same way.
  static std::unique_ptr<sqlite_journal> open(const sqlite_journal_options& options, std::string& error);

  ~sqlite_journal() override;
  sqlite_journal(const sqlite_journal&) = delete;
  sqlite_journal& operator=(const sqlite_journal&) = delete;

  void append(append_batch batch, append_callback on_appended) override;
  journal_result<std::vector<event>> read_stream(std::string_view stream, std::uint64_t from_seq,
                                                 std::uint32_t limit) override;
  journal_result<std::optional<snapshot>> latest_snapshot(std::string_view stream) override;
  journal_result<std::optional<idempotency_record>> find_idempotency(std::string_view scope_key) override;
  journal_result<std::optional<std::string>> find_alias(std::string_view key) override;
  journal_result<std::vector<alias>> read_aliases(std::string_view after_key, std::uint32_t limit) override;
  journal_result<std::optional<std::string>> read_sealed(std::string_view ref) override;
  journal_result<std::vector<outbox_entry>> read_outbox(std::uint64_t after_n, std::uint32_t limit) override;
  void complete_outbox(std::vector<std::string> ids, append_callback on_completed) override;
  journal_result<stream_verification> verify_stream(std::string_view stream) override;
  void purge_idempotency(append_callback on_purged) override;
  void stop() override;
  bool may_hold_idempotency(std::string_view scope_key) const noexcept override;

  // Counters since open, for metrics and tests (relaxed reads: exact once the journal is idle).
  /// Batches made durable.
  std::uint64_t batches_durable() const noexcept;
  /// Events made durable.
  std::uint64_t events_durable() const noexcept;
  /// Transactions committed: one WAL fsync each (`synchronous=FULL`).
  std::uint64_t commits() const noexcept;
  /// Checkpoints completed by the checkpointer thread (the WAL copied back into the file).
  std::uint64_t checkpoints() const noexcept;
  /// WAL restarts the writer made because the WAL had grown past `wal_restart_frames` under load.
  std::uint64_t wal_restarts() const noexcept;
  /// Batches refused with `conflict` (a taken seq, idempotency key, outbox id or vault ref, or an
  /// alias key naming another stream).
  std::uint64_t conflicts() const noexcept;
  /// Groups stored a second time, a savepoint per batch, because a batch failed in the first
  /// pass (see `write_group` in sqlite_journal.cpp).
  std::uint64_t redone_groups() const noexcept;
  /// Appends refused with `overloaded`.
  std::uint64_t overloads() const noexcept;
  /// Batches failed with `io_error`.
  std::uint64_t io_errors() const noexcept;
  /// Idempotency records deleted by purges.
  std::uint64_t idempotency_purged() const noexcept;
  /// Outbox entries deleted by `complete_outbox` (ids that were not in the outbox do not count).
  std::uint64_t outbox_completed() const noexcept;
  /// Outbox entries deleted undelivered by purges (older than `outbox_retention_s`).
  std::uint64_t outbox_expired() const noexcept;
  /// The idempotency filter behind `may_hold_idempotency`, for its counters (reads saved, keys,
  /// capacity, whether the start-up scan is done); null when `idempotency_filter_bytes` is 0.
  const idempotency_filter* filter() const noexcept;
  /// Fences answered from the stream heads the writer holds, without a read (a group stored again
  /// after a batch failed checks its fences again).
  std::uint64_t fences_from_memory() const noexcept;
  /// Batches waiting for the writer now.
  std::uint64_t queue_depth() const noexcept;

  class impl;

private:
  explicit sqlite_journal(std::unique_ptr<impl> state);

  std::unique_ptr<impl> impl_;
};

} // namespace steward::storage
