//! Which files are audio, and reading any of them into mono samples: WAV through [`crate::wav`]
//! (vox's own bulk reader, the fast path every corpus so far uses; the encodings it does not
//! read, mu-law, A-law and ADPCM, through symphonia), FLAC, MP3, Ogg Vorbis and AIFF through
//! [`crate::compressed`]. Audio formats vox does not read (AAC/M4A, Opus, WMA, ...)
//! are still found, so that each is reported as a file that could not be decoded instead of
//! being passed over in silence.

use std::path::Path;

use crate::error::FileError;
use crate::wav::{Downmix, WavBuffers, mix_frames};

/// Extensions read by [`crate::wav`].
const WAV: &[&str] = &["wav"];
/// Extensions read by [`crate::compressed`].
const COMPRESSED: &[&str] = &["flac", "mp3", "ogg", "oga", "aif", "aiff"];
/// The lossy ones among the formats read.
const LOSSY: &[&str] = &["mp3", "ogg", "oga"];
/// Audio formats no reader here decodes.
const UNREAD: &[&str] = &["m4a", "aac", "mp4a", "opus", "wma", "amr", "ape", "wv", "caf", "sph", "au"];

/// How a file is read, by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reader {
    /// [`crate::wav`].
    Wav,
    /// [`crate::compressed`].
    Compressed,
    /// An audio format vox does not read.
    Unread,
}

impl Reader {
    /// The reader of `path` by its extension (any case); `None` when it names no audio format.
    fn of(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        let is = |list: &[&str]| list.contains(&extension.as_str());
        if is(WAV) {
            Some(Self::Wav)
        } else if is(COMPRESSED) {
            Some(Self::Compressed)
        } else if is(UNREAD) {
            Some(Self::Unread)
        } else {
            None
        }
    }
}

/// Whether `path`'s extension names an audio format, read or not: the files a corpus folder's
/// clips are found among.
pub(crate) fn is_audio(path: &Path) -> bool {
    Reader::of(path).is_some()
}

/// Whether `extension` (any case) names a lossy format vox reads.
pub(crate) fn is_lossy(extension: &str) -> bool {
    LOSSY.contains(&extension.to_ascii_lowercase().as_str())
}

/// `path`'s extension as written, or nothing.
pub(crate) fn extension(path: &Path) -> String {
    path.extension().unwrap_or_default().to_string_lossy().into_owned()
}

/// A stretch of a file, in seconds from its start: `end` `None` runs to the file's end.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Segment {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: Option<f64>,
}

/// Buffers reused from one audio file to the next (one set per worker thread), and the last
/// file read: a table's segments of one long recording (`start`/`end`) are usually consecutive
/// rows, which a worker then cuts from one read of the file instead of reading (or, for FLAC
/// or MP3, decoding) the whole recording once per segment. The file is held with its channels
/// interleaved, and only the frames asked for are mixed: the rows of a two-channel call may
/// alternate between its speakers' channels (`channel` column) and still read the file once.
#[derive(Default)]
pub struct AudioBuffers {
    /// WAV's buffers.
    wav: WavBuffers,
    /// The samples of a compressed file, interleaved.
    samples: Vec<f32>,
    /// The frames last asked for, made one channel.
    mixed: Vec<f32>,
    /// The file whose samples the buffers hold, if the last read succeeded.
    held: Option<Held>,
}

/// The file [`AudioBuffers`] holds.
struct Held {
    /// Its path, as given.
    path: std::path::PathBuf,
    /// Its sample rate, Hz.
    rate: u32,
    /// Its channel count, at least 1.
    channels: usize,
    /// Whether its samples are WAV's buffers' (else `samples`).
    wav: bool,
}

impl AudioBuffers {
    /// Reads `path` in the format its extension names (a file without one, or with another, is
    /// read as WAV, as a table may name it so) and makes its channels one by `downmix`.
    /// Returns the mono samples in [-1, 1) (valid until the next read) and the sample rate in
    /// Hz. The same path twice in a row is read once (the input of a stage does not change
    /// while it runs).
    pub fn read_mono(&mut self, path: &Path, downmix: Downmix) -> Result<(&[f32], u32), FileError> {
        self.read(path, downmix, None)
    }

