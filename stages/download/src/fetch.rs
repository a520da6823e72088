//! HTTP(S) download into a `.part` file that survives failures: resumes with `Range`, retries
//! connection errors, broken transfers and 5xx answers with capped exponential backoff.
//!
//! The resume protocol, given `N` bytes already in the `.part` file:
//!
//! | answer to `Range: bytes=N-` | action                                              |
//! |-----------------------------|-----------------------------------------------------|
//! | 206 starting at `N`         | append                                              |
//! | 206 starting elsewhere      | truncate, ask again for the whole file              |
//! | 206 not at 0 when `N` is 0  | error: the server is broken                         |
//! | 200                         | the server ignores ranges: truncate, write it all   |
//! | 416 with total `N`          | the file is already complete                        |
//! | 416 otherwise               | truncate, ask again for the whole file              |
//! | 408, 429, 5xx               | retry after a delay                                 |
//! | other                       | error                                               |

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use indicatif::ProgressBar;
use percent_encoding::percent_decode_str;

use crate::error::DownloadError;

/// Delays between retries: `base`, `2 * base`, `4 * base`..., at most `cap`.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// The delay before the first retry.
    pub base: Duration,
    /// The longest delay.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_millis(500), cap: Duration::from_secs(30) }
    }
}

impl Backoff {
    /// The delay before retry number `retry` (1-based).
    fn delay(self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }
}

/// One download to perform.
pub struct Fetch<'a> {
    /// The stage's name, for the "offline" hint.
    pub stage: &'a str,
    /// The URL to GET.
    pub url: &'a str,
    /// How many times a failed request is retried before giving up; the count restarts after
    /// a request that received data.
    pub retries: u32,
    /// Limit for connecting, for the response headers and for each read of the body.
    pub timeout: Duration,
    /// Delays between retries.
    pub backoff: Backoff,
}

/// The file name a URL points at: its last path segment, percent-decoded, query and fragment
/// ignored. `None` when there is no usable name (no path, `..`, a decoded `/`).
pub fn file_name_from_url(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    let (_host, path) = path.split_once('/')?;
    let segment = path.rsplit('/').next().unwrap_or_default();
    let name = percent_decode_str(segment).decode_utf8().ok()?.into_owned();
    let usable =
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    usable.then_some(name)
}

/// Why one request did not finish the file.
enum Failure {
    /// No answer at all: connection refused, DNS failure, timeout while connecting.
    Connect(ureq::Error),
    /// An answer worth retrying (408, 429, 5xx).
    Status(u16),
    /// The body broke off.
    Transfer(io::Error),
}

/// What one request achieved.
enum Attempt {
    /// The `.part` file holds the whole file.
    Complete,
    /// The `.part` file was inconsistent with the server and was emptied; ask again at once.
    Restart,
    /// The request failed; `received` bytes were written before it did.
    Failed { failure: Failure, received: u64 },
    /// The server answered with a status that retrying will not change.
    Rejected(u16),
}

impl Fetch<'_> {
    /// Downloads into `part`, resuming from its current length; returns the file's size.
    pub fn run(&self, part: &Path, bar: &ProgressBar) -> Result<u64, DownloadError> {
        let agent = self.agent();
        let mut attempts = 0u32;
        let mut failures = 0u32;
        loop {
            attempts += 1;
            match self.attempt(&agent, part, bar)? {
                Attempt::Complete => return file_len(part),
                Attempt::Restart => {}
                Attempt::Rejected(status) => {
                    return Err(DownloadError::HttpStatus {
                        url: self.url.to_string(),
                        status,
                        attempts,
                    });
                }
                Attempt::Failed { failure, received } => {
                    if received > 0 {
                        failures = 0;
                    }
                    failures += 1;
                    if failures > self.retries {
                        return Err(self.give_up(failure, attempts, part));
                    }
                    let delay = self.backoff.delay(failures);
                    tracing::debug!(url = self.url, attempts, ?delay, "retrying download");
                    std::thread::sleep(delay);
                }
            }
        }
    }

    fn agent(&self) -> ureq::Agent {
        let timeout = Some(self.timeout);
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_resolve(timeout)
            .timeout_connect(timeout)
            .timeout_send_request(timeout)
            .timeout_recv_response(timeout)
            .timeout_per_read(timeout)
            .build()
            .new_agent()
    }

    /// One GET, streaming the body into `part`.
    fn attempt(
        &self,
        agent: &ureq::Agent,
        part: &Path,
        bar: &ProgressBar,
    ) -> Result<Attempt, DownloadError> {
        let have = if part.exists() { file_len(part)? } else { 0 };
        let mut request = agent.get(self.url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let response = match request.call() {
            Ok(response) => response,
            Err(error) if is_transient(&error) => {
                return Ok(Attempt::Failed { failure: Failure::Connect(error), received: 0 });
            }
            Err(error) => {
                return Err(DownloadError::Request {
                    url: self.url.to_string(),
                    source: Box::new(error),
                });
            }
        };
        let status = response.status().as_u16();
        let content_range = response
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .map(ContentRange::parse);
        let (start, total) = match status {
            206 => match content_range {
                Some(range) if range.start == Some(have) => (have, range.total),
                // A range nobody asked for: the server is broken, not the partial file.
                _ if have == 0 => return Ok(Attempt::Rejected(status)),
                _ => {
                    tracing::debug!(
                        url = self.url,
                        have,
                        ?content_range,
                        "unexpected range; restarting"
                    );
                    truncate(part)?;
                    return Ok(Attempt::Restart);
                }
            },
            200 => {
                if have > 0 {
                    tracing::debug!(url = self.url, have, "server ignored Range; restarting");
                }
                (0, response.body().content_length())
            }
            416 if have > 0 => {
                if content_range.and_then(|r| r.total) == Some(have) {
                    return Ok(Attempt::Complete);
                }
                truncate(part)?;
                return Ok(Attempt::Restart);
            }
            408 | 429 | 500..=599 => {
                return Ok(Attempt::Failed { failure: Failure::Status(status), received: 0 });
            }
            _ => return Ok(Attempt::Rejected(status)),
        };
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(start > 0)
            .truncate(start == 0)
            .open(part)
            .map_err(DownloadError::io("create", part))?;
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_position(start);
        let mut body = response.into_body().into_reader();
        match copy_body(&mut body, &mut file, part, bar)? {
            (received, None) => {
                file.sync_all().map_err(DownloadError::io("write", part))?;
                tracing::debug!(url = self.url, start, received, "transfer complete");
                Ok(Attempt::Complete)
            }
            (received, Some(error)) => {
                Ok(Attempt::Failed { failure: Failure::Transfer(error), received })
            }
        }
    }

    /// The error reported once the retries are used up.
    fn give_up(&self, failure: Failure, attempts: u32, part: &Path) -> DownloadError {
        let url = self.url.to_string();
        match failure {
            Failure::Connect(source) => DownloadError::Unreachable {
                stage: self.stage.to_string(),
                url,
                attempts,
                source: Box::new(source),
            },
            Failure::Status(status) => DownloadError::HttpStatus { url, status, attempts },
            Failure::Transfer(source) => {
                let received = std::fs::metadata(part).map_or(0, |m| m.len());
                DownloadError::Interrupted { url, received, attempts, source }
            }
        }
    }
}

