//! The confusion-matrix heat map: true classes down, predicted classes across, every cell
//! annotated with its value, a colour bar beside it.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    CATEGORY_UNITS, COLOUR_BAR_WIDTH, ColourScale, DrawResult, Figure, blues, category_at, category_axis,
    category_start, centred_text, colour_bar, contrast_text, text, titled,
};

/// What the cells hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cells {
    /// Clip counts.
    Counts,
    /// Fractions of each true class (rows sum to 1).
    RowFractions,
}

/// A confusion matrix to draw.
pub struct ConfusionFigure<'a> {
    /// The title line.
    pub title: String,
    /// Row and column classes, as people read them (RAVDESS: the emotion names).
    pub classes: &'a [String],
    /// `values[t][p]`, as counts or fractions.
    pub values: Vec<Vec<f64>>,
    /// What the values are.
    pub cells: Cells,
}

/// Pixels below the plot for the tick labels and the axis name.
const X_LABEL_AREA: u32 = 70;
/// Margin around the plot.
const MARGIN: u32 = 15;

impl ConfusionFigure<'_> {
    /// The top of the colour scale: 1 for fractions, the largest count (at least 1) for counts.
    fn scale_max(&self) -> f64 {
        match self.cells {
            Cells::RowFractions => 1.0,
            Cells::Counts => self.values.iter().flatten().copied().fold(1.0, f64::max),
        }
    }

    /// A cell's annotation.
    fn annotation(&self, value: f64) -> String {
        match self.cells {
            Cells::Counts => format!("{value:.0}"),
            Cells::RowFractions => format!("{value:.2}"),
        }
    }
}

impl Figure for ConfusionFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 800)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = titled(root, &self.title)?;
        let (width, _) = body.dim_in_pixel();
        let (matrix, bar) = body.split_horizontally(width - COLOUR_BAR_WIDTH);
        let n = self.classes.len();
        // Row t of the matrix is drawn as category n - 1 - t, so the first class is at the top.
        let name = |category: usize| self.classes.get(category).cloned().unwrap_or_default();
        let x_name = |v: &i32| name(category_at(*v));
        let y_name = |v: &i32| name(n.saturating_sub(1 + category_at(*v)));
        let mut chart = ChartBuilder::on(&matrix)
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(120)
            .build_cartesian_2d(category_axis(n), category_axis(n))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_label_formatter(&x_name)
            .y_label_formatter(&y_name)
            .x_desc("predicted")
            .y_desc("true")
            .label_style(text(18))
            .axis_desc_style(text(20))
            .draw()?;
        let max = self.scale_max();
        let cells = self.values.iter().enumerate().flat_map(|(t, row)| {
            row.iter().enumerate().map(move |(p, &v)| (category_start(p), category_start(n - 1 - t), v))
        });
        chart.draw_series(cells.clone().map(|(x, y, v)| {
            Rectangle::new([(x, y), (x + CATEGORY_UNITS, y + CATEGORY_UNITS)], blues(v / max).filled())
        }))?;
        let font = if n > 6 { 19 } else { 24 };
        let half = CATEGORY_UNITS / 2;
        chart.draw_series(cells.map(|(x, y, v)| {
            let colour = contrast_text(blues(v / max));
            Text::new(self.annotation(v), (x + half, y + half), centred_text(font, colour))
        }))?;
        let scale = ColourScale {
            range: (0.0, max),
            label: match self.cells {
                Cells::Counts => "clips",
                Cells::RowFractions => "fraction of true class",
            },
            counts: self.cells == Cells::Counts,
            colour: blues,
        };
        colour_bar(&bar, &scale, (MARGIN, MARGIN + X_LABEL_AREA))
    }
}
