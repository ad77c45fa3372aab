//! Tracking lines as an aligned text table, widest column last so a long reply wraps alone.

use crate::record::Record;

/// Records read from a cluster's trace get a NODE column.
pub fn render_table(records: &[Record]) -> String {
    let nodes = records.iter().any(|r| r.node.is_some());
    let mut headers = vec![
        "TIME",
        "NODE",
        "EVENT",
        "CLIENT",
        "TLS",
        "SENDER",
        "RECIPIENT",
        "TENANT",
        "CONNECTOR",
        "QUEUE-ID",
        "REPLY",
    ];
    if !nodes {
        headers.remove(1);
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            let mut reply = opt(&r.reply);
            if let Some(scl) = r.scl {
                reply = if r.reply.is_some() { format!("{reply} (SCL {scl})") } else { format!("SCL {scl}") };
            }
            if !r.rules.is_empty() {
                reply.push_str(&format!(" [rules: {}]", r.rules.join(", ")));
            }
            let mut row = vec![
                r.time.clone(),
                opt(&r.node),
                r.event.name().to_string(),
                opt(&r.client_ip),
                r.tls.as_deref().and_then(|t| t.split(' ').next()).unwrap_or("-").to_string(),
                r.mail_from.as_ref().map_or("-".into(), |m| if m.is_empty() { "<>".into() } else { m.clone() }),
                opt(&r.rcpt),
                opt(&r.tenant),
                opt(&r.connector),
                opt(&r.queue_id),
                reply,
            ];
            if !nodes {
                row.remove(1);
            }
            row
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push('\n');
    };
    line(&headers);
    for row in &rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}
