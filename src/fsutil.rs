//! Writing files so that a crash or a full disk never leaves a half-written one: each file goes
//! to a temporary name in the same folder, is synced, then renamed over the old one.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in the same folder, synced, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = stage(path, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Writes every `(path, bytes)` atomically, renaming them in the given order only once all are
/// staged: a full disk cannot leave one file new and the next old, and the last file can mark
/// the whole set complete.
pub fn write_atomic_all(files: &[(&Path, &[u8])]) -> std::io::Result<()> {
    let mut staged: Vec<PathBuf> = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        match stage(path, bytes) {
            Ok(t) => staged.push(t),
            Err(e) => {
                for t in &staged {
                    let _ = std::fs::remove_file(t);
                }
                return Err(e);
            }
        }
    }
    for (k, (tmp, (path, _))) in staged.iter().zip(files).enumerate() {
        if let Err(e) = std::fs::rename(tmp, path) {
            for t in &staged[k..] {
                let _ = std::fs::remove_file(t);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Creates the output folder `dir` (and its parents) if needed. A file in its place is an error,
/// so that no command writes beside it into its parent instead.
pub fn create_out_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "it is a file, not a folder",
        )),
        _ => std::fs::create_dir_all(dir),
    }
}

/// Creates `dir` if needed ([`create_out_dir`]) and proves a file can be written there.
pub fn check_writable(dir: &Path) -> std::io::Result<()> {
    create_out_dir(dir)?;
    let probe = dir.join(format!("{PROBE}{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// Prefix of [`check_writable`]'s probe file (followed by the process id).
const PROBE: &str = ".synaptic-probe";
/// What a staged file's name carries before the process id: `.NAME.tmpPID`.
const TMP: &str = ".tmp";

/// The temporary name a staged write of `name` uses in process `pid`.
fn temporary_name(name: &str, pid: u32) -> String {
    format!(".{name}{TMP}{pid}")
}

/// Whether `name` is a temporary file of [`write_atomic`] / [`write_atomic_all`] or a probe of
/// [`check_writable`] (a process killed mid-write leaves one behind).
fn is_temporary(name: &str) -> bool {
    let pid_after = |prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
    };
    if pid_after(PROBE) {
        return true;
    }
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    rest.rfind(TMP).is_some_and(|at| {
        let pid = &rest[at + TMP.len()..];
        at > 0 && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Removes the temporary files a killed process left in `dir` (not recursive; a missing folder
/// has none). Call it only while no other process writes into `dir` (a run holds its folder).
/// Returns the files removed.
pub fn remove_stale_temporaries(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let stale = e.file_name().to_str().is_some_and(is_temporary)
            && e.file_type().is_ok_and(|t| t.is_file());
        // Best effort: a leftover that cannot be removed harms nothing but disk space.
        if stale && std::fs::remove_file(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    removed
}

/// Where staged bytes go: a file that can be synced to disk.
trait Sink: Write {
    fn sync(&mut self) -> std::io::Result<()>;
}

impl Sink for std::fs::File {
    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_all()
    }
}

/// Opens the temporary file of a staged write.
type Opener<'a> = &'a dyn Fn(&Path) -> std::io::Result<Box<dyn Sink>>;

fn create(p: &Path) -> std::io::Result<Box<dyn Sink>> {
    Ok(Box::new(std::fs::File::create(p)?))
}

/// Writes `bytes` next to `path` under a temporary name, synced; returns that name.
pub(crate) fn stage(path: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    stage_with(path, bytes, &create)
}

fn stage_with(path: &Path, bytes: &[u8], open: Opener<'_>) -> std::io::Result<PathBuf> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(temporary_name(&name, std::process::id()));
    let result = (|| {
        let mut f = open(&tmp)?;
        f.write_all(bytes)?;
        f.sync()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            // A full disk must not leave a half-written temporary file behind either.
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temporaries_are_removed_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let keep = [
            "result.json",
            ".hidden",
            "x.tmp123",
            ".x.tmp",
            ".x.tmp12a",
            ".tmp123",
            "000001-model.mpk",
        ];
        let stale = [
            temporary_name("000001-regularizer.bin", 4242),
            temporary_name("result.json", 7),
            format!("{PROBE}99"),
        ];
        for n in keep
            .iter()
            .map(|s| s.to_string())
            .chain(stale.iter().cloned())
        {
            std::fs::write(d.path().join(n), b"x").unwrap();
        }
        // A folder with a temporary's name is not a file write_atomic left.
        std::fs::create_dir(d.path().join(temporary_name("dir", 1))).unwrap();
        let mut removed: Vec<String> = remove_stale_temporaries(d.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        removed.sort();
        let mut want = stale.to_vec();
        want.sort();
        assert_eq!(removed, want);
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expect: Vec<String> = keep.iter().map(|s| s.to_string()).collect();
        expect.push(temporary_name("dir", 1));
        expect.sort();
        assert_eq!(left, expect);
        assert!(remove_stale_temporaries(&d.path().join("missing")).is_empty());
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn atomic_write_into_missing_folder_fails_cleanly() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("no/such/x.json");
        assert!(write_atomic(&p, b"x").is_err());
        assert!(!p.exists());
    }

    #[test]
    fn an_output_folder_is_created_and_a_file_in_its_place_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b");
        create_out_dir(&dir).unwrap();
        create_out_dir(&dir).unwrap();
        assert!(dir.is_dir());
        let file = d.path().join("foo.txt");
        std::fs::write(&file, b"keep").unwrap();
        for e in [
            create_out_dir(&file).unwrap_err(),
            check_writable(&file).unwrap_err(),
        ] {
            assert_eq!(e.kind(), std::io::ErrorKind::NotADirectory);
            assert_eq!(e.to_string(), "it is a file, not a folder");
        }
        assert_eq!(std::fs::read(&file).unwrap(), b"keep");
    }

    #[test]
    fn a_set_with_one_unwritable_file_changes_none_and_leaves_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.csv");
        std::fs::write(&a, b"old").unwrap();
        let bad = d.path().join("no/such/b.json");
        assert!(write_atomic_all(&[(&a, b"new"), (&bad, b"x")]).is_err());
        assert_eq!(std::fs::read(&a).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        let b = d.path().join("b.json");
        write_atomic_all(&[(&a, b"new"), (&b, b"done")]).unwrap();
        assert_eq!(
            (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap()),
            (b"new".to_vec(), b"done".to_vec())
        );
    }
}

#[cfg(test)]
mod disk_full_tests {
    use super::*;

    /// A real file that refuses writes beyond `room` bytes, as a full disk does.
    struct Full {
        file: std::fs::File,
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on device",
                ));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.file.write(&buf[..n])
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.file.flush()
        }
    }

    impl Sink for Full {
        fn sync(&mut self) -> std::io::Result<()> {
            self.file.sync_all()
        }
    }

    #[test]
    fn a_disk_that_fills_up_mid_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        std::fs::write(&path, b"old, complete result").unwrap();
        let full = |p: &Path| -> std::io::Result<Box<dyn Sink>> {
            Ok(Box::new(Full {
                file: std::fs::File::create(p)?,
                room: 10,
            }))
        };
        let e = stage_with(&path, &[b'x'; 4096], &full).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
        assert_eq!(std::fs::read(&path).unwrap(), b"old, complete result");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("result.json")],
            "{left:?}"
        );
        // With room enough the same path works.
        let tmp = stage_with(&path, b"new", &create).unwrap();
        std::fs::rename(tmp, &path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }
}
