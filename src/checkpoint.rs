//! Checkpoints of a run under `OUT/checkpoints/`: the model (burn's named MessagePack record, full
//! precision), Adam's state (its record), the regulariser's state ([`RegularizerState`] bytes)
//! and `state.json` (the [`Position`]: task, epoch, step, the epoch's order, the partial outcome;
//! and the minibatch generator). Every file is written atomically under a name carrying the
//! checkpoint's sequence number; `checkpoint.json`, the manifest, is written last and names the
//! files (with their SHA-256) of the latest complete checkpoint, so a crash mid-save leaves the
//! previous checkpoint intact. Files of older checkpoints are deleted after the manifest moved on,
//! and the temporary files of a write that a killed process left behind when a run opens the
//! folder again. The manifest also records the digest of the run's config, so that a resume with
//! other settings is refused ([`read_manifest_for`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use burn::module::AutodiffModule;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder, RecorderError};
use burn::tensor::backend::AutodiffBackend;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fsutil::write_atomic;
use crate::regularizer::RegularizerState;
use crate::run_clock::{ClockRecord, RunClock};
use crate::train::{AdamRecord, CheckpointSink, Position, Resumed, SaveReason, TrainState};

/// Name of the manifest inside the checkpoint folder.
pub const MANIFEST: &str = "checkpoint.json";
/// Version of the checkpoint layout.
pub const FORMAT: u32 = 1;

/// One file of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestFile {
    /// `model`, `adam`, `regularizer` or `state`.
    pub role: String,
    /// File name inside the checkpoint folder.
    pub name: String,
    /// Hex SHA-256 of the file.
    pub sha256: String,
}

/// `checkpoint.json`: the latest complete checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version ([`FORMAT`]).
    pub format: u32,
    /// Sequence number of the checkpoint (0, 1, …).
    pub seq: u64,
    /// 0-based task of the position (the number of tasks once the run finished).
    pub task: usize,
    /// 0-based epoch of the position.
    pub epoch: usize,
    /// Steps of that epoch already taken.
    pub step: usize,
    /// `task`, `epoch` or `interrupt`.
    pub reason: String,
    /// Hex SHA-256 of the run's config (`RunConfig::digest`); absent in checkpoints written
    /// before it was recorded, which resume without that check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_sha256: Option<String>,
    /// The files.
    pub files: Vec<ManifestFile>,
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    position: Position,
    rng: ChaCha8Rng,
    /// The run's wall clock at the save (absent in checkpoints of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    clock: Option<ClockRecord>,
}

pub use crate::train::CheckpointError;

type Rec = NamedMpkBytesRecorder<FullPrecisionSettings>;

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes checkpoints into a folder; a [`CheckpointSink`] for the training loop.
pub struct FileCheckpoints {
    dir: PathBuf,
    seq: u64,
    every: Option<usize>,
    stop_after_task: Option<usize>,
    interrupted: Option<Arc<AtomicBool>>,
    clock: Option<RunClock>,
    config_sha256: Option<String>,
}

