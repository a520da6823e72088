//! Per-entry locks that hold on a shared file system, NFS included, where `flock` is not always
//! honoured (NFSv3 clients may lock only locally; some servers run no lock manager).
//!
//! A lock is the file `locks/<key>.lock`, created with `O_EXCL` (atomic on local file systems
//! and on NFSv3 and later) and holding its owner: host, process id and a token unique to this
//! acquisition. While held, a heartbeat thread sets its mtime to the file system's "now" every
//! [`HEARTBEAT`] (`UTIME_NOW`, which NFS stamps with the server's clock); releasing
//! removes it, so `locks/` holds only the locks in use. A waiter takes a lock over when its
//! owner is gone:
//! - on the same host, when the owner's process no longer exists (at once);
//! - from another host, when the heartbeat is older than [`STALE`] by the file server's clock
//!   (read from the mtime of a probe file the waiter creates; heartbeats are stamped by the
//!   same clock, so the hosts' own clocks do not matter).
//!
//! The take-over renames the lock aside (one rename: of two waiters, one wins) and checks that
//! what it moved is the lock it judged stale; if another waiter got there first and a fresh
//! lock was moved, it is linked back. In the rare race where that fails, two processes build the
//! same entry: wasted work, not a wrong result, since an entry appears only by an atomic rename
//! of a complete folder and both have the same content. A process interrupted by Ctrl-C or
//! SIGTERM (a cancelled cluster job) removes its locks on the way out ([`crate::interrupt`]).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

/// How often a held lock's mtime is refreshed.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// A lock whose heartbeat is older than this (six missed beats) belongs to a dead process.
pub const STALE: Duration = Duration::from_secs(60);

/// What a lock file holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Owner {
    host: String,
    pid: u32,
    token: String,
}

/// A held lock; released (its file removed) when dropped.
pub struct EntryLock {
    path: PathBuf,
    token: String,
    stop: Arc<(Mutex<bool>, Condvar)>,
    heartbeat: Option<JoinHandle<()>>,
    _interrupt: crate::interrupt::Hook,
}

/// Takes the lock `name` in `dir`, waiting for its holder (any process, any host).
pub fn acquire(dir: &Path, name: &str) -> io::Result<EntryLock> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    let mut said = false;
    loop {
        if let Some(lock) = try_acquire(dir, name)? {
            return Ok(lock);
        }
        if !said && started.elapsed() > Duration::from_secs(2) {
            let holder = read_owner(&lock_path(dir, name)).map_or_else(|| "another process".into(), |o| format!("process {} on {}", o.pid, o.host));
            tracing::info!("waiting for {holder}, which is building the same cache entry ({name})");
            said = true;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Takes the lock `name` in `dir` if no live process holds it.
pub fn try_acquire(dir: &Path, name: &str) -> io::Result<Option<EntryLock>> {
    let path = lock_path(dir, name);
    for _ in 0..3 {
        let owner = Owner { host: crate::host::name().to_string(), pid: std::process::id(), token: crate::host::unique_suffix() };
        match File::options().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(&serde_json::to_vec(&owner).map_err(io::Error::other)?)?;
                return Ok(Some(EntryLock::hold(path, owner.token)));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !take_over_if_stale(dir, &path)? {
                    return Ok(None);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

fn lock_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.lock"))
}

fn read_owner(path: &Path) -> Option<Owner> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// Removes the lock at `path` if its owner is gone; true when the name is free to try again.
fn take_over_if_stale(dir: &Path, path: &Path) -> io::Result<bool> {
    let modified = match fs::metadata(path).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    let owner = read_owner(path);
    let here = crate::host::name();
    let dead = match &owner {
        Some(o) if o.host == here => !process_exists(o.pid) || age(dir, modified)? > STALE,
        // Another host's, or one whose owner has not written it yet (an empty file is fresh
        // while its mtime is).
        _ => age(dir, modified)? > STALE,
    };
    if !dead {
        return Ok(false);
    }
    let aside = path.with_extension(format!("lock.stale.{}", crate::host::unique_suffix()));
    match fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    }
    let moved = read_owner(&aside);
    if moved != owner {
        // Another waiter took the stale lock over first and this moved its fresh one: put it back.
        let _ = fs::hard_link(&aside, path);
    } else if let Some(o) = &owner {
        tracing::warn!("took over the lock `{}` of process {} on {}, which is gone", path.display(), o.pid, o.host);
    }
    let _ = fs::remove_file(&aside);
    Ok(true)
}

/// How old `modified` is by the clock of the file system holding `dir` (a probe file's mtime).
fn age(dir: &Path, modified: SystemTime) -> io::Result<Duration> {
    let probe = dir.join(format!(".clock.{}", crate::host::unique_suffix()));
    File::create(&probe)?;
    let now = fs::metadata(&probe).and_then(|m| m.modified());
    let _ = fs::remove_file(&probe);
    Ok(now?.duration_since(modified).unwrap_or_default())
}

#[cfg(unix)]
fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_exists(_pid: u32) -> bool {
    true
}

impl EntryLock {
    /// Starts the heartbeat of the lock just created at `path`.
    fn hold(path: PathBuf, token: String) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let heartbeat = {
            let (stop, path, token) = (Arc::clone(&stop), path.clone(), token.clone());
            std::thread::Builder::new()
                .name("vox-lock-heartbeat".into())
                .spawn(move || beat(&path, &token, &stop))
                .ok()
        };
        let interrupt = {
            let (path, token) = (path.clone(), token.clone());
            crate::interrupt::on_interrupt(move || {
                release(&path, &token);
                None
            })
        };
        Self { path, token, stop, heartbeat, _interrupt: interrupt }
    }
}

/// Refreshes the lock's mtime every [`HEARTBEAT`] until told to stop.
fn beat(path: &Path, token: &str, stop: &(Mutex<bool>, Condvar)) {
    let (flag, wake) = stop;
    let mut stopped = flag.lock().unwrap_or_else(|e| e.into_inner());
    let mut warned = false;
    while !*stopped {
        let (guard, _) = wake.wait_timeout(stopped, HEARTBEAT).unwrap_or_else(|e| e.into_inner());
        stopped = guard;
        if *stopped {
            break;
        }
        let ours = read_owner(path).is_some_and(|o| o.token == token);
        if ours {
            if let Ok(file) = File::options().write(true).open(path) {
                touch(&file);
            }
        } else if !warned {
            tracing::warn!("the lock `{}` was taken over by another process; both may build this entry", path.display());
            warned = true;
        }
    }
}

/// Sets the file's mtime to "now" as the file system sees it (`UTIME_NOW`: on NFS the server's
/// clock, not this host's), so heartbeats and the waiters' probe files share one clock.
#[cfg(unix)]
fn touch(file: &File) {
    use std::os::fd::AsRawFd;
    let times = [
        libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_OMIT },
        libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_NOW },
    ];
    // SAFETY: the descriptor is open and `times` holds the two entries futimens reads.
    unsafe { libc::futimens(file.as_raw_fd(), times.as_ptr()) };
}

