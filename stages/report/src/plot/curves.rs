//! Training curves from `history.csv`: loss on the left, accuracy and macro-F1 on the right,
//! one line per series with markers at each epoch and a legend.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::prelude::*;
use vox_api::predictions::Epoch;

use super::{DrawResult, Figure, GRID, SERIES, text, titled};

/// The training history of one model.
pub struct CurvesFigure<'a> {
    /// The title line.
    pub title: String,
    /// Epochs in order.
    pub epochs: &'a [Epoch],
}

/// One line of a panel: its legend text, colour and value per epoch.
struct Series {
    label: &'static str,
    colour: RGBColor,
    value: fn(&Epoch) -> f64,
}

impl CurvesFigure<'_> {
    /// The epoch axis, padded by half an epoch on each side.
    fn epoch_range(&self) -> Range<f64> {
        let first = self.epochs.first().map_or(1, |e| e.epoch) as f64;
        let last = self.epochs.last().map_or(1, |e| e.epoch) as f64;
        first - 0.5..last + 0.5
    }

    /// Draws one panel with `series` over `y` in `area`.
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        caption: &str,
        y_desc: &str,
        y: Range<f64>,
        series: &[Series],
        legend: SeriesLabelPosition,
    ) -> DrawResult<DB> {
        let mut chart = ChartBuilder::on(area)
            .caption(caption, text(20))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(65)
            .build_cartesian_2d(self.epoch_range(), y)?;
        let epoch_labels = |v: &f64| format!("{v:.0}");
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .x_desc("epoch")
            .y_desc(y_desc)
            .x_labels(self.epochs.len().clamp(2, 10))
            .x_label_formatter(&epoch_labels)
            .label_style(text(16))
            .axis_desc_style(text(18))
            .draw()?;
        for s in series {
            let points: Vec<(f64, f64)> =
                self.epochs.iter().map(|e| (e.epoch as f64, (s.value)(e))).collect();
            let colour = s.colour;
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                .label(s.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3)));
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, colour.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(legend)
            .label_font(text(16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }
}

impl Figure for CurvesFigure<'_> {
    fn size(&self) -> (u32, u32) {
        (1200, 500)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = titled(root, &self.title)?;
        let (width, _) = body.dim_in_pixel();
        let (left, right) = body.split_horizontally(width / 2);
        let max_loss = self.epochs.iter().flat_map(|e| [e.train_loss, e.val_loss]).fold(0.0, f64::max);
        let losses = [
            Series { label: "train loss", colour: SERIES[0], value: |e| e.train_loss },
            Series { label: "val loss", colour: SERIES[1], value: |e| e.val_loss },
        ];
        let top = if max_loss > 0.0 { max_loss * 1.1 } else { 1.0 };
        // Losses usually fall and scores rise: put each legend where the lines are not.
        self.panel(&left, "loss", "loss", 0.0..top, &losses, SeriesLabelPosition::UpperRight)?;
        let scores = [
            Series { label: "train accuracy", colour: SERIES[0], value: |e| e.train_accuracy },
            Series { label: "val accuracy", colour: SERIES[1], value: |e| e.val_accuracy },
            Series { label: "val macro-F1", colour: SERIES[2], value: |e| e.val_macro_f1 },
        ];
        self.panel(
            &right,
            "accuracy and macro-F1",
            "score",
            0.0..1.05,
            &scores,
            SeriesLabelPosition::LowerRight,
        )
    }
}
