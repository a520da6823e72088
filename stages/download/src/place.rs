//! Putting files into the output folder cheaply: hard links or renames, copies as a fallback
//! (across filesystems, or where links are not allowed).

use std::path::Path;

use crate::error::DownloadError;

/// Hard-links `src` to `dst`, copying when a link is impossible.
pub fn link_or_copy(src: &Path, dst: &Path) -> Result<(), DownloadError> {
    if std::fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    std::fs::copy(src, dst).map(drop).map_err(DownloadError::io("copy", src))
}

/// Moves `src` to `dst`, copying when they are on different filesystems.
pub fn move_or_copy(src: &Path, dst: &Path) -> Result<(), DownloadError> {
    if std::fs::rename(src, dst).is_ok() {
        return Ok(());
    }
    std::fs::copy(src, dst).map(drop).map_err(DownloadError::io("copy", src))
}

/// Mirrors the folder `src` into the existing folder `dst`, following symbolic links; returns
/// the number of files placed.
pub fn mirror_dir(src: &Path, dst: &Path) -> Result<usize, DownloadError> {
    let mut entries: Vec<_> = std::fs::read_dir(src)
        .map_err(DownloadError::io("list", src))?
        .collect::<Result<_, _>>()
        .map_err(DownloadError::io("list", src))?;
    entries.sort_by_key(|e| e.file_name());
    let mut files = 0;
    for entry in entries {
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let metadata = std::fs::metadata(&from).map_err(DownloadError::io("read", &from))?;
        if metadata.is_dir() {
            std::fs::create_dir(&to).map_err(DownloadError::io("create", &to))?;
            files += mirror_dir(&from, &to)?;
        } else {
            // A link to a symbolic link would keep the link itself; link its target instead.
            let target =
                std::fs::canonicalize(&from).map_err(DownloadError::io("resolve", &from))?;
            link_or_copy(&target, &to)?;
            files += 1;
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_links_nested_files_with_their_contents() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("Actor_01")).unwrap();
        std::fs::write(src.join("Actor_01/03-01-05-01-01-01-01.wav"), b"RIFF-angry").unwrap();
        std::fs::write(src.join("readme.txt"), b"hello").unwrap();
        std::os::unix::fs::symlink(src.join("readme.txt"), src.join("alias.txt")).unwrap();
        let dst = dir.path().join("dst");
        std::fs::create_dir(&dst).unwrap();
        assert_eq!(mirror_dir(&src, &dst).unwrap(), 3);
        assert_eq!(
            std::fs::read(dst.join("Actor_01/03-01-05-01-01-01-01.wav")).unwrap(),
            b"RIFF-angry"
        );
        assert_eq!(std::fs::read(dst.join("readme.txt")).unwrap(), b"hello");
        let alias = std::fs::symlink_metadata(dst.join("alias.txt")).unwrap();
        assert!(alias.is_file(), "a symlink is placed as the file it points to");
        assert_eq!(std::fs::read(dst.join("alias.txt")).unwrap(), b"hello");
    }
}
