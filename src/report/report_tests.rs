//! Tests of `synaptic report`'s library side on hand-made runs: grouping and labels, statistics
//! over seeds against hand values, and the files written (valid PNG/SVG with text, a table that
//! matches the inputs).

use std::path::Path;

use super::collect::{check_result, find_results, group_runs, value_display, Found};
use super::markdown::{heat_range, write_report, ReportOptions};
use super::summary::tests::result;
use super::{write_run, RunResult};
use crate::figures::{write_figure, LineChart, LineKind, Scatter, ScatterSeries, Series};

/// A run of `method` (SI strength `c`) with accuracy matrix `m`, metrics computed from it.
fn run(method: &str, c: f64, seed: u64, m: Vec<Vec<f64>>) -> RunResult {
    let mut r = result(method, seed, 0.0, 10.0 + seed as f64);
    if method == "si" {
        r.config.method.set("c", c.into());
    }
    r.config.tasks = m.len();
    let b = vec![0.5; m.len()];
    let x = crate::metrics::compute(&m, &b);
    r.task_names = (0..m.len())
        .map(|t| format!("digits {},{}", 2 * t, 2 * t + 1))
        .collect();
    r.initial_accuracy = b;
    r.average_accuracy = x.average_accuracy;
    r.mean_seen_accuracy = x.mean_seen_accuracy;
    r.backward_transfer = x.backward_transfer;
    r.forgetting = x.forgetting;
    r.forward_transfer = x.forward_transfer;
    r.accuracy_matrix = m;
    r
}

fn found(r: RunResult) -> Found {
    Found {
        path: format!("{}/seed-{}/result.json", r.method, r.seed).into(),
        result: r,
        notes: Vec::new(),
    }
}

fn m2(a: f64, b: f64, c: f64) -> Vec<Vec<f64>> {
    vec![vec![a, 0.5], vec![b, c]]
}

#[test]
fn runs_group_by_config_and_labels_name_what_differs_within_a_method() {
    let runs = vec![
        run("si", 1.0, 1, m2(1.0, 0.9, 1.0)),
        run("scratch", 0.0, 0, m2(1.0, 1.0, 1.0)),
        run("si", 0.0, 0, m2(1.0, 0.6, 1.0)),
        run("si", 1.0, 0, m2(1.0, 0.95, 1.0)),
        run("si", 0.01, 0, m2(1.0, 0.8, 1.0)),
    ];
    let mut other = run("si", 1.0, 0, m2(1.0, 0.9, 1.0));
    other.benchmark = "permuted-mnist".into();
    let mut all: Vec<Found> = runs.into_iter().map(found).collect();
    all.push(found(other));
    let sets = group_runs(all);
    assert_eq!(sets.len(), 2, "one figure set per benchmark and scenario");
    assert_eq!(sets[0].benchmark, "permuted-mnist");
    let set = &sets[1];
    let labels: Vec<&str> = set.groups.iter().map(|g| g.label.as_str()).collect();
    // SI first (Method::ALL order), ordered by c numerically; scratch has one group: no suffix.
    assert_eq!(labels, ["SI c=0", "SI c=0.01", "SI c=1", "scratch"]);
    let seeds: Vec<u64> = set.groups[2].runs.iter().map(|r| r.seed).collect();
    assert_eq!(seeds, [0, 1], "runs of a group by seed");
    assert_eq!(set.seeds(), [0, 1]);
    assert_eq!(set.title(), "split-mnist · task scenario · 2 seeds");
    assert_eq!(set.stem(), "split-mnist-task");
    assert_eq!(
        sets[0].groups[0].label, "SI",
        "alone in its set: the method only"
    );
    // Thread counts do not split a group; any other setting does, and is named.
    let mut a = run("l2", 0.0, 0, m2(1.0, 0.9, 1.0));
    a.threads = 1;
    a.config.threads = 1;
    let mut b = run("l2", 0.0, 1, m2(1.0, 0.9, 1.0));
    b.config.threads = 2;
    let mut c = run("l2", 0.0, 0, m2(1.0, 0.9, 1.0));
    c.config.method.set("lambda", 1e7.into());
    c.config.train.epochs = 3;
    let sets = group_runs(vec![found(a), found(b), found(c)]);
    let labels: Vec<&str> = sets[0].groups.iter().map(|g| g.label.as_str()).collect();
    // Keys in config order (alphabetical), groups by their values.
    assert_eq!(labels, ["L2 epochs=3 λ=1e7", "L2 epochs=10 λ=1"]);
    assert_eq!(sets[0].groups[1].runs.len(), 2);
}

