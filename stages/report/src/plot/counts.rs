//! A bar chart of how many clips were predicted as each class, counts written above the bars.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    CATEGORY_UNITS, DrawResult, Figure, GRID, SERIES, category_at, category_axis, category_start, text,
    titled,
};

/// Predicted-class counts to draw.
pub struct CountsFigure {
    /// The title line.
    pub title: String,
    /// Each class (as people read it) with its count, in axis order.
    pub counts: Vec<(String, u64)>,
}

impl Figure for CountsFigure {
    fn size(&self) -> (u32, u32) {
        (900, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = titled(root, &self.title)?;
        let n = self.counts.len();
        let max = self.counts.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1);
        // Head room above the tallest bar for its count.
        let top = max + max.div_ceil(8);
        let name = |v: &i32| self.counts.get(category_at(*v)).map_or("", |(class, _)| class.as_str()).to_string();
        let mut chart = ChartBuilder::on(&body)
            .margin(20)
            .x_label_area_size(65)
            .y_label_area_size(80)
            .build_cartesian_2d(category_axis(n), 0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .y_labels((top as usize + 1).min(10))
            .x_label_formatter(&name)
            .x_desc("predicted class")
            .y_desc("clips")
            .label_style(text(17))
            .axis_desc_style(text(19))
            .draw()?;
        let bars = self.counts.iter().enumerate().map(|(i, (_, c))| (category_start(i), *c));
        let (inset, half) = (CATEGORY_UNITS * 3 / 20, CATEGORY_UNITS / 2);
        chart.draw_series(bars.clone().map(|(x, c)| {
            Rectangle::new([(x + inset, 0), (x + CATEGORY_UNITS - inset, c)], SERIES[0].filled())
        }))?;
        let above = text(17).pos(Pos::new(HPos::Center, VPos::Bottom));
        chart.draw_series(bars.map(|(x, c)| {
            EmptyElement::at((x + half, c)) + Text::new(c.to_string(), (0, -5), above.clone())
        }))?;
        Ok(())
    }
}
