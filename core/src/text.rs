//! Small text readers shared by the format parsers: logfmt, lenient JSON members, Go string
//! escapes, container ids, `CNI_ARGS`, pod identity forms and plugin families.
//!
//! All of them borrow from the line and allocate only where an escape must be undone.

use crate::event::SortedMap;
use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use memchr::memmem;

/// A fixed list of words looked for in many texts. Building a searcher costs more than most
/// searches of a log line, so it is built once, on first use: a substring searcher per word
/// for a short list, one multi-pattern automaton that finds any word in a single pass for a
/// long one.
pub struct Words {
    words: &'static [&'static str],
    searcher: OnceLock<Searcher>,
}

/// From this many words on, one automaton pass costs less than a search per word (measured
/// with callgrind on the fixture corpus: shorter lists are faster word by word).
const MANY: usize = 15;

enum Searcher {
    /// One substring search per word.
    Each(Vec<memmem::Finder<'static>>),
    Automaton(AhoCorasick),
}

impl Words {
    pub const fn new(words: &'static [&'static str]) -> Words {
        Words {
            words,
            searcher: OnceLock::new(),
        }
    }

    fn searcher(&self) -> &Searcher {
        self.searcher.get_or_init(|| {
            let each = || {
                Searcher::Each(
                    self.words
                        .iter()
                        .map(|w| memmem::Finder::new(w.as_bytes()))
                        .collect(),
                )
            };
            if self.words.len() < MANY {
                return each();
            }
            // Leftmost-first: of the words starting at the same position, the one listed first
            // wins, which is what `earliest_in` promises. Building fails only for automata far
            // larger than a word list; searching word by word is then slower, not wrong.
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(self.words)
                .map_or_else(|_| each(), Searcher::Automaton)
        })
    }

    /// Does `text` contain any of the words?
    pub fn any_in(&self, text: &str) -> bool {
        match self.searcher() {
            Searcher::Each(fs) => fs.iter().any(|f| f.find(text.as_bytes()).is_some()),
            Searcher::Automaton(ac) => ac.is_match(text),
        }
    }

    /// The earliest occurrence of any of the words in `text`: (byte position, index of the
    /// word in the list); at a tie, the word listed first.
    pub fn earliest_in(&self, text: &str) -> Option<(usize, usize)> {
        match self.searcher() {
            Searcher::Each(fs) => fs
                .iter()
                .enumerate()
                .filter_map(|(i, f)| f.find(text.as_bytes()).map(|at| (at, i)))
                .min(),
            Searcher::Automaton(ac) => ac.find(text).map(|m| (m.start(), m.pattern().as_usize())),
        }
    }
}