#[test]
fn values_display_short() {
    let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    assert_eq!(value_display(&v("0.01")), "0.01");
    assert_eq!(value_display(&v("1.0")), "1");
    assert_eq!(value_display(&v("10000000.0")), "1e7");
    assert_eq!(value_display(&v("0.0001")), "1e-4");
    assert_eq!(value_display(&v("[256, 256]")), "256,256");
    assert_eq!(value_display(&v("null")), "none");
    assert_eq!(heat_range(&[vec![0.93, 0.2], vec![0.87, 0.99]]), (0.5, 1.0));
    assert_eq!(heat_range(&[vec![0.43, 0.2], vec![0.87, 0.99]]), (0.4, 1.0));
}

#[test]
fn group_statistics_are_mean_and_sem_over_seeds() {
    let sets = group_runs(vec![
        found(run("si", 1.0, 0, m2(1.0, 0.9, 0.96))),
        found(run("si", 1.0, 1, m2(0.98, 0.95, 1.0))),
        found(run("si", 1.0, 2, m2(0.99, 1.0, 0.98))),
    ]);
    let st = sets[0].groups[0].stats();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    // After 1 task: 1.0, 0.98, 0.99 → mean 0.99, sd 0.01, SEM 0.01/√3.
    assert!(close(st.mean_seen[0].mean, 0.99));
    assert!(close(st.mean_seen[0].sem, 0.01 / 3f64.sqrt()));
    // After 2 tasks: (0.9+0.96)/2 = 0.93, 0.975, 0.99 → mean 0.965; deviations −0.035, 0.01,
    // 0.025: Σ² = 0.00195, sd = √(0.00195/2), SEM = sd/√3.
    assert!(close(st.mean_seen[1].mean, 0.965));
    assert!(close(
        st.mean_seen[1].sem,
        (0.00195f64 / 2.0).sqrt() / 3f64.sqrt()
    ));
    assert!(close(st.average_accuracy.mean, 0.965));
    // Task 1 after the last task: 0.9, 0.95, 1.0 → mean 0.95, sd 0.05.
    assert!(close(st.final_per_task[0].mean, 0.95));
    assert!(close(st.final_per_task[0].sd, 0.05));
    // BWT per run: 0.9−1.0, 0.95−0.98, 1.0−0.99 → mean (−0.1−0.03+0.01)/3 = −0.04.
    assert!(close(st.backward_transfer.mean, -0.04));
    assert!(close(st.train_seconds.mean, 11.0));
}

