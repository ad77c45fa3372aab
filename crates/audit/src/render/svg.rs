//! The mail-flow picture as SVG, drawn here rather than by Graphviz: the layout is always
//! the same four columns (internet, gateway, edge, mailboxes), so it needs no layout engine,
//! and a picture of thousands of tenants takes no longer than writing it out.
//!
//! Arrowheads are polygons, not markers, so that several pictures in one HTML page share no
//! element ids. Every label line is cut to [`LINE`](super::picture::LINE) characters, and its
//! full text is its tooltip.

use std::fmt::Write as _;

use super::picture::{Panel, Picture, drawn, picture};
use crate::Audit;

const WIDTH: u32 = 1240;
const FONT: &str = "Helvetica, Arial, sans-serif";
const RED: &str = "#c62828";
const INK: &str = "#222222";

/// Columns: (left, width).
const INTERNET: (u32, u32) = (20, 120);
const GATEWAY: (u32, u32) = (300, 220);
const EDGE: (u32, u32) = (700, 160);
const MAILBOXES: (u32, u32) = (1000, 220);
/// The row of boxes, from a panel's top.
const BOX_TOP: u32 = 56;
const BOX_HEIGHT: u32 = 72;
/// Side door arrows run below the boxes, this far apart.
const DOOR_GAP: u32 = 58;
const LEGEND_HEIGHT: u32 = 96;
/// The band above the boxes, when an arrow runs over the gateway.
const ABOVE: u32 = 40;

/// The whole audit's picture.
pub fn svg(audit: &Audit) -> String {
    draw(&picture(audit))
}

pub fn draw(p: &Picture) -> String {
    let mut body = String::new();
    text(&mut body, 20, 32, 20, true, INK, &p.title);
    let mut y = 44;
    if let Some(note) = &p.note {
        text(&mut body, 20, 62, 13, false, INK, note);
        y = 72;
    }
    // A picture of one panel under the panel's own title says it once.
    let titled = !(p.panels.len() == 1 && p.panels[0].title == p.title);
    for panel in &p.panels {
        if titled {
            line(&mut body, (20, y + 8), (WIDTH - 20, y + 8), "#bbbbbb", 1);
            y += 8;
        }
        y += draw_panel(&mut body, panel, y, titled);
    }
    legend(&mut body, y + 8);
    let height = y + 8 + LEGEND_HEIGHT;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" style=\"font-family: {FONT}\" role=\"img\">\n<title>{}</title>\n<rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>\n",
        xml(&p.title)
    );
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// Draws a panel with its top at `top`; returns its height.
fn draw_panel(out: &mut String, p: &Panel, top: u32, titled: bool) -> u32 {
    if titled {
        text(out, 20, top + 24, 15, true, if p.locked { INK } else { RED }, &p.title);
    }
    let top = if titled { top } else { top - BOX_TOP / 2 };
    // Room above the boxes for an arrow over the gateway.
    let above = if p.gateway.is_some() && p.mx_is_edge.is_some() { ABOVE } else { 0 };
    let y0 = top + BOX_TOP + above;
    let mid = y0 + BOX_HEIGHT / 2;
    let bottom = y0 + BOX_HEIGHT;
    let right = |(x, w): (u32, u32)| x + w;
    boxed(out, INTERNET, y0, 36, INK, &["Internet".to_string()]);
    if let Some(lines) = &p.gateway {
        boxed(out, GATEWAY, y0, 4, INK, lines);
        arrow(out, &[(right(INTERNET), mid), (GATEWAY.0, mid)], INK, 2);
        text(out, (right(INTERNET) + GATEWAY.0) / 2 - 12, mid - 8, 12, false, INK, "MX");
        arrow(out, &[(right(GATEWAY), mid), (EDGE.0, mid)], INK, 2);
        labels(out, right(GATEWAY) + 12, mid - 8, 28, &p.front);
    }
    if let Some(label) = &p.mx_is_edge {
        if p.gateway.is_some() {
            // A summary of both kinds: over the gateway, from the internet's top into the
            // edge's, in the band kept above the boxes.
            let over = y0 - ABOVE / 2;
            let (from_x, into_x) = (INTERNET.0 + INTERNET.1 / 2, EDGE.0 + 30);
            arrow(out, &[(from_x, y0), (from_x, over), (into_x, over), (into_x, y0)], INK, 2);
            labels(out, right(INTERNET) + 12, over - 6, 60, std::slice::from_ref(label));
        } else {
            arrow(out, &[(right(INTERNET), mid), (EDGE.0, mid)], INK, 2);
            labels(out, right(INTERNET) + 12, mid - 8, 40, std::slice::from_ref(label));
        }
    }
    boxed(out, EDGE, y0, 4, INK, &["doorman edge".to_string()]);
    arrow(out, &[(right(EDGE), mid), (MAILBOXES.0, mid)], INK, 2);
    boxed(out, MAILBOXES, y0, 14, if p.locked { INK } else { RED }, &p.mailboxes);
    // Each side door: down out of the internet, along under the gateway, up into the edge.
    for (i, d) in p.side_doors.iter().enumerate() {
        let i = i as u32;
        let y = bottom + 14 + (i + 1) * DOOR_GAP;
        let from_x = INTERNET.0 + 24 + (i * 12) % 72;
        let into_x = EDGE.0 + 20 + (i * 14) % 120;
        let width = if d.critical { 4 } else { 2 };
        let tip = d.lines.join(" · ");
        let _ = writeln!(out, "<g><title>{}</title>", xml(&tip));
        arrow(out, &[(from_x, bottom), (from_x, y), (into_x, y), (into_x, bottom)], RED, width);
        let n = d.lines.len() as u32;
        for (j, l) in d.lines.iter().enumerate() {
            let ly = y - 6 - (n - 1 - j as u32) * 15;
            text(out, right(INTERNET) + 20, ly, 12, j == 0, RED, l);
        }
        out.push_str("</g>\n");
    }
    let doors = p.side_doors.len() as u32;
    let height = above + BOX_TOP + BOX_HEIGHT + if doors == 0 { 20 } else { 14 + doors * DOOR_GAP + 16 };
    if titled { height } else { height - BOX_TOP / 2 }
}

