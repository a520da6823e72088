//! Signal-analysis figures of an audio set, one panel per emotion: the mean log-mel
//! spectrogram, the mean RMS energy envelope (± one standard deviation), and the waveform with
//! the log-mel spectrogram of one example clip.

use plotters::coord::Shift;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::types::RangedCoordi32;
use plotters::prelude::*;

use super::{
    CATEGORY_UNITS, COLOUR_BAR_WIDTH, ColourScale, DrawResult, Figure, GRID, SERIES, category_at,
    category_start, colour_bar, grid, text, titled, viridis,
};

/// A log-mel spectrogram ready to draw: time columns of band values in dB.
pub struct Spectrogram {
    /// `columns[c][band]`, dB.
    pub columns: Vec<Vec<f64>>,
    /// Seconds covered by one column.
    pub column_seconds: f64,
}

/// Shared axes and colour scale of the spectrogram panels of one figure.
pub struct SpectrogramScale {
    /// Centre frequency of each mel band, Hz (tick labels).
    pub band_hz: Vec<f64>,
    /// The dB values mapped to the ends of the colour map.
    pub range: (f64, f64),
}

impl Spectrogram {
    /// Seconds covered.
    fn seconds(&self) -> f64 {
        self.columns.len() as f64 * self.column_seconds
    }
}

/// Draws `spectrogram` in `area` over a time axis of `seconds`, titled `caption`.
fn spectrogram_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    spectrogram: &Spectrogram,
    scale: &SpectrogramScale,
    seconds: f64,
) -> DrawResult<DB> {
    let bands = scale.band_hz.len();
    let band_label = |v: &i32| {
        let hz = scale.band_hz.get(category_at(*v)).copied().unwrap_or(0.0);
        if hz < 1000.0 { format!("{hz:.0}") } else { format!("{:.1}k", hz / 1000.0) }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, text(16))
        .margin(8)
        .x_label_area_size(38)
        .y_label_area_size(58)
        .build_cartesian_2d(0.0..seconds.max(f64::EPSILON), band_axis(bands))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(5)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&band_label)
        .x_desc("time (s)")
        .y_desc("Hz (mel)")
        .label_style(text(14))
        .axis_desc_style(text(15))
        .draw()?;
    let (low, high) = scale.range;
    let span = (high - low).max(f64::EPSILON);
    let step = spectrogram.column_seconds;
    chart.draw_series(spectrogram.columns.iter().enumerate().flat_map(|(c, column)| {
        column.iter().enumerate().map(move |(b, &db)| {
            let x = c as f64 * step;
            let y = category_start(b);
            Rectangle::new([(x, y), (x + step, y + CATEGORY_UNITS)], viridis((db - low) / span).filled())
        })
    }))?;
    Ok(())
}

/// A mel-band axis of `bands` categories with a tick at every tenth band.
fn band_axis(bands: usize) -> WithKeyPoints<RangedCoordi32> {
    let ticks = (0..bands).step_by(10).map(|b| category_start(b) + CATEGORY_UNITS / 2).collect();
    (0..category_start(bands)).with_key_points(ticks)
}

/// The dB range that spans the loudest value and at most 80 dB below it.
pub fn decibel_range<'a>(spectrograms: impl IntoIterator<Item = &'a Spectrogram>) -> (f64, f64) {
    let (low, high) = spectrograms
        .into_iter()
        .flat_map(|s| s.columns.iter().flatten())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if high.is_finite() { (low.max(high - 80.0), high) } else { (-100.0, 0.0) }
}

/// Splits `root` (after its title) into the panel area and the colour-bar strip, draws the bar.
fn with_colour_bar<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    scale: &SpectrogramScale,
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let body = titled(root, title)?;
    let (width, _) = body.dim_in_pixel();
    let (panels, bar) = body.split_horizontally(width - COLOUR_BAR_WIDTH);
    let colours = ColourScale { range: scale.range, label: "power (dB)", counts: false, colour: viridis };
    colour_bar(&bar, &colours, (40, 60))?;
    Ok(panels)
}

/// Per-emotion mean log-mel spectrograms.
pub struct LogMelFigure {
    /// The title line.
    pub title: String,
    /// Each emotion with its clip count and mean spectrogram.
    pub panels: Vec<(String, usize, Spectrogram)>,
    /// Axes and colours.
    pub scale: SpectrogramScale,
}

impl Figure for LogMelFigure {
    fn size(&self) -> (u32, u32) {
        (1700, 850)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let panels = with_colour_bar(root, &self.title, &self.scale)?;
        // One time axis for all panels, so that they compare at a glance.
        let seconds = self.panels.iter().map(|(_, _, s)| s.seconds()).fold(f64::EPSILON, f64::max);
        for (area, (emotion, clips, spectrogram)) in grid(&panels, self.panels.len()).iter().zip(&self.panels)
        {
            let caption = format!("{emotion} (n={clips})");
            spectrogram_panel(area, &caption, spectrogram, &self.scale, seconds)?;
        }
        Ok(())
    }
}

/// One emotion's mean RMS envelope.
pub struct EnergyPanel {
    /// The class, as people read it (RAVDESS: the emotion name).
    pub emotion: String,
    /// Clips averaged.
    pub clips: usize,
    /// Mean RMS per frame.
    pub mean: Vec<f64>,
    /// Standard deviation of RMS per frame.
    pub std: Vec<f64>,
}

