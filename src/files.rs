//! Files: which names may become one, and writing them so that a reader never sees half
//! of one.

use std::io::{self, Write};
use std::path::Path;

/// Names that become file names or script words: no spaces, no path separators.
pub fn is_file_safe(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`: a crash
/// leaves the old file or the new one, never a torn one. The result is world-readable
/// (0644), as a report or a generated script should be, not the temporary file's 0600.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, true)
}

/// Like [`write_atomically`], without waiting for the disk: for files a command makes
/// again from their sources (generated scripts), where a reader must never see a torn file
/// but a crash may lose the new one. Syncing each of 9,000 scripts cost most of a large
/// `compile`.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, false)
}

fn replace(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    if sync {
        tmp.as_file().sync_all()?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
