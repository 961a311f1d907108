//! `synaptic data fetch` and `data verify` against a small HTTP/1.1 server on 127.0.0.1 (never
//! the internet): checksum right and wrong, a transfer broken mid-body and resumed with a range
//! request, nothing listening, archives unpacked member by member.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
#[allow(dead_code)]
mod common;
use synaptic::data::fetch::{
    fetch_and_unpack, fetch_files, unpack_members, verify_dataset, Checksum, DatasetName,
    FetchError, FetchOptions, Fetched, FileSpec, PARTIAL_DIR, SUMS_FILE,
};

/// How the test server answers.
#[derive(Clone, Copy, Default)]
struct Mode {
    /// Send only this many body bytes, then close the connection: on the first request only,
    /// or on every request with `cut_every`.
    cut_at: Option<usize>,
    cut_every: bool,
    /// Answer a range request with the whole file (200), as some servers do.
    ignore_range: bool,
}

struct Server {
    base: String,
    /// The request heads seen, lower-cased, in order.
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn url(&self, name: &str) -> String {
        format!("{}{name}", self.base)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Serves `files` by name, one request per connection, until 32 connections or 30 seconds.
fn serve(files: Vec<(&'static str, Vec<u8>)>, mode: Mode) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&requests);
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut served = 0;
        while served < 32 && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    answer(stream, &files, mode, served, &log);
                    served += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    Server { base, requests }
}

/// Reads one request, logs its head (before answering, so that a client that has its answer
/// always finds its request in the log) and answers it.
fn answer(
    mut s: TcpStream,
    files: &[(&str, Vec<u8>)],
    mode: Mode,
    nth: usize,
    log: &Mutex<Vec<String>>,
) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    log.lock().unwrap().push(head.clone());
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let Some((_, body)) = files.iter().find(|(n, _)| path == format!("/{n}")) else {
        let _ = s
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let range = head
        .lines()
        .find_map(|l| l.strip_prefix("range: bytes="))
        .and_then(|r| r.trim().trim_end_matches('-').parse::<usize>().ok())
        .filter(|_| !mode.ignore_range);
    let len = body.len();
    let (status, extra, from) = match range {
        Some(from) if from >= len => {
            let _ = s.write_all(
                format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            return;
        }
        Some(from) => (
            "206 Partial Content",
            format!("Content-Range: bytes {from}-{}/{len}\r\n", len - 1),
            from,
        ),
        None => ("200 OK", String::new(), 0),
    };
    let rest = &body[from..];
    let _ = s.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
            rest.len()
        )
        .as_bytes(),
    );
    let cut = mode.cut_at.filter(|_| mode.cut_every || nth == 0);
    let sent = cut.map_or(rest, |k| &rest[..k.min(rest.len())]);
    let _ = s.write_all(sent);
    let _ = s.flush();
    let _ = s.shutdown(Shutdown::Write);
}

/// Deterministic bytes that compress badly, like real data.
fn payload(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn quick() -> FetchOptions {
    FetchOptions {
        quiet: true,
        backoff: Duration::from_millis(10),
        ..FetchOptions::default()
    }
}

fn spec(server: &Server, name: &str, body: &[u8]) -> FileSpec {
    FileSpec::new(server.url(name), name, Checksum::Sha256(sha256(body)))
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn checksum_ok_puts_the_file_in_place_and_a_second_fetch_downloads_nothing() {
    let body = payload(100_000);
    let small = b"hello, md5".to_vec();
    let server = serve(
        vec![("data.bin", body.clone()), ("small.txt", small.clone())],
        Mode::default(),
    );
    let dest = tempfile::tempdir().unwrap();
    let md5 = "33b3bc8e05b4fcc16bd531dd9adac166";
    let files = [
        spec(&server, "data.bin", &body),
        FileSpec::new(
            server.url("small.txt"),
            "small.txt",
            Checksum::Md5(md5.into()),
        ),
    ];
    // The MD5 above must be right, or this test would pass for the wrong reason.
    assert_eq!(format!("{:x}", md5::Md5::digest(&small)), md5);
    let done = fetch_files(&files, dest.path(), &quick()).unwrap();
    assert_eq!(done, [Fetched::Downloaded, Fetched::Downloaded]);
    assert_eq!(std::fs::read(dest.path().join("data.bin")).unwrap(), body);
    assert_eq!(std::fs::read(dest.path().join("small.txt")).unwrap(), small);
    assert!(
        !dest.path().join(PARTIAL_DIR).exists(),
        "no partial folder left"
    );
    let seen = server.requests().len();
    let again = fetch_files(&files, dest.path(), &quick()).unwrap();
    assert_eq!(again, [Fetched::AlreadyThere, Fetched::AlreadyThere]);
    assert_eq!(server.requests().len(), seen, "already there: no request");
}

#[test]
fn checksum_wrong_leaves_nothing_in_place() {
    let body = payload(50_000);
    let server = serve(vec![("data.bin", body.clone())], Mode::default());
    let dest = tempfile::tempdir().unwrap();
    let expected = sha256(b"another file");
    let files = [FileSpec::new(
        server.url("data.bin"),
        "data.bin",
        Checksum::Sha256(expected.clone()),
    )];
    let err = fetch_files(&files, dest.path(), &quick()).unwrap_err();
    assert!(
        matches!(err, FetchError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    for needle in ["data.bin", "sha256", &expected, &sha256(&body)] {
        assert!(msg.contains(needle), "{needle:?} not in {msg}");
    }
    assert!(!msg.contains('\n'), "{msg}");
    assert!(!dest.path().join("data.bin").exists());
    let part = dest.path().join(PARTIAL_DIR).join("data.bin.part");
    assert!(!part.exists(), "a wrong download must not be resumed later");
    assert!(!dest.path().join(PARTIAL_DIR).exists());
}

#[test]
fn server_gone_mid_transfer_resumes_with_a_range_request() {
    let body = payload(200_000);
    let mode = Mode {
        cut_at: Some(70_000),
        ..Mode::default()
    };
    let server = serve(vec![("data.bin", body.clone())], mode);
    let dest = tempfile::tempdir().unwrap();
    let mut files = [spec(&server, "data.bin", &body)];
    files[0].size = Some(body.len() as u64);
    let done = fetch_files(&files, dest.path(), &quick()).unwrap();
    assert_eq!(done, [Fetched::Downloaded]);
    assert_eq!(std::fs::read(dest.path().join("data.bin")).unwrap(), body);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(!requests[0].contains("range:"), "{}", requests[0]);
    assert!(
        requests[1].contains("range: bytes=70000-\r\n"),
        "{}",
        requests[1]
    );
    assert!(!dest.path().join(PARTIAL_DIR).exists());
}

#[test]
fn a_server_that_ignores_the_range_is_read_again_from_the_start() {
    let body = payload(120_000);
    let mode = Mode {
        cut_at: Some(40_000),
        ignore_range: true,
        ..Mode::default()
    };
    let server = serve(vec![("data.bin", body.clone())], mode);
    let dest = tempfile::tempdir().unwrap();
    fetch_files(&[spec(&server, "data.bin", &body)], dest.path(), &quick()).unwrap();
    assert_eq!(std::fs::read(dest.path().join("data.bin")).unwrap(), body);
    assert!(server.requests()[1].contains("range: bytes=40000-"));
}

#[test]
fn a_partial_file_left_by_a_killed_run_is_resumed() {
    let body = payload(60_000);
    let server = serve(vec![("data.bin", body.clone())], Mode::default());
    let dest = tempfile::tempdir().unwrap();
    let partial = dest.path().join(PARTIAL_DIR);
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("data.bin.part"), &body[..12_345]).unwrap();
    fetch_files(&[spec(&server, "data.bin", &body)], dest.path(), &quick()).unwrap();
    assert_eq!(std::fs::read(dest.path().join("data.bin")).unwrap(), body);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].contains("range: bytes=12345-"),
        "{}",
        requests[0]
    );
}

#[test]
fn a_transfer_that_keeps_breaking_gives_up_after_three_tries_and_keeps_the_part() {
    let body = payload(100_000);
    let mode = Mode {
        cut_at: Some(10_000),
        cut_every: true,
        ..Mode::default()
    };
    let server = serve(vec![("data.bin", body.clone())], mode);
    let dest = tempfile::tempdir().unwrap();
    let err = fetch_files(&[spec(&server, "data.bin", &body)], dest.path(), &quick()).unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Transfer {
                attempts: 3,
                kept: 30_000,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("after 3 attempts") && msg.contains("resume"),
        "{msg}"
    );
    assert_eq!(server.requests().len(), 3);
    let part = dest.path().join(PARTIAL_DIR).join("data.bin.part");
    assert_eq!(std::fs::read(part).unwrap(), &body[..30_000]);
    assert!(!dest.path().join("data.bin").exists());
    // The next run picks up where this one stopped.
    let server = serve(vec![("data.bin", body.clone())], Mode::default());
    fetch_files(&[spec(&server, "data.bin", &body)], dest.path(), &quick()).unwrap();
    assert!(server.requests()[0].contains("range: bytes=30000-"));
    assert_eq!(std::fs::read(dest.path().join("data.bin")).unwrap(), body);
}

#[test]
fn http_errors_name_the_status() {
    let server = serve(vec![], Mode::default());
    let dest = tempfile::tempdir().unwrap();
    let err = fetch_files(&[spec(&server, "gone.bin", b"x")], dest.path(), &quick()).unwrap_err();
    assert!(
        matches!(err, FetchError::Http { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1, "a 404 is not retried");
}

#[test]
fn nothing_listening_fails_at_once_saying_where_to_put_the_file() {
    let port = closed_port();
    let dest = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/data.bin");
    let files = [FileSpec::new(
        url.clone(),
        "data.bin",
        Checksum::Sha256(sha256(b"x")),
    )];
    let started = Instant::now();
    // A retry would first sleep the 30 s backoff, so finishing well inside it proves there was
    // none (with a wide margin for a loaded machine).
    let patient = FetchOptions {
        backoff: Duration::from_secs(30),
        ..FetchOptions::default()
    };
    let err = fetch_files(&files, dest.path(), &patient).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, FetchError::Unreachable { .. }), "{err:?}");
    let msg = err.to_string();
    let want = format!(
        "cannot reach 127.0.0.1:{port} (offline?): download {url} by hand and put it in {}",
        dest.path().display()
    );
    assert_eq!(msg, want);
    // Several files: the line names all still missing (here not c.bin, which is there).
    std::fs::write(dest.path().join("c.bin"), b"c").unwrap();
    let files: Vec<FileSpec> = ["a.bin", "b.bin", "c.bin", "d.bin"]
        .iter()
        .map(|n| {
            let url = format!("http://127.0.0.1:{port}/{n}");
            FileSpec::new(url, *n, Checksum::Sha256(sha256(b"x")))
        })
        .collect();
    let msg = fetch_files(&files, dest.path(), &quick())
        .unwrap_err()
        .to_string();
    let want = format!(
        "download http://127.0.0.1:{port}/a.bin and, from the same place, b.bin and d.bin, by hand and put them in {}",
        dest.path().display()
    );
    assert!(msg.ends_with(&want), "{msg}");
}

/// A tar.gz of `(path, bytes)`, paths written raw into the header (so `..` is possible).
fn tar_gz(members: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, bytes) in members {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append(&h, *bytes).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

#[test]
fn archives_unpack_only_the_expected_members_and_refuse_escaping_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let (keep, other) = (payload(5_000), payload(700));
    let archive = tmp.path().join("a.tar.gz");
    std::fs::write(
        &archive,
        tar_gz(&[
            ("./set/keep.bin", &keep),
            ("set/other.bin", &other),
            ("readme.txt", b"hi"),
        ]),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let got = unpack_members(&archive, &out, &["set/keep.bin"]).unwrap();
    assert_eq!(got, [("set/keep.bin".to_string(), sha256(&keep))]);
    assert_eq!(std::fs::read(out.join("set/keep.bin")).unwrap(), keep);
    let mut left: Vec<PathBuf> = walk(&out);
    left.sort();
    assert_eq!(
        left,
        [out.join("set/keep.bin")],
        "only the member, no temporary file"
    );

    let err = unpack_members(&archive, &out, &["set/keep.bin", "set/absent.bin"]).unwrap_err();
    assert!(
        matches!(err, FetchError::MissingMember { ref member, .. } if member == "set/absent.bin")
    );

    let evil = tmp.path().join("evil.tar.gz");
    std::fs::write(
        &evil,
        tar_gz(&[("set/keep.bin", &keep), ("../evil", b"pwned")]),
    )
    .unwrap();
    let out2 = tmp.path().join("out2");
    let err = unpack_members(&evil, &out2, &["set/keep.bin", "../evil"]).unwrap_err();
    assert!(
        matches!(err, FetchError::UnsafeMember { ref member, .. } if member == "../evil"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("refusing archive member \"../evil\""),
        "{err}"
    );
    assert!(!tmp.path().join("evil").exists());
    let abs = tmp.path().join("abs.tar.gz");
    std::fs::write(&abs, tar_gz(&[("/tmp/synaptic-evil", b"pwned")])).unwrap();
    let err = unpack_members(&abs, &out2, &["set/keep.bin"]).unwrap_err();
    assert!(matches!(err, FetchError::UnsafeMember { .. }), "{err:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// One CIFAR-10 record: label, then 3072 pixels.
fn cifar10_records(labels: &[u8]) -> Vec<u8> {
    labels
        .iter()
        .flat_map(|&l| std::iter::once(l).chain((0..3072).map(move |i| (i as u8) ^ l)))
        .collect()
}

#[test]
fn a_cifar_like_archive_is_fetched_unpacked_listed_and_verifies() {
    let (folder, members) = DatasetName::Cifar10.archive_members().unwrap();
    let contents: Vec<(String, Vec<u8>)> = members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let bytes = if m.ends_with(".bin") {
                cifar10_records(&[i as u8, 9 - i as u8])
            } else {
                b"airplane\n".to_vec()
            };
            (format!("{folder}/{m}"), bytes)
        })
        .collect();
    let mut tar_members: Vec<(&str, &[u8])> = contents
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    tar_members.push((concat!("cifar-10-batches-bin/", "readme.html"), b"<html>"));
    let archive = tar_gz(&tar_members);
    let server = serve(
        vec![("cifar-10-binary.tar.gz", archive.clone())],
        Mode::default(),
    );
    let dest = tempfile::tempdir().unwrap();
    let files = [spec(&server, "cifar-10-binary.tar.gz", &archive)];
    let n = fetch_and_unpack(&files, dest.path(), Some((folder, members)), &quick()).unwrap();
    assert_eq!(n, 1);
    assert!(
        !dest.path().join("cifar-10-binary.tar.gz").exists(),
        "the archive is deleted"
    );
    assert!(!dest.path().join(folder).join("readme.html").exists());
    let v = verify_dataset(DatasetName::Cifar10, dest.path()).unwrap();
    assert_eq!(
        (v.train, v.test, v.rows, v.cols, v.channels),
        (10, 2, 32, 32, 3)
    );
    assert_eq!((v.labels, v.checked), ((0, 9), members.len()));
    let line = v.to_string();
    assert!(
        line.starts_with("cifar10 in ") && line.ends_with(": ok"),
        "{line}"
    );
    // A file changed after the fetch no longer verifies.
    let batch = dest.path().join(folder).join("data_batch_2.bin");
    std::fs::write(&batch, cifar10_records(&[3, 3])).unwrap();
    let err = verify_dataset(DatasetName::Cifar10, dest.path()).unwrap_err();
    assert!(matches!(err, FetchError::ListedMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains(SUMS_FILE));
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_synaptic"));
    // So that no test ever reads or writes the real cache.
    c.env(
        "SYNAPTIC_CACHE",
        std::env::temp_dir().join("synaptic-fetch-test-cache-unused"),
    );
    c
}

fn one_error_line(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

#[test]
fn cli_fetch_offline_exits_2_with_one_line_saying_where_to_put_the_archive() {
    let port = closed_port();
    let dest = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let o = bin()
        .args(["data", "fetch", "cifar10", "--data-dir"])
        .arg(dest.path())
        .env(
            "SYNAPTIC_MIRROR",
            format!("http://127.0.0.1:{port}/mirror/"),
        )
        .output()
        .unwrap();
    let line = one_error_line(&o);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let want = format!(
        "error: cannot reach 127.0.0.1:{port} (offline?): download http://127.0.0.1:{port}/mirror/cifar-10-binary.tar.gz by hand and put it in {} and unpack it there",
        dest.path().display()
    );
    assert!(line.starts_with(&want), "{line}");
}

#[test]
fn cli_fetch_from_a_mirror_with_a_wrong_file_exits_2_naming_both_hashes() {
    let wrong = payload(3_000);
    let server = serve(
        vec![("cifar-100-binary.tar.gz", wrong.clone())],
        Mode::default(),
    );
    let dest = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["data", "fetch", "cifar100", "--quiet", "--data-dir"])
        .arg(dest.path())
        .env("SYNAPTIC_MIRROR", &server.base)
        .output()
        .unwrap();
    let line = one_error_line(&o);
    let published = "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec";
    for needle in ["cifar-100-binary.tar.gz", published, &sha256(&wrong)] {
        assert!(line.contains(needle), "{needle:?} not in {line}");
    }
    assert!(!dest.path().join("cifar-100-binary.tar.gz").exists());
    assert!(String::from_utf8_lossy(&o.stdout).is_empty());
}

#[test]
fn cli_verify_bad_input_is_one_line() {
    let dest = tempfile::tempdir().unwrap();
    let o = bin().args(["data", "verify", "svhn"]).output().unwrap();
    assert!(one_error_line(&o).contains("unknown dataset \"svhn\""));
    let o = bin()
        .args(["data", "verify", "cifar10", "--data-dir"])
        .arg(dest.path())
        .output()
        .unwrap();
    assert!(one_error_line(&o).contains("synaptic data fetch"));
}

#[test]
fn cli_verify_real_mnist_prints_the_counts() {
    let Some(dir) = common::mnist() else { return };
    let o = bin()
        .args(["data", "verify", "mnist", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains(
            ": 60000 train + 10000 test images, 28x28x1, labels 0..9, 4 checksums match: ok"
        ),
        "{out}"
    );
}

#[test]
fn cli_verify_takes_several_datasets_as_the_readme_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    for k in 1..=5 {
        std::fs::write(
            dir.path().join(format!("data_batch_{k}.bin")),
            cifar10_records(&[k, 9 - k]),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("test_batch.bin"), cifar10_records(&[0, 1])).unwrap();
    // CIFAR-100 records: coarse and fine label, then 3072 pixels.
    let c100: Vec<u8> = [(1u8, 7u8), (3, 42)]
        .iter()
        .flat_map(|&(c, f)| [c, f].into_iter().chain((0..3072).map(|i| i as u8)))
        .collect();
    std::fs::write(dir.path().join("train.bin"), &c100).unwrap();
    std::fs::write(dir.path().join("test.bin"), &c100).unwrap();
    let o = bin()
        .args(["data", "verify", "cifar10", "cifar100", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("cifar10 in ") && lines[1].starts_with("cifar100 in "),
        "{out}"
    );
    // Two IDX datasets cannot share one folder: refused before anything is fetched.
    let o = bin()
        .args(["data", "fetch", "mnist", "fashion-mnist", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(one_error_line(&o).contains("same file names"));
}

#[test]
fn cli_verify_judges_an_uncompressed_gz_by_its_content_not_the_folder() {
    let Some(mnist) = common::mnist() else { return };
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ];
    for name in names {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(mnist.join(name)).unwrap())
            .read_to_end(&mut raw)
            .unwrap();
        std::fs::write(dir.path().join(name), raw).unwrap();
    }
    let verify = || {
        bin()
            .args(["data", "verify", "mnist", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    // The published content under its .gz name, stored uncompressed: what a run reads.
    let o = verify();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("4 checksums match: ok"));
    // One label changed (still a valid label): not the published file, and said so.
    let labels = dir.path().join(names[3]);
    let mut raw = std::fs::read(&labels).unwrap();
    raw[8] = if raw[8] == 3 { 4 } else { 3 };
    std::fs::write(&labels, raw).unwrap();
    let line = one_error_line(&verify());
    assert!(line.contains("not the published"), "{line}");
    assert!(!line.contains("writable"), "{line}");
}
