//! The recordings `vox predict` is given, as decode sources: audio files, folders of them and
//! tables (CSV or TSV) of them, each clip unlabeled and in no split. A file's clip id is its
//! name without the extension; a folder's files are identified by their paths inside it
//! (`speaker1/a` and `speaker2/a` stay apart); a table's rows as in a table corpus (its `id`
//! column, else the file name), with its segments (`start`/`end`). With `--window` or
//! `--segment`, each of them is a recording cut into window clips ([`windowed`]).

use std::path::{Path, PathBuf};

use vox_api::audio::Split;
use vox_api::windows::{self, Cutting, Pauses, Windows, window_id};

use crate::audio_file::{AudioBuffers, Segment};
use crate::corpus::Corpus;
use crate::error::{AudioError, FileError};
use crate::silence;
use crate::sources::{Place, Source, Sources, audio_files};
use crate::table::{self, Columns, Paths};
use crate::wav::Downmix;

/// The sources of every path, in the order given (a folder's files in path order).
pub(crate) fn sources(paths: &[PathBuf]) -> Result<Sources, AudioError> {
    let mut all = Sources::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| AudioError::Io { path: path.clone(), source })?;
        if meta.is_dir() {
            let files = audio_files(path)?;
            if files.is_empty() {
                return Err(AudioError::NoAudioFilesIn { folder: path.clone() });
            }
            for relative in files {
                let file_id = relative.rsplit_once('.').map_or(relative.as_str(), |(stem, _)| stem).to_string();
                let file = path.join(&relative).to_string_lossy().into_owned();
                all.push((Place { row: None, file: file.clone() }, Ok(unlabeled(file, file_id))));
            }
        } else if is_table(path) {
            let folder = path.parent().unwrap_or(Path::new(""));
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            for (place, source) in table::read(folder, &name, &Columns::default(), Paths::Anywhere)? {
                let file = folder.join(&place.file).to_string_lossy().into_owned();
                let source = source.map(|source| Source {
                    file: file.clone(),
                    label: None,
                    split: Split::None,
                    ..source
                });
                all.push((Place { file, ..place }, source));
            }
        } else {
            let file = path.to_string_lossy().into_owned();
            let file_id = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            all.push((Place { row: None, file: file.clone() }, Ok(unlabeled(file, file_id))));
        }
    }
    Ok(all)
}

/// Each source (a file, or a table row's segment of one) cut as `cutting` says: one source per
/// window or segment, named `<id>_<start>-<end>` (seconds in the recording) and carrying the
/// [`vox_api::windows`] columns. Where they fall is known once the file is read (its length for
/// windows; its samples, mixed down by `downmix` as decode will, for pauses), so each file is
/// read here once (its rows in a row, once) and again when decoded: cheap beside a model's
/// forward pass over it. A file that cannot be read, or a segment that starts past its file's
/// end, stays one source, for decode to report as it would without windows.
pub(crate) fn windowed(sources: Sources, cutting: Cutting, downmix: impl Fn(&Source) -> Downmix) -> Sources {
    let mut buffers = AudioBuffers::default();
    let mut cut = Sources::with_capacity(sources.len());
    for (place, source) in sources {
        let Ok(source) = source else {
            cut.push((place, source));
            continue;
        };
        let spans = match cutting {
            Cutting::Windows(windows) => window_spans(&mut buffers, &source, windows),
            Cutting::Pauses(pauses) => pause_spans(&mut buffers, &source, downmix(&source), pauses),
        };
        let spans = match spans {
            Ok(Some(spans)) => spans,
            Ok(None) => {
                cut.push((place, Ok(source)));
                continue;
            }
            Err(e) => {
                cut.push((place, Err(e)));
                continue;
            }
        };
        let start = source.segment.map_or(0.0, |s| s.start);
        for (from, to) in spans {
            let mut extra = source.extra.clone();
            extra.insert(windows::RECORDING.into(), source.file_id.clone());
            extra.insert(windows::START.into(), windows::seconds(from));
            extra.insert(windows::END.into(), windows::seconds(to));
            let window = Source {
                segment: Some(Segment { start: start + from, end: Some(start + to) }),
                file_id: window_id(&source.file_id, from, to),
                extra,
                ..source.clone()
            };
            cut.push((place.clone(), Ok(window)));
        }
    }
    cut
}

/// The windows of `source` in seconds of the recording; `None` when its segment starts at or
/// past its file's end (decode reports it).
fn window_spans(buffers: &mut AudioBuffers, source: &Source, windows: Windows) -> Result<Option<Vec<(f64, f64)>>, FileError> {
    let (frames, rate) = buffers.frames(Path::new(&source.file))?;
    let duration = frames as f64 / f64::from(rate);
    let start = source.segment.map_or(0.0, |s| s.start);
    let end = source.segment.and_then(|s| s.end).map_or(duration, |end| end.min(duration));
    if start >= duration {
        return Ok(None);
    }
    Ok(Some(windows.spans(end - start)))
}

