//! The spool's folders, and the only place in doorman that joins a path inside the spool.
//!
//! ```text
//! ROOT/tmp/                  spilled message bodies (unnamed files); where the filesystem
//!                             has no unnamed files, IDbody.tmp spills, ID.tmp copies being
//!                             written and IDprobe.tmp (all removed at start)
//! ROOT/incoming/ID            a copy: envelope line, then the message
//! ROOT/state/ID.json          its delivery state, once an attempt was made
//! ROOT/quarantine/TENANT/ID   a copy a rule held
//! ROOT/hold/ID                a queued copy an administrator put on hold (`doorman queue hold`)
//! ROOT/corrupt/ID             a copy that cannot be read whole, set aside (with ID.json, its
//!                             state, and ID.why, the reason) for an administrator
//! ROOT/flush                  asks the running queue to treat every copy as due now
//! ROOT/serve.json             the running server: its pid and the config generation in force
//! ROOT/reload/REQUEST         a `doorman reload` waiting for its answer in serve.json
//! ```

use std::io;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub root: PathBuf,
    pub incoming: PathBuf,
    pub tmp: PathBuf,
    pub state: PathBuf,
    pub quarantine: PathBuf,
    pub hold: PathBuf,
    pub corrupt: PathBuf,
    pub reload_requests: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
            incoming: root.join("incoming"),
            tmp: root.join("tmp"),
            state: root.join("state"),
            quarantine: root.join("quarantine"),
            hold: root.join("hold"),
            corrupt: root.join("corrupt"),
            reload_requests: root.join("reload"),
        }
    }

    pub fn copy(&self, id: &str) -> PathBuf {
        self.incoming.join(id)
    }

    pub fn writing(&self, id: &str) -> PathBuf {
        self.tmp.join(format!("{id}.tmp"))
    }

    pub fn state_of(&self, id: &str) -> PathBuf {
        self.state.join(format!("{id}.json"))
    }

    pub fn state_tmp(&self, id: &str) -> PathBuf {
        self.state.join(format!(".{id}.tmp"))
    }

    pub fn quarantine_of(&self, tenant: &str) -> PathBuf {
        self.quarantine.join(folder_name(tenant))
    }

    pub fn flush(&self) -> PathBuf {
        self.root.join("flush")
    }

    pub fn status(&self) -> PathBuf {
        self.root.join("serve.json")
    }

    pub fn status_tmp(&self) -> PathBuf {
        self.root.join(".serve.json.tmp")
    }

    pub fn policy_snapshot(&self) -> PathBuf {
        self.root.join("cluster-policy")
    }

    pub fn policy_snapshot_tmp(&self) -> PathBuf {
        self.root.join(".cluster-policy.tmp")
    }
}

/// Queue ids are file names: refuse anything that could name another file.
pub(crate) fn check_id(id: &str) -> io::Result<()> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{id:?} is not a queue id")));
    }
    Ok(())
}

/// A tenant's name as one folder name: any byte but letters, digits, `-` and `_` as `%XX`, so
/// that no name (`..`, `a/b`, a line break) leaves the quarantine folder.
pub(crate) fn folder_name(tenant: &str) -> String {
    let mut out = String::with_capacity(tenant.len());
    for b in tenant.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The tenant a [`folder_name`] stands for.
pub(crate) fn tenant_of(folder: &str) -> Option<String> {
    let bytes = folder.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = folder.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The names of the files (or, with `dirs`, folders) in `dir`, sorted; none when it is absent.
pub(crate) fn names_in(dir: &Path, dirs: bool) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(d) => d
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| if dirs { t.is_dir() } else { t.is_file() }))
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(with_path(e, dir)),
    };
    names.sort();
    Ok(names)
}

pub(crate) fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_folders_stay_inside_and_come_back() {
        for t in ["contoso", "../etc", "a/b", "x\ny", "Größe ‘q’", "%41", ".hidden"] {
            let f = folder_name(t);
            assert!(f.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_%".contains(&b)), "{f}");
            assert_eq!(tenant_of(&f).as_deref(), Some(t));
        }
    }
}
