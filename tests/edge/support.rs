//! The parts the edge tests run against: a real `doorman serve` process, real clients
//! (Python's smtplib, swaks, raw sockets for byte-exact attacks), a test CA made by rcgen and
//! a real DNS server (dnsmasq) on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use doorman_spool::{Spool, SpoolFile};
use serde_json::{Value, json};

/// A TCP port on 127.0.0.1 that refuses every connection for as long as this lives: the socket
/// is bound (so nothing else can take the port) but never listens. This is a dead next hop.
pub struct RefusingPort {
    _socket: socket2::Socket,
    pub port: u16,
}

impl RefusingPort {
    pub fn new() -> RefusingPort {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        RefusingPort { _socket: socket, port }
    }
}

/// Ports for helpers that cannot bind port 0 and report what they got (smtp-sink, dnsmasq):
/// drawn below the kernel's ephemeral range, so no port-0 bind and no outgoing connection can
/// hold them. A helper that finds its port taken exits, and the caller draws another; each one
/// proves it holds its port before a test uses it.
fn helper_port(attempt: u32) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let mix = (std::process::id().wrapping_mul(2_654_435_761)) ^ nanos ^ n.wrapping_mul(40_503) ^ attempt;
    10_000 + (mix % 22_000) as u16
}

pub fn test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("doorman-edge-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `doorman serve`, killed on drop.
pub struct Edge {
    child: Option<Child>,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub port: u16,
    pub tls_port: u16,
    pub metrics_port: u16,
}

impl Edge {
    /// Starts the edge with `server_keys` (TOML keys and tables under `[server]`) and
    /// `tenants` (TOML `[[tenants]]` blocks). Listeners: STARTTLS on `port`, implicit TLS on
    /// `tls_port`, both on 127.0.0.1.
    /// Every listener is configured on port 0; the ports the edge got are read from its log,
    /// anew on every start.
    pub fn start(name: &str, server_keys: &str, tenants: &str) -> Edge {
        let dir = test_dir(name);
        let config = dir.join("doorman.toml");
        std::fs::write(&config, render_config(&dir, server_keys, tenants)).unwrap();
        let mut edge = Edge { child: None, dir, config, port: 0, tls_port: 0, metrics_port: 0 };
        edge.spawn();
        edge
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("serve.log")).unwrap();
        let before = self.log().len();
        let child = Command::new(env!("CARGO_BIN_EXE_doorman"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .args(["--log-level", "debug"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let bound = |log: &str, before: &str, after: &str| -> Option<u16> {
            let line = log.lines().find(|l| l.contains(before) && l.contains(after))?;
            let rest = &line[line.find(before)? + before.len()..];
            let addr: SocketAddr = rest[..rest.find(after)?].parse().ok()?;
            Some(addr.port())
        };
        let ports = wait_for(Duration::from_secs(20), || {
            if self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some()) {
                return Some(None);
            }
            let log = self.log();
            let new = log.get(before..)?;
            Some(Some((
                bound(new, "listening on ", " (Starttls)")?,
                bound(new, "listening on ", " (Implicit)")?,
                bound(new, "metrics on http://", "/metrics")?,
            )))
        });
        (self.port, self.tls_port, self.metrics_port) =
            ports.flatten().unwrap_or_else(|| panic!("the edge did not start:\n{}", self.log()));
    }

    pub fn rewrite_config(&self, server_keys: &str, tenants: &str) {
        write_atomically(&self.config, &self.config_text(server_keys, tenants));
    }

    /// The config file this edge would have with `server_keys` and `tenants`.
    pub fn config_text(&self, server_keys: &str, tenants: &str) -> String {
        render_config(&self.dir, server_keys, tenants)
    }

    /// Runs `doorman ARGS…`: (exit code, stdout, stderr).
    pub fn doorman(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_doorman")).args(args).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }

    /// Waits (up to 10 s) until the edge has loaded configuration generation `n`.
    pub fn wait_generation(&self, n: u32) {
        wait_for(Duration::from_secs(10), || self.log().contains(&format!(": generation {n}")).then_some(()))
            .unwrap_or_else(|| panic!("generation {n} never loaded:\n{}", self.log()));
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.pid().to_string()]).status().unwrap().success();
        assert!(ok, "kill {sig}");
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process to end by itself; gives its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let status = wait_for(limit, || child.try_wait().ok().flatten());
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// Runs Python's smtplib through `tests/clients/smtp_client.py`.
    pub fn smtplib(&self, sessions: Value) -> Vec<Value> {
        run_smtplib(self.port, sessions)
    }

    /// Every copy in the spool, read back whole (or this panics); one that delivery finishes
    /// while it is read is left out.
    pub fn spool(&self) -> Vec<SpoolFile> {
        let spool = self.spool_handle();
        spool
            .queued()
            .unwrap()
            .iter()
            .filter_map(|id| match spool.read(id) {
                Ok(f) => Some(f),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => panic!("{e}"),
            })
            .collect()
    }

    /// The edge's spool, as a tool beside the server opens it.
    pub fn spool_handle(&self) -> Spool {
        Spool::attach(&self.dir.join("spool")).unwrap()
    }

    pub fn tracking(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("tracking.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits (up to 5 s) until the tracking log holds a line for which `pred` holds.
    pub fn wait_tracking(&self, pred: impl Fn(&Value) -> bool) -> Value {
        wait_for(Duration::from_secs(5), || self.tracking().into_iter().find(&pred))
            .unwrap_or_else(|| panic!("no such tracking line in {:#?}", self.tracking()))
    }

    /// Waits (up to 5 s) until `n` tracking lines satisfy `pred`; gives them.
    pub fn wait_tracking_n(&self, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let matching = || self.tracking().into_iter().filter(&pred).collect::<Vec<_>>();
        wait_for(Duration::from_secs(5), || Some(matching()).filter(|m| m.len() >= n))
            .unwrap_or_else(|| panic!("fewer than {n} such tracking lines in {:#?}", self.tracking()))
    }

    pub fn raw(&self, source: &str) -> Raw {
        Raw::connect(source, self.port)
    }

    pub fn metrics(&self) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.metrics_port)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn render_config(dir: &Path, server_keys: &str, tenants: &str) -> String {
    // The spool is what most tests read, so delivery is held unless a test configures it.
    let hold = if server_keys.contains("[server.queue]") { "" } else { "\n[server.queue]\nhold = true" };
    format!(
        r#"[server]
hostname = "edge.test"
spool_dir = "{dir}/spool"
tracking_log = "{dir}/tracking.jsonl"
metrics_listener = "127.0.0.1:0"
{server_keys}{hold}

[[server.listeners]]
address = "127.0.0.1:0"
tls = "starttls"

[[server.listeners]]
address = "127.0.0.1:0"
tls = "implicit"

{tenants}
"#,
        dir = dir.display()
    )
}

/// Longer than the edge's settle time for file events, and the compile after it: after this,
/// a reload that was going to happen has happened.
pub const SETTLE_AND_MORE: Duration = Duration::from_millis(1500);

/// Replaces a file the way editors do: write a sibling, then rename over it.
pub fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

pub fn run_smtplib(port: u16, sessions: Value) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/smtp_client.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let plan = json!({"port": port, "sessions": sessions});
    child.stdin.take().unwrap().write_all(plan.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "smtp_client.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A client that writes exact bytes: for smuggling, injection and framing tests.
pub struct Raw {
    stream: BufReader<TcpStream>,
}

impl Raw {
    pub fn connect(source: &str, port: u16) -> Raw {
        let stream = bind_connect(source, port);
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw { stream: BufReader::new(stream) }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).unwrap();
    }

    /// Sends, telling a closed connection apart instead of panicking.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.get_mut().write_all(bytes)
    }

    /// A reply that is already here, without waiting for one.
    pub fn poll_reply(&mut self) -> Option<String> {
        let timeout = self.stream.get_ref().read_timeout().ok().flatten();
        self.stream.get_ref().set_nonblocking(true).ok()?;
        let mut peek = [0u8; 1];
        let ready = matches!(self.stream.get_ref().peek(&mut peek), Ok(n) if n > 0) || !self.stream.buffer().is_empty();
        self.stream.get_ref().set_nonblocking(false).ok()?;
        self.stream.get_ref().set_read_timeout(timeout).ok()?;
        if ready { self.reply() } else { None }
    }

    /// One whole reply (all its lines), or `None` when the server closed the connection.
    pub fn reply(&mut self) -> Option<String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            match self.stream.read_line(&mut line) {
                Ok(0) | Err(_) => return if all.is_empty() { None } else { Some(all) },
                Ok(_) => {}
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return Some(all.trim_end().to_string());
            }
        }
    }

    /// Sends a command line and returns its reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply().unwrap_or_else(|| panic!("connection closed after {line:?}"))
    }

    /// True when the server closes the connection (reads until EOF, up to the read timeout).
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.stream.read_to_end(&mut rest).is_ok()
    }

    pub fn set_timeout(&mut self, t: Duration) {
        self.stream.get_ref().set_read_timeout(Some(t)).unwrap();
    }
}

