#pragma once

// A SQLite VFS over the default one that gathers a connection's WAL writes (docs/journal.md,
// "Gathered WAL writes").
//
// SQLite writes each WAL frame with two calls, its 24-byte header and its page: the journal's
// writer made about 100 000 pwrite calls a second under `bench/charges`, a quarter of a core in
// the kernel. Through this VFS, writes to a WAL file that follow one another are kept in a buffer
// and reach the file in one call when SQLite syncs it (the end of every commit at
// `synchronous=FULL`), reads or sizes it, truncates or closes it, writes it elsewhere, or when the
// buffer holds `wal_gather_bytes_max`. Other files, and locking and shared memory, go to the
// default VFS unchanged.
//
// Only for a connection that runs with `synchronous=FULL` (or EXTRA): other connections read a
// frame once the wal-index says it is committed, which SQLite writes after the commit's sync, so
// every frame they can see has left the buffer. At `synchronous=NORMAL` SQLite does not sync at a
// commit, and others could read frames still in the buffer; so a connection through this VFS
// refuses a `PRAGMA synchronous` below FULL. `sqlite_journal` opens its writer connection through
// it; readers and the checkpointer open theirs through the default VFS.

#include <cstddef>

namespace steward::storage {

/// The name to pass to `sqlite3_open_v2`. Registered (not as the default) on the first call.
const char* wal_gather_vfs();

/// A buffer past this is written out before more is gathered (in pieces of 124 KiB: the unix
/// VFS writes less than 128 KiB per call).
inline constexpr std::size_t wal_gather_bytes_max = std::size_t{8} << 20;

} // namespace steward::storage
