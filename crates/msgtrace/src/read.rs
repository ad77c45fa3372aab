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

use doorman_config::net::canonical_ip;

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
    /// The client that connected to the tenant.
    pub client_ip: Option<IpAddr>,
    /// The sender's client before a gateway, where the trace has it (Enhanced Filtering).
    pub original_client_ip: Option<IpAddr>,
    /// The verified name of the client's certificate, where the trace has it.
    pub certificate_name: Option<String>,
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

/// The text of a file as Windows PowerShell may write it: UTF-8 (with or without a BOM) or
/// UTF-16 with its BOM (`Out-File`, `>`).
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    let utf16 = |le: bool| {
        let units: Vec<u16> = bytes[2..]
            .chunks(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)])
                } else {
                    u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|e| format!("not UTF-16: {e}"))
    };
    match bytes {
        [0xff, 0xfe, ..] => utf16(true),
        [0xfe, 0xff, ..] => utf16(false),
        _ => String::from_utf8(bytes.to_vec()).map_err(|e| format!("not UTF-8: {e}")),
    }
}

/// Reads a trace in any shape this module knows.
pub fn read(text: &str) -> Result<Trace, ReadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let body = text.trim_start();
    if body.starts_with('[') {
        let v: Value =
            serde_json::from_str(body).map_err(|e| ReadError::Json { line: e.line(), why: e.to_string() })?;
        let rows = match v {
            Value::Array(a) => a,
            other => vec![other],
        };
        return Ok(json_rows(&rows));
    }
    if body.starts_with('{') {
        // One object (ConvertTo-Json of one row), or JSON lines: doorman's tracking log has
        // `event` and `time`, anything else is a row per line.
        if let Ok(v) = serde_json::from_str::<Value>(body)
            && v.get("event").is_none()
        {
            return Ok(json_rows(&[v]));
        }
        let first: Option<Value> = body.lines().next().and_then(|l| serde_json::from_str(l).ok());
        if first.as_ref().is_some_and(|v| v.get("event").is_some() && v.get("time").is_some()) {
            return tracking_log(text);
        }
        let mut rows = Vec::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            rows.push(serde_json::from_str(line).map_err(|e| ReadError::Json { line: n + 1, why: e.to_string() })?);
        }
        return Ok(json_rows(&rows));
    }
    // Windows PowerShell's Export-Csv without -NoTypeInformation starts with `#TYPE …`.
    let (text, skipped) = match text.split_once('\n') {
        Some((first, rest)) if first.starts_with("#TYPE") => (rest, 1),
        _ => (text, 0),
    };
    let records: Vec<csv::Record> =
        csv::parse(text).map_err(ReadError::Unterminated)?.into_iter().map(|(l, r)| (l + skipped, r)).collect();
    let Some(((_, header), rows)) = records.split_first() else {
        return Err(ReadError::Unknown("the file is empty".into()));
    };
    let col = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    // Trace detail rows may carry the addresses too: the event column tells them apart.
    type RowReader = fn(usize, &dyn Fn(&str) -> Option<String>) -> Result<Option<Message>, String>;
    let (shape, read_row): (Shape, RowReader) =
        if col("SenderAddress").is_some() && col("RecipientAddress").is_some() && col("Event").is_none() {
            (Shape::MessageTrace, |line, field| message_trace_row(line, field).map(Some))
        } else if col("Event").is_some() && col("Data").is_some() && col("Date").is_some() {
            (Shape::TraceDetail, detail_row)
        } else if col("origin_timestamp_utc").is_some() && col("sender_address").is_some() {
            (Shape::SummaryReport, |line, field| summary_row(line, field).map(Some))
        } else {
            return Err(ReadError::Unknown(format!(
                "the columns {} are neither Get-MessageTrace's, its detail's nor a summary report's",
                header.iter().take(6).cloned().collect::<Vec<_>>().join(", ")
            )));
        };
    let mut t = Trace { shape, messages: Vec::new(), malformed: Vec::new() };
    for (line, row) in rows {
        if row.len() != header.len() {
            t.malformed
                .push(Malformed { line: *line, why: format!("{} fields, the header has {}", row.len(), header.len()) });
            continue;
        }
        let field = |n: &str| col(n).and_then(|i| row.get(i)).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        match read_row(*line, &field) {
            Ok(Some(m)) => t.messages.push(m),
            Ok(None) => {}
            Err(why) => t.malformed.push(Malformed { line: *line, why }),
        }
    }
    Ok(t)
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
                // Windows PowerShell writes a date as {"value": "/Date(…)/", "DateTime": …}.
                Value::Object(o) => o.get("value").and_then(Value::as_str).map(str::to_string),
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
    let client_ip = ip(field("FromIP"), "FromIP")?;
    Ok(Message {
        line,
        received: field("Received").map(|r| utc(&r).ok_or(format!("Received {r:?} is not a time"))).transpose()?,
        sender,
        recipients: vec![recipient],
        status: field("Status"),
        client_ip,
        original_client_ip: None,
        certificate_name: None,
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
    let client_ip = ip(mep("ClientIP"), "the Receive event's ClientIP")?;
    let original_client_ip = ip(mep("OriginalClientIP"), "the Receive event's OriginalClientIP")?;
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
        original_client_ip,
        certificate_name: None,
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

/// An IP address field, canonical (an IPv4-mapped IPv6 address is its IPv4 address).
fn ip(value: Option<String>, what: &str) -> Result<Option<IpAddr>, String> {
    match value {
        Some(v) => {
            v.parse::<IpAddr>().map(|a| Some(canonical_ip(a))).map_err(|_| format!("{what} {v:?} is not an IP address"))
        }
        None => Ok(None),
    }
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
    let client_ip = ip(field("client_ip"), "client_ip")?;
    let original_client_ip = ip(field("original_client_ip"), "original_client_ip")?;
    let direction = field("directionality")
        .map(|d| if d.eq_ignore_ascii_case("Originating") { Direction::Originating } else { Direction::Incoming });
    let received = field("origin_timestamp_utc");
    Ok(Message {
        line,
        received: received.map(|r| utc(&r).ok_or(format!("origin_timestamp_utc {r:?} is not a time"))).transpose()?,
        sender,
        status: Some(statuses.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>().join("; ")),
        recipients: statuses.into_iter().map(|(r, _)| r).collect(),
        client_ip: client_ip.or(original_client_ip),
        original_client_ip,
        certificate_name: None,
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
            client_ip: s("client_ip").and_then(|ip| ip.parse().ok()).map(canonical_ip),
            original_client_ip: None,
            certificate_name: s("cert_name"),
            connector: s("connector"),
            message_id: s("queue_id"),
            subject: None,
            direction: None,
        });
    }
    Ok(t)
}

/// `2026-11-28T03:05:12.123Z` (or with an offset, `+01:00`), `2026-11-28 03:05:12`,
/// `11/28/2026 3:05:12 AM` (Exchange Online's CSV, in UTC) or `/Date(1732763112123)/`
/// (Windows PowerShell's ConvertTo-Json), as `2026-11-28T03:05:12Z`.
pub fn utc(s: &str) -> Option<String> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        // Milliseconds since the epoch, UTC; an offset after them only says how to show them.
        let end = inner.get(1..)?.find(['+', '-']).map_or(inner.len(), |i| i + 1);
        let ms: i64 = inner[..end].parse().ok()?;
        // Up to the end of year 9999, as for the other forms.
        if !(-62_135_596_800_000..=253_402_300_799_999).contains(&ms) {
            return None;
        }
        return Some(from_unix(ms.div_euclid(1000)));
    }
    if let Some((date, time)) = s.split_once(['T', ' ']).filter(|(d, _)| d.contains('-')) {
        let d: Vec<i64> = date.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        // The clock part, then an offset (`Z`, `+01:00`, `-05:00`) to take off.
        let (clock, offset) = match time.find(['Z', '+', '-']) {
            Some(i) => (&time[..i], &time[i..]),
            None => (time, ""),
        };
        let t: Vec<i64> = clock.split('.').next()?.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        if d.len() != 3 || t.len() < 2 {
            return None;
        }
        let off = match offset {
            "" | "Z" => 0,
            o => {
                let sign = if o.starts_with('-') { -1 } else { 1 };
                let (h, m) = o[1..].split_once(':').unwrap_or((&o[1..], "0"));
                let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
                if !(0..24).contains(&h) || !(0..60).contains(&m) {
                    return None;
                }
                sign * (h * 3600 + m * 60)
            }
        };
        return checked(d[0], d[1], d[2], t[0], t[1], t.get(2).copied().unwrap_or(0), off);
    }
    // M/D/YYYY h:mm:ss AM
    let mut parts = s.split_whitespace();
    let date: Vec<i64> = parts.next()?.split('/').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let time: Vec<i64> = parts.next()?.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    if date.len() != 3 || time.len() < 2 {
        return None;
    }
    let mut hour = time[0];
    match parts.next() {
        Some(x) if x.eq_ignore_ascii_case("PM") && (1..=12).contains(&hour) => hour = hour % 12 + 12,
        Some(x) if x.eq_ignore_ascii_case("AM") && (1..=12).contains(&hour) => hour %= 12,
        None => {}
        _ => return None,
    }
    checked(date[2], date[0], date[1], hour, time[1], time.get(2).copied().unwrap_or(0), 0)
}