/// Connects to 127.0.0.1:`port` from the loopback address `source` (all of 127/8 is local).
pub fn bind_connect(source: &str, port: u16) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let src: SocketAddr = format!("{source}:0").parse().unwrap();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&src.into()).unwrap_or_else(|e| panic!("bind {src}: {e}"));
    socket
        .connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap_or_else(|e| panic!("connect from {src}: {e}"));
    socket.into()
}

/// A certificate authority for client certificates, made by rcgen.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub pem: PathBuf,
}

impl TestCa {
    pub fn new(dir: &Path, name: &str) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let pem = dir.join(format!("{}.pem", name.replace(' ', "-")));
        std::fs::write(&pem, cert.pem()).unwrap();
        TestCa { issuer: rcgen::Issuer::new(params, key), pem }
    }

    /// A client certificate for `name`; gives the certificate and key files.
    pub fn issue(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let stem = format!("{name}-by-{}", self.pem.file_stem().unwrap().to_string_lossy());
        self.issue_names(dir, &stem, &[name])
    }

    /// A client certificate naming every one of `names` (the first also as the subject CN),
    /// written to `dir/stem.crt` and `dir/stem.key`.
    pub fn issue_names(&self, dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth, ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (c, k) = (dir.join(format!("{stem}.crt")), dir.join(format!("{stem}.key")));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}

