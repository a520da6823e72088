//! Logs on stderr, drawn through the progress bars so that neither garbles the other.

#[allow(unused_imports)]
use super::*;

/// Logs go to stderr through the progress bars so that neither garbles the other.
pub(super) fn init_logging(global: &Global, progress: MultiProgress) {
    // vox's own crates (every target starting `vox`) at the chosen level, the libraries' logs
    // (symphonia's "starting new physical stream" per Ogg file, wgpu's adapters) at `warn`
    // unless `-vv` asks for everything; `RUST_LOG` replaces this.
    let directives = match (global.quiet, global.verbose) {
        (true, _) => "warn",
        (false, 0) => "warn,vox=info",
        (false, 1) => "warn,vox=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives));
    let clock = RunClock((global.verbose > 0).then(tracing_subscriber::fmt::time::uptime));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_timer(clock)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(move || ProgressWriter(progress.clone()))
        .try_init();
}

/// Log timestamps: seconds since start when verbose (a timeline of the run), none otherwise.
struct RunClock(Option<tracing_subscriber::fmt::time::Uptime>);

impl tracing_subscriber::fmt::time::FormatTime for RunClock {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(uptime) => uptime.format_time(w),
            None => Ok(()),
        }
    }
}

struct ProgressWriter(MultiProgress);

impl Write for ProgressWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