/// The words of a table that pairs each word with what it means, in the table's order: the
/// list a [`Words`] searches, kept in step with the table it is made from.
pub const fn words_of<T, const N: usize>(table: &[(&'static str, T); N]) -> [&'static str; N] {
    let mut words = [""; N];
    let mut i = 0;
    while i < N {
        words[i] = table[i].0;
        i += 1;
    }
    words
}

/// `str::trim` with a fast path: most texts start and end with a printable ASCII byte, where
/// there is nothing to trim, and `trim` decodes characters from both ends to find that out.
pub trait TrimFast {
    /// The text without leading and trailing whitespace, exactly as `str::trim` returns it.
    fn trim_fast(&self) -> &str;
}

impl TrimFast for str {
    #[inline]
    fn trim_fast(&self) -> &str {
        // An ASCII byte that is not whitespace (`\t` to `\r` and space are the only ASCII
        // whitespace characters) cannot be trimmed; any other end takes the full test.
        let solid = |b: &u8| b.is_ascii() && !matches!(b, b'\t'..=b'\r' | b' ');
        let b = self.as_bytes();
        if b.first().is_some_and(solid) && b.last().is_some_and(solid) {
            self
        } else {
            self.trim()
        }
    }
}

/// `str::split_once`, `split`, `find`, `rfind` and `contains` for one ASCII byte, searched with
/// the vectorized `memchr` instead of the standard library's word-at-a-time scan (a `str` method
/// with a `char` pattern also builds a searcher for every call, which costs more than a short
/// text's scan), and `find` for a few ASCII bytes, tested byte by byte instead of decoding
/// characters. An ASCII byte is never inside a multi-byte character, so the positions found are
/// character boundaries.
pub trait ByteSearch {
    /// The position of the first `b`, as `str::find` gives it for the character.
    fn find_byte(&self, b: u8) -> Option<usize>;
    /// The position of the last `b`, as `str::rfind` gives it for the character.
    fn rfind_byte(&self, b: u8) -> Option<usize>;
    /// Does the text hold `b`?
    fn contains_byte(&self, b: u8) -> bool;
    /// The text before and after the first `b`, as `str::split_once`.
    fn split_once_byte(&self, b: u8) -> Option<(&str, &str)>;
    /// The text before and after the last `b`, as `str::rsplit_once`.
    fn rsplit_once_byte(&self, b: u8) -> Option<(&str, &str)>;
    /// The text before the first `b`, or all of it, as `str::split(..).next()`.
    fn before_byte(&self, b: u8) -> &str;
    /// The parts between the `b`s, as `str::split` yields them (empty ones included).
    fn split_byte(&self, b: u8) -> impl Iterator<Item = &str>;
    /// The position of the first of the ASCII `set`, as `str::find` gives it for the characters.
    fn find_any_byte(&self, set: &[u8]) -> Option<usize>;
    /// The text before the first of the ASCII `set`, or all of it, as `str::split(..).next()`.
    fn before_any_byte(&self, set: &[u8]) -> &str;
}

impl ByteSearch for str {
    #[inline]
    fn find_byte(&self, b: u8) -> Option<usize> {
        memchr::memchr(b, self.as_bytes())
    }

    #[inline]
    fn rfind_byte(&self, b: u8) -> Option<usize> {
        memchr::memrchr(b, self.as_bytes())
    }

    #[inline]
    fn contains_byte(&self, b: u8) -> bool {
        self.find_byte(b).is_some()
    }

    #[inline]
    fn split_once_byte(&self, b: u8) -> Option<(&str, &str)> {
        let at = self.find_byte(b)?;
        Some((self.get(..at)?, self.get(at + 1..)?))
    }

    #[inline]
    fn rsplit_once_byte(&self, b: u8) -> Option<(&str, &str)> {
        let at = self.rfind_byte(b)?;
        Some((self.get(..at)?, self.get(at + 1..)?))
    }

    #[inline]
    fn before_byte(&self, b: u8) -> &str {
        self.find_byte(b)
            .and_then(|at| self.get(..at))
            .unwrap_or(self)
    }

    #[inline]
    fn split_byte(&self, b: u8) -> impl Iterator<Item = &str> {
        let mut rest = Some(self);
        std::iter::from_fn(move || {
            let r = rest?;
            let (part, tail) = r.split_once_byte(b).unwrap_or((r, ""));
            rest = (part.len() < r.len()).then_some(tail);
            Some(part)
        })
    }

    #[inline]
    fn find_any_byte(&self, set: &[u8]) -> Option<usize> {
        self.bytes().position(|c| set.contains(&c))
    }

    #[inline]
    fn before_any_byte(&self, set: &[u8]) -> &str {
        self.find_any_byte(set)
            .and_then(|at| self.get(..at))
            .unwrap_or(self)
    }
}

/// `str::find`, `contains` and `split_once` for a short fixed phrase. The standard library
/// builds a two-way searcher for every call, which costs more than searching a log line: here
/// the phrase's first byte is found with `memchr` and the rest compared in place. A text longer
/// than [`SHORT_TEXT`] is searched with `memmem`, which stays linear whatever the text holds.
pub trait PhraseSearch {
    /// The position of the first `phrase`, as `str::find`.
    fn find_str(&self, phrase: &str) -> Option<usize>;
    /// Does the text hold `phrase`?
    fn contains_str(&self, phrase: &str) -> bool;
    /// The text before and after the first `phrase`, as `str::split_once`.
    fn split_once_str(&self, phrase: &str) -> Option<(&str, &str)>;
}

/// Texts up to this long are searched by first byte and comparison.
pub const SHORT_TEXT: usize = 4096;

/// The first `n` in `h`: by first byte and comparison in a short text, with `memmem` in a long one.
fn find_phrase(h: &[u8], n: &[u8]) -> Option<usize> {
    let Some((&first, rest)) = n.split_first() else {
        return Some(0);
    };
    if h.len() > SHORT_TEXT {
        return memmem::find(h, n);
    }
    // Only the first byte of a phrase that fits before the end is looked for, and a candidate's
    // last byte is compared before the rest: most candidates fail there, without a call.
    let last = h.len().checked_sub(n.len())?;
    let end = n.len() - 1;
    let mut at = 0;
    while let Some(k) = h
        .get(at..=last)
        .and_then(|tail| memchr::memchr(first, tail))
    {
        let i = at + k;
        if h[i + end] == n[end] && h[i + 1..i + n.len()] == *rest {
            return Some(i);
        }
        at = i + 1;
    }
    None
}

/// The positions of the non-overlapping occurrences of a non-empty `phrase` in `text`, as
/// `memmem::find_iter` yields them, without building a `memmem` searcher for a short text.
pub fn phrase_positions<'t, 'p>(
    text: &'t str,
    phrase: &'p str,
) -> impl Iterator<Item = usize> + use<'t, 'p> {
    let (h, n) = (text.as_bytes(), phrase.as_bytes());
    let mut at = 0;
    std::iter::from_fn(move || {
        let i = at + find_phrase(h.get(at..)?, n)?;
        // An empty phrase occurs at every position; `max` keeps the iteration finite.
        at = i + n.len().max(1);
        Some(i)
    })
}

impl PhraseSearch for str {
    fn find_str(&self, phrase: &str) -> Option<usize> {
        find_phrase(self.as_bytes(), phrase.as_bytes())
    }

    #[inline]
    fn contains_str(&self, phrase: &str) -> bool {
        self.find_str(phrase).is_some()
    }

    #[inline]
    fn split_once_str(&self, phrase: &str) -> Option<(&str, &str)> {
        let at = self.find_str(phrase)?;
        Some((self.get(..at)?, self.get(at + phrase.len()..)?))
    }
}

/// Undoes Go / JSON backslash escapes (`\"`, `\\`, `\n`, `\t`, `\uXXXX`); other escapes are kept.
pub fn unescape(s: &str) -> Cow<'_, str> {
    // A backslash byte is never inside a multi-byte character, so the text between two
    // backslashes is copied whole instead of character by character.
    let Some(first) = memchr::memchr(b'\\', s.as_bytes()) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len());
    let mut at = Some(first);
    let mut rest = s;
    while let Some(k) = at {
        out.push_str(&rest[..k]);
        let mut chars = rest[k + 1..].chars();
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('/') => out.push('/'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('u') => {
                // Up to four characters, as many as there are.
                let after = chars.as_str();
                let len = after.char_indices().nth(4).map_or(after.len(), |(i, _)| i);
                let hex = &after[..len];
                match u32::from_str_radix(hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\u");
                        out.push_str(hex);
                    }
                }
                chars = after[len..].chars();
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
        rest = chars.as_str();
        at = memchr::memchr(b'\\', rest.as_bytes());
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Bytes of a logfmt key: ASCII letters and digits, `_`, `-`, `.`, `/` and `@`. A table, as
/// every byte of every key of a logfmt line is tested.
static KEY_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b'@');
        c += 1;
    }
    table
};

