//! Config generations and live reload.
//!
//! A [`Generation`] is everything compiled from one version of the config: the policy
//! snapshot, the TLS setup and the DNSBL resolver. Sessions hold an `Arc` to one. A
//! transaction takes the generation in force at its MAIL FROM and keeps it to its end, so a
//! reload never changes the rules under a message half received; the next MAIL FROM sees the
//! new one.
//!
//! Only whole files are read. A reload comes from SIGHUP (which `doorman reload` sends) or
//! from a file event: the config renamed into place, or closed after writing. A file still
//! being written is never read, however long the writer pauses. File events that follow
//! each other within [`SETTLE`] are one reload, and a request whose files are as they were
//! at the last compile compiles nothing: one change, one compile.
//!
//! Compiling runs on a blocking thread, so no session waits on it. A config with errors is
//! refused with its file:line:key diagnostics, as is one that would take away every tenant
//! or accepted domain (unless `server.allow_empty`); the old generation keeps serving. Each
//! result goes to the spool's `serve.json` for `doorman reload` to print.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use doorman_config::{Config, Diagnostic, Diagnostics, Loaded, Published, Severity, load_node, load_str};
use doorman_policy::Policy;
use doorman_spool::{ANSWERS_KEPT, Answer, ReloadResult, ServeStatus, process_start};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::state::Shared;
use crate::tls::{SelfSigned, TlsError, TlsSetup, server_config};
use doorman_dns::dnsbl::Dnsbl;
use doorman_filter::Filter;

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
        self.load_text(&self.read()?, None)
    }

    /// Loads the file with the cluster's policy in place of its tenants.
    pub fn load_with(&self, policy: &Published) -> Result<Loaded, Diagnostics> {
        self.load_text(&self.read()?, Some(policy))
    }

    /// The config text as it is now.
    pub fn read(&self) -> Result<String, Diagnostics> {
        match self {
            ConfigSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
                Diagnostics(vec![Diagnostic {
                    severity: Severity::Error,
                    file: path.display().to_string(),
                    line: None,
                    column: None,
                    key: None,
                    message: format!("cannot read the file: {e}"),
                }])
            }),
            ConfigSource::Text { text, .. } => Ok(text.to_string()),
        }
    }

    fn load_text(&self, text: &str, policy: Option<&Published>) -> Result<Loaded, Diagnostics> {
        match policy {
            Some(p) => load_node(&self.name(), text, &p.name(), &p.document),
            None => load_str(&self.name(), text, &self.base_dir()),
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

    /// The path `serve.json` names, absolute so that `doorman reload` can compare it.
    pub fn shown_path(&self) -> String {
        match self {
            ConfigSource::File(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()).display().to_string(),
            ConfigSource::Text { name, .. } => name.clone(),
        }
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
    /// Authentication and the spam filter, as this config sets them up.
    pub filter: Filter,
}

impl Generation {
    pub fn config(&self) -> &Config {
        self.policy.config()
    }

    /// Compiles `loaded` as generation `number`; `previous` is the one in force, whose
    /// spam-filter slots the new one shares.
    pub fn compile(
        loaded: Loaded,
        number: u64,
        self_signed: &SelfSigned,
        previous: Option<&Generation>,
    ) -> Result<Generation, GenerationError> {
        let config = loaded.config;
        let tls = server_config(&config.server.tls, self_signed)?;
        let dnsbl = Dnsbl::new(&config.server.dns)?;
        let zones = config.server.dnsbl_zones.iter().map(|z| z.to_string()).collect();
        let filter = Filter::new(&config, &dnsbl, previous.map(|p| &p.filter));
        Ok(Generation { number, policy: Arc::new(Policy::new(config)), tls, dnsbl, zones, filter })
    }
}

/// How long file events must stop before the file is read: editors and `cp` write in
/// bursts, and a burst is one change.
pub const SETTLE: Duration = Duration::from_millis(100);

/// What asked for a reload since the last one.
#[derive(Clone, Copy, Debug, Default)]
struct Requests {
    signal: bool,
    file: bool,
}

enum Trigger {
    Signal,
    File,
    /// A policy revision from the cluster, and who waits for its result.
    Policy(Box<Published>, tokio::sync::oneshot::Sender<ReloadResult>),
}

/// Hands the cluster's policy revisions to the reload path of a running edge.
#[derive(Clone)]
pub struct PolicyUpdater {
    tx: mpsc::UnboundedSender<Trigger>,
}

impl PolicyUpdater {
    /// Compiles the node's file with `policy` and puts it in force, as a reload of the file
    /// would: the same checks, a new generation, no session dropped. `None` when the edge
    /// has stopped.
    pub async fn apply(&self, policy: Published) -> Option<ReloadResult> {
        let (answer, result) = tokio::sync::oneshot::channel();
        self.tx.send(Trigger::Policy(Box::new(policy), answer)).ok()?;
        result.await.ok()
    }
}

impl Requests {
    fn add(&mut self, t: &Trigger) {
        match t {
            Trigger::Signal => self.signal = true,
            Trigger::File => self.file = true,
            Trigger::Policy(..) => {}
        }
    }

    fn why(self) -> &'static str {
        match (self.signal, self.file) {
            (true, true) => "SIGHUP, and the file changed",
            (true, false) => "SIGHUP",
            _ => "the file changed",
        }
    }
}

/// Starts reloading on SIGHUP and on file events, until the process ends. The signal
/// handler and the file watch are in place when this returns: a SIGHUP's default action is
/// to end the process, so none may come before the handler.
pub fn watch(shared: Arc<Shared>) -> (tokio::task::JoinHandle<()>, PolicyUpdater) {
    let (tx, rx) = mpsc::unbounded_channel();
    let watcher = watch_file(&shared.source, tx.clone());
    let updater = PolicyUpdater { tx: tx.clone() };
    match signal(SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    if tx.send(Trigger::Signal).is_err() {
                        return;
                    }
                }
            });
        }
        Err(e) => tracing::warn!("cannot listen for SIGHUP ({e}); reloading on file changes only"),
    }
    let compiler = Compiler::start(shared.clone());
    let task = tokio::spawn(async move {
        // Kept alive for as long as we watch.
        let _watcher = watcher;
        match compiler {
            Ok(compiler) => serve_requests(shared, rx, compiler).await,
            Err(e) => tracing::error!(target: "doorman::reload", "cannot start the reload thread ({e}); no reloads"),
        }
    });
    (task, updater)
}

