//! Figures as PNG and SVG, drawn with plotters, shared by every command that draws: line charts
//! with error bands, grouped bar charts with error bars, annotated heat maps and scatter plots
//! (linear or log axes), and [`Row`]s of them under one title. Each figure is a plain description
//! that [`write_figure`] draws twice, into `BASE.png` and `BASE.svg`, both written atomically.
//! Text is drawn with the bundled DejaVu Sans, registered once as `sans-serif`, so no system font
//! library is needed.

pub mod axis;
mod bars;
mod heatmap;
mod line;
mod scatter;

pub use bars::{BarChart, BarGroup};
pub use heatmap::{ColorScale, HeatMap, LABELLED_CELLS, MAX_CELLS};
pub use line::{LineChart, LineKind, Series};
pub use scatter::{Scatter, ScatterSeries};

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
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

/// A file-name stem for a label: lower-case letters, digits and `.`; every other run of
/// characters becomes one `-` (e.g. `split-mnist-task`).
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        let keep = ch.is_ascii_alphanumeric() || ch == '.';
        if keep {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// A file-name stem for a parameter path: letters (case kept), digits, `.` and `-` stay, every
/// other character becomes `_` (e.g. `layers.0.weight`, `all_parameters`).
pub fn path_slug(path: &str) -> String {
    path.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A figure that can be drawn on any plotters backend.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the whole figure on `root`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>;
}

/// Draws `fig` into `base.png` and `base.svg` (each written atomically); returns both paths.
pub fn write_figure(fig: &impl Figure, base: &Path) -> std::io::Result<[PathBuf; 2]> {
    write_figures(fig, fig, base)
}

/// The largest figure drawn, in pixels (a 36 MB bitmap): figures are sized well below it; a
/// figure above it is an error, not an allocation of gigabytes.
pub const MAX_PIXELS: u64 = 12_000_000;

/// The longest side of a figure drawn, in pixels.
pub const MAX_SIDE: u32 = 8_000;

/// Refuses a figure size above [`MAX_SIDE`] or [`MAX_PIXELS`].
fn check_size((w, h): (u32, u32)) -> Result<(), DrawError> {
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE || w as u64 * h as u64 > MAX_PIXELS {
        return Err(DrawError(format!(
            "a figure of {w}×{h} pixels is outside the limits (sides 1 to {MAX_SIDE}, at most {MAX_PIXELS} pixels)"
        )));
    }
    Ok(())
}

thread_local! {
    /// Set while this thread draws inside [`guarded`]: a panic there is reported as an error.
    static DRAWING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `draw`, turning a panic inside plotters into a [`DrawError`] (and keeping the panic's
/// message and backtrace off the terminal).
fn guarded<T>(draw: impl FnOnce() -> Result<T, DrawError>) -> Result<T, DrawError> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !DRAWING.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = DRAWING.with(|d| d.replace(true));
    let result = std::panic::catch_unwind(AssertUnwindSafe(draw));
    DRAWING.with(|d| d.set(was));
    result.unwrap_or_else(|panic| {
        let why = (panic.downcast_ref::<String>().map(String::as_str))
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown cause");
        Err(DrawError(format!("the plotting library failed: {why}")))
    })
}

/// [`write_figure`] with a lighter variant for the SVG (where each point is an element), e.g. a
/// scatter plot with fewer points. A figure that cannot be drawn (too large, or plotters fails or
/// panics) is an error carrying a [`DrawError`], and leaves neither file behind.
pub fn write_figures(
    png_fig: &impl Figure,
    svg_fig: &impl Figure,
    base: &Path,
) -> std::io::Result<[PathBuf; 2]> {
    register_font();
    // Appended, not `with_extension`: a stem such as `scatter-layers.0.weight` or `…-c-0.1-seed-1`
    // has dots that are not an extension.
    let name = base
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let png = base.with_file_name(format!("{name}.png"));
    let svg = base.with_file_name(format!("{name}.svg"));
    // The caller names the figure; the error says which file and why.
    let failed =
        |kind: &str, e: DrawError| std::io::Error::other(DrawError(format!("{kind}: {e}")));
    check_size(png_fig.size()).map_err(|e| failed("PNG", e))?;
    check_size(svg_fig.size()).map_err(|e| failed("SVG", e))?;
    let dir = png.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // The bitmap backend writes the file itself: into a temporary name (its extension picks
    // the format), renamed into place once complete.
    let tmp = dir.join(format!(".{name}.tmp{}.png", std::process::id()));
    let drawn = guarded(|| {
        let root = BitMapBackend::new(&tmp, png_fig.size()).into_drawing_area();
        png_fig.draw(&root)?;
        root.present().map_err(err)
    });
    if let Err(e) = drawn {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed("PNG", e));
    }
    let text = guarded(|| {
        let mut text = String::new();
        {
            let root = SVGBackend::with_string(&mut text, svg_fig.size()).into_drawing_area();
            svg_fig.draw(&root)?;
            root.present().map_err(err)?;
        }
        Ok(text)
    });
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(failed("SVG", e));
        }
    };
    // Both drawn: only now does either replace an older file.
    crate::fsutil::write_atomic(&svg, text.as_bytes()).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    std::fs::rename(&tmp, &png).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok([png, svg])
}

