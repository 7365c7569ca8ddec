#include "storage/kill_register.hpp"

#include "storage/sqlite_statement.hpp"

#include "core/limits.hpp"
#include "core/thread_identity.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace steward::storage {

namespace {

using sqlite::db_ptr;
using sqlite::exec;
using sqlite::reset_guard;
using sqlite::statement;

// Version 1 (`PRAGMA user_version`) admits the user and session scopes. A file of version 0 (its
// CHECK allows only global and provider) is rebuilt into the new table in one transaction; a
// fresh file is created at version 1 through the same steps.
constexpr const char* schema = R"sql(
  BEGIN IMMEDIATE;
  CREATE TABLE IF NOT EXISTS kills (
    scope  TEXT    NOT NULL CHECK (scope IN ('global', 'provider')),
    id     TEXT    NOT NULL,
    active INTEGER NOT NULL CHECK (active IN (0, 1)),
    at     INTEGER NOT NULL,
    PRIMARY KEY (scope, id)
  ) WITHOUT ROWID;
  COMMIT;
)sql";

constexpr const char* migration_1 = R"sql(
  BEGIN IMMEDIATE;
  CREATE TABLE kills_v1 (
    scope  TEXT    NOT NULL CHECK (scope IN ('global', 'provider', 'user', 'session')),
    id     TEXT    NOT NULL,
    active INTEGER NOT NULL CHECK (active IN (0, 1)),
    at     INTEGER NOT NULL,
    PRIMARY KEY (scope, id)
  ) WITHOUT ROWID;
  INSERT INTO kills_v1 (scope, id, active, at) SELECT scope, id, active, at FROM kills;
  DROP TABLE kills;
  ALTER TABLE kills_v1 RENAME TO kills;
  PRAGMA user_version = 1;
  COMMIT;
)sql";

std::string describe(sqlite3* db, const std::filesystem::path& path, std::string_view action) {
  return path.string() + ": " + std::string(action) + ": " +
         (db ? sqlite3_errmsg(db) : "out of memory");
}

struct queued_write {
  kill_record record;
  std::function<void(bool)> done;
  bool erase = false; ///< remove the row (if its state is `record.active`) rather than store it
};

} // namespace

class kill_register::impl {
public:
  explicit impl(std::filesystem::path path) : path_(std::move(path)) {}
  ~impl() { stop(); }

  bool open(std::string& error) {
    sqlite3* raw = nullptr;
    auto const rc = sqlite3_open_v2(path_.c_str(), &raw,
                                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                    nullptr);
    db_.reset(raw);
    if (rc != SQLITE_OK) {
      error = describe(raw, path_, "cannot open the kill register");
      return false;
    }
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, static_cast<int>(core::limits::journal_busy_timeout_ms));
    // WAL + synchronous=FULL, as the journal: a commit returns once its frames are fsynced, which
    // is what lets `done(true)` say the change survives a crash.
    statement mode;
    if (mode.prepare(raw, "PRAGMA journal_mode=WAL") != SQLITE_OK || mode.step() != SQLITE_ROW ||
        mode.column_bytes(0) != "wal") {
      error = describe(raw, path_, "cannot switch the kill register to WAL mode");
      return false;
    }
    mode.reset();
    if (exec(raw, "PRAGMA synchronous=FULL") != SQLITE_OK || exec(raw, schema) != SQLITE_OK) {
      error = describe(raw, path_, "cannot set up the kill register");
      return false;
    }
    statement version;
    if (version.prepare(raw, "PRAGMA user_version") != SQLITE_OK || version.step() != SQLITE_ROW) {
      error = describe(raw, path_, "cannot read the kill register's version");
      return false;
    }
    const std::int64_t found = version.column_int(0);
    version.reset();
    if (found > 1) {
      error = path_.string() + ": the kill register is of version " + std::to_string(found) +
              ", newer than this stewardd (1)";
      return false;
    }
    if (found < 1 && exec(raw, migration_1) != SQLITE_OK) {
      error = describe(raw, path_, "cannot migrate the kill register");
      exec(raw, "ROLLBACK");
      return false;
    }
    if (upsert_.prepare(raw, "INSERT INTO kills (scope, id, active, at) VALUES (?1, ?2, ?3, ?4) "
                             "ON CONFLICT (scope, id) DO UPDATE SET active = ?3, at = ?4") != SQLITE_OK) {
      error = describe(raw, path_, "cannot prepare the kill register");
      return false;
    }
    if (erase_.prepare(raw, "DELETE FROM kills WHERE scope = ?1 AND id = ?2 AND active = ?3") != SQLITE_OK) {
      error = describe(raw, path_, "cannot prepare the kill register");
      return false;
    }
    statement select;
    if (select.prepare(raw, "SELECT scope, id, active, at FROM kills ORDER BY scope, id") != SQLITE_OK) {
      error = describe(raw, path_, "cannot read the kill register");
      return false;
    }
    for (int step = select.step(); step != SQLITE_DONE; step = select.step()) {
      if (step != SQLITE_ROW) {
        error = describe(raw, path_, "cannot read the kill register");
        return false;
      }
      kill_record record;
      record.scope = std::string(select.column_bytes(0));
      record.id = std::string(select.column_bytes(1));
      record.active = select.column_int(2) != 0;
      record.at = select.column_int(3);
      loaded_.push_back(std::move(record));
    }
    writer_ = std::thread([this] {
      core::name_this_thread("kill-register");
      run();
    });
    return true;
  }

  const std::vector<kill_record>& loaded() const noexcept { return loaded_; }

  void write(kill_record record, std::function<void(bool)> done, bool erase = false) {
    {
      std::lock_guard lock(mutex_);
      if (!stopping_ && queue_.size() < core::limits::kill_register_queue_max) {
        queue_.push_back({std::move(record), std::move(done), erase});
        wake_.notify_one();
        return;
      }
    }
    done(false);
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_)
        return;
      stopping_ = true;
      wake_.notify_one();
    }
    if (writer_.joinable())
      writer_.join();
  }

  std::uint64_t commits() const noexcept { return commits_.load(std::memory_order_relaxed); }