/// Gathers reload requests into batches and has each compiled.
async fn serve_requests(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Trigger>, compiler: Compiler) {
    let mut pending: Option<Trigger> = None;
    loop {
        let first = match pending.take() {
            Some(t) => t,
            None => match rx.recv().await {
                Some(t) => t,
                None => return,
            },
        };
        if let Trigger::Policy(policy, answer) = first {
            // A revision is whole when it comes: it is compiled at once, alone. It answers no
            // `doorman reload` request: those ask about the file.
            let Some(result) = compiler.reload("a cluster policy revision", Some(*policy)).await else {
                return stopped();
            };
            shared.reported(Some(result.clone()), Vec::new());
            let _ = answer.send(result);
            continue;
        }
        let mut requests = Requests::default();
        requests.add(&first);
        // A signal is the administrator saying "now"; file events wait for the burst to end.
        while !requests.signal && pending.is_none() {
            match tokio::time::timeout(SETTLE, rx.recv()).await {
                Ok(Some(t @ Trigger::Policy(..))) => pending = Some(t),
                Ok(Some(t)) => requests.add(&t),
                Ok(None) => return,
                Err(_) => break,
            }
        }
        while pending.is_none()
            && let Ok(t) = rx.try_recv()
        {
            match t {
                Trigger::Policy(..) => pending = Some(t),
                t => requests.add(&t),
            }
        }
        if requests.signal {
            shared.tracking.reopen();
        }
        // Requests left before this point were left after their file was written: the
        // compile about to start reads it, so it answers them.
        let asked = shared.spool.take_reload_requests();
        match compiler.reload(requests.why(), None).await {
            Some(result) => shared.reported(Some(result), asked),
            None => return stopped(),
        }
    }
}

fn stopped() {
    tracing::error!(target: "doorman::reload", "the reload thread is gone; reloading stops");
}

/// The one thread that compiles generations. Its own, not a runtime worker, so that no
/// session waits for a compile; niced, so that a worker that has a reply to send gets the
/// CPU first; and always the same, so that its allocations come from one arena. It also
/// frees retired generations once no session holds them, so that freeing 10,000 tenants'
/// tables never happens on a worker either, and gives the memory back to the system.
struct Compiler {
    tx: std::sync::mpsc::Sender<Compile>,
}

