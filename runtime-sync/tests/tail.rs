//! The log tailer on real temporary files with real inotify: appearing files, rotation by rename
//! and by copytruncate, deletion, partial lines, huge lines, read errors, restarts from the state
//! file, and a property model of all of these together.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use proptest::prelude::*;
use tapio_cni_collector_lite::tail::{Batch, Entry, Error, LogTailer, TailSettings};

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tapio-tail-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("creating a temporary directory");
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One line as the consumer got it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    text: String,
    line_no: u64,
    offset: u64,
}

fn got(text: &str, line_no: u64, offset: u64) -> Got {
    Got {
        text: text.to_owned(),
        line_no,
        offset,
    }
}

/// A minimal consumer: every line is fully handled at once, and checkpointed the way the core
/// does (the offset after the bytes it was given and a newline).
#[derive(Debug, Default)]
struct Consumer {
    lines: Vec<Got>,
    ends: usize,
}

impl Consumer {
    fn feed(&mut self, tailer: &mut LogTailer, batch: &Batch) {
        let mut checkpoints = Vec::new();
        for entry in batch.entries() {
            match entry {
                Entry::Line(line) => {
                    self.lines.push(Got {
                        text: String::from_utf8_lossy(line.bytes).into_owned(),
                        line_no: line.line_no,
                        offset: line.offset,
                    });
                    checkpoints.push((
                        line.source.to_owned(),
                        line.offset + line.bytes.len() as u64 + 1,
                    ));
                }
                Entry::End(_) => self.ends += 1,
            }
        }
        for (source, offset) in checkpoints {
            tailer.checkpoint(&source, offset);
        }
    }

    /// Polls until nothing more is to be read right now.
    fn drain(&mut self, tailer: &mut LogTailer) {
        let mut batch = tailer.poll();
        self.feed(tailer, &batch);
        while batch.more() {
            batch = tailer.on_readable();
            self.feed(tailer, &batch);
        }
    }

    /// Waits on the inotify descriptor only (never polls) until `done` or the deadline.
    fn wait_for(&mut self, tailer: &mut LogTailer, done: impl Fn(&Consumer) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                wait_readable(tailer, left),
                "no inotify wake-up; got {:?}",
                self.lines
            );
            let mut batch = tailer.on_readable();
            self.feed(tailer, &batch);
            while batch.more() {
                batch = tailer.on_readable();
                self.feed(tailer, &batch);
            }
        }
    }

    fn texts(&self) -> Vec<&str> {
        self.lines.iter().map(|g| g.text.as_str()).collect()
    }
}

fn wait_readable(tailer: &LogTailer, timeout: Duration) -> bool {
    let fd = tailer.fd().expect("inotify is available");
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let timeout = PollTimeout::try_from(timeout).expect("a short timeout");
    nix::poll::poll(&mut fds, timeout).expect("poll") > 0
}

fn settings(paths: &[&Path], state: &Path) -> TailSettings {
    TailSettings::new(
        paths.iter().map(|p| (p.to_path_buf(), None)).collect(),
        state.to_path_buf(),
    )
}

fn append(path: &Path, bytes: &[u8]) {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("opening the log for append")
        .write_all(bytes)
        .expect("appending");
}

#[test]
fn a_file_appearing_in_a_directory_that_does_not_exist_yet_is_picked_up() {
    let dir = TempDir::new("late");
    let log = dir.join("a/b/cni.log");
    let mut tailer = LogTailer::new(settings(&[&log], &dir.join("state"))).expect("tailer");
    let mut consumer = Consumer::default();
    consumer.drain(&mut tailer);
    assert!(consumer.lines.is_empty());
    assert_eq!(tailer.stats().files_missing, 1);

    fs::create_dir_all(log.parent().unwrap()).unwrap();
    append(&log, b"first\nsecond\n");
    consumer.wait_for(&mut tailer, |c| c.lines.len() == 2);
    assert_eq!(
        consumer.lines,
        vec![got("first", 1, 0), got("second", 2, 6)]
    );
}

