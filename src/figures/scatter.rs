//! Scatter plots over linear or logarithmic axes.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{color, draw_caption, err, font, DrawError, Figure};

/// One set of points of a [`Scatter`].
#[derive(Debug, Clone)]
pub struct ScatterSeries {
    /// Legend text.
    pub label: String,
    /// The points (x, y).
    pub points: Vec<(f64, f64)>,
    /// Palette index.
    pub color: usize,
}

/// Points over two numeric axes, each linear or logarithmic (e.g. one importance measure
/// against another: `log_x` and `log_y` both set; points ≤ 0 are left out of a log axis).
#[derive(Debug, Clone)]
pub struct Scatter {
    /// Title above the plot.
    pub title: String,
    /// X axis label (with units).
    pub x_label: String,
    /// Y axis label (with units).
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Draw the diagonal y = x.
    pub diagonal: bool,
    /// The point sets.
    pub series: Vec<ScatterSeries>,
    /// Opacity of each point, in (0, 1]: lower for dense clouds, where overlaps show density.
    pub opacity: f64,
    /// A line of small print in the lower right corner of the plot (none when empty), e.g. how
    /// many points are shown.
    pub note: String,
    /// Pixel size.
    pub size: (u32, u32),
}

/// The range of `vs` (positive values only when `log`), widened a little; (0, 1) when empty.
fn data_range(vs: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (lo, hi) = vs
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return if log { (1e-3, 1.0) } else { (0.0, 1.0) };
    }
    if log {
        let (l, h) = (
            lo.log10().floor(),
            hi.log10().ceil().max(lo.log10().floor() + 1.0),
        );
        (10f64.powf(l), 10f64.powf(h))
    } else {
        let pad = ((hi - lo) * 0.05).max(1e-9);
        (lo - pad, hi + pad)
    }
}

/// `1e-3`-style labels for log axes, plain ones otherwise.
fn tick(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-2..1e4).contains(&a) {
        format!("{v:.0e}")
    } else {
        // Log axes place ticks at computed powers of ten (0.9999999999999 for 1): six decimals
        // are plenty for a label and hide that.
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

impl Scatter {
    fn draw_on<DB: DrawingBackend, X, Y>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x: X,
        y: Y,
    ) -> Result<(), DrawError>
    where
        X: plotters::coord::ranged1d::Ranged<ValueType = f64>
            + plotters::coord::ranged1d::ValueFormatter<f64>,
        Y: plotters::coord::ranged1d::Ranged<ValueType = f64>
            + plotters::coord::ranged1d::ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(area)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(x, y)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style(font(18))
            .label_style(font(15))
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            // Nine minor lines per decade crowd a log axis spanning many decades.
            .light_line_style(if self.log_x || self.log_y {
                WHITE.mix(0.0)
            } else {
                RGBColor(235, 235, 235).mix(1.0)
            })
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        let keep = |p: &&(f64, f64)| {
            p.0.is_finite()
                && p.1.is_finite()
                && (!self.log_x || p.0 > 0.0)
                && (!self.log_y || p.1 > 0.0)
        };
        if self.diagonal {
            let xr = chart.x_range();
            let yr = chart.y_range();
            let (lo, hi) = (xr.start.max(yr.start), xr.end.min(yr.end));
            if lo < hi {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(lo, lo), (hi, hi)],
                        6,
                        5,
                        RGBColor(120, 120, 120).stroke_width(1),
                    ))
                    .map_err(err)?;
            }
        }
        for s in &self.series {
            let c = color(s.color);
            chart
                .draw_series(
                    s.points
                        .iter()
                        .filter(keep)
                        .map(|&p| Circle::new(p, 2, c.mix(self.opacity).filled())),
                )
                .map_err(err)?
                .label(s.label.as_str())
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, c.filled()));
        }
        let (w, h) = area.dim_in_pixel();
        if !self.series.iter().flat_map(|s| &s.points).any(|p| keep(&p)) {
            let why = if self.log_x || self.log_y {
                "no point to draw (a log axis shows values > 0 only)"
            } else {
                "no point to draw"
            };
            area.draw(&Text::new(
                why,
                (w as i32 / 2, h as i32 / 2),
                font(18).pos(Pos::new(HPos::Center, VPos::Center)),
            ))
            .map_err(err)?;
        }
        if !self.note.is_empty() {
            // Above the x axis band, clear of the legend in the upper left.
            area.draw(&Text::new(
                self.note.as_str(),
                (w as i32 - 12, h as i32 - 58),
                font(13)
                    .color(&BLACK.mix(0.7))
                    .pos(Pos::new(HPos::Right, VPos::Bottom)),
            ))
            .map_err(err)?;
        }
        if self.series.len() > 1 || self.series.iter().any(|s| !s.label.is_empty()) {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.9))
                .border_style(RGBColor(160, 160, 160))
                .label_font(font(15))
                .draw()
                .map_err(err)?;
        }
        Ok(())
    }
}

impl Figure for Scatter {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        let area = draw_caption(root, &self.title)?;
        let all = || self.series.iter().flat_map(|s| s.points.iter());
        let (x0, x1) = data_range(all().map(|p| p.0), self.log_x);
        let (y0, y1) = data_range(all().map(|p| p.1), self.log_y);
        match (self.log_x, self.log_y) {
            (true, true) => self.draw_on(&area, log(x0, x1), log(y0, y1)),
            (true, false) => self.draw_on(&area, log(x0, x1), x_lin(y0, y1)),
            (false, true) => self.draw_on(&area, x_lin(x0, x1), log(y0, y1)),
            (false, false) => self.draw_on(&area, x_lin(x0, x1), x_lin(y0, y1)),
        }
    }
}

fn log(a: f64, b: f64) -> plotters::coord::combinators::LogCoord<f64> {
    (a..b).log_scale().into()
}

fn x_lin(a: f64, b: f64) -> plotters::coord::types::RangedCoordf64 {
    (a..b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ranges_span_whole_decades_and_skip_non_positive_values() {
        let (a, b) = data_range([0.0, 3e-4, 0.02, -1.0].into_iter(), true);
        assert!(
            (a - 1e-4).abs() < 1e-12 && (b - 0.1).abs() < 1e-12,
            "{a} {b}"
        );
        assert_eq!(tick(1e-5), "1e-5");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(0.999_999_999_999_9), "1");
        assert_eq!(tick(1234.5), "1234.5");
    }
}
