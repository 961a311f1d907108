//! The lock on a run folder: while a process trains into a folder, no other may. `run` (fresh,
//! `--overwrite`, `--resume`) and every cell of `compare`, `sweep` and `reproduce` take it, so
//! that two processes never mix their files in one folder.
//!
//! The lock is the file `DIR/run.lock` (see [`RunDir::lock`]), created atomically (a complete
//! file hard-linked into place, which fails if one is there, also on network file systems) and
//! holding who took it: pid, host, when, and on Linux the boot id and the process's start time.
//! It is removed when the [`RunLock`] drops, on success, on errors and on a graceful Ctrl-C; a
//! process that must exit at once calls [`release_all`]. A lock left by a process that died
//! (SIGKILL, power loss) is recognised when its holder ran on this host and no longer runs (pid
//! gone, a zombie, another process under the same pid, or the machine rebooted since) and is
//! taken over; the new [`RunLock`] names the previous holder ([`RunLock::took_over`]) so that the
//! caller can say so. A lock of another host is never taken over: whether its process runs
//! cannot be seen from here.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::run_dir::RunDir;

/// Who holds a run folder's lock: the content of `run.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// Unix time (seconds) the lock was taken.
    pub since_unix: u64,
    /// Linux's boot id of the host when the lock was taken (a reboot makes a lock stale).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// The process's start time (Linux clock ticks since boot), which tells it from a later
    /// process under the same pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_start: Option<u64>,
    /// Linux's pid namespace of the process: a process of another namespace (another
    /// container under the same host name) cannot be seen by its pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_namespace: Option<String>,
    /// Slurm's job id (`SLURM_JOB_ID`; one per array task) when the holder ran as a Slurm job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job: Option<String>,
    /// Slurm's `SLURM_RESTART_COUNT` of that job (0 before its first requeue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_restart: Option<u32>,
}

impl Holder {
    /// This process, now.
    pub fn current() -> Self {
        let pid = std::process::id();
        Holder {
            pid,
            host: host_name(),
            since_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            boot_id: boot_id(),
            process_start: process_start(pid),
            pid_namespace: pid_namespace(),
            slurm_job: slurm_job(),
            slurm_restart: slurm_job().map(|_| slurm_restart()),
        }
    }

    /// Whether the holder is known to have ended: it ran on this host and its process is gone
    /// (or the host rebooted since). A holder on another host, or in another pid namespace, is
    /// never known to have ended.
    pub fn is_gone(&self) -> bool {
        if self.superseded(slurm_job().as_deref(), slurm_restart()) {
            return true;
        }
        if self.host != host_name() {
            return false;
        }
        if let (Some(then), Some(now)) = (&self.boot_id, boot_id()) {
            if *then != now {
                return true;
            }
        }
        if let (Some(theirs), Some(ours)) = (&self.pid_namespace, pid_namespace()) {
            if *theirs != ours {
                return false;
            }
        }
        if !alive(self.pid) {
            return true;
        }
        // The pid is taken: by the holder, or by a later process that reuses it.
        matches!(
            (self.process_start, process_start(self.pid)),
            (Some(then), Some(now)) if then != now
        )
    }
}

impl Holder {
    /// Whether a process of Slurm job `job` at requeue count `restart` is a later incarnation of
    /// the holder's job: Slurm runs one incarnation of a job at a time (on whichever node), so
    /// the holder has ended.
    fn superseded(&self, job: Option<&str>, restart: u32) -> bool {
        matches!((&self.slurm_job, job), (Some(theirs), Some(ours)) if theirs == ours)
            && self.slurm_restart.unwrap_or(0) < restart
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        write!(
            f,
            "pid {} on host {} (locked {} ago)",
            self.pid,
            if self.host.is_empty() {
                "?"
            } else {
                &self.host
            },
            age(now.saturating_sub(self.since_unix))
        )
    }
}

/// `secs` as a short age: `42 s`, `7 min`, `3.5 h`, `2.0 days`.
fn age(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        7200..172_800 => format!("{:.1} h", secs as f64 / 3600.0),
        _ => format!("{:.1} days", secs as f64 / 86400.0),
    }
}

