//! One tailed path and the file generation being read for it.
//!
//! A path is several files over time: rename + create and delete + create give it a new inode,
//! copytruncate rewrites the same one from its start. Each of these is a new [`Generation`];
//! the old one is read to its end, its unterminated last line is emitted, and it ends with an
//! `End` entry before the next generation is opened (on a later call), so every line and every
//! checkpoint belongs to exactly one generation.

use std::collections::VecDeque;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::fcntl::OFlag;
use proto::Format;

use super::state::{Fingerprint, Position};
use super::{Batch, Item, TailStats};

/// Lines read but not yet checkpointed that are remembered per generation; a runtime that does
/// not hand the core's checkpoints back makes older ones unmatched (and counted), not memory.
const MAX_UNACKED: usize = 1 << 16;

/// Lines handed out from one file per call: with the byte budget this bounds a batch's memory
/// even for a file of empty lines.
pub const MAX_LINES_PER_CALL: usize = 16 << 10;

/// Directory entries looked at when searching for a file rotated away while the tailer was down.
const MAX_SCAN: usize = 100_000;

/// What a call has to read with, shared by the paths of one call.
#[derive(Debug)]
pub struct Cx<'a> {
    pub batch: &'a mut Batch,
    pub stats: &'a mut TailStats,
    pub buf: &'a mut [u8],
    pub source: u32,
    pub max_line: usize,
    pub budget: u64,
    /// Lines this file may still hand out in this call.
    pub lines_left: usize,
}

/// A line handed out and not yet covered by a checkpoint: how the core's view of its end maps to
/// the file's.
#[derive(Debug, Clone, Copy)]
struct Unacked {
    start: u64,
    /// Where the core believes the line ends: it adds the bytes it was given and a newline, which
    /// is short of the real end for a cut line and one past it for an unterminated last line.
    core_next: u64,
    /// The offset of the byte after the line and its newline.
    real_next: u64,
    line_no: u64,
}

/// How one step of a generation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Everything there is was read.
    Idle,
    /// The read budget ran out before the end.
    More,
    /// The generation was read to its end and ended.
    Ended,
}

/// One file read for a path, from the open file descriptor (which keeps following the file
/// across a rename, and keeps a deleted file readable).
#[derive(Debug)]
pub struct Generation {
    file: File,
    dev: u64,
    ino: u64,
    read_pos: u64,
    line_start: u64,
    /// Lines handed out.
    line_no: u64,
    /// The start of the current unterminated line (at most `max_line` bytes of it).
    partial: Vec<u8>,
    /// The current line's full length so far, including bytes skipped past `max_line`.
    partial_len: u64,
    fingerprint: Fingerprint,
    unacked: VecDeque<Unacked>,
    /// Checkpointed: every line before this offset was fully handled.
    saved_offset: u64,
    saved_line: u64,
    ended: Option<Ended>,
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The path holds another file now, or none.
    Replaced,
    /// The file was truncated or rewritten from its start: the next generation reads the same
    /// file again from 0 (even if it was also renamed meanwhile).
    Truncated,
}

impl Generation {
    fn fresh(file: File, meta: &Metadata) -> Generation {
        Generation::resume(
            file,
            meta,
            Position {
                dev: meta.dev(),
                ino: meta.ino(),
                offset: 0,
                line: 0,
                fingerprint: Fingerprint::EMPTY,
            },
        )
    }

    fn resume(file: File, meta: &Metadata, pos: Position) -> Generation {
        Generation {
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            read_pos: pos.offset,
            line_start: pos.offset,
            line_no: pos.line,
            partial: Vec::new(),
            partial_len: 0,
            fingerprint: pos.fingerprint,
            unacked: VecDeque::new(),
            saved_offset: pos.offset,
            saved_line: pos.line,
            ended: None,
        }
    }

    /// Where a restart should resume this generation.
    pub fn position(&self) -> Position {
        Position {
            dev: self.dev,
            ino: self.ino,
            offset: self.saved_offset,
            line: self.saved_line,
            fingerprint: self.fingerprint,
        }
    }

    pub fn ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Applies the core's checkpoint `offset`; false when it names no line handed out.
    pub fn checkpoint(&mut self, offset: u64) -> bool {
        // Searched from the front: a checkpoint per line then matches at once, and one per
        // batch (the core keeps the latest per source) costs one pass. At most one line can
        // match, or two that mean the same offset (one's end is the next one's start).
        let Some(i) = self
            .unacked
            .iter()
            .position(|u| u.core_next == offset || u.start == offset)
        else {
            return false;
        };
        let u = self.unacked[i];
        let (offset, line) = if u.core_next == offset {
            (u.real_next, u.line_no)
        } else {
            (u.start, u.line_no - 1)
        };
        while self.unacked.front().is_some_and(|f| f.real_next <= offset) {
            self.unacked.pop_front();
        }
        if offset > self.saved_offset {
            self.saved_offset = offset;
            self.saved_line = line;
        }
        true
    }

