//! Zips that are the same bytes for the same code: entries sorted by name, every timestamp the
//! zip format's earliest (1980-01-01), permissions fixed (`0755` for executables and `bootstrap`,
//! `0644` for the rest), one deflate codec at one level (pinned by the lock file). So the
//! content-addressed key changes exactly when the code does.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// A zipped artifact, ready to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`, hex.
    pub sha256: String,
}

impl Package {
    pub fn new(name: &str, bytes: Vec<u8>) -> Package {
        Package { name: name.to_owned(), sha256: sha256_hex(&bytes), bytes }
    }

    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` links outside the folder it is zipped from (to `{}`)", path.display(), target.display())]
    LinkOutside { path: PathBuf, target: PathBuf },
    #[error("artifact folder `{}` is empty", path.display())]
    Empty { path: PathBuf },
    #[error("failed to write the zip: {0}")]
    Zip(#[from] zip::result::ZipError),
}

fn options(mode: u32) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(mode)
}

/// A Lambda package: the binary as `bootstrap`, executable, alone.
pub fn lambda_zip(binary: &[u8]) -> Result<Vec<u8>, PackageError> {
    zip_entries(vec![("bootstrap".to_owned(), 0o755, binary.to_vec())])
}

/// Every file under `dir` (symbolic links followed inside it), by `/`-separated relative path.
pub fn folder_zip(dir: &Path) -> Result<Vec<u8>, PackageError> {
    let root = std::fs::canonicalize(dir)
        .map_err(|source| PackageError::Read { path: dir.to_owned(), source })?;
    let mut entries = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        let read = |source| PackageError::Read { path: folder.clone(), source };
        for entry in std::fs::read_dir(&folder).map_err(read)? {
            let path = entry.map_err(read)?.path();
            let target = std::fs::canonicalize(&path)
                .map_err(|source| PackageError::Read { path: path.clone(), source })?;
            if !target.starts_with(&root) {
                return Err(PackageError::LinkOutside { path, target });
            }
            if target.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&target)
                .map_err(|source| PackageError::Read { path: path.clone(), source })?;
            let name = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            entries.push((name, mode_of(&target), bytes));
        }
    }
    if entries.is_empty() {
        return Err(PackageError::Empty { path: dir.to_owned() });
    }
    zip_entries(entries)
}

/// `0755` for a file anyone may execute, else `0644`: the one bit that matters, the rest fixed.
fn mode_of(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if path.metadata().is_ok_and(|m| m.permissions().mode() & 0o111 != 0) {
            return 0o755;
        }
    }
    let _ = path;
    0o644
}

fn zip_entries(mut entries: Vec<(String, u32, Vec<u8>)>) -> Result<Vec<u8>, PackageError> {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, mode, bytes) in entries {
        zip.start_file(name, options(mode))?;
        zip.write_all(&bytes).map_err(zip::result::ZipError::Io)?;
    }
    Ok(zip.finish()?.into_inner())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Lambda's `CodeSha256` of a package whose SHA-256 is `hex`: the same digest, in base64.
pub fn code_sha256(hex: &str) -> Option<String> {
    use base64::Engine;
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect();
    Some(base64::engine::general_purpose::STANDARD.encode(bytes?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_binary_gives_the_same_bytes_and_bootstrap_is_executable() {
        let a = lambda_zip(b"\x7fELF pretend").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let b = lambda_zip(b"\x7fELF pretend").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, lambda_zip(b"\x7fELF changed").unwrap());
        let mut archive = zip::ZipArchive::new(Cursor::new(a)).unwrap();
        let entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "bootstrap");
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        assert_eq!(entry.compression(), zip::CompressionMethod::Deflated);
    }

    #[test]
    fn a_folder_zips_sorted_whatever_the_order_files_were_made_in() {
        let one = tempfile::tempdir().unwrap();
        let two = tempfile::tempdir().unwrap();
        for (dir, order) in [(&one, ["b.txt", "a/c.txt"]), (&two, ["a/c.txt", "b.txt"])] {
            for name in order {
                let path = dir.path().join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, name).unwrap();
            }
        }
        let zipped = folder_zip(one.path()).unwrap();
        assert_eq!(zipped, folder_zip(two.path()).unwrap());
        let mut archive = zip::ZipArchive::new(Cursor::new(zipped)).unwrap();
        let names: Vec<String> = (0..archive.len())
            .map(|i| archive.by_index(i).unwrap().name().unwrap().into_owned())
            .collect();
        assert_eq!(names, ["a/c.txt", "b.txt"]);
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(folder_zip(empty.path()), Err(PackageError::Empty { .. })));
    }

    #[test]
    fn code_sha256_is_the_digest_in_base64() {
        // sha256("") as Lambda would report it.
        let hex = sha256_hex(b"");
        assert_eq!(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(code_sha256(&hex).unwrap(), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        assert_eq!(code_sha256("zz"), None);
    }
}
