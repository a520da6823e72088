//! A horizontal bar chart comparing one metric across experiment variants, mean with a
//! +/- one standard deviation whisker (over seeds) and the value written beside each bar.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{DrawResult, Figure, SERIES, row_chart, row_y, text, titled};

/// One bar: a variant's mean score and its spread.
pub struct Bar {
    /// The variant (and model) label.
    pub label: String,
    /// Mean over repetitions.
    pub mean: f64,
    /// Standard deviation over repetitions (0 for one).
    pub std: f64,
}

/// A metric compared across variants.
pub struct ComparisonFigure {
    /// The title line.
    pub title: String,
    /// The metric's name, the x-axis label.
    pub metric: String,
    /// The bars, top to bottom.
    pub bars: Vec<Bar>,
}

impl Figure for ComparisonFigure {
    fn size(&self) -> (u32, u32) {
        (1100, 160 + 48 * self.bars.len().max(1) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = titled(root, &self.title)?;
        let top = self.bars.iter().map(|b| b.mean + b.std).fold(0.0_f64, f64::max).max(1.0);
        let labels: Vec<&str> = self.bars.iter().map(|b| b.label.as_str()).collect();
        let mut chart = row_chart(&body, &labels, 0.0..top * 1.08, 520, &self.metric)?;
        let row = |i: usize| row_y(self.bars.len(), i);
        chart.draw_series(self.bars.iter().enumerate().map(|(i, b)| {
            Rectangle::new([(0.0, row(i) - 0.32), (b.mean, row(i) + 0.32)], SERIES[0].filled())
        }))?;
        chart.draw_series(self.bars.iter().enumerate().filter(|(_, b)| b.std > 0.0).map(|(i, b)| {
            PathElement::new(vec![(b.mean - b.std, row(i)), (b.mean + b.std, row(i))], BLACK.stroke_width(2))
        }))?;
        let beside = text(15).pos(Pos::new(HPos::Left, VPos::Center));
        chart.draw_series(self.bars.iter().enumerate().map(|(i, b)| {
            let value = if b.std > 0.0 { format!("{:.3} ± {:.3}", b.mean, b.std) } else { format!("{:.3}", b.mean) };
            EmptyElement::at((b.mean + b.std, row(i))) + Text::new(value, (6, 0), beside.clone())
        }))?;
        Ok(())
    }
}
