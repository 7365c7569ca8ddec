#include "storage/wal_gather_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace steward::storage {

namespace {

constexpr const char* vfs_name = "steward-wal-gather";

/// The file object SQLite allocates (`szOsFile`): this header, then the default VFS's own file.
struct gather_file {
  sqlite3_file base; ///< its `pMethods` are one of the two tables below
  sqlite3_file* real;
  std::vector<unsigned char>* buffer; ///< WAL files only: what is gathered, not written yet
  sqlite3_int64 buffer_at;            ///< the file offset of the buffer's first byte
};

gather_file* cast(sqlite3_file* file) { return reinterpret_cast<gather_file*>(file); }
const sqlite3_io_methods& real_methods(gather_file* f) { return *f->real->pMethods; }

/// The unix VFS writes at most 0x1ffff bytes per call (it masks the length with that): the buffer
/// goes out in pieces of 31 pages of 4 KiB.
constexpr std::size_t write_piece_max = 31 * 4096;

/// Writes what is gathered; the buffer is empty afterwards whatever the outcome, so a failed
/// write is reported once (SQLite then rolls the transaction back).
int flush(gather_file* f) {
  if (f->buffer == nullptr || f->buffer->empty())
    return SQLITE_OK;
  int rc = SQLITE_OK;
  for (std::size_t done = 0; done < f->buffer->size() && rc == SQLITE_OK; done += write_piece_max) {
    auto const piece = std::min(write_piece_max, f->buffer->size() - done);
    rc = real_methods(f).xWrite(f->real, f->buffer->data() + done, static_cast<int>(piece),
                                f->buffer_at + static_cast<sqlite3_int64>(done));
  }
  f->buffer->clear();
  return rc;
}

bool overlaps(const gather_file* f, sqlite3_int64 offset, int amount) {
  if (f->buffer == nullptr || f->buffer->empty())
    return false;
  auto const end = f->buffer_at + static_cast<sqlite3_int64>(f->buffer->size());
  return offset < end && offset + amount > f->buffer_at;
}

// --- Every file: forwarded ------------------------------------------------------------------------

int forward_close(sqlite3_file* file) {
  auto* f = cast(file);
  int rc = flush(f);
  delete f->buffer;
  f->buffer = nullptr;
  auto const closed = real_methods(f).xClose(f->real);
  return rc != SQLITE_OK ? rc : closed;
}
int forward_read(sqlite3_file* file, void* out, int amount, sqlite3_int64 offset) {
  auto* f = cast(file);
  if (overlaps(f, offset, amount))
    if (auto const rc = flush(f); rc != SQLITE_OK)
      return rc;
  return real_methods(f).xRead(f->real, out, amount, offset);
}
int forward_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  auto* f = cast(file);
  return real_methods(f).xWrite(f->real, data, amount, offset);
}
int forward_truncate(sqlite3_file* file, sqlite3_int64 size) {
  auto* f = cast(file);
  if (auto const rc = flush(f); rc != SQLITE_OK)
    return rc;
  return real_methods(f).xTruncate(f->real, size);
}
int forward_sync(sqlite3_file* file, int flags) {
  auto* f = cast(file);
  if (auto const rc = flush(f); rc != SQLITE_OK)
    return rc;
  return real_methods(f).xSync(f->real, flags);
}
int forward_file_size(sqlite3_file* file, sqlite3_int64* size) {
  auto* f = cast(file);
  if (auto const rc = flush(f); rc != SQLITE_OK)
    return rc;
  return real_methods(f).xFileSize(f->real, size);
}
int forward_lock(sqlite3_file* file, int level) { return real_methods(cast(file)).xLock(cast(file)->real, level); }
int forward_unlock(sqlite3_file* file, int level) {
  return real_methods(cast(file)).xUnlock(cast(file)->real, level);
}
int forward_check_reserved_lock(sqlite3_file* file, int* out) {
  return real_methods(cast(file)).xCheckReservedLock(cast(file)->real, out);
}
/// Whether a `PRAGMA synchronous` value keeps the sync at every commit that gathering needs.
bool syncs_every_commit(const char* value) {
  for (const char* accepted : {"2", "3", "full", "extra"})
    if (sqlite3_stricmp(value, accepted) == 0)
      return true;
  return false;
}

