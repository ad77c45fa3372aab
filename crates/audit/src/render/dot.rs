//! The mail-flow picture as Graphviz source, for those who lay it out their own way: the
//! same [`picture`](super::picture) the SVG draws, a cluster per panel.

use std::fmt::Write as _;

use super::picture::{Picture, drawn, picture};
use crate::Audit;

pub fn dot(audit: &Audit) -> String {
    write(&picture(audit))
}

pub fn write(p: &Picture) -> String {
    let mut title = drawn(&p.title);
    if let Some(note) = &p.note {
        title = format!("{title}\n{}", drawn(note));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "digraph mailflow {{\n  label={};\n  labelloc=t;\n  fontname=\"Helvetica\";\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n  internet [label=\"Internet\", shape=ellipse];",
        quote(&title)
    );
    for (i, panel) in p.panels.iter().enumerate() {
        let color = if panel.locked { "black" } else { "red" };
        let _ =
            writeln!(out, "  subgraph cluster_{i} {{\n    label={};\n    color={color};", quote(&drawn(&panel.title)));
        let _ = writeln!(out, "    edge_{i} [label=\"doorman edge\"];");
        let _ = writeln!(
            out,
            "    mailboxes_{i} [label={}, shape=cylinder, color={color}];",
            quote(&lines(&panel.mailboxes))
        );
        if let Some(gw) = &panel.gateway {
            let _ = writeln!(out, "    gateway_{i} [label={}];", quote(&lines(gw)));
        }
        out.push_str("  }\n");
        if panel.gateway.is_some() {
            let _ = writeln!(out, "  internet -> gateway_{i} [label=\"MX\"];");
            let _ = writeln!(out, "  gateway_{i} -> edge_{i} [label={}];", quote(&lines(&panel.front)));
        }
        if let Some(label) = &panel.mx_is_edge {
            let _ = writeln!(out, "  internet -> edge_{i} [label={}];", quote(&drawn(label)));
        }
        let _ = writeln!(out, "  edge_{i} -> mailboxes_{i};");
        for d in &panel.side_doors {
            let _ = writeln!(
                out,
                "  internet -> edge_{i} [color=red, fontcolor=red, penwidth={}, label={}];",
                if d.critical { 3 } else { 1 },
                quote(&lines(&d.lines))
            );
        }
    }
    out.push_str(
        "  subgraph cluster_legend {\n    label=\"Legend\";\n    node [shape=plaintext, label=\"\", width=0.1];\n    l0 -> l1 [label=\"front door: through the gateway the MX names\"];\n    l2 -> l3 [color=red, fontcolor=red, label=\"side door: the edge accepts a client that is not the gateway\"];\n    l4 -> l5 [color=red, fontcolor=red, penwidth=3, label=\"side door, spam filtering skipped too (SCL -1)\"];\n  }\n}\n",
    );
    out
}

fn lines(ls: &[String]) -> String {
    ls.iter().map(|l| drawn(l)).collect::<Vec<_>>().join("\n")
}

/// A DOT string: quotes and backslashes escaped, line breaks as `\n` (labels break there).
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}
