//! The audit's classes on the wire. Random configs and sessions from the generator, and the
//! audit's own side-door examples, are replayed against `doorman serve` by smtplib through a
//! trusted PROXY v2 header (IPv4 and IPv6 clients), with client certificates from a test CA
//! (or from a CA the edge does not trust). Every RCPT reply, the DATA reply and each copy's
//! tracking line (event, connector, SCL) must be what the class holding the session predicts.

use doorman_audit::predict::{Classes, Prediction};
use doorman_audit::{DispositionKind, DoorSide, ReplyCode};
use doorman_policy::{MessageHeaders, Policy, Transaction};
use doorman_testgen::{Case, GenConfig, GenServer, GenTls, case};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};
use serde_json::{Value, json};

use crate::support::{Edge, TestCa, test_dir};

const CONFIGS: usize = 16;
const SESSIONS: usize = 24;
/// The trusted proxy every session comes through.
const PROXY: &str = "127.0.0.1";
const BODY: &str = "Hello from the wire test.\r\n";

/// A session to replay: what the client sends, and what it must get.
struct Replay {
    helo: String,
    tx: Transaction,
    tls: GenTls,
    message: String,
    prediction: Prediction,
    /// Set for a side door's example: the tenant it opens.
    side_door_of: Option<String>,
}

fn draw_cases() -> Vec<Case> {
    let seed = std::env::var("DOORMAN_WIRE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x0001_00d0u64);
    let config = Config { rng_algorithm: RngAlgorithm::XorShift, rng_seed: RngSeed::Fixed(seed), ..Config::default() };
    let mut runner = TestRunner::new(config);
    let strategy = case(SESSIONS..SESSIONS + 1);
    (0..CONFIGS).map(|_| strategy.new_tree(&mut runner).expect("a case").current()).collect()
}

/// A header block as `MessageHeaders::from_pairs` writes it, then the body.
fn message(headers: &[(String, String)]) -> String {
    let mut m = String::new();
    for (n, v) in headers {
        m.push_str(&format!("{}: {}\r\n", n.trim(), v.trim()));
    }
    m.push_str("\r\n");
    m.push_str(BODY);
    m
}

/// `550 5.7.51 …` as smtplib reports it: the code, and the enhanced code the text starts with.
fn code_of(reply: &Value) -> ReplyCode {
    let code = reply[0].as_u64().unwrap_or_else(|| panic!("not a reply: {reply}")) as u16;
    let text = reply[1].as_str().unwrap_or_default();
    let enhanced = text.split_whitespace().next().and_then(|w| {
        let p: Vec<&str> = w.split('.').collect();
        match p[..] {
            [a, b, c] => Some((a.parse().ok()?, b.parse().ok()?, c.parse().ok()?)),
            _ => None,
        }
    });
    ReplyCode { code, enhanced }
}

fn event_of(d: DispositionKind) -> &'static str {
    match d {
        DispositionKind::Deliver | DispositionKind::Junk | DispositionKind::Redirect => "receive",
        DispositionKind::Quarantine => "quarantine",
        DispositionKind::Delete => "drop",
        DispositionKind::Reject => "reject",
    }
}