/// dnsmasq on 127.0.0.1 as the DNSBL server: authoritative for `bl.test`, with A records
/// for the listed clients.
pub struct Dns {
    child: Child,
    pub port: u16,
}

impl Dns {
    pub fn start(dir: &Path, records: &[(&str, &str)]) -> Dns {
        let args: Vec<String> = records.iter().map(|(name, ip)| format!("--host-record={name},{ip}")).collect();
        Dns::start_with(dir, &args)
    }

    /// dnsmasq with these options besides the fixed ones (e.g. `--mx-host=…`).
    pub fn start_with(dir: &Path, extra: &[String]) -> Dns {
        let log_path = dir.join("dnsmasq.log");
        for attempt in 0..20 {
            let port = helper_port(attempt);
            let log = std::fs::File::create(&log_path).unwrap();
            let mut cmd = Command::new("dnsmasq");
            cmd.args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                &format!("--port={port}"),
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--log-facility=-",
                "--pid-file=",
                "--local=/bl.test/",
            ]);
            cmd.args(extra);
            let mut child = cmd.stdout(Stdio::null()).stderr(log).spawn().expect("dnsmasq (apt-get install dnsmasq)");
            // dnsmasq binds before it says "started", and exits when the port is taken.
            let started = wait_for(Duration::from_secs(10), || {
                if std::fs::read_to_string(&log_path).unwrap_or_default().contains("started") {
                    return Some(true);
                }
                child.try_wait().ok().flatten().map(|_| false)
            });
            match started {
                Some(true) => return Dns { child, port },
                Some(false) => continue,
                None => break,
            }
        }
        panic!("dnsmasq did not start: {}", std::fs::read_to_string(&log_path).unwrap_or_default())
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The reply code of a `[code, text]` pair from smtp_client.py.
pub fn code(v: &Value) -> i64 {
    v[0].as_i64().unwrap_or_else(|| panic!("not a reply: {v}"))
}

