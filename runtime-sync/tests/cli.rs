//! The `tapio-cni-collector-lite` binary as a user runs it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use proto::UnifiedEvent;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tapio-cni-collector-lite"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut stdin = child.stdin.take().expect("stdin piped");
    let input = input.to_vec();
    // Written from a thread so that a large input cannot deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("binary finishes");
    writer
        .join()
        .expect("writer thread")
        .expect("stdin written");
    out
}

fn events(out: &Output) -> Vec<UnifiedEvent> {
    String::from_utf8(out.stdout.clone())
        .expect("stdout is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is a UnifiedEvent"))
        .collect()
}

#[test]
fn parse_every_fixture_log() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures().join("logs"))
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 10);
    for path in paths {
        let out = bin().arg("parse").arg(&path).output().expect("runs");
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let evs = events(&out);
        assert!(!evs.is_empty(), "{} gave no event", path.display());
        for e in &evs {
            assert_eq!(
                e.origin.file.as_deref(),
                Some(path.display().to_string().as_str())
            );
            assert!(e.origin.line.is_some_and(|l| l >= 1));
            assert!(e.origin.format.is_some());
        }
    }
}

#[test]
fn parse_survives_hostile_input_and_exits_zero() {
    let mut input = Vec::new();
    input.extend_from_slice(
        b"\xff\xfe invalid utf-8 \xc3\x28 level=error msg=\"x\" subsys=cilium-cni\n",
    );
    input.extend_from_slice(b"NUL\0bytes\0 failed to setup network for sandbox \"\0\"\n");
    input.extend_from_slice(b"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\n");
    input.extend_from_slice(&vec![b'a'; 3 << 20]);
    input.extend_from_slice(b"\n{\n");
    let out = with_stdin(&["parse"], &input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 invalid UTF-8"), "{stderr}");
    assert!(stderr.contains("1 oversize"), "{stderr}");
    for e in events(&out) {
        assert!(e.raw.is_none_or(|r| r.len() <= 4096 + 32));
    }
}

#[test]
fn parse_of_irrelevant_text_prints_nothing() {
    let out = with_stdin(&["parse"], b"hello world\nGET /healthz 200\n\n");
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn parse_reports_an_unreadable_file() {
    let out = bin()
        .args(["parse", "/nonexistent/cni.log"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/cni.log"));
}

#[test]
fn unknown_format_is_a_clear_error() {
    let out = bin()
        .args(["parse", "--format", "nope"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown format \"nope\"") && err.contains("calico"),
        "{err}"
    );
}

#[test]
fn forced_format_only_uses_that_parser() {
    let calico = std::fs::read(fixtures().join("logs/calico.log")).expect("fixture");
    let all = events(&with_stdin(&["parse"], &calico));
    let only = events(&with_stdin(&["parse", "--format", "calico"], &calico));
    assert!(
        !only.is_empty() && only.len() < all.len(),
        "{} of {}",
        only.len(),
        all.len()
    );
    assert!(only
        .iter()
        .all(|e| e.origin.format == Some(proto::Format::Calico)));
}

#[test]
fn replay_reports_bad_scenarios_by_line() {
    let dir = std::env::temp_dir().join(format!("tapio-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"start\":\"2024-01-01T00:00:00Z\"}\n{\"kind\":\"log_line\"}\n",
    )
    .expect("write");
    let out = bin().arg("replay").arg(&bad).output().expect("runs");
    std::fs::remove_dir_all(&dir).ok();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("scenario line 2"));
}
