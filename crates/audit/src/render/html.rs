//! The audit as one HTML file to keep, mail or attach to a ticket: no script, no external
//! asset, the pictures inline. It opens with the summary, then gives each tenant a section:
//! its picture, its findings (ID, severity, evidence, a session that shows it), its doors,
//! and the fix as TOML and as Exchange Online PowerShell.
//!
//! Every text from the config goes through [`xml`], which escapes markup and control
//! characters, so a tenant or connector name cannot add markup.

use std::fmt::Write as _;

use super::picture::{Panel, Picture, picture, tenant_panel};
use super::svg::{draw, xml};
use crate::{Audit, DispositionKind, Door, Outcome, TenantAudit, Verdict};

/// What the page needs beyond the audit.
pub struct HtmlOptions<'a> {
    /// The config as `doorman audit` was given it, for the `doorman explain` lines.
    pub config: Option<&'a str>,
    /// When an Exchange Online export was audited: the `doorman import exo` arguments that
    /// write its config, on which the `doorman explain` lines then run.
    pub import: Option<&'a [String]>,
    /// A tenant's fix as Exchange Online PowerShell (the exo crate writes it).
    pub powershell: &'a dyn Fn(&TenantAudit) -> String,
    /// Who wrote the page: `doorman 0.1.0`.
    pub generator: &'a str,
}

/// Where the explain lines expect an imported export's config.
const IMPORTED: &str = "tenant.toml";

const STYLE: &str = "body{font-family:Helvetica,Arial,sans-serif;margin:2em auto;max-width:1280px;color:#222;padding:0 1em}\
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}\
th{background:#f0f0f0}td.n{text-align:right}\
.verdict{font-weight:bold;padding:.1em .5em;border-radius:.3em;color:#fff;background:#c62828;white-space:nowrap}\
.verdict.locked{background:#2e7d32}.verdict.unjudged{background:#9e6a00}\
.critical{color:#c62828;font-weight:bold}.warning{color:#9e6a00;font-weight:bold}.info{color:#555}\
pre{background:#f7f7f7;border:1px solid #ddd;padding:.6em;overflow-x:auto;white-space:pre}\
code{font-family:Menlo,Consolas,monospace;font-size:.92em}\
.outcome{font-size:1.15em}figure{margin:1em 0;overflow-x:auto}svg{max-width:100%;height:auto}";

/// The whole report.
pub fn html(audit: &Audit, options: &HtmlOptions<'_>) -> String {
    let pic = picture(audit);
    let mut out = String::new();
    let title = format!("doorman audit of {}", super::picture::tenants(audit.tenants.len()));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"{}\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        xml(options.generator),
        xml(&title),
        xml(&title)
    );
    let _ = writeln!(out, "<p class=\"outcome\">{}</p>", outcome(audit));
    let _ = writeln!(out, "<p>Schema {}; written by {}.</p>", xml(audit.schema), xml(options.generator));
    if let Some(args) = options.import {
        let words: Vec<String> = args.iter().map(|w| shell_word(w)).collect();
        let import = format!("doorman import exo {} > {IMPORTED}", words.join(" "));
        let _ = writeln!(
            out,
            "<p>Read from an Exchange Online export: the <code>doorman explain</code> lines run on the config <code>{}</code> writes.</p>",
            xml(&import)
        );
    }
    summary(&mut out, audit);
    // Past the threshold the tenants' own pictures are in their sections; a summary leads.
    if pic.note.is_some() {
        let _ = writeln!(out, "<h2 id=\"mail-flow\">Mail flow</h2>");
        figure(&mut out, &pic);
    }
    for (i, t) in audit.tenants.iter().enumerate() {
        tenant(&mut out, i, t, options);
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn outcome(audit: &Audit) -> &'static str {
    match audit.outcome() {
        Outcome::Clean => "Every tenant is locked: no sender reaches a mailbox but through the gateway its MX names.",
        Outcome::Findings => "Findings: at least one tenant has a side door or another finding to act on.",
        Outcome::Incomplete => "Incomplete: some tenant could not be judged on the input given; see its section.",
    }
}