#[test]
fn polling_alone_picks_up_a_late_file() {
    let dir = TempDir::new("late-poll");
    let log = dir.join("x/cni.log");
    let mut s = settings(&[&log], &dir.join("state"));
    s.use_inotify = false;
    let mut tailer = LogTailer::new(s).expect("tailer");
    assert!(tailer.fd().is_none());
    let mut consumer = Consumer::default();
    consumer.drain(&mut tailer);
    fs::create_dir_all(log.parent().unwrap()).unwrap();
    append(&log, b"one\n");
    consumer.drain(&mut tailer);
    assert_eq!(consumer.texts(), ["one"]);
}

#[test]
fn rename_rotation_reads_the_old_file_to_its_end_then_the_new_one() {
    let dir = TempDir::new("rename");
    let log = dir.join("cni.log");
    append(&log, b"a1\na2\n");
    let mut tailer = LogTailer::new(settings(&[&log], &dir.join("state"))).expect("tailer");
    let mut consumer = Consumer::default();
    // Written before the tailer started: no event for it, the first poll reads it.
    consumer.drain(&mut tailer);
    // Written before the rotation and not read yet, the last line unterminated.
    append(&log, b"a3\nunterminated");
    fs::rename(&log, dir.join("cni.log.1")).unwrap();
    append(&log, b"b1\n");
    consumer.wait_for(&mut tailer, |c| c.lines.len() == 5);
    assert_eq!(
        consumer.lines,
        vec![
            got("a1", 1, 0),
            got("a2", 2, 3),
            got("a3", 3, 6),
            got("unterminated", 4, 9),
            got("b1", 1, 0),
        ]
    );
    assert_eq!(consumer.ends, 1);
    assert_eq!(tailer.stats().rotations, 1);
}

#[test]
fn copytruncate_starts_again_from_the_beginning() {
    let dir = TempDir::new("copytruncate");
    let log = dir.join("cni.log");
    append(&log, b"one\ntwo\n");
    let mut tailer = LogTailer::new(settings(&[&log], &dir.join("state"))).expect("tailer");
    let mut consumer = Consumer::default();
    // Written before the tailer started: no event for it, the first poll reads it.
    consumer.drain(&mut tailer);
    fs::copy(&log, dir.join("cni.log.1")).unwrap();
    File::create(&log).unwrap();
    append(&log, b"three\n");
    consumer.wait_for(&mut tailer, |c| c.lines.len() == 3);
    assert_eq!(consumer.lines[2], got("three", 1, 0));
    assert_eq!(tailer.stats().truncations, 1);
    assert_eq!(consumer.ends, 1);
}

#[test]
fn a_file_rewritten_past_the_offset_is_told_apart_by_its_first_bytes() {
    let dir = TempDir::new("rewrite");
    let log = dir.join("cni.log");
    append(&log, b"short\n");
    let mut s = settings(&[&log], &dir.join("state"));
    s.use_inotify = false;
    let mut tailer = LogTailer::new(s).expect("tailer");
    let mut consumer = Consumer::default();
    consumer.drain(&mut tailer);
    // Truncated and written again, longer than before, between two looks of the tailer.
    fs::write(&log, b"rewritten 1\nrewritten 2\n").unwrap();
    consumer.drain(&mut tailer);
    assert_eq!(consumer.texts(), ["short", "rewritten 1", "rewritten 2"]);
    assert_eq!(tailer.stats().truncations, 1);
}

#[test]
fn a_deleted_and_recreated_file_is_read_from_its_start() {
    let dir = TempDir::new("delete");
    let log = dir.join("cni.log");
    append(&log, b"old\n");
    let mut tailer = LogTailer::new(settings(&[&log], &dir.join("state"))).expect("tailer");
    let mut consumer = Consumer::default();
    consumer.drain(&mut tailer);
    append(&log, b"last words\n");
    fs::remove_file(&log).unwrap();
    consumer.wait_for(&mut tailer, |c| c.ends == 1);
    assert_eq!(consumer.texts(), ["old", "last words"]);
    append(&log, b"new\n");
    consumer.wait_for(&mut tailer, |c| c.lines.len() == 3);
    assert_eq!(consumer.lines[2], got("new", 1, 0));
    assert_eq!(tailer.stats().files_missing, 1);
}