/// `code text` of a `[code, text]` pair.
pub fn text(v: &Value) -> String {
    format!("{} {}", v[0], v[1].as_str().unwrap_or_default().replace('\n', " "))
}

/// Postfix's smtp-sink on 127.0.0.1 as a next hop; every message it takes is dumped to a file.
/// `extra` are its options, e.g. `["-r", "rcpt"]` for a 4xx to every RCPT.
pub struct Sink {
    child: Child,
    pub dump: PathBuf,
    pub port: u16,
}

impl Sink {
    pub fn start(dir: &Path, extra: &[&str]) -> Sink {
        use std::os::unix::fs::PermissionsExt;
        use std::sync::atomic::{AtomicU32, Ordering};
        static SINKS: AtomicU32 = AtomicU32::new(0);
        let name = format!("sink{}-{}.test", std::process::id(), SINKS.fetch_add(1, Ordering::Relaxed));
        let dump = dir.join(&name);
        std::fs::create_dir_all(&dump).unwrap();
        // smtp-sink drops to nobody when started as root.
        std::fs::set_permissions(&dump, std::fs::Permissions::from_mode(0o777)).unwrap();
        for attempt in 0..20 {
            let port = helper_port(attempt);
            let mut cmd = Command::new("smtp-sink");
            cmd.args(["-u", "nobody", "-h", &name, "-d"]).arg(format!("{}/%M.", dump.display())).args(extra);
            cmd.arg(format!("127.0.0.1:{port}")).arg("10");
            let mut child =
                cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("smtp-sink (apt-get install postfix)");
            // It is ours when its greeting carries its name; it exits when the port is taken.
            let greeting = format!("220 {name} ");
            let up = wait_for(Duration::from_secs(10), || {
                if child.try_wait().ok().flatten().is_some() {
                    return Some(false);
                }
                let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut line = String::new();
                BufReader::new(&mut s).read_line(&mut line).ok()?;
                line.starts_with(&greeting).then_some(true)
            });
            match up {
                Some(true) => return Sink { child, dump, port },
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        panic!("smtp-sink found no free port")
    }

    /// The messages taken so far, as text.
    pub fn messages(&self) -> Vec<String> {
        std::fs::read_dir(&self.dump)
            .map(|d| d.filter_map(|e| e.ok()).filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect())
            .unwrap_or_default()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tests/clients/picky_hop.py` on 127.0.0.1 as a next hop: it refuses the given recipients
/// with a 550 at RCPT and takes everyone else. Killed on drop.
pub struct PickyHop {
    child: Child,
    pub port: u16,
}

impl PickyHop {
    pub fn start(refused: &[&str]) -> PickyHop {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/picky_hop.py");
        let mut child =
            Command::new("python3").arg(script).arg("127.0.0.1").args(refused).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("port ").and_then(|p| p.parse().ok());
        let port = port.unwrap_or_else(|| panic!("picky_hop.py did not start: {line:?}"));
        PickyHop { child, port }
    }
}

impl Drop for PickyHop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private rspamd (Debian's package) on a Unix socket in `dir/rspamd`, with no modules
/// and DNS pointed at a dead loopback port: only its core checks run (GTUBE among them).
/// Every file it writes stays in that folder; each scan is logged with the Message-ID.
/// Stopped on drop.
pub struct Rspamd {
    child: Option<Child>,
    pub socket: PathBuf,
    log: PathBuf,
}

impl Rspamd {
    pub fn start(dir: &Path) -> Rspamd {
        let home = dir.join("rspamd");
        std::fs::create_dir_all(&home).unwrap();
        let socket = home.join("rspamd.sock");
        let log = home.join("rspamd.log");
        let _ = std::fs::remove_file(&socket);
        let config = home.join("rspamd.conf");
        // A short list of top-level domains: compiling rspamd's full list takes 10 s at
        // every cold start, and with no rules loaded no URL is looked at.
        std::fs::write(home.join("tld.dat"), "com\nnet\norg\ntest\nexample\n").unwrap();
        let h = home.display();
        std::fs::write(
            &config,
            format!(
                r#"options {{
  pidfile = "{h}/rspamd.pid";
  dbdir = "{h}";
  tempdir = "{h}";
  dynamic_conf = "{h}/rspamd_dynamic";
  cache_file = "{h}/symbols.cache";
  hs_cache_dir = "{h}/";
  history_file = "{h}/rspamd.history";
  stats_file = "{h}/stats.ucl";
  control_socket = "{h}/control.sock mode=0600";
  url_tld = "{h}/tld.dat";
  filters = "";
  explicit_modules = [];
  dns {{ nameserver = ["127.0.0.1:1"]; timeout = 1s; retransmits = 1; }}
}}
logging {{ type = "file"; filename = "{h}/rspamd.log"; level = "info"; }}
actions {{ reject = 15; add_header = 6; greylist = 4; }}
worker "normal" {{ bind_socket = "{h}/rspamd.sock mode=0666"; count = 1; }}
"#
            ),
        )
        .unwrap();
        let child = Command::new("rspamd")
            .args(["-f", "-u", "root", "-g", "root", "-c"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rspamd (apt-get install rspamd)");
        let mut r = Rspamd { child: Some(child), socket, log };
        let ready = wait_for(Duration::from_secs(60), || {
            if r.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some()) {
                return Some(false);
            }
            r.ping().then_some(true)
        });
        assert_eq!(ready, Some(true), "rspamd did not answer /ping:\n{}", r.log());
        r
    }

    fn ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(&self.socket) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut answer = String::new();
        s.write_all(b"GET /ping HTTP/1.0\r\n\r\n").is_ok()
            && s.read_to_string(&mut answer).is_ok()
            && answer.contains("pong")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops rspamd and its workers (SIGTERM to the main process, which takes them down).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
            wait_for(Duration::from_secs(10), || (!self.ping()).then_some(()));
        }
    }
}

impl Drop for Rspamd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private `nats-server` with JetStream, on a port it picks (read from its log), with its
/// store in the test's folder. Killed on drop.
pub struct Nats {
    child: Option<Child>,
    pub port: u16,
    store: PathBuf,
    log: PathBuf,
}

impl Nats {
    pub fn start(dir: &Path) -> Nats {
        let store = dir.join("nats-store");
        let mut nats = Nats { child: None, port: 0, store, log: dir.join("nats.log") };
        nats.spawn("-1");
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it again after [`Nats::kill`], on the port the nodes know and with the same store.
    pub fn restart(&mut self) {
        let port = self.port.to_string();
        self.spawn(&port);
    }

    fn spawn(&mut self, port: &str) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let before = std::fs::read_to_string(&self.log).unwrap_or_default().len();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", port, "-js", "-sd"])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server (apt-get install nats-server)");
        self.child = Some(child);
        let marker = "Listening for client connections on 127.0.0.1:";
        let ready = wait_for(Duration::from_secs(20), || {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let new = log.get(before..)?;
            // JetStream answers once the server says it is ready.
            let port = new.lines().find_map(|l| l.split(marker).nth(1))?.trim().parse().ok()?;
            new.contains("Server is ready").then_some(port)
        });
        self.port = ready.unwrap_or_else(|| {
            panic!("nats-server did not start:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default())
        });
    }

    /// Kills it and throws its store away: a NATS whose disk was lost.
    pub fn wipe(&mut self) {
        self.kill();
        std::fs::remove_dir_all(&self.store).unwrap();
    }

    /// SIGKILL: NATS gone without a goodbye, as in a crash or a cut cable.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}
