//! Joins the physical lines of one multi-line record: pretty-printed JSON, an indented run of
//! JSON members (`crictl info` fragments), a klog multi-line value (`err=<` ... `>`), and the
//! two-line `about` text a reference plugin prints when run without `CNI_COMMAND`.

use crate::text::{ByteSearch, TrimFast};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Brace/bracket depth and whether the scan is inside a string.
    Json {
        depth: usize,
        in_str: bool,
    },
    Members,
    KlogValue,
    CniAbout,
}

/// What a pending record did with an offered line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// The line belongs to the record, which needs more lines.
    Absorbed,
    /// The line belongs to the record, which is now complete.
    Completed,
    /// The line is not part of the record: flush the record, then handle the line alone.
    Rejected,
}

/// A record whose first line has arrived and whose end has not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    kind: Kind,
    pub text: String,
    pub first_line: u64,
    pub lines: usize,
    /// When the first line arrived: the record's time when it states none of its own.
    pub first_at: Timestamp,
    pub last_at: Timestamp,
    /// Set when the limits cut the record short.
    pub cut: bool,
}

fn is_member_line(line: &str) -> bool {
    if !line.starts_with([' ', '\t']) {
        return false;
    }
    let t = line.trim_start();
    let Some(rest) = t.strip_prefix('"') else {
        return false;
    };
    let Some(close) = rest.find_byte(b'"') else {
        return false;
    };
    rest[close + 1..].trim_start().starts_with(':')
}

/// Scans `s` for JSON nesting from the given state; returns the new state.
fn scan_json(s: &str, mut depth: usize, mut in_str: bool) -> (usize, bool) {
    let mut escaped = false;
    for c in s.bytes() {
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    (depth, in_str)
}

impl Pending {
    /// Starts a pending record when `line` opens a multi-line record.
    pub fn start(line: &str, line_no: u64, now: Timestamp) -> Option<Pending> {
        let t = line.trim_fast();
        let kind = if t == "{"
            || t == "["
            || (t.starts_with('{') && (t.ends_with('{') || t.ends_with('[')))
        {
            let (depth, in_str) = scan_json(t, 0, false);
            Kind::Json { depth, in_str }
        } else if is_member_line(line) {
            Kind::Members
        } else if t.ends_with("=<") {
            Kind::KlogValue
        } else if t.starts_with("CNI ") && t.contains(" plugin v") {
            Kind::CniAbout
        } else {
            return None;
        };
        Some(Pending {
            kind,
            text: line.to_owned(),
            first_line: line_no,
            lines: 1,
            first_at: now,
            last_at: now,
            cut: false,
        })
    }

    /// Offers the next line of the same source.
    pub fn offer(
        &mut self,
        line: &str,
        now: Timestamp,
        max_lines: usize,
        max_bytes: usize,
    ) -> Offer {
        let (belongs, complete) = match self.kind {
            Kind::Json { depth, in_str } => {
                let (depth, in_str) = scan_json(line, depth, in_str);
                self.kind = Kind::Json { depth, in_str };
                (true, depth == 0 && !in_str)
            }
            Kind::Members => (is_member_line(line), false),
            // klog indents every line of a multi-line value; an unindented line is a new record.
            // The closing `>` may carry the record's further pairs (`> pod="ns/name"`).
            Kind::KlogValue => {
                let closing = line.trim_start().starts_with('>');
                (line.starts_with([' ', '\t']) || closing, closing)
            }
            Kind::CniAbout => (line.starts_with("CNI protocol versions supported"), true),
        };
        if !belongs {
            return Offer::Rejected;
        }
        if self.lines >= max_lines || self.text.len() + line.len() + 1 > max_bytes {
            // Over the limits: the record ends here; this line is handled on its own.
            self.cut = true;
            return Offer::Rejected;
        }
        self.text.push('\n');
        self.text.push_str(line);
        self.lines += 1;
        self.last_at = now;
        if complete {
            Offer::Completed
        } else {
            Offer::Absorbed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp(0);

    fn feed(lines: &[&str]) -> Vec<Offer> {
        let mut p = Pending::start(lines[0], 1, T).expect("starts");
        lines[1..]
            .iter()
            .map(|l| p.offer(l, T, 100, 10_000))
            .collect()
    }

    #[test]
    fn pretty_json_completes_at_closing_brace() {
        let offers = feed(&["{", "  \"a\": \"}\",", "  \"b\": [1, 2]", "}"]);
        assert_eq!(offers, [Offer::Absorbed, Offer::Absorbed, Offer::Completed]);
    }

    #[test]
    fn members_run_until_a_foreign_line() {
        let offers = feed(&[
            "        \"type\": \"NetworkReady\",",
            "        \"status\": false,",
            "Aug 04 x",
        ]);
        assert_eq!(offers, [Offer::Absorbed, Offer::Rejected]);
    }

    #[test]
    fn klog_value_and_about() {
        assert_eq!(
            feed(&["x err=<", "\trpc error", " >"]),
            [Offer::Absorbed, Offer::Completed]
        );
        assert_eq!(
            feed(&[
                "CNI bridge plugin v1.3.0",
                "CNI protocol versions supported: 1.0.0"
            ]),
            [Offer::Completed]
        );
        assert_eq!(
            feed(&["CNI bridge plugin v1.3.0", "other"]),
            [Offer::Rejected]
        );
    }

    #[test]
    fn limits_cut_the_record() {
        let mut p = Pending::start("{", 1, T).unwrap();
        assert_eq!(p.offer("\"a\": 1,", T, 2, 10_000), Offer::Absorbed);
        assert_eq!(p.offer("\"b\": 2", T, 2, 10_000), Offer::Rejected);
        assert!(p.cut);
    }

    #[test]
    fn single_lines_do_not_start_records() {
        for l in [
            "{\"a\":1}",
            "level=info",
            "  Warning  FailedCreatePodSandBox  33s",
            "",
        ] {
            assert!(Pending::start(l, 1, T).is_none(), "{l}");
        }
    }
}