#[test]
fn a_directory_removed_and_created_again_is_followed() {
    let dir = TempDir::new("dir-again");
    let sub = dir.join("calico");
    let log = sub.join("cni.log");
    fs::create_dir(&sub).unwrap();
    append(&log, b"before\n");
    let mut tailer = LogTailer::new(settings(&[&log], &dir.join("state"))).expect("tailer");
    let mut consumer = Consumer::default();
    consumer.drain(&mut tailer);
    fs::remove_dir_all(&sub).unwrap();
    consumer.wait_for(&mut tailer, |c| c.ends == 1);
    fs::create_dir(&sub).unwrap();
    append(&log, b"after\n");
    consumer.wait_for(&mut tailer, |c| c.lines.len() == 2);
    assert_eq!(
        consumer.lines,
        vec![got("before", 1, 0), got("after", 1, 0)]
    );
}

#[test]
fn writes_through_a_symlinked_path_wake_the_tailer() {
    let dir = TempDir::new("symlink");
    fs::create_dir(dir.join("real")).unwrap();
    fs::create_dir(dir.join("links")).unwrap();
    let target = dir.join("real/plugin-0001.log");
    let link = dir.join("links/cni.log");
    append(&target, b"one\n");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut tailer = LogTailer::new(settings(&[&link], &dir.join("state"))).expect("tailer");
    let mut consumer = Consumer::default();
    consumer.drain(&mut tailer);
    append(&target, b"two\n");
    consumer.wait_for(&mut tailer, |c| c.lines.len() == 2);
    assert_eq!(consumer.texts(), ["one", "two"]);
}

#[test]
fn a_fifo_at_the_path_is_an_error_not_a_hang() {
    let dir = TempDir::new("fifo");
    let fifo = dir.join("cni.log");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut tailer = LogTailer::new(settings(&[&fifo], &dir.join("state"))).expect("tailer");
    let mut consumer = Consumer::default();
    consumer.drain(&mut tailer);
    assert!(consumer.lines.is_empty());
    assert_eq!(tailer.stats().read_errors, 1);
}

#[test]
fn a_partial_line_is_held_until_its_newline() {
    let dir = TempDir::new("partial");
    let log = dir.join("cni.log");
    append(&log, b"hal");
    let mut tailer = LogTailer::new(settings(&[&log], &dir.join("state"))).expect("tailer");
    let mut consumer = Consumer::default();
    consumer.drain(&mut tailer);
    assert!(consumer.lines.is_empty());
    append(&log, b"f\nnext\n");
    consumer.wait_for(&mut tailer, |c| c.lines.len() == 2);
    assert_eq!(consumer.lines, vec![got("half", 1, 0), got("next", 2, 5)]);
}

