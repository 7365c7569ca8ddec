#include "storage/sqlite_journal.hpp"

#include "storage/sqlite_statement.hpp"
#include "storage/stream_heads.hpp"
#include "storage/wal_gather_vfs.hpp"

#include "core/assert.hpp"
#include "core/sealed_box.hpp"
#include "core/thread_identity.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <span>
#include <thread>
#include <utility>

namespace steward::storage {

namespace limits = core::limits;
using sqlite::db_ptr;
using sqlite::exec;
using sqlite::reset_guard;
using sqlite::statement;

namespace {

/// The schema, one entry per version, applied in order in one transaction at open. Never edit an
/// entry that has shipped: add the next version instead.
struct migration {
  int version;
  const char* sql;
};

constexpr migration migrations[] = {
  {1, R"sql(
    CREATE TABLE events (
      stream     TEXT    NOT NULL,
      seq        INTEGER NOT NULL CHECK (seq >= 1),
      type       TEXT    NOT NULL,
      payload    TEXT    NOT NULL,
      created_at INTEGER NOT NULL,
      hash       BLOB    NOT NULL CHECK (length(hash) = 32),
      PRIMARY KEY (stream, seq)
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
      stream     TEXT    NOT NULL PRIMARY KEY,
      seq        INTEGER NOT NULL CHECK (seq >= 1),
      hash       BLOB    NOT NULL CHECK (length(hash) = 32),
      state      BLOB    NOT NULL,
      created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE idempotency (
      scope_key     TEXT    NOT NULL PRIMARY KEY,
      fingerprint   BLOB    NOT NULL CHECK (length(fingerprint) = 32),
      status        INTEGER NOT NULL,
      response_body BLOB    NOT NULL,
      created_at    INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_by_created_at ON idempotency (created_at);
  )sql"},
  // The alias index: key -> stream, written in the batch that mints the key.
  {2, R"sql(
    CREATE TABLE aliases (
      key    TEXT NOT NULL PRIMARY KEY CHECK (key <> ''),
      stream TEXT NOT NULL CHECK (stream <> '')
    ) WITHOUT ROWID;
  )sql"},
  // The webhook outbox: written in the batch whose events cause the webhook, deleted once
  // delivered. AUTOINCREMENT so that n is never reused after deletes: it is the dispatcher's cursor.
  {3, R"sql(
    CREATE TABLE outbox (
      n          INTEGER PRIMARY KEY AUTOINCREMENT,
      id         TEXT    NOT NULL UNIQUE,
      stream     TEXT    NOT NULL,
      type       TEXT    NOT NULL,
      payload    TEXT    NOT NULL,
      created_at INTEGER NOT NULL
    );
  )sql"},
  // The vault's sealed blobs: ref -> AES-256-GCM blob, written in the batch whose event holds the
  // ref. A rowid table, not WITHOUT ROWID: a blob of up to 64 KiB would bloat a clustered B-tree.
  {4, R"sql(
    CREATE TABLE vault (
      ref    TEXT NOT NULL PRIMARY KEY CHECK (ref <> ''),
      stream TEXT NOT NULL CHECK (stream <> ''),
      blob   BLOB NOT NULL CHECK (length(blob) > 0)
    );
  )sql"},
  // The append-only layout. Events and idempotency records become rowid tables, so a commit
  // appends their rows to the tables' last pages; the lookups by (stream, seq) and by scope key go
  // through narrow indexes. In version 4 both tables were clustered on those random keys, and with
  // thousands of active streams nearly every charge dirtied leaf pages of its own in both
  // (docs/journal.md, "Layout").
  {5, R"sql(
    CREATE TABLE events_v5 (
      n          INTEGER PRIMARY KEY,
      stream     TEXT    NOT NULL,
      seq        INTEGER NOT NULL CHECK (seq >= 1),
      type       TEXT    NOT NULL,
      payload    TEXT    NOT NULL,
      created_at INTEGER NOT NULL,
      hash       BLOB    NOT NULL CHECK (length(hash) = 32)
    );
    INSERT INTO events_v5 (stream, seq, type, payload, created_at, hash)
      SELECT stream, seq, type, payload, created_at, hash FROM events;
    DROP TABLE events;
    ALTER TABLE events_v5 RENAME TO events;
    CREATE UNIQUE INDEX events_by_stream ON events (stream, seq);
    CREATE TABLE idempotency_v5 (
      n             INTEGER PRIMARY KEY,
      scope_key     TEXT    NOT NULL,
      fingerprint   BLOB    NOT NULL CHECK (length(fingerprint) = 32),
      status        INTEGER NOT NULL,
      response_body BLOB    NOT NULL,
      created_at    INTEGER NOT NULL
    );
    INSERT INTO idempotency_v5 (scope_key, fingerprint, status, response_body, created_at)
      SELECT scope_key, fingerprint, status, response_body, created_at FROM idempotency ORDER BY created_at;
    DROP TABLE idempotency;
    ALTER TABLE idempotency_v5 RENAME TO idempotency;
    CREATE UNIQUE INDEX idempotency_by_key ON idempotency (scope_key);
    CREATE INDEX idempotency_by_created_at ON idempotency (created_at);
  )sql"},
  // Idempotency records in the order they were written are in the order they were created: the
  // writer never stores a created_at older than the one before (docs/journal.md, "Purging without
  // an index"). So the purge reads the oldest rows by n, and the index on created_at, one more
  // insert per keyed request, goes. Records written before this version are brought into that
  // order here, each to the newest created_at written before it: kept a little longer, never less.
  {6, R"sql(
    DROP INDEX idempotency_by_created_at;
    UPDATE idempotency SET created_at = running.newest
      FROM (SELECT n, max(created_at) OVER (ORDER BY n) AS newest FROM idempotency) AS running
      WHERE idempotency.n = running.n AND idempotency.created_at < running.newest;
  )sql"},
};

static_assert(std::size(migrations) > 0 &&
                migrations[std::size(migrations) - 1].version == sqlite_journal::schema_version,
              "the last migration must be the schema version this binary writes");
static_assert(sealed_blob_bytes_max >= core::limits::sealed_plaintext_bytes_max + core::sealed_overhead_bytes,
              "the vault must store the largest blob core::seal produces");

/// Page cache of the writer connection. Appends of many users touch many B-tree pages; with
/// SQLite's default 2 MiB cache, 10 000 active streams would re-read pages from the OS each commit.
constexpr int writer_cache_kib = 32768;
/// How often the checkpointer copies the WAL back into the database file.
constexpr std::chrono::milliseconds checkpoint_interval{250};
/// Between two checkpoint passes over a WAL past the bound that the first did not copy whole.
constexpr std::chrono::milliseconds long_wal_pass_pause{1};
/// How long a WAL restart waits for readers to leave the WAL before it gives up until next time.
constexpr int wal_restart_busy_ms = 20;
/// The pause before the next purge when one hit its row limit: at most 10 000 expired records a
/// second, each purge a bounded piece of a commit.
constexpr std::chrono::milliseconds purge_backlog_interval{100};

std::int64_t system_clock_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}


std::string describe(sqlite3* db, const std::filesystem::path& path, std::string_view action) {
  return path.string() + ": " + std::string(action) + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
}

/// Opens one connection with the settings every connection shares, through `vfs` (the default
/// VFS when null).
db_ptr open_connection(const std::filesystem::path& path, std::string& error, const char* vfs = nullptr) {
  sqlite3* raw = nullptr;
  // NOMUTEX: each connection is used by one thread at a time (the writer thread, or a reader
  // holding the reader mutex), so SQLite's own per-call mutex would be pure cost.
  auto const rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                  vfs);
  db_ptr db(raw);
  if (rc != SQLITE_OK) {
    error = describe(raw, path, "cannot open the journal");
    return nullptr;
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, static_cast<int>(limits::journal_busy_timeout_ms));
  return db;
}

/// Applies every migration newer than the file's version, all in one transaction. An existing
/// file's migration is announced through `notice` (when set), before and after.
bool migrate(sqlite3* db, const std::filesystem::path& path, std::string& error,
             const std::function<void(const std::string&)>& notice) {
  if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
    error = describe(db, path, "cannot start the schema migration");
    return false;
  }
  auto const fail = [&](std::string_view action) {
    error = describe(db, path, action);
    exec(db, "ROLLBACK");
    return false;
  };
  if (exec(db, "CREATE TABLE IF NOT EXISTS schema_version ("
               "version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL)") != SQLITE_OK)
    return fail("cannot create schema_version");
  std::int64_t current = 0;
  {
    statement select;
    if (select.prepare(db, "SELECT coalesce(max(version), 0) FROM schema_version") != SQLITE_OK ||
        select.step() != SQLITE_ROW)
      return fail("cannot read schema_version");
    current = select.column_int(0);
  }
  if (current > sqlite_journal::schema_version) {
    error = path.string() + ": journal schema version " + std::to_string(current) +
            " is newer than this binary's (" + std::to_string(sqlite_journal::schema_version) +
            "); run the stewardd that wrote it, or a newer one";
    exec(db, "ROLLBACK");
    return false;
  }
  // A new file (version 0) is made in milliseconds; an existing one may hold millions of rows.
  bool const announce = notice && current > 0 && current < sqlite_journal::schema_version;
  auto const started = std::chrono::steady_clock::now();
  if (announce)
    notice(path.string() + ": migrating the journal from schema version " + std::to_string(current) + " to " +
           std::to_string(sqlite_journal::schema_version) +
           " in one transaction; a large journal takes a while, and stewardd listens once it is done");
  for (auto const& step : migrations) {
    if (step.version <= current)
      continue;
    if (exec(db, step.sql) != SQLITE_OK)
      return fail("migration " + std::to_string(step.version) + " failed");
    statement record;
    if (record.prepare(db, "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)") != SQLITE_OK)
      return fail("cannot record the schema version");
    record.bind(1, std::int64_t{step.version});
    record.bind(2, system_clock_seconds());
    if (record.step() != SQLITE_DONE)
      return fail("cannot record the schema version");
  }
  if (exec(db, "COMMIT") != SQLITE_OK)
    return fail("cannot commit the schema migration");
  if (announce) {
    auto const ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.1f", static_cast<double>(ms.count()) / 1000.0);
    notice(path.string() + ": journal migrated to schema version " + std::to_string(sqlite_journal::schema_version) +
           " in " + seconds + " s");
  }
  return true;
}

/// Why a refused batch is malformed, checked on the appending thread before it is queued. The
/// checks are cheap (no hashing in release builds) so that `append` stays non-blocking.
std::optional<journal_error> check_batch(const append_batch& batch, std::size_t& bytes) {
  bytes = batch.stream.size();
  if (batch.stream.empty() || batch.events.size() > limits::journal_batch_events_max ||
      batch.idempotency.size() > limits::journal_batch_idempotency_max ||
      batch.aliases.size() > limits::journal_batch_aliases_max ||
      batch.outbox.size() > limits::journal_batch_outbox_max || batch.sealed.size() > journal_batch_sealed_max ||
      batch.unsealed.size() > journal_batch_unsealed_max)
    return journal_error::invalid_request;
  if (batch.events.empty() && batch.idempotency.empty() && batch.aliases.empty() && batch.outbox.empty() &&
      batch.sealed.empty() && batch.unsealed.empty() && !batch.snapshot)
    return journal_error::invalid_request;
  constexpr auto seq_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (!batch.events.empty()) {
    auto const first = batch.events.front().seq;
    if (first == 0 || first > seq_max - batch.events.size())
      return journal_error::invalid_request;
    for (std::size_t i = 0; i < batch.events.size(); ++i) {
      auto const& e = batch.events[i];
      if (e.stream != batch.stream || e.seq != first + i || e.type.empty())
        return journal_error::invalid_request;
      bytes += e.type.size() + e.payload.size() + e.stream.size() + sizeof(event);
    }
    if (first == 1 && batch.prev_hash != core::chain_genesis)
      return journal_error::invalid_request;
#ifndef NDEBUG
    // Debug builds recompute the batch's own chain, to catch a caller that hashes wrongly before
    // its events are stored; release builds leave that to verification on read.
    core::chain_verifier verifier(batch.prev_hash, first);
    for (auto const& e : batch.events)
      if (!verifier.feed(chain_fields(e), e.hash))
        return journal_error::invalid_request;
#endif
  }
  for (auto const& record : batch.idempotency) {
    if (record.scope_key.empty())
      return journal_error::invalid_request;
    bytes += record.scope_key.size() + record.response_body.size() + sizeof(idempotency_record);
  }
  for (auto const& entry : batch.aliases) {
    if (entry.key.empty() || entry.key.size() > alias_key_bytes_max || entry.stream.empty())
      return journal_error::invalid_request;
    bytes += entry.key.size() + entry.stream.size() + sizeof(alias);
  }
  for (auto const& entry : batch.outbox) {
    if (entry.id.empty() || entry.id.size() > outbox_id_bytes_max || entry.type.empty() ||
        entry.type.size() > outbox_type_bytes_max || entry.payload.size() > outbox_payload_bytes_max)
      return journal_error::invalid_request;
    bytes += entry.id.size() + entry.stream.size() + entry.type.size() + entry.payload.size() + sizeof(outbox_entry);
  }
  for (auto const& entry : batch.sealed) {
    if (entry.ref.empty() || entry.ref.size() > sealed_ref_bytes_max || entry.stream.empty() || entry.blob.empty() ||
        entry.blob.size() > sealed_blob_bytes_max)
      return journal_error::invalid_request;
    bytes += entry.ref.size() + entry.stream.size() + entry.blob.size() + sizeof(sealed_entry);
  }
  for (auto const& ref : batch.unsealed) {
    if (ref.empty() || ref.size() > sealed_ref_bytes_max)
      return journal_error::invalid_request;
    bytes += ref.size() + sizeof(std::string);
  }
  if (batch.snapshot) {
    if (batch.snapshot->stream != batch.stream || batch.snapshot->seq == 0 || batch.snapshot->seq > seq_max)
      return journal_error::invalid_request;
    bytes += batch.snapshot->state.size() + sizeof(snapshot);
  }
  if (bytes > limits::journal_batch_bytes_max)
    return journal_error::invalid_request;
  return std::nullopt;
}

/// Why a `complete_outbox` request is malformed, and its bytes in the queue. The ids come from
/// `read_outbox`, so one that could never be stored is the caller's bug, not an unknown id.
std::optional<journal_error> check_completion(const std::vector<std::string>& ids, std::size_t& bytes) {
  bytes = 0;
  if (ids.size() > limits::journal_read_outbox_max)
    return journal_error::invalid_request;
  for (auto const& id : ids) {
    if (id.empty() || id.size() > outbox_id_bytes_max)
      return journal_error::invalid_request;
    bytes += id.size() + sizeof(std::string);
  }
  return std::nullopt;
}

/// A primary-key or unique clash: another writer holds the seq (or the idempotency key) already,
/// the outbox holds the webhook id, or the vault holds the ref. (A taken alias key is not a clash
/// by itself: the writer compares the stored stream.)
bool is_conflict(int rc) noexcept {
  return rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE;
}

} // namespace

