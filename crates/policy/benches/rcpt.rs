//! RCPT decision latency and compile cost on a generated config of 10,000 tenants, 100,000
//! connection-filter entries (IPv4 and IPv6, random prefix lengths) and 10,000 connectors,
//! against a 10-entry config. Run with `cargo bench -p doorman-policy --bench rcpt`.
//!
//! Prints figures; asserts nothing. The generated config is written to
//! `target/doorman-bench-10k.toml` for other tools to reuse.

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Instant;

use doorman_config::address::parse_reverse_path;
use doorman_config::load_str;
use doorman_policy::{ClientCertificate, Detail, Policy, RcptContext, Session, TlsInfo};

const TENANTS: usize = 10_000;
const FILTER_ENTRIES_PER_TENANT: usize = 10;
const QUERIES: usize = 200_000;
const ROUNDS: usize = 9;

/// splitmix64: deterministic, so every run measures the same config.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn v4(&mut self) -> Ipv4Addr {
        Ipv4Addr::from(self.next() as u32)
    }
    fn v6(&mut self) -> Ipv6Addr {
        Ipv6Addr::from(((0x2001_0db8u128) << 96) | (self.next() as u128) << 32 | self.next() as u32 as u128)
    }
}

fn v4_net(ip: Ipv4Addr, len: u8) -> String {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    format!("{}/{len}", Ipv4Addr::from(u32::from(ip) & mask))
}

fn v6_net(ip: Ipv6Addr, len: u8) -> String {
    let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
    format!("{}/{len}", Ipv6Addr::from(u128::from(ip) & mask))
}

/// The generated config, and for each tenant its connector's IPv4 network base.
fn generate(rng: &mut Rng) -> (String, Vec<Ipv4Addr>) {
    let mut toml = String::from("[server]\nhostname = \"bench.doorman.example\"\n\n");
    let mut gateways = Vec::with_capacity(TENANTS);
    for t in 0..TENANTS {
        let mx = if t % 2 == 0 { "\"self\"".to_string() } else { format!("\"mx.gw{t}.example\"") };
        let _ = write!(toml, "[[tenants]]\nname = \"t{t}\"\nmx = [{mx}]\nreject_direct_send = {}\n", t % 3 == 0);
        let recipients: Vec<String> = (0..5).map(|k| format!("\"user{k}@tenant{t}.example\"")).collect();
        let _ = writeln!(toml, "recipients = [{}]", recipients.join(", "));
        let _ = writeln!(toml, "[[tenants.accepted_domains]]\ndomain = \"tenant{t}.example\"");
        if t % 10 == 0 {
            let _ = writeln!(
                toml,
                "[[tenants.accepted_domains]]\ndomain = \"hybrid{t}.example\"\ntype = \"internal_relay\"\nmatch_subdomains = true"
            );
        }
        let gw = Ipv4Addr::from(u32::from(rng.v4()) & 0xFFFF_FFF0);
        gateways.push(gw);
        let kind = if t % 4 == 0 { "on_premises" } else { "partner" };
        let restrict = if kind == "partner" { "restrict_domains_to_ip_addresses = true\n" } else { "" };
        let _ = write!(
            toml,
            "[[tenants.inbound_connectors]]\nname = \"gw{t}\"\ntype = \"{kind}\"\nsender_ip_addresses = [\"{gw}/28\", \"{}\"]\n{restrict}",
            v6_net(rng.v6(), 48)
        );
        let mut allow = Vec::new();
        let mut block = Vec::new();
        for e in 0..FILTER_ENTRIES_PER_TENANT {
            let entry = if rng.below(2) == 0 {
                v4_net(rng.v4(), 8 + rng.below(25) as u8)
            } else {
                v6_net(rng.v6(), 16 + rng.below(113) as u8)
            };
            if e % 2 == 0 { allow.push(format!("\"{entry}\"")) } else { block.push(format!("\"{entry}\"")) }
        }
        let _ = writeln!(
            toml,
            "[tenants.connection_filter]\nip_allow_list = [{}]\nip_block_list = [{}]",
            allow.join(", "),
            block.join(", ")
        );
        let _ = writeln!(
            toml,
            "[[tenants.transport_rules]]\nname = \"gateway SCL -1\"\npriority = 0\nconditions.sender_ip_ranges = [\"{gw}/28\"]\nactions.set_scl = -1\n"
        );
    }
    (toml, gateways)
}