fn is_key_byte(c: u8) -> bool {
    KEY_BYTES[usize::from(c)]
}

/// Is `b[at..]` the start of the next logfmt pair (`key=`), or the end of the line?
fn next_pair_starts(b: &[u8], at: usize) -> bool {
    let rest = &b[at..];
    if rest.iter().all(|c| c.is_ascii_whitespace()) {
        return true;
    }
    if rest[0] != b' ' {
        return false;
    }
    let key = rest[1..].iter().take_while(|&&c| is_key_byte(c)).count();
    key > 0 && rest.get(1 + key) == Some(&b'=')
}

/// logfmt pairs (`key=value key="quoted value"`) as logrus, Cilium, and containerd write them.
///
/// Robust to what real lines contain: quotes inside a quoted value that were not escaped
/// (a quote closes the value only where the next pair or the end of line follows), a value
/// cut off by truncation (the rest of the line), duplicate keys (all kept, in order), empty
/// values (`containerID=`), and stray words (skipped).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Logfmt<'a> {
    pub pairs: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> Logfmt<'a> {
    pub fn parse(line: &'a str) -> Logfmt<'a> {
        let b = line.as_bytes();
        // Room for the pairs of a typical line: growing the list from empty reallocated it
        // three times.
        let mut pairs = Vec::with_capacity(16);
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            let start = i;
            i += b[i..].iter().take_while(|&&c| is_key_byte(c)).count();
            if i == start || b.get(i) != Some(&b'=') {
                // Not a pair: skip the word (a corrupt fragment or free text).
                while i < b.len() && b[i] != b' ' {
                    if b[i] == b'"' {
                        // A stray quoted run: skip to its end so that its words are not keys.
                        i += 1;
                        while i < b.len() && b[i] != b'"' {
                            i += if b[i] == b'\\' { 2 } else { 1 };
                        }
                    }
                    i += 1;
                }
                continue;
            }
            let key = &line[start..i];
            i += 1;
            if b.get(i) == Some(&b'"') {
                i += 1;
                let vstart = i;
                let mut end = None;
                let mut escaped = false;
                // Only quotes and backslashes matter inside the value: jump between them.
                while let Some(k) = b
                    .get(i..)
                    .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
                {
                    i += k;
                    if b[i] == b'\\' {
                        escaped = true;
                        i += 2;
                    } else if next_pair_starts(b, i + 1) {
                        end = Some(i);
                        break;
                    } else {
                        i += 1;
                    }
                }
                let vend = end.unwrap_or(b.len()).min(b.len());
                let raw = &line[vstart..vend];
                // Without a backslash there is nothing to undo, and no need to search for one.
                let value = if escaped {
                    unescape(raw)
                } else {
                    Cow::Borrowed(raw)
                };
                pairs.push((key, value));
                i = vend + 1;
            } else {
                let vstart = i;
                i = memchr::memchr(b' ', &b[i..]).map_or(b.len(), |k| i + k);
                pairs.push((key, Cow::Borrowed(&line[vstart..i])));
            }
        }
        Logfmt { pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// The first non-empty value of `key`.
    pub fn get_nonempty(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| *k == key && !v.trim_fast().is_empty())
            .map(|(_, v)| v.as_ref())
    }

    pub fn has(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| *k == key)
    }
}

/// A top-level member value of a JSON object read leniently.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue<'a> {
    /// A string, unescaped. Also the rest of the text when the string is cut off.
    Str(Cow<'a, str>),
    /// A number, literal, object or array, as its source text.
    Raw(&'a str),
}

impl JsonValue<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            JsonValue::Str(s) => s,
            JsonValue::Raw(s) => s,
        }
    }
}

/// Top-level members of a JSON object, read leniently: a document cut off mid-way (a truncated
/// log line) yields the members before the cut, and a string cut off yields the text up to the
/// cut. Returns `None` when `s` does not start like an object (`{"`).
pub fn json_members(s: &str) -> Option<Vec<(Cow<'_, str>, JsonValue<'_>)>> {
    let b = s.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) != Some(&b'"') {
        return None;
    }
    // Room for the members of a typical log object (growing from empty reallocated twice).
    let mut out = Vec::with_capacity(8);
    loop {
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'"') {
            break;
        }
        let (key, next, closed) = json_string(s, i);
        if !closed {
            break;
        }
        i = skip_ws(b, next);
        if b.get(i) != Some(&b':') {
            break;
        }
        i = skip_ws(b, i + 1);
        match b.get(i) {
            None => break,
            Some(b'"') => {
                let (v, next, closed) = json_string(s, i);
                out.push((key, JsonValue::Str(v)));
                if !closed {
                    break;
                }
                i = next;
            }
            Some(b'{') | Some(b'[') => {
                let end = balanced_end(b, i);
                out.push((key, JsonValue::Raw(&s[i..end])));
                i = end;
            }
            Some(_) => {
                let start = i;
                while i < b.len() && !matches!(b[i], b',' | b'}' | b']') {
                    i += 1;
                }
                out.push((key, JsonValue::Raw(s[start..i].trim_fast())));
            }
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i += 1,
            _ => break,
        }
    }
    Some(out)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The JSON string starting at the quote at `at`: (unescaped text, index after it, closed?).