/// Why a run folder's lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error("{} is in use by another synaptic process: {holder}; {}", dir.display(), held_remedy(path, holder))]
    Held {
        /// The run folder.
        dir: PathBuf,
        /// The lock file.
        path: PathBuf,
        /// Who holds it.
        holder: Box<Holder>,
    },
    /// The lock file is there but does not say who holds it.
    #[error("lock file {} is unreadable ({message}): delete it if no synaptic process uses {}", path.display(), path.parent().unwrap_or(Path::new(".")).display())]
    Unreadable {
        /// The lock file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The lock file could not be created.
    #[error("cannot create lock file {}: {error}", path.display())]
    Create {
        /// The lock file.
        path: PathBuf,
        /// What the file system said.
        error: std::io::Error,
    },
    /// The lock changed hands again and again while this process tried to take it.
    #[error("cannot take lock {}: other processes keep taking it; try again", path.display())]
    Contended {
        /// The lock file.
        path: PathBuf,
    },
}

fn held_remedy(path: &Path, holder: &Holder) -> String {
    if holder.host == host_name() {
        format!("wait for it to finish or stop it (kill {})", holder.pid)
    } else {
        format!(
            "wait for it to finish or stop it; if it no longer runs on {}, delete {}",
            holder.host,
            path.display()
        )
    }
}

/// The lock on one run folder, held until dropped.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    bytes: Vec<u8>,
    took_over: Option<Holder>,
}

/// Attempts at taking a lock that keeps changing hands before giving up.
const ATTEMPTS: usize = 8;

/// Locks of this process, for [`release_all`]: (lock file, its content).
static HELD: Mutex<Vec<(PathBuf, Vec<u8>)>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<(PathBuf, Vec<u8>)>> {
    HELD.lock().unwrap_or_else(|p| p.into_inner())
}

impl RunLock {
    /// Takes the lock of the run folder `dir` (which must exist), taking over a lock whose
    /// holder is gone ([`Holder::is_gone`]); a live holder is a [`LockError::Held`].
    pub fn acquire(dir: &Path) -> Result<RunLock, LockError> {
        let path = RunDir::new(dir).lock();
        let bytes = serde_json::to_vec(&Holder::current()).expect("a holder serialises");
        let mut took_over = None;
        for _ in 0..ATTEMPTS {
            match create(&path, &bytes) {
                Ok(()) => {
                    held().push((path.clone(), bytes.clone()));
                    return Ok(RunLock {
                        path,
                        bytes,
                        took_over,
                    });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(error) => return Err(LockError::Create { path, error }),
            }
            // Gone between the two calls: try again.
            let Some((old, holder)) = read_holder(&path)? else {
                continue;
            };
            if !holder.is_gone() {
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    path,
                    holder: Box::new(holder),
                });
            }
            if remove_if_unchanged(dir, &path, &old) {
                took_over = Some(holder);
            }
        }
        Err(LockError::Contended { path })
    }

    /// The holder of a stale lock this one replaced, if it did.
    pub fn took_over(&self) -> Option<&Holder> {
        self.took_over.as_ref()
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        held().retain(|(p, _)| *p != self.path);
        remove_own(&self.path, &self.bytes);
    }
}

/// Who holds the lock file `path`, if it is there and readable (for status displays).
pub fn read_lock(path: &Path) -> Option<Holder> {
    read_holder(path).ok().flatten().map(|(_, h)| h)
}

/// This process's Slurm job id, if it runs as a Slurm job.
fn slurm_job() -> Option<String> {
    std::env::var("SLURM_JOB_ID").ok().filter(|s| !s.is_empty())
}

/// How often Slurm has requeued this job (0 outside Slurm and before the first requeue).
fn slurm_restart() -> u32 {
    std::env::var("SLURM_RESTART_COUNT")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Removes every lock file this process holds, for a process about to exit without unwinding
/// (a second Ctrl-C): the folders are free at once instead of after a stale-lock takeover.
pub fn release_all() {
    for (path, bytes) in held().drain(..) {
        remove_own(&path, &bytes);
    }
}

/// Removes `path` if it still holds `bytes` (a lock taken over meanwhile is not ours to remove).
fn remove_own(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).is_ok_and(|b| b == bytes) {
        let _ = std::fs::remove_file(path);
    }
}

