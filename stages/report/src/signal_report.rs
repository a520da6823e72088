//! The signal-analysis figures of an audio-set input, under `report/<input>/`:
//! `signal_logmel` (per-class mean log-mel spectrogram), `signal_energy` (per-class mean RMS
//! envelope ± one standard deviation) and `signal_examples` (waveform and log-mel spectrogram of
//! the first clip of each class in manifest order); panels follow the label set's order and are
//! named by the classes' descriptions (RAVDESS: the emotion names).
//!
//! Only labelled clips count, as recorded: copies under a `condition` (`degrade`'s) are left
//! out, so that a class's mean is its recordings', not a blur of its noisy copies. Frame `t` of a class's mean averages its clips that reach it,
//! up to the last frame that most of them reach (see [`FrameStats`]). Clips are analysed in parallel in fixed-size
//! batches and summed in manifest order, so the figures are deterministic and memory stays
//! bounded on large corpora.

use std::path::Path;

use rayon::prelude::*;
use tracing::{debug, info, warn};
use vox_api::audio::{AudioSet, Clip};
use vox_api::{Input, StageContext};

use crate::error::ReportError;
use crate::files::create_dir;
use crate::plot::signal::{
    EnergyFigure, EnergyPanel, Example, ExamplesFigure, LogMelFigure, Spectrogram, SpectrogramScale,
    decibel_range,
};
use crate::plot::{self, ImageFormat};
use crate::signal::{Analysis, Analyzer, FrameStats, MEL_BANDS, envelope, pool};

/// Clips analysed in parallel before their sums are folded in.
const BATCH: usize = 64;
/// Time columns of a drawn spectrogram (more frames are averaged down).
const SPECTROGRAM_COLUMNS: usize = 64;
/// Columns of a drawn waveform.
const WAVEFORM_COLUMNS: usize = 400;

/// Running sums of one class.
struct ClassStats {
    clips: usize,
    log_mel: FrameStats,
    rms: FrameStats,
    example: Option<Example>,
}