/// Why to compile, the cluster's revision to compile with (the one in force otherwise),
/// and who waits for the result.
type Compile = (&'static str, Option<Published>, tokio::sync::oneshot::Sender<ReloadResult>);

/// How often the compiler looks for retired generations no session holds any more.
const SWEEP: Duration = Duration::from_secs(1);

impl Compiler {
    fn start(shared: Arc<Shared>) -> std::io::Result<Compiler> {
        let (tx, rx) = std::sync::mpsc::channel::<Compile>();
        std::thread::Builder::new().name("config-reload".into()).spawn(move || {
            lower_priority();
            let mut retired = Vec::new();
            loop {
                match rx.recv_timeout(SWEEP) {
                    Ok((why, policy, answer)) => {
                        let _ = answer.send(reload(&shared, why, policy, &mut retired));
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                }
                let before = retired.len();
                retired.retain(|g| Arc::strong_count(g) > 1);
                if retired.len() < before {
                    give_back_memory();
                }
            }
        })?;
        Ok(Compiler { tx })
    }

    async fn reload(&self, why: &'static str, policy: Option<Published>) -> Option<ReloadResult> {
        let (answer, result) = tokio::sync::oneshot::channel();
        self.tx.send((why, policy, answer)).ok()?;
        result.await.ok()
    }
}

/// Nice 10 for this thread only (Linux threads have their own nice value).
fn lower_priority() {
    // SAFETY: plain integer system calls.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// glibc keeps freed memory for reuse; a retired generation is hundreds of MiB that no one
/// will reuse soon.
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Watches the config file's folder (a rename into place replaces the file, so the file
/// itself cannot be watched) for the two events that mean the file is whole.
fn watch_file(source: &ConfigSource, tx: mpsc::UnboundedSender<Trigger>) -> Option<notify::RecommendedWatcher> {
    let ConfigSource::File(path) = source else { return None };
    let name = path.file_name()?.to_os_string();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let whole = matches!(
            event.kind,
            EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write))
                | EventKind::Modify(notify::event::ModifyKind::Name(notify::event::RenameMode::To))
        );
        if whole && event.paths.iter().any(|p| p.file_name() == Some(&name)) {
            let _ = tx.send(Trigger::File);
        }
    };
    let watched = notify::recommended_watcher(handler).and_then(|mut w| {
        w.watch(&dir, RecursiveMode::NonRecursive)?;
        Ok(w)
    });
    match watched {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("cannot watch {} for changes ({e}); reloading on SIGHUP only", dir.display());
            None
        }
    }
}

/// Compiles the config again and swaps it in, or keeps the old one and says why. Blocking:
/// it reads files and compiles. The generation it replaces goes to `retired`.
/// With `candidate`, the node's file is compiled with that cluster revision; without, with
/// the revision in force, if the node takes its policy from a cluster.
fn reload(
    shared: &Shared,
    why: &str,
    candidate: Option<Published>,
    retired: &mut Vec<Arc<Generation>>,
) -> ReloadResult {
    let started = Instant::now();
    let started_at = std::time::SystemTime::now();
    let old = shared.current();
    let policy = candidate.clone().or_else(|| shared.published());
    let name =
        policy.as_ref().map_or_else(|| shared.source.name(), |p| format!("{} with {}", shared.source.name(), p.name()));
    let refuse = |errors: Vec<String>| {
        shared.metrics.reloads_failed.inc();
        for e in &errors {
            tracing::error!(target: "doorman::reload", "{e}");
        }
        tracing::error!(target: "doorman::reload", "{name}: reload ({why}) refused; still serving generation {}", old.number);
        ReloadResult::Refused { generation: old.number, errors }
    };
    let text = match shared.source.read() {
        Ok(t) => t,
        Err(diags) => return refuse(diags.errors().map(|d| d.to_string()).collect()),
    };
    let base = shared.source.base_dir();
    let revision = policy.as_ref().map(|p| p.revision);
    let before = fingerprint(&text, revision, old.config(), &base);
    if shared.compiled_from() == Some(before) {
        tracing::info!(target: "doorman::reload", "{name}: unchanged ({why}): generation {} stays", old.number);
        return ReloadResult::Unchanged { generation: old.number };
    }
    let loaded = match shared.source.load_text(&text, policy.as_ref()) {
        Ok(l) => l,
        Err(diags) => return refuse(diags.errors().map(|d| d.to_string()).collect()),
    };
    log_warnings(&name, &loaded.warnings);
    if let Some(why_not) = empties(old.config(), &loaded.config, old.number) {
        return refuse(vec![format!("{name}: {why_not}")]);
    }
    let restart_needed = restart_only_changes(old.config(), &loaded.config);
    match Generation::compile(loaded, old.number + 1, &shared.self_signed, Some(&old)) {
        Ok(next) => {
            let number = next.number;
            let tenants = next.config().tenants.len();
            // The next request with these files has nothing to compile, unless one of them
            // changed while this one read it: then it compiles again.
            let after = fingerprint(&text, revision, next.config(), &base);
            let settled = referenced(next.config(), &base)
                .iter()
                .all(|p| std::fs::metadata(p).and_then(|m| m.modified()).map_or(true, |t| t < started_at));
            shared.install(next, settled.then_some(after), candidate);
            shared.metrics.reloads_ok.inc();
            tracing::info!(
                target: "doorman::reload",
                "{name}: reloaded ({why}): generation {number}, {tenants} tenant(s), compiled in {:?}",
                started.elapsed()
            );
            for key in restart_needed {
                tracing::warn!(target: "doorman::reload", "{name}: {key} changed; it takes effect only after a restart");
            }
            retired.push(old);
            ReloadResult::Installed { generation: number }
        }
        Err(e) => refuse(vec![format!("{name}: {e}")]),
    }
}

