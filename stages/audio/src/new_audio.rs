//! The recordings `vox predict` is given, as decode sources: audio files, folders of them and
//! tables (CSV or TSV) of them, each clip unlabeled and in no split. A file's clip id is its
//! name without the extension; a folder's files are identified by their paths inside it
//! (`speaker1/a` and `speaker2/a` stay apart); a table's rows as in a table corpus (its `id`
//! column, else the file name), with its segments (`start`/`end`). With `--window`, each of
//! them is a recording cut into window clips ([`windowed`]).

use std::path::{Path, PathBuf};

use vox_api::audio::Split;
use vox_api::windows::{self, Windows, window_id};

use crate::audio_file::{AudioBuffers, Segment};
use crate::corpus::Corpus;
use crate::error::AudioError;
use crate::sources::{Place, Source, Sources, audio_files};
use crate::table::{self, Columns, Paths};

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

/// Each source (a file, or a table row's segment of one) cut into `windows`: one source per
/// window, named `<id>_<start>-<end>` (seconds in the recording) and carrying the
/// [`vox_api::windows`] columns. A recording's length is known once its file is read, so each
/// file is read here once (its rows in a row, once) and again when decoded: cheap beside a
/// model's forward pass over it. A file that cannot be read, or a segment that starts past
/// its file's end, stays one source, for decode to report as it would without windows.
pub(crate) fn windowed(sources: Sources, windows: Windows) -> Sources {
    let mut buffers = AudioBuffers::default();
    let mut cut = Sources::with_capacity(sources.len());
    for (place, source) in sources {
        let Ok(source) = source else {
            cut.push((place, source));
            continue;
        };
        let (frames, rate) = match buffers.frames(Path::new(&source.file)) {
            Ok(frames) => frames,
            Err(e) => {
                cut.push((place, Err(e)));
                continue;
            }
        };
        let duration = frames as f64 / f64::from(rate);
        let start = source.segment.map_or(0.0, |s| s.start);
        let end = source.segment.and_then(|s| s.end).map_or(duration, |end| end.min(duration));
        if start >= duration {
            cut.push((place, Ok(source)));
            continue;
        }
        for (from, to) in windows.spans(end - start) {
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
        let cut = windowed(sources(&paths).unwrap(), Windows::new(4.0, None).unwrap());
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