#[test]
fn a_10_mb_line_is_cut_and_the_lines_after_it_are_intact() {
    let dir = TempDir::new("huge");
    let log = dir.join("cni.log");
    let mut text = b"before\n".to_vec();
    text.resize(text.len() + (10 << 20), b'x');
    text.extend_from_slice(b"\nafter 1\nafter 2\n");
    fs::write(&log, &text).unwrap();
    let mut s = settings(&[&log], &dir.join("state"));
    s.max_line_bytes = 1 << 20;
    s.read_budget = 1 << 20;
    let mut tailer = LogTailer::new(s).expect("tailer");
    let mut consumer = Consumer::default();
    let mut batches = 0;
    let mut largest = 0;
    loop {
        let batch = tailer.on_readable();
        batches += 1;
        let held: usize = batch
            .entries()
            .map(|e| match e {
                Entry::Line(l) => l.bytes.len(),
                Entry::End(_) => 0,
            })
            .sum();
        largest = largest.max(held);
        consumer.feed(&mut tailer, &batch);
        if !batch.more() {
            break;
        }
    }
    assert_eq!(consumer.texts()[0], "before");
    assert_eq!(consumer.lines[1].text.len(), 1 << 20);
    assert_eq!(consumer.lines[1].offset, 7);
    assert_eq!(consumer.lines[2], got("after 1", 3, 7 + (10 << 20) + 1));
    assert_eq!(consumer.texts()[3], "after 2");
    assert_eq!(tailer.stats().cut_lines, 1);
    assert!(batches >= 10, "the read budget splits the file: {batches}");
    assert!(largest <= 2 << 20, "a batch held {largest} bytes");

    // The cut line's checkpoint lands after the whole line: a restart repeats nothing.
    tailer.persist().unwrap();
    drop(tailer);
    let mut tailer = LogTailer::new(settings(&[&log], &dir.join("state"))).expect("tailer");
    append(&log, b"after 3\n");
    let mut again = Consumer::default();
    again.drain(&mut tailer);
    assert_eq!(again.lines, vec![got("after 3", 5, text.len() as u64)]);
}

#[test]
fn one_busy_file_does_not_starve_another() {
    let dir = TempDir::new("fair");
    let busy = dir.join("busy.log");
    let quiet = dir.join("quiet.log");
    fs::write(&busy, "y\n".repeat(2 << 20)).unwrap();
    fs::write(&quiet, "hello\n").unwrap();
    let mut s = settings(&[&busy, &quiet], &dir.join("state"));
    s.read_budget = 8 << 10;
    let mut tailer = LogTailer::new(s).expect("tailer");
    let mut consumer = Consumer::default();
    let batch = tailer.on_readable();
    consumer.feed(&mut tailer, &batch);
    assert!(batch.more());
    assert!(consumer.texts().contains(&"hello"));
    assert_eq!(consumer.lines.len(), (8 << 10) / 2 + 1);
}

#[test]
fn a_file_of_empty_lines_comes_in_bounded_batches() {
    let dir = TempDir::new("empty-lines");
    let log = dir.join("cni.log");
    fs::write(&log, "\n".repeat(1 << 20)).unwrap();
    let mut tailer = LogTailer::new(settings(&[&log], &dir.join("state"))).expect("tailer");
    let mut consumer = Consumer::default();
    let mut largest = 0;
    loop {
        let batch = tailer.on_readable();
        largest = largest.max(batch.len());
        consumer.feed(&mut tailer, &batch);
        if !batch.more() {
            break;
        }
    }
    assert_eq!(largest, 16 << 10);
    assert_eq!(consumer.lines.len(), 1 << 20);
    assert_eq!(
        consumer.lines.last(),
        Some(&got("", 1 << 20, (1 << 20) - 1))
    );
    assert_eq!(tailer.stats().untracked_lines, 0);
}

#[test]
fn unreadable_files_are_counted_and_retried() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test drops to nobody on one thread and must start as root"
    );
    let dir = TempDir::new("errors");
    let not_a_file = dir.join("dir.log");
    fs::create_dir(&not_a_file).unwrap();
    let locked = dir.join("locked.log");
    fs::write(&locked, b"secret-free line\n").unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let state = dir.join("state");
    let paths = [not_a_file.clone(), locked.clone()];
    // Root reads anything: read as `nobody` on this thread only (the fs uid is per thread).
    let errors = std::thread::spawn(move || {
        nix::unistd::setfsuid(nix::unistd::Uid::from_raw(65534));
        let s = TailSettings::new(paths.iter().map(|p| (p.clone(), None)).collect(), state);
        let mut tailer = LogTailer::new(s);
        // The state directory was made by root: nobody cannot write in it.
        assert!(matches!(tailer, Err(Error::StateDir { .. })), "{tailer:?}");
        let mut s = TailSettings::new(
            paths.iter().map(|p| (p.clone(), None)).collect(),
            std::env::temp_dir().join(format!("tapio-tail-nobody-{}", std::process::id())),
        );
        s.use_inotify = false;
        tailer = LogTailer::new(s);
        let mut tailer = tailer.expect("a state directory nobody may write");
        let mut consumer = Consumer::default();
        consumer.drain(&mut tailer);
        consumer.drain(&mut tailer);
        assert!(consumer.lines.is_empty());
        let errors = tailer.stats().read_errors;
        fs::remove_dir_all(
            std::env::temp_dir().join(format!("tapio-tail-nobody-{}", std::process::id())),
        )
        .unwrap();
        errors
    })
    .join()
    .expect("the unprivileged thread");
    // Both paths, on both calls.
    assert_eq!(errors, 4);

    let mut tailer =
        LogTailer::new(settings(&[&not_a_file, &locked], &dir.join("state"))).expect("tailer");
    let mut consumer = Consumer::default();
    consumer.drain(&mut tailer);
    assert_eq!(consumer.texts(), ["secret-free line"]);
    assert_eq!(tailer.stats().read_errors, 1);
}

