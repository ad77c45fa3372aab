//! Message content: the `header_contains` conditions, which no config can enumerate.
//!
//! A client writes whatever headers it likes, so each condition is an unknown the sender
//! controls. The audit treats the conditions as atoms, asks the engine which of them a class
//! can reach (the rest cannot change its outcome), and evaluates every assignment of those
//! that some header block can realise. A class whose outcome differs between assignments
//! "depends on message content".

use doorman_config::HeaderContains;

/// One distinct `header_contains` condition: a header name and any of its words, compared
/// case-insensitively as the engine compares them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeaderAtom {
    /// Lower case.
    pub header: String,
    /// Lower case, sorted, without duplicates.
    pub words: Vec<String>,
}

impl HeaderAtom {
    pub fn of(h: &HeaderContains) -> HeaderAtom {
        let mut words: Vec<String> = h.words.iter().map(|w| w.to_lowercase()).collect();
        words.sort();
        words.dedup();
        HeaderAtom { header: h.header.to_ascii_lowercase(), words }
    }

    /// The condition as the engine takes it.
    pub fn condition(&self) -> HeaderContains {
        HeaderContains { header: self.header.clone(), words: self.words.clone() }
    }
}

/// The header fields that make exactly the atoms in `truth` hold among `atoms` (by index),
/// or `None` when no header block can: a header holding a word of a true atom must hold
/// none of the words of the false atoms on the same header, and a word that contains one of
/// those cannot be written. One field per true atom, holding just one of its words, is then
/// enough.
pub fn realise(atoms: &[&HeaderAtom], truth: &[bool]) -> Option<Fields> {
    let mut fields = Vec::new();
    for (i, atom) in atoms.iter().enumerate() {
        if !truth[i] {
            continue;
        }
        let forbidden: Vec<&str> = atoms
            .iter()
            .zip(truth)
            .filter(|(a, t)| !**t && a.header == atom.header)
            .flat_map(|(a, _)| a.words.iter().map(String::as_str))
            .collect();
        let word = atom.words.iter().find(|w| !forbidden.iter().any(|f| w.contains(f)))?;
        fields.push((atom.header.clone(), word.clone()));
    }
    Some(fields)
}

/// Header fields as (name, value), in order.
pub type Fields = Vec<(String, String)>;

/// One realisable truth of some content atoms, and header fields that make it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    pub truth: Vec<bool>,
    pub fields: Fields,
}

/// Every assignment of `atoms` that some header block realises.
pub fn assignments(atoms: &[&HeaderAtom]) -> Vec<Assignment> {
    let n = atoms.len();
    let mut out = Vec::new();
    for bits in 0u64..(1u64 << n) {
        let truth: Vec<bool> = (0..n).map(|i| bits & (1 << i) != 0).collect();
        if let Some(fields) = realise(atoms, &truth) {
            out.push(Assignment { truth, fields });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(h: &str, words: &[&str]) -> HeaderAtom {
        HeaderAtom::of(&HeaderContains { header: h.into(), words: words.iter().map(|w| w.to_string()).collect() })
    }

    #[test]
    fn contradictions_are_not_realised() {
        let spam = atom("Subject", &["[SPAM]"]);
        let sp = atom("subject", &["sp"]);
        let other = atom("X-Tag", &["sp"]);
        let all = assignments(&[&spam, &sp, &other]);
        // "[spam]" contains "sp": the first cannot hold while the second does not.
        let has = |t: [bool; 3]| all.iter().any(|a| a.truth == t);
        assert!(!has([true, false, false]));
        assert!(has([false, true, false]) && has([true, true, false]));
        // Other headers do not interfere.
        assert!(has([false, false, true]));
        let a = all.iter().find(|a| a.truth == [true, true, true]).unwrap();
        assert_eq!(a.fields[0], ("subject".to_string(), "[spam]".to_string()));
    }
}
