//! A reliability diagram: each confidence bin's accuracy as a bar against the diagonal of a
//! perfectly calibrated model (bars below it: over-confident), with each bin's mean confidence
//! marked, and below it how many clips each bin holds.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{DrawResult, Figure, GRID, SERIES, text, titled};
use crate::calibration::Bin;

/// A model's reliability table to draw.
pub struct ReliabilityFigure<'a> {
    /// The title line.
    pub title: String,
    /// The bins, in order.
    pub bins: &'a [Bin],
}

impl Figure for ReliabilityFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (800, 900)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = titled(root, &self.title)?;
        let (_, height) = body.dim_in_pixel();
        let (upper, lower) = body.split_vertically(height * 7 / 10);
        let mut chart = ChartBuilder::on(&upper)
            .margin(20)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .y_desc("accuracy")
            .label_style(text(16))
            .axis_desc_style(text(18))
            .draw()?;
        let filled = || self.bins.iter().filter_map(|b| Some((b, b.confidence?, b.accuracy?)));
        chart
            .draw_series(filled().map(|(b, _, accuracy)| Rectangle::new([(b.low, 0.0), (b.high, accuracy)], SERIES[0].mix(0.8).filled())))?
            .label("accuracy of the bin")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], SERIES[0].mix(0.8).filled()));
        // White edges keep neighbouring bars apart.
        chart.draw_series(filled().map(|(b, _, accuracy)| Rectangle::new([(b.low, 0.0), (b.high, accuracy)], WHITE.stroke_width(1))))?;
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.6).stroke_width(2)))?
            .label("perfectly calibrated")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.6).stroke_width(2)));
        chart
            .draw_series(filled().map(|(_, confidence, accuracy)| Circle::new((confidence, accuracy), 4, SERIES[3].filled())))?
            .label("mean confidence")
            .legend(|(x, y)| Circle::new((x + 10, y), 4, SERIES[3].filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(text(16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        let most = self.bins.iter().map(|b| b.clips).max().unwrap_or(0).max(1);
        let mut counts = ChartBuilder::on(&lower)
            .margin(20)
            .margin_top(0)
            .x_label_area_size(55)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..1.0, 0..most + most.div_ceil(8))?;
        counts
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .x_desc("confidence (probability of the predicted class)")
            .y_desc("clips")
            .y_labels(5)
            .label_style(text(16))
            .axis_desc_style(text(18))
            .draw()?;
        let used = || self.bins.iter().filter(|b| b.clips > 0);
        counts.draw_series(used().map(|b| Rectangle::new([(b.low, 0), (b.high, b.clips)], SERIES[0].mix(0.5).filled())))?;
        counts.draw_series(used().map(|b| Rectangle::new([(b.low, 0), (b.high, b.clips)], WHITE.stroke_width(1))))?;
        Ok(())
    }
}