#[test]
fn a_state_dir_that_is_a_file_is_an_error_at_start() {
    let dir = TempDir::new("statefile");
    let state = dir.join("state");
    fs::write(&state, b"").unwrap();
    let e = LogTailer::new(settings(&[&dir.join("x.log")], &state)).err();
    let e = e.expect("a state dir that is a file is refused");
    assert!(e.to_string().contains("state directory"), "{e}");
}

#[test]
fn a_restart_resumes_exactly_at_the_checkpoint() {
    let dir = TempDir::new("restart");
    let log = dir.join("cni.log");
    let state = dir.join("state");
    append(&log, b"one\ntwo\npart");
    let mut tailer = LogTailer::new(settings(&[&log], &state)).expect("tailer");
    let mut consumer = Consumer::default();
    consumer.drain(&mut tailer);
    tailer.persist().unwrap();
    drop(tailer);
    append(&log, b"ial\nthree\n");
    // Made on another thread, as a runtime may: the tailer moves between threads.
    let (log2, state2) = (log.clone(), state.clone());
    let mut tailer = std::thread::spawn(move || LogTailer::new(settings(&[&log2], &state2)))
        .join()
        .expect("the thread")
        .expect("tailer");
    consumer.drain(&mut tailer);
    assert_eq!(
        consumer.lines,
        vec![
            got("one", 1, 0),
            got("two", 2, 4),
            got("partial", 3, 8),
            got("three", 4, 16)
        ]
    );
}

#[test]
fn a_pending_multi_line_record_is_read_again_after_a_restart() {
    let dir = TempDir::new("core");
    let log = dir.join("cni.log");
    let state = dir.join("state");
    append(&log, b"plain line\n{\n  \"cniVersion\": \"1.0.0\",\n");
    let mut tailer = LogTailer::new(settings(&[&log], &state)).expect("tailer");
    let mut collector = proto::Collector::new(proto::Config::default());
    let now = proto::Timestamp::from_unix_nanos(1_700_000_000_000_000_000);
    let feed = |tailer: &mut LogTailer, collector: &mut proto::Collector| {
        let batch = tailer.poll();
        let mut seen = Vec::new();
        for entry in batch.entries() {
            if let Entry::Line(line) = entry {
                seen.push(String::from_utf8_lossy(line.bytes).into_owned());
                collector.handle_log_line(now, line);
            }
        }
        while let Some(request) = collector.poll_request() {
            if let proto::Request::Checkpoint { source, offset } = request {
                tailer.checkpoint(&source, offset);
            }
        }
        seen
    };
    assert_eq!(feed(&mut tailer, &mut collector).len(), 3);
    tailer.persist().unwrap();
    drop(tailer);

    // The core held the checkpoint back at the record's first line: that is where reading
    // resumes, and the plain line before it is not read again.
    append(&log, b"  \"name\": \"k8s-pod-network\"\n}\n");
    let mut tailer = LogTailer::new(settings(&[&log], &state)).expect("tailer");
    let mut collector = proto::Collector::new(proto::Config::default());
    let seen = feed(&mut tailer, &mut collector);
    assert_eq!(seen[0], "{");
    assert_eq!(seen.len(), 4);
}