    /// [`Self::read_mono`] of the stretch `segment` of the file only (all of it for `None`):
    /// a segment that starts at or past the file's end, or holds no sample, is an error.
    pub(crate) fn read(&mut self, path: &Path, downmix: Downmix, segment: Option<Segment>) -> Result<(&[f32], u32), FileError> {
        let held = self.load(path)?;
        let (rate, channels, wav) = (held.rate, held.channels, held.wav);
        let samples: &[f32] = if wav { self.wav.samples() } else { &self.samples };
        let frames = samples.len() / channels;
        let range = match segment {
            None => 0..frames,
            Some(segment) => {
                let per_second = f64::from(rate);
                let first = (segment.start * per_second).round() as usize;
                if first >= frames {
                    return Err(FileError::SegmentOutside { start: segment.start, duration: frames as f64 / per_second });
                }
                let last = segment.end.map_or(frames, |end| ((end * per_second).round() as usize).min(frames));
                if last <= first {
                    return Err(FileError::Empty);
                }
                first..last
            }
        };
        // A mono file's frames are its samples: no copy.
        if channels == 1 && matches!(downmix, Downmix::Mean | Downmix::Channel(0)) {
            return Ok((&samples[range], rate));
        }
        mix_frames(samples, channels, downmix, range, &mut self.mixed)?;
        Ok((&self.mixed, rate))
    }

    /// The length of `path` in frames, and its sample rate in Hz: what windows of it need.
    pub(crate) fn frames(&mut self, path: &Path) -> Result<(usize, u32), FileError> {
        let held = self.load(path)?;
        let (rate, channels, wav) = (held.rate, held.channels, held.wav);
        let samples = if wav { self.wav.samples().len() } else { self.samples.len() };
        Ok((samples / channels, rate))
    }

