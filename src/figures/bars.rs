//! Grouped bar charts with error bars and reference ticks.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{color, draw_caption, err, font, DrawError, Figure};

/// One set of bars of a [`BarChart`]: a value (mean, ± error) per category.
#[derive(Debug, Clone)]
pub struct BarGroup {
    /// Legend text.
    pub label: String,
    /// (mean, half-width of the error bar) per category; `None` leaves the slot empty.
    pub values: Vec<Option<(f64, f64)>>,
    /// Reference values drawn as a black tick across each bar (e.g. a paper's), per category.
    pub reference: Vec<Option<f64>>,
    /// Palette index.
    pub color: usize,
}

/// Grouped bars: one cluster per category, one bar per group, with error bars.
#[derive(Debug, Clone)]
pub struct BarChart {
    /// Title above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label (with units).
    pub y_label: String,
    /// Category names (x axis).
    pub categories: Vec<String>,
    /// The bar groups.
    pub groups: Vec<BarGroup>,
    /// Legend text of the reference ticks (drawn only if some group has one).
    pub reference_label: String,
    /// Y range.
    pub y_range: (f64, f64),
    /// Pixel size.
    pub size: (u32, u32),
}

impl Figure for BarChart {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        let area = draw_caption(root, &self.title)?;
        let n = self.categories.len().max(1);
        // Room on the right for the legend, clear of the bars.
        let legend_room = 0.35 + 0.22 * n as f64;
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(
                -0.5..(n as f64 - 0.5 + legend_room),
                self.y_range.0..self.y_range.1,
            )
            .map_err(err)?;
        let cats = self.categories.clone();
        let x_fmt = move |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-9 && i >= 0.0 {
                cats.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style(font(18))
            .label_style(font(15))
            // Enough ticks that every whole number (a category) is one.
            .x_labels(2 * ((n as f64 + legend_room).ceil() as usize + 1))
            .y_labels(10)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&|y| format!("{y:.2}"))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        let k = self.groups.len().max(1) as f64;
        let width = 0.8 / k;
        let y0 = self.y_range.0;
        let mut any_reference = false;
        for (g, group) in self.groups.iter().enumerate() {
            let c = color(group.color);
            let left = |i: usize| i as f64 - 0.4 + g as f64 * width;
            let bars = group.values.iter().enumerate().filter_map(|(i, v)| {
                v.map(|(m, _)| {
                    Rectangle::new(
                        [(left(i) + 0.06 * width, y0), (left(i) + 0.94 * width, m)],
                        c.filled(),
                    )
                })
            });
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(group.label.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], c.filled()));
            for (i, v) in group.values.iter().enumerate() {
                let Some((m, e)) = *v else { continue };
                if e > 0.0 {
                    let xc = left(i) + width / 2.0;
                    let cap = width * 0.2;
                    let style = BLACK.stroke_width(2);
                    chart
                        .draw_series([
                            PathElement::new(vec![(xc, m - e), (xc, m + e)], style),
                            PathElement::new(vec![(xc - cap, m - e), (xc + cap, m - e)], style),
                            PathElement::new(vec![(xc - cap, m + e), (xc + cap, m + e)], style),
                        ])
                        .map_err(err)?;
                }
            }
            for (i, r) in group.reference.iter().enumerate() {
                let Some(r) = *r else { continue };
                any_reference = true;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(left(i), r), (left(i) + width, r)],
                        BLACK.stroke_width(3),
                    )))
                    .map_err(err)?;
            }
        }
        if any_reference {
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
                .map_err(err)?
                .label(self.reference_label.as_str())
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], BLACK.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(160, 160, 160))
            .label_font(font(15))
            .draw()
            .map_err(err)?;
        Ok(())
    }
}
