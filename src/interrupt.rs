//! Ctrl-C and `kill`: say what was interrupted and that a rerun resumes, then exit 130.
//!
//! SIGINT and SIGTERM are blocked in every thread (threads inherit the mask of the thread that
//! spawns them, so [`install`] runs first thing in `main`) and one thread waits for them with
//! `sigwait`, so the message is printed by ordinary code, not inside a signal handler. Nothing
//! else needs undoing: a stage writes into a temp folder that becomes a cache entry only when it
//! commits, and the next run removes what an interrupted attempt left behind. Work this process
//! started elsewhere (cluster jobs) is undone by hooks ([`on_interrupt`]) before it exits.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// The stages running now, for the message.
static RUNNING: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// What runs before the exit, each saying what it undid: e.g. cancelling submitted jobs.
type HookFn = Box<dyn Fn() -> Option<String> + Send>;

/// The hooks registered now, by id.
static HOOKS: Mutex<Vec<(u64, HookFn)>> = Mutex::new(Vec::new());

/// Runs `hook` if the process is interrupted while the returned guard lives; its message (what
/// it undid) is printed with the rest.
pub fn on_interrupt(hook: impl Fn() -> Option<String> + Send + 'static) -> Hook {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    HOOKS.lock().unwrap_or_else(|e| e.into_inner()).push((id, Box::new(hook)));
    Hook(id)
}

/// A registered interrupt hook (see [`on_interrupt`]), removed when dropped.
pub struct Hook(u64);

impl Drop for Hook {
    fn drop(&mut self) {
        HOOKS.lock().unwrap_or_else(|e| e.into_inner()).retain(|(id, _)| *id != self.0);
    }
}

/// Marks stage `name` as running until the guard is dropped.
pub fn running(name: &str) -> Running {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string());
    Running(name.to_string())
}

/// A stage marked running (see [`running`]).
pub struct Running(String);

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.0);
    }
}

/// Blocks SIGINT and SIGTERM in this thread (and so in every thread it spawns later) and starts
/// the thread that reports them.
pub fn install() {
    #[cfg(unix)]
    // SAFETY: plain libc calls on a zeroed, then initialized, signal set owned by this frame.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        std::thread::spawn(move || {
            let mut signal = 0;
            // SAFETY: waits on the set blocked above.
            if libc::sigwait(&set, &mut signal) == 0 {
                report(if signal == libc::SIGTERM { "terminated" } else { "interrupted" });
            }
        });
    }
}

/// Prints what was running and exits 130 (128 + SIGINT, as shells report Ctrl-C).
fn report(what: &str) {
    let running: Vec<String> =
        RUNNING.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|name| format!("`{name}`")).collect();
    let during = if running.is_empty() { String::new() } else { format!(" while {} ran", running.join(", ")) };
    let undone: Vec<String> = HOOKS.lock().unwrap_or_else(|e| e.into_inner()).iter().filter_map(|(_, hook)| hook()).collect();
    eprintln!(
        "\nvox: {what}{during}. Finished stages are cached; run the same command again to resume \
         (an unfinished stage starts over, a fine-tune from its last epoch's checkpoint)."
    );
    for line in undone {
        eprintln!("vox: {line}");
    }
    std::process::exit(130);
}
