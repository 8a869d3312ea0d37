//! Wrapping layers around a log record, stripped before any format looks at it.
//!
//! A plugin's line reaches us inside other tools' prefixes, often several deep: a grep file name
//! around a kubectl `--timestamps` time around a journald prefix around klog. [`Envelope::strip`]
//! peels them in a loop, keeping what they state (time, host, process, pid), so that format
//! parsers see only the body.

use std::borrow::Cow;

use crate::text::{unescape, ByteSearch, PhraseSearch, TrimFast};
use crate::time::{parse_iso, parse_klog_time, parse_syslog, LineTime};

/// A klog header: `Lmmdd hh:mm:ss.uuuuuu threadid file:line] `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Klog<'a> {
    /// `I`, `W`, `E` or `F`.
    pub level: char,
    pub pid: Option<u32>,
    /// `file.go:123`.
    pub source: Cow<'a, str>,
}

/// The layers around a record and what they state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope<'a> {
    /// The record itself, with every recognised layer removed.
    pub body: Cow<'a, str>,
    /// The outermost time stated by a layer (the record's own time is the body's business).
    pub time: Option<LineTime>,
    pub hostname: Option<&'a str>,
    /// Process or container name (`kubelet`, `containerd`, `crio`, `kube-flannel`).
    pub process: Option<&'a str>,
    pub pid: Option<u32>,
    /// A klog header found at the front of the body (removed from `body`).
    pub klog: Option<Klog<'a>>,
    /// A lone level word after a syslog prefix (`info time=...`).
    pub level_word: Option<&'a str>,
}

/// How many layers we peel at most; real stacks are three deep.
const MAX_LAYERS: usize = 8;

