//! Each model's score in each group of a `by` column, as a dot plot: a row per group (in the
//! table's natural order, top to bottom), a dot per model in its colour, a legend of the
//! models. Rows rather than bars, so that several models share a row and a group's spread
//! reads at a glance: how far each model falls from `clean` to `noise 0 dB`, which speakers
//! every model fails.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{DrawResult, Figure, GRID, TAB10, row_chart, row_y, text, titled};

/// The most groups drawn: beyond, rows would be too thin to read (the table has them all).
pub const MAX_GROUPS: usize = 60;

/// One model's scores.
pub struct GroupSeries {
    /// The model's name.
    pub model: String,
    /// Its score in each group, aligned with [`GroupsFigure::groups`]; `None` where it scored
    /// no clip of the group.
    pub values: Vec<Option<f64>>,
}

/// Scores by group of one column.
pub struct GroupsFigure {
    /// The title line.
    pub title: String,
    /// The metric, the x-axis label.
    pub metric: String,
    /// The groups, top to bottom.
    pub groups: Vec<String>,
    /// Each model's scores, in legend order.
    pub series: Vec<GroupSeries>,
}

impl Figure for GroupsFigure {
    fn size(&self) -> (u32, u32) {
        (1100, 170 + 34 * self.groups.len().max(1) as u32 + 24 * self.series.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = titled(root, &self.title)?;
        // The legend sits below the rows: a line per model.
        let (_, height) = body.dim_in_pixel();
        let legend_height = 24 * self.series.len() as u32 + 16;
        let (plot, legend) = body.split_vertically(height.saturating_sub(legend_height));
        let labels: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        let mut chart = row_chart(&plot, &labels, 0.0..1.0, 420, &self.metric)?;
        let row = |i: usize| row_y(self.groups.len(), i);
        chart.draw_series(
            (0..self.groups.len()).map(|i| PathElement::new(vec![(0.0, row(i)), (1.0, row(i))], GRID.stroke_width(1))),
        )?;
        for (k, series) in self.series.iter().enumerate() {
            let colour = TAB10[k % TAB10.len()];
            let points = series.values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (v, row(i))));
            chart.draw_series(points.map(|p| Circle::new(p, 6, colour.filled())))?;
        }
        let legend = legend.margin(0, 0, 40, 0);
        for (k, series) in self.series.iter().enumerate() {
            let y = 12 + 24 * k as i32;
            let colour = TAB10[k % TAB10.len()];
            legend.draw(&Circle::new((8, y), 6, colour.filled()))?;
            legend.draw(&Text::new(series.model.clone(), (24, y), text(16).pos(Pos::new(HPos::Left, VPos::Center))))?;
        }
        Ok(())
    }
}