/// Per-emotion mean energy envelopes on shared axes.
pub struct EnergyFigure {
    /// The title line.
    pub title: String,
    /// One panel per emotion.
    pub panels: Vec<EnergyPanel>,
    /// Seconds between frames.
    pub hop_seconds: f64,
}

impl Figure for EnergyFigure {
    fn size(&self) -> (u32, u32) {
        (1600, 800)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = titled(root, &self.title)?;
        let frames = self.panels.iter().map(|p| p.mean.len()).max().unwrap_or(1);
        let seconds = (frames as f64 * self.hop_seconds).max(f64::EPSILON);
        let top = self
            .panels
            .iter()
            .flat_map(|p| p.mean.iter().zip(&p.std).map(|(m, s)| m + s))
            .fold(0.0, f64::max);
        let top = if top > 0.0 { top * 1.1 } else { 1.0 };
        for (area, panel) in grid(&body, self.panels.len()).iter().zip(&self.panels) {
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{} (n={})", panel.emotion, panel.clips), text(16))
                .margin(10)
                .x_label_area_size(38)
                .y_label_area_size(58)
                .build_cartesian_2d(0.0..seconds, 0.0..top)?;
            chart
                .configure_mesh()
                .light_line_style(WHITE)
                .bold_line_style(GRID)
                .x_labels(5)
                .y_labels(5)
                .x_label_formatter(&|v| format!("{v:.1}"))
                .y_label_formatter(&|v| format!("{v:.2}"))
                .x_desc("time (s)")
                .y_desc("RMS")
                .label_style(text(14))
                .axis_desc_style(text(15))
                .draw()?;
            let time = |t: usize| t as f64 * self.hop_seconds;
            let upper = panel.mean.iter().zip(&panel.std).enumerate().map(|(t, (m, s))| (time(t), m + s));
            let lower = panel
                .mean
                .iter()
                .zip(&panel.std)
                .enumerate()
                .rev()
                .map(|(t, (m, s))| (time(t), (m - s).max(0.0)));
            chart.draw_series(std::iter::once(Polygon::new(
                upper.chain(lower).collect::<Vec<_>>(),
                SERIES[0].mix(0.25).filled(),
            )))?;
            chart.draw_series(LineSeries::new(
                panel.mean.iter().enumerate().map(|(t, m)| (time(t), *m)),
                SERIES[0].stroke_width(2),
            ))?;
        }
        Ok(())
    }
}

/// One example clip of an emotion.
pub struct Example {
    /// The class, as people read it (RAVDESS: the emotion name).
    pub emotion: String,
    /// The clip's id.
    pub file_id: String,
    /// Minimum and maximum sample per waveform column.
    pub envelope: Vec<(f32, f32)>,
    /// Seconds covered by one waveform column.
    pub envelope_seconds: f64,
    /// The clip's log-mel spectrogram.
    pub spectrogram: Spectrogram,
}

/// Waveform and spectrogram of one example clip per emotion.
pub struct ExamplesFigure {
    /// The title line.
    pub title: String,
    /// One example per emotion.
    pub examples: Vec<Example>,
    /// Axes and colours of the spectrograms.
    pub scale: SpectrogramScale,
}

impl ExamplesFigure {
    /// Draws the waveform of `example` in `area`.
    fn waveform<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        example: &Example,
    ) -> DrawResult<DB> {
        let seconds = (example.envelope.len() as f64 * example.envelope_seconds).max(f64::EPSILON);
        let peak = example.envelope.iter().map(|(lo, hi)| lo.abs().max(hi.abs())).fold(0.0f32, f32::max);
        let peak = if peak > 0.0 { f64::from(peak) * 1.05 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{}: {}", example.emotion, example.file_id), text(15))
            .margin(8)
            .x_label_area_size(22)
            .y_label_area_size(58)
            .build_cartesian_2d(0.0..seconds, -peak..peak)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .x_labels(5)
            .y_labels(3)
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .y_desc("amplitude")
            .label_style(text(14))
            .axis_desc_style(text(15))
            .draw()?;
        let time = |c: usize| c as f64 * example.envelope_seconds;
        let upper = example.envelope.iter().enumerate().map(|(c, (_, hi))| (time(c), f64::from(*hi)));
        let lower = example.envelope.iter().enumerate().rev().map(|(c, (lo, _))| (time(c), f64::from(*lo)));
        chart.draw_series(std::iter::once(Polygon::new(
            upper.chain(lower).collect::<Vec<_>>(),
            SERIES[0].filled(),
        )))?;
        Ok(())
    }
}

impl Figure for ExamplesFigure {
    fn size(&self) -> (u32, u32) {
        (1700, 1000)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let panels = with_colour_bar(root, &self.title, &self.scale)?;
        for (area, example) in grid(&panels, self.examples.len()).iter().zip(&self.examples) {
            let (_, height) = area.dim_in_pixel();
            let (top, bottom) = area.split_vertically(height * 2 / 5);
            self.waveform(&top, example)?;
            let spectrogram = &example.spectrogram;
            spectrogram_panel(
                &bottom,
                "log-mel spectrogram",
                spectrogram,
                &self.scale,
                spectrogram.seconds(),
            )?;
        }
        Ok(())
    }
}