impl<'a> Envelope<'a> {
    /// Strips every recognised layer from `line` (which has no line terminator).
    pub fn strip(line: &'a str) -> Envelope<'a> {
        let mut env = Envelope {
            body: Cow::Borrowed(line),
            ..Envelope::default()
        };
        // Layers that only borrow from `line` are peeled first; a Docker json-file wrapper
        // yields an owned body, whose inner layers are then peeled as text of its own.
        let mut rest = line;
        for _ in 0..MAX_LAYERS {
            let before = rest;
            rest = peel_one(rest, &mut env);
            if std::ptr::eq(before, rest) {
                break;
            }
        }
        if let Some((log, docker_time)) = docker_json(rest) {
            let outer = env.time.or(docker_time);
            let owned = log.into_owned();
            let (body, klog, time) = peel_owned(&owned);
            env.time = time.map(|t| t.within(outer)).or(outer);
            env.klog = env.klog.or(klog.map(|k| Klog {
                level: k.level,
                pid: k.pid,
                source: Cow::Owned(k.source.into_owned()),
            }));
            env.body = Cow::Owned(body.to_owned());
            return env;
        }
        if env.klog.is_none() {
            if let Some((k, t, body)) = klog_header(rest) {
                env.klog = Some(k);
                // klog's own time is the record's, to the microsecond; a wrapper's is not.
                env.time = Some(t.within(env.time));
                rest = body;
            }
        }
        env.body = Cow::Borrowed(rest.trim_end_matches(['\r', '\n']));
        env
    }
}

/// Peels the layers of an owned (already unwrapped) body; returns the body and what it states.
fn peel_owned(s: &str) -> (&str, Option<Klog<'_>>, Option<LineTime>) {
    let mut scratch = Envelope::default();
    let mut rest = s.trim_end_matches(['\r', '\n']);
    for _ in 0..MAX_LAYERS {
        let before = rest;
        rest = peel_one(rest, &mut scratch);
        if std::ptr::eq(before, rest) {
            break;
        }
    }
    match klog_header(rest) {
        Some((k, t, body)) => (body, Some(k), Some(t.within(scratch.time))),
        None => (rest, None, scratch.time),
    }
}

/// Removes one layer from the front of `s`, or returns `s` itself when none is recognised.
fn peel_one<'a>(s: &'a str, env: &mut Envelope<'a>) -> &'a str {
    // Leading indentation (pasted events, quoted logs) and k9s box drawing.
    let t = s.trim_start_matches([' ', '\t']);
    if let Some(inner) = t.strip_prefix('│') {
        return inner.trim_end().trim_end_matches('│').trim_fast();
    }
    if t.len() != s.len() {
        return t;
    }
    let word = FirstWord::of(s);
    if let Some(rest) = grep_file_prefix(s, word) {
        return rest;
    }
    if let Some((time, used)) = parse_syslog(s) {
        if let Some(rest) = syslog_tail(&s[used..], env) {
            env.time = env.time.or(Some(time));
            return rest;
        }
    }
    if let Some((time, used)) = parse_iso(s) {
        let after = &s[used..];
        if let Some(rest) = after.strip_prefix(' ') {
            // An ISO-dated syslog line (`2019-08-06T08:44:24.537 host proc[pid]: `).
            let rest = syslog_tail(after, env).unwrap_or(rest);
            // The innermost dated layer is closest to the record, and an ISO time has a year
            // where an outer syslog time has none.
            env.time = Some(time);
            return cri_stream(rest).unwrap_or(rest);
        }
    }
    if let Some(rest) = name_tokens_before_time(s, word, env) {
        return rest;
    }
    if let Some(rest) = level_word_before_logfmt(s, word, env) {
        return rest;
    }
    s
}

/// `host proc[pid]: ` or `host proc: ` after a syslog time. Sets host/process/pid.
fn syslog_tail<'a>(s: &'a str, env: &mut Envelope<'a>) -> Option<&'a str> {
    let s = s.strip_prefix(' ')?;
    // The host and the tag are short words without blanks: each is read up to its end, where
    // a search for that end would run through a line that is no syslog.
    let b = s.as_bytes();
    let host_len = b
        .iter()
        .position(|&c| matches!(c, b' ' | b'=' | b'"' | b':' | b'[' | b']' | b'{' | b'('))?;
    if host_len == 0 || b[host_len] != b' ' {
        return None;
    }
    let (host, rest) = (&s[..host_len], &s[host_len + 1..]);
    // The tag ends at the first `: `, and holds no space: a space first means no tag.
    let r = rest.as_bytes();
    let colon = (0..r.len())
        .find(|&i| r[i] == b' ' || (r[i] == b':' && r.get(i + 1) == Some(&b' ')))
        .filter(|&i| r[i] == b':')?;
    let tag = &rest[..colon];
    if tag.is_empty() {
        return None;
    }
    let (proc_name, pid) = match tag.split_once_byte(b'[') {
        Some((name, pid)) => (name, pid.trim_end_matches(']').parse().ok()),
        None => (tag, None),
    };
    env.hostname = env.hostname.or(Some(host));
    env.process = env.process.or(Some(proc_name));
    env.pid = env.pid.or(pid);
    Some(&rest[colon + 2..])
}

/// CRI log format after its time: `stdout F ` / `stderr P `.
fn cri_stream(s: &str) -> Option<&str> {
    let rest = s
        .strip_prefix("stdout ")
        .or_else(|| s.strip_prefix("stderr "))?;
    let (tag, body) = rest.split_once_byte(b' ')?;
    (tag == "F" || tag == "P").then_some(body)
}

/// The first word of a text, up to its first ASCII blank or `:`, found once for the layers
/// that start with a word: a grep file name, kubectl's pod name, a level word.
#[derive(Clone, Copy)]
struct FirstWord {
    /// Its length in bytes.
    len: usize,
    /// The byte that ends it, `None` at the end of the text.
    end: Option<u8>,
}

impl FirstWord {
    fn of(s: &str) -> FirstWord {
        let b = s.as_bytes();
        let len = b
            .iter()
            .position(|&c| c == b':' || matches!(c, b' ' | b'\t'..=b'\r'))
            .unwrap_or(b.len());
        FirstWord {
            len,
            end: b.get(len).copied(),
        }
    }

    /// The word, when a space ends it.
    fn before_space(self, s: &str) -> Option<&str> {
        (self.end == Some(b' ')).then(|| &s[..self.len])
    }
}

/// A byte of a Kubernetes (DNS) name.
fn is_name_byte(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.'
}

/// `some-file.log:` or `file.log:123:` in front of a line (grep over several files).
fn grep_file_prefix(s: &str, word: FirstWord) -> Option<&str> {
    // A file name holds no whitespace, so its colon ends the first word: no scan through
    // every line (and every layer) that has no colon early.
    if word.end != Some(b':') {
        return None;
    }
    let colon = word.len;
    let name = &s[..colon];
    if !(name.ends_with(".log") || name.ends_with(".txt")) || name.contains(char::is_whitespace) {
        return None;
    }
    let rest = &s[colon + 1..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && rest.as_bytes().get(digits) == Some(&b':') {
        return Some(&rest[digits + 1..]);
    }
    Some(rest)
}

/// `pod container 2024-...` (kubectl logs --prefix, k9s): one or two name tokens in front of a
/// time or klog header. The last token is taken as the process (container) name.
fn name_tokens_before_time<'a>(
    s: &'a str,
    first: FirstWord,
    env: &mut Envelope<'a>,
) -> Option<&'a str> {
    let is_name = |w: &str| !w.is_empty() && w.len() <= 253;
    // The first token is the first word, when a space ends it and all its bytes are name bytes.
    let word = first
        .before_space(s)
        .filter(|&w| is_name(w) && w.bytes().all(is_name_byte))?;
    let rest = &s[word.len() + 1..];
    if let Some(body) = name_before_time(word, rest, env) {
        return Some(body);
    }
    let (word, rest) = name_token(rest).filter(|&(w, _)| is_name(w))?;
    name_before_time(word, rest, env)
}