/// Draws the signal-analysis figures of the audio set `input` into `report_dir/<input>/`.
pub fn draw(
    input: &Input,
    ctx: &StageContext,
    report_dir: &Path,
    formats: &[ImageFormat],
) -> Result<(), ReportError> {
    let set = AudioSet::read(&input.dir)?;
    let labelled: Vec<(&Clip, usize)> = set
        .clips
        .iter()
        .filter(|c| vox_api::audio::is_clean(c))
        .filter_map(|c| Some((c, set.labels.index_of(c.label.as_deref()?)?)))
        .collect();
    let copies = set.clips.iter().filter(|c| !vox_api::audio::is_clean(c)).count();
    if copies > 0 {
        info!("audio input `{}`: signal figures of its clips as recorded ({copies} copies under a `condition` left out)", input.name);
    }
    let Some(&(first, _)) = labelled.first() else {
        warn!("audio input `{}` has no labelled clips: no signal figures", input.name);
        return Ok(());
    };
    if let Some(&(clip, _)) = labelled.iter().find(|(c, _)| c.sample_rate != first.sample_rate) {
        return Err(ReportError::MixedSampleRates {
            input: input.name.clone(),
            file_id: clip.file_id.clone(),
            found: clip.sample_rate,
            expected: first.sample_rate,
        });
    }
    let analyzer = Analyzer::new(first.sample_rate);
    let horizon = labelled.iter().map(|(c, _)| analyzer.frames(c.length as usize)).max().unwrap_or(1);
    let mut stats: Vec<Option<ClassStats>> = (0..set.labels.len()).map(|_| None).collect();
    let bar = ctx.progress_bar(labelled.len() as u64, "spectra");
    for batch in labelled.chunks(BATCH) {
        let analyses = batch
            .par_iter()
            .map(|(clip, _)| {
                let analysis = analyzer.analyze(set.samples_of(clip));
                bar.inc(1);
                analysis
            })
            .collect::<Result<Vec<Analysis>, _>>()?;
        for ((clip, class), analysis) in batch.iter().zip(analyses) {
            let entry = stats[*class].get_or_insert_with(|| ClassStats {
                clips: 0,
                log_mel: FrameStats::new(horizon, MEL_BANDS),
                rms: FrameStats::new(horizon, 1),
                example: None,
            });
            entry.clips += 1;
            entry.log_mel.add(&analysis.log_mel);
            entry.rms.add(analysis.rms.iter().map(std::slice::from_ref));
            if entry.example.is_none() {
                let name = set.labels.description(*class).to_string();
                entry.example = Some(example(&analyzer, name, clip, set.samples_of(clip), &analysis));
            }
        }
    }
    bar.finish_and_clear();
    let present: Vec<(String, ClassStats)> = stats
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (set.labels.description(i).to_string(), s)))
        .collect();
    let dir = report_dir.join(&input.name);
    create_dir(&dir)?;
    let hop = analyzer.hop_seconds();
    let band_hz: Vec<f64> = (0..MEL_BANDS).map(|b| analyzer.band_centre_hz(b)).collect();

    let means: Vec<(String, usize, Spectrogram)> =
        present.iter().map(|(e, s)| (e.clone(), s.clips, spectrogram(&s.log_mel.mean(), hop))).collect();
    let scale =
        SpectrogramScale { band_hz: band_hz.clone(), range: decibel_range(means.iter().map(|m| &m.2)) };
    let title =
        format!("{}: mean log-mel spectrogram per class ({} labelled clips)", input.name, labelled.len());
    plot::save(&LogMelFigure { title, panels: means, scale }, &dir, "signal_logmel", formats)?;

    let panels = present
        .iter()
        .map(|(emotion, s)| EnergyPanel {
            emotion: emotion.clone(),
            clips: s.clips,
            mean: s.rms.mean().into_iter().map(|v| v[0]).collect(),
            std: s.rms.std().into_iter().map(|v| v[0]).collect(),
        })
        .collect();
    let title = format!("{}: mean RMS energy envelope per class (± 1 std)", input.name);
    plot::save(&EnergyFigure { title, panels, hop_seconds: hop }, &dir, "signal_energy", formats)?;

    let examples: Vec<Example> = present.into_iter().filter_map(|(_, s)| s.example).collect();
    let scale = SpectrogramScale { band_hz, range: decibel_range(examples.iter().map(|e| &e.spectrogram)) };
    let title = format!("{}: one example clip per class", input.name);
    plot::save(&ExamplesFigure { title, examples, scale }, &dir, "signal_examples", formats)?;
    debug!(
        "audio input `{}`: signal figures of {} clips, horizon {horizon} frames",
        input.name,
        labelled.len()
    );
    Ok(())
}

/// A spectrogram of `frames` thinned to at most [`SPECTROGRAM_COLUMNS`] columns.
fn spectrogram(frames: &[Vec<f64>], hop_seconds: f64) -> Spectrogram {
    let per_column = frames.len().div_ceil(SPECTROGRAM_COLUMNS).max(1);
    Spectrogram {
        columns: pool(frames, SPECTROGRAM_COLUMNS),
        column_seconds: hop_seconds * per_column as f64,
    }
}

/// The example panel of `clip`.
fn example(
    analyzer: &Analyzer,
    emotion: String,
    clip: &Clip,
    samples: &[f32],
    analysis: &Analysis,
) -> Example {
    let per_column = samples.len().div_ceil(WAVEFORM_COLUMNS).max(1);
    Example {
        emotion,
        file_id: clip.file_id.clone(),
        envelope: envelope(samples, WAVEFORM_COLUMNS),
        envelope_seconds: per_column as f64 / f64::from(analyzer.sample_rate().max(1)),
        spectrogram: spectrogram(&analysis.log_mel, analyzer.hop_seconds()),
    }
}