    fn step(&mut self, path: &Path, cx: &mut Cx<'_>) -> io::Result<Progress> {
        // Looked at before reading, so that whatever was written before a rename is read below.
        let replaced = match fs::metadata(path) {
            Ok(m) => m.dev() != self.dev || m.ino() != self.ino,
            Err(e) if e.kind() == io::ErrorKind::NotFound => true,
            Err(e) => return Err(e),
        };
        let size = self.file.metadata()?.len();
        if size < self.read_pos || !self.fingerprint.matches(&self.file)? {
            cx.stats.truncations += 1;
            self.finish(cx, Ended::Truncated);
            return Ok(Progress::Ended);
        }
        let mut left = cx.budget;
        while self.read_pos < size && left > 0 && cx.lines_left > 0 {
            let want = (size - self.read_pos).min(left).min(cx.buf.len() as u64);
            // `want` is at most the buffer's length.
            let want = want as usize;
            let n = match self.file.read_at(&mut cx.buf[..want], self.read_pos) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let used = self.take(n, cx);
            self.read_pos += used as u64;
            left -= used as u64;
            cx.stats.bytes += used as u64;
            if used < n {
                break;
            }
        }
        if self.fingerprint.len < self.read_pos.min(super::state::FINGERPRINT_BYTES) {
            if let Some(fp) = Fingerprint::of(&self.file, self.read_pos)? {
                self.fingerprint = fp;
            }
        }
        if self.read_pos < size {
            return Ok(Progress::More);
        }
        if replaced {
            cx.stats.rotations += 1;
            self.finish(cx, Ended::Replaced);
            return Ok(Progress::Ended);
        }
        Ok(Progress::Idle)
    }

    /// Splits the first `n` bytes of the read buffer into lines, straight into the batch; the
    /// unterminated rest goes back into `partial`. Returns the bytes used: fewer than `n` when
    /// the call's line limit is reached (the rest is read again on the next call).
    fn take(&mut self, n: usize, cx: &mut Cx<'_>) -> usize {
        let Cx {
            batch,
            stats,
            buf,
            source,
            max_line,
            lines_left,
            ..
        } = cx;
        let mut begin = batch.data.len();
        batch.data.extend_from_slice(&self.partial);
        self.partial.clear();
        let mut rest = &buf[..n];
        loop {
            let (segment, found) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            let room = max_line.saturating_sub(batch.data.len() - begin);
            batch
                .data
                .extend_from_slice(&segment[..segment.len().min(room)]);
            self.partial_len += segment.len() as u64;
            if !found {
                break;
            }
            rest = &rest[segment.len() + 1..];
            let end = batch.data.len();
            self.emit(begin, end, 1, batch, stats, *source);
            begin = end;
            *lines_left -= 1;
            if *lines_left == 0 {
                return n - rest.len();
            }
        }
        self.partial.extend_from_slice(&batch.data[begin..]);
        batch.data.truncate(begin);
        n
    }

    /// Hands out the current line, held in `batch.data[begin..end]`; `newline` is 1 when it
    /// was terminated.
    fn emit(
        &mut self,
        begin: usize,
        end: usize,
        newline: u64,
        batch: &mut Batch,
        stats: &mut TailStats,
        source: u32,
    ) {
        self.line_no += 1;
        let start = self.line_start;
        let kept = (end - begin) as u64;
        if self.partial_len > kept {
            stats.cut_lines += 1;
        }
        stats.lines += 1;
        batch.items.push(Item::Line {
            source,
            line_no: self.line_no,
            offset: start,
            begin,
            end,
        });
        if self.unacked.len() == MAX_UNACKED {
            self.unacked.pop_front();
            stats.untracked_lines += 1;
        }
        let real_next = start + self.partial_len + newline;
        self.unacked.push_back(Unacked {
            start,
            core_next: start + kept + 1,
            real_next,
            line_no: self.line_no,
        });
        self.line_start = real_next;
        self.partial_len = 0;
    }

    /// Ends the generation: an unterminated last line is handed out as it is.
    fn finish(&mut self, cx: &mut Cx<'_>, why: Ended) {
        if self.partial_len > 0 {
            let begin = cx.batch.data.len();
            cx.batch.data.extend_from_slice(&self.partial);
            self.partial.clear();
            let end = cx.batch.data.len();
            self.emit(begin, end, 0, cx.batch, cx.stats, cx.source);
        }
        cx.batch.items.push(Item::End { source: cx.source });
        self.ended = Some(why);
    }
}

