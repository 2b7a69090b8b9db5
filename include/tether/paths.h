/* Where tether's programs find one another. Installed, the public programs sit in BINDIR
 * and the helpers they start (tether-init, tether-conmon) in LIBEXECDIR/tether/; in the
 * build tree everything sits in one bin/ directory. Both are found from the running
 * program's own directory, so any prefix, and a tree staged with DESTDIR, works. The build
 * defines TETHER_LIBEXEC_FROM_BIN: LIBEXECDIR/tether relative to BINDIR, such as
 * "../libexec/tether". */
#ifndef TETHER_PATHS_H
#define TETHER_PATHS_H

/* The directory of the running executable (the kernel's resolved /proc/self/exe, see
 * proc(5)), malloc'd; NULL when /proc is not mounted. */
char *tether_paths_self_dir(void);

/* The helper program NAME for a program in self_dir: SELF_DIR/TETHER_LIBEXEC_FROM_BIN/NAME
 * (installed) when it is executable, else SELF_DIR/NAME (the build tree) when that is, else
 * the installed path, so that the failure to run it names where it was expected. */
char *tether_paths_helper(const char *self_dir, const char *name);

/* DIR/REL for an absolute DIR, malloc'd, each leading ".." of REL taking a component off
 * DIR; an absolute REL is returned as it is. That is right for a directory without
 * symlinks, as the kernel's /proc/self/exe gives one, and keeps the path (a mount source,
 * for tether-init) free of "..". */
char *tether_paths_join(const char *dir, const char *rel);

#endif