private:
  void run() {
    std::deque<queued_write> group;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty())
          return; // stopping, and everything queued before has been answered
        group.swap(queue_);
      }
      const bool durable = commit(group);
      for (auto& entry : group)
        entry.done(durable);
      group.clear();
    }
  }

  bool commit(const std::deque<queued_write>& group) {
    auto* db = db_.get();
    // Removals alone need no fsync (see `erase`), so they never hold a kill behind a flush; the
    // next change's fsync makes them durable with it.
    const bool only_erases =
      std::all_of(group.begin(), group.end(), [](const queued_write& entry) { return entry.erase; });
    if (only_erases && exec(db, "PRAGMA synchronous=OFF") != SQLITE_OK)
      return false;
    const bool committed = commit_group(db, group);
    if (only_erases && exec(db, "PRAGMA synchronous=FULL") != SQLITE_OK) {
      // A register that could not go back to fsyncing must not acknowledge another kill.
      broken_ = true;
      return false;
    }
    return committed;
  }

  bool commit_group(sqlite3* db, const std::deque<queued_write>& group) {
    if (broken_ || exec(db, "BEGIN IMMEDIATE") != SQLITE_OK)
      return false;
    for (const auto& entry : group) {
      auto& step = entry.erase ? erase_ : upsert_;
      reset_guard reset(step);
      step.bind(1, entry.record.scope);
      step.bind(2, entry.record.id);
      step.bind(3, std::int64_t{entry.record.active ? 1 : 0});
      if (!entry.erase)
        step.bind(4, entry.record.at);
      if (step.step() != SQLITE_DONE) {
        exec(db, "ROLLBACK");
        return false;
      }
    }
    if (exec(db, "COMMIT") != SQLITE_OK) {
      exec(db, "ROLLBACK");
      return false;
    }
    commits_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  std::filesystem::path path_;
  db_ptr db_;
  statement upsert_;
  statement erase_;
  bool broken_ = false; ///< writer thread only
  std::vector<kill_record> loaded_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<queued_write> queue_;
  bool stopping_ = false;
  std::thread writer_;
  std::atomic<std::uint64_t> commits_{0};
};

kill_register::kill_register(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
kill_register::~kill_register() = default;

std::unique_ptr<kill_register> kill_register::open(const std::filesystem::path& path, std::string& error) {
  auto state = std::make_unique<impl>(path);
  if (!state->open(error))
    return nullptr;
  return std::unique_ptr<kill_register>(new kill_register(std::move(state)));
}

const std::vector<kill_record>& kill_register::loaded() const noexcept { return impl_->loaded(); }

void kill_register::erase(kill_record record, std::function<void(bool done)> done) {
  impl_->write(std::move(record), std::move(done), true);
}

void kill_register::write(kill_record record, std::function<void(bool durable)> done) {
  impl_->write(std::move(record), std::move(done));
}

void kill_register::stop() { impl_->stop(); }

std::uint64_t kill_register::commits() const noexcept { return impl_->commits(); }

} // namespace steward::storage
