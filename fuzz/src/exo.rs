//! Exchange Online exports: any file is read or refused with its path in the error; what is
//! read imports to a config written through the serializer, which parses as TOML, and
//! which loads or is refused with every error located.

use std::path::Path;

use doorman_exo::{import, read_text};

pub fn check(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else { return };
    let path = Path::new("export.json");
    let export = match read_text(path, text) {
        Ok(e) => e,
        Err(e) => {
            assert!(e.to_string().starts_with("export.json"), "the error does not name the file: {e}");
            return;
        }
    };
    let imported = import(&export, &["mx.gateway.example".to_string()]);
    if let Err(e) = imported.toml.parse::<toml::Table>() {
        panic!("the import is not TOML: {e}\n{}", imported.toml);
    }
    if let Err(d) = doorman_config::load_str("fuzz.toml", &imported.toml, Path::new("/nonexistent")) {
        crate::config::located(&d, &imported.toml);
    }
}
