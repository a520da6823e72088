//! A horizontal bar chart comparing one metric across experiment variants, mean with a
//! +/- one standard deviation whisker (over seeds) and the value written beside each bar.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{DrawResult, Figure, GRID, SERIES, text, titled};

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
        let n = self.bars.len().max(1) as f64;
        let top = self.bars.iter().map(|b| b.mean + b.std).fold(0.0_f64, f64::max).max(1.0);
        let longest = self.bars.iter().map(|b| b.label.chars().count()).max().unwrap_or(0) as u32;
        let mut chart = ChartBuilder::on(&body)
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size((longest * 9 + 20).clamp(80, 520))
            .build_cartesian_2d(0.0..top * 1.08, 0.0..n)?;
        let label = |y: &f64| {
            let i = (n - y - 0.5).round();
            if (n - y - 0.5 - i).abs() < 0.01 && i >= 0.0 {
                self.bars.get(i as usize).map_or(String::new(), |b| b.label.clone())
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .y_labels(self.bars.len() * 2 + 1)
            .y_label_formatter(&label)
            .x_desc(self.metric.as_str())
            .label_style(text(15))
            .axis_desc_style(text(18))
            .draw()?;
        let row = |i: usize| n - i as f64 - 0.5;
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
