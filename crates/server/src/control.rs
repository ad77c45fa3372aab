//! Asking a running `doorman serve` to reload, as `nginx -s reload` does: find it by the
//! spool's `serve.json`, send it SIGHUP, and wait for the result it writes there. The server
//! does the reload itself, so it applies its own checks (for one, that a reload may not take
//! away every tenant).

use std::io;
use std::time::{Duration, Instant};

use doorman_spool::{ReloadResult, ServeStatus, Spool, process_start};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no doorman serve runs on this spool (it has no serve.json)")]
    NotRunning,
    #[error(
        "serve.json names process {pid}, which is not a running doorman serve: the server stopped without cleaning up"
    )]
    Gone { pid: u32 },
    #[error("the server on this spool reads {serving}, not {given}: edit that file, or give --config {serving}")]
    OtherConfig { serving: String, given: String },
    #[error("cannot signal process {pid}: {source}")]
    Signal { pid: u32, source: io::Error },
    #[error("the server (process {pid}) did not report a reload within {} s", .waited.as_secs())]
    NoAnswer { pid: u32, waited: Duration },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Signals the server on `spool` to reload and waits up to `wait` for what it did.
/// `config` is the file the caller validated; it must be the one the server reads. A
/// request file tells this reload's answer apart from reloads others caused meanwhile.
pub fn reload(spool: &Spool, config: &str, wait: Duration) -> Result<ReloadResult, ControlError> {
    let server = running(spool)?;
    if server.config != config {
        return Err(ControlError::OtherConfig { serving: server.config, given: config.to_string() });
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let request = format!("{}x{nanos}", std::process::id());
    spool.request_reload(&request)?;
    if let Err(e) = signal(server.pid, libc::SIGHUP) {
        spool.withdraw_reload(&request);
        return Err(e);
    }
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if let Some(now) = spool.read_status()?
            && let Some(answer) = now.answers.into_iter().find(|a| a.request == request)
        {
            return Ok(answer.result);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    spool.withdraw_reload(&request);
    Err(ControlError::NoAnswer { pid: server.pid, waited: wait })
}

/// The server's status, when it runs: its pid is alive, and is the process that wrote it.
pub fn running(spool: &Spool) -> Result<ServeStatus, ControlError> {
    let status = spool.read_status()?.ok_or(ControlError::NotRunning)?;
    // Signal 0 checks that the process exists without touching it.
    match signal(status.pid, 0) {
        Ok(()) => {}
        Err(ControlError::Signal { source, .. }) if source.raw_os_error() == Some(libc::ESRCH) => {
            return Err(ControlError::Gone { pid: status.pid });
        }
        Err(e) => return Err(e),
    }
    if status.started.is_some() && process_start(Some(status.pid)) != status.started {
        return Err(ControlError::Gone { pid: status.pid });
    }
    Ok(status)
}

fn signal(pid: u32, sig: libc::c_int) -> Result<(), ControlError> {
    let Ok(target) = libc::pid_t::try_from(pid) else {
        return Err(ControlError::Gone { pid });
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(target, sig) } == 0 {
        Ok(())
    } else {
        Err(ControlError::Signal { pid, source: io::Error::last_os_error() })
    }
}
