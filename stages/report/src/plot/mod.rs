//! Figures drawn with plotters into PNG and SVG files.
//!
//! Text is rendered from DejaVu Sans, embedded in the binary (`assets/`, license beside it) and
//! registered with plotters' `ab_glyph` font table, so figures have text on headless machines
//! without fontconfig. PNG pixels come from plotters' bitmap backend and are encoded here with
//! the `png` crate (no timestamps or other metadata), SVG text from its SVG backend (which names
//! the family `sans-serif` and leaves the glyphs to the viewer); both are byte-identical for the
//! same data.

pub mod comparison;
pub mod confusion;
pub mod counts;
pub mod curves;
pub mod groups;
pub mod importance;
pub mod map;
pub mod reliability;
pub mod scatter;
pub mod signal;

use std::io::BufWriter;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::types::{RangedCoordf64, RangedCoordi32};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ReportError;

/// The embedded font's file name, for messages.
const FONT_FILE: &str = "DejaVuSans.ttf";
/// The embedded font.
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
/// The family name under which the embedded font is registered and used.
const FAMILY: &str = "sans-serif";

/// An image file format for figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ImageFormat {
    /// Portable Network Graphics, a bitmap.
    Png,
    /// Scalable Vector Graphics.
    Svg,
}

impl ImageFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Svg => "svg",
        }
    }
}

/// The result of drawing onto backend `DB`.
pub type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Something that draws itself on any plotters backend.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the whole figure on `root`, which has [`Figure::size`].
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

/// The characters of `texts` the embedded font has no glyph for (sorted, each once): a bitmap
/// figure draws them as empty boxes, where an SVG figure leaves them to the viewer's fonts.
/// DejaVu Sans covers Latin, Greek, Cyrillic and many symbols, but no CJK script.
pub fn undrawable<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<char> {
    use ab_glyph::Font;
    static PARSED: OnceLock<Option<ab_glyph::FontRef<'static>>> = OnceLock::new();
    let Some(font) = PARSED.get_or_init(|| ab_glyph::FontRef::try_from_slice(FONT).ok()) else { return Vec::new() };
    let missing: std::collections::BTreeSet<char> =
        texts.into_iter().flat_map(str::chars).filter(|c| !c.is_whitespace() && font.glyph_id(*c).0 == 0).collect();
    missing.into_iter().collect()
}

/// Warns, once per process for each set of `texts` (class names, say), when bitmap figures in
/// `formats` cannot draw some of their characters ([`undrawable`]): the PNG would show boxes
/// where a name is, with nothing else saying so.
pub fn warn_undrawable(what: &str, texts: &[String], formats: &[ImageFormat]) {
    if !formats.contains(&ImageFormat::Png) {
        return;
    }
    let missing = undrawable(texts.iter().map(String::as_str));
    if missing.is_empty() {
        return;
    }
    static WARNED: std::sync::Mutex<Vec<Vec<String>>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if warned.contains(&texts.to_vec()) {
        return;
    }
    warned.push(texts.to_vec());
    let names: Vec<&String> = texts.iter().filter(|t| t.chars().any(|c| missing.contains(&c))).collect();
    let chars: String = missing.iter().collect();
    tracing::warn!(
        "{what} {} have characters the figures' font ({FONT_FILE}) lacks ({chars}): the PNG figures show boxes for them; the SVG figures (`formats = [\"svg\"]`) and the tables name them",
        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
    );
}

/// Registers the embedded font once per process.
fn register_font() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok =
        *REGISTERED.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(ReportError::Font(FONT_FILE)) }
}

/// Draws `figure` into `dir/<stem>.<ext>` for each of `formats`.
pub fn save(
    figure: &impl Figure,
    dir: &Path,
    stem: &str,
    formats: &[ImageFormat],
) -> Result<(), ReportError> {
    register_font()?;
    let (width, height) = figure.size();
    for format in formats {
        let path = dir.join(format!("{stem}.{}", format.extension()));
        let plot_err = |source: Box<dyn std::error::Error + Send + Sync>| ReportError::Plot {
            path: path.clone(),
            source,
        };
        match format {
            ImageFormat::Png => {
                let mut pixels = vec![0u8; width as usize * height as usize * 3];
                {
                    let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
                    figure.draw(&root).map_err(|e| plot_err(Box::new(e)))?;
                    root.present().map_err(|e| plot_err(Box::new(e)))?;
                }
                write_png(&path, (width, height), &pixels)?;
            }
            ImageFormat::Svg => {
                let mut svg = String::new();
                {
                    let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
                    figure.draw(&root).map_err(|e| plot_err(Box::new(e)))?;
                    root.present().map_err(|e| plot_err(Box::new(e)))?;
                }
                std::fs::write(&path, svg).map_err(ReportError::io(&path))?;
            }
        }
    }
    Ok(())
}

