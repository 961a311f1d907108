//! Heat maps: a matrix of values as coloured cells, each annotated with its value.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{draw_caption, err, font, DrawError, Figure};

/// How a cell's value maps to its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorScale {
    /// White (low end of the range) to dark blue (high end), e.g. accuracies.
    Sequential,
    /// Blue (low end), white (middle), red (high end), e.g. correlations over [-1, 1].
    Diverging,
}

impl ColorScale {
    /// The colour of `shade` (0: low end of the range, 1: high end).
    fn fill(self, shade: f64) -> RGBColor {
        match self {
            Self::Sequential => blues(shade),
            Self::Diverging => diverging(2.0 * shade - 1.0),
        }
    }

    /// Whether a label on `shade` needs white ink to be read.
    fn dark(self, shade: f64) -> bool {
        match self {
            Self::Sequential => shade > 0.55,
            Self::Diverging => (2.0 * shade - 1.0).abs() > 0.6,
        }
    }
}

/// A matrix of values as coloured cells, each annotated with its value.
#[derive(Debug, Clone)]
pub struct HeatMap {
    /// Title above the plot.
    pub title: String,
    /// Y axis label (rows).
    pub row_label: String,
    /// X axis label (columns).
    pub col_label: String,
    /// Row names, top to bottom.
    pub rows: Vec<String>,
    /// Column names, left to right.
    pub cols: Vec<String>,
    /// `values[row][col]`; `None` leaves the cell blank.
    pub values: Vec<Vec<Option<f64>>>,
    /// Cells drawn faded (e.g. tasks not trained yet): `faded[row][col]`.
    pub faded: Vec<Vec<bool>>,
    /// Values mapped to the two ends of `scale` (clamped outside).
    pub range: (f64, f64),
    /// How values map to colours.
    pub scale: ColorScale,
    /// Pixel size.
    pub size: (u32, u32),
}

impl HeatMap {
    /// A size that leaves each cell room for its label.
    pub fn size_for(rows: usize, cols: usize) -> (u32, u32) {
        let w = (90 * cols as u32 + 230).max(620);
        let h = (70 * rows as u32 + 190).max(520);
        (w, h)
    }
}

/// White (0) to dark blue (1), linear in each channel.
fn blues(v: f64) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * v).round() as u8;
    RGBColor(lerp(247.0, 8.0), lerp(251.0, 48.0), lerp(255.0, 107.0))
}

/// Blue (−1), white (0), red (+1).
fn diverging(v: f64) -> RGBColor {
    let v = v.clamp(-1.0, 1.0);
    let mix = |a: u8, b: u8, t: f64| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    if v >= 0.0 {
        RGBColor(mix(255, 178, v), mix(255, 24, v), mix(255, 43, v))
    } else {
        RGBColor(mix(255, 33, -v), mix(255, 102, -v), mix(255, 172, -v))
    }
}

impl Figure for HeatMap {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        let area = draw_caption(root, &self.title)?;
        let (nr, nc) = (self.rows.len().max(1), self.cols.len().max(1));
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(50)
            .y_label_area_size(110)
            .build_cartesian_2d(-0.5..(nc as f64 - 0.5), -0.5..(nr as f64 - 0.5))
            .map_err(err)?;
        // Row 0 at the top: row r is drawn at y = nr - 1 - r.
        let rows = self.rows.clone();
        let cols = self.cols.clone();
        let name = |names: &[String], v: f64, flip: bool| {
            let i = v.round();
            if (v - i).abs() > 1e-9 || i < 0.0 {
                return String::new();
            }
            let i = i as usize;
            let i = if flip {
                names.len().wrapping_sub(1).wrapping_sub(i)
            } else {
                i
            };
            names.get(i).cloned().unwrap_or_default()
        };
        let x_fmt = move |x: &f64| name(&cols, *x, false);
        let y_fmt = move |y: &f64| name(&rows, *y, true);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(self.col_label.as_str())
            .y_desc(self.row_label.as_str())
            .axis_desc_style(font(18))
            .label_style(font(15))
            .x_labels(nc)
            .y_labels(nr)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw()
            .map_err(err)?;
        let size = if nc > 8 { 14 } else { 17 };
        for (r, row) in self.values.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let Some(v) = *v else { continue };
                let faded = self
                    .faded
                    .get(r)
                    .and_then(|f| f.get(c))
                    .copied()
                    .unwrap_or(false);
                let y = (nr - 1 - r) as f64;
                let x = c as f64;
                let (lo, hi) = self.range;
                let shade = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
                let fill = if faded {
                    self.scale.fill(shade).mix(0.35)
                } else {
                    self.scale.fill(shade).mix(1.0)
                };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                        fill.filled(),
                    )))
                    .map_err(err)?;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                        WHITE.stroke_width(1),
                    )))
                    .map_err(err)?;
                let ink = if self.scale.dark(shade) && !faded {
                    WHITE
                } else {
                    BLACK
                };
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{v:.2}"),
                        (x, y),
                        font(size)
                            .color(&ink)
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    )))
                    .map_err(err)?;
            }
        }
        Ok(())
    }
}
