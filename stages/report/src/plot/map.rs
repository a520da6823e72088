//! A feature set's two maps side by side, principal components and t-SNE, each clip a dot in
//! its class's colour, with a legend of the classes (see `crate::projection`).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{DrawResult, Figure, GRID, TAB10, padded_range, text, titled};

/// The most groups a map names in a legend.
pub const MAX_LEGEND: usize = 12;

/// One panel: its caption and each clip's point.
pub struct MapPanel {
    /// The caption (the method and what it kept).
    pub caption: String,
    /// Each clip's coordinates, aligned with [`MapFigure::classes`].
    pub points: Vec<[f64; 2]>,
}

/// The maps of one feature set.
pub struct MapFigure<'a> {
    /// The title line.
    pub title: String,
    /// The class names (as people read them), in legend order.
    pub names: Vec<String>,
    /// Each clip's class, an index into `names`.
    pub classes: Vec<usize>,
    /// The panels, left to right (the same for every colouring).
    pub panels: &'a [MapPanel],
}

impl Figure for MapFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (620 * self.panels.len().max(1) as u32, 640)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = titled(root, &self.title)?;
        let areas = body.split_evenly((1, self.panels.len().max(1)));
        for (area, panel) in areas.iter().zip(self.panels) {
            let x = padded_range(panel.points.iter().map(|p| p[0]));
            let y = padded_range(panel.points.iter().map(|p| p[1]));
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.caption, text(19))
                .margin(15)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(x, y)?;
            chart.configure_mesh().light_line_style(WHITE).bold_line_style(GRID).label_style(text(14)).draw()?;
            // One series per class, so that the legend names it.
            for (c, name) in self.names.iter().enumerate() {
                let colour = TAB10[c % TAB10.len()];
                let points: Vec<[f64; 2]> =
                    panel.points.iter().zip(&self.classes).filter(|(_, k)| **k == c).map(|(p, _)| *p).collect();
                if points.is_empty() {
                    continue;
                }
                chart
                    .draw_series(points.into_iter().map(|p| Circle::new((p[0], p[1]), 3, colour.mix(0.75).filled())))?
                    .label(name.as_str())
                    .legend(move |(x, y)| Circle::new((x + 8, y), 4, colour.filled()));
            }
            // Past a dozen groups (speakers, say) a legend would cover the map and its colours
            // repeat anyway: the title says how many there are, map.csv which is which.
            if self.names.len() <= MAX_LEGEND {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .label_font(text(14))
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()?;
            }
        }
        Ok(())
    }
}