class sqlite_journal::impl {
public:
  enum class request_kind : std::uint8_t { append, purge, complete_outbox };

  /// One queued request for the writer: an append, a purge of idempotency records, or the
  /// deletion of delivered outbox entries.
  struct pending {
    request_kind kind = request_kind::append;
    append_batch batch;
    /// The outbox ids to delete, for `complete_outbox`.
    std::vector<std::string> outbox_ids;
    append_callback callback;
    std::size_t bytes = 0;
    std::optional<journal_error> outcome;
  };

  impl(sqlite_journal_options options) : options_(std::move(options)) {
    if (!options_.clock)
      options_.clock = system_clock_seconds;
    ring_.resize(options_.queue_batches);
    group_.reserve(options_.commit_batches);
  }

  ~impl() { stop(); }

  bool open(std::string& error) {
    // The writer gathers its WAL writes into one call per commit (storage/wal_gather_vfs.hpp);
    // it runs at synchronous=FULL, which that requires.
    writer_db_ = open_connection(options_.path, error, wal_gather_vfs());
    if (!writer_db_)
      return false;
    auto* db = writer_db_.get();
    {
      statement mode;
      if (mode.prepare(db, "PRAGMA journal_mode=WAL") != SQLITE_OK || mode.step() != SQLITE_ROW ||
          mode.column_bytes(0) != "wal") {
        error = describe(db, options_.path, "cannot switch the journal to WAL mode");
        return false;
      }
    }
    auto const cache_pragma = "PRAGMA cache_size=-" + std::to_string(writer_cache_kib);
    // synchronous=FULL: a commit returns only after the WAL is fsynced, which is what lets the
    // callback say "durable" (NORMAL would lose the last commits on power loss in WAL mode).
    // Checkpoints (copying the WAL back into the database file, with its own fsync) run on a
    // thread of their own (`run_checkpointer`), not inside the writer's commits: the writer is the
    // throughput bottleneck, and an automatic checkpoint every 1000 pages stalled it.
    if (exec(db, "PRAGMA wal_autocheckpoint=0") != SQLITE_OK) {
      error = describe(db, options_.path, "cannot configure the journal");
      return false;
    }
    sqlite3_wal_hook(db, &impl::on_wal_commit, this);
    // temp_store=MEMORY keeps the statement journal of a redone group (savepoints) in memory;
    // past 64 KiB SQLite otherwise spills it to a temporary file, a write call per page.
    if (exec(db, "PRAGMA synchronous=FULL") != SQLITE_OK || exec(db, cache_pragma.c_str()) != SQLITE_OK ||
        exec(db, "PRAGMA temp_store=MEMORY") != SQLITE_OK) {
      error = describe(db, options_.path, "cannot configure the journal");
      return false;
    }
    if (!migrate(db, options_.path, error, options_.notice))
      return false;
    if (!prepare_writer(error))
      return false;
    {
      // The newest record is the last one written (`idempotency_newest_`).
      statement newest;
      int rc = newest.prepare(db, "SELECT created_at FROM idempotency ORDER BY n DESC LIMIT 1");
      if (rc == SQLITE_OK && (rc = newest.step()) == SQLITE_ROW)
        idempotency_newest_ = newest.column_int(0);
      else if (rc != SQLITE_DONE) {
        error = describe(db, options_.path, "cannot read the newest idempotency record");
        return false;
      }
    }

    reader_db_ = open_connection(options_.path, error);
    if (!reader_db_)
      return false;
    // The reader never writes; query_only makes that a guarantee rather than a habit.
    if (exec(reader_db_.get(), "PRAGMA query_only=1") != SQLITE_OK || !prepare_reader(error))
      return false;

    checkpoint_db_ = open_connection(options_.path, error);
    // A connection learns that the file is in WAL mode when it first reads it; until then a
    // checkpoint through it does nothing.
    if (!checkpoint_db_ || exec(checkpoint_db_.get(), "SELECT count(*) FROM sqlite_master") != SQLITE_OK) {
      if (checkpoint_db_)
        error = describe(checkpoint_db_.get(), options_.path, "cannot open the checkpoint connection");
      return false;
    }

    try {
      heads_ = std::make_unique<stream_heads>(options_.stream_heads_slots);
    } catch (const std::bad_alloc&) {
      error = options_.path.string() + ": cannot allocate the writer's stream heads";
      return false;
    }
    if (options_.idempotency_filter_bytes > 0) {
      try {
        filter_ = std::make_unique<idempotency_filter>(options_.idempotency_filter_bytes);
      } catch (const std::bad_alloc&) {
        error = options_.path.string() + ": cannot allocate the idempotency filter (" +
                std::to_string(options_.idempotency_filter_bytes >> 20) + " MiB)";
        return false;
      }
    }
    next_purge_ = std::chrono::steady_clock::now();
    writer_ = std::thread([this] {
      core::name_this_thread("journal-writer");
      core::nice_this_thread(options_.thread_nice);
      run_writer();
    });
    checkpointer_ = std::thread([this] {
      core::name_this_thread("journal-ckpt");
      core::nice_this_thread(options_.thread_nice);
      run_checkpointer();
    });
    if (filter_ != nullptr) {
      scanner_ = std::thread([this] {
        core::name_this_thread("journal-scan");
        core::nice_this_thread(options_.thread_nice);
        scan_idempotency_keys();
      });
    }
    return true;
  }