/// A word of name bytes and the text after its space at the start of `s`.
fn name_token(s: &str) -> Option<(&str, &str)> {
    // The word ends at the first byte that cannot be in a name, which must be its space: no
    // search for a space through the rest of a line that is not one of these.
    let len = s.bytes().take_while(|&c| is_name_byte(c)).count();
    (s.as_bytes().get(len) == Some(&b' ')).then(|| (&s[..len], &s[len + 1..]))
}

/// `rest` when a time or klog header opens it, with `word` in front taken as the process.
fn name_before_time<'a>(word: &'a str, rest: &'a str, env: &mut Envelope<'a>) -> Option<&'a str> {
    if parse_iso(rest).is_some() || klog_header(rest).is_some() {
        env.process = env.process.or(Some(word));
        return Some(rest);
    }
    None
}

/// `info time="..." level=...`: a level word a syslog layer printed in front of logfmt.
fn level_word_before_logfmt<'a>(
    s: &'a str,
    first: FirstWord,
    env: &mut Envelope<'a>,
) -> Option<&'a str> {
    // A level word is letters alone, at most 7 of them, before a space.
    let word = first.before_space(s).filter(|w| w.len() < 8)?;
    let rest = &s[word.len() + 1..];
    if !(rest.starts_with("time=") || rest.starts_with("level=")) {
        return None;
    }
    // Compared without case in place: no lowercase copy of every first word.
    const LEVELS: [&str; 8] = [
        "info", "debug", "warn", "warning", "err", "error", "notice", "crit",
    ];
    if !LEVELS.iter().any(|l| word.eq_ignore_ascii_case(l)) {
        return None;
    }
    env.level_word = Some(word);
    Some(rest)
}

/// A klog header at the front of `s`: (header, time, body after `] `).
pub fn klog_header(s: &str) -> Option<(Klog<'_>, LineTime, &str)> {
    let level = match s.as_bytes().first()? {
        c @ (b'I' | b'W' | b'E' | b'F') => *c as char,
        _ => return None,
    };
    let (time, used) = parse_klog_time(&s[1..])?;
    let rest = s[1 + used..].trim_start_matches(' ');
    // The thread id is a word of digits: read as such, not found by a search for its space.
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (pid, rest) = match rest.as_bytes().get(digits) {
        Some(b' ') if digits > 0 => (
            rest[..digits].parse().ok(),
            rest[digits + 1..].trim_start_matches(' '),
        ),
        _ => (None, rest),
    };
    // The source (`file.go:123`) holds no space and ends at the first `] `, or at a `]` that
    // ends the text: the first space tells where it ends, if anywhere.
    let close = match rest.find_byte(b' ') {
        Some(space) => space
            .checked_sub(1)
            .filter(|&i| rest.as_bytes()[i] == b']')?,
        None => rest.strip_suffix(']')?.len(),
    };
    let source = &rest[..close];
    if !source.contains_byte(b':') {
        return None;
    }
    let body = rest.get(close + 2..).unwrap_or("");
    let source = Cow::Borrowed(source);
    Some((Klog { level, pid, source }, time, body))
}