    /// Reads `path` into the buffers, interleaved, unless they hold it already.
    fn load(&mut self, path: &Path) -> Result<&Held, FileError> {
        if self.held.as_ref().is_some_and(|held| held.path == path) {
            return Ok(self.held.as_ref().expect("held"));
        }
        self.held = None;
        let (rate, channels, wav) = match Reader::of(path) {
            Some(Reader::Compressed) => {
                let (rate, channels) = crate::compressed::read_interleaved(path, &mut self.samples)?;
                (rate, channels, false)
            }
            Some(Reader::Unread) => {
                let extension = extension(path);
                return Err(FileError::Unread { what: format!("`.{extension}` audio"), extension });
            }
            Some(Reader::Wav) | None => match self.wav.read_interleaved(path) {
                Ok((_, channels, rate)) => (rate, channels, true),
                // A WAV in an encoding hound does not read (mu-law, A-law, ADPCM: telephone
                // speech; hound calls ADPCM's fmt chunk inconsistent): symphonia's WAV reader
                // decodes those. Where it cannot either, hound's reason stands, unless
                // symphonia found something definite (a cut file).
                Err(hound @ (FileError::Unsupported(_) | FileError::Corrupt(_))) => {
                    match crate::compressed::read_interleaved(path, &mut self.samples) {
                        Ok((rate, channels)) => (rate, channels, false),
                        Err(definite @ (FileError::EndsEarly { .. } | FileError::Empty)) => return Err(definite),
                        Err(_) => return Err(hound),
                    }
                }
                Err(other) => return Err(other),
            },
        };
        Ok(self.held.insert(Held { path: path.to_path_buf(), rate, channels: channels.max(1), wav }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_audio_by_their_extension_in_any_case() {
        for (name, reader) in [
            ("a.wav", Some(Reader::Wav)),
            ("a.WAV", Some(Reader::Wav)),
            ("dir.flac/a.Flac", Some(Reader::Compressed)),
            ("a.mp3", Some(Reader::Compressed)),
            ("a.ogg", Some(Reader::Compressed)),
            ("a.aiff", Some(Reader::Compressed)),
            ("a.m4a", Some(Reader::Unread)),
            ("a.opus", Some(Reader::Unread)),
            ("a.txt", None),
            ("a", None),
            ("wav", None),
        ] {
            assert_eq!(Reader::of(Path::new(name)), reader, "{name}");
        }
    }

    #[test]
    fn the_same_file_twice_in_a_row_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codecs");
        let mut buffers = AudioBuffers::default();
        for (name, other) in [("stereo16.wav", "stereo16.flac"), ("stereo16.flac", "stereo16.wav")] {
            let (path, other_path) = (dir.path().join(name), dir.path().join(other));
            std::fs::copy(fixtures.join(name), &path).unwrap();
            std::fs::copy(fixtures.join(other), &other_path).unwrap();
            let first = buffers.read_mono(&path, Downmix::Mean).unwrap().0.to_vec();
            assert_eq!(first.len(), 4800);
            // Held: a second read needs no file, nor does another channel or a stretch of it.
            std::fs::remove_file(&path).unwrap();
            assert_eq!(buffers.read_mono(&path, Downmix::Mean).unwrap(), (&first[..], 16000), "{name}");
            for channel in [0, 1] {
                let mut wav = WavBuffers::default();
                let expected = wav.read(&fixtures.join("stereo16.wav"), Downmix::Channel(channel)).unwrap().0.to_vec();
                let half = Some(Segment { start: 0.15, end: Some(0.25) });
                let (stretch, _) = buffers.read(&path, Downmix::Channel(channel), half).unwrap();
                assert_eq!(stretch, &expected[2400..4000], "{name} channel {channel}");
            }
            assert_eq!(buffers.read_mono(&path, Downmix::Mean).unwrap(), (&first[..], 16000), "{name}");
            let outside = buffers.read(&path, Downmix::Mean, Some(Segment { start: 0.3, end: None })).unwrap_err();
            assert_eq!(outside.to_string(), "the segment starts at 0.3 s but the file lasts 0.300 s");
            let third = buffers.read(&path, Downmix::Channel(2), None).unwrap_err();
            assert_eq!(third.to_string(), "`channel = 3` but the file has 2 channel(s)");
            // Another file replaces it; the first, gone, is read again and fails.
            assert_eq!(buffers.read_mono(&other_path, Downmix::Mean).unwrap().0.len(), 4800);
            assert!(buffers.read_mono(&path, Downmix::Mean).is_err(), "{name}");
            // A failed read holds nothing.
            assert!(buffers.read_mono(&path, Downmix::Mean).is_err(), "{name}");
        }
    }

    #[test]
    fn wav_encodings_hound_does_not_read_decode_as_libsndfile_does() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codecs");
        let mut buffers = AudioBuffers::default();
        // mu-law and A-law are table lookups: exact. ADPCM decoders round their predictors
        // differently (measured: 4.7e-4 and 1.7e-3 at most, of a signal of RMS about 0.3).
        for (name, tolerance) in [
            ("stereo8k_ulaw.wav", 0.0),
            ("stereo8k_alaw.wav", 0.0),
            ("stereo8k_ima_adpcm.wav", 1e-3),
            ("stereo8k_ms_adpcm.wav", 4e-3),
        ] {
            let path = fixtures.join(name);
            assert!(matches!(WavBuffers::default().read_mono(&path), Err(FileError::Unsupported(_) | FileError::Corrupt(_))), "{name}: hound reads it now");
            let reference = crate::wav::read_mono(&fixtures.join(format!("{name}.ref.wav"))).unwrap().samples;
            let (samples, rate) = buffers.read_mono(&path, Downmix::Mean).unwrap();
            assert_eq!((samples.len(), rate), (reference.len(), 8000), "{name}");
            let worst = samples.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(worst <= tolerance, "{name}: max |vox - libsndfile| = {worst}");
            let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt();
            assert!(rms > 0.1, "{name}: rms {rms}");
        }
    }

    #[test]
    fn a_format_vox_does_not_read_says_which_it_reads() {
        let err = AudioBuffers::default().read_mono(Path::new("take.M4A"), Downmix::Mean).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`.M4A` audio is not read by vox (it reads WAV, FLAC, MP3, Ogg Vorbis or AIFF): \
             convert it, e.g. `ffmpeg -i in.M4A out.flac`"
        );
    }
}