#[test]
fn a_file_rotated_while_stopped_is_read_to_its_end_first() {
    let dir = TempDir::new("rotated-while-down");
    let log = dir.join("cni.log");
    let state = dir.join("state");
    append(&log, b"a1\n");
    let mut tailer = LogTailer::new(settings(&[&log], &state)).expect("tailer");
    let mut consumer = Consumer::default();
    consumer.drain(&mut tailer);
    tailer.persist().unwrap();
    drop(tailer);
    append(&log, b"a2\n");
    fs::rename(&log, dir.join("cni.log-20261122")).unwrap();
    append(&log, b"b1\n");
    let mut tailer = LogTailer::new(settings(&[&log], &state)).expect("tailer");
    consumer.drain(&mut tailer);
    assert_eq!(
        consumer.lines,
        vec![got("a1", 1, 0), got("a2", 2, 3), got("b1", 1, 0)]
    );
    assert_eq!(tailer.stats().rotations, 1);
}

#[test]
fn truncation_and_inode_reuse_while_stopped_read_from_the_start() {
    let dir = TempDir::new("truncated-while-down");
    let log = dir.join("cni.log");
    let state = dir.join("state");
    append(&log, b"first file 1\nfirst file 2\n");
    let mut tailer = LogTailer::new(settings(&[&log], &state)).expect("tailer");
    let mut consumer = Consumer::default();
    consumer.drain(&mut tailer);
    tailer.persist().unwrap();
    drop(tailer);
    // Same inode, other content, longer than the saved offset.
    fs::write(&log, b"second file 1\nsecond file 2\nsecond file 3\n").unwrap();
    let mut tailer = LogTailer::new(settings(&[&log], &state)).expect("tailer");
    consumer.drain(&mut tailer);
    assert_eq!(consumer.lines.len(), 5);
    assert_eq!(consumer.lines[2], got("second file 1", 1, 0));
    assert_eq!(tailer.stats().truncations, 1);
}

#[test]
fn a_corrupt_state_file_is_counted_and_files_are_read_from_their_start() {
    let dir = TempDir::new("corrupt");
    let log = dir.join("cni.log");
    let state = dir.join("state");
    fs::create_dir_all(&state).unwrap();
    fs::write(
        state.join(tapio_cni_collector_lite::tail::STATE_FILE),
        b"\0\0garbage",
    )
    .unwrap();
    append(&log, b"line\n");
    let mut tailer = LogTailer::new(settings(&[&log], &state)).expect("tailer");
    let mut consumer = Consumer::default();
    consumer.drain(&mut tailer);
    assert_eq!(consumer.texts(), ["line"]);
    assert_eq!(tailer.stats().state_errors, 1);
}

// ---- the property model ----

/// What the writer (and logrotate) do to the one log file, and the tailer's stops and starts.
#[derive(Debug, Clone)]
enum Op {
    /// Append a complete line (finishing a pending partial one).
    Line(String),
    /// Append bytes without a newline.
    Partial(String),
    /// logrotate's `create`: rename the file away, create an empty one.
    Rotate,
    /// logrotate's `copytruncate`.
    CopyTruncate,
    /// Delete the file; the next write creates it again.
    Delete,
    /// The tailer reads what is there.
    Read,
    /// Persist and drop the tailer; what follows happens while it is down.
    Stop,
    /// A new tailer from the same state directory.
    Start,
}

fn op() -> impl Strategy<Value = Op> {
    let text = "[a-z ]{0,40}";
    prop_oneof![
        6 => text.prop_map(Op::Line),
        2 => text.prop_map(Op::Partial),
        1 => Just(Op::Rotate),
        1 => Just(Op::CopyTruncate),
        1 => Just(Op::Delete),
        3 => Just(Op::Read),
        1 => Just(Op::Stop),
        2 => Just(Op::Start),
    ]
}

