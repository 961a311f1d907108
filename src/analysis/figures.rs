//! Figures of `synaptic analyze importance`, PNG and SVG: one log-log scatter plot per layer
//! (SI's task importance on x; the Fisher and MAS's importance on y, one panel each, one colour
//! per task) and the between-task correlation heatmaps. Text uses the bundled DejaVu Sans.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::importance::{fmt, Analysis, Saved, ALL};

/// Points per panel in the PNG scatter plots (a deterministic subsample when there are more).
pub const MAX_POINTS_PNG: usize = 20_000;
/// Points per panel in the SVG scatter plots (each point is an element: kept small).
pub const MAX_POINTS_SVG: usize = 2_500;

static FONT: Once = Once::new();

/// Registers the bundled font as "sans-serif" (once per process).
fn register() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        register_font("sans-serif", FontStyle::Normal, bytes)
            .unwrap_or_else(|_| panic!("the bundled DejaVu Sans font does not parse"));
    });
}

const TASK_COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn task_color(t: usize) -> RGBColor {
    TASK_COLORS[t % TASK_COLORS.len()]
}

/// A file-name-safe form of a layer path.
fn slug(layer: &str) -> String {
    layer
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One panel's points, per task: (x, y) with both positive, subsampled.
struct Panel {
    y_label: &'static str,
    y_name: &'static str,
    points: Vec<Vec<(f64, f64)>>,
    total: usize,
    dropped: usize,
    shown: usize,
}

fn panel(saved: &Saved, layer: &str, y: &str, cap: usize) -> Panel {
    let tasks: Vec<usize> = saved.index.tasks.iter().map(|t| t.task).collect();
    let per_task = cap / tasks.len().max(1);
    let (mut total, mut dropped, mut shown) = (0, 0, 0);
    let mut points = Vec::new();
    for &t in &tasks {
        let (Some(xs), Some(ys)) = (saved.values(t, "si_task", layer), saved.values(t, y, layer))
        else {
            points.push(Vec::new());
            continue;
        };
        total += xs.len();
        let mut p: Vec<(f64, f64)> = xs
            .iter()
            .zip(&ys)
            .filter(|(a, b)| **a > 0.0 && **b > 0.0)
            .map(|(a, b)| (*a, *b))
            .collect();
        dropped += xs.len() - p.len();
        if p.len() > per_task {
            // Deterministic: the same run always shows the same points.
            let mut rng = ChaCha8Rng::seed_from_u64(0x5ca7 ^ t as u64);
            let mut keep = rand::seq::index::sample(&mut rng, p.len(), per_task).into_vec();
            keep.sort_unstable();
            p = keep.into_iter().map(|i| p[i]).collect();
        }
        shown += p.len();
        points.push(p);
    }
    let (y_label, y_name) = match y {
        "fisher" => ("diagonal Fisher  E[(∂ log p(y|x)/∂θ)²]", "Fisher"),
        _ => ("MAS importance  E|∂‖f(x)‖²/∂θ|", "MAS"),
    };
    Panel {
        y_label,
        y_name,
        points,
        total,
        dropped,
        shown,
    }
}

fn log_range(v: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = v.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return None;
    }
    // Half a decade of margin, and at least one decade shown.
    let (mut l, mut h) = (lo.log10() - 0.25, hi.log10() + 0.25);
    if h - l < 1.0 {
        let mid = (h + l) / 2.0;
        l = mid - 0.5;
        h = mid + 0.5;
    }
    Some((10f64.powf(l), 10f64.powf(h)))
}

fn sci(v: &f64) -> String {
    if (1e-2..1e3).contains(v) {
        format!("{}", (v * 1000.0).round() / 1000.0)
    } else {
        format!("{v:.0e}")
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
    rho: &str,
    task_names: &[String],
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("drawing failed: {e:?}");
    let all = || p.points.iter().flatten();
    let caption = format!("{} vs SI: Spearman ρ {rho}", p.y_name);
    let note = format!(
        "{} of {} points shown; {} with a value ≤ 0 left out",
        p.shown, p.total, p.dropped
    );
    let (Some((xl, xh)), Some((yl, yh))) =
        (log_range(all().map(|q| q.0)), log_range(all().map(|q| q.1)))
    else {
        area.titled(&caption, ("sans-serif", 16)).map_err(err)?;
        area.draw(&Text::new(
            "no entry where both values are positive",
            (40, 80),
            ("sans-serif", 18).into_font(),
        ))
        .map_err(err)?;
        return Ok(());
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d((xl..xh).log_scale(), (yl..yh).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("SI importance of the task  ω/(Δθ²+ξ),  Δθ: movement over the task")
        .y_desc(p.y_label)
        .x_label_formatter(&sci)
        .y_label_formatter(&sci)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for (t, pts) in p.points.iter().enumerate() {
        let c = task_color(t);
        let name = task_names.get(t).map_or_else(
            || format!("task {}", t + 1),
            |n| format!("task {} ({n})", t + 1),
        );
        chart
            .draw_series(
                pts.iter()
                    .map(|&(x, y)| Circle::new((x, y), 2, c.mix(0.35).filled())),
            )
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| Circle::new((x, y), 4, c.filled()));
    }
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        note,
        (w as i32 - 12, h as i32 - 62),
        ("sans-serif", 13).into_font().color(&BLACK.mix(0.7)).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Right,
                plotters::style::text_anchor::VPos::Bottom,
            ),
        ),
    ))
    .map_err(err)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    Ok(())
}

