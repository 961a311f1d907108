//! Grouped bar charts with error bars and reference ticks.

use plotters::coord::Shift;
use plotters::prelude::*;

use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{self, MAX_TICKS};
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

impl BarChart {
    /// The x range: one slot per category, none after the last (the legend has its own column
    /// beside the plot).
    pub fn x_range(&self) -> (f64, f64) {
        (-0.5, self.categories.len().max(1) as f64 - 0.5)
    }

    /// Legend entries: (text, palette index, or `None` for the reference tick).
    fn legend(&self) -> Vec<(&str, Option<usize>)> {
        let mut v: Vec<(&str, Option<usize>)> = (self.groups.iter())
            .map(|g| (g.label.as_str(), Some(g.color)))
            .collect();
        if (self.groups.iter()).any(|g| g.reference.iter().any(Option::is_some)) {
            v.push((self.reference_label.as_str(), None));
        }
        v
    }
}

/// Draws the legend `entries` in a box at the top of `area`.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(&str, Option<usize>)],
) -> Result<(), DrawError> {
    if entries.is_empty() {
        return Ok(());
    }
    let (w, _) = area.dim_in_pixel();
    let (top, row) = (8, 24);
    let bottom = top + 8 + row * entries.len() as i32;
    area.draw(&Rectangle::new(
        [(4, top), (w as i32 - 2, bottom)],
        RGBColor(160, 160, 160).stroke_width(1),
    ))
    .map_err(err)?;
    for (k, (text, c)) in entries.iter().enumerate() {
        let y = top + 4 + row * k as i32 + row / 2;
        match c {
            Some(c) => area
                .draw(&Rectangle::new(
                    [(12, y - 6), (30, y + 6)],
                    color(*c).filled(),
                ))
                .map_err(err)?,
            None => area
                .draw(&PathElement::new(
                    vec![(12, y), (30, y)],
                    BLACK.stroke_width(3),
                ))
                .map_err(err)?,
        }
        area.draw(&Text::new(
            text.to_string(),
            (38, y),
            font(15).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(err)?;
    }
    Ok(())
}

impl Figure for BarChart {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        let area = draw_caption(root, &self.title)?;
        let n = self.categories.len().max(1);
        let entries = self.legend();
        // The legend's own column, as wide as its longest text (at most a third of the figure).
        let (w, _) = area.dim_in_pixel();
        let chars = entries.iter().map(|e| e.0.chars().count()).max();
        let legend_w = chars.map_or(0, |c| (c as u32 * 8 + 50).min(w / 3));
        let (plot, side) = area.split_horizontally(w - legend_w);
        let (x0, x1) = self.x_range();
        let (y0, y1) = self.y_range;
        let (y_ticks, y_step) = axis::linear(y0, y1, MAX_TICKS);
        let x_ticks = axis::integers(0.0, n as f64 - 1.0, MAX_TICKS.max(20));
        let mut chart = ChartBuilder::on(&plot)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(
                axis::with_ticks(x0, x1, x_ticks),
                axis::with_ticks(y0, y1, y_ticks),
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
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&|y| axis::label(*y, y_step))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        let k = self.groups.len().max(1) as f64;
        let width = 0.8 / k;
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
            chart.draw_series(bars).map_err(err)?;
            let style = BLACK.stroke_width(2);
            let cap = width * 0.2;
            let errors = group.values.iter().enumerate().filter_map(|(i, v)| {
                let (m, e) = (*v)?;
                let xc = left(i) + width / 2.0;
                (e > 0.0).then(|| {
                    [
                        PathElement::new(vec![(xc, m - e), (xc, m + e)], style),
                        PathElement::new(vec![(xc - cap, m - e), (xc + cap, m - e)], style),
                        PathElement::new(vec![(xc - cap, m + e), (xc + cap, m + e)], style),
                    ]
                })
            });
            chart.draw_series(errors.flatten()).map_err(err)?;
            let refs = group.reference.iter().enumerate().filter_map(|(i, r)| {
                r.map(|r| {
                    PathElement::new(
                        vec![(left(i), r), (left(i) + width, r)],
                        BLACK.stroke_width(3),
                    )
                })
            });
            chart.draw_series(refs).map_err(err)?;
        }
        draw_legend(&side, &entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_x_axis_holds_one_slot_per_category_and_no_empty_ones() {
        for n in [1, 2, 5, 20] {
            let chart = BarChart {
                title: String::new(),
                x_label: String::new(),
                y_label: String::new(),
                categories: (1..=n).map(|j| format!("T{j}")).collect(),
                groups: vec![BarGroup {
                    label: "a rather long legend label".into(),
                    values: vec![Some((0.9, 0.01)); n],
                    reference: vec![Some(0.95); n],
                    color: 0,
                }],
                reference_label: "paper".into(),
                y_range: (0.5, 1.0),
                size: (900, 600),
            };
            let (a, b) = chart.x_range();
            assert_eq!(b - a, n as f64, "{n} categories");
            assert_eq!(chart.legend().len(), 2);
        }
    }
}