fn json_string(s: &str, at: usize) -> (Cow<'_, str>, usize, bool) {
    let b = s.as_bytes();
    let mut i = at + 1;
    let mut escaped = false;
    // Only quotes and backslashes matter inside a string: jump between them.
    while let Some(k) = b
        .get(i..)
        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
    {
        i += k;
        if b[i] == b'"' {
            let raw = &s[at + 1..i];
            // Without a backslash there is nothing to undo, and no need to search for one.
            let text = if escaped {
                unescape(raw)
            } else {
                Cow::Borrowed(raw)
            };
            return (text, i + 1, true);
        }
        escaped = true;
        i += 2;
    }
    // Cut off: a trailing lone backslash must not end mid-escape.
    let end = b.len();
    (unescape(&s[at + 1..end]), end, false)
}

/// Index just after the object or array opening at `at` (or the end of text when cut off).
pub fn balanced_end(b: &[u8], at: usize) -> usize {
    let mut depth = 0usize;
    let mut i = at;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
        } else {
            match c {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    b.len()
}

/// Looks up a member by key.
pub fn member<'m, 'a>(members: &'m [(Cow<'a, str>, JsonValue<'a>)], key: &str) -> Option<&'m str> {
    members
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

/// Is `s` a (possibly truncated) container id: lower-case hex, 10 to 64 digits?
pub fn is_container_id(s: &str) -> bool {
    (10..=64).contains(&s.len()) && s.bytes().all(is_hex)
}

/// The first full (64 hex digit) container id in `text`.
pub fn find_container_id(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if is_hex(b[i]) && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let n = b[i..].iter().take_while(|&&c| is_hex(c)).count();
            let after = b.get(i + n);
            if n == 64 && !after.is_some_and(|c| c.is_ascii_alphanumeric()) {
                return Some(&text[i..i + n]);
            }
            i += n.max(1);
        } else {
            i += 1;
        }
    }
    None
}

/// The `K8S_*` keys of a `CNI_ARGS` string, in any order; duplicate keys keep their first value;
/// anything else in the string (`IgnoreUnknown`, custom keys) never leaves the collector.
pub fn cni_args(s: &str) -> SortedMap<String, String> {
    let pairs: Vec<(String, String)> = s
        .split_byte(b';')
        .filter_map(|part| part.split_once_byte(b'='))
        .map(|(k, v)| (k.trim_fast(), v))
        .filter(|(k, _)| k.starts_with("K8S_"))
        .map(|(k, v)| (k.to_owned(), v.trim_fast().to_owned()))
        .collect();
    // A sorted map keeps a key's last value: given last to first, the first value wins.
    pairs.into_iter().rev().collect()
}

/// Splits `10.244.1.6/24` into (`10.244.1.6`, `Some("24")`); a bare address gives `None`.
pub fn split_cidr(s: &str) -> (&str, Option<&str>) {
    match s.split_once_byte(b'/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (s, None),
    }
}

/// The network a host address with a prefix length belongs to: `10.244.1.6/24` →
/// `10.244.1.0/24`. `None` when `s` is not `address/len` with a valid length.
pub fn network_of(s: &str) -> Option<String> {
    let (ip, len) = split_cidr(s);
    let len: u32 = len?.parse().ok()?;
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            // Written by hand: `format!` costs more than the rest of building an event's
            // network block.
            let mut out = String::with_capacity(18);
            for (i, octet) in (u32::from(v4) & mask).to_be_bytes().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_small(&mut out, u32::from(octet));
            }
            out.push('/');
            push_small(&mut out, len);
            Some(out)
        }
        std::net::IpAddr::V6(v6) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            Some(format!(
                "{}/{len}",
                std::net::Ipv6Addr::from(u128::from(v6) & mask)
            ))
        }
        _ => None,
    }
}

/// Appends the decimal digits of `n` (below 1000), as `{n}` writes them.
fn push_small(out: &mut String, n: u32) {
    if n >= 100 {
        out.push(digit(n / 100));
    }
    if n >= 10 {
        out.push(digit(n / 10 % 10));
    }
    out.push(digit(n % 10));
}

/// The ASCII digit of `d % 10`.
fn digit(d: u32) -> char {
    char::from(b'0' + (d % 10) as u8)
}

