//! Config generations and live reload.
//!
//! A [`Generation`] is everything compiled from one version of the config: the policy
//! snapshot, the TLS setup and the DNSBL resolver. Sessions hold an `Arc` to one. A
//! transaction takes the generation in force at its MAIL FROM and keeps it to its end, so a
//! reload never changes the rules under a message half received; the next MAIL FROM sees the
//! new one. Reloads come from SIGHUP and from the config file changing (polled every 250 ms,
//! so a change is in force well within a second). A config with errors is refused with its
//! file:line:key diagnostics, and the old generation keeps serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use doorman_config::{Config, Diagnostics, Loaded, load_file, load_str};
use doorman_policy::Policy;
use tokio::signal::unix::{SignalKind, signal};

use crate::dnsbl::Dnsbl;
use crate::state::Shared;
use crate::tls::{SelfSigned, TlsError, TlsSetup, server_config};

/// Where the config comes from.
#[derive(Clone, Debug)]
pub enum ConfigSource {
    File(PathBuf),
    /// Text compiled into the binary (the built-in example); `name` is used in messages.
    Text {
        name: String,
        text: &'static str,
        base_dir: PathBuf,
    },
}

impl ConfigSource {
    pub fn load(&self) -> Result<Loaded, Diagnostics> {
        match self {
            ConfigSource::File(path) => load_file(path),
            ConfigSource::Text { name, text, base_dir } => load_str(name, text, base_dir),
        }
    }

    /// Relative paths in a config file are relative to its folder, as `recipients_file` is.
    pub fn base_dir(&self) -> PathBuf {
        match self {
            ConfigSource::File(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
            ConfigSource::Text { base_dir, .. } => base_dir.clone(),
        }
    }

    pub fn name(&self) -> String {
        match self {
            ConfigSource::File(p) => p.display().to_string(),
            ConfigSource::Text { name, .. } => name.clone(),
        }
    }

    fn stamp(&self) -> Option<FileStamp> {
        let ConfigSource::File(path) = self else { return None };
        FileStamp::of(path)
    }
}

/// A config generation could not be compiled: its TLS set-up or its resolver.
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Dns(#[from] doorman_dns::DnsError),
}

pub struct Generation {
    /// 1 at start, one more per successful reload.
    pub number: u64,
    pub policy: Arc<Policy>,
    pub tls: TlsSetup,
    pub dnsbl: Dnsbl,
    /// `server.dnsbl_zones` as text.
    pub zones: Vec<String>,
}

impl Generation {
    pub fn config(&self) -> &Config {
        self.policy.config()
    }

    pub fn compile(loaded: Loaded, number: u64, self_signed: &SelfSigned) -> Result<Generation, GenerationError> {
        let config = loaded.config;
        let tls = server_config(&config.server.tls, self_signed)?;
        let dnsbl = Dnsbl::new(&config.server.dns)?;
        let zones = config.server.dnsbl_zones.iter().map(|z| z.to_string()).collect();
        Ok(Generation { number, policy: Arc::new(Policy::new(config)), tls, dnsbl, zones })
    }
}

/// What identifies a version of the file without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp { modified: m.modified().ok(), len: m.len(), inode: m.ino() })
    }
}

/// Reloads on SIGHUP and when the file changes, until the process ends.
pub async fn watch(shared: Arc<Shared>) {
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot listen for SIGHUP ({e}); reloading on file changes only");
            None
        }
    };
    let mut stamp = shared.source.stamp();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let why = tokio::select! {
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => "SIGHUP",
            _ = tick.tick() => {
                let now = shared.source.stamp();
                if now == stamp { continue; }
                stamp = now;
                if now.is_none() { continue; }
                "the file changed"
            }
        };
        reload(&shared, why);
    }
}

/// Compiles the config again and swaps it in, or keeps the old one and says why.
pub fn reload(shared: &Shared, why: &str) {
    let started = Instant::now();
    let name = shared.source.name();
    let loaded = match shared.source.load() {
        Ok(l) => l,
        Err(diags) => {
            shared.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
            for d in diags.errors() {
                tracing::error!(target: "doorman::reload", "{d}");
            }
            tracing::error!(target: "doorman::reload", "{name}: reload ({why}) refused; still serving generation {}", shared.current().number);
            return;
        }
    };
    for w in &loaded.warnings {
        tracing::warn!(target: "doorman::reload", "{w}");
    }
    let old = shared.current();
    let restart_needed = restart_only_changes(old.config(), &loaded.config);
    match Generation::compile(loaded, old.number + 1, &shared.self_signed) {
        Ok(next) => {
            let number = next.number;
            let tenants = next.config().tenants.len();
            shared.install(next);
            shared.metrics.reloads_ok.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                target: "doorman::reload",
                "{name}: reloaded ({why}): generation {number}, {tenants} tenant(s), compiled in {:?}",
                started.elapsed()
            );
            for key in restart_needed {
                tracing::warn!(target: "doorman::reload", "{name}: {key} changed; it takes effect only after a restart");
            }
        }
        Err(e) => {
            shared.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(target: "doorman::reload", "{name}: {e}; reload ({why}) refused, still serving generation {}", old.number);
        }
    }
}

/// Keys that a running edge cannot change: its sockets, spool and log files.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let (o, n) = (&old.server, &new.server);
    let mut keys = Vec::new();
    let listeners = |c: &Config| c.server.listeners.iter().map(|l| (l.address, l.tls)).collect::<Vec<_>>();
    if listeners(old) != listeners(new) {
        keys.push("server.listeners");
    }
    if o.spool_dir != n.spool_dir {
        keys.push("server.spool_dir");
    }
    if o.tracking_log != n.tracking_log {
        keys.push("server.tracking_log");
    }
    if o.metrics_listener != n.metrics_listener {
        keys.push("server.metrics_listener");
    }
    keys
}
