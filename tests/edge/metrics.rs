//! `/metrics` for the delivering side, against real next hops: a picky one that takes one
//! recipient and refuses another (and then takes the DSN), smtp-sink deferring everything, and
//! a transport rule's quarantine. The scrape is checked line by line, and by `promtool`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::support::{Edge, PickyHop, Sink, code, test_dir, wait_for};

/// Retries an hour away: a deferred copy stays deferred for the whole test.
const HOURLY: &str = "[server.queue]\nretry_schedule = [\"1h\"]";

fn tenants(picky: u16, deferring: u16) -> String {
    format!(
        r#"
[[tenants]]
name = "contoso"
mx = ["self"]
recipients = ["alice@contoso.com", "ghost@contoso.com"]
accepted_domains = [{{ domain = "contoso.com" }}]
routing = {{ type = "relay", next_hops = [{{ host = "127.0.0.1", port = {picky} }}] }}
[[tenants.transport_rules]]
name = "Hold invoices"
conditions.header_contains = [{{ header = "Subject", words = ["invoice"] }}]
actions = {{ quarantine = true }}

[[tenants]]
name = 'fabrikam "EU"'
mx = ["self"]
recipients = ["carol@fabrikam.com"]
accepted_domains = [{{ domain = "fabrikam.com" }}]
routing = {{ type = "relay", next_hops = [{{ host = "127.0.0.1", port = {deferring} }}] }}
"#
    )
}

fn send(edge: &Edge, rcpts: &[&str], subject: &str) {
    let message = format!("From: someone@example.net\r\nSubject: {subject}\r\n\r\nbody\r\n");
    let out = edge.smtplib(json!([{"source": "127.0.0.3",
        "transactions": [{"mail_from": "someone@example.net", "rcpts": rcpts, "message": message}]}]));
    assert_eq!(code(&out[0]["transactions"][0]["data"]), 250, "{}", out[0]);
}

/// The body of a scrape, after its HTTP head.
fn scrape(edge: &Edge) -> String {
    let response = edge.metrics();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP head: {response}"));
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "{head}");
    body.to_string()
}

fn lines_of<'a>(body: &'a str, family: &str) -> Vec<&'a str> {
    let mut lines: Vec<&str> = body.lines().filter(|l| l.starts_with(family)).collect();
    lines.sort();
    lines
}

/// Waits (up to 15 s) until the scrape holds every line of `want`; gives it.
fn wait_scrape(edge: &Edge, want: &[String]) -> String {
    wait_for(Duration::from_secs(15), || {
        let body = scrape(edge);
        want.iter().all(|w| body.lines().any(|l| l == w)).then_some(body)
    })
    .unwrap_or_else(|| panic!("never all of {want:#?} in\n{}\n{}", scrape(edge), edge.log()))
}

/// `promtool check metrics` on the scrape, when promtool is installed: it must say nothing.
fn promtool_check(body: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("promtool not installed; skipped");
            return;
        }
        Err(e) => panic!("promtool: {e}"),
    };
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics ({}): {said}\n{body}", out.status);
}

fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{body}"))
}

#[test]
fn delivery_metrics_count_each_result_by_tenant_and_next_hop() {
    let dir = test_dir("metrics-delivery-hops");
    let picky = PickyHop::start(&["ghost@contoso.com"]);
    let deferring = Sink::start(&dir, &["-r", "rcpt"]);
    let mut edge = Edge::start("metrics-delivery", HOURLY, &tenants(picky.port, deferring.port));
    let (p, d) = (format!("127.0.0.1:{}", picky.port), format!("127.0.0.1:{}", deferring.port));

    // alice is delivered, ghost refused for good (a DSN to the sender, which the picky hop
    // takes), carol deferred, and the invoice quarantined.
    send(&edge, &["alice@contoso.com", "ghost@contoso.com"], "figures");
    send(&edge, &["carol@fabrikam.com"], "hello");
    send(&edge, &["alice@contoso.com"], "your invoice");

    let delivered = [
        format!(r#"doorman_delivery_recipients_total{{tenant="contoso",next_hop="{p}",result="delivered"}} 2"#),
        format!(r#"doorman_delivery_recipients_total{{tenant="contoso",next_hop="{p}",result="failed"}} 1"#),
        format!(r#"doorman_delivery_recipients_total{{tenant="fabrikam \"EU\"",next_hop="{d}",result="deferred"}} 1"#),
    ];
    let dsn = [format!(r#"doorman_dsn_total{{tenant="contoso",next_hop="{p}"}} 1"#)];
    let quarantined = [r#"doorman_quarantined_total{tenant="contoso",next_hop="quarantine"} 1"#.to_string()];
    let queue = [
        r#"doorman_queue_messages{status="queued"} 0"#.to_string(),
        r#"doorman_queue_messages{status="deferred"} 1"#.to_string(),
        r#"doorman_queue_messages{status="held"} 0"#.to_string(),
    ];
    let want: Vec<String> =
        [&delivered[..], &dsn, &quarantined, &queue, &["doorman_delivery_latency_seconds_count 2".into()]].concat();
    let body = wait_scrape(&edge, &want);

    // Exactly these, and nothing else counted.
    let mut sorted = delivered.to_vec();
    sorted.sort();
    assert_eq!(lines_of(&body, "doorman_delivery_recipients_total"), sorted, "{body}");
    assert_eq!(lines_of(&body, "doorman_dsn_total"), dsn, "{body}");
    assert_eq!(lines_of(&body, "doorman_quarantined_total"), quarantined, "{body}");
    assert_eq!(lines_of(&body, "doorman_queue_messages{").len(), 3, "{body}");
    assert!(body.contains("\ndoorman_delivery_latency_seconds_bucket{le=\"+Inf\"} 2\n"), "{body}");
    assert!(body.contains("# TYPE doorman_delivery_latency_seconds histogram\n"), "{body}");
    let age = metric(&body, "doorman_queue_oldest_age_seconds");
    assert!(age > 0.0 && age < 60.0, "carol's copy is a few seconds old: {age}");
    // The edge's own counters are on the same endpoint.
    assert!(body.contains("\ndoorman_messages_total{tenant=\"contoso\",outcome=\"quarantine\"} 1\n"), "{body}");
    assert!(
        body.contains("\ndoorman_messages_total{tenant=\"fabrikam \\\"EU\\\"\",outcome=\"receive\"} 1\n"),
        "{body}"
    );
    promtool_check(&body);

    // The queue gauges are counted from the spool: right after a restart, and after an
    // administrator holds the deferred copy.
    edge.kill9();
    edge.spawn();
    let body = wait_scrape(&edge, &queue);
    assert!(metric(&body, "doorman_queue_oldest_age_seconds") >= age, "{body}");
    assert!(lines_of(&body, "doorman_delivery_recipients_total").is_empty(), "counters start again: {body}");
    let (status, out, err) = edge.doorman(&["queue", "hold", "ALL", "--config", &edge.config.display().to_string()]);
    assert_eq!(status, 0, "{out}{err}");
    let held = [
        r#"doorman_queue_messages{status="queued"} 0"#.to_string(),
        r#"doorman_queue_messages{status="deferred"} 0"#.to_string(),
        r#"doorman_queue_messages{status="held"} 1"#.to_string(),
    ];
    let body = wait_scrape(&edge, &held);
    assert_eq!(metric(&body, "doorman_queue_oldest_age_seconds"), 0.0, "a held copy waits for no one: {body}");
    promtool_check(&body);
}