/// Does `s` look like an IPv4 or IPv6 address (optionally with `/len`)?
pub fn looks_like_ip(s: &str) -> bool {
    let (ip, len) = split_cidr(s);
    if let Some(len) = len {
        if len.is_empty() || !len.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    ip.parse::<std::net::IpAddr>().is_ok()
}

/// Pod identity in dockershim / CRI-O form `name_namespace`, also with a trailing `(uid)`.
pub fn pod_underscore(s: &str) -> Option<(&str, &str)> {
    let s = s.before_byte(b'(').trim_fast();
    let (name, ns) = s.split_once_byte(b'_')?;
    (!name.is_empty() && !ns.is_empty() && !ns.contains_byte(b'_')).then_some((name, ns))
}

/// Pod identity `namespace/name` (kubelet, Cilium) or `namespace:name` (old Cilium). Returns
/// (namespace, name); `/` alone or `:` alone states nothing.
pub fn pod_slash(s: &str) -> Option<(&str, &str)> {
    let (ns, name) = s
        .split_once_byte(b'/')
        .or_else(|| s.split_once_byte(b':'))?;
    let (ns, name) = (ns.trim_fast(), name.trim_fast());
    (!ns.is_empty() && !name.is_empty()).then_some((ns, name))
}

/// A Calico workload endpoint name `<node>-<orchestrator>-<pod>-<iface>`, where a `-` inside a
/// part is written `--`. Returns [node, orchestrator, pod, interface].
pub fn calico_wep(s: &str) -> Option<[Cow<'_, str>; 4]> {
    // The separators are the dashes not paired into `--`, paired from the left; the parts are
    // borrowed and unescaped only when they hold a `--`.
    let b = s.as_bytes();
    let mut parts = [("", false); 4];
    let mut count = 0;
    let mut start = 0;
    let mut paired = false;
    let mut i = 0;
    while let Some(k) = memchr::memchr(b'-', &b[i..]) {
        i += k;
        if b.get(i + 1) == Some(&b'-') {
            paired = true;
            i += 2;
            continue;
        }
        *parts.get_mut(count)? = (&s[start..i], paired);
        count += 1;
        paired = false;
        i += 1;
        start = i;
    }
    *parts.get_mut(count)? = (&s[start..], paired);
    if count != 3 || parts.iter().any(|(p, _)| p.is_empty()) {
        return None;
    }
    // The orchestrator part is one of Calico's own; anything else is not a WEP name. None of
    // them holds a dash, so a part with a `--` is none of them.
    let (orchestrator, paired) = parts[1];
    if paired
        || !matches!(
            orchestrator,
            "k8s" | "cni" | "libnetwork" | "openstack" | "docker" | "mesos" | "rkt"
        )
    {
        return None;
    }
    Some(parts.map(|(p, paired)| {
        if paired {
            Cow::Owned(undouble_dashes(p))
        } else {
            Cow::Borrowed(p)
        }
    }))
}

/// `s.replace("--", "-")`, without building a substring searcher: each dash is kept and the
/// dash right after it dropped.
fn undouble_dashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(k) = rest.find_byte(b'-') {
        out.push_str(&rest[..=k]);
        rest = &rest[k + 1..];
        rest = rest.strip_prefix('-').unwrap_or(rest);
    }
    out.push_str(rest);
    out
}

/// The provider family (DESIGN.md §5 vocabulary) of an exact plugin type or binary name.
pub fn family_of_type(plugin_type: &str) -> Option<&'static str> {
    // The last path segment, lowercased on the stack: no name below is longer than the buffer,
    // so a longer segment names no family.
    const LONGEST: usize = 20;
    let t = plugin_type.trim_fast();
    let t = t.rsplit_once_byte(b'/').map_or(t, |(_, last)| last);
    let mut buf = [0u8; LONGEST];
    let lower = buf.get_mut(..t.len())?;
    lower.copy_from_slice(t.as_bytes());
    lower.make_ascii_lowercase();
    // Compared as bytes: every name is ASCII, so no other bytes (valid text or not) match one.
    Some(match &*lower {
        b"cilium-cni" | b"cilium" => "cilium",
        b"calico" | b"calico-ipam" => "calico",
        b"flannel" => "flannel",
        b"aws-cni" | b"egress-cni" | b"egress-v4-cni" | b"egress-v6-cni" | b"aws-vpc-cni" => {
            "aws-vpc-cni"
        }
        b"azure-vnet" | b"azure-vnet-ipam" | b"azure-vnet-ipamv6" | b"azure-cns" | b"azure-cni" => {
            "azure-cni"
        }
        b"multus" | b"multus-shim" | b"multus-cni" => "multus",
        b"weave-net" | b"weave-ipam" | b"weave" | b"weave-plugin" => "weave",
        b"kube-router" => "kube-router",
        b"antrea" => "antrea",
        b"ovn-k8s-cni-overlay" | b"ovn-kubernetes" => "ovn-kubernetes",
        b"gke" | b"gcp" | b"gke-cni" => "gcp",
        b"bridge" => "bridge",
        b"host-local" => "host-local",
        b"ptp" => "ptp",
        b"portmap" => "portmap",
        b"macvlan" => "macvlan",
        b"ipvlan" => "ipvlan",
        b"loopback" => "loopback",
        b"firewall" => "firewall",
        b"tuning" => "tuning",
        b"bandwidth" => "bandwidth",
        b"dhcp" => "dhcp",
        b"static" => "static",
        b"host-device" => "host-device",
        b"vlan" => "vlan",
        b"sbr" => "sbr",
        b"vrf" => "vrf",
        b"sriov" => "sriov",
        b"whereabouts" => "whereabouts",
        _ => return None,
    })
}

/// The provider family named in free text (`Cilium API`, `calico-ipam`, `L-IPAMD`, ...), for
/// records that name no plugin type. Callers lower the event's confidence when they use it.
pub fn infer_family(text: &str) -> Option<&'static str> {
    infer_family_lower(&text.to_ascii_lowercase())
}

/// The words [`infer_family_lower`] names a family by, in its order of preference (the first
/// word a text contains names its family), and the family each names.
const FAMILY_WORDS: [(&str, &str); 11] = [
    ("cilium", "cilium"),
    ("calico", "calico"),
    ("flannel", "flannel"),
    ("aws-cni", "aws-vpc-cni"),
    ("ipamd", "aws-vpc-cni"),
    ("azure", "azure-cni"),
    ("multus", "multus"),
    ("weave", "weave"),
    ("kube-router", "kube-router"),
    ("antrea", "antrea"),
    ("ovn-k", "ovn-kubernetes"),
];

/// Every word of [`FAMILY_WORDS`]: a text holding none of them is named no family, which one
/// pass over it tells where [`infer_family_lower`] searches word by word.
pub const FAMILY_NAMING_WORDS: [&str; FAMILY_WORDS.len()] = words_of(&FAMILY_WORDS);