fn legend(out: &mut String, top: u32) {
    text(out, 20, top + 20, 13, true, INK, "Legend");
    let rows: [(&str, u32, &str); 3] = [
        (INK, 2, "front door: mail that came through the gateway the MX names"),
        (RED, 2, "side door: mail the edge accepts from a client that is not the gateway"),
        (RED, 4, "side door through which spam filtering is skipped too (SCL -1)"),
    ];
    for (i, (color, width, what)) in rows.iter().enumerate() {
        let y = top + 40 + i as u32 * 20;
        arrow(out, &[(20, y), (90, y)], color, *width);
        text(out, 104, y + 4, 12, false, INK, what);
    }
}

/// A box with its lines centred; `rx` rounds its corners (the internet is a pill).
fn boxed(out: &mut String, (x, w): (u32, u32), y: u32, rx: u32, color: &str, lines: &[String]) {
    let _ = writeln!(out, "<g><title>{}</title>", xml(&lines.join(" · ")));
    let _ = writeln!(
        out,
        "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{BOX_HEIGHT}\" rx=\"{rx}\" fill=\"#f7f7f7\" stroke=\"{color}\" stroke-width=\"2\"/>"
    );
    let n = lines.len().min(3) as u32;
    let first = y + BOX_HEIGHT / 2 + 5 - (n.saturating_sub(1) * 16) / 2;
    // Characters a box holds at 12px.
    let fits = (w / 7) as usize;
    for (i, l) in lines.iter().take(3).enumerate() {
        let cut = super::shorten(&drawn(l), fits);
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"{color}\"{}>{}</text>",
            x + w / 2,
            first + i as u32 * 16,
            if i == 0 { " font-weight=\"bold\"" } else { "" },
            xml(&cut)
        );
    }
    out.push_str("</g>\n");
}

/// Label lines stacked upwards from `(x, y)`, each cut to `fits` characters.
fn labels(out: &mut String, x: u32, y: u32, fits: usize, lines: &[String]) {
    let _ = writeln!(out, "<g><title>{}</title>", xml(&lines.join(" · ")));
    let n = lines.len().min(3) as u32;
    for (i, l) in lines.iter().take(3).enumerate() {
        let cut = super::shorten(&drawn(l), fits);
        text(out, x, y - (n - 1 - i as u32) * 14, 11, false, INK, &cut);
    }
    out.push_str("</g>\n");
}

fn text(out: &mut String, x: u32, y: u32, size: u32, bold: bool, color: &str, s: &str) {
    let weight = if bold { " font-weight=\"bold\"" } else { "" };
    let _ = writeln!(
        out,
        "<text x=\"{x}\" y=\"{y}\" font-size=\"{size}\" fill=\"{color}\"{weight}>{}</text>",
        xml(&drawn(s))
    );
}

fn line(out: &mut String, (x1, y1): (u32, u32), (x2, y2): (u32, u32), color: &str, width: u32) {
    let _ = writeln!(
        out,
        "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"{color}\" stroke-width=\"{width}\"/>"
    );
}

/// A polyline ending in an arrowhead at its last point (the segments are horizontal or
/// vertical).
fn arrow(out: &mut String, points: &[(u32, u32)], color: &str, width: u32) {
    let [.., (ax, ay), (bx, by)] = points else { return };
    let head = 9 + width as i64;
    let (dx, dy) = ((*bx as i64 - *ax as i64).signum(), (*by as i64 - *ay as i64).signum());
    let (bx, by) = (*bx as i64, *by as i64);
    // The line stops where the head begins, so a wide line does not blunt the tip.
    let stop = (bx - dx * head, by - dy * head);
    let mut d = String::new();
    for (i, (x, y)) in points[..points.len() - 1].iter().enumerate() {
        let _ = write!(d, "{}{x},{y} ", if i == 0 { "M" } else { "L" });
    }
    let _ = write!(d, "L{},{}", stop.0, stop.1);
    let _ = writeln!(
        out,
        "<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\" stroke-linejoin=\"round\"/>"
    );
    let half = head / 2 + 1;
    let (px, py) = (-dy, dx);
    let corners = [(bx, by), (stop.0 + px * half, stop.1 + py * half), (stop.0 - px * half, stop.1 - py * half)];
    let pts: Vec<String> = corners.iter().map(|(x, y)| format!("{x},{y}")).collect();
    let _ = writeln!(out, "<polygon points=\"{}\" fill=\"{color}\"/>", pts.join(" "));
}

/// Text for XML: the five markup characters as entities. Control characters never reach
/// here ([`drawn`] escapes them), and XML 1.0 has no way to carry them.
pub(crate) fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in super::one_line(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