impl FileCheckpoints {
    /// Checkpoints into `dir` (created if needed), continuing the numbering of a manifest there.
    /// Temporary files that a killed writer left in `dir` are removed: the caller is the one
    /// process writing there.
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        crate::fsutil::remove_stale_temporaries(dir);
        let seq = read_manifest(dir).map_or(0, |m| m.seq + 1);
        Ok(Self {
            dir: dir.to_path_buf(),
            seq,
            every: None,
            stop_after_task: None,
            interrupted: None,
            clock: None,
            config_sha256: None,
        })
    }

    /// Records `digest` (the run config's `RunConfig::digest`) in every manifest written.
    pub fn set_config_digest(&mut self, digest: String) {
        self.config_sha256 = Some(digest);
    }

    /// Also checkpoint every `n` epochs inside a task.
    pub fn every_epochs(mut self, n: Option<usize>) -> Self {
        self.every = n.filter(|&n| n > 0);
        self
    }

    /// Stop the run (as an interrupt) once task `task` (1-based) is checkpointed.
    pub fn stop_after_task(mut self, task: Option<usize>) -> Self {
        self.stop_after_task = task;
        self
    }

    /// Stop the run after the next checkpoint once `flag` is set (Ctrl-C).
    pub fn interrupt_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupted = Some(flag);
        self
    }

    /// Record `clock` in every checkpoint, so that a resumed run counts this process's time.
    pub fn set_clock(&mut self, clock: RunClock) {
        self.clock = Some(clock);
    }

    fn write<B: AutodiffBackend, M: AutodiffModule<B>>(
        &mut self,
        state: &TrainState<'_, B, M>,
        reason: SaveReason,
    ) -> Result<(), CheckpointError> {
        let encode = |what, e: &dyn std::fmt::Display| CheckpointError::Encode {
            what,
            message: e.to_string(),
        };
        let rec = Rec::default();
        let model = Recorder::<B>::record(&rec, state.model.clone().into_record(), ())
            .map_err(|e| encode("the model", &e))?;
        let adam = Recorder::<B>::record(&rec, state.optim.clone(), ())
            .map_err(|e| encode("Adam's state", &e))?;
        let json = serde_json::to_vec(&StateFile {
            position: state.position.clone(),
            rng: state.rng.clone(),
            clock: self.clock.map(|c| c.record()),
        })
        .map_err(|e| encode("the position", &e))?;
        let mut parts = vec![("model", "mpk", model), ("adam", "mpk", adam)];
        if let Some(r) = &state.regularizer {
            parts.push(("regularizer", "bin", r.to_bytes()));
        }
        parts.push(("state", "json", json));
        let seq = self.seq;
        let mut files = Vec::new();
        for (role, ext, bytes) in parts {
            let name = format!("{seq:06}-{role}.{ext}");
            write_atomic(&self.dir.join(&name), &bytes).map_err(|error| {
                CheckpointError::Write {
                    dir: self.dir.clone(),
                    error,
                }
            })?;
            files.push(ManifestFile {
                role: role.into(),
                name,
                sha256: sha_hex(&bytes),
            });
        }
        let p = state.position;
        let manifest = Manifest {
            format: FORMAT,
            seq,
            task: p.task,
            epoch: p.epoch,
            step: p.step,
            reason: match reason {
                SaveReason::Task => "task",
                SaveReason::Epoch => "epoch",
                SaveReason::Interrupt => "interrupt",
            }
            .into(),
            config_sha256: self.config_sha256.clone(),
            files,
        };
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| encode("the manifest", &e))?;
        write_atomic(&self.dir.join(MANIFEST), &bytes).map_err(|error| CheckpointError::Write {
            dir: self.dir.clone(),
            error,
        })?;
        self.seq += 1;
        // The manifest no longer names older files: remove them.
        let keep = format!("{seq:06}-");
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                let numbered = n.len() > 7
                    && n.as_bytes()[6] == b'-'
                    && n[..6].bytes().all(|b| b.is_ascii_digit());
                if numbered && !n.starts_with(&keep) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> CheckpointSink<B, M> for FileCheckpoints {
    fn every_epochs(&self) -> Option<usize> {
        self.every
    }

    fn save(
        &mut self,
        state: TrainState<'_, B, M>,
        reason: SaveReason,
    ) -> Result<bool, CheckpointError> {
        self.write(&state, reason)?;
        let stop_hook = reason == SaveReason::Task
            && self
                .stop_after_task
                .is_some_and(|t| t == state.position.task);
        let flag = self
            .interrupted
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst));
        Ok(!(stop_hook || flag))
    }
}

/// Reads and checks `dir/checkpoint.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, CheckpointError> {
    let path = dir.join(MANIFEST);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(error) => return Err(CheckpointError::NoManifest { path, error }),
    };
    let m: Manifest = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => {
            return Err(CheckpointError::CorruptManifest {
                path,
                message: e.to_string(),
            })
        }
    };
    if m.format != FORMAT {
        return Err(CheckpointError::Format {
            path,
            found: m.format,
            reads: FORMAT,
        });
    }
    // The files are read from `dir` only: no separator, no `..`, nothing absolute.
    if let Some(f) = m.files.iter().find(|f| !plain_name(&f.name)) {
        let name = f.name.clone();
        return Err(CheckpointError::UnsafeName { path, name });
    }
    if let Some(d) = m.config_sha256.as_deref().filter(|d| !is_sha256_hex(d)) {
        return Err(CheckpointError::CorruptManifest {
            path,
            message: format!("config_sha256 {d:?} is not a hex SHA-256"),
        });
    }
    Ok(m)
}