/// A PNG's pixels cannot be read without a decoder here; its signature, size and the IHDR
/// width and height can.
fn check_png(path: &Path, w: u32, h: u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    assert_eq!(&b[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    assert_eq!((be(16), be(20)), (w, h), "{}", path.display());
    assert!(
        b.len() > 5_000,
        "{} is only {} bytes",
        path.display(),
        b.len()
    );
}

fn check_svg(path: &Path, texts: &[&str]) {
    let s = std::fs::read_to_string(path).unwrap();
    let root = s.trim_start().trim_start_matches(|c| c != '<');
    assert!(
        root.starts_with("<svg"),
        "{}: {}",
        path.display(),
        &s[..80.min(s.len())]
    );
    assert!(s.trim_end().ends_with("</svg>"));
    assert!(
        s.len() > 2_000,
        "{} is only {} bytes",
        path.display(),
        s.len()
    );
    for t in texts {
        assert!(s.contains(t), "{} lacks '{t}'", path.display());
    }
}

#[test]
fn report_writes_every_figure_and_a_table_matching_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let runs = [
        run("si", 1.0, 0, m2(1.0, 0.9, 0.96)),
        run("si", 1.0, 1, m2(0.98, 0.95, 1.0)),
        run("si", 0.0, 0, m2(1.0, 0.6, 1.0)),
        run("si", 0.0, 1, m2(1.0, 0.7, 0.98)),
    ];
    for r in &runs {
        let c = if r.config.method.number("c") == Some(0.0) {
            "si-c=0"
        } else {
            "si-c=1"
        };
        write_run(&dir.path().join(c).join(format!("seed-{}", r.seed)), r).unwrap();
    }
    let found = find_results(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(found.len(), 4);
    let sets = group_runs(found);
    let out = dir.path().join("out");
    let opts = ReportOptions {
        sources: vec!["runs".into()],
        command: Some("synaptic report runs".into()),
    };
    let w = write_report(&sets, &out, &opts).unwrap();
    // (a), (b) and a heat map per run, each as PNG and SVG.
    assert_eq!(w.figures.len(), 2 * (2 + 4));
    let fig = out.join("figures");
    check_png(&fig.join("split-mnist-task-mean-seen.png"), 900, 600);
    check_svg(
        &fig.join("split-mnist-task-mean-seen.svg"),
        &[
            "split-mnist · task scenario · 2 seeds",
            "tasks learned",
            "mean accuracy on tasks seen (test)",
            "SI c=1",
            "paper: SI c=1 (train)",
        ],
    );
    check_png(&fig.join("split-mnist-task-final-per-task.png"), 900, 600);
    check_svg(
        &fig.join("split-mnist-task-final-per-task.svg"),
        &["accuracy after the last task (test)", "T1", "T2", "SI c=0"],
    );
    let heat = fig.join("split-mnist-task-matrix-2-si-c-1-seed-1");
    check_png(&heat.with_extension("png"), 620, 520);
    check_svg(
        &heat.with_extension("svg"),
        &["0.95", "1.00", "after training task"],
    );
    let md = std::fs::read_to_string(&w.markdown).unwrap();
    for f in &w.figures {
        let rel = f.strip_prefix(&out).unwrap().display().to_string();
        if rel.ends_with(".png") {
            assert!(md.contains(&rel), "report.md does not embed {rel}");
        }
    }
    // The table: SI c=1 ACC = mean(0.93, 0.975) = 0.9525, SEM = 0.0225; BWT mean(−0.1, −0.03)
    // = −0.065 ± 0.035; forgetting 0.065 ± 0.035; FWT 0 (b = 0.5 = R[0][1]); train 10, 11 s.
    assert!(
        md.contains("| SI c=1 | 2 | 0.9525 ± 0.0225 | -0.0650 ± 0.0350 | 0.0650 ± 0.0350 | +0.0000 ± 0.0000 | 10.5 ± 0.5 |"),
        "{md}"
    );
    // SI c=0: ACC mean(0.8, 0.84) = 0.82 ± 0.02; BWT mean(−0.4, −0.3) = −0.35 ± 0.05.
    assert!(
        md.contains("| SI c=0 | 2 | 0.8200 ± 0.0200 | -0.3500 ± 0.0500 | 0.3500 ± 0.0500 |"),
        "{md}"
    );
    // Ours vs the paper, with the caveats.
    assert!(md.contains("### Ours vs the paper"));
    assert!(
        md.contains("| SI c=1 (paper) | train | 1.0000 | 1.0000 | 0.9930 | 0.9930 | 0.9890 |"),
        "{md}"
    );
    assert!(md.contains("read off its Figure 3") && md.contains("**training-set** accuracy"));
    assert!(
        md.contains("**Not the paper's protocol**: SI c=0: tasks=2 (paper 5)"),
        "{md}"
    );
    assert!(
        md.contains("| SI c=1 | 1 | 0.9750 | -0.0300 |"),
        "per-run table: {md}"
    );
    assert!(md.contains("`si-c=1/seed-1/result.json`") || md.contains("si-c=1/seed-1/result.json"));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&w.json).unwrap()).unwrap();
    let g = &json["sets"][0]["groups"][1];
    assert_eq!(g["label"], "SI c=1");
    assert_eq!(g["paper"]["final_mean"], 0.989);
    assert!((g["stats"]["average_accuracy"]["mean"].as_f64().unwrap() - 0.9525).abs() < 1e-12);
}