/// Frames of the pause finder, seconds: librosa's default 2048 and 512 samples at 16 kHz,
/// the same times at every rate (at 48 kHz, 2048 samples would be 43 ms frames that find the
/// dips between syllables).
const PAUSE_FRAME: f64 = 0.128;
/// See [`PAUSE_FRAME`].
const PAUSE_HOP: f64 = 0.032;

/// The stretches of `source` between its pauses, in seconds of the recording
/// ([`crate::silence::split_intervals`]); `None` when its segment starts at or past its file's
/// end or holds no sample (decode reports it).
fn pause_spans(buffers: &mut AudioBuffers, source: &Source, downmix: Downmix, pauses: Pauses) -> Result<Option<Vec<(f64, f64)>>, FileError> {
    let (samples, rate) = match buffers.read(Path::new(&source.file), downmix, source.segment) {
        Ok(read) => read,
        Err(FileError::SegmentOutside { .. } | FileError::Empty) => return Ok(None),
        Err(e) => return Err(e),
    };
    let rate = f64::from(rate);
    let (frame, hop) = ((PAUSE_FRAME * rate).round() as usize, (PAUSE_HOP * rate).round().max(1.0) as usize);
    let intervals = silence::split_intervals(samples, pauses.top_db, frame.max(hop), hop);
    Ok(Some(pauses.joined(intervals.into_iter().map(|(from, to)| (from as f64 / rate, to as f64 / rate)))))
}

/// Whether `path` names a table by its extension.
fn is_table(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("tsv"))
}