const SMALL: &str = r#"
[[tenants]]
name = "t0"
mx = ["mx.gw0.example"]
recipients = ["user0@tenant0.example", "user1@tenant0.example"]
[[tenants.accepted_domains]]
domain = "tenant0.example"
[[tenants.inbound_connectors]]
name = "gw0"
type = "partner"
sender_ip_addresses = ["80.66.20.0/28", "2001:db8:1::/48"]
restrict_domains_to_ip_addresses = true
[tenants.connection_filter]
ip_allow_list = ["10.0.0.0/8", "2001:db8:2::/48", "192.0.2.0/24"]
ip_block_list = ["172.16.0.0/12", "2001:db8:3::/48", "198.51.100.0/24", "203.0.113.0/25"]
"#;

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Query {
    session: Session,
    sender: doorman_config::address::ReversePath,
    rcpt: String,
}

impl Query {
    /// The first recipient of a transaction, as most are.
    fn context(&self) -> RcptContext<'_> {
        RcptContext { sender: &self.sender, smtputf8: false, accepted: 0 }
    }
}

/// A mix the edge sees: the tenant's gateway, strangers (v4 and v6), known and unknown users,
/// and unknown domains.
fn queries(rng: &mut Rng, tenants: usize, gateways: &[Ipv4Addr]) -> Vec<Query> {
    (0..QUERIES)
        .map(|_| {
            let t = rng.below(tenants as u64) as usize;
            let ip: IpAddr = match rng.below(4) {
                0 => IpAddr::V4(Ipv4Addr::from(u32::from(gateways[t]) + rng.below(16) as u32)),
                1 => IpAddr::V6(rng.v6()),
                _ => IpAddr::V4(rng.v4()),
            };
            let mut session = Session::new(ip);
            if rng.below(2) == 0 {
                session =
                    session.with_tls(TlsInfo::new("TLSv1.3", "TLS13_AES_128_GCM_SHA256", ClientCertificate::None));
            }
            let rcpt = match rng.below(10) {
                0 => format!("user9@tenant{t}.example"),
                1 => format!("someone@elsewhere{t}.example"),
                k => format!("user{}@tenant{t}.example", k % 5),
            };
            let sender = parse_reverse_path(if rng.below(5) == 0 { "<>" } else { "<news@sender.example>" }).unwrap();
            Query { session, sender, rcpt }
        })
        .collect()
}

#[derive(Clone, Copy)]
struct Latency {
    p50: u64,
    p90: u64,
    p99: u64,
}