int forward_file_control(sqlite3_file* file, int op, void* arg) {
  if (op == SQLITE_FCNTL_PRAGMA) {
    // SQLite offers every PRAGMA to the database file first: one that would stop the sync at
    // each commit is refused, since frames could then stay gathered after their commit.
    auto** words = static_cast<char**>(arg); // [0] the error out, [1] the name, [2] the value
    if (sqlite3_stricmp(words[1], "synchronous") == 0 && words[2] != nullptr && !syncs_every_commit(words[2])) {
      words[0] = sqlite3_mprintf("a connection that gathers its WAL writes must keep synchronous=FULL");
      return SQLITE_ERROR;
    }
  }
  return real_methods(cast(file)).xFileControl(cast(file)->real, op, arg);
}
int forward_sector_size(sqlite3_file* file) { return real_methods(cast(file)).xSectorSize(cast(file)->real); }
int forward_device_characteristics(sqlite3_file* file) {
  return real_methods(cast(file)).xDeviceCharacteristics(cast(file)->real);
}
int forward_shm_map(sqlite3_file* file, int page, int size, int extend, void volatile** out) {
  return real_methods(cast(file)).xShmMap(cast(file)->real, page, size, extend, out);
}
int forward_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  return real_methods(cast(file)).xShmLock(cast(file)->real, offset, n, flags);
}
void forward_shm_barrier(sqlite3_file* file) { real_methods(cast(file)).xShmBarrier(cast(file)->real); }
int forward_shm_unmap(sqlite3_file* file, int remove) {
  return real_methods(cast(file)).xShmUnmap(cast(file)->real, remove);
}
int forward_fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  return real_methods(cast(file)).xFetch(cast(file)->real, offset, amount, out);
}
int forward_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  return real_methods(cast(file)).xUnfetch(cast(file)->real, offset, page);
}

// --- WAL files: writes gathered -----------------------------------------------------------------

int gather_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  auto* f = cast(file);
  auto& buffer = *f->buffer;
  auto const bytes = static_cast<const unsigned char*>(data);
  auto const end = f->buffer_at + static_cast<sqlite3_int64>(buffer.size());
  if (!buffer.empty() && offset >= f->buffer_at && offset + amount <= end) {
    // A frame of this transaction written again (SQLite rewrites a page it wrote before).
    std::memcpy(buffer.data() + (offset - f->buffer_at), bytes, static_cast<std::size_t>(amount));
    return SQLITE_OK;
  }
  if (!buffer.empty() && (offset != end || buffer.size() + static_cast<std::size_t>(amount) > wal_gather_bytes_max))
    if (auto const rc = flush(f); rc != SQLITE_OK)
      return rc;
  if (buffer.empty())
    f->buffer_at = offset;
  try {
    buffer.insert(buffer.end(), bytes, bytes + amount);
  } catch (const std::bad_alloc&) {
    return SQLITE_IOERR_NOMEM;
  }
  return SQLITE_OK;
}

constexpr sqlite3_io_methods make_methods(decltype(sqlite3_io_methods::xWrite) write) {
  return {3,
          forward_close,
          forward_read,
          write,
          forward_truncate,
          forward_sync,
          forward_file_size,
          forward_lock,
          forward_unlock,
          forward_check_reserved_lock,
          forward_file_control,
          forward_sector_size,
          forward_device_characteristics,
          forward_shm_map,
          forward_shm_lock,
          forward_shm_barrier,
          forward_shm_unmap,
          forward_fetch,
          forward_unfetch};
}

constexpr sqlite3_io_methods plain_methods = make_methods(forward_write);
constexpr sqlite3_io_methods wal_methods = make_methods(gather_write);

sqlite3_vfs gather_vfs;