#[test]
fn a_folder_without_results_and_a_broken_result_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = find_results(&[dir.path().to_path_buf()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("holds no result.json") && !e.contains('\n'),
        "{e}"
    );
    let e = find_results(&[dir.path().join("nope")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not a folder"), "{e}");
    std::fs::create_dir_all(dir.path().join("a/checkpoints")).unwrap();
    // Checkpoint folders are not searched.
    std::fs::write(dir.path().join("a/checkpoints/result.json"), b"{}").unwrap();
    let e = find_results(&[dir.path().to_path_buf()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds no result.json"), "{e}");
    std::fs::write(dir.path().join("a/result.json"), b"{\"version\": 1}").unwrap();
    let e = find_results(&[dir.path().to_path_buf()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a/result.json is not a synaptic result file"),
        "{e}"
    );
}

/// Draws `fig` into an RGB buffer and counts the dark pixels in the rows `rows`.
fn dark_pixels(fig: &impl crate::figures::Figure, rows: std::ops::Range<u32>) -> usize {
    use plotters::prelude::*;
    crate::figures::register_font();
    let (w, h) = fig.size();
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        fig.draw(&root).unwrap();
        root.present().unwrap();
    }
    rows.flat_map(|y| (0..w).map(move |x| ((y * w + x) * 3) as usize))
        .filter(|&i| buf[i] < 100 && buf[i + 1] < 100 && buf[i + 2] < 100)
        .count()
}

#[test]
fn titles_are_drawn_with_the_bundled_font() {
    let chart = |title: &str| LineChart {
        title: title.into(),
        x_label: "tasks learned".into(),
        y_label: "accuracy".into(),
        x_range: (0.8, 3.2),
        y_range: (0.5, 1.0),
        integer_x: true,
        series: vec![Series {
            label: "a".into(),
            points: vec![(1.0, 0.9, 0.01), (2.0, 0.8, 0.02), (3.0, 0.85, 0.0)],
            color: 0,
            kind: LineKind::Solid,
        }],
        size: (900, 600),
    };
    // The title band (above the plot) is white without a title and has ink with one.
    assert_eq!(dark_pixels(&chart(""), 0..32), 0);
    assert!(dark_pixels(&chart("split-mnist · task scenario · 3 seeds"), 0..32) > 300);
    // Axis labels are drawn too (the bottom band holds the x labels and description).
    assert!(dark_pixels(&chart(""), 560..600) > 100);
}

#[test]
fn a_log_log_scatter_writes_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let fig = Scatter {
        title: "importance · SI against EWC".into(),
        x_label: "EWC Fisher (log)".into(),
        y_label: "SI Ω (log)".into(),
        log_x: true,
        log_y: true,
        diagonal: true,
        opacity: 0.6,
        note: "199 of 201 points shown".into(),
        series: vec![ScatterSeries {
            label: "layer 1".into(),
            points: (1..200)
                .map(|i| (i as f64 * 1e-4, (i as f64 * 1e-4).powf(0.8)))
                .chain([(0.0, 1.0), (-1.0, 2.0)])
                .collect(),
            color: 0,
        }],
        size: (700, 600),
    };
    let [png, svg] = write_figure(&fig, &dir.path().join("scatter")).unwrap();
    check_png(&png, 700, 600);
    check_svg(&svg, &["SI Ω (log)", "layer 1", "199 of 201 points shown"]);
    assert!(dark_pixels(&fig, 0..32) > 200);
}

#[test]
fn empty_ragged_or_out_of_range_matrices_are_refused_naming_the_file() {
    let path = Path::new("runs/a/result.json");
    let good = run("si", 1.0, 0, m2(0.99, 0.9, 0.98));
    let refused = |edit: &dyn Fn(&mut RunResult), needle: &str| {
        let mut r = good.clone();
        edit(&mut r);
        let e = check_result(path, &mut r).unwrap_err().to_string();
        assert!(
            e.starts_with("runs/a/result.json: ") && e.contains(needle) && !e.contains('\n'),
            "{e}"
        );
        assert!(
            e.contains("run that setting again, or leave its folder out"),
            "{e}"
        );
    };
    refused(&|r| r.accuracy_matrix.clear(), "accuracy_matrix is empty");
    refused(
        &|r| r.accuracy_matrix[1].pop().map(|_| ()).unwrap(),
        "row 2 of its accuracy_matrix has 1 value, want 2",
    );
    refused(
        &|r| r.accuracy_matrix[1][0] = -5.0,
        "accuracy_matrix[1][0] is -5, not an accuracy in [0, 1]",
    );
    refused(
        &|r| r.accuracy_matrix[0][1] = 1e308,
        "accuracy_matrix[0][1] is 1e308",
    );
    refused(
        &|r| r.accuracy_matrix[0][0] = f64::NAN,
        "accuracy_matrix[0][0] is NaN",
    );
    refused(
        &|r| r.config.tasks = 5,
        "has 2 rows but its config says 5 tasks",
    );
    refused(
        &|r| r.initial_accuracy.truncate(1),
        "initial_accuracy has 1 value, want 2",
    );
    refused(&|r| r.initial_accuracy[1] = 2.0, "initial_accuracy[1] is 2");
    refused(
        &|r| r.task_names.push("extra".into()),
        "names 3 tasks for 2 tasks",
    );
    let mut r = good.clone();
    assert_eq!(check_result(path, &mut r).unwrap(), Vec::<String>::new());
    // Unchanged, bit for bit: the report shows what the run recorded.
    assert_eq!(
        (r.average_accuracy.to_bits(), r.backward_transfer.to_bits()),
        (
            good.average_accuracy.to_bits(),
            good.backward_transfer.to_bits()
        )
    );
}

#[test]
fn metrics_come_from_the_matrix_and_a_stored_one_that_disagrees_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = run("si", 1.0, 0, m2(1.0, 0.9, 0.96));
    // ACC of this matrix is 0.93; the file claims 0.99 and a flattering BWT.
    r.average_accuracy = 0.99;
    r.backward_transfer = 0.0;
    r.mean_seen_accuracy = vec![1.0, 0.99];
    write_run(&dir.path().join("si-c=1/seed-0"), &r).unwrap();
    let found = find_results(&[dir.path().to_path_buf()]).unwrap();
    let got = &found[0].result;
    assert!((got.average_accuracy - 0.93).abs() < 1e-12);
    assert!((got.backward_transfer + 0.1).abs() < 1e-12);
    assert!((got.mean_seen_accuracy[1] - 0.93).abs() < 1e-12);
    assert_eq!(found[0].notes.len(), 1);
    let n = &found[0].notes[0];
    assert!(
        n.contains("si-c=1/seed-0/result.json: stored average_accuracy 0.9900 (the matrix gives 0.9300), backward_transfer 0.0000 (the matrix gives -0.1000), mean_seen_accuracy disagree"),
        "{n}"
    );
    let out = dir.path().join("out");
    let w = write_report(&group_runs(found), &out, &ReportOptions::default()).unwrap();
    assert_eq!(w.notes.len(), 1);
    let md = std::fs::read_to_string(&w.markdown).unwrap();
    assert!(md.contains("| SI | 1 | 0.9300 | -0.1000 |"), "{md}");
    assert!(
        md.contains("**Notes on the input:**") && md.contains("stored average_accuracy 0.9900"),
        "{md}"
    );
    assert!(!md.contains("0.9900 |"), "{md}");
}

#[test]
fn two_copies_of_one_run_count_as_one_seed_with_a_note_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let a = run("si", 1.0, 0, m2(1.0, 0.9, 0.96));
    let b = run("si", 1.0, 1, m2(0.98, 0.95, 1.0));
    write_run(&dir.path().join("grid/seed-0"), &a).unwrap();
    write_run(&dir.path().join("grid/seed-1"), &b).unwrap();
    write_run(&dir.path().join("copy/seed-0"), &a).unwrap();
    let sets = group_runs(find_results(&[dir.path().to_path_buf()]).unwrap());
    let g = &sets[0].groups[0];
    let seeds: Vec<u64> = g.runs.iter().map(|r| r.seed).collect();
    assert_eq!(seeds, [0, 1]);
    assert_eq!(sets[0].title(), "split-mnist · task scenario · 2 seeds");
    assert_eq!(sets[0].notes.len(), 1, "{:?}", sets[0].notes);
    let n = &sets[0].notes[0];
    let (copy, grid) = (
        dir.path().join("copy/seed-0"),
        dir.path().join("grid/seed-0"),
    );
    assert!(
        n.contains(&format!(
            "{} and {} hold the same setting with the same seed (0): counted once, from {}",
            copy.display(),
            grid.display(),
            copy.display()
        )),
        "{n}"
    );
    // ACC over the two distinct seeds: mean(0.93, 0.975).
    assert!((g.stats().average_accuracy.mean - 0.9525).abs() < 1e-12);
}

/// Draws `fig` into an RGB buffer.
fn pixels(fig: &impl crate::figures::Figure) -> Vec<u8> {
    use plotters::prelude::*;
    crate::figures::register_font();
    let (w, h) = fig.size();
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        fig.draw(&root).unwrap();
        root.present().unwrap();
    }
    buf
}

