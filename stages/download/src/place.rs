//! Putting files into the output folder: a download is moved (renamed, copied across file
//! systems); a user's own file (`path = ...`) is cloned copy-on-write where the file system can
//! (btrfs, XFS, APFS-like reflinks: instant, no extra space), else copied. Never hard-linked:
//! a link shares the inode, so editing the original in place would change the cached copy
//! behind the cache's back (and an old run's entry with it).

use std::path::Path;

use crate::error::DownloadError;

/// Places a copy of the user's file `src` at `dst`: a copy-on-write clone where the file system
/// has them, else a plain copy.
pub fn clone_or_copy(src: &Path, dst: &Path) -> Result<(), DownloadError> {
    if reflink(src, dst) {
        return Ok(());
    }
    std::fs::copy(src, dst).map(drop).map_err(DownloadError::io("copy", src))
}

/// A copy-on-write clone of `src` at the new file `dst` (Linux `FICLONE`); false when the file
/// system cannot (nothing is left at `dst` then).
#[cfg(target_os = "linux")]
fn reflink(src: &Path, dst: &Path) -> bool {
    use std::os::fd::AsRawFd;
    // From <linux/fs.h>: _IOW(0x94, 9, int).
    const FICLONE: libc::c_ulong = 0x4004_9409;
    let Ok(from) = std::fs::File::open(src) else { return false };
    let Ok(to) = std::fs::File::create(dst) else { return false };
    // SAFETY: both descriptors are open for the duration of the call.
    let cloned = unsafe { libc::ioctl(to.as_raw_fd(), FICLONE as _, from.as_raw_fd()) } == 0;
    if !cloned {
        drop(to);
        let _ = std::fs::remove_file(dst);
    }
    cloned
}

#[cfg(not(target_os = "linux"))]
fn reflink(_src: &Path, _dst: &Path) -> bool {
    false
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
            // A symbolic link is placed as the file it points to.
            let target =
                std::fs::canonicalize(&from).map_err(DownloadError::io("resolve", &from))?;
            clone_or_copy(&target, &to)?;
            files += 1;
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn editing_the_original_in_place_leaves_the_placed_copy_alone() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.wav");
        std::fs::write(&src, b"RIFF-old").unwrap();
        let dst = dir.path().join("placed.wav");
        clone_or_copy(&src, &dst).unwrap();
        // An in-place edit (same inode), as an audio editor saving over the file does.
        std::fs::OpenOptions::new().write(true).open(&src).unwrap().write_all_at(b"RIFF-new", 0).unwrap();
        assert_eq!(std::fs::read(&src).unwrap(), b"RIFF-new");
        assert_eq!(std::fs::read(&dst).unwrap(), b"RIFF-old");
        use std::os::unix::fs::MetadataExt;
        assert_ne!(std::fs::metadata(&src).unwrap().ino(), std::fs::metadata(&dst).unwrap().ino());
    }

    #[test]
    fn mirror_places_nested_files_with_their_contents() {
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
