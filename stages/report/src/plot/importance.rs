//! Feature importance figures: the most important features as horizontal bars (mean drop of the
//! metric when the feature is shuffled, the std over repeats as an error bar), and each class's
//! distribution of the top features as box plots (quartile box, median line, whiskers to the
//! minimum and maximum), one panel per feature.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{CATEGORY_UNITS, DrawResult, Figure, GRID, SERIES, category_at, category_axis, category_start, grid, text, titled};

/// Bars of the most important features, most important on top.
pub struct ImportanceFigure {
    /// The title line.
    pub title: String,
    /// The x axis: what the bars measure.
    pub measure: String,
    /// Each feature's name, mean and std, most important first.
    pub features: Vec<(String, f64, f64)>,
}

impl Figure for ImportanceFigure {
    fn size(&self) -> (u32, u32) {
        (1100, 160 + 34 * self.features.len().max(1) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = titled(root, &self.title)?;
        let n = self.features.len();
        let low = self.features.iter().map(|(_, m, s)| m - s).fold(0.0_f64, f64::min);
        let high = self.features.iter().map(|(_, m, s)| m + s).fold(0.0_f64, f64::max).max(1e-6);
        let pad = (high - low) * 0.05;
        // Row `i` from the top: category n - 1 - i on the y axis.
        let name = |v: &i32| {
            let row = category_at(*v);
            if row < n { self.features[n - 1 - row].0.clone() } else { String::new() }
        };
        let mut chart = ChartBuilder::on(&body)
            .margin(20)
            .x_label_area_size(60)
            .y_label_area_size(430)
            .build_cartesian_2d(low - pad..high + pad, category_axis(n))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .y_label_formatter(&name)
            .x_desc(self.measure.as_str())
            .label_style(text(15))
            .axis_desc_style(text(18))
            .draw()?;
        let inset = CATEGORY_UNITS / 5;
        for (i, (_, mean, std)) in self.features.iter().enumerate() {
            let y = category_start(n - 1 - i);
            chart.draw_series(std::iter::once(Rectangle::new([(0.0, y + inset), (*mean, y + CATEGORY_UNITS - inset)], SERIES[0].filled())))?;
            let middle = y + CATEGORY_UNITS / 2;
            let bar = BLACK.stroke_width(2);
            chart.draw_series(std::iter::once(PathElement::new(vec![(mean - std, middle), (mean + std, middle)], bar)))?;
            for end in [mean - std, mean + std] {
                chart.draw_series(std::iter::once(PathElement::new(vec![(end, middle - 3), (end, middle + 3)], bar)))?;
            }
        }
        chart.draw_series(std::iter::once(PathElement::new(vec![(0.0, 0), (0.0, category_start(n))], BLACK)))?;
        Ok(())
    }
}

/// One feature's box per class: `(class, [min, q1, median, q3, max])`.
pub type FeatureBoxes = (String, Vec<(String, [f64; 5])>);

/// Each class's distribution of each feature, one panel per feature.
pub struct DistributionsFigure {
    /// The title line.
    pub title: String,
    /// The features, most important first.
    pub features: Vec<FeatureBoxes>,
}

impl Figure for DistributionsFigure {
    fn size(&self) -> (u32, u32) {
        let n = self.features.len().max(1);
        let cols = n.clamp(1, 4) as u32;
        let rows = n.div_ceil(cols as usize) as u32;
        (380 * cols, 70 + 330 * rows)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = titled(root, &self.title)?;
        for (panel, (feature, boxes)) in grid(&body, self.features.len()).iter().zip(&self.features) {
            let low = boxes.iter().map(|(_, b)| b[0]).fold(f64::INFINITY, f64::min);
            let high = boxes.iter().map(|(_, b)| b[4]).fold(f64::NEG_INFINITY, f64::max);
            let pad = ((high - low) * 0.05).max(1e-9);
            let n = boxes.len();
            let name = |v: &i32| boxes.get(category_at(*v)).map_or(String::new(), |(c, _)| c.clone());
            let mut chart = ChartBuilder::on(panel)
                .margin(12)
                .caption(shorten(feature, 42), text(14))
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(category_axis(n), low - pad..high + pad)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(WHITE)
                .bold_line_style(GRID)
                .x_label_formatter(&name)
                .y_labels(5)
                .label_style(text(13))
                .draw()?;
            for (i, (_, [min, q1, median, q3, max])) in boxes.iter().enumerate() {
                let x = category_start(i);
                let (left, right, middle) = (x + CATEGORY_UNITS / 4, x + CATEGORY_UNITS * 3 / 4, x + CATEGORY_UNITS / 2);
                let colour = SERIES[i % SERIES.len()];
                chart.draw_series(std::iter::once(Rectangle::new([(left, *q1), (right, *q3)], colour.mix(0.35).filled())))?;
                chart.draw_series(std::iter::once(Rectangle::new([(left, *q1), (right, *q3)], colour.stroke_width(1))))?;
                let line = |points: Vec<(i32, f64)>, width| PathElement::new(points, colour.stroke_width(width));
                chart.draw_series([
                    line(vec![(left, *median), (right, *median)], 3),
                    line(vec![(middle, *q3), (middle, *max)], 1),
                    line(vec![(middle, *q1), (middle, *min)], 1),
                    line(vec![(middle - 2, *max), (middle + 2, *max)], 1),
                    line(vec![(middle - 2, *min), (middle + 2, *min)], 1),
                ])?;
            }
        }
        Ok(())
    }
}

/// `name`, or its first `max - 1` characters and an ellipsis.
fn shorten(name: &str, max: usize) -> String {
    if name.chars().count() <= max { name.to_string() } else { name.chars().take(max - 1).chain(['…']).collect() }
}
