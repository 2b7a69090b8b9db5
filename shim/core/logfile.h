/* A container's log file: chunks of stdout/stderr are encoded (logfmt.h) and appended with
 * one write(2) per chunk, with size-based rotation.
 *
 * Rotation keeps max_files files in all, the live one included, like Docker's json-file
 * max-file: path (live), path.1 (newest rotated) ... path.<max_files-1> (oldest). When the
 * next records would take the live file past max_size, path.<i> is renamed to path.<i+1>
 * (the oldest is overwritten), path to path.1, and a new path is created; with max_files 1
 * the live file is removed and a fresh one created, so older output is dropped. Rotation
 * happens only between records (cri and jsonl records are never split across files; raw has
 * no records and is cut at the exact size), so a file outgrows max_size only when it holds
 * a single record longer than max_size. A line whose P records and F record fall on both
 * sides of a rotation stays correct: the per-stream line state is kept.
 *
 * The raw format goes through write(2) as well, without copying: splice(2) into a file
 * opened with O_APPEND fails with EINVAL (splice(2), ERRORS), and the log must be opened
 * O_APPEND so external rotation tools and readers see whole writes. */
#ifndef TETHER_SHIM_LOGFILE_H
#define TETHER_SHIM_LOGFILE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <tether/error.h>

#include "logfmt.h"

/* Highest max_files accepted; each rotation renames that many files. */
#define TETHER_LOGFILE_MAX_FILES 1000

struct tether_logfile;

/* Opens (creating, mode 0600) path for appending with O_APPEND|O_CLOEXEC|O_NOFOLLOW; the
 * path must name a regular file (a symlink, FIFO or device is refused). max_size 0 means no
 * limit and max_files is then ignored; otherwise max_files is 1..TETHER_LOGFILE_MAX_FILES.
 * An existing file is appended to and its size counts toward max_size. */
struct tether_logfile *tether_logfile_open(const char *path, enum tether_logfmt_format format,
                                           uint64_t max_size, unsigned max_files,
                                           struct tether_error *err);

/* Encodes len bytes of stream's output read at time ts and appends them (rotating first
 * when needed). On failure the records of this chunk not yet written are dropped and the
 * file is cut back to the last whole record. */
int tether_logfile_write(struct tether_logfile *lf, enum tether_logfmt_stream stream,
                         const struct timespec *ts, const void *data, size_t len,
                         struct tether_error *err);

/* Closes the file and opens path again, for external rotation tools that renamed it; the
 * size count restarts from the size of what is now at path. On failure the old file stays
 * in use. */
int tether_logfile_reopen(struct tether_logfile *lf, struct tether_error *err);

/* Ends every stream's pending partial line (see tether_logfmt_close_line) with time ts and
 * fdatasync()s the file. */
int tether_logfile_flush_and_sync(struct tether_logfile *lf, const struct timespec *ts,
                                  struct tether_error *err);
/* The same without the fdatasync(). */
int tether_logfile_flush(struct tether_logfile *lf, const struct timespec *ts,
                         struct tether_error *err);

/* Bytes in the live file as counted since it was opened. */
uint64_t tether_logfile_size(const struct tether_logfile *lf);

/* Closes and frees lf (NULL is fine). Nothing is written: call
 * tether_logfile_flush_and_sync() first to end pending lines. */
void tether_logfile_close(struct tether_logfile *lf);

void tether_logfile_closep(struct tether_logfile **lf);
#define cleanup_logfile __attribute__((cleanup(tether_logfile_closep)))

#endif
