//! Unnamed files (`O_TMPFILE`): a copy is written as a file with no name in `incoming/` and
//! gets its name (`linkat`) only once whole. That costs one directory entry instead of a temp
//! name and a rename (two entries changed, and the directory lookups they take), and a crash
//! can leave nothing half-written behind: the kernel frees an unnamed file with its last
//! descriptor. Where the filesystem has no `O_TMPFILE`, the spool writes under `tmp/` and
//! renames.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A new unnamed file on the filesystem of `dir`, open for writing (and reading, if `read`).
pub(crate) fn create(dir: &Path, read: bool) -> io::Result<File> {
    OpenOptions::new().read(read).write(true).custom_flags(libc::O_TMPFILE).mode(0o600).open(dir)
}

/// Gives `file`, created by [`create`], the name `path`, which must not exist.
pub(crate) fn link(file: &File, path: &Path) -> io::Result<()> {
    // Through /proc, since `AT_EMPTY_PATH` would need CAP_DAC_READ_SEARCH.
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).map_err(io::Error::other)?;
    let to = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: both are NUL-terminated paths that live across the call.
    let rc =
        unsafe { libc::linkat(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::AT_SYMLINK_FOLLOW) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Whether unnamed files work in `dir`: one is created and named `probe`, then removed.
pub(crate) fn available(dir: &Path, probe: &Path) -> bool {
    let Ok(file) = create(dir, false) else { return false };
    let _ = std::fs::remove_file(probe);
    let linked = link(&file, probe).is_ok();
    let _ = std::fs::remove_file(probe);
    linked
}
