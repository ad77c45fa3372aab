//! Configs: whatever text is loaded, every error names the file, a line in it and a key, so
//! that an administrator can find what to change.

use std::path::Path;

use doorman_config::{Diagnostics, load_str};

pub fn check(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else { return };
    if let Err(d) = load_str("fuzz.toml", text, Path::new("/nonexistent/doorman-fuzz")) {
        located(&d, text);
    }
}

/// Every error in `d` names the file, a line of `text` and a key.
pub fn located(d: &Diagnostics, text: &str) {
    let lines = text.split('\n').count();
    assert!(d.errors().next().is_some(), "a config refused with no error");
    for e in d.errors() {
        assert_eq!(e.file, "fuzz.toml", "{e}");
        let line = e.line.unwrap_or_else(|| panic!("no line: {e}"));
        assert!((1..=lines).contains(&line), "line {line} of {lines}: {e}");
        let key = e.key.as_deref().unwrap_or_else(|| panic!("no key: {e}"));
        assert!(!key.is_empty(), "an empty key: {e}");
        assert!(!e.message.is_empty(), "no message: {e}");
    }
}