/// Figures side by side under one title, e.g. one panel per estimator.
#[derive(Debug, Clone)]
pub struct Row<F> {
    /// Title above the panels.
    pub title: String,
    /// The panels, left to right, each given an equal share of the width.
    pub panels: Vec<F>,
    /// Pixel size of the whole row.
    pub size: (u32, u32),
}

impl<F: Figure> Figure for Row<F> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        let area = draw_caption(root, &self.title)?;
        let areas = area.split_evenly((1, self.panels.len().max(1)));
        for (a, p) in areas.iter().zip(&self.panels) {
            p.draw(a)?;
        }
        Ok(())
    }
}

/// plotters could not draw a figure (its backend's message; plotters' errors are generic over
/// the backend, so the message is what travels).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DrawError(pub String);

fn err<E: std::fmt::Display>(e: E) -> DrawError {
    DrawError(e.to_string())
}

fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().into()
}

/// Fills `root` white, writes `title` centred on top and returns the area below it.
fn draw_caption<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<DrawingArea<DB, Shift>, DrawError> {
    root.fill(&WHITE).map_err(err)?;
    let (w, _) = root.dim_in_pixel();
    // Panels of a row are narrower than whole figures: a smaller title still fits.
    let size = if w < 800 { 18 } else { 22 };
    root.draw(&Text::new(
        title.to_string(),
        (w as i32 / 2, 12),
        font(size).pos(Pos::new(HPos::Center, VPos::Top)),
    ))
    .map_err(err)?;
    Ok(root.margin(44, 10, 10, 24))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_font_parses() {
        assert!(plotters::style::register_font("synaptic-test", FontStyle::Normal, FONT).is_ok());
    }

    /// A figure that is only a title.
    struct Blank;

    impl Figure for Blank {
        fn size(&self) -> (u32, u32) {
            (200, 100)
        }
        fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
            draw_caption(root, "blank").map(|_| ())
        }
    }

    #[test]
    fn dots_in_a_stem_are_kept_and_each_figure_gets_its_own_files() {
        let d = tempfile::tempdir().unwrap();
        for seed in [1, 2] {
            let base = d.path().join(format!("matrix-si-c-0.1-seed-{seed}"));
            let [png, svg] = write_figure(&Blank, &base).unwrap();
            assert_eq!(
                png.file_name().unwrap(),
                format!("matrix-si-c-0.1-seed-{seed}.png").as_str()
            );
            assert!(png.is_file() && svg.is_file());
        }
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 4);
    }

    /// A figure whose drawing panics, as plotters did on a 600×600 heat map.
    struct Panics;

    impl Figure for Panics {
        fn size(&self) -> (u32, u32) {
            (200, 100)
        }
        fn draw<DB: DrawingBackend>(&self, _: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
            panic!("range end index 18446744067688540828 out of range")
        }
    }

    /// A figure of any size that draws nothing.
    struct Sized(u32, u32);

    impl Figure for Sized {
        fn size(&self) -> (u32, u32) {
            (self.0, self.1)
        }
        fn draw<DB: DrawingBackend>(&self, _: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
            Ok(())
        }
    }

    #[test]
    fn a_panic_or_an_oversized_figure_is_an_error_and_leaves_no_file() {
        let d = tempfile::tempdir().unwrap();
        let e = write_figure(&Panics, &d.path().join("p")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("PNG: the plotting library failed: range end index"),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
        assert!(e.get_ref().is_some_and(|i| i.is::<DrawError>()), "{e:?}");
        // 54230×42190 pixels: what a 600-task heat map asked for (6.9 GB of bitmap).
        let e = write_figure(&Sized(54_230, 42_190), &d.path().join("big")).unwrap_err();
        assert!(e.to_string().contains("outside the limits"), "{e}");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
        // The thread still reports an ordinary panic afterwards, and can draw.
        assert!(!DRAWING.with(Cell::get));
        write_figure(&Sized(200, 100), &d.path().join("ok")).unwrap();
    }

    #[test]
    fn slugs_keep_file_names_readable() {
        assert_eq!(slug("Split MNIST / task"), "split-mnist-task");
        assert_eq!(path_slug("all parameters"), "all_parameters");
        assert_eq!(path_slug("layers.0.weight"), "layers.0.weight");
    }
}