/// [`infer_family`] of a text already lowercased (ASCII).
pub fn infer_family_lower(lower: &str) -> Option<&'static str> {
    /// One searcher per word of the table, in its order (the type's length keeps the two in
    /// step).
    static WORDS: [Words; FAMILY_WORDS.len()] = [
        Words::new(&[FAMILY_NAMING_WORDS[0]]),
        Words::new(&[FAMILY_NAMING_WORDS[1]]),
        Words::new(&[FAMILY_NAMING_WORDS[2]]),
        Words::new(&[FAMILY_NAMING_WORDS[3]]),
        Words::new(&[FAMILY_NAMING_WORDS[4]]),
        Words::new(&[FAMILY_NAMING_WORDS[5]]),
        Words::new(&[FAMILY_NAMING_WORDS[6]]),
        Words::new(&[FAMILY_NAMING_WORDS[7]]),
        Words::new(&[FAMILY_NAMING_WORDS[8]]),
        Words::new(&[FAMILY_NAMING_WORDS[9]]),
        Words::new(&[FAMILY_NAMING_WORDS[10]]),
    ];
    WORDS
        .iter()
        .zip(FAMILY_WORDS)
        .find(|(w, _)| w.any_in(lower))
        .map(|(_, (_, family))| family)
}

/// Bounds `s` to `max` bytes on a character boundary, marking the cut.
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[{} bytes cut]", &s[..end], s.len() - end)
}

/// A Kubernetes object UID / RFC 4122 UUID (`18ba147d-9f0f-4255-816f-5d07998d6908`).
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The double-quoted text after `marker` in `s` (`namespace "..."`).
pub fn quoted_after<'t>(s: &'t str, marker: &str) -> Option<&'t str> {
    let at = s.find_str(marker)?;
    let rest = s[at + marker.len()..].strip_prefix('"')?;
    let end = rest.find_byte(b'"')?;
    Some(&rest[..end])
}

/// The IP addresses (with `/len` where given) written in free text, Go `%v` lists and structs:
/// `[10.1.105.205/26]`, `&{10.10.0.241 <uuid> f00d::1 <uuid>}`, `IP ipv4:10.17.239.232 is ...`.
/// The unspecified addresses (`0.0.0.0`, `::`), which plugins print for "none", are skipped.
pub fn ips_in(text: &str) -> impl Iterator<Item = &str> {
    // The runs of address bytes, found byte by byte: every other character (any non-ASCII one
    // included) separates them, and an empty run would name no address anyway.
    let b = text.as_bytes();
    let is_part = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'/');
    let mut i = 0;
    std::iter::from_fn(move || {
        i += b.get(i..)?.iter().take_while(|&&c| !is_part(c)).count();
        let start = i;
        i += b.get(i..)?.iter().take_while(|&&c| is_part(c)).count();
        // Both ends sit next to ASCII bytes (or the text's ends): character boundaries.
        text.get(start..i).filter(|t| !t.is_empty())
    })
    .map(|t| {
        let t = t.trim_matches(|c| matches!(c, '.' | ':' | '/'));
        t.strip_prefix("ipv4:")
            .or_else(|| t.strip_prefix("ipv6:"))
            .unwrap_or(t)
    })
    .filter(|t| {
        (t.contains_byte(b'.') || t.contains_str("::") || t.matches(':').count() >= 2)
            && looks_like_ip(t)
            && !matches!(
                Some(t.before_byte(b'/')),
                Some("0.0.0.0") | Some("::") | Some("0:0:0:0:0:0:0:0")
            )
    })
}

/// The value of `Key:"value"` in a Go `%#v` struct dump.
pub fn go_string_field<'t>(dump: &'t str, key: &str) -> Option<&'t str> {
    let mut from = 0;
    while let Some(at) = dump.get(from..)?.find_str(key) {
        let start = from + at;
        let before_ok = start == 0
            || !dump.as_bytes()[start - 1].is_ascii_alphanumeric()
                && dump.as_bytes()[start - 1] != b'_';
        let after = &dump[start + key.len()..];
        if before_ok {
            if let Some(v) = after.strip_prefix(":\"") {
                let end = v.find_byte(b'"').unwrap_or(v.len());
                return Some(&v[..end]);
            }
        }
        from = start + key.len();
    }
    None
}

/// `10.50.62.224/fffffff0` → `10.50.62.224/28` (Go prints a `net.IPNet` mask in hex when it
/// is not canonical for the address); a decimal length is kept.
pub fn cidr_with_hex_mask(s: &str) -> Option<String> {
    let (ip, mask) = s.trim_fast().split_once_byte(b'/')?;
    if !looks_like_ip(ip) {
        return None;
    }
    if !mask.is_empty() && mask.len() <= 3 && mask.bytes().all(|c| c.is_ascii_digit()) {
        return Some(format!("{ip}/{mask}"));
    }
    hex_mask_prefix(ip, mask).map(|len| format!("{ip}/{len}"))
}

/// Prefix length of a contiguous hex netmask of the address's family (8 hex digits for IPv4,
/// 32 for IPv6).
pub fn hex_mask_prefix(ip: &str, mask: &str) -> Option<u32> {
    let want = if ip.contains_byte(b':') { 32 } else { 8 };
    if mask.len() != want {
        return None;
    }
    let mut ones = 0;
    let mut seen_zero = false;
    for c in mask.chars() {
        let d = c.to_digit(16)?;
        for bit in (0..4).rev() {
            if (d >> bit) & 1 == 1 {
                if seen_zero {
                    return None;
                }
                ones += 1;
            } else {
                seen_zero = true;
            }
        }
    }
    Some(ones)
}