  /// Adds the key of every idempotency record the file held at open to the filter, then marks it
  /// complete; until then it answers "maybe" to every key. Records committed since open are added
  /// by the writer itself. A failure leaves the filter incomplete, which costs reads, not answers.
  void scan_idempotency_keys() {
    std::string error;
    auto db = open_connection(options_.path, error);
    if (!db || exec(db.get(), "PRAGMA query_only=1") != SQLITE_OK)
      return;
    // Every record the file held at open was created no later than the newest one now, the last
    // one written (a purge only deletes): the scanned keys are added as that old, which is what
    // retiring them needs.
    std::int64_t newest = 0;
    {
      statement latest;
      if (latest.prepare(db.get(), "SELECT created_at FROM idempotency ORDER BY n DESC LIMIT 1") != SQLITE_OK)
        return;
      int const rc = latest.step();
      if (rc == SQLITE_ROW)
        newest = latest.column_int(0);
      else if (rc != SQLITE_DONE)
        return;
    }
    // The unique index holds every key and is far narrower than the table (no response bodies).
    statement keys;
    if (keys.prepare(db.get(), "SELECT scope_key FROM idempotency INDEXED BY idempotency_by_key") != SQLITE_OK)
      return;
    int rc = SQLITE_ROW;
    while (!scan_stopping_.load(std::memory_order_relaxed) && (rc = keys.step()) == SQLITE_ROW)
      filter_->add(keys.column_bytes(0), newest);
    if (rc == SQLITE_DONE)
      filter_->mark_complete();
  }

  /// Every `checkpoint_interval`, a PASSIVE checkpoint: it copies what it can without waiting for
  /// the writer or the readers, so it never blocks a commit; once it has copied everything, the
  /// writer's next commit starts the WAL over from its beginning, which keeps the file bounded.
  ///
  /// Under steady load that never happens: the writer always commits again before it could see
  /// the WAL fully copied, and the WAL grew by hundreds of MB a minute. So once a commit leaves
  /// the WAL longer than `wal_restart_frames`, the commit hook wakes the checkpointer; after each
  /// pass it asks the writer to restart the WAL (`restart_wal`, between two commits), which
  /// copies only what was committed during the pass.
  void run_checkpointer() {
    std::unique_lock lock(checkpoint_mutex_);
    while (!checkpoint_stopping_) {
      checkpoint_wake_.wait_for(lock, checkpoint_interval, [this] {
        return checkpoint_stopping_ || wal_long_.load(std::memory_order_relaxed);
      });
      if (checkpoint_stopping_)
        break;
      lock.unlock();
      int wal_frames = 0;
      int copied = 0;
      auto const rc = sqlite3_wal_checkpoint_v2(checkpoint_db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                                &wal_frames, &copied);
      if (rc == SQLITE_OK)
        checkpoints_.fetch_add(1, std::memory_order_relaxed);
      lock.lock();
      if (!wal_long_.load(std::memory_order_relaxed))
        continue;
      if (rc == SQLITE_OK) {
        // Nearly all copied: only what the writer committed during this pass is left. The writer
        // copies that and restarts the WAL after its current commit, then says so.
        restart_wanted_.store(true, std::memory_order_relaxed);
        {
          // Under the writer's lock, so that an idle writer cannot miss it between its check
          // and its wait. (Lock order: checkpoint_mutex_, then queue_mutex_; never the reverse.)
          std::lock_guard queue_lock(queue_mutex_);
          if (writer_waiting_)
            queue_ready_.notify_one();
        }
        checkpoint_wake_.wait_for(lock, checkpoint_interval, [this] {
          return checkpoint_stopping_ || !restart_wanted_.load(std::memory_order_relaxed);
        });
        if (restart_failed_) // a reader was in the way: give it an interval before asking again
          checkpoint_wake_.wait_for(lock, checkpoint_interval, [this] { return checkpoint_stopping_; });
      } else {
        // Busy (the writer restarting, or a reader in the way): try again shortly.
        checkpoint_wake_.wait_for(lock, long_wal_pass_pause, [this] { return checkpoint_stopping_; });
      }
    }
  }

  // --- Appending (any thread) -------------------------------------------------------------------

  void append(append_batch&& batch, append_callback&& callback) {
    std::size_t bytes = 0;
    if (auto const refused = check_batch(batch, bytes)) {
      callback(append_outcome{refused});
      return;
    }
    enqueue(pending{request_kind::append, std::move(batch), {}, std::move(callback), bytes, std::nullopt});
  }

  void purge_idempotency(append_callback&& callback) {
    enqueue(pending{request_kind::purge, {}, {}, std::move(callback), 0, std::nullopt});
  }

  void complete_outbox(std::vector<std::string>&& ids, append_callback&& callback) {
    std::size_t bytes = 0;
    if (auto const refused = check_completion(ids, bytes)) {
      callback(append_outcome{refused});
      return;
    }
    enqueue(pending{request_kind::complete_outbox, {}, std::move(ids), std::move(callback), bytes, std::nullopt});
  }

