//! Reading past schema errors, so that `check-config` reports every one in one run: the
//! value an error names is taken out of the parsed document and the schema is tried again.
//! Taking an array element out shifts the ones after it; [`Removed`] maps the paths of later
//! errors back to the file's own indices.

use std::collections::HashMap;

use toml::de::{DeArray, DeTable, DeValue};

use crate::diag::{Segment, parse_path};

/// Array elements taken out so far, by the array's path in the file's indices.
#[derive(Default)]
pub(crate) struct Removed(HashMap<String, Vec<usize>>);

impl Removed {
    /// `path` (as the shrunken document has it) in the file's indices.
    pub fn original(&self, path: &str) -> String {
        let mut out = String::new();
        for seg in parse_path(path) {
            match seg {
                Segment::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Index(i) => {
                    let mut orig = i;
                    if let Some(gone) = self.0.get(&out) {
                        // `gone` is sorted: each removed index at or before it moves it on.
                        for &g in gone {
                            if g <= orig {
                                orig += 1;
                            }
                        }
                    }
                    out.push_str(&format!("[{orig}]"));
                }
            }
        }
        out
    }

    /// Takes out the value at `path` (shrunken indices). False when there is none to take,
    /// and then no further error can be read past.
    pub fn remove(&mut self, root: &mut DeTable<'_>, path: &str) -> bool {
        let segs = parse_path(path);
        let Some((last, parents)) = segs.split_last() else { return false };
        let mut table: Option<&mut DeTable> = Some(root);
        let mut array: Option<&mut DeArray> = None;
        for seg in parents {
            let node = match (seg, table.take(), array.take()) {
                (Segment::Key(k), Some(t), _) => t.get_mut(*k).map(|v| v.get_mut()),
                (Segment::Index(i), _, Some(a)) => a.get_mut(*i).map(|v| v.get_mut()),
                _ => None,
            };
            match node {
                Some(DeValue::Table(t)) => table = Some(t),
                Some(DeValue::Array(a)) => array = Some(a),
                _ => return false,
            }
        }
        match (last, table, array) {
            (Segment::Key(k), Some(t), _) => t.remove(*k).is_some(),
            (Segment::Index(i), _, Some(a)) if *i < a.len() => {
                let mut kept = DeArray::new();
                for (j, item) in a.iter().enumerate() {
                    if j != *i {
                        kept.push(item.clone());
                    }
                }
                *a = kept;
                let array_path = self.original(&path[..path.rfind('[').unwrap_or(0)]);
                let orig = self.original(path);
                let idx = orig.rsplit('[').next().and_then(|s| s.trim_end_matches(']').parse().ok()).unwrap_or(*i);
                let gone = self.0.entry(array_path).or_default();
                gone.push(idx);
                gone.sort_unstable();
                true
            }
            _ => false,
        }
    }
}
