//! Heat maps: a matrix of values as coloured cells, each annotated with its value up to
//! [`LABELLED_CELLS`] per side; larger matrices as colour only, in blocks above [`MAX_CELLS`].

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{self, MAX_TICKS};
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

/// Up to this many rows and columns every cell is labelled with its value, and the figure is
/// sized to fit the labels; a larger matrix is colour only, in a figure of fixed size.
pub const LABELLED_CELLS: usize = 12;

/// The most cells drawn per side: a larger matrix is drawn as square blocks of tasks, each
/// coloured by its mean, so that a figure's size and drawing time stay bounded.
pub const MAX_CELLS: usize = 100;

/// Pixel size of a heat map too large for per-cell labels.
const UNLABELLED_SIZE: (u32, u32) = (1100, 1000);

impl HeatMap {
    /// A size that leaves each cell room for its label, up to [`LABELLED_CELLS`] rows and
    /// columns; a fixed size above.
    pub fn size_for(rows: usize, cols: usize) -> (u32, u32) {
        if rows > LABELLED_CELLS || cols > LABELLED_CELLS {
            return UNLABELLED_SIZE;
        }
        let w = (90 * cols as u32 + 230).max(620);
        let h = (70 * rows as u32 + 190).max(520);
        (w, h)
    }

    /// Rows (or columns) per drawn block when a side has `n`: 1 up to [`MAX_CELLS`], then enough
    /// that at most [`MAX_CELLS`] blocks remain.
    pub fn block(n: usize) -> usize {
        n.div_ceil(MAX_CELLS).max(1)
    }

    /// The mean of the block of rows `rows` and columns `cols`, and whether it is faded: the
    /// cells that are not faded where there are any, else the faded ones; `None` when no cell
    /// has a value.
    fn block_value(
        &self,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> Option<(f64, bool)> {
        let (mut sums, mut counts) = ([0.0; 2], [0usize; 2]);
        for r in rows {
            for c in cols.clone() {
                let Some(Some(v)) = self.values.get(r).and_then(|row| row.get(c)) else {
                    continue;
                };
                let faded = self
                    .faded
                    .get(r)
                    .and_then(|f| f.get(c))
                    .copied()
                    .unwrap_or(false);
                sums[faded as usize] += v;
                counts[faded as usize] += 1;
            }
        }
        (0..2)
            .find(|&k| counts[k] > 0)
            .map(|k| (sums[k] / counts[k] as f64, k == 1))
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
        let labelled = nr <= LABELLED_CELLS && nc <= LABELLED_CELLS;
        let most = MAX_TICKS.max(LABELLED_CELLS);
        // Row 0 at the top: row r is drawn at y = nr - 1 - r.
        let x_ticks = axis::integers(0.0, nc as f64 - 1.0, most);
        let y_ticks = axis::integers(0.0, nr as f64 - 1.0, most)
            .into_iter()
            .map(|r| nr as f64 - 1.0 - r)
            .collect();
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(50)
            .y_label_area_size(110)
            .build_cartesian_2d(
                axis::with_ticks(-0.5, nc as f64 - 0.5, x_ticks),
                axis::with_ticks(-0.5, nr as f64 - 0.5, y_ticks),
            )
            .map_err(err)?;
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
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw()
            .map_err(err)?;
        let (br, bc) = (Self::block(nr), Self::block(nc));
        let (lo, hi) = self.range;
        // (x0, y0, x1, y1, value, faded) of every block drawn.
        let mut cells = Vec::new();
        for r0 in (0..nr).step_by(br) {
            let r1 = (r0 + br).min(nr);
            for c0 in (0..nc).step_by(bc) {
                let c1 = (c0 + bc).min(nc);
                if let Some((v, faded)) = self.block_value(r0..r1, c0..c1) {
                    let (x0, x1) = (c0 as f64 - 0.5, c1 as f64 - 0.5);
                    let (y0, y1) = ((nr - r1) as f64 - 0.5, (nr - r0) as f64 - 0.5);
                    cells.push((x0, y0, x1, y1, v, faded));
                }
            }
        }
        let shade = |v: f64| if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
        chart
            .draw_series(cells.iter().map(|&(x0, y0, x1, y1, v, faded)| {
                let fill = self
                    .scale
                    .fill(shade(v))
                    .mix(if faded { 0.35 } else { 1.0 });
                Rectangle::new([(x0, y0), (x1, y1)], fill.filled())
            }))
            .map_err(err)?;
        // White borders while cells are large enough for them to separate, not to cover.
        if nr.div_ceil(br).max(nc.div_ceil(bc)) <= 40 {
            chart
                .draw_series(cells.iter().map(|&(x0, y0, x1, y1, _, _)| {
                    Rectangle::new([(x0, y0), (x1, y1)], WHITE.stroke_width(1))
                }))
                .map_err(err)?;
        }
        if labelled {
            let size = if nc > 8 { 14 } else { 17 };
            chart
                .draw_series(cells.iter().map(|&(x0, y0, x1, y1, v, faded)| {
                    let ink: &'static RGBColor = if self.scale.dark(shade(v)) && !faded {
                        &WHITE
                    } else {
                        &BLACK
                    };
                    Text::new(
                        format!("{v:.2}"),
                        ((x0 + x1) / 2.0, (y0 + y1) / 2.0),
                        font(size)
                            .color(ink)
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    )
                }))
                .map_err(err)?;
        }
        Ok(())
    }
}