  void enqueue(pending&& request) {
    auto const bytes = request.bytes;
    std::optional<journal_error> refused;
    bool wake = false;
    {
      std::lock_guard lock(queue_mutex_);
      if (stopping_)
        refused = journal_error::stopped;
      else if (count_ == ring_.size() || queued_bytes_ + bytes > options_.queue_bytes)
        refused = journal_error::overloaded;
      else {
        ring_[(head_ + count_) % ring_.size()] = std::move(request);
        ++count_;
        queued_bytes_ += bytes;
        queue_depth_.store(count_, std::memory_order_relaxed);
        wake = writer_waiting_;
      }
    }
    if (refused) {
      if (*refused == journal_error::overloaded)
        overloads_.fetch_add(1, std::memory_order_relaxed);
      request.callback(append_outcome{refused});
      return;
    }
    // Only a sleeping writer needs the wake-up; a busy one takes the batch with its next group,
    // which saves a futex call per append under load.
    if (wake)
      queue_ready_.notify_one();
  }

  void stop() {
    std::lock_guard stop_lock(stop_mutex_);
    {
      std::lock_guard lock(queue_mutex_);
      stopping_ = true;
    }
    queue_ready_.notify_one();
    if (writer_.joinable())
      writer_.join();
    {
      std::lock_guard lock(checkpoint_mutex_);
      checkpoint_stopping_ = true;
    }
    checkpoint_wake_.notify_one();
    if (checkpointer_.joinable())
      checkpointer_.join();
    scan_stopping_.store(true, std::memory_order_relaxed);
    if (scanner_.joinable())
      scanner_.join();
  }

  bool may_hold_idempotency(std::string_view scope_key) const noexcept {
    return filter_ == nullptr || filter_->may_contain(scope_key);
  }

  const idempotency_filter* filter() const noexcept { return filter_.get(); }

  // --- Reading (any thread, serialised on the reader connection) --------------------------------

