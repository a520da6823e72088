//! Estimates against ratings, one panel per dimension: each rated clip a dot at (rating,
//! estimate), the identity line where perfect estimates would lie, the panel's CCC in its
//! caption. What `evaluate` draws for a model of emotion dimensions (`estimates.png`).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{DrawResult, Figure, GRID, SERIES, text, titled};

/// One dimension's points.
pub struct Panel {
    /// The dimension.
    pub dimension: String,
    /// (rating, estimate) per rated clip.
    pub pairs: Vec<(f64, f64)>,
    /// Their concordance correlation coefficient.
    pub ccc: f64,
}

/// A model's estimates on the scored split.
pub struct ScatterFigure {
    /// The title line.
    pub title: String,
    /// One panel per dimension, in the model's order.
    pub panels: Vec<Panel>,
}

/// The same range on both axes: every rating and estimate, padded.
fn range(pairs: &[(f64, f64)]) -> std::ops::Range<f64> {
    super::padded_range(pairs.iter().flat_map(|&(t, p)| [t, p]))
}

impl Figure for ScatterFigure {
    fn size(&self) -> (u32, u32) {
        (440 * self.panels.len().max(1) as u32, 500)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = titled(root, &self.title)?;
        let areas = body.split_evenly((1, self.panels.len().max(1)));
        for (area, panel) in areas.iter().zip(&self.panels) {
            let axis = range(&panel.pairs);
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{} (CCC {:.3})", panel.dimension, panel.ccc), text(20))
                .margin(15)
                .x_label_area_size(50)
                .y_label_area_size(60)
                .build_cartesian_2d(axis.clone(), axis.clone())?;
            chart
                .configure_mesh()
                .light_line_style(WHITE)
                .bold_line_style(GRID)
                .x_desc("rating")
                .y_desc("estimate")
                .label_style(text(15))
                .axis_desc_style(text(17))
                .draw()?;
            chart.draw_series(DashedLineSeries::new(vec![(axis.start, axis.start), (axis.end, axis.end)], 6, 4, BLACK.stroke_width(1)))?;
            chart.draw_series(panel.pairs.iter().map(|&p| Circle::new(p, 3, SERIES[0].mix(0.5).filled())))?;
        }
        Ok(())
    }
}