fn draw_scatter<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    saved: &Saved,
    a: &Analysis,
    layer: &str,
    cap: usize,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("drawing failed: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let r = &a.run;
    let title = format!(
        "{} · {} · seed {} · {layer}: importance per parameter at the end of each task (log-log)",
        r.benchmark, r.method, r.seed
    );
    let root = root.titled(&title, ("sans-serif", 20)).map_err(err)?;
    let halves = root.split_evenly((1, 2));
    for (area, (y, pair)) in halves.iter().zip([("fisher", 0usize), ("mas", 1)]) {
        let p = panel(saved, layer, y, cap);
        let rho = fmt(super::importance::mean_spearman(&a.pairs[pair], layer));
        draw_panel(area, &p, &format!("{rho}, mean over tasks"), &r.tasks)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// A colour for a correlation in [-1, 1]: blue (−1), white (0), red (+1).
fn diverging(v: f64) -> RGBColor {
    let v = v.clamp(-1.0, 1.0);
    let mix = |a: u8, b: u8, t: f64| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    if v >= 0.0 {
        RGBColor(mix(255, 178, v), mix(255, 24, v), mix(255, 43, v))
    } else {
        RGBColor(mix(255, 33, -v), mix(255, 102, -v), mix(255, 172, -v))
    }
}

fn draw_between<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    a: &Analysis,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("drawing failed: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let r = &a.run;
    let title = format!(
        "{} · {} · seed {}: Spearman ρ of each estimator's importance between tasks ({ALL})",
        r.benchmark, r.method, r.seed
    );
    let root = root.titled(&title, ("sans-serif", 20)).map_err(err)?;
    let mats: Vec<_> = a.between_tasks.iter().filter(|b| b.layer == ALL).collect();
    let areas = root.split_evenly((1, mats.len().max(1)));
    for (area, b) in areas.iter().zip(&mats) {
        let n = b.spearman.len();
        let name = match b.estimator.as_str() {
            "si_task" => "SI importance of the task  ω/(Δθ²+ξ)",
            "fisher" => "diagonal Fisher",
            _ => "MAS importance",
        };
        let mut chart = ChartBuilder::on(area)
            .caption(name, ("sans-serif", 16))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(54)
            .build_cartesian_2d(
                (0..n.saturating_sub(1)).into_segmented(),
                (0..n.saturating_sub(1)).into_segmented(),
            )
            .map_err(err)?;
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(k) | SegmentValue::Exact(k) => format!("{}", k + 1),
            SegmentValue::Last => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("task l")
            .y_desc("task k")
            .x_labels(n)
            .y_labels(n)
            .x_label_formatter(&label)
            .y_label_formatter(&label)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        for (k, row) in b.spearman.iter().enumerate() {
            for (l, v) in row.iter().enumerate() {
                let c = v.map_or(RGBColor(220, 220, 220), diverging);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [
                            (SegmentValue::Exact(l), SegmentValue::Exact(k)),
                            (SegmentValue::Exact(l + 1), SegmentValue::Exact(k + 1)),
                        ],
                        c.filled(),
                    )))
                    .map_err(err)?;
                let ink = if v.is_some_and(|v| v.abs() > 0.6) {
                    WHITE
                } else {
                    BLACK
                };
                let style = ("sans-serif", 15).into_font().color(&ink).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Center,
                    ),
                );
                chart
                    .draw_series(std::iter::once(Text::new(
                        fmt(*v),
                        (SegmentValue::CenterOf(l), SegmentValue::CenterOf(k)),
                        style,
                    )))
                    .map_err(err)?;
            }
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Draws every figure into `out`; returns the file names written.
pub fn draw_all(saved: &Saved, a: &Analysis, out: &Path) -> Result<Vec<String>, String> {
    register();
    let mut files = Vec::new();
    let size = (1500u32, 660u32);
    for layer in &a.layers {
        let stem = format!("scatter-{}", slug(layer));
        png_and_svg(
            out,
            &stem,
            size,
            &mut files,
            |root| draw_scatter(root, saved, a, layer, MAX_POINTS_PNG),
            |root| draw_scatter(root, saved, a, layer, MAX_POINTS_SVG),
        )?;
    }
    let n = a.run.tasks.len() as u32;
    let side = (300 + 60 * n).min(700);
    png_and_svg(
        out,
        "between-tasks",
        (side * 3, side + 60),
        &mut files,
        |root| draw_between(root, a),
        |root| draw_between(root, a),
    )?;
    Ok(files)
}

/// Draws one figure as a PNG (through a temporary name, then renamed) and as an SVG.
fn png_and_svg(
    out: &Path,
    stem: &str,
    size: (u32, u32),
    files: &mut Vec<String>,
    png: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
    svg: impl FnOnce(DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<(), String> {
    let name = format!("{stem}.png");
    let tmp = out.join(format!(".{stem}.tmp.png"));
    {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        png(root)?;
    }
    std::fs::rename(&tmp, out.join(&name)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", out.join(&name).display())
    })?;
    files.push(name);
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        svg(root)?;
    }
    let name = format!("{stem}.svg");
    crate::report::write_atomic(&out.join(&name), text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", out.join(&name).display()))?;
    files.push(name);
    Ok(())
}
