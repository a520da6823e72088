//! Safe zip extraction: every entry name is checked before anything is written, so an archive
//! with an entry escaping the output folder (`..`, an absolute path, a drive prefix) or a
//! symbolic link writes nothing at all. Only contents are written: no timestamps or modes from
//! the archive, so the output is the same bytes on every machine.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use zip::ZipArchive;

use crate::error::DownloadError;

/// Whether `file` starts with a zip signature (a local file header, or the end record of an
/// empty archive).
pub fn is_zip(file: &Path) -> Result<bool, DownloadError> {
    let mut magic = [0u8; 4];
    let mut reader = File::open(file).map_err(DownloadError::io("open", file))?;
    match reader.read_exact(&mut magic) {
        Ok(()) => Ok(magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06"),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(DownloadError::io("read", file)(e)),
    }
}

/// One entry to extract: its index in the archive, where it goes, whether it is a folder.
struct Entry {
    index: usize,
    path: PathBuf,
    is_dir: bool,
}

/// Extracts `archive` into `out_dir`; returns the number of files written.
pub fn extract_zip(
    archive: &Path,
    out_dir: &Path,
    bar: &ProgressBar,
) -> Result<usize, DownloadError> {
    let zip_error = |source| DownloadError::Zip { archive: archive.to_path_buf(), source };
    let file = File::open(archive).map_err(DownloadError::io("open", archive))?;
    let mut zip = ZipArchive::new(io::BufReader::new(file)).map_err(zip_error)?;
    let entries = checked_entries(&mut zip, archive)?;
    bar.set_length(entries.len() as u64);
    let mut files = 0;
    for entry in entries {
        let target = out_dir.join(&entry.path);
        if entry.is_dir {
            std::fs::create_dir_all(&target).map_err(DownloadError::io("create", &target))?;
        } else {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(DownloadError::io("create", parent))?;
            }
            let mut reader = zip.by_index(entry.index).map_err(zip_error)?;
            let mut writer = File::create(&target).map_err(DownloadError::io("create", &target))?;
            io::copy(&mut reader, &mut writer).map_err(DownloadError::io("extract", &target))?;
            files += 1;
        }
        bar.inc(1);
    }
    Ok(files)
}

/// Every entry with its checked relative path, or the first unsafe entry as an error.
fn checked_entries<R: Read + io::Seek>(
    zip: &mut ZipArchive<R>,
    archive: &Path,
) -> Result<Vec<Entry>, DownloadError> {
    let mut entries = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        let entry = zip
            .by_index_raw(index)
            .map_err(|source| DownloadError::Zip { archive: archive.to_path_buf(), source })?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        if entry.is_symlink() {
            return Err(DownloadError::SymlinkEntry {
                archive: archive.to_path_buf(),
                entry: name,
            });
        }
        let path = match (entry.enclosed_name(), enclosed_path(&name)) {
            (Some(_), Some(path)) => path,
            _ => {
                return Err(DownloadError::UnsafeEntry {
                    archive: archive.to_path_buf(),
                    entry: name,
                });
            }
        };
        entries.push(Entry { index, path, is_dir: entry.is_dir() });
    }
    Ok(entries)
}

/// The relative path of an entry name, treating `/` and `\` as separators; `None` when the name
/// is empty, absolute, has a drive prefix, a NUL, or any `..` segment.
fn enclosed_path(name: &str) -> Option<PathBuf> {
    let bytes = name.as_bytes();
    let absolute = name.starts_with(['/', '\\']);
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if absolute || drive || name.contains('\0') {
        return None;
    }
    let mut path = PathBuf::new();
    for segment in name.split(['/', '\\']) {
        match segment {
            ".." => return None,
            "" | "." => {}
            _ if segment.contains(':') => return None,
            _ => path.push(segment),
        }
    }
    (!path.as_os_str().is_empty()).then_some(path)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::{Cursor, Write};

    use zip::write::SimpleFileOptions;

    use super::*;

    /// A zip of `entries` (name, contents); names ending in `/` are folders.
    pub(crate) fn build_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, contents) in entries {
            if name.ends_with('/') {
                writer.add_directory(*name, options).unwrap();
            } else {
                writer.start_file(*name, options).unwrap();
                writer.write_all(contents).unwrap();
            }
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn enclosed_path_keeps_plain_relative_names() {
        assert_eq!(enclosed_path("a/b/c.wav"), Some(PathBuf::from("a/b/c.wav")));
        assert_eq!(enclosed_path("./a\\b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(enclosed_path("dir/"), Some(PathBuf::from("dir")));
    }

    #[test]
    fn enclosed_path_refuses_escapes() {
        for name in [
            "../evil.txt",
            "a/../../b",
            "/etc/passwd",
            "\\server\\x",
            "C:/x",
            "c:x",
            "a/..\\b",
            "",
            "a\0b",
            "a/b:c",
        ] {
            assert_eq!(enclosed_path(name), None, "{name:?}");
        }
    }

    #[test]
    fn zip_magic_is_detected_and_text_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let zip_file = dir.path().join("a.zip");
        std::fs::write(&zip_file, build_zip(&[("x.txt", b"x")])).unwrap();
        let empty_zip = dir.path().join("empty.zip");
        std::fs::write(&empty_zip, build_zip(&[])).unwrap();
        let text = dir.path().join("a.txt");
        std::fs::write(&text, b"PK").unwrap();
        assert!(is_zip(&zip_file).unwrap());
        assert!(is_zip(&empty_zip).unwrap());
        assert!(!is_zip(&text).unwrap());
    }

    #[test]
    fn a_symlink_entry_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default();
        writer.start_file("first.txt", options).unwrap();
        writer.write_all(b"1").unwrap();
        writer.add_symlink("link", "/etc/passwd", options).unwrap();
        let archive = dir.path().join("links.zip");
        std::fs::write(&archive, writer.finish().unwrap().into_inner()).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let err = extract_zip(&archive, &out, &ProgressBar::hidden()).unwrap_err().to_string();
        assert!(err.contains("entry `link` is a symbolic link"), "{err}");
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    }
}