/// The UTC time of a local time `offset` seconds east of UTC; `None` for a date that is not one.
fn checked(y: i64, mo: i64, d: i64, h: i64, mi: i64, se: i64, offset: i64) -> Option<String> {
    let days_in = |y: i64, m: i64| match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    };
    // Years past 9999 are no trace's, and would overflow the day count.
    if !(1..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || d < 1
        || d > days_in(y, mo)
        || !(0..24).contains(&h)
        || !(0..60).contains(&mi)
        || !(0..61).contains(&se)
    {
        return None;
    }
    Some(from_unix(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-11-28T03:05:12Z` for seconds since the epoch.
fn from_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
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
        assert_eq!(utc("2026-11-28T04:05:12+01:00").as_deref(), Some("2026-11-28T03:05:12Z"));
        assert_eq!(utc("2026-11-27T22:05:12-05:00").as_deref(), Some("2026-11-28T03:05:12Z"));
        assert_eq!(utc("/Date(1795835112000)/").as_deref(), Some("2026-11-28T03:05:12Z"));
        assert_eq!(utc("28/11/2026 3:05:12 AM"), None, "a day-first date is not taken for a month");
        assert_eq!(utc("11/28/2026 13:00:00 PM"), None);
        assert_eq!(utc("2/30/2026 1:00:00 AM"), None);
        // Found by fuzzing: these overflowed the day count.
        assert_eq!(utc("99999999999999-01-01T00:00:00Z"), None);
        assert_eq!(utc("2026-11-28T03:05:12+9999999999999999:00"), None);
        assert_eq!(utc("/Date(9223372036854775807)/"), None);
    }
}
