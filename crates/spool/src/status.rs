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
    /// When the process started ([`process_start`]): after a crash the pid may belong to
    /// another process, which must not get our SIGHUP.
    #[serde(default)]
    pub started: Option<u64>,
    /// The config file it reads (absolute when it was given so).
    pub config: String,
    /// The config generation in force.
    pub generation: u64,
    /// Reload requests handled so far; one more after each, whatever its result.
    pub reloads: u64,
    pub last: Option<ReloadResult>,
    /// The latest answered `doorman reload` requests ([`Spool::request_reload`]), newest last.
    #[serde(default)]
    pub answers: Vec<Answer>,
}

/// What became of one `doorman reload` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub request: String,
    pub result: ReloadResult,
}

/// How many answers `serve.json` keeps: more than there are administrators at once.
pub const ANSWERS_KEPT: usize = 32;

/// When process `pid` (this one with `None`) started, in clock ticks since boot, as Linux's
/// `/proc/PID/stat` says; `None` where there is no such file.
pub fn process_start(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
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

    /// Leaves a request for the running server to answer in `serve.json`, so that
    /// `doorman reload` can tell its own answer from a reload someone else caused.
    pub fn request_reload(&self, request: &str) -> io::Result<()> {
        crate::layout::check_id(request)?;
        fs::create_dir_all(&self.layout.reload_requests)?;
        fs::write(self.layout.reload_requests.join(request), b"")
    }

    /// The requests waiting, taken away: the reload about to start answers them.
    pub fn take_reload_requests(&self) -> Vec<String> {
        let Ok(names) = crate::layout::names_in(&self.layout.reload_requests, false) else { return Vec::new() };
        names.into_iter().filter(|n| fs::remove_file(self.layout.reload_requests.join(n)).is_ok()).collect()
    }

    /// Takes back a request no server answered.
    pub fn withdraw_reload(&self, request: &str) {
        let _ = fs::remove_file(self.layout.reload_requests.join(request));
    }

    /// At a clean stop: no server runs here any more.
    pub fn remove_status(&self) {
        let _ = fs::remove_file(self.layout.status());
    }
}