/// Encodes 8-bit RGB `pixels` as a PNG file.
fn write_png(path: &Path, (width, height): (u32, u32), pixels: &[u8]) -> Result<(), ReportError> {
    let png_err = |source| ReportError::Png { path: path.to_path_buf(), source };
    let file = std::fs::File::create(path).map_err(ReportError::io(path))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Balanced);
    let mut writer = encoder.write_header().map_err(png_err)?;
    writer.write_image_data(pixels).map_err(png_err)?;
    writer.finish().map_err(png_err)
}

/// Paints `root` white, writes `title` at its top (in smaller type if it would not fit) and
/// returns the area below.
pub fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let room = root.dim_in_pixel().0.saturating_sub(30);
    let mut size = 24;
    while size > 12 && root.estimate_text_size(title, &text(size))?.0 > room {
        size -= 1;
    }
    let body = root.margin(10, 0, 0, 0).titled(title, text(size))?;
    Ok(body.margin(6, 0, 0, 0))
}

/// Text in the embedded font, `size` pixels high, black.
pub fn text(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

/// [`text`] centred on its position.
pub fn centred_text(size: u32, colour: RGBColor) -> TextStyle<'static> {
    TextStyle { color: colour.to_backend_color(), pos: Pos::new(HPos::Center, VPos::Center), ..text(size) }
}

/// Line colours for series drawn together (matplotlib's tab10 blue, orange, green, red).
pub const SERIES: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40)];

/// matplotlib's tab10, so that up to ten classes get colours people can tell apart.
pub const TAB10: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A chart of rows over a numeric x axis (see [`row_chart`]).
pub type RowChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart on `area` with a row per label, top to bottom, over `x`: the labels left of their
/// rows (in an area up to `label_width` pixels wide), `x_desc` under the x axis, the mesh
/// drawn. Row `i` sits at [`row_y`].
pub fn row_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    labels: &[&str],
    x: std::ops::Range<f64>,
    label_width: u32,
    x_desc: &str,
) -> Result<RowChart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let n = labels.len().max(1) as f64;
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
    let mut chart = ChartBuilder::on(area)
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size((longest * 9 + 20).clamp(80, label_width))
        .build_cartesian_2d(x, 0.0..n)?;
    // A label at each row's centre; the ticks between rows stay blank.
    let label = |y: &f64| {
        let i = (n - y - 0.5).round();
        if (n - y - 0.5 - i).abs() < 0.01 && i >= 0.0 {
            labels.get(i as usize).map_or(String::new(), |l| l.to_string())
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .y_labels(labels.len() * 2 + 1)
        .y_label_formatter(&label)
        .x_desc(x_desc)
        .label_style(text(15))
        .axis_desc_style(text(18))
        .draw()?;
    Ok(chart)
}

/// The y coordinate of row `i` of a [`row_chart`] of `rows` rows.
pub fn row_y(rows: usize, i: usize) -> f64 {
    rows.max(1) as f64 - i as f64 - 0.5
}

/// An axis range over `values`, padded by 5% on each side (at least 1e-6, so that one value
/// still gets an axis); `0..1` without values.
pub fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    if !low.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((high - low) * 0.05).max(1e-6);
    low - pad..high + pad
}

/// Light grey for grid lines.
pub const GRID: RGBColor = RGBColor(225, 225, 225);

/// matplotlib's sequential `Blues` map at `t` in `[0, 1]` (white to dark blue), for counts.
pub fn blues(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (247, 251, 255),
        (222, 235, 247),
        (198, 219, 239),
        (158, 202, 225),
        (107, 174, 214),
        (66, 146, 198),
        (33, 113, 181),
        (8, 81, 156),
        (8, 48, 107),
    ];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The viridis map at `t` in `[0, 1]`, for spectrograms.
pub fn viridis(t: f64) -> RGBColor {
    ViridisRGB::get_color(t.clamp(0.0, 1.0))
}

/// Black or white, whichever reads better on `background`.
pub fn contrast_text(background: RGBColor) -> RGBColor {
    let RGBColor(r, g, b) = background;
    let luminance = 0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64;
    if luminance < 140.0 { WHITE } else { BLACK }
}

/// Width of a [`colour_bar`] strip, pixels.
pub const COLOUR_BAR_WIDTH: u32 = 130;

