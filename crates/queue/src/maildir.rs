//! Local delivery: one Maildir per recipient under the tenant's `routing.path`
//! (`path/alice@contoso.com/{tmp,new,cur}`), written the Maildir way: into `tmp`, fsync,
//! rename into `new`, fsync `new`. Lines end in LF, as Unix mail readers (Dovecot, mutt,
//! Python's `mailbox`) expect, and as Postfix's local delivery writes them.
//!
//! Junk goes to the Maildir++ folder `.Junk` inside the recipient's Maildir, the Junk Email
//! folder Dovecot and mutt show.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The Maildir of `address` under `root`. The address is lower-cased and anything that could
/// leave the folder (`/`, a leading dot) is replaced.
pub fn folder(root: &Path, address: &str) -> PathBuf {
    let safe: String = address
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c })
        .collect();
    let safe = safe.trim_start_matches('.');
    root.join(if safe.is_empty() { "_" } else { safe })
}

/// Creates `dir` and any missing parents, syncing each parent that gained an entry: the
/// message is fsynced into `new/` later, and a crash must not take away the folder around it.
fn create_durably(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().ok_or_else(|| io::Error::other(format!("{} has no parent", dir.display())))?;
    create_durably(parent)?;
    match fs::create_dir(dir) {
        Ok(()) => fs::File::open(parent)?.sync_all(),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Which folder of the recipient's Maildir a message goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Folder {
    Inbox,
    /// Maildir++'s `.Junk`.
    Junk,
}

/// The Maildir++ name of the Junk Email folder.
pub const JUNK_FOLDER: &str = ".Junk";

/// Delivers `message` (with `Delivered-To` and `Return-Path` in front) into `into` of the
/// recipient's Maildir and gives the file. The message is read piece by piece, never held
/// whole.
pub fn deliver(
    root: &Path,
    address: &str,
    into: Folder,
    return_path: &str,
    message: &mut dyn io::Read,
) -> io::Result<PathBuf> {
    let mut dir = folder(root, address);
    for sub in ["tmp", "new", "cur"] {
        create_durably(&dir.join(sub))?;
    }
    if into == Folder::Junk {
        dir.push(JUNK_FOLDER);
        for sub in ["tmp", "new", "cur"] {
            create_durably(&dir.join(sub))?;
        }
        // Maildir++ marks a subfolder with an empty `maildirfolder` file.
        fs::OpenOptions::new().create(true).append(true).open(dir.join("maildirfolder"))?;
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let host = hostname();
    let name = format!(
        "{}.M{}P{}Q{}.{host}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    // Maildir's own rule: written in tmp/, then renamed into new/.
    let (tmp, new) = (dir.join("tmp").join(&name), dir.join("new").join(&name));
    doorman_spool::write_durably(&tmp, &new, |f| {
        f.write_all(format!("Return-Path: <{return_path}>\nDelivered-To: {address}\n").as_bytes())?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut carried_cr = false;
        loop {
            let n = message.read(&mut buf)?;
            if n == 0 {
                break;
            }
            let (out, cr) = unix_lines(&buf[..n], carried_cr);
            f.write_all(&out)?;
            carried_cr = cr;
        }
        if carried_cr {
            f.write_all(b"\r")?;
        }
        Ok(())
    })?;
    Ok(new)
}

/// CRLF to LF in one piece of a message. The spool holds no bare CR or LF, so nothing else
/// changes. `cr_before`: the previous piece ended in a CR, not yet written. Gives the piece's
/// lines, and whether it ends in a CR held back for the next.
fn unix_lines(piece: &[u8], cr_before: bool) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(piece.len() + 1);
    if cr_before && piece.first() != Some(&b'\n') {
        out.push(b'\r');
    }
    let mut i = 0;
    while i < piece.len() {
        if piece[i] == b'\r' {
            match piece.get(i + 1) {
                Some(b'\n') => {}
                Some(_) => out.push(b'\r'),
                None => return (out, true),
            }
        } else {
            out.push(piece[i]);
        }
        i += 1;
    }
    (out, false)
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().replace(['/', ':'], "_"))
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn folders_stay_inside_the_root() {
        let root = std::path::Path::new("/m");
        assert_eq!(super::folder(root, "Alice@Contoso.com"), root.join("alice@contoso.com"));
        assert_eq!(super::folder(root, "../../etc/x@y"), root.join("_.._etc_x@y"));
        assert_eq!(super::unix_lines(b"a\r\nb\r\n\r\nc", false), (b"a\nb\n\nc".to_vec(), false));
        // A CRLF split between two pieces.
        assert_eq!(super::unix_lines(b"a\r", false), (b"a".to_vec(), true));
        assert_eq!(super::unix_lines(b"\nb", true), (b"\nb".to_vec(), false));
        assert_eq!(super::unix_lines(b"x", true), (b"\rx".to_vec(), false));
    }
}
