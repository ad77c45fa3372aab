//! The one way doorman writes a file that must survive a crash whole: write it under a
//! temporary name, fsync it, rename it into place, fsync the folder. A crash leaves the old
//! file or the new one, never a part of either.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// Writes `path` through `tmp` (in the same folder), with `write` filling the file.
pub fn write_durably(tmp: &Path, path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(tmp)?;
        write(&mut f)?;
        f.sync_data()?;
        fs::rename(tmp, path)?;
        match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => File::open(dir)?.sync_all(),
            None => Ok(()),
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(tmp);
    }
    result.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn the_file_is_whole_or_not_there() {
        let dir = std::env::temp_dir().join(format!("doorman-durable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (tmp, path) = (dir.join(".x.tmp"), dir.join("x"));
        super::write_durably(&tmp, &path, |f| f.write_all(b"one")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        let failed = super::write_durably(&tmp, &path, |f| {
            f.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(failed.unwrap_err().to_string().ends_with("disk full"));
        assert_eq!(std::fs::read(&path).unwrap(), b"one", "the old file stays whole");
        assert!(!tmp.exists(), "no part is left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