#[test]
fn the_bar_chart_ends_at_its_last_category() {
    use crate::figures::{BarChart, BarGroup};
    let chart = BarChart {
        title: "bars".into(),
        x_label: "task".into(),
        y_label: "accuracy".into(),
        categories: vec!["T1".into(), "T2".into(), "T3".into()],
        groups: vec![BarGroup {
            label: "SI c=1".into(),
            values: vec![Some((1.0, 0.0)); 3],
            reference: vec![None; 3],
            color: 0,
        }],
        reference_label: "paper".into(),
        y_range: (0.0, 1.005),
        size: (900, 600),
    };
    let buf = pixels(&chart);
    let w = 900usize;
    let at = |x: usize, y: usize| {
        let i = (y * w + x) * 3;
        (buf[i], buf[i + 1], buf[i + 2])
    };
    let bar = (31, 119, 180);
    let grid = (215, 215, 215);
    // A row through the bars, below the legend: where the bars start and end.
    let y = 400;
    let xs: Vec<usize> = (0..w).filter(|&x| at(x, y) == bar).collect();
    let (first, last) = (xs[0], xs[xs.len() - 1]);
    // A grid line spans the plot: its right end is the plot's right edge.
    let rows: Vec<usize> = (60..560).filter(|&y| at(first - 3, y) == grid).collect();
    assert!(!rows.is_empty(), "no grid line found");
    let right = (0..w).filter(|&x| at(x, rows[0]) == grid).max().unwrap();
    let left_axis = (0..first).rev().find(|&x| at(x, y).0 < 100).unwrap();
    let (gap_before, gap_after) = (first - left_axis, right - last);
    // One slot is (last - first) / 2.6; no empty slot after the last task.
    assert!(
        gap_after <= gap_before + 4,
        "{gap_after} px after the last bar, {gap_before} px before the first"
    );
}