/// `ip` with the prefix length of its hex `mask`, or bare when the mask is absent or unreadable.
pub fn masked(ip: &str, mask: &str) -> Option<String> {
    let ip = ip.trim_fast();
    if !looks_like_ip(ip) {
        return None;
    }
    Some(match hex_mask_prefix(ip, mask.trim_fast()) {
        Some(len) => format!("{ip}/{len}"),
        None => ip.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The character-by-character unescape that `unescape` must agree with.
    fn unescape_by_chars(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('/') => out.push('/'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(ch) => out.push(ch),
                        None => {
                            out.push_str("\\u");
                            out.push_str(&hex);
                        }
                    }
                }
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        }
        out
    }

    #[test]
    fn unescape_agrees_with_a_character_scan() {
        for s in [
            "plain",
            r#"a \"quoted\" word"#,
            r"tab\tnew\nline\\back\/slash",
            r"\u00e9t\u00E9 \u12 \uZZZZ \u+041 \ud800 x",
            r"\u",
            r"\u00é9",
            r"trailing \",
            r"\q unknown \é",
            "ünïcode \\\" ✓",
        ] {
            assert_eq!(unescape(s), unescape_by_chars(s), "{s}");
        }
    }

    #[test]
    fn byte_search_agrees_with_str() {
        for s in ["", "a:b:c", ":", "é:ü:", "no colon", "ü"] {
            assert_eq!(s.find_byte(b':'), s.find(':'), "{s}");
            assert_eq!(s.rfind_byte(b':'), s.rfind(':'), "{s}");
            assert_eq!(s.contains_byte(b':'), s.contains(':'), "{s}");
            assert_eq!(s.split_once_byte(b':'), s.split_once(':'), "{s}");
            assert_eq!(s.rsplit_once_byte(b':'), s.rsplit_once(':'), "{s}");
            assert_eq!(Some(s.before_byte(b':')), s.split(':').next(), "{s}");
            assert!(s.split_byte(b':').eq(s.split(':')), "{s}");
            assert_eq!(s.find_any_byte(b":b"), s.find([':', 'b']), "{s}");
            assert_eq!(
                Some(s.before_any_byte(b":b")),
                s.split([':', 'b']).next(),
                "{s}"
            );
        }
    }

    #[test]
    fn phrase_search_agrees_with_str() {
        let long = format!("{}plugin type=\"x\"", "plugin typ".repeat(SHORT_TEXT / 8));
        for text in [
            "",
            "abc",
            "ababc",
            "é: é: x",
            "plugin type=\"bridge\"",
            long.as_str(),
        ] {
            for phrase in ["", "abc", ": ", "é", "plugin type=\"", "x\"", "zz"] {
                assert_eq!(text.find_str(phrase), text.find(phrase), "{phrase}");
                assert_eq!(text.contains_str(phrase), text.contains(phrase), "{phrase}");
                assert_eq!(
                    text.split_once_str(phrase),
                    text.split_once(phrase),
                    "{phrase}"
                );
            }
        }
    }

    #[test]
    fn trim_fast_trims_as_trim_does() {
        for s in [
            "",
            " ",
            "a",
            " a ",
            "\x0ba\x0b",
            "a\r",
            "\u{a0}a",
            "a\u{3000}",
            "\u{85}a\u{85}",
            "é",
            "é ",
            "\x1fa\x1f",
            "a b",
        ] {
            assert_eq!(s.trim_fast(), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn words_agree_with_a_search_per_word() {
        // Long enough for the automaton; overlapping words and words that prefix each other
        // test the tie rule (earliest position, then the word listed first).
        static LIST: [&str; 16] = [
            "abc",
            "ab",
            "b",
            "bcd",
            "cd",
            "x",
            "xyz",
            "yz",
            "zz",
            "plugin type=",
            "type=",
            "failed",
            "fail",
            "ed",
            "a",
            "q",
        ];
        static WORDS: Words = Words::new(&LIST);
        for text in [
            "",
            "abcd",
            "zabcd",
            "bcd",
            "nothing here",
            "plugin type=\"bridge\" failed",
            "xyzz",
            "fai",
            "ééfailed",
            "cd b",
        ] {
            let naive = LIST
                .iter()
                .enumerate()
                .filter_map(|(i, w)| text.find(w).map(|at| (at, i)))
                .min();
            assert_eq!(WORDS.earliest_in(text), naive, "{text}");
            assert_eq!(WORDS.any_in(text), naive.is_some(), "{text}");
        }
    }

    fn pairs(line: &str) -> Vec<(String, String)> {
        Logfmt::parse(line)
            .pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn logfmt_cases() {
        let p = pairs(
            r#"level=warning msg="Unable to enter namespace \"\", will not delete interface" error="failed to Statfs \"\": no such file or directory" subsys=cilium-cni"#,
        );
        assert_eq!(
            p[1].1,
            r#"Unable to enter namespace "", will not delete interface"#
        );
        assert_eq!(p[2].1, r#"failed to Statfs "": no such file or directory"#);
        assert_eq!(p[3], ("subsys".into(), "cilium-cni".into()));

        // Unescaped inner quotes (containerd 1.2): a quote closes only before the next pair.
        let p = pairs(
            r#"level=error msg="StopPodSandbox for "cae5" failed" error="failed to destroy network for sandbox "cae5": del cmd""#,
        );
        assert_eq!(p[1].1, r#"StopPodSandbox for "cae5" failed"#);
        assert_eq!(
            p[2].1,
            r#"failed to destroy network for sandbox "cae5": del cmd"#
        );

        // Empty values, duplicate keys, truncated final value.
        let p = pairs(r#"containerID= ipv4= file-path=/a file-path=/b msg="cut off"#);
        assert_eq!(p[0], ("containerID".into(), "".into()));
        assert_eq!(p[2].1, "/a");
        assert_eq!(p[3].1, "/b");
        assert_eq!(p[4].1, "cut off");

        // Stray words are skipped.
        let p = pairs(r#"a=1 garbage "521d" b=2"#);
        assert_eq!(p, vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
    }

    #[test]
    fn json_members_lenient() {
        let m =
            json_members(r#"{"level":"info","ts":1.5,"obj":{"a":"}"},"msg":"cut \"here"#).unwrap();
        assert_eq!(member(&m, "level"), Some("info"));
        assert_eq!(member(&m, "ts"), Some("1.5"));
        assert_eq!(member(&m, "obj"), Some(r#"{"a":"}"}"#));
        assert_eq!(member(&m, "msg"), Some("cut \"here"));
        assert!(json_members("not json").is_none());
        assert!(json_members("{}").is_none());
    }

    #[test]
    fn ids_and_args() {
        let id = "6397e269c6b847d56d8d99b0a423bb50444f861fe68fff9a6773f70467dc1cdc";
        assert_eq!(find_container_id(&format!("sandbox \"{id}\": x")), Some(id));
        assert_eq!(find_container_id("abc 35442af221"), None);
        assert!(is_container_id("35442af221"));
        assert!(!is_container_id("cni"));
        let a = cni_args(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;SECRET=x;K8S_POD_NAME=a;IgnoreUnknown=0",
        );
        assert!(!a.contains_key("IgnoreUnknown"));
        assert_eq!(a.get("K8S_POD_NAME").map(String::as_str), Some("a"));
        assert!(!a.contains_key("SECRET"));
    }

    #[test]
    fn networks_of_addresses() {
        assert_eq!(
            network_of("10.244.1.6/24").as_deref(),
            Some("10.244.1.0/24")
        );
        assert_eq!(
            network_of("172.29.168.137/32").as_deref(),
            Some("172.29.168.137/32")
        );
        assert_eq!(network_of("10.1.2.3/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(
            network_of("fd9a:2e13:4857:dd28::18/64").as_deref(),
            Some("fd9a:2e13:4857:dd28::/64")
        );
        assert_eq!(network_of("10.1.2.3/33"), None);
        assert_eq!(network_of("10.1.2.3"), None);
    }

    #[test]
    fn pod_identity_forms() {
        assert_eq!(
            pod_underscore("app1-78b4c7b56c-qzwp8_default"),
            Some(("app1-78b4c7b56c-qzwp8", "default"))
        );
        assert_eq!(
            pod_underscore("kube-apiserver-rook-test_kube-system(b6f5)"),
            Some(("kube-apiserver-rook-test", "kube-system"))
        );
        assert_eq!(pod_slash("default/app1"), Some(("default", "app1")));
        assert_eq!(pod_slash(":"), None);
        assert_eq!(pod_slash("/"), None);
        // Dashes pair from the left: the third of three ends the part.
        assert_eq!(
            calico_wep("n---k8s-p-e"),
            Some(["n-".into(), "k8s".into(), "p".into(), "e".into()])
        );
        assert_eq!(calico_wep("a-k8s-b-c-d"), None);
        assert_eq!(calico_wep("a-k8s-b-"), None);
        assert_eq!(calico_wep("a-k8s-b"), None);
        let w = calico_wep("dce--10--23--20--156-k8s-zyk--3--redis--master--0-eth0").unwrap();
        assert_eq!(
            w,
            ["dce-10-23-20-156", "k8s", "zyk-3-redis-master-0", "eth0"]
        );
    }

    #[test]
    fn families() {
        assert_eq!(family_of_type("cilium-cni"), Some("cilium"));
        assert_eq!(family_of_type("/opt/cni/bin/calico-ipam"), Some("calico"));
        assert_eq!(family_of_type("bridge"), Some("bridge"));
        assert_eq!(family_of_type("mystery"), None);
        assert_eq!(infer_family("Cilium API client timeout"), Some("cilium"));
    }

    #[test]
    fn hex_masks() {
        assert_eq!(
            cidr_with_hex_mask("10.50.62.224/fffffff0").as_deref(),
            Some("10.50.62.224/28")
        );
        assert_eq!(
            cidr_with_hex_mask("10.4.128.241/ffffffff").as_deref(),
            Some("10.4.128.241/32")
        );
        assert_eq!(
            cidr_with_hex_mask("10.0.0.0/16").as_deref(),
            Some("10.0.0.0/16")
        );
        assert_eq!(cidr_with_hex_mask("10.0.0.0/ff00ff00"), None);
        assert_eq!(
            cidr_with_hex_mask("10.0.0.0/ffffffffffffffff0000000000000000"),
            None
        );
        assert_eq!(cidr_with_hex_mask("x/ffffff00"), None);
        assert_eq!(
            masked("fd00::1", "ffffffffffffffff0000000000000000").as_deref(),
            Some("fd00::1/64")
        );
        assert_eq!(masked("10.1.2.3", "<nil>").as_deref(), Some("10.1.2.3"));
        assert_eq!(masked("<nil>", "<nil>"), None);
    }

    #[test]
    fn ips_in_free_text() {
        let v: Vec<&str> =
            ips_in("[10.1.105.205/26 fd00::5/122] 0.0.0.0/32 ::/128 add cafe").collect();
        assert_eq!(v, vec!["10.1.105.205/26", "fd00::5/122"]);
        assert_eq!(
            go_string_field(r#"{XK8S_POD_NAME:"b", K8S_POD_NAME:"a"}"#, "K8S_POD_NAME"),
            Some("a")
        );
    }
}