/// Docker json-file: `{"log":"...","stream":"stderr","time":"..."}`, possibly cut off.
fn docker_json(s: &str) -> Option<(Cow<'_, str>, Option<LineTime>)> {
    let rest = s.trim_start().strip_prefix("{\"log\":\"")?;
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => break,
            _ => i += 1,
        }
    }
    let end = i.min(b.len());
    let log = unescape(&rest[..end]);
    let time = rest
        .find_str("\"time\":\"")
        .and_then(|p| parse_iso(&rest[p + 8..]).map(|(t, _)| t));
    let log = match log {
        Cow::Borrowed(b) => Cow::Borrowed(b.trim_end_matches(['\n', '\r'])),
        Cow::Owned(o) => Cow::Owned(o.trim_end_matches(['\n', '\r']).to_owned()),
    };
    Some((log, time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journald_around_klog() {
        let e = Envelope::strip("Oct 02 23:27:34 ip-10-0-60-95.us-west-2.compute.internal kubelet[2783]: E1002 23:27:34.439481    2783 remote_runtime.go:132] StopPodSandbox failed");
        assert_eq!(e.hostname, Some("ip-10-0-60-95.us-west-2.compute.internal"));
        assert_eq!(e.process, Some("kubelet"));
        assert_eq!(e.pid, Some(2783));
        let k = e.klog.unwrap();
        assert_eq!(
            (k.level, k.pid, k.source.as_ref()),
            ('E', Some(2783), "remote_runtime.go:132")
        );
        assert_eq!(e.body, "StopPodSandbox failed");
    }

    #[test]
    fn grep_and_timestamps() {
        let e = Envelope::strip("pod-kube-system-cilium-4l58p-cilium-agent.log:2018-10-01T18:31:41.025765667Z level=info msg=\"Removed endpoint\"");
        assert_eq!(e.body, "level=info msg=\"Removed endpoint\"");
        assert!(e.time.is_some());
    }

    #[test]
    fn k9s_and_container_prefix() {
        let e = Envelope::strip("│ kube-flannel I0111 17:09:04.933346       1 route_network.go:56] Watching for new subnet leases                  │");
        assert_eq!(e.process, Some("kube-flannel"));
        assert_eq!(e.klog.unwrap().source, "route_network.go:56");
        assert_eq!(e.body, "Watching for new subnet leases");
        let e = Envelope::strip("kube-router-qx29r kube-router 2024-05-12T19:28:56.850191696-05:00 flush TMP-PRBJ7ASFQM5DJR3Q");
        assert_eq!(e.process, Some("kube-router"));
        assert_eq!(e.body, "flush TMP-PRBJ7ASFQM5DJR3Q");
    }

    #[test]
    fn docker_json_file_cut_off() {
        let e = Envelope::strip(
            r#"{"log":"I1119 11:11:38.756161       1 network_policy_controller.go:138] Received pod update\n","stream":"stderr","time":"#,
        );
        assert_eq!(e.body, "Received pod update");
        assert_eq!(e.klog.unwrap().level, 'I');
    }

    #[test]
    fn cri_format_and_syslog_level_word() {
        let e = Envelope::strip("2023-01-01T00:00:00.1Z stderr F level=info msg=x");
        assert_eq!(e.body, "level=info msg=x");
        let e = Envelope::strip("2019-08-06T08:44:24.537 controller-0 containerd[109360]: info time=\"2019-08-06T08:44:24.537275833Z\" level=error msg=x");
        assert_eq!(e.process, Some("containerd"));
        assert_eq!(e.level_word, Some("info"));
        assert!(e.body.starts_with("time="));
    }

    #[test]
    fn klog_source_and_syslog_tag_end_where_searches_ended_them() {
        let source =
            |s: &str| klog_header(s).map(|(k, _, body)| (k.source.into_owned(), body.to_owned()));
        let at = |s: &str, b: &str| Some((s.to_owned(), b.to_owned()));
        assert_eq!(source("I0101 00:00:00.000000 1 a.go:1]"), at("a.go:1", ""));
        assert_eq!(
            source("I0101 00:00:00.000000 1 a.go:1]] x"),
            at("a.go:1]", "x")
        );
        assert_eq!(
            source("I0101 00:00:00.000000 1 a.go:1] x] y"),
            at("a.go:1", "x] y")
        );
        assert_eq!(source("I0101 00:00:00.000000 1 a b.go:1] x"), None);
        assert_eq!(source("I0101 00:00:00.000000 1 a.go] x"), None);
        assert_eq!(source("I0101 00:00:00.000000 1 a.go:1 x"), None);
        let tail = |s: &str| {
            let mut env = Envelope::default();
            let rest = syslog_tail(s, &mut env)?;
            Some(format!(
                "{:?} {:?} {:?} {rest}",
                env.hostname, env.process, env.pid
            ))
        };
        let said = |s: &str| Some(s.to_owned());
        assert_eq!(
            tail(" h k[7]: a: b"),
            said(r#"Some("h") Some("k") Some(7) a: b"#)
        );
        assert_eq!(tail(" h a:b: c"), said(r#"Some("h") Some("a:b") None c"#));
        assert_eq!(tail(" h k x: c"), None);
        assert_eq!(tail(" h : c"), None);
        assert_eq!(tail(" h=1 k: c"), None);
        assert_eq!(tail(" h k:"), None);
        assert_eq!(tail("  k: c"), None);
    }

    #[test]
    fn plain_lines_are_untouched() {
        for s in [
            "level=warning msg=x",
            "{\"level\":\"info\"}",
            "Failed to create pod sandbox: x",
            "",
        ] {
            assert_eq!(Envelope::strip(s).body, s);
        }
    }
}
