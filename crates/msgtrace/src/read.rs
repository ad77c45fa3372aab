//! The shapes a message trace comes in, told apart by their columns (CSV) or fields (JSON):
//!
//! - `Get-MessageTrace` and `Get-MessageTraceV2`, as `Export-Csv` or `ConvertTo-Json` write
//!   them: `Received, SenderAddress, RecipientAddress, Subject, Status, ToIP, FromIP, Size,
//!   MessageId, MessageTraceId`.
//! - The extended and enhanced summary reports (`Start-HistoricalSearch`), CSV:
//!   `origin_timestamp_utc, sender_address, recipient_status, message_subject, …,
//!   original_client_ip, client_ip, connector_id, directionality`.
//! - `Get-MessageTraceDetail` and V2 rows (`Date, Event, Action, Detail, Data`, with
//!   `SenderAddress` and `RecipientAddress` where the export has them): the `Receive` events.
//! - doorman's own tracking log (JSON lines): its `receive` lines.
//!
//! Every row becomes a [`Message`], or a [`Malformed`] with its line number.

use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use crate::csv;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    MessageTrace,
    /// `Get-MessageTraceDetail` (and V2): one row per event; the `Receive` event's `Data` XML
    /// names the client and the inbound connector.
    TraceDetail,
    SummaryReport,
    TrackingLog,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Incoming,
    /// Sent by the tenant's own users.
    Originating,
}

/// One message to one or more recipients, as a trace row has it.
#[derive(Clone, Debug, Serialize)]
pub struct Message {
    /// The row's first line in its file.
    pub line: usize,
    /// UTC, `2026-11-28T03:05:12Z`, when the row's time could be read.
    pub received: Option<String>,
    pub sender: String,
    pub recipients: Vec<String>,
    pub status: Option<String>,
    /// The client that connected to the tenant: the original client where the trace has it.
    pub client_ip: Option<IpAddr>,
    /// The inbound connector the trace names.
    pub connector: Option<String>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub direction: Option<Direction>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Malformed {
    pub line: usize,
    pub why: String,
}

#[derive(Debug, Serialize)]
pub struct Trace {
    pub shape: Shape,
    pub messages: Vec<Message>,
    pub malformed: Vec<Malformed>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("line {0}: a quoted field never ends")]
    Unterminated(usize),
    #[error("not a message trace: {0}")]
    Unknown(String),
    #[error("line {line}: not JSON: {why}")]
    Json { line: usize, why: String },
}

/// Reads a trace in any shape this module knows.
pub fn read(text: &str) -> Result<Trace, ReadError> {
    let body = text.trim_start_matches('\u{feff}').trim_start();
    if body.starts_with('[') || (body.starts_with('{') && serde_json::from_str::<Value>(body).is_ok()) {
        let v: Value =
            serde_json::from_str(body).map_err(|e| ReadError::Json { line: e.line(), why: e.to_string() })?;
        let rows = match v {
            Value::Array(a) => a,
            other => vec![other],
        };
        return Ok(json_rows(&rows));
    }
    if body.starts_with('{') {
        return tracking_log(text);
    }
    let records = csv::parse(text).map_err(ReadError::Unterminated)?;
    let Some(((_, header), rows)) = records.split_first() else {
        return Err(ReadError::Unknown("the file is empty".into()));
    };
    let col = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    // Trace detail rows may carry the addresses too: the event column tells them apart.
    if let (Some(_), Some(_), None) = (col("SenderAddress"), col("RecipientAddress"), col("Event")) {
        let get = |row: &[String], name: &str| col(name).and_then(|i| row.get(i)).map(|s| s.trim().to_string());
        let mut t = Trace { shape: Shape::MessageTrace, messages: Vec::new(), malformed: Vec::new() };
        for (line, row) in rows {
            if row.len() != header.len() {
                t.malformed.push(Malformed {
                    line: *line,
                    why: format!("{} fields, the header has {}", row.len(), header.len()),
                });
                continue;
            }
            let field = |n: &str| get(row, n).filter(|s| !s.is_empty());
            match message_trace_row(*line, &field) {
                Ok(m) => t.messages.push(m),
                Err(why) => t.malformed.push(Malformed { line: *line, why }),
            }
        }
        return Ok(t);
    }
    if let (Some(_), Some(_), Some(_)) = (col("Event"), col("Data"), col("Date")) {
        let get = |row: &[String], name: &str| col(name).and_then(|i| row.get(i)).map(|s| s.trim().to_string());
        let mut t = Trace { shape: Shape::TraceDetail, messages: Vec::new(), malformed: Vec::new() };
        for (line, row) in rows {
            if row.len() != header.len() {
                t.malformed.push(Malformed {
                    line: *line,
                    why: format!("{} fields, the header has {}", row.len(), header.len()),
                });
                continue;
            }
            let field = |n: &str| get(row, n).filter(|s| !s.is_empty());
            match detail_row(*line, &field) {
                Ok(Some(m)) => t.messages.push(m),
                Ok(None) => {}
                Err(why) => t.malformed.push(Malformed { line: *line, why }),
            }
        }
        return Ok(t);
    }
    if let (Some(_), Some(_)) = (col("origin_timestamp_utc"), col("sender_address")) {
        let get = |row: &[String], name: &str| col(name).and_then(|i| row.get(i)).map(|s| s.trim().to_string());
        let mut t = Trace { shape: Shape::SummaryReport, messages: Vec::new(), malformed: Vec::new() };
        for (line, row) in rows {
            if row.len() != header.len() {
                t.malformed.push(Malformed {
                    line: *line,
                    why: format!("{} fields, the header has {}", row.len(), header.len()),
                });
                continue;
            }
            let field = |n: &str| get(row, n).filter(|s| !s.is_empty());
            match summary_row(*line, &field) {
                Ok(m) => t.messages.push(m),
                Err(why) => t.malformed.push(Malformed { line: *line, why }),
            }
        }
        return Ok(t);
    }
    Err(ReadError::Unknown(format!(
        "the columns {} are neither Get-MessageTrace's nor a summary report's",
        header.iter().take(6).cloned().collect::<Vec<_>>().join(", ")
    )))
}

