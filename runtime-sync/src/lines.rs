//! Reading lines with bounded memory: a line longer than the limit keeps its first `max` bytes
//! and the rest is skipped (and reported), so a file holding one line of gigabytes costs `max`.

use std::io::{self, BufRead};

/// One line as read, without its `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub bytes: Vec<u8>,
    /// Byte offset of the line's start in the input.
    pub offset: u64,
    /// The line's full length, including what was skipped past `max`.
    pub len: u64,
}

impl Line {
    pub fn was_cut(&self) -> bool {
        self.len > self.bytes.len() as u64
    }
}

/// Reads `\n`-terminated lines from a [`BufRead`], keeping at most `max` bytes of each.
pub struct BoundedLines<R> {
    inner: R,
    max: usize,
    offset: u64,
}

impl<R: BufRead> BoundedLines<R> {
    pub fn new(inner: R, max: usize) -> BoundedLines<R> {
        BoundedLines {
            inner,
            max,
            offset: 0,
        }
    }

    /// The next line, or `None` at end of input. A last line without `\n` is returned too.
    ///
    /// # Errors
    /// Any read error of the underlying reader.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        let mut bytes = Vec::new();
        let mut len = 0u64;
        loop {
            let buf = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                if len == 0 {
                    return Ok(None);
                }
                break;
            }
            let (chunk, found) = match memchr(buf) {
                Some(i) => (&buf[..i], true),
                None => (buf, false),
            };
            let room = self.max.saturating_sub(bytes.len());
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            len += chunk.len() as u64;
            let used = chunk.len() + usize::from(found);
            self.inner.consume(used);
            if found {
                let line = Line {
                    bytes,
                    offset: self.offset,
                    len,
                };
                self.offset += len + 1;
                return Ok(Some(line));
            }
        }
        let line = Line {
            bytes,
            offset: self.offset,
            len,
        };
        self.offset += len;
        Ok(Some(line))
    }
}

fn memchr(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8], max: usize) -> Vec<Line> {
        // A tiny buffer so that lines cross buffer boundaries.
        let mut r = BoundedLines::new(io::BufReader::with_capacity(3, input), max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn lines_offsets_and_cuts() {
        let lines = read_all(b"ab\n\nlonger line\nlast", 4);
        let got: Vec<(&[u8], u64, u64)> = lines
            .iter()
            .map(|l| (l.bytes.as_slice(), l.offset, l.len))
            .collect();
        assert_eq!(
            got,
            vec![
                (&b"ab"[..], 0, 2),
                (&b""[..], 3, 0),
                (&b"long"[..], 4, 11),
                (&b"last"[..], 16, 4)
            ]
        );
        assert!(lines[2].was_cut());
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert!(read_all(b"", 10).is_empty());
        assert_eq!(read_all(b"\n", 10).len(), 1);
    }
}