#[test]
fn sessions_on_the_wire_get_what_the_audit_predicts() {
    let mut counts = [0usize; 5]; // sessions, IPv6 clients, verified certificates, side-door examples, copies
    for (n, c) in draw_cases().into_iter().enumerate() {
        let dir = test_dir(&format!("audit-wire-certs-{n}"));
        let ca = TestCa::new(&dir, &format!("wire CA {n}"));
        let stranger_ca = TestCa::new(&dir, &format!("untrusted CA {n}"));
        // The edge asks no DNSBL here (the replies tests do) and believes only the test's proxy.
        let limits = c.config.server.limits.as_ref().map(|l| toml::to_string(l).unwrap()).unwrap_or_default();
        let server = format!(
            "trusted_proxies = [\"{PROXY}\"]\n[server.tls]\nclient_ca = \"{}\"\n[server.limits]\n{limits}",
            ca.pem.display()
        );
        let tenants = GenConfig { server: GenServer::default(), tenants: c.config.tenants.clone() }.toml();
        let edge = Edge::start(&format!("audit-wire-{n}"), &server, &tenants);
        let loaded = doorman_config::load_file(&edge.config).unwrap_or_else(|d| panic!("{d}"));
        let policy = Policy::new(loaded.config);
        let classes = Classes::of(&policy);
        let audit = doorman_audit::audit(&policy).expect("the audit runs");

        let mut replays = Vec::new();
        let mut push =
            |helo: String, mut tx: Transaction, tls: GenTls, headers: &[(String, String)], side: Option<String>| {
                let ascii = tx.mail_from.is_ascii() && tx.recipients.iter().all(|r| r.is_ascii());
                if !ascii && !tx.smtputf8 {
                    // smtplib cannot send such a command; the policy tests cover the reply.
                    return;
                }
                let message = message(headers);
                tx.proxy_peer = Some(PROXY.parse().unwrap());
                tx.session.helo = Some(helo.clone());
                tx.headers = MessageHeaders::parse(message.as_bytes());
                tx.message_size = Some(message.len() as u64);
                match classes.predict(&tx) {
                    Ok(prediction) => replays.push(Replay { helo, tx, tls, message, prediction, side_door_of: side }),
                    Err(u) if u.0.contains("is not audited") => {}
                    Err(u) => panic!("no class holds {tx:?}: {}", u.0),
                }
            };
        for (i, s) in c.sessions.iter().enumerate() {
            push(format!("s{i}.wire{n}.test"), s.transaction(), s.tls.clone(), &s.headers, None);
        }
        for t in &audit.tenants {
            for (i, d) in t.side_doors.iter().take(3).enumerate() {
                let example = d.session.as_ref().expect("a side door has an example session");
                let tls = match &example.tls {
                    None => GenTls::None,
                    Some(names) if names.is_empty() => GenTls::NoCertificate,
                    Some(names) => GenTls::Verified(names.clone()),
                };
                let helo = format!("door{i}.{}.wire{n}.test", t.tenant);
                push(helo, example.transaction(), tls, &example.headers, Some(t.tenant.clone()));
            }
        }

        let plan: Vec<Value> = replays
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut s = json!({
                    "source": "127.0.0.1",
                    "proxy": {"client": r.tx.session.client_ip.to_string()},
                    "helo": r.helo,
                    "transactions": [{
                        "raw": true,
                        "mail_from": r.tx.mail_from,
                        "options": if r.tx.smtputf8 { vec!["SMTPUTF8"] } else { Vec::new() },
                        "rcpts": r.tx.recipients,
                        "message": r.message,
                        "data_if_accepted": true,
                    }],
                });
                let cert = |ca: &TestCa, names: &[String]| {
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    ca.issue_names(&dir, &format!("client-{i}"), &names)
                };
                let files = match &r.tls {
                    GenTls::None => None,
                    GenTls::NoCertificate => Some(None),
                    GenTls::Unverified => Some(Some(cert(&stranger_ca, &["client.untrusted.test".to_string()]))),
                    GenTls::Verified(names) => Some(Some(cert(&ca, names))),
                };
                if let Some(files) = files {
                    s["starttls"] = json!(true);
                    if let Some((c, k)) = files {
                        s["cert"] = json!(c);
                        s["key"] = json!(k);
                    }
                }
                s
            })
            .collect();
        let results = edge.smtplib(Value::Array(plan));

        for (r, out) in replays.iter().zip(&results) {
            let case = || format!("{}\n{:?}\nprediction {:?}\nwire {out:#}", c.config.toml(), r.tx, r.prediction);
            assert!(out.get("error").is_none(), "{}", case());
            let tr = &out["transactions"][0];
            let p = &r.prediction;
            counts[0] += 1;
            counts[1] += usize::from(r.tx.session.client_ip.to_canonical().is_ipv6());
            counts[2] += usize::from(matches!(r.tls, GenTls::Verified(_)));
            counts[3] += usize::from(r.side_door_of.is_some());
            if p.recipients.is_empty() {
                assert_ne!(tr["mail"][0], 250, "MAIL FROM is refused, as the engine says: {}", case());
                continue;
            }
            assert_eq!(tr["mail"][0], 250, "{}", case());
            let wire: Vec<ReplyCode> = tr["rcpts"].as_array().unwrap().iter().map(code_of).collect();
            let want: Vec<ReplyCode> = p.recipients.iter().map(|o| o.reply).collect();
            assert_eq!(wire, want, "RCPT replies: {}", case());
            if p.recipients.iter().all(|o| o.reply.code >= 300) {
                assert!(tr.get("data").is_none(), "{}", case());
                continue;
            }
            let data = code_of(&tr["data"]);
            match p.data {
                Some(refusal) => assert_eq!(data, refusal, "DATA: {}", case()),
                None => assert_eq!(data.code, 250, "DATA: {}", case()),
            }
            if let Some(tenant) = &r.side_door_of {
                let copy = p.copies.iter().find(|c| &c.tenant == tenant);
                assert_eq!(copy.and_then(|c| c.door), Some(DoorSide::Side), "the example opens the door: {}", case());
            }
            if p.data.is_some() {
                continue;
            }
            for copy in &p.copies {
                counts[4] += 1;
                let line = edge.wait_tracking(|l| {
                    l["helo"] == r.helo.as_str() && l["stage"] == "data" && l["tenant"] == copy.tenant.as_str()
                });
                assert_eq!(line["event"], event_of(copy.disposition), "tracking line {line}: {}", case());
                assert_eq!(line["connector"].as_str(), copy.connector.as_deref(), "tracking line {line}: {}", case());
                assert_eq!(line["scl"].as_i64(), copy.scl.map(i64::from), "tracking line {line}: {}", case());
            }
        }
    }
    let [sessions, v6, certs, doors, copies] = counts;
    eprintln!(
        "wire: {sessions} sessions ({v6} from IPv6 clients, {certs} with verified certificates, {doors} side-door examples), {copies} copies checked in the tracking log"
    );
    assert!(sessions >= CONFIGS * SESSIONS / 2 && v6 > 0 && certs > 0 && doors > 0 && copies > 0, "{counts:?}");
}