fn json_rows(rows: &[Value]) -> Trace {
    let detail = rows.iter().any(|r| r.get("Event").is_some() && r.get("Data").is_some());
    let shape = if detail { Shape::TraceDetail } else { Shape::MessageTrace };
    let mut t = Trace { shape, messages: Vec::new(), malformed: Vec::new() };
    for (i, row) in rows.iter().enumerate() {
        let field = |name: &str| {
            let v = row.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?.1;
            match v {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        // JSON has no line per row: the row's position stands in for it.
        let read = if detail { detail_row(i + 1, &field) } else { message_trace_row(i + 1, &field).map(Some) };
        match read {
            Ok(Some(m)) => t.messages.push(m),
            Ok(None) => {}
            Err(why) => t.malformed.push(Malformed { line: i + 1, why: format!("row {}: {why}", i + 1) }),
        }
    }
    t
}

fn message_trace_row(line: usize, field: &dyn Fn(&str) -> Option<String>) -> Result<Message, String> {
    let sender = field("SenderAddress").ok_or("no SenderAddress")?;
    let recipient = field("RecipientAddress").ok_or("no RecipientAddress")?;
    let client_ip = match field("FromIP") {
        Some(ip) => Some(ip.parse().map_err(|_| format!("FromIP {ip:?} is not an IP address"))?),
        None => None,
    };
    Ok(Message {
        line,
        received: field("Received").map(|r| utc(&r).ok_or(format!("Received {r:?} is not a time"))).transpose()?,
        sender,
        recipients: vec![recipient],
        status: field("Status"),
        client_ip,
        connector: None,
        message_id: field("MessageId"),
        subject: field("Subject"),
        direction: None,
    })
}

/// A `Receive` event, as the message it received; other events are not arrivals.
fn detail_row(line: usize, field: &dyn Fn(&str) -> Option<String>) -> Result<Option<Message>, String> {
    if !field("Event").is_some_and(|e| e.eq_ignore_ascii_case("Receive")) {
        return Ok(None);
    }
    let data = field("Data").unwrap_or_default();
    let mep = |name: &str| mep_value(&data, name);
    let client_ip = match mep("ClientIP").or_else(|| mep("OriginalClientIP")) {
        Some(ip) => Some(ip.parse().map_err(|_| format!("the Receive event's ClientIP {ip:?} is not an IP address"))?),
        None => None,
    };
    // `InboundConnectorData` is `Name=…;ConnectorType=…`; `ConnectorId` names it alone.
    let connector = mep("InboundConnectorData")
        .and_then(|d| d.split(';').find_map(|kv| kv.strip_prefix("Name=").map(str::to_string)))
        .or_else(|| mep("ConnectorId"))
        .filter(|c| !c.is_empty());
    Ok(Some(Message {
        line,
        received: field("Date").map(|r| utc(&r).ok_or(format!("Date {r:?} is not a time"))).transpose()?,
        sender: field("SenderAddress").unwrap_or_default(),
        recipients: field("RecipientAddress").into_iter().collect(),
        status: field("Action").or_else(|| field("Detail")),
        client_ip,
        connector,
        message_id: field("MessageId"),
        subject: None,
        direction: None,
    }))
}

/// The value of `<MEP Name="NAME" String="…"/>` (or `Long=`, `Integer=`) in a trace
/// detail's `Data` XML, with the five XML entities decoded.
fn mep_value(data: &str, name: &str) -> Option<String> {
    let start = data.find(&format!("Name=\"{name}\""))?;
    let element = &data[start..data[start..].find("/>").map_or(data.len(), |e| start + e)];
    let value = ["String=\"", "Long=\"", "Integer=\"", "Blob=\""].iter().find_map(|attr| {
        let v = &element[element.find(attr)? + attr.len()..];
        Some(&v[..v.find('"')?])
    })?;
    Some(
        value
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

fn summary_row(line: usize, field: &dyn Fn(&str) -> Option<String>) -> Result<Message, String> {
    let sender = field("sender_address").ok_or("no sender_address")?;
    // `alice@contoso.com##Receive, Deliver;bob@contoso.com##Receive, Fail`
    let statuses: Vec<(String, String)> = field("recipient_status")
        .ok_or("no recipient_status")?
        .split(';')
        .filter(|s| !s.trim().is_empty())
        .map(|s| match s.split_once("##") {
            Some((r, st)) => (r.trim().to_string(), st.trim().to_string()),
            None => (s.trim().to_string(), String::new()),
        })
        .collect();
    if statuses.is_empty() {
        return Err("recipient_status names no recipient".into());
    }
    let ip = field("original_client_ip").or_else(|| field("client_ip"));
    let client_ip = match ip {
        Some(ip) => Some(ip.parse().map_err(|_| format!("client IP {ip:?} is not an IP address"))?),
        None => None,
    };
    let direction = field("directionality")
        .map(|d| if d.eq_ignore_ascii_case("Originating") { Direction::Originating } else { Direction::Incoming });
    let received = field("origin_timestamp_utc");
    Ok(Message {
        line,
        received: received.map(|r| utc(&r).ok_or(format!("origin_timestamp_utc {r:?} is not a time"))).transpose()?,
        sender,
        status: Some(statuses.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>().join("; ")),
        recipients: statuses.into_iter().map(|(r, _)| r).collect(),
        client_ip,
        connector: field("connector_id"),
        message_id: field("message_id"),
        subject: field("message_subject"),
        direction,
    })
}

/// doorman's tracking log: each `receive` line is a message as it came in.
fn tracking_log(text: &str) -> Result<Trace, ReadError> {
    let mut t = Trace { shape: Shape::TrackingLog, messages: Vec::new(), malformed: Vec::new() };
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                t.malformed.push(Malformed { line: n + 1, why: format!("not JSON: {e}") });
                continue;
            }
        };
        if v["event"] != "receive" {
            continue;
        }
        let s = |k: &str| v[k].as_str().map(str::to_string);
        t.messages.push(Message {
            line: n + 1,
            received: s("time").and_then(|t| utc(&t)),
            sender: s("mail_from").unwrap_or_default(),
            recipients: s("rcpt").into_iter().collect(),
            status: Some("receive".into()),
            client_ip: s("client_ip").and_then(|ip| ip.parse().ok()),
            connector: s("connector"),
            message_id: s("queue_id"),
            subject: None,
            direction: None,
        });
    }
    Ok(t)
}

/// `2026-11-28T03:05:12.123Z`, `2026-11-28 03:05:12` or `11/28/2026 3:05:12 AM` (Exchange
/// Online's CSV, in UTC), as `2026-11-28T03:05:12Z`.
pub fn utc(s: &str) -> Option<String> {
    let s = s.trim();
    let iso = |date: &str, time: &str| -> Option<String> {
        let d: Vec<u32> = date.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        let t: Vec<u32> = time
            .trim_end_matches('Z')
            .split(['.', '+'])
            .next()?
            .split(':')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        (d.len() == 3 && t.len() >= 2).then(|| {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                d[0],
                d[1],
                d[2],
                t[0],
                t[1],
                t.get(2).copied().unwrap_or(0)
            )
        })
    };
    if let Some((date, time)) = s.split_once(['T', ' ']).filter(|(d, _)| d.contains('-')) {
        return iso(date, time);
    }
    // M/D/YYYY h:mm:ss AM
    let mut parts = s.split_whitespace();
    let date: Vec<u32> = parts.next()?.split('/').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let time: Vec<u32> = parts.next()?.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let pm = match parts.next() {
        Some(x) if x.eq_ignore_ascii_case("PM") => Some(true),
        Some(x) if x.eq_ignore_ascii_case("AM") => Some(false),
        None => None,
        _ => return None,
    };
    if date.len() != 3 || time.len() < 2 {
        return None;
    }
    let mut hour = time[0];
    match pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        date[2],
        date[0],
        date[1],
        hour,
        time[1],
        time.get(2).copied().unwrap_or(0)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_each_form() {
        assert_eq!(utc("2026-11-28T03:05:12.1234567Z").as_deref(), Some("2026-11-28T03:05:12Z"));
        assert_eq!(utc("2026-11-28 03:05:12").as_deref(), Some("2026-11-28T03:05:12Z"));
        assert_eq!(utc("11/28/2026 3:05:12 PM").as_deref(), Some("2026-11-28T15:05:12Z"));
        assert_eq!(utc("11/28/2026 12:05:12 AM").as_deref(), Some("2026-11-28T00:05:12Z"));
        assert_eq!(utc("yesterday"), None);
    }
}
