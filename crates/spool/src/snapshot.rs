//! The last policy revision a cluster node applied, kept beside its queue: a node that starts
//! while the cluster is unreachable serves it, rather than nothing. The document's bytes are
//! the cluster's business; the spool only keeps them whole, with their revision.

use std::fs;
use std::io::{self, Write};

use crate::Spool;
use crate::durable::write_durably;

/// A revision number and the document as the cluster stored it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySnapshot {
    pub revision: u64,
    pub document: Vec<u8>,
}

const MAGIC: &str = "doorman-policy-revision ";

impl Spool {
    /// Replaces the snapshot durably: a crash leaves the old revision or the new one.
    pub fn save_policy(&self, snapshot: &PolicySnapshot) -> io::Result<()> {
        write_durably(&self.layout.policy_snapshot_tmp(), &self.layout.policy_snapshot(), |f| {
            f.write_all(format!("{MAGIC}{}\n", snapshot.revision).as_bytes())?;
            f.write_all(&snapshot.document)
        })
    }

    /// The snapshot, when a policy was ever applied here.
    pub fn load_policy(&self) -> io::Result<Option<PolicySnapshot>> {
        let path = self.layout.policy_snapshot();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        };
        let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("{}: not a policy snapshot", path.display()));
        let newline = bytes.iter().position(|&b| b == b'\n').ok_or_else(bad)?;
        let head = std::str::from_utf8(&bytes[..newline]).map_err(|_| bad())?;
        let revision = head.strip_prefix(MAGIC).and_then(|n| n.parse().ok()).ok_or_else(bad)?;
        Ok(Some(PolicySnapshot { revision, document: bytes[newline + 1..].to_vec() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_reads_back_with_its_revision_and_a_torn_one_is_an_error() {
        let dir = std::env::temp_dir().join(format!("doorman-snapshot-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let spool = Spool::open(&dir).unwrap();
        assert_eq!(spool.load_policy().unwrap(), None);
        let snap = PolicySnapshot { revision: 42, document: b"{\"a\":\n1}".to_vec() };
        spool.save_policy(&snap).unwrap();
        assert_eq!(spool.load_policy().unwrap(), Some(snap));
        fs::write(dir.join("cluster-policy"), b"garbage").unwrap();
        assert!(spool.load_policy().unwrap_err().to_string().contains("not a policy snapshot"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