  journal_result<std::vector<event>> read_stream(std::string_view stream, std::uint64_t from_seq,
                                                 std::uint32_t limit) {
    if (stream.empty() || from_seq == 0 || from_seq > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return journal_error::invalid_request;
    limit = std::min(limit, limits::journal_read_events_max);
    std::lock_guard lock(reader_mutex_);
    // One read transaction, so that the anchor and the events come from the same commit.
    if (!begin_read())
      return journal_error::io_error;
    auto result = read_stream_locked(stream, from_seq, limit);
    end_read();
    return result;
  }

  journal_result<std::optional<snapshot>> latest_snapshot(std::string_view stream) {
    std::lock_guard lock(reader_mutex_);
    if (!begin_read())
      return journal_error::io_error;
    auto result = latest_snapshot_locked(stream);
    end_read();
    return result;
  }

  journal_result<std::optional<idempotency_record>> find_idempotency(std::string_view scope_key) {
    std::lock_guard lock(reader_mutex_);
    auto& s = read_idempotency_;
    reset_guard guard(s);
    s.bind(1, scope_key);
    auto const rc = s.step();
    if (rc == SQLITE_DONE)
      return std::optional<idempotency_record>{};
    if (rc != SQLITE_ROW)
      return journal_error::io_error;
    idempotency_record record;
    record.scope_key = std::string(scope_key);
    auto const fingerprint = s.column_bytes(0);
    if (fingerprint.size() != record.fingerprint.size())
      return journal_error::corrupt;
    std::memcpy(record.fingerprint.data(), fingerprint.data(), fingerprint.size());
    record.status = static_cast<std::uint16_t>(s.column_int(1));
    record.response_body = std::string(s.column_bytes(2));
    record.created_at = s.column_int(3);
    return std::optional<idempotency_record>{std::move(record)};
  }

  journal_result<std::optional<std::string>> find_alias(std::string_view key) {
    // No stored key is empty or longer than the maximum (check_batch refuses them), and `key`
    // may come from a client: answer "none" rather than call it a programmer error.
    if (key.empty() || key.size() > alias_key_bytes_max)
      return std::optional<std::string>{};
    std::lock_guard lock(reader_mutex_);
    auto& s = read_alias_;
    reset_guard guard(s);
    s.bind(1, key);
    auto const rc = s.step();
    if (rc == SQLITE_DONE)
      return std::optional<std::string>{};
    if (rc != SQLITE_ROW)
      return journal_error::io_error;
    return std::optional<std::string>{std::string(s.column_bytes(0))};
  }

  journal_result<std::vector<alias>> read_aliases(std::string_view after_key, std::uint32_t limit) {
    limit = std::min(limit, limits::journal_read_aliases_max);
    std::vector<alias> page;
    if (limit == 0)
      return page;
    std::lock_guard lock(reader_mutex_);
    auto& s = read_aliases_;
    reset_guard guard(s);
    // A default-constructed view has a null pointer, which SQLite would bind as NULL, and
    // `key > NULL` matches nothing: bind an empty text instead, which every key follows.
    s.bind(1, after_key.empty() ? std::string_view("") : after_key);
    s.bind(2, static_cast<std::int64_t>(limit));
    int rc = SQLITE_OK;
    while ((rc = s.step()) == SQLITE_ROW)
      page.push_back(alias{std::string(s.column_bytes(0)), std::string(s.column_bytes(1))});
    if (rc != SQLITE_DONE)
      return journal_error::io_error;
    return page;
  }

  journal_result<std::optional<std::string>> read_sealed(std::string_view ref) {
    // No stored ref is empty or longer than the maximum (check_batch refuses them), and `ref` may
    // come from an event or a client: answer "none" rather than call it a programmer error.
    if (ref.empty() || ref.size() > sealed_ref_bytes_max)
      return std::optional<std::string>{};
    std::lock_guard lock(reader_mutex_);
    auto& s = read_sealed_;
    reset_guard guard(s);
    s.bind(1, ref);
    auto const rc = s.step();
    if (rc == SQLITE_DONE)
      return std::optional<std::string>{};
    if (rc != SQLITE_ROW)
      return journal_error::io_error;
    // column_bytes reads the value as a blob: every byte, NULs included.
    return std::optional<std::string>{std::string(s.column_bytes(0))};
  }

  journal_result<std::vector<outbox_entry>> read_outbox(std::uint64_t after_n, std::uint32_t limit) {
    limit = std::min(limit, limits::journal_read_outbox_max);
    std::vector<outbox_entry> page;
    // No stored n exceeds SQLite's largest integer, so nothing follows a larger cursor.
    if (limit == 0 || after_n >= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return page;
    std::lock_guard lock(reader_mutex_);
    auto& s = read_outbox_;
    reset_guard guard(s);
    s.bind(1, static_cast<std::int64_t>(after_n));
    s.bind(2, static_cast<std::int64_t>(limit));
    int rc = SQLITE_OK;
    while ((rc = s.step()) == SQLITE_ROW)
      page.push_back(outbox_entry{static_cast<std::uint64_t>(s.column_int(0)), std::string(s.column_bytes(1)),
                                  std::string(s.column_bytes(2)), std::string(s.column_bytes(3)),
                                  std::string(s.column_bytes(4)), s.column_int(5)});
    if (rc != SQLITE_DONE)
      return journal_error::io_error;
    return page;
  }

  journal_result<stream_verification> verify_stream(std::string_view stream) {
    std::lock_guard lock(reader_mutex_);
    if (!begin_read())
      return journal_error::io_error;
    core::chain_verifier verifier;
    auto& s = read_events_;
    int rc = SQLITE_OK;
    {
      reset_guard guard(s);
      s.bind(1, stream);
      s.bind(2, std::int64_t{1});
      s.bind(3, std::int64_t{-1}); // no limit: an audit checks everything
      while ((rc = s.step()) == SQLITE_ROW) {
        // A stored hash of the wrong size is corrupt; all zeros stands in for it, which no
        // SHA-256 output matches in practice, so the link is reported bad at its seq.
        verifier.feed(row_view(s, stream), s.column_hash(4).value_or(core::chain_hash{}));
      }
    }
    end_read();
    if (rc != SQLITE_DONE)
      return journal_error::io_error;
    auto const& verdict = verifier.verdict();
    return stream_verification{verdict.valid, verdict.events, verdict.first_bad_seq};
  }

  // --- Counters ----------------------------------------------------------------------------------

  std::atomic<std::uint64_t> batches_durable_{0};
  std::atomic<std::uint64_t> events_durable_{0};
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> checkpoints_{0};
  std::atomic<std::uint64_t> wal_restarts_{0};
  /// Set by the checkpointer, taken by the writer: see `run_checkpointer`.
  std::atomic<bool> restart_wanted_{false};
  /// Set by the writer's commit hook once the WAL is past the bound; cleared by the writer once
  /// it restarted the WAL.
  std::atomic<bool> wal_long_{false};
  std::atomic<std::uint64_t> conflicts_{0};
  std::atomic<std::uint64_t> redone_groups_{0};
  std::atomic<std::uint64_t> overloads_{0};
  std::atomic<std::uint64_t> io_errors_{0};
  std::atomic<std::uint64_t> idempotency_purged_{0};
  std::atomic<std::uint64_t> outbox_completed_{0};
  std::atomic<std::uint64_t> outbox_expired_{0};
  std::atomic<std::uint64_t> queue_depth_{0};
  std::atomic<std::uint64_t> fences_from_memory_{0};

private:
  /// The event fields of the current row of `read_events_` (views into SQLite's row buffer, valid
  /// until the next step).
  static core::chain_event row_view(const statement& s, std::string_view stream) noexcept {
    return core::chain_event{stream, static_cast<std::uint64_t>(s.column_int(0)), s.column_bytes(1),
                             s.column_int(3), s.column_bytes(2)};
  }

  bool prepare_writer(std::string& error) {
    auto* db = writer_db_.get();
    struct {
      statement* target;
      const char* sql;
    } const list[] = {
      {&begin_, "BEGIN IMMEDIATE"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      {&savepoint_, "SAVEPOINT batch"},
      {&rollback_to_, "ROLLBACK TO batch"},
      {&release_, "RELEASE batch"},
      {&write_head_, "SELECT hash FROM events WHERE stream = ?1 AND seq = ?2"},
      {&insert_event_, "INSERT INTO events (stream, seq, type, payload, created_at, hash) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
      {&insert_idempotency_, "INSERT INTO idempotency (scope_key, fingerprint, status, response_body, created_at) "
                             "VALUES (?1, ?2, ?3, ?4, ?5)"},
      {&upsert_snapshot_, "INSERT INTO snapshots (stream, seq, hash, state, created_at) VALUES (?1, ?2, ?3, ?4, ?5) "
                          "ON CONFLICT (stream) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
                          "state = excluded.state, created_at = excluded.created_at "
                          "WHERE excluded.seq > snapshots.seq"},
      {&insert_alias_, "INSERT INTO aliases (key, stream) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING"},
      {&write_alias_, "SELECT stream FROM aliases WHERE key = ?1"},
      {&insert_outbox_, "INSERT INTO outbox (id, stream, type, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"},
      {&delete_outbox_, "DELETE FROM outbox WHERE id = ?1"},
      {&insert_sealed_, "INSERT INTO vault (ref, stream, blob) VALUES (?1, ?2, ?3)"},
      {&delete_sealed_, "DELETE FROM vault WHERE ref = ?1"},
      // Only the ?2 oldest rows by n (the rowid) are looked at: records are appended in the order
      // of their created_at (`idempotency_newest_`), so the expired ones are at the front, and a
      // purge that finds nothing to expire reads ?2 rows, not a day of records. One that deletes
      // fewer than ?2 met a record not expired, so none older remains after it.
      {&purge_, "DELETE FROM idempotency WHERE n IN "
                "(SELECT n FROM idempotency ORDER BY n LIMIT ?2) AND created_at < ?1"},
      // The same for webhooks, whose entries are appended in time order as well.
      {&expire_outbox_, "DELETE FROM outbox WHERE n IN "
                        "(SELECT n FROM outbox ORDER BY n LIMIT ?2) AND created_at < ?1"},
    };
    for (auto const& item : list)
      if (item.target->prepare(db, item.sql) != SQLITE_OK) {
        error = describe(db, options_.path, std::string("cannot prepare `") + item.sql + "`");
        return false;
      }
    return true;
  }

  bool prepare_reader(std::string& error) {
    auto* db = reader_db_.get();
    struct {
      statement* target;
      const char* sql;
    } const list[] = {
      {&begin_read_, "BEGIN"},
      {&end_read_, "COMMIT"},
      {&read_head_, "SELECT hash FROM events WHERE stream = ?1 AND seq = ?2"},
      {&read_events_, "SELECT seq, type, payload, created_at, hash FROM events "
                      "WHERE stream = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3"},
      {&read_snapshot_, "SELECT seq, hash, state, created_at FROM snapshots WHERE stream = ?1"},
      {&read_idempotency_, "SELECT fingerprint, status, response_body, created_at FROM idempotency "
                           "WHERE scope_key = ?1"},
      {&read_alias_, "SELECT stream FROM aliases WHERE key = ?1"},
      {&read_aliases_, "SELECT key, stream FROM aliases WHERE key > ?1 ORDER BY key LIMIT ?2"},
      {&read_outbox_, "SELECT n, id, stream, type, payload, created_at FROM outbox WHERE n > ?1 ORDER BY n LIMIT ?2"},
      {&read_sealed_, "SELECT blob FROM vault WHERE ref = ?1"},
    };
    for (auto const& item : list)
      if (item.target->prepare(db, item.sql) != SQLITE_OK) {
        error = describe(db, options_.path, std::string("cannot prepare `") + item.sql + "`");
        return false;
      }
    return true;
  }

  /// Runs a statement that returns no rows; returns the SQLite result code.
  static int run(statement& s) noexcept {
    reset_guard guard(s);
    auto const rc = s.step();
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  bool begin_read() noexcept { return run(begin_read_) == SQLITE_OK; }
  void end_read() noexcept {
    // A read transaction has nothing to lose; if COMMIT fails, ROLLBACK through sqlite3_exec is
    // the only way left to release the read snapshot.
    if (run(end_read_) != SQLITE_OK)
      exec(reader_db_.get(), "ROLLBACK");
  }

  /// The stored hash of (stream, seq) through `s`: a value, nullopt when absent, or an error.
  static journal_result<std::optional<core::chain_hash>> stored_hash(statement& s, std::string_view stream,
                                                                     std::uint64_t seq) {
    reset_guard guard(s);
    s.bind(1, stream);
    s.bind(2, static_cast<std::int64_t>(seq));
    auto const rc = s.step();
    if (rc == SQLITE_DONE)
      return std::optional<core::chain_hash>{};
    if (rc != SQLITE_ROW)
      return journal_error::io_error;
    auto hash = s.column_hash(0);
    if (!hash)
      return journal_failure{journal_error::corrupt, seq};
    return std::optional<core::chain_hash>{*hash};
  }

  journal_result<std::vector<event>> read_stream_locked(std::string_view stream, std::uint64_t from_seq,
                                                        std::uint32_t limit) {
    core::chain_hash anchor = core::chain_genesis;
    bool anchor_missing = false;
    if (from_seq > 1) {
      auto stored = stored_hash(read_head_, stream, from_seq - 1);
      if (!stored)
        return stored.failure();
      if (stored.value())
        anchor = *stored.value();
      else
        anchor_missing = true;
    }
    std::vector<event> events;
    core::chain_verifier verifier(anchor, from_seq);
    auto& s = read_events_;
    reset_guard guard(s);
    s.bind(1, stream);
    s.bind(2, static_cast<std::int64_t>(from_seq));
    s.bind(3, static_cast<std::int64_t>(limit));
    int rc = SQLITE_OK;
    while ((rc = s.step()) == SQLITE_ROW) {
      auto const view = row_view(s, stream);
      auto const hash = s.column_hash(4);
      // Events after a missing anchor cannot be checked: history before them is gone.
      if (anchor_missing)
        return journal_failure{journal_error::corrupt, from_seq - 1};
      if (!hash || !verifier.feed(view, *hash))
        return journal_failure{journal_error::corrupt, verifier.verdict().first_bad_seq.value_or(view.seq)};
      events.push_back(event{std::string(stream), view.seq, std::string(view.type),
                             std::string(view.payload), view.created_at, *hash});
    }
    if (rc != SQLITE_DONE)
      return journal_error::io_error;
    return events;
  }

  journal_result<std::optional<snapshot>> latest_snapshot_locked(std::string_view stream) {
    snapshot found;
    {
      auto& s = read_snapshot_;
      reset_guard guard(s);
      s.bind(1, stream);
      auto const rc = s.step();
      if (rc == SQLITE_DONE)
        return std::optional<snapshot>{};
      if (rc != SQLITE_ROW)
        return journal_error::io_error;
      found.stream = std::string(stream);
      found.seq = static_cast<std::uint64_t>(s.column_int(0));
      auto const hash = s.column_hash(1);
      if (!hash)
        return journal_failure{journal_error::corrupt, found.seq};
      found.hash = *hash;
      found.state = std::string(s.column_bytes(2));
      found.created_at = s.column_int(3);
    }
    // A snapshot is trusted only as far as it sits on the chain: its hash must be the stored hash
    // of its event, whose own chain every later read_stream checks.
    auto stored = stored_hash(read_head_, stream, found.seq);
    if (!stored)
      return stored.failure();
    if (!stored.value() || *stored.value() != found.hash)
      return journal_failure{journal_error::corrupt, found.seq};
    return std::optional<snapshot>{std::move(found)};
  }

  // --- The writer thread -------------------------------------------------------------------------

  void run_writer() {
    for (;;) {
      bool purge_due = false;
      {
        std::unique_lock lock(queue_mutex_);
        writer_waiting_ = true;
        // The timed wait lets an idle journal still purge expired idempotency records.
        // An idle writer also wakes for a WAL restart the checkpointer asks for: it would
        // otherwise wait for the next batch, with the WAL's file still at its full length.
        queue_ready_.wait_until(lock, next_purge_, [this] {
          return count_ > 0 || stopping_ || restart_wanted_.load(std::memory_order_relaxed);
        });
        writer_waiting_ = false;
        if (count_ == 0 && stopping_)
          break;
        auto const take = std::min<std::size_t>(count_, options_.commit_batches);
        for (std::size_t i = 0; i < take; ++i) {
          auto& slot = ring_[head_];
          queued_bytes_ -= slot.bytes;
          group_.push_back(std::move(slot));
          slot = pending{};
          head_ = (head_ + 1) % ring_.size();
        }
        count_ -= take;
        queue_depth_.store(count_, std::memory_order_relaxed);
      }
      auto const now = std::chrono::steady_clock::now();
      if (now >= next_purge_) {
        purge_due = true;
        next_purge_ = now + std::chrono::seconds(limits::idempotency_purge_interval_s);
      }
      for (auto const& request : group_)
        purge_due = purge_due || request.kind == request_kind::purge;
      if (!group_.empty() || purge_due)
        write_group(purge_due);
      // A purge that hit its row limit left expired records behind: the next one comes soon,
      // so that the purge keeps up with a steady load rather than 1 000 rows a minute.
      if (purge_due && purge_backlog_)
        next_purge_ = std::min(next_purge_, std::chrono::steady_clock::now() + purge_backlog_interval);
      // Callbacks run after the commit (durable means fsynced) and outside every lock.
      for (auto& request : group_)
        request.callback(append_outcome{request.outcome});
      group_.clear();
      if (restart_wanted_.load(std::memory_order_relaxed))
        restart_wal();
    }
  }

  /// SQLite's hook after each commit of the writer, with the WAL's length: a WAL past the bound
  /// wakes the checkpointer at once rather than at its next interval.
  static int on_wal_commit(void* self, sqlite3*, const char*, int frames) {
    auto* journal = static_cast<impl*>(self);
    if (frames > static_cast<int>(journal->options_.wal_restart_frames) &&
        !journal->wal_long_.exchange(true, std::memory_order_relaxed)) {
      std::lock_guard lock(journal->checkpoint_mutex_);
      journal->checkpoint_wake_.notify_one();
    }
    return SQLITE_OK;
  }

  /// Copies the few frames the checkpointer has not, then makes the next commit write the WAL
  /// from its start. Run by the writer between two commits, so no commit waits for the lock. It
  /// waits for readers at most `wal_restart_busy_ms`; a reader still in the WAL (a long audit
  /// read, say) makes it give up, and the checkpointer then waits an interval before it asks
  /// again, so that such a reader costs the writer 20 ms per interval at most.
  void restart_wal() {
    sqlite3_busy_timeout(writer_db_.get(), wal_restart_busy_ms);
    auto const started = std::chrono::steady_clock::now();
    auto const rc = sqlite3_wal_checkpoint_v2(writer_db_.get(), nullptr, SQLITE_CHECKPOINT_RESTART, nullptr, nullptr);
    if (options_.wal_restart_durations != nullptr)
      options_.wal_restart_durations->observe_since(started);
    sqlite3_busy_timeout(writer_db_.get(), static_cast<int>(limits::journal_busy_timeout_ms));
    if (rc == SQLITE_OK) {
      wal_restarts_.fetch_add(1, std::memory_order_relaxed);
      wal_long_.store(false, std::memory_order_relaxed); // the next commit writes from the start
    }
    std::lock_guard lock(checkpoint_mutex_);
    restart_failed_ = rc != SQLITE_OK;
    restart_wanted_.store(false, std::memory_order_relaxed);
    checkpoint_wake_.notify_one();
  }

  /// Stores the group in one transaction and sets every request's outcome. First without a
  /// savepoint per batch: a savepoint makes SQLite copy every page a batch changes into a
  /// statement journal first (docs/journal.md, "Group commit"), and batches almost never fail.
  /// When one does (a conflict, a CHECK), the whole transaction is rolled back and the group
  /// stored again with a savepoint per batch, so that only that batch fails.
  void write_group(bool purge) {
    if (write_group_pass(purge, false) == pass_result::redo)
      write_group_pass(purge, true);
  }

  enum class pass_result : std::uint8_t { done, redo };

  pass_result write_group_pass(bool purge, bool savepoints) {
    auto const fail_all = [this](journal_error error) {
      for (auto& request : group_)
        if (!request.outcome) {
          request.outcome = error;
          if (request.kind == request_kind::append)
            io_errors_.fetch_add(1, std::memory_order_relaxed);
        }
    };
    auto const began = std::chrono::steady_clock::now();
    if (run(begin_) != SQLITE_OK) {
      fail_all(journal_error::io_error);
      return pass_result::done;
    }
    std::uint64_t batches = 0;
    std::uint64_t events = 0;
    std::uint64_t purged = 0;
    std::uint64_t expired = 0;
    std::uint64_t completed = 0;
    // In queue order, so that an outbox entry appended before its completion is deleted by it.
    for (auto& request : group_) {
      if (request.kind == request_kind::purge)
        continue;
      if (request.kind == request_kind::complete_outbox) {
        if (!delete_outbox(request.outbox_ids, completed)) {
          run(rollback_);
          fail_all(journal_error::io_error);
          return pass_result::done;
        }
        continue;
      }
      auto const written = savepoints ? write_batch(request.batch) : write_batch_rows(request.batch);
      if (written == batch_written::stored) {
        ++batches;
        events += request.batch.events.size();
        continue;
      }
      if (written == batch_written::failed_transaction) {
        // The transaction itself is in doubt (I/O error, disk full): nothing of the group can be
        // called durable. Roll back whatever SQLite has not rolled back already.
        run(rollback_);
        fail_all(journal_error::io_error);
        return pass_result::done;
      }
      if (!savepoints) {
        // Part of the batch may be written: start over, a savepoint per batch.
        if (run(rollback_) != SQLITE_OK) {
          fail_all(journal_error::io_error);
          return pass_result::done;
        }
        redone_groups_.fetch_add(1, std::memory_order_relaxed);
        return pass_result::redo;
      }
      request.outcome = written == batch_written::conflict ? journal_error::conflict : journal_error::invalid_request;
      if (written == batch_written::conflict)
        conflicts_.fetch_add(1, std::memory_order_relaxed);
    }
    std::int64_t const now = purge ? options_.clock() : 0;
    if (purge) {
      // Rows older than their retention, at most `idempotency_purge_rows_max` a statement; the
      // rows deleted, or nullopt when the statement failed.
      auto const delete_older = [&](statement& older, std::int64_t retention_s)
        -> std::optional<std::uint64_t> {
        older.bind(1, now - retention_s);
        older.bind(2, std::int64_t{limits::idempotency_purge_rows_max});
        if (run(older) != SQLITE_OK)
          return std::nullopt;
        return static_cast<std::uint64_t>(sqlite3_changes64(writer_db_.get()));
      };
      auto const records = delete_older(purge_, options_.idempotency_retention_s);
      auto const webhooks = records ? delete_older(expire_outbox_, options_.outbox_retention_s)
                                    : std::nullopt;
      if (!records || !webhooks) {
        run(rollback_);
        fail_all(journal_error::io_error);
        return pass_result::done;
      }
      purged = *records;
      expired = *webhooks;
      purge_backlog_ = purged >= limits::idempotency_purge_rows_max ||
                       expired >= limits::idempotency_purge_rows_max;
    }
    if (run(commit_) != SQLITE_OK) {
      run(rollback_);
      fail_all(journal_error::io_error);
      return pass_result::done;
    }
    // Only now, with the group committed, are its streams' new heads true.
    for (auto const& request : group_)
      if (request.kind == request_kind::append && !request.outcome && !request.batch.events.empty())
        heads_->remember(request.batch.stream, request.batch.events.back().seq,
                         request.batch.events.back().hash);
    if (filter_ != nullptr) {
      // Before any callback: an actor forgets a key it answered once its append is durable, and
      // from then on the filter must say "maybe" for it.
      for (auto const& request : group_)
        if (request.kind == request_kind::append && !request.outcome)
          for (auto const& record : request.batch.idempotency)
            filter_->add(record.scope_key, record.created_at);
      // A purge that deleted fewer rows than its limit left no record older than its cutoff.
      if (purge && purged < limits::idempotency_purge_rows_max)
        filter_->retire_older_than(now - options_.idempotency_retention_s);
    }

    // A group of only refused batches and an empty purge changed nothing, so SQLite wrote and
    // fsynced nothing: it is not counted as a commit.
    if (batches > 0 || purged > 0 || expired > 0 || completed > 0) {
      commits_.fetch_add(1, std::memory_order_relaxed);
      if (options_.commit_durations != nullptr)
        options_.commit_durations->observe_since(began);
    }
    batches_durable_.fetch_add(batches, std::memory_order_relaxed);
    events_durable_.fetch_add(events, std::memory_order_relaxed);
    idempotency_purged_.fetch_add(purged, std::memory_order_relaxed);
    outbox_completed_.fetch_add(completed, std::memory_order_relaxed);
    outbox_expired_.fetch_add(expired, std::memory_order_relaxed);
    return pass_result::done;
  }

  /// Deletes the outbox entries `ids` (unknown ones are no-ops) and adds the rows deleted to
  /// `deleted`. A delete by a unique key has no constraint to break, so any failure is the
  /// transaction's: false.
  bool delete_outbox(const std::vector<std::string>& ids, std::uint64_t& deleted) {
    for (auto const& id : ids) {
      delete_outbox_.bind(1, id);
      if (run(delete_outbox_) != SQLITE_OK)
        return false;
      deleted += static_cast<std::uint64_t>(sqlite3_changes64(writer_db_.get()));
    }
    return true;
  }

  enum class batch_written : std::uint8_t { stored, conflict, invalid, failed_transaction };

  /// Stores one batch under its own savepoint, so that its failure leaves the rest of the group.
  batch_written write_batch(append_batch& batch) {
    if (run(savepoint_) != SQLITE_OK)
      return batch_written::failed_transaction;
    auto const result = write_batch_rows(batch);
    if (result == batch_written::stored)
      return run(release_) == SQLITE_OK ? batch_written::stored : batch_written::failed_transaction;
    if (result == batch_written::failed_transaction)
      return result;
    if (run(rollback_to_) != SQLITE_OK || run(release_) != SQLITE_OK)
      return batch_written::failed_transaction;
    return result;
  }

  /// What an SQLite failure inside a batch means for it.
  static batch_written classify(int rc) noexcept {
    if (is_conflict(rc))
      return batch_written::conflict;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
      return batch_written::invalid; // a CHECK failed: the caller sent what check_batch missed
    return batch_written::failed_transaction;
  }

  /// Stores `batch`'s rows. Its idempotency records leave with the created_at they were stored
  /// with, which the filter is then given.
  batch_written write_batch_rows(append_batch& batch) {
    if (!batch.events.empty()) {
      // The fence: the batch must continue the stored head, which also rules out gaps. Seq 1
      // continues the genesis (check_batch made sure prev_hash says so).
      auto const first = batch.events.front().seq;
      if (first > 1) {
        // A committed event never changes, so a head this writer committed answers without a
        // read (docs/journal.md, "The fence without a read").
        if (auto const head = heads_->known(batch.stream, first - 1)) {
          fences_from_memory_.fetch_add(1, std::memory_order_relaxed);
          if (*head != batch.prev_hash)
            return batch_written::conflict;
        } else {
          auto stored = stored_hash(write_head_, batch.stream, first - 1);
          if (!stored)
            return stored.error() == journal_error::corrupt ? batch_written::conflict : batch_written::failed_transaction;
          if (!stored.value() || *stored.value() != batch.prev_hash)
            return batch_written::conflict;
        }
      }
      for (auto const& e : batch.events) {
        auto& s = insert_event_;
        s.bind(1, e.stream);
        s.bind(2, static_cast<std::int64_t>(e.seq));
        s.bind(3, e.type);
        s.bind(4, e.payload);
        s.bind(5, e.created_at);
        s.bind_blob(6, e.hash);
        if (auto const rc = run(s); rc != SQLITE_OK)
          return classify(rc);
      }
    }
    for (auto& record : batch.idempotency) {
      // Never older than the record written before it, whatever the clocks of the actors that
      // made them did: the purge relies on that order (the `purge_` statement).
      record.created_at = std::max(record.created_at, idempotency_newest_);
      idempotency_newest_ = record.created_at;
      auto& s = insert_idempotency_;
      s.bind(1, record.scope_key);
      s.bind_blob(2, record.fingerprint);
      s.bind(3, std::int64_t{record.status});
      s.bind_blob(4, record.response_body);
      s.bind(5, record.created_at);
      if (auto const rc = run(s); rc != SQLITE_OK)
        return classify(rc);
    }
    for (auto const& entry : batch.aliases) {
      auto& s = insert_alias_;
      s.bind(1, entry.key);
      s.bind(2, entry.stream);
      if (auto const rc = run(s); rc != SQLITE_OK)
        return classify(rc);
      if (sqlite3_changes64(writer_db_.get()) > 0)
        continue;
      // The key is taken (by an earlier commit, an earlier batch of this group or this batch): the
      // same stream makes the alias a no-op, another stream fails the batch.
      auto& lookup = write_alias_;
      reset_guard guard(lookup);
      lookup.bind(1, entry.key);
      auto const rc = lookup.step();
      if (rc != SQLITE_ROW)
        return batch_written::failed_transaction; // the row the insert just ran into is unreadable
      if (lookup.column_bytes(0) != entry.stream)
        return batch_written::conflict;
    }
    for (auto const& entry : batch.outbox) {
      // n is left to SQLite (AUTOINCREMENT); an id already in the outbox is a unique clash.
      auto& s = insert_outbox_;
      s.bind(1, entry.id);
      s.bind(2, entry.stream);
      s.bind(3, entry.type);
      s.bind(4, entry.payload);
      s.bind(5, entry.created_at);
      if (auto const rc = run(s); rc != SQLITE_OK)
        return classify(rc);
    }
    for (auto const& entry : batch.sealed) {
      // A ref already in the vault is a primary-key clash: refs are minted unique by the caller,
      // so a clash is never overwritten.
      auto& s = insert_sealed_;
      s.bind(1, entry.ref);
      s.bind(2, entry.stream);
      s.bind_blob(3, std::string_view(entry.blob));
      if (auto const rc = run(s); rc != SQLITE_OK)
        return classify(rc);
    }
    // After the inserts, so that sealing and unsealing one ref in a batch leaves it unsealed. A ref
    // not in the vault deletes nothing.
    for (auto const& ref : batch.unsealed) {
      delete_sealed_.bind(1, ref);
      if (auto const rc = run(delete_sealed_); rc != SQLITE_OK)
        return classify(rc);
    }
    if (batch.snapshot) {
      auto const& snap = *batch.snapshot;
      // The snapshot must sit on the chain: its seq stored (by this batch or earlier) with its hash.
      auto stored = stored_hash(write_head_, batch.stream, snap.seq);
      if (!stored)
        return batch_written::failed_transaction;
      if (!stored.value() || *stored.value() != snap.hash)
        return batch_written::invalid;
      auto& s = upsert_snapshot_;
      s.bind(1, snap.stream);
      s.bind(2, static_cast<std::int64_t>(snap.seq));
      s.bind_blob(3, snap.hash);
      s.bind_blob(4, snap.state);
      s.bind(5, snap.created_at);
      if (auto const rc = run(s); rc != SQLITE_OK)
        return classify(rc);
    }
    return batch_written::stored;
  }

  sqlite_journal_options options_;

  // Connections first, statements after: members are destroyed in reverse order, so statements
  // are finalized before their connection closes.
  db_ptr writer_db_;
  db_ptr reader_db_;

  // Writer connection, used only by the writer thread (and by `open` before it starts).
  statement begin_, commit_, rollback_, savepoint_, rollback_to_, release_;
  statement write_head_, insert_event_, insert_idempotency_, insert_alias_, write_alias_, insert_outbox_, delete_outbox_,
    insert_sealed_, delete_sealed_, upsert_snapshot_, purge_, expire_outbox_;

  // Reader connection, used only under `reader_mutex_`.
  std::mutex reader_mutex_;
  statement begin_read_, end_read_, read_head_, read_events_, read_snapshot_, read_idempotency_, read_alias_,
    read_aliases_, read_outbox_, read_sealed_;

  // The bounded queue: a ring allocated at open, guarded by `queue_mutex_`.
  std::mutex queue_mutex_;
  std::condition_variable queue_ready_;
  std::vector<pending> ring_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::size_t queued_bytes_ = 0;
  bool stopping_ = false;
  bool writer_waiting_ = false;

  // Writer thread only.
  std::vector<pending> group_;
  std::chrono::steady_clock::time_point next_purge_{};
  /// Whether the last purge deleted as many rows as it may (writer thread only).
  bool purge_backlog_ = false;

  std::mutex stop_mutex_;
  std::thread writer_;

  // The checkpointer thread and its connection.
  db_ptr checkpoint_db_;
  std::mutex checkpoint_mutex_;
  /// Whether the writer's last WAL restart gave up (guarded by `checkpoint_mutex_`).
  bool restart_failed_ = false;
  std::condition_variable checkpoint_wake_;
  bool checkpoint_stopping_ = false;
  std::thread checkpointer_;
  /// Which idempotency keys the file certainly does not hold; null when disabled. Filled by
  /// `scanner_` at start and by the writer after each commit.
  std::unique_ptr<idempotency_filter> filter_;
  std::unique_ptr<stream_heads> heads_; ///< the writer's (`write_batch_rows`, `write_group_pass`)
  /// The created_at of the last idempotency record written; a rolled-back one counts too, which
  /// can only move the next ones' created_at a little later. The writer's.
  std::int64_t idempotency_newest_ = INT64_MIN;
  std::thread scanner_;
  std::atomic<bool> scan_stopping_{false};
};

std::unique_ptr<sqlite_journal> sqlite_journal::open(const sqlite_journal_options& options, std::string& error) {
  auto const refuse = [&](std::string_view option, std::string_view rule) {
    error = options.path.string() + ": journal option " + std::string(option) + " " + std::string(rule);
    return nullptr;
  };
  if (options.path.empty())
    return refuse("path", "must name the journal file");
  if (options.queue_batches == 0 || options.queue_batches > limits::journal_queue_batches_max)
    return refuse("queue_batches", "must be 1.." + std::to_string(limits::journal_queue_batches_max));
  if (options.queue_bytes < limits::journal_batch_bytes_max || options.queue_bytes > limits::journal_queue_bytes_max)
    return refuse("queue_bytes", "must be " + std::to_string(limits::journal_batch_bytes_max) + ".." +
                                   std::to_string(limits::journal_queue_bytes_max));
  if (options.commit_batches == 0 || options.commit_batches > limits::journal_commit_batches_max)
    return refuse("commit_batches", "must be 1.." + std::to_string(limits::journal_commit_batches_max));
  if (options.idempotency_retention_s < limits::idempotency_retention_s_min ||
      options.idempotency_retention_s > limits::idempotency_retention_s_max)
    return refuse("idempotency_retention_s", "must be " + std::to_string(limits::idempotency_retention_s_min) +
                                               ".." + std::to_string(limits::idempotency_retention_s_max) +
                                               " seconds (records are kept at least 24 h)");
  if (options.wal_restart_frames < wal_restart_frames_min ||
      options.wal_restart_frames > static_cast<std::uint32_t>(std::numeric_limits<int>::max()))
    return refuse("wal_restart_frames", "must be at least " + std::to_string(wal_restart_frames_min) +
                                          " and fit an int");
  if (options.outbox_retention_s < limits::outbox_retention_s_min ||
      options.outbox_retention_s > limits::outbox_retention_s_max)
    return refuse("outbox_retention_s", "must be " + std::to_string(limits::outbox_retention_s_min) +
                                          ".." + std::to_string(limits::outbox_retention_s_max) +
                                          " seconds");
  auto state = std::make_unique<impl>(options);
  if (!state->open(error))
    return nullptr;
  return std::unique_ptr<sqlite_journal>(new sqlite_journal(std::move(state)));
}

sqlite_journal::sqlite_journal(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

sqlite_journal::~sqlite_journal() = default;

void sqlite_journal::append(append_batch batch, append_callback on_appended) {
  impl_->append(std::move(batch), std::move(on_appended));
}

journal_result<std::vector<event>> sqlite_journal::read_stream(std::string_view stream, std::uint64_t from_seq,
                                                               std::uint32_t limit) {
  return impl_->read_stream(stream, from_seq, limit);
}

journal_result<std::optional<snapshot>> sqlite_journal::latest_snapshot(std::string_view stream) {
  return impl_->latest_snapshot(stream);
}

journal_result<std::optional<idempotency_record>> sqlite_journal::find_idempotency(std::string_view scope_key) {
  return impl_->find_idempotency(scope_key);
}

journal_result<std::optional<std::string>> sqlite_journal::find_alias(std::string_view key) {
  return impl_->find_alias(key);
}

journal_result<std::vector<alias>> sqlite_journal::read_aliases(std::string_view after_key, std::uint32_t limit) {
  return impl_->read_aliases(after_key, limit);
}

journal_result<std::optional<std::string>> sqlite_journal::read_sealed(std::string_view ref) {
  return impl_->read_sealed(ref);
}

journal_result<std::vector<outbox_entry>> sqlite_journal::read_outbox(std::uint64_t after_n, std::uint32_t limit) {
  return impl_->read_outbox(after_n, limit);
}

void sqlite_journal::complete_outbox(std::vector<std::string> ids, append_callback on_completed) {
  impl_->complete_outbox(std::move(ids), std::move(on_completed));
}

journal_result<stream_verification> sqlite_journal::verify_stream(std::string_view stream) {
  return impl_->verify_stream(stream);
}

bool sqlite_journal::may_hold_idempotency(std::string_view scope_key) const noexcept {
  return impl_->may_hold_idempotency(scope_key);
}

const idempotency_filter* sqlite_journal::filter() const noexcept {
  return impl_->filter();
}

void sqlite_journal::purge_idempotency(append_callback on_purged) {
  impl_->purge_idempotency(std::move(on_purged));
}

void sqlite_journal::stop() { impl_->stop(); }

std::uint64_t sqlite_journal::batches_durable() const noexcept {
  return impl_->batches_durable_.load(std::memory_order_relaxed);
}
std::uint64_t sqlite_journal::events_durable() const noexcept {
  return impl_->events_durable_.load(std::memory_order_relaxed);
}
std::uint64_t sqlite_journal::commits() const noexcept { return impl_->commits_.load(std::memory_order_relaxed); }
std::uint64_t sqlite_journal::checkpoints() const noexcept { return impl_->checkpoints_.load(std::memory_order_relaxed); }
std::uint64_t sqlite_journal::wal_restarts() const noexcept { return impl_->wal_restarts_.load(std::memory_order_relaxed); }
std::uint64_t sqlite_journal::conflicts() const noexcept { return impl_->conflicts_.load(std::memory_order_relaxed); }
std::uint64_t sqlite_journal::redone_groups() const noexcept {
  return impl_->redone_groups_.load(std::memory_order_relaxed);
}
std::uint64_t sqlite_journal::overloads() const noexcept { return impl_->overloads_.load(std::memory_order_relaxed); }
std::uint64_t sqlite_journal::io_errors() const noexcept { return impl_->io_errors_.load(std::memory_order_relaxed); }
std::uint64_t sqlite_journal::idempotency_purged() const noexcept {
  return impl_->idempotency_purged_.load(std::memory_order_relaxed);
}
std::uint64_t sqlite_journal::outbox_completed() const noexcept {
  return impl_->outbox_completed_.load(std::memory_order_relaxed);
}
std::uint64_t sqlite_journal::outbox_expired() const noexcept {
  return impl_->outbox_expired_.load(std::memory_order_relaxed);
}
std::uint64_t sqlite_journal::fences_from_memory() const noexcept {
  return impl_->fences_from_memory_.load(std::memory_order_relaxed);
}
std::uint64_t sqlite_journal::queue_depth() const noexcept {
  return impl_->queue_depth_.load(std::memory_order_relaxed);
}

} // namespace steward::storage
