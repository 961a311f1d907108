//! Your own data on the command line: recognising it behind `--dataset-dir`, reading it once per
//! process (with a bar while its images decode), recording it in the run's settings, and
//! loading whichever data a resolved config reads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::config::{RunConfig, Settings};
use crate::data::{load_for, Dataset};
use crate::scenario::Benchmark;
use crate::user_data::{looks_like_user_data, ImageSize, UserDataset};

use super::progress::DecodeProgress;
use super::RunFlags;

/// The user's data last read in this process, keyed by its path and image size: `compare`
/// reads it to plan its grid and again to run each cell.
type Cached = (PathBuf, Option<ImageSize>, Arc<Dataset>, UserDataset);

static CACHE: Mutex<Option<Cached>> = Mutex::new(None);

/// A string setting from the flags, else the config file.
fn pick<'a>(flags: &'a Settings, file: Option<&'a Settings>, key: &str) -> Option<&'a Value> {
    flags.get(key).or_else(|| file.and_then(|f| f.get(key)))
}

/// When the flags and config file choose benchmark `user` (by name, or by naming no benchmark
/// and passing your own data as `--dataset-dir`), reads that data and records it in
/// `settings` (`benchmark`, `user_data`) for the config to be resolved from.
pub(super) fn prepare(
    flags: &RunFlags,
    file: Option<&Settings>,
    settings: &mut Settings,
) -> anyhow::Result<()> {
    let named = pick(settings, file, "benchmark")
        .and_then(Value::as_str)
        .map(str::to_string);
    let dir = flags.data_dir.as_deref();
    let user = match (&named, dir) {
        (Some(b), _) => b == Benchmark::User.name(),
        (None, Some(d)) => looks_like_user_data(d),
        (None, None) => false,
    };
    if !user {
        return Ok(());
    }
    let Some(dir) = dir else {
        anyhow::bail!(
            "--benchmark user trains on your own data: pass its folder or .npz file as --dataset-dir"
        );
    };
    let size = match pick(settings, file, "image_size") {
        Some(Value::String(s)) => Some(
            s.parse::<ImageSize>()
                .map_err(|e| anyhow::anyhow!("--image-size: {e}"))?,
        ),
        Some(v) => anyhow::bail!("--image-size must be WxH in quotes, got {v}"),
        None => None,
    };
    let threads = pick(settings, file, "threads")
        .and_then(Value::as_u64)
        .unwrap_or(0) as usize;
    let max = flags.max_memory.or_else(machine_bytes);
    let (_, record) = read(dir, size, max, threads, flags.quiet)?;
    settings.insert("benchmark".into(), Benchmark::User.name().into());
    settings.insert("user_data".into(), serde_json::to_value(&record)?);
    Ok(())
}

/// The memory this machine has available, the bound on a user's pixels by default.
fn machine_bytes() -> Option<u64> {
    crate::memory::MemoryLimit::machine().map(|l| l.bytes)
}

/// Reads the user's data at `dir` (from the cache when this process read it already), its
/// pixels at most `max_bytes`.
fn read(
    dir: &Path,
    size: Option<ImageSize>,
    max_bytes: Option<u64>,
    threads: usize,
    quiet: bool,
) -> anyhow::Result<(Arc<Dataset>, UserDataset)> {
    let key = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((path, s, data, record)) = cache.as_ref() {
        if *path == key && *s == size {
            return Ok((data.clone(), record.clone()));
        }
    }
    let bar = DecodeProgress::new(dir, quiet);
    let read = crate::user_data::load(dir, size, max_bytes, threads, &|done, total| {
        bar.update(done, total)
    });
    bar.finish();
    let data = read?;
    let record = UserDataset::of(&data, dir);
    if !quiet {
        let names = &record.classes;
        let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
        let more = if names.len() > 8 { ", …" } else { "" };
        eprintln!(
            "data: {} {}, {} ({}{more}), {}x{} pixels, {} channel{}, {} training and {} test images",
            record.format,
            record.path.display(),
            match names.len() {
                1 => "1 class".to_string(),
                n => format!("{n} classes"),
            },
            shown.join(", "),
            record.cols,
            record.rows,
            record.channels,
            if record.channels == 1 { "" } else { "s" },
            record.train,
            record.test
        );
        if data.skipped.count > 0 {
            eprintln!(
                "data: skipped {} not named as PNG or JPEG images (the first: {})",
                crate::plural::plural(data.skipped.count, "file"),
                data.skipped
                    .first
                    .as_deref()
                    .map_or(String::new(), |p| p.display().to_string())
            );
        }
    }
    let dataset = Arc::new(data.dataset);
    *cache = Some((key, size, dataset.clone(), record.clone()));
    Ok((dataset, record))
}

/// The data `cfg` reads from `dir`: a user's data (checked against the config's record of it),
/// or a built-in benchmark's files.
pub(super) fn dataset_for(
    cfg: &RunConfig,
    dir: &Path,
    quiet: bool,
) -> anyhow::Result<Arc<Dataset>> {
    if let Some(want) = &cfg.user_data {
        // The config's estimate, data included, has passed the memory check already.
        let (data, now) = read(dir, cfg.image_size, machine_bytes(), cfg.threads, quiet)?;
        if let Some(what) = want.difference(&now) {
            anyhow::bail!(
                "{}: not the data this run was configured with ({what}); put that data back, or start a new run (--overwrite, or another --out)",
                dir.display()
            );
        }
        return Ok(data);
    }
    match load_for(cfg.benchmark.data(), dir) {
        Ok(d) => Ok(Arc::new(d)),
        // A built-in benchmark pointed at an image folder or arrays: say what to do instead.
        Err(_) if looks_like_user_data(dir) => anyhow::bail!(
            "{} holds your own data (an image folder or NumPy arrays), not {}'s files: drop --benchmark (or pass --benchmark user), adding --transform rotate for rotated tasks",
            dir.display(),
            cfg.benchmark.name()
        ),
        Err(e) => Err(e.into()),
    }
}
