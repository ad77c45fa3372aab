//! `serve.json`: which server runs on this spool and what its last reload did. Postfix keeps
//! its master's pid in the queue directory for the same reason: the spool is what an
//! administrator's tools already know how to find.

use std::fs;
use std::io;

use serde::{Deserialize, Serialize};

use crate::Spool;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServeStatus {
    pub pid: u32,
    /// The config file it reads (absolute when it was given so).
    pub config: String,
    /// The config generation in force.
    pub generation: u64,
    /// Reload requests handled so far; one more after each, whatever its result.
    pub reloads: u64,
    pub last: Option<ReloadResult>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ReloadResult {
    /// A new generation is in force.
    Installed { generation: u64 },
    /// The files are as they were at the last compile: nothing to do.
    Unchanged { generation: u64 },
    /// The config was refused; `generation` still serves.
    Refused { generation: u64, errors: Vec<String> },
}

impl Spool {
    /// Replaces `serve.json` in one rename, so a reader never sees half of it.
    pub fn write_status(&self, status: &ServeStatus) -> io::Result<()> {
        let tmp = self.layout.status_tmp();
        fs::write(&tmp, serde_json::to_vec_pretty(status).map_err(io::Error::other)?)?;
        fs::rename(&tmp, self.layout.status())
    }

    /// The running server's status; `Ok(None)` when no server has said it runs here.
    pub fn read_status(&self) -> io::Result<Option<ServeStatus>> {
        match fs::read(self.layout.status()) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", self.layout.status().display()))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// At a clean stop: no server runs here any more.
    pub fn remove_status(&self) {
        let _ = fs::remove_file(self.layout.status());
    }
}