int gather_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  auto* under = static_cast<sqlite3_vfs*>(vfs->pAppData);
  auto* f = cast(file);
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  f->buffer = nullptr;
  f->buffer_at = 0;
  auto const rc = under->xOpen(under, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK || f->real->pMethods == nullptr) {
    // SQLite calls no method of a file whose open failed; nothing to close here.
    f->base.pMethods = nullptr;
    return rc;
  }
  if (f->real->pMethods->iVersion < 3) {
    // The methods above forward up to version 3; a default VFS with fewer is not this one.
    real_methods(f).xClose(f->real);
    f->base.pMethods = nullptr;
    return SQLITE_CANTOPEN;
  }
  const bool wal = (flags & SQLITE_OPEN_WAL) != 0;
  if (wal) {
    f->buffer = new (std::nothrow) std::vector<unsigned char>();
    if (f->buffer == nullptr) {
      real_methods(f).xClose(f->real);
      f->base.pMethods = nullptr;
      return SQLITE_NOMEM;
    }
  }
  f->base.pMethods = wal ? &wal_methods : &plain_methods;
  return SQLITE_OK;
}

// --- The VFS's other methods: the default VFS's, called with it ----------------------------------

sqlite3_vfs* under(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

int gather_delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return under(vfs)->xDelete(under(vfs), name, sync_dir);
}
int gather_access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return under(vfs)->xAccess(under(vfs), name, flags, out);
}
int gather_full_pathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return under(vfs)->xFullPathname(under(vfs), name, size, out);
}
void* gather_dl_open(sqlite3_vfs* vfs, const char* name) { return under(vfs)->xDlOpen(under(vfs), name); }
void gather_dl_error(sqlite3_vfs* vfs, int size, char* out) { under(vfs)->xDlError(under(vfs), size, out); }
void (*gather_dl_sym(sqlite3_vfs* vfs, void* library, const char* symbol))(void) {
  return under(vfs)->xDlSym(under(vfs), library, symbol);
}
void gather_dl_close(sqlite3_vfs* vfs, void* library) { under(vfs)->xDlClose(under(vfs), library); }
int gather_randomness(sqlite3_vfs* vfs, int size, char* out) {
  return under(vfs)->xRandomness(under(vfs), size, out);
}
int gather_sleep(sqlite3_vfs* vfs, int microseconds) { return under(vfs)->xSleep(under(vfs), microseconds); }
int gather_current_time(sqlite3_vfs* vfs, double* out) { return under(vfs)->xCurrentTime(under(vfs), out); }
int gather_last_error(sqlite3_vfs* vfs, int size, char* out) {
  return under(vfs)->xGetLastError(under(vfs), size, out);
}
int gather_current_time_int64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return under(vfs)->xCurrentTimeInt64(under(vfs), out);
}

} // namespace

const char* wal_gather_vfs() {
  static std::once_flag registered;
  std::call_once(registered, [] {
    sqlite3_vfs* default_vfs = sqlite3_vfs_find(nullptr);
    // Version 2: no system-call overrides (a test hook of the unix VFS), which this one lacks.
    gather_vfs.iVersion = 2;
    gather_vfs.szOsFile = static_cast<int>(sizeof(gather_file)) + default_vfs->szOsFile;
    gather_vfs.mxPathname = default_vfs->mxPathname;
    gather_vfs.zName = vfs_name;
    gather_vfs.pAppData = default_vfs;
    gather_vfs.xOpen = gather_open;
    gather_vfs.xDelete = gather_delete;
    gather_vfs.xAccess = gather_access;
    gather_vfs.xFullPathname = gather_full_pathname;
    gather_vfs.xDlOpen = gather_dl_open;
    gather_vfs.xDlError = gather_dl_error;
    gather_vfs.xDlSym = gather_dl_sym;
    gather_vfs.xDlClose = gather_dl_close;
    gather_vfs.xRandomness = gather_randomness;
    gather_vfs.xSleep = gather_sleep;
    gather_vfs.xCurrentTime = gather_current_time;
    gather_vfs.xGetLastError = gather_last_error;
    gather_vfs.xCurrentTimeInt64 = gather_current_time_int64;
    sqlite3_vfs_register(&gather_vfs, 0);
  });
  return vfs_name;
}

} // namespace steward::storage