/// A colour scale: the values at its ends, its name, and whether its values are counts.
pub struct ColourScale<'a> {
    /// Values at the bottom and top.
    pub range: (f64, f64),
    /// What the values are.
    pub label: &'a str,
    /// Integer tick labels (counts) rather than decimals.
    pub counts: bool,
    /// Colour of a position in `[0, 1]`.
    pub colour: fn(f64) -> RGBColor,
}

/// Draws `scale` as a vertical colour bar in `area` ([`COLOUR_BAR_WIDTH`] wide); `top` and
/// `bottom` are the pixel margins that align it with the plot beside it.
pub fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    scale: &ColourScale,
    (top, bottom): (u32, u32),
) -> DrawResult<DB> {
    const STEPS: usize = 128;
    let (min, max) = scale.range;
    let colour = scale.colour;
    let ticks = if scale.counts { (max - min).round() as usize + 1 } else { 6 };
    let tick_label = |v: &f64| if scale.counts { format!("{v:.0}") } else { format!("{v:.1}") };
    let mut chart = ChartBuilder::on(area)
        .margin_top(top)
        .margin_bottom(bottom)
        .margin_left(6)
        .margin_right(6)
        .right_y_label_area_size(COLOUR_BAR_WIDTH - 40)
        .build_cartesian_2d(0.0..1.0, min..max)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .set_all_tick_mark_size(6)
        .y_labels(ticks.min(6))
        .y_label_formatter(&tick_label)
        .y_desc(scale.label)
        .label_style(text(16))
        .axis_desc_style(text(17))
        .draw()?;
    let step = (max - min) / STEPS as f64;
    chart.draw_series((0..STEPS).map(move |k| {
        let low = min + step * k as f64;
        Rectangle::new([(0.0, low), (1.0, low + step)], colour((k as f64 + 0.5) / STEPS as f64).filled())
    }))?;
    chart.plotting_area().draw(&Rectangle::new([(0.0, min), (1.0, max)], BLACK))?;
    Ok(())
}

/// Axis units per category of a [`category_axis`] (integer coordinates, since plotters formats
/// tick labels at custom key points only on integer axes).
pub const CATEGORY_UNITS: i32 = 20;

/// An axis of `n` categories, each [`CATEGORY_UNITS`] wide, with a tick at each centre.
pub fn category_axis(n: usize) -> WithKeyPoints<RangedCoordi32> {
    let centres = (0..n).map(|i| category_start(i) + CATEGORY_UNITS / 2).collect();
    (0..category_start(n)).with_key_points(centres)
}

/// Where category `i` begins on a [`category_axis`].
pub fn category_start(i: usize) -> i32 {
    i as i32 * CATEGORY_UNITS
}

/// The category at axis value `v`.
pub fn category_at(v: i32) -> usize {
    (v.max(0) / CATEGORY_UNITS) as usize
}

/// Splits `area` into a grid of at most four columns and returns the first `n` cells.
pub fn grid<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, n: usize) -> Vec<DrawingArea<DB, Shift>> {
    let cols = n.clamp(1, 4);
    let rows = n.div_ceil(cols).max(1);
    area.split_evenly((rows, cols)).into_iter().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_maps_hit_their_end_points() {
        assert_eq!(blues(0.0), RGBColor(247, 251, 255));
        assert_eq!(blues(1.0), RGBColor(8, 48, 107));
        assert_eq!(blues(0.0625), RGBColor(235, 243, 251), "half way between the first two stops");
        assert_eq!(blues(7.0), blues(1.0), "clamped");
        assert_eq!(contrast_text(blues(0.0)), BLACK);
        assert_eq!(contrast_text(blues(1.0)), WHITE);
        assert_eq!(contrast_text(viridis(0.0)), WHITE, "viridis starts dark purple");
        assert_eq!(contrast_text(viridis(1.0)), BLACK, "and ends light yellow");
    }

    #[test]
    fn the_font_draws_latin_greek_and_cyrillic_but_no_cjk() {
        assert!(undrawable(["neutral", "Ärger", "ευτυχία", "гнев", "p < 0.05 ± 1"]).is_empty());
        assert_eq!(undrawable(["中立", "喜び", "neutral", "中 立"]), ['び', '中', '喜', '立']);
    }

    #[test]
    fn grid_has_at_most_four_columns() {
        let mut pixels = vec![0u8; 400 * 200 * 3];
        let root = BitMapBackend::with_buffer(&mut pixels, (400, 200)).into_drawing_area();
        let cells = grid(&root, 6);
        assert_eq!(cells.len(), 6);
        assert_eq!(cells[0].dim_in_pixel(), (100, 100));
        assert_eq!(grid(&root, 2)[1].dim_in_pixel(), (200, 200));
    }
}
