//! Scatter plots over linear or logarithmic axes.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{self, MAX_TICKS};
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

/// One axis as drawn: its range in plotting units (log10 of the value on a log axis), its ticks
/// and how to label them.
struct Axis {
    log: bool,
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    step: f64,
}

impl Axis {
    /// The axis for values `vs` (positive ones only when `log`): a log axis spans whole decades
    /// from the one holding the smallest value, a linear one the data widened a little; (0, 1)
    /// or 1e-3..1 when there is nothing to show.
    fn new(vs: impl Iterator<Item = f64>, log: bool) -> Self {
        let (lo, hi) = vs
            .filter(|v| v.is_finite() && (!log || *v > 0.0))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        if log {
            let (l, h) = if lo.is_finite() {
                let l = lo.log10().floor();
                (l, hi.log10().ceil().max(l + 1.0))
            } else {
                (-3.0, 0.0)
            };
            let ticks = axis::decades(l as i32, h as i32, MAX_TICKS)
                .into_iter()
                .map(f64::from)
                .collect();
            return Axis {
                log,
                lo: l,
                hi: h,
                ticks,
                step: 1.0,
            };
        }
        let (lo, hi) = if lo.is_finite() {
            let pad = ((hi - lo) * 0.05)
                .max(lo.abs().max(hi.abs()) * 1e-9)
                .max(1e-12);
            (lo - pad, hi + pad)
        } else {
            (0.0, 1.0)
        };
        let (ticks, step) = axis::linear(lo, hi, MAX_TICKS);
        Axis {
            log,
            lo,
            hi,
            ticks,
            step,
        }
    }

    /// Where value `v` is drawn; `None` for a value this axis cannot show.
    fn place(&self, v: f64) -> Option<f64> {
        match (v.is_finite(), self.log) {
            (true, true) if v > 0.0 => Some(v.log10()),
            (true, false) => Some(v),
            _ => None,
        }
    }

    /// The label of the tick at plotting position `t`.
    fn label(&self, t: f64) -> String {
        if self.log {
            axis::power_label(t.round() as i32)
        } else {
            axis::label(t, self.step)
        }
    }

    fn coord(&self) -> axis::Ticked {
        axis::with_ticks(self.lo, self.hi, self.ticks.clone())
    }
}

impl Figure for Scatter {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        let area = draw_caption(root, &self.title)?;
        let all = || self.series.iter().flat_map(|s| s.points.iter());
        // Log axes are drawn in log10 units with their own ticks: plotters' log coordinates
        // drop every tick below 2.2e-16 (they take it for zero).
        let ax = Axis::new(all().map(|p| p.0), self.log_x);
        let ay = Axis::new(all().map(|p| p.1), self.log_y);
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(ax.coord(), ay.coord())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style(font(18))
            .label_style(font(15))
            .x_label_formatter(&|v| ax.label(*v))
            .y_label_formatter(&|v| ay.label(*v))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        let place = |p: &(f64, f64)| Some((ax.place(p.0)?, ay.place(p.1)?));
        // y = x is a straight line when both axes are alike.
        if self.diagonal && self.log_x == self.log_y {
            let (lo, hi) = (ax.lo.max(ay.lo), ax.hi.min(ay.hi));
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
                    (s.points.iter().filter_map(place))
                        .map(|p| Circle::new(p, 2, c.mix(self.opacity).filled())),
                )
                .map_err(err)?
                .label(s.label.as_str())
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, c.filled()));
        }
        let (w, h) = area.dim_in_pixel();
        if !all().any(|p| place(p).is_some()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axes_span_whole_decades_from_the_smallest_point_and_label_them_all_the_way_down() {
        let a = Axis::new([0.0, 3e-4, 0.02, -1.0].into_iter(), true);
        assert_eq!((a.lo, a.hi), (-4.0, -1.0));
        assert_eq!(a.label(-4.0), "1e-4");
        assert_eq!(a.place(-1.0), None);
        // Points down to 3e-21: the axis starts at 1e-21 and its lowest label is there
        // (plotters' log axis stopped labelling at 1e-14 / 1e-16).
        let a = Axis::new([3e-21, 1e-3].into_iter(), true);
        assert_eq!(a.lo, -21.0);
        assert!(a.lo <= a.place(3e-21).unwrap());
        assert_eq!(a.ticks.first(), Some(&-21.0), "{:?}", a.ticks);
        assert!(a.ticks.len() <= MAX_TICKS);
        let l = Axis::new([0.5, 0.500001].into_iter(), false);
        let labels: Vec<String> = l.ticks.iter().map(|&t| l.label(t)).collect();
        let mut d = labels.clone();
        d.dedup();
        assert!(labels.len() >= 3 && d == labels, "{labels:?}");
    }
}