/// One configured path.
#[derive(Debug)]
pub struct Tracked {
    pub path: PathBuf,
    pub source: Arc<str>,
    pub format: Option<Format>,
    pub generation: Option<Generation>,
    missing: bool,
    failing: bool,
}

impl Tracked {
    pub fn new(path: PathBuf, format: Option<Format>) -> Tracked {
        Tracked {
            source: path.to_string_lossy().into(),
            path,
            format,
            generation: None,
            missing: false,
            failing: false,
        }
    }

    /// Resumes at `pos`, saved before a restart: in the same file if the path still holds it
    /// unchanged, from the start if it was truncated or its inode reused, and in the rotated
    /// file first if the path was rotated meanwhile.
    pub fn restore(&mut self, pos: Position, stats: &mut TailStats) {
        match open_regular(&self.path) {
            Ok((file, meta)) if meta.dev() == pos.dev && meta.ino() == pos.ino => {
                if meta.len() >= pos.offset && pos.fingerprint.matches(&file).unwrap_or(false) {
                    self.generation = Some(Generation::resume(file, &meta, pos));
                } else {
                    stats.truncations += 1;
                    tracing::info!(path = %self.path.display(), "log file truncated or replaced while stopped: reading it from the start");
                    self.generation = Some(Generation::fresh(file, &meta));
                }
            }
            _ => match find_rotated(&self.path, &pos) {
                Some((file, meta)) => {
                    tracing::info!(path = %self.path.display(), "log file rotated while stopped: reading the rest of the rotated file first");
                    self.generation = Some(Generation::resume(file, &meta, pos));
                }
                None => {
                    stats.rotated_not_found += 1;
                    tracing::warn!(path = %self.path.display(), offset = pos.offset, "the log file read before the restart is gone: lines written to it after the saved offset, if any, were not read");
                }
            },
        }
    }

    /// Reads what is new: opens the path when it has no open generation, moves on from an
    /// ended one, and reads up to the budget.
    pub fn step(&mut self, cx: &mut Cx<'_>) {
        if let Some(ended) = self.generation.take_if(|g| g.ended()) {
            if ended.ended == Some(Ended::Truncated) && !self.reread(ended.file, cx.stats) {
                return;
            }
        }
        if self.generation.is_none() && !self.open(cx.stats) {
            return;
        }
        let Some(generation) = self.generation.as_mut() else {
            return;
        };
        match generation.step(&self.path, cx) {
            Ok(Progress::Idle) => self.failing = false,
            Ok(Progress::More | Progress::Ended) => {
                self.failing = false;
                cx.batch.more = true;
            }
            Err(e) => self.read_failed(&e, cx.stats),
        }
    }

    /// Starts a truncated file again from its start.
    fn reread(&mut self, file: File, stats: &mut TailStats) -> bool {
        match file.metadata() {
            Ok(meta) => {
                self.generation = Some(Generation::fresh(file, &meta));
                true
            }
            Err(e) => {
                self.read_failed(&e, stats);
                false
            }
        }
    }

    fn open(&mut self, stats: &mut TailStats) -> bool {
        match open_regular(&self.path) {
            Ok((file, meta)) => {
                self.missing = false;
                self.failing = false;
                self.generation = Some(Generation::fresh(file, &meta));
                true
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !self.missing {
                    self.missing = true;
                    stats.files_missing += 1;
                    tracing::debug!(path = %self.path.display(), "log file does not exist (yet)");
                }
                false
            }
            Err(e) => {
                self.read_failed(&e, stats);
                false
            }
        }
    }

    fn read_failed(&mut self, e: &io::Error, stats: &mut TailStats) {
        stats.read_errors += 1;
        // Retried on every call; said once until it works again.
        if !self.failing {
            self.failing = true;
            tracing::warn!(path = %self.path.display(), error = %e, "cannot read log file");
        }
    }
}

/// Opens `path` for reading if it is a regular file. Never blocks: a FIFO at the path would
/// otherwise wait for a writer.
fn open_regular(path: &Path) -> io::Result<(File, Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok((file, meta))
}

/// The file `pos` was taken in, if it is still in the path's directory under another name
/// (rotated by rename) and still starts with the same bytes.
fn find_rotated(path: &Path, pos: &Position) -> Option<(File, Metadata)> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    for entry in fs::read_dir(dir).ok()?.take(MAX_SCAN) {
        let Ok(entry) = entry else { continue };
        let Ok(meta) = entry.metadata() else { continue };
        if meta.dev() != pos.dev || meta.ino() != pos.ino {
            continue;
        }
        let (file, meta) = open_regular(&entry.path()).ok()?;
        let same = meta.dev() == pos.dev && meta.ino() == pos.ino && meta.len() >= pos.offset;
        if same && pos.fingerprint.matches(&file).unwrap_or(false) {
            return Some((file, meta));
        }
        return None;
    }
    None
}