/// Reads `dir/checkpoint.json` as [`read_manifest`] does and checks that the checkpoint was taken
/// with the config of digest `config_sha256` (checkpoints that predate the record pass).
pub fn read_manifest_for(dir: &Path, config_sha256: &str) -> Result<Manifest, CheckpointError> {
    let m = read_manifest(dir)?;
    match &m.config_sha256 {
        Some(recorded) if recorded != config_sha256 => Err(CheckpointError::ConfigChanged {
            manifest: dir.join(MANIFEST),
            recorded: recorded.clone(),
            now: config_sha256.to_string(),
        }),
        _ => Ok(m),
    }
}

/// Whether `name` names a file directly inside a folder: one normal path component, on every
/// platform's separators.
fn plain_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(parts.next(), Some(std::path::Component::Normal(_)))
        && parts.next().is_none()
        && !name.contains(['/', '\\', ':', '\0'])
        && !name.chars().any(char::is_control)
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn read_part(dir: &Path, m: &Manifest, role: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
    let Some(f) = m.files.iter().find(|f| f.role == role) else {
        return Ok(None);
    };
    let path = dir.join(&f.name);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(error) => return Err(CheckpointError::ReadFile { path, error }),
    };
    if sha_hex(&bytes) != f.sha256 {
        return Err(CheckpointError::Checksum {
            path,
            manifest: MANIFEST,
        });
    }
    Ok(Some(bytes))
}

/// The run's wall clock as the latest checkpoint of `dir` recorded it (`None` from a version
/// that did not record it).
pub fn read_clock(dir: &Path) -> Result<Option<ClockRecord>, CheckpointError> {
    let m = read_manifest(dir)?;
    let Some(bytes) = read_part(dir, &m, "state")? else {
        return Ok(None);
    };
    let st: StateFile =
        serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Unreadable {
            what: "state",
            dir: dir.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(st.clock)
}

/// A record decoder's complaint as one line. burn's text for a record it cannot decode adds a
/// paragraph on its pre-0.14 formats, which a checkpoint written by this synaptic never is.
fn decode_message(e: RecorderError) -> String {
    let text = match e {
        RecorderError::FileNotFound(s)
        | RecorderError::DeserializeError(s)
        | RecorderError::Unknown(s) => s,
    };
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("it does not decode")
        .to_string()
}

/// Loads the latest checkpoint of `dir` into `model` (a freshly built model of the same shape).
pub fn load<B: AutodiffBackend, M: AutodiffModule<B>>(
    dir: &Path,
    model: M,
    device: &B::Device,
) -> Result<Resumed<B, M>, CheckpointError> {
    let m = read_manifest(dir)?;
    let need = |role: &'static str| {
        read_part(dir, &m, role)?.ok_or_else(|| CheckpointError::MissingPart {
            dir: dir.to_path_buf(),
            role,
        })
    };
    let rec = Rec::default();
    let bad = |what: &'static str, e: String| CheckpointError::Unreadable {
        what,
        dir: dir.to_path_buf(),
        message: e,
    };
    let record = Recorder::<B>::load::<M::Record>(&rec, need("model")?, device)
        .map_err(|e| bad("model", decode_message(e)))?;
    let model = model.load_record(record);
    let optim = Recorder::<B>::load::<AdamRecord<B, M>>(&rec, need("adam")?, device)
        .map_err(|e| bad("Adam state", decode_message(e)))?;
    let regularizer = read_part(dir, &m, "regularizer")?
        .map(|b| RegularizerState::from_bytes(&b))
        .transpose()
        .map_err(|e| bad("regulariser state", e.to_string()))?;
    let st: StateFile =
        serde_json::from_slice(&need("state")?).map_err(|e| bad("state", e.to_string()))?;
    Ok(Resumed {
        model,
        optim,
        regularizer,
        rng: st.rng,
        position: st.position,
    })
}
