//! A builder that writes pipelines into a temp folder and runs the real `vox` binary there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A CSV file (a manifest, a summary, a table of folds) as header -> cell maps, one per row.
pub fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = reader.headers().unwrap().clone();
    reader.records().map(|r| header.iter().zip(r.unwrap().iter()).map(|(h, c)| (h.to_string(), c.to_string())).collect()).collect()
}

/// A tiny corpus: 2 actors x 15 clips of 1 s at 16 kHz, so end-to-end tests stay fast.
pub const SMALL: &str = r#"
[pipeline]
name = "small"
seed = 7

[stages.data]
kind = "synth"
actors = 2
statements = 1
repetitions = 1
duration = 1.0
sample_rate = 16000

[stages.audio]
kind = "decode"
inputs = ["data"]
sample_rate = 16000

[stages.padded]
kind = "pad"
inputs = ["audio"]
length = 16000

[stages.split]
kind = "split"
inputs = ["padded"]
val_fraction = 0.2
"#;

/// The stages of a 240-clip corpus (4 actors x 60 clips of 2 s at 16 kHz, padded to 32000
/// samples, a 25% stratified validation split) that the classic and deep tests build on.
pub const CORPUS_240: &str = r#"
[stages.data]
kind = "synth"
actors = 4
duration = 2.0
sample_rate = 16000

[stages.audio]
kind = "decode"
inputs = ["data"]

[stages.padded]
kind = "pad"
inputs = ["audio"]
length = 32000

[stages.split]
kind = "split"
inputs = ["padded"]
val_fraction = 0.25
"#;

/// A pipeline named `name` (seed 42): [`CORPUS_240`], then `stages`.
pub fn on_corpus_240(name: &str, stages: &str) -> String {
    format!("\n[pipeline]\nname = \"{name}\"\nseed = 42\n{CORPUS_240}{stages}")
}

/// A temp folder with a cache, a runs folder and pipeline files.
pub struct Project {
    dir: tempfile::TempDir,
}

/// What one `vox` invocation did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Project {
    pub fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }

    /// The output folder of the cache entry `key`.
    pub fn entry(&self, key: &str) -> PathBuf {
        self.cache().join("entries").join(&key[..2]).join(key).join("out")
    }

    /// The output folder of the cache entry of stage `name` in a `run --json` document.
    pub fn stage_entry(&self, doc: &serde_json::Value, name: &str) -> PathBuf {
        let stage = doc["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no {name}"));
        self.entry(stage["key"].as_str().unwrap())
    }

    /// The keys of the cache's shared work named `part` (`vox_api::memo`), sorted.
    pub fn shared_entries(&self, part: &str) -> Vec<String> {
        let mut keys = Vec::new();
        for shard in std::fs::read_dir(self.cache().join("entries")).unwrap() {
            for entry in std::fs::read_dir(shard.unwrap().path()).unwrap() {
                let entry = entry.unwrap().path();
                let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(entry.join("entry.json")).unwrap()).unwrap();
                if manifest["components"]["shared"] == part {
                    keys.push(entry.file_name().unwrap().to_string_lossy().into_owned());
                }
            }
        }
        keys.sort();
        keys
    }

    /// The keys of the shared work that stage `name` of a `run --json` document made or read.
    pub fn shared_by(&self, doc: &serde_json::Value, name: &str) -> Vec<String> {
        let entry = self.stage_entry(doc, name).with_file_name("entry.json");
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(entry).unwrap()).unwrap();
        manifest["shared"].as_array().map_or_else(Vec::new, |keys| keys.iter().map(|k| k.as_str().unwrap().to_string()).collect())
    }

    /// Writes a file relative to the project folder.
    pub fn file(&self, name: &str, text: &str) -> &Self {
        let path = self.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        self
    }

    /// A `vox` command in the project folder with its own cache and runs folders.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vox"));
        cmd.args(args)
            .current_dir(self.path())
            .env("VOX_CACHE_DIR", self.cache())
            .env("VOX_RUNS_DIR", self.path().join("runs"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `vox ARGS` to completion.
    pub fn vox(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("run vox");
        Run::from(out)
    }

    /// Starts `vox ARGS` without waiting.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn vox")
    }

    /// `vox run PIPELINE --json ARGS`, which must succeed: its `--json` document.
    pub fn run_doc(&self, pipeline: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["run", pipeline, "--json"];
        args.extend_from_slice(extra);
        let run = self.vox(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str(&run.stdout).unwrap()
    }

    /// `vox run --json PIPELINE ARGS`: each stage's (name, status).
    pub fn run_json(&self, pipeline: &str, extra: &[&str]) -> Vec<(String, String)> {
        let mut args = vec!["run", "--json", pipeline];
        args.extend_from_slice(extra);
        let run = self.vox(&args);
        assert_eq!(run.code, 0, "vox run failed:\n{}", run.stderr);
        statuses(&run.stdout)
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// (name, status) of each stage in a `--json` run document.
pub fn statuses(json: &str) -> Vec<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}):\n{json}"));
    doc["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string()))
        .collect()
}

/// `[("a", "ran"), ...]` from string pairs.
pub fn expect(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// A mono 16-bit PCM WAV file's bytes.
pub fn wav_16bit(sample_rate: u32, samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&(sample_rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// A static HTTP server on 127.0.0.1 for the hub tests: answers `GET /PATH` with the file
/// `root/PATH` (404 when there is none), one request per connection, and records every path.
pub struct FileServer {
    port: u16,
    paths: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileServer {
    pub fn start(root: &Path) -> Self {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("address").port();
        let paths = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (root, seen, stopping) = (root.to_path_buf(), paths.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                seen.lock().expect("paths").push(path.clone());
                let (status, body) = match std::fs::read(root.join(path.trim_start_matches('/'))) {
                    Ok(body) => ("200 OK", body),
                    Err(_) => ("404 Not Found", Vec::new()),
                };
                let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&body));
            }
        });
        Self { port, paths, stop, thread: Some(thread) }
    }

    /// The server's base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every requested path so far, in order.
    pub fn paths(&self) -> Vec<String> {
        self.paths.lock().expect("paths").clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
