//! The config as doorman read it, written back as TOML (`doorman config show`): Postfix's
//! `postconf -n` (the settings a file makes) and `postconf` (every setting, the defaults
//! filled in).
//!
//! The output is the loaded [`Config`] put through the serializer, so it shows what doorman
//! understood (`"1h"` for `3600`, an IP entry as written, `mx` hosts in their short form), and
//! it loads back into the same config. Without defaults, a key is kept only where the file
//! sets it: the file's own tables are the guide to what to keep.

use toml::{Table, Value};
use toml_edit::{DocumentMut, Item, TableLike};

use crate::model::Config;

/// The effective config as TOML: with `defaults`, every setting; without, the settings the
/// file (`written`, its TOML text) makes. `title` becomes the first comment line. Keys come
/// in the schema's order.
pub fn show(config: &Config, written: &str, defaults: bool, title: &str) -> Result<String, ShowError> {
    let text = toml::to_string(config).map_err(|e| ShowError(e.to_string()))?;
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| ShowError(e.to_string()))?;
    if !defaults {
        let file: Table = toml::from_str(written).map_err(|e| ShowError(e.to_string()))?;
        keep_written(doc.as_table_mut(), &file);
    }
    hide_bare_headers(doc.as_table_mut());
    // A comment runs to the end of its line: no control character may end it early.
    let first: String =
        title.chars().flat_map(|c| if c.is_control() { c.escape_unicode().collect() } else { vec![c] }).collect();
    // The first table's header may carry the blank line that separated it from a table
    // now hidden.
    Ok(format!("# {first}\n\n{}", doc.to_string().trim_start_matches('\n')))
}

/// Serializing the config failed: a doorman bug, never the file's fault.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the config back as TOML: {0}; this is a doorman bug")]
pub struct ShowError(String);

/// Leaves in `effective` only the keys `written` holds, table by table; an array of tables
/// is followed element by element, any other value is kept whole as doorman read it.
fn keep_written(effective: &mut dyn TableLike, written: &Table) {
    let unwritten: Vec<String> =
        effective.iter().map(|(k, _)| k.to_string()).filter(|k| !written.contains_key(k)).collect();
    for k in unwritten {
        effective.remove(&k);
    }
    for (key, item) in effective.iter_mut() {
        let Some(w) = written.get(key.get()) else { continue };
        match (item, w) {
            (Item::Table(e), Value::Table(w)) => keep_written(e, w),
            (Item::Value(toml_edit::Value::InlineTable(e)), Value::Table(w)) => keep_written(e, w),
            (Item::ArrayOfTables(e), Value::Array(w)) => {
                for (e, w) in e.iter_mut().zip(w) {
                    if let Value::Table(w) = w {
                        keep_written(e, w);
                    }
                }
            }
            (Item::Value(toml_edit::Value::Array(e)), Value::Array(w)) => {
                for (e, w) in e.iter_mut().zip(w) {
                    if let (toml_edit::Value::InlineTable(e), Value::Table(w)) = (e, w) {
                        keep_written(e, w);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A table that holds only tables (`[server]` above `[server.limits]`) needs no header.
fn hide_bare_headers(table: &mut toml_edit::Table) {
    let values = table.iter().filter(|(_, i)| i.is_value()).count();
    let tables = table.iter().filter(|(_, i)| i.is_table() || i.is_array_of_tables()).count();
    if values == 0 && tables > 0 {
        table.set_implicit(true);
    }
    for (_, item) in table.iter_mut() {
        match item {
            Item::Table(t) => hide_bare_headers(t),
            Item::ArrayOfTables(a) => a.iter_mut().for_each(hide_bare_headers),
            _ => {}
        }
    }
}