/// How many of a config's warnings the log shows: a config with 10,000 tenants can have
/// 10,000, and `doorman check-config` lists them all.
const WARNINGS_LOGGED: usize = 20;

/// Logs a config's warnings, the first [`WARNINGS_LOGGED`] of them and how many more.
pub fn log_warnings(name: &str, warnings: &[Diagnostic]) {
    for w in warnings.iter().take(WARNINGS_LOGGED) {
        tracing::warn!(target: "doorman::reload", "{w}");
    }
    if warnings.len() > WARNINGS_LOGGED {
        tracing::warn!(
            target: "doorman::reload",
            "{name}: {} more warning(s); doorman check-config {name} lists them all",
            warnings.len() - WARNINGS_LOGGED
        );
    }
}

/// What a compile read: the config text and every file it names. Equal fingerprints mean a
/// compile would give the generation in force again.
pub fn fingerprint(text: &str, revision: Option<u64>, config: &Config, base: &Path) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    revision.hash(&mut h);
    for path in referenced(config, base) {
        std::fs::read(&path).ok().hash(&mut h);
        path.hash(&mut h);
    }
    h.finish()
}

/// The files a config names: its recipients files and TLS files.
fn referenced(config: &Config, base: &Path) -> Vec<PathBuf> {
    let tls = &config.server.tls;
    let recipients = config.tenants.iter().filter_map(|t| t.recipients_file.as_ref()).map(|p| base.join(p));
    tls.certificate.iter().chain(&tls.key).chain(&tls.client_ca).cloned().chain(recipients).collect()
}

/// Why `new` may not replace `old` on a running edge: it takes away every tenant or every
/// accepted domain, which is far more often a file emptied or cut short than an intention.
fn empties(old: &Config, new: &Config, generation: u64) -> Option<String> {
    if new.server.allow_empty {
        return None;
    }
    let domains = |c: &Config| c.tenants.iter().map(|t| t.accepted_domains.len()).sum::<usize>();
    let what = if new.tenants.is_empty() && !old.tenants.is_empty() {
        format!("it has no tenants, where generation {generation} has {}", old.tenants.len())
    } else if domains(new) == 0 && domains(old) > 0 {
        format!("it has no accepted domain, where generation {generation} has {}", domains(old))
    } else {
        return None;
    };
    Some(format!(
        "{what}: an emptied or half-written file? Write the whole file and rename it into place; \
         to run without any, set server.allow_empty = true"
    ))
}

impl Shared {
    /// Writes `serve.json`: after start (`None`) and after each reload, with the answer to
    /// each `doorman reload` request in `asked`.
    pub(crate) fn reported(&self, result: Option<ReloadResult>, asked: Vec<String>) {
        let handled = u64::from(result.is_some());
        let reloads = self.reloads.fetch_add(handled, Ordering::Relaxed) + handled;
        let answers = {
            let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(r) = &result {
                answers.extend(asked.into_iter().map(|request| Answer { request, result: r.clone() }));
            }
            let extra = answers.len().saturating_sub(ANSWERS_KEPT);
            answers.drain(..extra);
            answers.clone()
        };
        let status = ServeStatus {
            pid: std::process::id(),
            started: process_start(None),
            config: self.source.shown_path(),
            generation: self.current().number,
            reloads,
            last: result,
            answers,
        };
        if let Err(e) = self.spool.write_status(&status) {
            tracing::warn!("cannot write the spool's serve.json ({e}); doorman reload cannot see this server");
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
    if old.cluster != new.cluster {
        keys.push("cluster");
    }
    keys
}