#[test]
fn log_axis_labels_reach_below_1e_16() {
    let dir = tempfile::tempdir().unwrap();
    let fig = Scatter {
        title: "tiny importances".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        log_x: true,
        log_y: true,
        diagonal: false,
        opacity: 1.0,
        note: String::new(),
        series: vec![ScatterSeries {
            label: "layer".into(),
            points: (0..19)
                .map(|k| (10f64.powi(-20 + k), 10f64.powi(-20 + k)))
                .collect(),
            color: 0,
        }],
        size: (700, 600),
    };
    let [_, svg] = write_figure(&fig, &dir.path().join("s")).unwrap();
    let text = std::fs::read_to_string(svg).unwrap();
    for label in ["1e-20", "1e-18", "1e-16", "1e-14", "0.01"] {
        assert!(
            text.contains(&format!("\n{label}\n")),
            "no tick label {label}"
        );
    }
}

#[test]
fn a_600_task_heat_map_is_bounded_in_pixels_and_elements() {
    let dir = tempfile::tempdir().unwrap();
    let n = 600;
    let m: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| ((i * 7 + j * 3) % 100) as f64 / 100.0)
                .collect()
        })
        .collect();
    let r = run("si", 1.0, 0, m);
    let out = dir.path().join("out");
    let w = write_report(&group_runs(vec![found(r)]), &out, &ReportOptions::default()).unwrap();
    let heat = out.join("figures/split-mnist-task-matrix-1-si-seed-0");
    check_png(&heat.with_extension("png"), 1100, 1000);
    let svg = std::fs::read_to_string(heat.with_extension("svg")).unwrap();
    let rects = svg.matches("<rect").count();
    // 100×100 blocks of 6×6 tasks, plus the background.
    assert!(
        rects <= crate::figures::MAX_CELLS.pow(2) + 10,
        "{rects} rectangles"
    );
    assert!(svg.len() < 3_000_000, "{} bytes", svg.len());
    // Tick labels thinned out: T1, T51, T101, …, not 600 of them.
    assert!(svg.contains("\nT101\n") && !svg.contains("\nT2\n"));
    assert_eq!(w.figures.len(), 6);
    assert!(std::fs::read_dir(&out).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".figures")));
}