/// The expected lines, kept as the writer produces them, with the tailer stopped and started
/// at any point (also between a write and the tailer's next look).
///
/// Honest limits, which no tailer can do better on; the model lets the tailer look where it
/// would otherwise have no way to know:
/// - copytruncate loses whatever is written between the tailer's last read and the copy, and an
///   unterminated line the tailer holds in memory is gone if it stops before it sees the
///   truncation (logrotate's race is not the tailer's): the tailer reads just before the copy
///   and, when it holds such a line, looks just after the truncate; while the tailer is down,
///   copytruncate only happens to a file it had read to the end;
/// - a deleted file can only be read by a tailer that still has it open: the tailer looks at a
///   new file before it is deleted and, when something is still unread, right after; while it is
///   down only a file read to the end is deleted;
/// - a file created and rotated away between two looks of the tailer was never opened by it: the
///   tailer looks at a new file before it is rotated; while it is down, the file it read last is
///   rotated at most once (a second rotated file would have an unknown name), and not after a
///   truncation the tailer has not seen (a file whose first bytes changed is not taken for the
///   one it read: that is how inode reuse is told apart); for the same reason the tailer looks
///   before it stops when a file was truncated and then rotated away, both unseen;
/// - a file is known again after a restart by its inode and its first bytes, so every chunk the
///   writer writes starts with a unique sequence number.
struct Model {
    dir: TempDir,
    log: PathBuf,
    state: PathBuf,
    max_line: usize,
    budget: u64,
    use_inotify: bool,
    /// Lines the tailer must hand out, in order.
    expected: Vec<Got>,
    /// The current file: its size, complete lines, and the unterminated line at its end.
    size: u64,
    lines: u64,
    partial: Option<(u64, Vec<u8>)>,
    exists: bool,
    /// The tailer has looked at the current file since it was created.
    seen: bool,
    /// Bytes were written since the tailer's last read.
    unread: bool,
    /// The file was rotated since the tailer stopped.
    rotated_while_down: bool,
    /// The file was truncated since the tailer's last read.
    truncated_unseen: bool,
    /// A file truncated since the tailer's last read was rotated away.
    truncated_rotated: bool,
    rotated: u32,
    seq: u32,
    tailer: Option<LogTailer>,
    consumer: Consumer,
}

impl Model {
    fn new(max_line: usize, budget: u64, use_inotify: bool) -> Model {
        let dir = TempDir::new("model");
        let log = dir.join("cni.log");
        let state = dir.join("state");
        let mut m = Model {
            dir,
            log,
            state,
            max_line,
            budget,
            use_inotify,
            expected: Vec::new(),
            size: 0,
            lines: 0,
            partial: None,
            exists: false,
            seen: false,
            unread: false,
            rotated_while_down: false,
            truncated_unseen: false,
            truncated_rotated: false,
            rotated: 0,
            seq: 0,
            tailer: None,
            consumer: Consumer::default(),
        };
        m.start();
        m
    }

    fn start(&mut self) {
        if self.tailer.is_some() {
            return;
        }
        let mut s = TailSettings::new(vec![(self.log.clone(), None)], self.state.clone());
        s.max_line_bytes = self.max_line;
        s.read_budget = self.budget;
        s.use_inotify = self.use_inotify;
        self.tailer = Some(LogTailer::new(s).expect("tailer"));
        self.rotated_while_down = false;
    }

    fn stop(&mut self) {
        if self.truncated_rotated {
            self.read();
        }
        if let Some(mut tailer) = self.tailer.take() {
            tailer.persist().expect("persist");
        }
    }

    fn read(&mut self) {
        let Some(tailer) = self.tailer.as_mut() else {
            return;
        };
        self.consumer.drain(tailer);
        self.seen = self.exists;
        self.unread = false;
        self.truncated_unseen = false;
        self.truncated_rotated = false;
    }

    fn running(&self) -> bool {
        self.tailer.is_some()
    }

    /// Everything in the file was read, and no unterminated line is held.
    fn read_through(&self) -> bool {
        !self.unread && self.partial.is_none()
    }

