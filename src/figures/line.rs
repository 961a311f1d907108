//! Line charts over a numeric x axis, each line with a shaded ± band.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::{self, MAX_TICKS};
use super::{color, draw_caption, err, font, DrawError, Figure};

/// How a series' line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// Solid line with filled markers (our measurements).
    Solid,
    /// Dashed line with hollow markers (reference values, e.g. a paper's).
    Dashed,
}

/// One line of a [`LineChart`]: points (x, y, ± error), drawn with a band y ± error.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// (x, y, half-width of the band); a zero half-width draws no band.
    pub points: Vec<(f64, f64, f64)>,
    /// Palette index.
    pub color: usize,
    /// Solid or dashed.
    pub kind: LineKind,
}

/// Lines over a numeric x axis, each with a shaded ± band.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// X axis label (with units).
    pub x_label: String,
    /// Y axis label (with units).
    pub y_label: String,
    /// X range.
    pub x_range: (f64, f64),
    /// Y range.
    pub y_range: (f64, f64),
    /// Label the x axis at whole numbers only (thinned out to at most [`MAX_TICKS`] labels).
    pub integer_x: bool,
    /// The lines.
    pub series: Vec<Series>,
    /// Pixel size.
    pub size: (u32, u32),
}

/// Lines with more points than this are drawn without a marker on each point (they would merge
/// into a thick band).
pub const MAX_MARKERS: usize = 60;

/// The points that get a marker: all of them, or none on a line of more than [`MAX_MARKERS`].
fn marked(points: &[(f64, f64)]) -> std::slice::Iter<'_, (f64, f64)> {
    let n = if points.len() > MAX_MARKERS {
        0
    } else {
        points.len()
    };
    points[..n].iter()
}

impl Figure for LineChart {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        let area = draw_caption(root, &self.title)?;
        let (x0, x1) = self.x_range;
        let (y0, y1) = self.y_range;
        let integer = self.integer_x;
        let (x_ticks, x_step) = if integer {
            (axis::integers(x0, x1, MAX_TICKS), 1.0)
        } else {
            axis::linear(x0, x1, MAX_TICKS)
        };
        let (y_ticks, y_step) = axis::linear(y0, y1, MAX_TICKS);
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(
                axis::with_ticks(x0, x1, x_ticks),
                axis::with_ticks(y0, y1, y_ticks),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style(font(18))
            .label_style(font(15))
            .x_label_formatter(&|x| axis::label(*x, x_step))
            .y_label_formatter(&|y| axis::label(*y, y_step))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(err)?;
        // Bands first, so that no line is hidden under another series' band.
        for s in &self.series {
            if s.points.iter().any(|p| p.2 > 0.0) {
                let upper = s.points.iter().map(|p| (p.0, p.1 + p.2));
                let lower = s.points.iter().rev().map(|p| (p.0, p.1 - p.2));
                let c = color(s.color);
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        upper.chain(lower).collect::<Vec<_>>(),
                        c.mix(0.18),
                    )))
                    .map_err(err)?;
            }
        }
        for s in &self.series {
            let c = color(s.color);
            let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, p.1)).collect();
            match s.kind {
                LineKind::Solid => {
                    chart
                        .draw_series(LineSeries::new(pts.clone(), c.stroke_width(3)))
                        .map_err(err)?
                        .label(s.label.as_str())
                        .legend(move |(x, y)| {
                            EmptyElement::at((x, y))
                                + PathElement::new(vec![(0, 0), (24, 0)], c.stroke_width(3))
                                + Circle::new((12, 0), 4, c.filled())
                        });
                    chart
                        .draw_series(marked(&pts).map(|&p| Circle::new(p, 4, c.filled())))
                        .map_err(err)?;
                }
                LineKind::Dashed => {
                    chart
                        .draw_series(DashedLineSeries::new(pts.clone(), 8, 6, c.stroke_width(2)))
                        .map_err(err)?
                        .label(s.label.as_str())
                        .legend(move |(x, y)| {
                            EmptyElement::at((x, y))
                                + PathElement::new(vec![(0, 0), (7, 0)], c.stroke_width(2))
                                + PathElement::new(vec![(17, 0), (24, 0)], c.stroke_width(2))
                                + Circle::new((12, 0), 4, c.stroke_width(2))
                        });
                    chart
                        .draw_series(marked(&pts).map(|&p| Circle::new(p, 5, c.stroke_width(2))))
                        .map_err(err)?;
                }
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(160, 160, 160))
            .label_font(font(15))
            .draw()
            .map_err(err)?;
        Ok(())
    }
}