#[cfg(not(unix))]
fn touch(file: &File) {
    let _ = file.set_modified(SystemTime::now());
}

/// Removes the lock file if it is still this acquisition's.
fn release(path: &Path, token: &str) {
    if read_owner(path).is_some_and(|o| o.token == token) {
        let _ = fs::remove_file(path);
    }
}

impl Drop for EntryLock {
    fn drop(&mut self) {
        {
            let (flag, wake) = &*self.stop;
            *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
            wake.notify_all();
        }
        if let Some(beat) = self.heartbeat.take() {
            let _ = beat.join();
        }
        release(&self.path, &self.token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_no_file_left() {
        let dir = tempfile::tempdir().unwrap();
        let held = try_acquire(dir.path(), "k").unwrap().expect("free");
        assert!(try_acquire(dir.path(), "k").unwrap().is_none(), "held by a live process");
        drop(held);
        assert!(!dir.path().join("k.lock").exists());
        assert!(try_acquire(dir.path(), "k").unwrap().is_some());
    }

    #[test]
    fn a_dead_local_owner_is_taken_over_at_once() {
        let dir = tempfile::tempdir().unwrap();
        // A pid that cannot exist (above the kernel's pid_max of 2^22).
        let dead = Owner { host: crate::host::name().into(), pid: 4_000_000_000, token: "t".into() };
        fs::write(dir.path().join("k.lock"), serde_json::to_vec(&dead).unwrap()).unwrap();
        let lock = try_acquire(dir.path(), "k").unwrap().expect("taken over");
        assert_eq!(read_owner(&dir.path().join("k.lock")).unwrap().pid, std::process::id());
        drop(lock);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "nothing left: no stale copy, no probe");
    }

    #[test]
    fn another_hosts_lock_is_taken_over_only_when_its_heartbeat_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.lock");
        let remote = Owner { host: "some-other-node".into(), pid: 1, token: "t".into() };
        fs::write(&path, serde_json::to_vec(&remote).unwrap()).unwrap();
        assert!(try_acquire(dir.path(), "k").unwrap().is_none(), "a fresh heartbeat: alive");
        let old = SystemTime::now() - STALE - Duration::from_secs(5);
        File::options().write(true).open(&path).unwrap().set_modified(old).unwrap();
        assert!(try_acquire(dir.path(), "k").unwrap().is_some(), "a stopped heartbeat: taken over");
    }

    #[test]
    fn a_heartbeat_stamps_the_file_systems_now() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.lock");
        fs::write(&path, b"{}").unwrap();
        let file = File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(3600)).unwrap();
        touch(&file);
        let age = age(dir.path(), fs::metadata(&path).unwrap().modified().unwrap()).unwrap();
        assert!(age < Duration::from_secs(5), "{age:?}");
    }

    #[test]
    fn waiters_get_the_lock_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        let inside = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let _lock = acquire(dir.path(), "k").unwrap();
                    assert_eq!(inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst), 0, "one holder at a time");
                    std::thread::sleep(Duration::from_millis(30));
                    inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
        });
    }
}
