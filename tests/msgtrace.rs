//! `doorman trace --config` on message traces in each shape Exchange Online exports, made for
//! the field report's tenant (examples/contoso.toml: contoso behind its gateway, 80.66.20.0/28): what
//! came from the gateway is the front door, what came from anywhere else a side door.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/msgtrace").join(name).display().to_string()
}

fn example() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/contoso.toml").display().to_string()
}

fn trace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_doorman")).arg("trace").args(["--config", &example()]).args(args).output().unwrap()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn get_messagetrace_csv_rows_get_their_doors_and_malformed_rows_their_line() {
    let out = trace(&["--json", &fixture("get-messagetrace.csv")]);
    assert_eq!(out.status.code(), Some(1), "side-door arrivals were found");
    let lines = json_lines(&out);
    let doors: Vec<(&str, &str)> =
        lines.iter().map(|l| (l["message_id"].as_str().unwrap(), l["door"].as_str().unwrap())).collect();
    assert_eq!(
        doors,
        [
            ("<a1@fabrikam.example>", "front"),
            ("<a2@billing.example>", "side"),
            ("<a3@contoso.com>", "unknown"),
            ("<a5@fabrikam.example>", "front")
        ]
    );
    assert_eq!(lines[0]["received"], "2026-11-20T08:15:02Z");
    assert_eq!(lines[0]["tenant"], "contoso");
    assert!(
        lines[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("through connector \"Inbound only from Antispamrelay\"; the config in force answers 250"),
        "{}",
        lines[0]
    );
    assert!(lines[1]["reason"].as_str().unwrap().starts_with("203.0.113.9 is not the gateway's"), "{}", lines[1]);
    // The config in force says what the same session gets now: the fix's 5.7.51.
    assert!(lines[1]["reason"].as_str().unwrap().contains("550 5.7.51"), "{}", lines[1]);
    assert_eq!(lines[2]["subject"], "Urgent \"wire\"");
    // The tenant's own domain from outside the gateway: its users, or direct send.
    assert!(lines[2]["reason"].as_str().unwrap().contains("internal mail or direct send"), "{}", lines[2]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("get-messagetrace.csv:5: skipped: FromIP \"not-an-ip\" is not an IP address"), "{err}");

    // The table and summary, and the side door only.
    let out = trace(&["--door", "side", &fixture("get-messagetrace.csv")]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().all(|l| l.chars().count() <= 120), "{text}");
    assert!(text.contains("1 message(s), 1 row(s) skipped as malformed"), "{text}");
    assert!(text.contains("\ncontoso: 1 side door\n"), "{text}");
    assert!(text.contains("  side door from: 203.0.113.0/24 (1)"), "{text}");
    assert!(text.contains("  e.g. side door: "), "{text}");

    // After the fix date: nothing came through a side door, and the exit status says so.
    let out = trace(&["--since", "2026-11-28T00:00", &fixture("get-messagetrace.csv")]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\ncontoso: 1 front door\n"));
}

#[test]
fn get_messagetracev2_json_and_the_summary_report_are_read_too() {
    let out = trace(&["--json", &fixture("get-messagetracev2.json")]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    assert_eq!((lines[0]["door"].as_str(), lines[1]["door"].as_str()), (Some("front"), Some("side")));
    assert_eq!(lines[1]["client_ip"], "2001:db8:5::9");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("get-messagetracev2.json:3: skipped: row 3: no SenderAddress")
    );

    // The summary report: the original client decides (not the last hop), and mail the
    // tenant sent is internal.
    let out = trace(&["--json", &fixture("enhanced-summary.csv")]);
    let lines = json_lines(&out);
    let doors: Vec<&str> = lines.iter().map(|l| l["door"].as_str().unwrap()).collect();
    assert_eq!(doors, ["front", "side", "internal"]);
    assert_eq!(lines[0]["connector"], "Inbound only from Antispamrelay");
    assert_eq!(lines[1]["recipients"], serde_json::json!(["alice@contoso.com", "bob@contoso.com"]));
    // The client that connected decides the door; the one before it is kept for the summary.
    assert_eq!(
        (lines[1]["client_ip"].as_str(), lines[1]["original_client_ip"].as_str()),
        (Some("40.107.1.1"), Some("203.0.113.9"))
    );

    // The extended report: other columns, another order, no client_ip beside the original.
    let out = trace(&["--json", &fixture("extended-summary.csv")]);
    let lines = json_lines(&out);
    let doors: Vec<&str> = lines.iter().map(|l| l["door"].as_str().unwrap()).collect();
    assert_eq!(doors, ["front", "side"]);
    assert_eq!(lines[1]["status"], "Receive, Fail");

    // Filters as Get-MessageTrace has them, over several files at once.
    let out = trace(&[
        "--json",
        "--sender",
        "@billing.example",
        &fixture("get-messagetrace.csv"),
        &fixture("enhanced-summary.csv"),
    ]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["sender"] == "invoice@billing.example" && l["door"] == "side"));
    let out = trace(&["--json", "--message-id", "a1@fabrikam.example", &fixture("get-messagetrace.csv")]);
    assert_eq!(json_lines(&out).len(), 1);
    assert_eq!(out.status.code(), Some(0));
    let out = trace(&["--json", "--status", "fail", &fixture("extended-summary.csv")]);
    assert_eq!(json_lines(&out).len(), 1);
    let out = trace(&["--json", "--until", "2026-11-21T00:00", &fixture("get-messagetrace.csv")]);
    let ids: Vec<String> = json_lines(&out).iter().map(|l| l["message_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["<a1@fabrikam.example>", "<a2@billing.example>"]);
    let out = trace(&["--door", "sideways", &fixture("get-messagetrace.csv")]);
    assert_eq!(out.status.code(), Some(2));
}

/// doorman's own tracking log gets the same labels, read from standard input too.
#[test]
fn the_tracking_log_is_labelled_the_same_way() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorman"))
        .args(["trace", "--config", &example(), "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read(fixture("tracking.jsonl")).unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    let doors: Vec<(&str, &str)> =
        lines.iter().map(|l| (l["message_id"].as_str().unwrap(), l["door"].as_str().unwrap())).collect();
    assert_eq!(doors, [("Q1", "front"), ("Q2", "side")]);
    assert_eq!(lines[0]["file"], "-:2");
}

/// Get-MessageTraceDetail: the Receive event's Data names the client and the connector; the
/// other events are not arrivals. And an Exchange Online export stands in for a config.
#[test]
fn trace_detail_receive_events_and_an_export_instead_of_a_config() {
    let out = trace(&["--json", &fixture("get-messagetracedetail.csv")]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "the Deliver event is no arrival");
    assert_eq!(
        (lines[0]["door"].as_str(), lines[0]["connector"].as_str()),
        (Some("front"), Some("Inbound only from Antispamrelay"))
    );
    assert_eq!((lines[1]["door"].as_str(), lines[1]["client_ip"].as_str()), (Some("side"), Some("203.0.113.9")));
    assert!(lines[1]["connector"].is_null());

    let export = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/exo/tests/fixtures/contoso-before");
    let out = Command::new(env!("CARGO_BIN_EXE_doorman"))
        .args(["trace", "--exo", &export.display().to_string(), "--mx", "mx.contoso-gateway.net", "--json"])
        .arg(fixture("get-messagetrace.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let doors: Vec<String> = json_lines(&out).iter().map(|l| l["door"].as_str().unwrap().to_string()).collect();
    assert_eq!(doors, ["front", "side", "unknown", "front"]);
}

/// What Windows PowerShell 5.1 writes: `#TYPE` first, UTF-16 with a BOM, dates as
/// `/Date(…)/`, IPv4 as mapped IPv6; and the errors a cron job must not take for "all clear".
#[test]
fn windows_powershell_files_and_the_errors_that_are_no_all_clear() {
    let dir = std::env::temp_dir().join(format!("doorman-msgtrace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = std::fs::read_to_string(fixture("get-messagetrace.csv")).unwrap();
    let text = format!("#TYPE Deserialized.Microsoft.Exchange.Management.FfoReporting.MessageTrace\r\n{csv}")
        .replace("\"80.66.20.13\"", "\"::ffff:80.66.20.13\"");
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let path = dir.join("trace-utf16.csv");
    std::fs::write(&path, utf16).unwrap();
    let out = trace(&["--json", &path.display().to_string()]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((lines[0]["client_ip"].as_str(), lines[0]["door"].as_str()), (Some("80.66.20.13"), Some("front")));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trace-utf16.csv:6: skipped"), "the #TYPE line counts");

    let json = dir.join("trace-ps51.json");
    std::fs::write(&json, r#"{"Received":{"value":"/Date(1795835112000)/","DateTime":"Saturday, November 28, 2026 3:05:12 AM"},"SenderAddress":"x@example.net","RecipientAddress":"alice@contoso.com","FromIP":"203.0.113.9"}"#).unwrap();
    let out = trace(&["--json", &json.display().to_string()]);
    assert_eq!(json_lines(&out)[0]["received"], "2026-11-28T03:05:12Z");

    // Nothing readable is an error, not an all-clear; a filter of the labelled mode needs it.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "\"Received\",\"SenderAddress\",\"RecipientAddress\",\"FromIP\"\n\"x\",\"a@b.example\",\"c@contoso.com\",\"nope\"\n").unwrap();
    assert_eq!(trace(&[&bad.display().to_string()]).status.code(), Some(2));
    let o = Command::new(env!("CARGO_BIN_EXE_doorman")).args(["trace", "--door", "side", "x.jsonl"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(trace(&["--since", "3650d", &fixture("get-messagetrace.csv")]).status.code() == Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}
