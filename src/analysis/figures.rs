//! Figures of `synaptic analyze importance`, PNG and SVG, drawn with [`crate::figures`]: per
//! layer, SI's task importance against the Fisher and against MAS's importance on log-log axes
//! (one panel each, one colour per task), and the between-task correlation heat maps.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::importance::{fmt, mean_spearman, Analysis, Saved, ALL, MAX_POINTS_PNG, MAX_POINTS_SVG};
use crate::figures::{
    path_slug, write_figure, write_figures, ColorScale, HeatMap, Row, Scatter, ScatterSeries,
};
use crate::plural::plural;

/// Pixel size of one scatter panel; a row holds two.
const PANEL: (u32, u32) = (750, 620);

/// SI's task importance (x) against estimator `y` on `layer`, per task, at most `cap` points.
fn panel(saved: &Saved, a: &Analysis, layer: &str, y: &str, pair: usize, cap: usize) -> Scatter {
    let tasks: Vec<usize> = saved.index.tasks.iter().map(|t| t.task).collect();
    let per_task = cap / tasks.len().max(1);
    let (mut total, mut dropped, mut shown) = (0, 0, 0);
    let mut series = Vec::new();
    for (k, &t) in tasks.iter().enumerate() {
        let label = a.run.tasks.get(k).map_or_else(
            || format!("task {}", k + 1),
            |n| format!("task {} ({n})", k + 1),
        );
        let mut points = Vec::new();
        if let (Some(xs), Some(ys)) = (saved.values(t, "si_task", layer), saved.values(t, y, layer))
        {
            total += xs.len();
            points = xs
                .iter()
                .zip(&ys)
                .filter(|(a, b)| **a > 0.0 && **b > 0.0)
                .map(|(a, b)| (*a, *b))
                .collect();
            dropped += xs.len() - points.len();
            if points.len() > per_task {
                // Deterministic: the same run always shows the same points.
                let mut rng = ChaCha8Rng::seed_from_u64(0x5ca7 ^ t as u64);
                let mut keep =
                    rand::seq::index::sample(&mut rng, points.len(), per_task).into_vec();
                keep.sort_unstable();
                points = keep.into_iter().map(|i| points[i]).collect();
            }
            shown += points.len();
        }
        series.push(ScatterSeries {
            label,
            points,
            color: k,
        });
    }
    let (y_label, y_name) = match y {
        "fisher" => ("diagonal Fisher  E[(∂ log p(y|x)/∂θ)²]", "Fisher"),
        _ => ("MAS importance  E|∂‖f(x)‖²/∂θ|", "MAS"),
    };
    let rho = fmt(mean_spearman(&a.pairs[pair], layer));
    Scatter {
        title: format!("{y_name} vs SI: Spearman ρ {rho}, mean over tasks"),
        x_label: "SI importance of the task  ω/(Δθ²+ξ),  Δθ: movement over the task".into(),
        y_label: y_label.into(),
        log_x: true,
        log_y: true,
        diagonal: false,
        series,
        // Tens of thousands of points: faint ones show where they crowd.
        opacity: 0.35,
        note: format!(
            "{shown} of {} shown; {dropped} with a value ≤ 0 left out",
            plural(total, "point")
        ),
        size: PANEL,
    }
}

/// The scatter plots of `layer`: Fisher and MAS against SI, side by side.
fn scatter_row(saved: &Saved, a: &Analysis, layer: &str, cap: usize) -> Row<Scatter> {
    let r = &a.run;
    Row {
        title: format!(
            "{} · {} · seed {} · {layer}: importance per parameter at the end of each task (log-log)",
            r.benchmark, r.method, r.seed
        ),
        panels: vec![
            panel(saved, a, layer, "fisher", 0, cap),
            panel(saved, a, layer, "mas", 1, cap),
        ],
        size: (2 * PANEL.0, PANEL.1 + 40),
    }
}

/// Spearman's ρ between tasks, one heat map per estimator, over every parameter.
fn between(a: &Analysis) -> Row<HeatMap> {
    let r = &a.run;
    let panels: Vec<HeatMap> = a
        .between_tasks
        .iter()
        .filter(|b| b.layer == ALL)
        .map(|b| {
            let n = b.spearman.len();
            let names: Vec<String> = (1..=n).map(|k| k.to_string()).collect();
            let title = match b.estimator.as_str() {
                "si_task" => "SI importance of the task  ω/(Δθ²+ξ)",
                "fisher" => "diagonal Fisher",
                _ => "MAS importance",
            };
            HeatMap {
                title: title.into(),
                row_label: "task k".into(),
                col_label: "task l".into(),
                rows: names.clone(),
                cols: names,
                values: b.spearman.clone(),
                faded: Vec::new(),
                range: (-1.0, 1.0),
                scale: ColorScale::Diverging,
                size: HeatMap::size_for(n, n),
            }
        })
        .collect();
    let (w, h) = panels.first().map_or((620, 520), |p| p.size);
    Row {
        title: format!(
            "{} · {} · seed {}: Spearman ρ of each estimator's importance between tasks ({ALL})",
            r.benchmark, r.method, r.seed
        ),
        size: (w * panels.len().max(1) as u32, h + 40),
        panels,
    }
}

/// Draws every figure into `out`; returns the file names written.
pub fn draw_all(
    saved: &Saved,
    a: &Analysis,
    out: &Path,
) -> Result<Vec<String>, super::AnalysisError> {
    let mut files = Vec::new();
    let mut written = |paths: std::io::Result<[std::path::PathBuf; 2]>, stem: &str| {
        let paths = paths.map_err(|e| format!("cannot write {}: {e}", out.join(stem).display()))?;
        for p in paths {
            files.extend(p.file_name().map(|n| n.to_string_lossy().into_owned()));
        }
        Ok::<_, String>(())
    };
    for layer in &a.layers {
        let stem = format!("scatter-{}", path_slug(layer));
        written(
            write_figures(
                &scatter_row(saved, a, layer, MAX_POINTS_PNG),
                &scatter_row(saved, a, layer, MAX_POINTS_SVG),
                &out.join(&stem),
            ),
            &stem,
        )?;
    }
    written(
        write_figure(&between(a), &out.join("between-tasks")),
        "between-tasks",
    )?;
    Ok(files)
}