/// Copies the body into the file; a read error ends the copy and is returned beside the count,
/// a write error is fatal.
fn copy_body(
    body: &mut impl Read,
    file: &mut File,
    part: &Path,
    bar: &ProgressBar,
) -> Result<(u64, Option<io::Error>), DownloadError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok((received, None)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                file.flush().map_err(DownloadError::io("write", part))?;
                return Ok((received, Some(e)));
            }
        };
        file.write_all(&buf[..n]).map_err(DownloadError::io("write", part))?;
        received += n as u64;
        bar.inc(n as u64);
    }
}

/// Errors worth another try: the network, not the request.
fn is_transient(error: &ureq::Error) -> bool {
    matches!(
        error,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    )
}

fn file_len(path: &Path) -> Result<u64, DownloadError> {
    std::fs::metadata(path).map(|m| m.len()).map_err(DownloadError::io("read", path))
}

fn truncate(path: &Path) -> Result<(), DownloadError> {
    File::create(path).map(drop).map_err(DownloadError::io("truncate", path))
}

/// A parsed `Content-Range: bytes START-END/TOTAL` (or `bytes */TOTAL`) header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ContentRange {
    /// The first byte sent; `None` for `*`.
    start: Option<u64>,
    /// The whole file's size; `None` for `*` or a malformed header.
    total: Option<u64>,
}

impl ContentRange {
    fn parse(header: &str) -> Self {
        let spec = header.trim().strip_prefix("bytes").unwrap_or_default().trim_start();
        let (range, total) = spec.split_once('/').unwrap_or((spec, ""));
        let start = range.split_once('-').and_then(|(s, _)| s.trim().parse().ok());
        Self { start, total: total.trim().parse().ok() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_is_the_decoded_last_segment_without_query() {
        let zenodo =
            "https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip?download=1";
        assert_eq!(file_name_from_url(zenodo).as_deref(), Some("Audio_Speech_Actors_01-24.zip"));
        assert_eq!(
            file_name_from_url("http://h/a/My%20Data.zip#x").as_deref(),
            Some("My Data.zip")
        );
        assert_eq!(file_name_from_url("http://h:8080/f.bin").as_deref(), Some("f.bin"));
    }

    #[test]
    fn file_name_is_none_without_a_safe_segment() {
        for url in [
            "http://host",
            "http://host/",
            "http://host/dir/",
            "http://h/a%2Fb",
            "http://h/..",
            "http://h/%2E%2E",
        ] {
            assert_eq!(file_name_from_url(url), None, "{url}");
        }
    }

    #[test]
    fn content_range_parses_partial_and_unsatisfiable_forms() {
        assert_eq!(
            ContentRange::parse("bytes 100-199/200"),
            ContentRange { start: Some(100), total: Some(200) }
        );
        assert_eq!(
            ContentRange::parse("bytes */200"),
            ContentRange { start: None, total: Some(200) }
        );
        assert_eq!(
            ContentRange::parse("bytes 5-9/*"),
            ContentRange { start: Some(5), total: None }
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let backoff = Backoff { base: Duration::from_millis(500), cap: Duration::from_secs(3) };
        let delays: Vec<u128> = (1..=5).map(|r| backoff.delay(r).as_millis()).collect();
        assert_eq!(delays, [500, 1000, 2000, 3000, 3000]);
        assert_eq!(backoff.delay(100), Duration::from_secs(3));
    }
}
