//! A tiny HTTP/1.1 server for the download tests: serves one payload at any path, honours
//! `Range: bytes=N-`, and can misbehave on purpose (503s, a connection cut mid-body, ranges
//! ignored). One request per connection; it records the path and `Range` header of every
//! request and stops by itself when dropped or after a deadline.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the server answers.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// The file served.
    pub payload: Vec<u8>,
    /// Answer this many first requests with 503.
    pub unavailable_first: usize,
    /// On the first answer with a body, send only this many body bytes, then close.
    pub cut_first_after: Option<usize>,
    /// Always answer 200 with the whole payload, as servers without range support do.
    pub ignore_range: bool,
}

/// A running server on 127.0.0.1 with an ephemeral port.
pub struct TestServer {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What the server saw of one request.
#[derive(Clone, Debug, Default)]
struct Request {
    path: String,
    range: Option<String>,
}

/// The most connections one server accepts, and how long it lives at most.
const MAX_CONNECTIONS: usize = 64;
const LIFETIME: Duration = Duration::from_secs(60);

impl TestServer {
    /// Starts serving in a thread.
    pub fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || serve(&listener, &behaviour, &requests, &stop))
        };
        Self { port, requests, stop, thread: Some(thread) }
    }

    /// The URL of `path` (which starts with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The `Range` header of every request so far, in order (`None` where there was none).
    pub fn ranges(&self) -> Vec<Option<String>> {
        self.requests.lock().unwrap().iter().map(|r| r.range.clone()).collect()
    }

    /// The path of every request so far, in order.
    pub fn paths(&self) -> Vec<String> {
        self.requests.lock().unwrap().iter().map(|r| r.path.clone()).collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    listener: &TcpListener,
    behaviour: &Behaviour,
    requests: &Mutex<Vec<Request>>,
    stop: &AtomicBool,
) {
    let deadline = Instant::now() + LIFETIME;
    let mut cut_pending = behaviour.cut_first_after;
    let mut served = 0;
    while served < MAX_CONNECTIONS && !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                let request = read_request(&stream).unwrap_or_default();
                requests.lock().unwrap().push(request.clone());
                let range = request.range.as_deref();
                let _ = answer(stream, behaviour, served, range, &mut cut_pending);
                served += 1;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Reads the request head: its path and `Range` header value.
fn read_request(mut stream: &TcpStream) -> Option<Request> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        if stream.read(&mut byte).ok()? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or_default().to_string();
    let range = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("range").then(|| value.trim().to_string())
    });
    Some(Request { path, range })
}

fn answer(
    mut stream: TcpStream,
    behaviour: &Behaviour,
    index: usize,
    range: Option<&str>,
    cut_pending: &mut Option<usize>,
) -> std::io::Result<()> {
    let payload = &behaviour.payload;
    let len = payload.len();
    let start = range
        .filter(|_| !behaviour.ignore_range)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let (status, extra, body): (&str, String, &[u8]) = if index < behaviour.unavailable_first {
        ("503 Service Unavailable", String::new(), &[])
    } else {
        match start {
            Some(start) if start >= len => {
                ("416 Range Not Satisfiable", format!("Content-Range: bytes */{len}\r\n"), &[])
            }
            Some(start) => (
                "206 Partial Content",
                format!("Content-Range: bytes {start}-{}/{len}\r\n", len - 1),
                &payload[start..],
            ),
            None => ("200 OK", String::new(), payload),
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    let sent = match cut_pending.take_if(|_| !body.is_empty()) {
        Some(cut) => &body[..cut.min(body.len())],
        None => body,
    };
    stream.write_all(sent)?;
    stream.flush()?;
    stream.shutdown(Shutdown::Write)
}