/// Creates `path` holding `bytes`, failing with `AlreadyExists` if it is there: a complete
/// temporary file is hard-linked into place, so that no reader sees a partial lock; where the
/// file system has no hard links, `create_new` and a write.
fn create(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = crate::fsutil::stage(path, bytes)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => {
            use std::io::Write;
            let mut f = File::options().write(true).create_new(true).open(path)?;
            f.write_all(bytes)
                .and_then(|()| f.sync_all())
                .inspect_err(|_| {
                    let _ = std::fs::remove_file(path);
                })
        }
        r => r,
    }
}

/// The lock file's bytes and holder; `None` if it is gone.
fn read_holder(path: &Path) -> Result<Option<(Vec<u8>, Holder)>, LockError> {
    let unreadable = |message: String| LockError::Unreadable {
        path: path.to_path_buf(),
        message,
    };
    let mut last = String::new();
    // A lock made by `create_new` (no hard links) is briefly empty: look again before judging.
    for _ in 0..5 {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(unreadable(e.to_string())),
        };
        match serde_json::from_slice::<Holder>(&bytes) {
            Ok(h) => return Ok(Some((bytes, h))),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(unreadable(last))
}

/// Removes the stale lock `path` if it still holds `old`; true if it did. Two processes that
/// found the same stale lock take turns under an advisory lock of the folder, so that the second
/// cannot remove the lock the first has just made (where the file system has no advisory locks,
/// the window for that is the few microseconds between a read and a remove).
fn remove_if_unchanged(dir: &Path, path: &Path, old: &[u8]) -> bool {
    let guard = File::open(dir).ok().filter(|f| f.lock().is_ok());
    let same = std::fs::read(path).is_ok_and(|b| b == old);
    let removed = same && std::fs::remove_file(path).is_ok();
    drop(guard);
    removed
}

/// This host's name ("" where it cannot be read).
fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
        let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if r == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
        String::new()
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").unwrap_or_default()
    }
}

/// Linux's id of this boot, if there is one.
fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string()).filter(|s| !s.is_empty())
}

/// Linux's id of this process's pid namespace, e.g. `pid:[4026531836]`.
fn pid_namespace() -> Option<String> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(link.to_string_lossy().into_owned())
}

/// Fields of `/proc/PID/stat` after the command name (state first), if readable.
fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces and parentheses itself.
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Start time of process `pid` in clock ticks since boot (Linux; field 22 of its stat).
fn process_start(pid: u32) -> Option<u64> {
    proc_stat(pid)?.get(19)?.parse().ok()
}

/// Whether a process `pid` runs (a zombie does not).
fn alive(pid: u32) -> bool {
    if let Some(fields) = proc_stat(pid) {
        return !matches!(fields.first().map(String::as_str), Some("Z" | "X" | "x"));
    }
    signal_zero(pid)
}

