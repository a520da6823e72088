//! Names unique across the machines that share a cache: a run id or temp file made on one node
//! never collides with another node's, where process ids alone would (each node counts its own).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// This machine's short host name (up to the first dot), reduced to `[A-Za-z0-9-]`; `host`
/// when it has none.
pub fn name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let raw = hostname().unwrap_or_default();
        let short: String =
            raw.split('.').next().unwrap_or("").chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(32).collect();
        if short.is_empty() { "host".into() } else { short }
    })
}

#[cfg(unix)]
fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

#[cfg(not(unix))]
fn hostname() -> Option<String> {
    std::env::var("COMPUTERNAME").ok()
}

/// `<host>-<pid>-<n>`: unique among every process on every machine sharing a file system, and
/// among the calls of this process.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}-{}", name(), std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    #[test]
    fn suffixes_differ_and_name_is_plain() {
        assert_ne!(super::unique_suffix(), super::unique_suffix());
        assert!(super::name().chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}