/// An unlabeled clip of the whole of `file`.
fn unlabeled(file: String, file_id: String) -> Source {
    Source {
        file,
        row: None,
        segment: None,
        channel: None,
        file_id,
        corpus: Corpus::Unlabeled.name().to_string(),
        label: None,
        speaker: String::new(),
        sex: String::new(),
        intensity: String::new(),
        statement: String::new(),
        repetition: String::new(),
        split: Split::None,
        extra: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_folders_and_tables_in_the_order_given() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // A folder's audio files in any format, read or not (`.m4a` fails when decoded, by
        // name); `notes.txt` is no recording.
        let files = ["a/x.wav", "a/sub/x.wav", "a/sub/y.flac", "a/z.MP3", "a/w.m4a", "a/notes.txt"];
        for file in files.into_iter().chain(["b.wav", "t/clips/long.wav"]) {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), b"").unwrap();
        }
        std::fs::write(root.join("t/meta.tsv"), "file\tid\tstart\tend\temotion\nclips/long.wav\tseg1\t0.5\t1.5\tang\n").unwrap();
        let paths = [root.join("b.wav"), root.join("a"), root.join("t/meta.tsv")];
        let sources = sources(&paths).unwrap();
        let ids: Vec<(&str, String)> = sources
            .iter()
            .map(|(place, s)| {
                let s = s.as_ref().unwrap();
                assert_eq!((s.label.as_deref(), s.split), (None, Split::None), "{}", s.file_id);
                assert_eq!(place.file, s.file);
                (s.file_id.as_str(), s.file.strip_prefix(&*root.to_string_lossy()).unwrap().to_string())
            })
            .collect();
        assert_eq!(
            ids,
            [
                ("b", "/b.wav".to_string()),
                ("sub/x", "/a/sub/x.wav".into()),
                ("sub/y", "/a/sub/y.flac".into()),
                ("w", "/a/w.m4a".into()),
                ("x", "/a/x.wav".into()),
                ("z", "/a/z.MP3".into()),
                ("seg1", "/t/clips/long.wav".into())
            ]
        );
        assert_eq!(sources[6].0.row, Some(1));
        let segment = sources[6].1.as_ref().unwrap().segment.unwrap();
        assert_eq!((segment.start, segment.end), (0.5, Some(1.5)));
    }

    #[test]
    fn windows_cut_each_recording_and_a_segment_within_itself() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // 10 s and 2.5 s at 8 kHz; the table cuts the long one's 1 s..9 s, and names a file
        // that is not there; a file that is no audio.
        crate::wav::write_pcm16(&root.join("long.wav"), &vec![0.1; 80_000], 8000).unwrap();
        crate::wav::write_pcm16(&root.join("short.wav"), &vec![0.1; 20_000], 8000).unwrap();
        std::fs::write(root.join("t.csv"), "file,id,start,end\nlong.wav,mid,1,9\nnope.wav,gone,,\n").unwrap();
        std::fs::write(root.join("broken.wav"), b"RIFF....not a wav file").unwrap();
        let paths = [root.join("long.wav"), root.join("short.wav"), root.join("t.csv"), root.join("broken.wav")];
        let cut = windowed(sources(&paths).unwrap(), Cutting::Windows(Windows::new(4.0, None).unwrap()), |_| Downmix::Mean);
        // Each window as `id: file seconds | recording start end` (its manifest columns).
        let rows: Vec<String> = cut
            .iter()
            .filter_map(|(_, s)| s.as_ref().ok())
            .map(|s| {
                let column = |c: &str| s.extra.get(c).map_or("", String::as_str);
                let segment = s.segment.unwrap();
                format!(
                    "{}: {}-{} | {} {} {}",
                    s.file_id,
                    segment.start,
                    segment.end.unwrap(),
                    column(windows::RECORDING),
                    column(windows::START),
                    column(windows::END)
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                "long_0-4: 0-4 | long 0 4",
                "long_4-8: 4-8 | long 4 8",
                "long_6-10: 6-10 | long 6 10",
                "short_0-2.5: 0-2.5 | short 0 2.5",
                // The segment's windows: seconds in the segment, the file's seconds beyond 1 s.
                "mid_0-4: 1-5 | mid 0 4",
                "mid_4-8: 5-9 | mid 4 8",
            ]
        );
        // The missing file's row and the file that is no audio stay one source each, their
        // reasons for decode to report.
        assert_eq!(cut.len(), 8);
        let (place, missing) = &cut[6];
        assert_eq!(place.row, Some(2));
        assert!(matches!(missing, Err(crate::error::FileError::Row(_))), "{missing:?}");
        let (place, broken) = &cut[7];
        assert!(place.file.ends_with("broken.wav"));
        assert!(matches!(broken, Err(crate::error::FileError::Corrupt(_))), "{broken:?}");
    }

    /// librosa's fixture of three bursts between pauses, as a file and as a table segment of
    /// it (whose segments are in its own seconds), cut at its pauses; a stereo copy whose other
    /// channel hums throughout is cut on the channel the row asks for.
    #[test]
    fn pauses_cut_each_recording_where_librosa_splits_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trim/pauses.wav");
        std::fs::copy(&fixture, root.join("talk.wav")).unwrap();
        let mono: Vec<i16> = hound::WavReader::open(&fixture).unwrap().samples::<i16>().map(Result::unwrap).collect();
        // The right channel hums loud throughout: mixed in, it would leave no pause.
        let stereo: Vec<i16> =
            mono.iter().enumerate().flat_map(|(i, &s)| [s, (12000.0 * (i as f64 * 0.07).sin()) as i16]).collect();
        crate::test_support::write_wav(&root.join("call.wav"), 16000, 2, &stereo);
        std::fs::write(root.join("t.csv"), "file,id,start,end,channel\ntalk.wav,late,1.0,2.7,\ncall.wav,left,,,1\n").unwrap();
        let paths = [root.join("talk.wav"), root.join("t.csv")];
        let cut = windowed(sources(&paths).unwrap(), Cutting::Pauses(Pauses::new(30.0, None).unwrap()), |s| match s.channel {
            Some(c) => Downmix::Channel(usize::from(c) - 1),
            None => Downmix::Mean,
        });
        let ids: Vec<&str> = cut.iter().map(|(_, s)| s.as_ref().unwrap().file_id.as_str()).collect();
        let mixed = windowed(sources(&[root.join("call.wav")]).unwrap(), Cutting::Pauses(Pauses::new(30.0, None).unwrap()), |_| Downmix::Mean);
        assert_eq!(mixed.len(), 1, "mixed with the hum, the call has no pause");
        // split.csv at 30 dB: 7680-15360, 22528-29184, 36352-43200 samples of 16 kHz.
        assert_eq!(
            ids,
            [
                "talk_0.48-0.96",
                "talk_1.408-1.824",
                "talk_2.272-2.7",
                // From 1.0 s on: the second and third bursts, in the segment's seconds (its
                // own frames, from its own start: not the file's frame edges).
                "late_0.384-0.832",
                "late_1.28-1.7",
                "left_0.48-0.96",
                "left_1.408-1.824",
                "left_2.272-2.7",
            ]
        );
        let late = cut[3].1.as_ref().unwrap();
        let segment = late.segment.unwrap();
        assert!((segment.start - 1.384).abs() < 1e-9 && (segment.end.unwrap() - 1.832).abs() < 1e-9, "{segment:?}");
        assert_eq!(late.extra[windows::RECORDING], "late");
    }

    #[test]
    fn a_missing_path_or_an_empty_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.wav");
        let err = sources(std::slice::from_ref(&missing)).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: ", missing.display())), "{err}");
        let err = sources(&[dir.path().to_path_buf()]).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "folder `{}` holds no audio files (WAV, FLAC, MP3, Ogg Vorbis or AIFF)",
                dir.path().display()
            )
        );
    }
}