/// The verdict as a coloured label: green locked, amber not judged, red otherwise.
fn badge(v: Verdict) -> String {
    let class = match v {
        Verdict::Locked => "verdict locked",
        Verdict::Incomplete | Verdict::NotAudited => "verdict unjudged",
        Verdict::SideDoorOpen | Verdict::OpenRelay => "verdict",
    };
    format!("<span class=\"{class}\">{}</span>", v.label())
}

fn summary(out: &mut String, audit: &Audit) {
    out.push_str("<h2 id=\"summary\">Summary</h2>\n<table>\n<thead><tr><th>Tenant</th><th>Verdict</th><th>Critical</th><th>Warning</th><th>Info</th><th>Top finding</th></tr></thead>\n<tbody>\n");
    for (i, t) in audit.tenants.iter().enumerate() {
        let [info, warning, critical] = super::counts(t);
        let top = super::top_finding(t)
            .map_or("-".to_string(), |f| format!("<code>{}</code>: {}", f.code, xml(&super::shorten(&f.message, 120))));
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#tenant-{i}\">{}</a></td><td>{}</td><td class=\"n\">{critical}</td><td class=\"n\">{warning}</td><td class=\"n\">{info}</td><td>{top}</td></tr>",
            xml(&t.tenant),
            badge(t.verdict)
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn figure(out: &mut String, pic: &Picture) {
    let _ = writeln!(out, "<figure>\n{}</figure>", draw(pic));
}

fn tenant(out: &mut String, i: usize, t: &TenantAudit, options: &HtmlOptions<'_>) {
    let _ = writeln!(out, "<section id=\"tenant-{i}\">\n<h2>Tenant {} {}</h2>", xml(&t.tenant), badge(t.verdict));
    let mx = if t.mx.is_empty() { "unset".to_string() } else { t.mx.join(", ") };
    let gateway = if t.gateway.is_empty() { "none known".to_string() } else { t.gateway.join(", ") };
    let _ = writeln!(out, "<p>MX: {}. Gateway: {}. {} sessions evaluated.</p>", xml(&mx), xml(&gateway), t.evaluations);
    if let Some(v) = t.verdict_on_the_data {
        let _ = writeln!(out, "<p>On the data given: <strong>{}</strong>. That is not a verdict.</p>", v.label());
    }
    if !t.missing_input.is_empty() {
        out.push_str("<h3>Missing from the input</h3>\n<ul>\n");
        for m in &t.missing_input {
            let _ = writeln!(
                out,
                "<li><strong>{}</strong>: {} To complete it: {}</li>",
                xml(&m.what),
                xml(&m.consequence),
                xml(&m.remedy)
            );
        }
        out.push_str("</ul>\n");
    }
    if let Some(why) = &t.not_audited {
        let _ = writeln!(out, "<p>Not audited: {}</p>\n</section>", xml(why));
        return;
    }
    let panel: Panel = tenant_panel(t);
    figure(out, &Picture { title: panel.title.clone(), panels: vec![panel], note: None });
    findings(out, t, options);
    doors(out, t, options);
    fixes(out, t, options);
    out.push_str("</section>\n");
}

fn findings(out: &mut String, t: &TenantAudit, options: &HtmlOptions<'_>) {
    let listed: Vec<_> = t.findings.iter().filter(|f| super::listed(f, crate::Severity::Info)).collect();
    out.push_str("<h3>Findings</h3>\n");
    if listed.is_empty() {
        out.push_str("<p>None.</p>\n");
        return;
    }
    out.push_str(
        "<table>\n<thead><tr><th>ID</th><th>Severity</th><th>Finding</th><th>Evidence</th></tr></thead>\n<tbody>\n",
    );
    for f in listed {
        let mut evidence = String::new();
        if let Some(s) = &f.subject {
            let _ = write!(evidence, "about {}", xml(&format!("{s:?}")));
        }
        if let Some(e) = &f.example {
            if !evidence.is_empty() {
                evidence.push_str("<br>");
            }
            let _ = write!(evidence, "a session that shows it:<br><code>{}</code>", xml(&explain_line(e, options)));
        }
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
            f.code,
            f.severity.label(),
            f.severity.label(),
            xml(&f.message),
            if evidence.is_empty() { "-".to_string() } else { evidence }
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn doors(out: &mut String, t: &TenantAudit, options: &HtmlOptions<'_>) {
    if t.side_doors.is_empty() && t.front_doors.is_empty() {
        return;
    }
    out.push_str("<h3>Doors</h3>\n<table>\n<thead><tr><th>Door</th><th>Recipient domain</th><th>Clients</th><th>TLS</th><th>Sender</th><th>Connector</th><th>SCL</th><th>Then</th></tr></thead>\n<tbody>\n");
    let side = t.side_doors.iter().map(|d| ("side door", d));
    for (kind, d) in side.chain(t.front_doors.iter().map(|d| ("front door", d))) {
        let then = match d.disposition {
            DispositionKind::Deliver => "delivered".to_string(),
            DispositionKind::Quarantine => "held in quarantine".to_string(),
            other => other.name().to_string(),
        };
        let filtering =
            d.filtering.skipped_because.as_ref().map_or(String::new(), |why| format!("; not filtered: {}", xml(why)));
        let _ = writeln!(
            out,
            "<tr><td class=\"{}\">{kind}</td><td>{}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{filtering}</td></tr>",
            if kind == "side door" { "critical" } else { "info" },
            xml(&d.domain),
            xml(&d.networks.join(", ")),
            xml(&d.summary),
            xml(&d.tls),
            xml(&door_sender(d)),
            d.connector.as_deref().map_or("-".to_string(), |c| xml(&format!("{c:?}"))),
            d.scl.map_or("-".to_string(), |s| s.to_string()),
            xml(&then)
        );
    }
    out.push_str("</tbody>\n</table>\n");
    for d in t.side_doors.iter().filter(|d| d.session.is_some()) {
        let (Some(session), Some(eval)) = (&d.session, &d.example) else { continue };
        let _ = writeln!(
            out,
            "<details>\n<summary>Side door to {} from {}: a session, and what the edge decides</summary>\n<pre><code>{}\n\n{}</code></pre>\n</details>",
            xml(&d.domain),
            xml(&d.summary),
            xml_block(&explain_line(session, options)),
            xml_block(&doorman_policy::render::evaluation(eval))
        );
    }
}

/// A door's sender class, with the From: domain, the other recipients and the content
/// rules it depends on, as the text report gives them.
fn door_sender(d: &Door) -> String {
    format!("{}{}", d.sender, super::extras(d.from.as_deref(), d.with.as_deref(), &d.content))
}

fn fixes(out: &mut String, t: &TenantAudit, options: &HtmlOptions<'_>) {
    if t.fixes.is_empty() {
        return;
    }
    out.push_str("<h3>Fix</h3>\n");
    for f in &t.fixes {
        let _ = writeln!(
            out,
            "<h4>{} (closes <code>{}</code>)</h4>\n<p>In doorman's config:</p>\n<pre><code>{}</code></pre>",
            xml(&f.title),
            f.closes,
            xml_block(&f.toml)
        );
    }
    let _ = writeln!(
        out,
        "<p>In Exchange Online PowerShell:</p>\n<pre><code>{}</code></pre>",
        xml_block(&(options.powershell)(t))
    );
}

/// `doorman explain …` for the session, each word quoted for a POSIX shell.
fn explain_line(e: &crate::report::Example, options: &HtmlOptions<'_>) -> String {
    let mut words = vec!["doorman".to_string(), "explain".to_string()];
    if let Some(c) = options.import.map(|_| IMPORTED).or(options.config) {
        words.extend(["--config".to_string(), c.to_string()]);
    }
    words.extend(e.explain_args());
    words.iter().map(|w| shell_word(w)).collect::<Vec<_>>().join(" ")
}

/// A word as a POSIX shell reads it back unchanged: bare when it is plainly safe, else in
/// single quotes (inside which nothing is expanded), each `'` written `'\''`.
fn shell_word(w: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !w.is_empty() && w.chars().all(plain) { w.to_string() } else { format!("'{}'", w.replace('\'', "'\\''")) }
}

/// Several lines for a `<pre>`: each escaped as [`xml`] does, the breaks kept.
fn xml_block(s: &str) -> String {
    s.lines().map(xml).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_word_reads_back_unchanged() {
        assert_eq!(shell_word("alice@contoso.com"), "alice@contoso.com");
        assert_eq!(shell_word("<>"), "'<>'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("it's $(rm -rf /)"), "'it'\\''s $(rm -rf /)'");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_word("a'b $c `d` \"e\"")))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "a'b $c `d` \"e\"");
    }
}