fn measure(policy: &Policy, qs: &[Query], detail: Detail) -> Latency {
    // Warm up caches and branch predictors.
    for q in qs.iter().take(5_000) {
        black_box(policy.rcpt(&q.session, &q.context(), &q.rcpt, detail));
    }
    let mut ns: Vec<u64> = qs
        .iter()
        .map(|q| {
            let start = Instant::now();
            black_box(policy.rcpt(black_box(&q.session), &q.context(), &q.rcpt, detail));
            start.elapsed().as_nanos() as u64
        })
        .collect();
    ns.sort_unstable();
    let at = |p: f64| ns[((ns.len() as f64 * p) as usize).min(ns.len() - 1)];
    Latency { p50: at(0.50), p90: at(0.90), p99: at(0.99) }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Rounds alternate between the two configs, so that noise from other tenants of a shared
/// machine falls on both alike; each figure is the median over the rounds.
fn compare(
    big: &Policy,
    big_q: &[Query],
    small: &Policy,
    small_q: &[Query],
    detail: Detail,
) -> (Latency, Latency, f64) {
    let chunk = QUERIES / ROUNDS;
    let (mut b, mut s) = (Vec::new(), Vec::new());
    for r in 0..ROUNDS {
        b.push(measure(big, &big_q[r * chunk..(r + 1) * chunk], detail));
        s.push(measure(small, &small_q[r * chunk..(r + 1) * chunk], detail));
    }
    let ratio = median(b.iter().zip(&s).map(|(b, s)| b.p50 as f64 / s.p50.max(1) as f64).collect());
    let mid = |v: &[Latency]| Latency {
        p50: median(v.iter().map(|l| l.p50 as f64).collect()) as u64,
        p90: median(v.iter().map(|l| l.p90 as f64).collect()) as u64,
        p99: median(v.iter().map(|l| l.p99 as f64).collect()) as u64,
    };
    (mid(&b), mid(&s), ratio)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut rng = Rng(0xD00D_0A11);
    let (toml, gateways) = generate(&mut rng);
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/doorman-bench-10k.toml");
    let _ = std::fs::write(&out, &toml);

    let rss_start = rss_kib("VmRSS:");
    let t = Instant::now();
    let loaded = load_str("doorman-bench-10k.toml", &toml, Path::new("."))
        .unwrap_or_else(|d| panic!("generated config is invalid:\n{d}"));
    let parse = t.elapsed();
    let config = loaded.config;
    let filter_entries: usize = config
        .tenants
        .iter()
        .map(|t| t.connection_filter.ip_allow_list.len() + t.connection_filter.ip_block_list.len())
        .sum();
    let connectors: usize = config.tenants.iter().map(|t| t.inbound_connectors.len()).sum();
    let rss_parsed = rss_kib("VmRSS:");
    let t = Instant::now();
    let big = Policy::new(config);
    let compile = t.elapsed();
    let rss_compiled = rss_kib("VmRSS:");

    println!(
        "generated config: {} tenants, {filter_entries} connection-filter entries, {connectors} connectors ({} KiB of TOML, written to {})",
        TENANTS,
        toml.len() / 1024,
        out.display()
    );
    println!("load (TOML parse + checks): {:.0} ms", parse.as_secs_f64() * 1e3);
    println!("compile (Policy::new):      {:.0} ms   [target < 1000 ms]", compile.as_secs_f64() * 1e3);
    println!(
        "RSS: {} MiB before loading, {} MiB with the config, {} MiB with the compiled policy (peak {} MiB)   [target < 500 MiB]",
        rss_start / 1024,
        rss_parsed / 1024,
        rss_compiled / 1024,
        rss_kib("VmHWM:") / 1024
    );

    let small = Policy::new(load_str("small.toml", SMALL, Path::new(".")).expect("small config").config);
    let big_q = queries(&mut rng, TENANTS, &gateways);
    let small_q = queries(&mut rng, 1, &[Ipv4Addr::new(80, 66, 20, 0)]);
    let accepted =
        big_q.iter().filter(|q| big.rcpt(&q.session, &q.context(), &q.rcpt, Detail::Brief).is_accepted()).count();
    println!(
        "query mix: {QUERIES} RCPTs, {:.0}% accepted on the large config",
        100.0 * accepted as f64 / QUERIES as f64
    );

    let (b, s, ratio) = compare(&big, &big_q, &small, &small_q, Detail::Brief);
    println!("RCPT latency, brief trace (the edge), median of {ROUNDS} interleaved rounds:");
    println!(
        "  large config:    p50 {:>5} ns  p90 {:>5} ns  p99 {:>5} ns   [target p50 < 2000 ns]",
        b.p50, b.p90, b.p99
    );
    println!("  10-entry config: p50 {:>5} ns  p90 {:>5} ns  p99 {:>5} ns", s.p50, s.p90, s.p99);
    println!("  large p50 / small p50: {ratio:.2}x   [target <= 3x]");
    let (e, _, _) = compare(&big, &big_q, &small, &small_q, Detail::Explained);
    println!("RCPT latency, explained trace (explain, analyzer): large config p50 {} ns  p99 {} ns", e.p50, e.p99);
}