    fn write(&mut self, bytes: &[u8], newline: bool) {
        if !self.exists {
            self.exists = true;
            self.seen = false;
        }
        self.unread = true;
        let start = self.partial.as_ref().map_or(self.size, |(s, _)| *s);
        let mut text = self.partial.take().map_or_else(Vec::new, |(_, t)| t);
        text.extend_from_slice(bytes);
        append(&self.log, bytes);
        self.size += bytes.len() as u64;
        if newline {
            append(&self.log, b"\n");
            self.size += 1;
            self.complete(start, text);
        } else {
            self.partial = Some((start, text));
        }
    }

    /// The line at `start` is complete (or handed out unterminated as its file's last).
    fn complete(&mut self, start: u64, mut text: Vec<u8>) {
        self.lines += 1;
        text.truncate(self.max_line);
        self.expected.push(Got {
            text: String::from_utf8(text).expect("ascii"),
            line_no: self.lines,
            offset: start,
        });
    }

    /// The current file is done with: its unterminated last line is handed out as it is.
    fn file_gone(&mut self) {
        if let Some((start, text)) = self.partial.take() {
            self.complete(start, text);
        }
        self.size = 0;
        self.lines = 0;
    }

    fn chunk(&mut self, text: &str) -> Vec<u8> {
        self.seq += 1;
        format!("{}:{text}", self.seq).into_bytes()
    }

    fn rotated_name(&mut self) -> PathBuf {
        self.rotated += 1;
        self.dir.join(&format!("cni.log.{}", self.rotated))
    }

    fn rotate(&mut self) {
        if self.running() && !self.seen {
            self.read();
        }
        if !self.running() && (!self.seen || self.rotated_while_down || self.truncated_unseen) {
            return;
        }
        self.rotated_while_down = !self.running();
        let to = self.rotated_name();
        fs::rename(&self.log, to).unwrap();
        File::create(&self.log).unwrap();
        self.file_gone();
        self.seen = false;
        self.truncated_rotated |= self.truncated_unseen;
        self.truncated_unseen = false;
    }

    fn copytruncate(&mut self) {
        self.read();
        if !self.read_through() && !self.running() {
            return;
        }
        let held = self.partial.is_some();
        let to = self.rotated_name();
        fs::copy(&self.log, to).unwrap();
        let file = OpenOptions::new().write(true).open(&self.log).unwrap();
        file.set_len(0).unwrap();
        self.file_gone();
        self.truncated_unseen = true;
        if held {
            self.read();
        }
    }

    fn delete(&mut self) {
        if self.running() && !self.seen {
            self.read();
        }
        if !self.running() && !self.read_through() {
            return;
        }
        let unread = !self.read_through();
        fs::remove_file(&self.log).unwrap();
        self.exists = false;
        self.file_gone();
        if unread {
            self.read();
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Line(text) => {
                let bytes = self.chunk(&text);
                self.write(&bytes, true);
            }
            Op::Partial(text) => {
                let bytes = self.chunk(&text);
                self.write(&bytes, false);
            }
            Op::Rotate if self.exists => self.rotate(),
            Op::CopyTruncate if self.exists => self.copytruncate(),
            Op::Delete if self.exists => self.delete(),
            Op::Rotate | Op::CopyTruncate | Op::Delete => {}
            Op::Read => self.read(),
            Op::Stop => self.stop(),
            Op::Start => self.start(),
        }
    }

    fn finish(mut self) -> (Vec<Got>, Vec<Got>) {
        self.start();
        self.read();
        (self.expected, self.consumer.lines)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn lines_read_equal_lines_written(
        ops in proptest::collection::vec(op(), 1..60),
        max_line in prop_oneof![Just(1usize << 20), 8usize..48],
        budget in prop_oneof![Just(1u64 << 20), 1u64..64],
        use_inotify in any::<bool>(),
    ) {
        let mut model = Model::new(max_line, budget, use_inotify);
        for op in ops {
            model.apply(op);
        }
        let (expected, got) = model.finish();
        prop_assert_eq!(got, expected);
    }
}
