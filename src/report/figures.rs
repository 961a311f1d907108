//! Figures as PNG and SVG, drawn with plotters: line charts with error bands, grouped bar charts
//! with error bars, annotated heat maps and scatter plots (linear or log axes). Each figure is a
//! plain description (`LineChart`, `BarChart`, `HeatMap`, `Scatter`) that [`write_figure`] draws
//! twice, into `BASE.png` and `BASE.svg`, both written atomically. Text is drawn with the bundled
//! DejaVu Sans, registered once as `sans-serif`, so no system font library is needed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

/// The bundled font (DejaVu Sans; licence in `assets/fonts/LICENSE-DejaVu.txt`).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family every text style names.
const FAMILY: &str = "sans-serif";

/// Registers the bundled font as `sans-serif` (once per process).
pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font, checked by a test; a failure would only lose text.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Tableau 10: distinguishable, colour-blind-friendlier than plotters' defaults.
const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The `i`-th colour of the palette (cycling).
pub fn color(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// A figure that can be drawn on any plotters backend.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the whole figure on `root`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Draws `fig` into `base.png` and `base.svg` (each written atomically); returns both paths.
pub fn write_figure(fig: &impl Figure, base: &Path) -> std::io::Result<[PathBuf; 2]> {
    register_font();
    let png = base.with_extension("png");
    let svg = base.with_extension("svg");
    let dir = png.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let stem = png
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The bitmap backend writes the file itself: into a temporary name (its extension picks
    // the format), renamed into place once complete.
    let tmp = dir.join(format!(".{stem}.tmp{}.png", std::process::id()));
    let drawn = (|| {
        let root = BitMapBackend::new(&tmp, fig.size()).into_drawing_area();
        fig.draw(&root)?;
        root.present().map_err(|e| e.to_string())
    })();
    if let Err(e) = drawn {
        let _ = std::fs::remove_file(&tmp);
        return Err(std::io::Error::other(format!(
            "drawing {}: {e}",
            png.display()
        )));
    }
    std::fs::rename(&tmp, &png).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, fig.size()).into_drawing_area();
        fig.draw(&root)
            .map_err(|e| std::io::Error::other(format!("drawing {}: {e}", svg.display())))?;
        root.present()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    super::write_atomic(&svg, text.as_bytes())?;
    Ok([png, svg])
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().into()
}

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
    /// Label the x axis at whole numbers only.
    pub integer_x: bool,
    /// The lines.
    pub series: Vec<Series>,
    /// Pixel size.
    pub size: (u32, u32),
}

/// A y range for accuracies in `values` (y ± error): from a round number below the lowest, to 1.
pub fn accuracy_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let lo = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(1.0_f64, f64::min);
    let lo = ((lo - 0.02) * 20.0).floor() / 20.0;
    (lo.clamp(0.0, 0.95), 1.005)
}

fn draw_caption<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<DrawingArea<DB, Shift>, String> {
    root.fill(&WHITE).map_err(err)?;
    let (w, _) = root.dim_in_pixel();
    root.draw(&Text::new(
        title.to_string(),
        (w as i32 / 2, 12),
        font(22).pos(Pos::new(HPos::Center, VPos::Top)),
    ))
    .map_err(err)?;
    Ok(root.margin(44, 10, 10, 24))
}

impl Figure for LineChart {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let area = draw_caption(root, &self.title)?;
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(
                self.x_range.0..self.x_range.1,
                self.y_range.0..self.y_range.1,
            )
            .map_err(err)?;
        let integer = self.integer_x;
        let x_fmt = move |x: &f64| {
            if !integer {
                format!("{x}")
            } else if (x - x.round()).abs() < 1e-9 {
                format!("{}", x.round() as i64)
            } else {
                String::new()
            }
        };
        let x_ticks = if integer {
            (self.x_range.1 - self.x_range.0).round().max(1.0) as usize + 1
        } else {
            10
        };
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style(font(18))
            .label_style(font(15))
            .x_labels(x_ticks)
            .y_labels(10)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&|y| format!("{y:.2}"))
            .light_line_style(RGBColor(235, 235, 235))
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
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
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
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 5, c.stroke_width(2))))
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

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
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

/// A matrix of values in [0, 1] as coloured cells, each annotated with its value.
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
    /// values[row][col]; `None` leaves the cell blank.
    pub values: Vec<Vec<Option<f64>>>,
    /// Cells drawn faded (e.g. tasks not trained yet): faded[row][col].
    pub faded: Vec<Vec<bool>>,
    /// Values mapped to the lightest and the darkest colour (clamped outside).
    pub range: (f64, f64),
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

impl Figure for HeatMap {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
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
                    blues(shade).mix(0.35)
                } else {
                    blues(shade).mix(1.0)
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
                let ink = if shade > 0.55 && !faded { WHITE } else { BLACK };
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
        format!("{v}")
    }
}

impl Scatter {
    fn draw_on<DB: DrawingBackend, X, Y>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x: X,
        y: Y,
    ) -> Result<(), String>
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
            .light_line_style(RGBColor(235, 235, 235))
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
                        .map(|&p| Circle::new(p, 2, c.mix(0.6).filled())),
                )
                .map_err(err)?
                .label(s.label.as_str())
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, c.filled()));
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

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
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
    fn the_bundled_font_parses() {
        assert!(plotters::style::register_font("synaptic-test", FontStyle::Normal, FONT).is_ok());
    }

    #[test]
    fn accuracy_range_starts_at_a_round_number_below_the_data() {
        assert_eq!(accuracy_range([0.93, 0.99]), (0.9, 1.005));
        assert_eq!(accuracy_range([0.5]), (0.45, 1.005));
        assert_eq!(accuracy_range([-0.2, f64::NAN]), (0.0, 1.005));
        assert_eq!(accuracy_range([1.0]), (0.95, 1.005));
    }

    #[test]
    fn log_ranges_span_whole_decades_and_skip_non_positive_values() {
        let (a, b) = data_range([0.0, 3e-4, 0.02, -1.0].into_iter(), true);
        assert!(
            (a - 1e-4).abs() < 1e-12 && (b - 0.1).abs() < 1e-12,
            "{a} {b}"
        );
        assert_eq!(tick(1e-5), "1e-5");
        assert_eq!(tick(0.5), "0.5");
    }
}