#[cfg(unix)]
fn signal_zero(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // 0 and negative pids name process groups, not a process.
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 delivers nothing; it only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Without a way to look, every holder is taken to run.
#[cfg(not(unix))]
fn signal_zero(_pid: u32) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pid of a process that has ended (and was reaped).
    fn dead_pid() -> u32 {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    }

    /// The tests share this process's lock registry ([`release_all`]): one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_holder(dir: &Path, h: &Holder) {
        std::fs::write(RunDir::new(dir).lock(), serde_json::to_vec(h).unwrap()).unwrap();
    }

    #[test]
    fn a_second_taker_is_refused_naming_the_holder_and_the_lock_goes_with_its_guard() {
        let _serial = serial();
        let d = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(d.path()).unwrap();
        assert!(lock.took_over().is_none());
        let on_disk: Holder = serde_json::from_slice(&std::fs::read(lock.path()).unwrap()).unwrap();
        assert_eq!(on_disk.pid, std::process::id());
        let e = RunLock::acquire(d.path()).unwrap_err();
        let LockError::Held { holder, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(holder.pid, std::process::id());
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())) && !msg.contains('\n'),
            "{msg}"
        );
        drop(lock);
        assert!(!RunDir::new(d.path()).lock().exists());
        let again = RunLock::acquire(d.path()).unwrap();
        assert!(again.took_over().is_none());
    }

    #[test]
    fn a_dead_holder_on_this_host_is_taken_over_and_named() {
        let _serial = serial();
        let d = tempfile::tempdir().unwrap();
        let mut gone = Holder::current();
        gone.pid = dead_pid();
        gone.process_start = None;
        assert!(gone.is_gone());
        write_holder(d.path(), &gone);
        let lock = RunLock::acquire(d.path()).unwrap();
        assert_eq!(lock.took_over(), Some(&gone));
        let now: Holder = serde_json::from_slice(&std::fs::read(lock.path()).unwrap()).unwrap();
        assert_eq!(now.pid, std::process::id());
    }

    #[test]
    fn a_reused_pid_or_a_reboot_makes_a_lock_stale_but_another_host_or_container_never_does() {
        let _serial = serial();
        let me = Holder::current();
        assert!(!me.is_gone());
        if me.process_start.is_some() {
            // Our pid, but another process's start time: the holder ended and the pid was reused.
            let reused = Holder {
                process_start: me.process_start.map(|s| s + 1),
                ..me.clone()
            };
            assert!(reused.is_gone());
        }
        if me.boot_id.is_some() {
            let rebooted = Holder {
                boot_id: Some("another-boot".into()),
                ..me.clone()
            };
            assert!(rebooted.is_gone());
        }
        let elsewhere = Holder {
            host: format!("{}-elsewhere", me.host),
            pid: dead_pid(),
            ..me.clone()
        };
        assert!(!elsewhere.is_gone());
        if me.pid_namespace.is_some() {
            // Another container: its pids are not ours to look up.
            let contained = Holder {
                pid: dead_pid(),
                pid_namespace: Some("pid:[another]".into()),
                ..me.clone()
            };
            assert!(!contained.is_gone());
        }
        let d = tempfile::tempdir().unwrap();
        write_holder(d.path(), &elsewhere);
        let e = RunLock::acquire(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("-elsewhere") && e.contains("delete") && e.contains("run.lock"),
            "{e}"
        );
    }

    #[test]
    fn a_requeued_slurm_job_supersedes_its_previous_incarnation_on_any_host() {
        let first = Holder {
            host: "node-a".into(),
            slurm_job: Some("41".into()),
            slurm_restart: Some(0),
            ..Holder::current()
        };
        assert!(first.superseded(Some("41"), 1));
        assert!(!first.superseded(Some("41"), 0), "the same incarnation");
        assert!(!first.superseded(Some("42"), 3), "another job");
        assert!(!first.superseded(None, 3), "not under Slurm");
        let plain = Holder {
            slurm_job: None,
            slurm_restart: None,
            ..first.clone()
        };
        assert!(!plain.superseded(Some("41"), 1));
        let text = serde_json::to_string(&first).unwrap();
        assert!(
            text.contains(r#""slurm_job":"41","slurm_restart":0"#),
            "{text}"
        );
    }

    #[test]
    fn an_unreadable_lock_is_refused_and_a_taken_over_lock_is_not_removed_by_its_old_guard() {
        let _serial = serial();
        let d = tempfile::tempdir().unwrap();
        let path = RunDir::new(d.path()).lock();
        std::fs::write(&path, b"not json").unwrap();
        let e = RunLock::acquire(d.path()).unwrap_err();
        assert!(matches!(e, LockError::Unreadable { .. }), "{e}");
        assert!(e.to_string().contains("delete it"), "{e}");
        std::fs::remove_file(&path).unwrap();

        let lock = RunLock::acquire(d.path()).unwrap();
        // Someone else's lock now stands in its place: dropping ours must leave it.
        std::fs::write(&path, b"{\"pid\":1,\"host\":\"x\",\"since_unix\":0}").unwrap();
        drop(lock);
        assert!(path.exists());
    }

    #[test]
    fn release_all_frees_the_folders_of_this_process() {
        let _serial = serial();
        let d = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(d.path()).unwrap();
        let path = lock.path().to_path_buf();
        release_all();
        assert!(!path.exists());
        // The guard's later drop finds nothing of its own to remove.
        drop(lock);
        assert!(!path.exists());
    }

    #[test]
    fn a_missing_folder_is_an_error_not_a_new_folder() {
        let _serial = serial();
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("no/such");
        let e = RunLock::acquire(&missing).unwrap_err();
        assert!(matches!(e, LockError::Create { .. }), "{e}");
        assert!(!missing.exists());
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(5), "5 s");
        assert_eq!(age(600), "10 min");
        assert_eq!(age(9000), "2.5 h");
        assert_eq!(age(259_200), "3.0 days");
    }
}
