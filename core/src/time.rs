//! Time as data: the core never reads a clock, it is handed [`Timestamp`]s.
//!
//! Log lines state time in many layouts, some without a year (syslog `Apr 22 05:17:07`, klog
//! `I0518 19:28:39.956871`) and many without a zone. How such a line is dated:
//! - no zone: the wall time is taken as UTC (a node's logs are usually UTC; the line's own text is
//!   kept in `raw`, so nothing is lost);
//! - no year: the year of the reference time (`now`, the time the line was read) is used, unless
//!   that puts the line more than two days after `now`, in which case it is from the year before
//!   (a December line read in January);
//! - no timestamp at all: the line is dated `now`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

const NANOS_PER_SEC: i64 = 1_000_000_000;
const TWO_DAYS_NANOS: i64 = 2 * 86_400 * NANOS_PER_SEC;

/// Nanoseconds since the Unix epoch, UTC. Serialized as RFC 3339 with nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_unix_nanos(nanos: i64) -> Timestamp {
        Timestamp(nanos)
    }

    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// This time plus `nanos` (saturating).
    pub const fn add_nanos(self, nanos: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(nanos))
    }

    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn millis_since(self, earlier: Timestamp) -> f64 {
        (self.0.saturating_sub(earlier.0)) as f64 / 1e6
    }

    fn year(self) -> i32 {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0))
            .map(|t| t.year())
            // Any i64 of nanoseconds is within time's range (years 1677..2262).
            .unwrap_or(1970)
    }

    /// RFC 3339, UTC, always nine fractional digits: `2022-04-22T05:17:07.520000000Z`.
    ///
    /// Written by hand: through `time`'s types and `format!` it cost more than building the
    /// event it dates. Any i64 of nanoseconds is in the years 1677 to 2262, four digits.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(NANOS_PER_SEC);
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let of_day = secs.rem_euclid(86_400);
        let mut out = *b"0000-00-00T00:00:00.000000000Z";
        for (at, width, n) in [
            (0, 4, year),
            (5, 2, month),
            (8, 2, day),
            (11, 2, of_day / 3600),
            (14, 2, of_day % 3600 / 60),
            (17, 2, of_day % 60),
            (20, 9, nanos),
        ] {
            let mut n = n;
            for digit in out[at..at + width].iter_mut().rev() {
                // `n % 10` is a single digit.
                *digit = b'0' + (n % 10) as u8;
                n /= 10;
            }
        }
        // Digits and separators are ASCII, so this never takes the lossy path.
        String::from_utf8(out.to_vec())
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// The date of a day counted from 1970-01-01 in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`): (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        match parse_iso(&s) {
            Some((ts, n)) if n == s.len() => Ok(ts.resolve(Timestamp(0))),
            _ => Err(serde::de::Error::custom(format!(
                "not an RFC 3339 time: {s:?}"
            ))),
        }
    }
}

/// A time as a line states it, before the missing year is filled in from the reference time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTime {
    year: Option<i32>,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    nanos: u32,
    /// Seconds east of UTC; `None` when the line gives no zone (taken as UTC).
    offset: Option<i32>,
}

impl LineTime {
    /// This (inner, more precise) time, taking the year from the `outer` layer's time when this
    /// one has none: a klog header inside a kubectl `--timestamps` prefix, say.
    pub fn within(self, outer: Option<LineTime>) -> LineTime {
        match (self.year, outer.and_then(|o| o.year)) {
            (None, Some(year)) => LineTime {
                year: Some(year),
                ..self
            },
            _ => self,
        }
    }

    /// The absolute time, dating a line without a year by `now` (see the module doc).
    pub fn resolve(self, now: Timestamp) -> Timestamp {
        match self.year {
            Some(y) => self.at_year(y).unwrap_or(now),
            None => {
                let y = now.year();
                match self.at_year(y) {
                    Some(t) if t.0 > now.0.saturating_add(TWO_DAYS_NANOS) => {
                        self.at_year(y - 1).unwrap_or(t)
                    }
                    Some(t) => t,
                    // 29 February in a year without it: the line is from a leap year before.
                    None => (1..=4)
                        .find_map(|back| self.at_year(y - back))
                        .unwrap_or(now),
                }
            }
        }
    }

    /// This time in `year`, or `None` when it does not exist (30 February, second 60) or is
    /// out of range. Computed by hand, with the ranges the `time` crate accepts (years ±9999,
    /// offsets below 26 hours): building its date and time types cost more than parsing most
    /// lines' time.
    fn at_year(self, year: i32) -> Option<Timestamp> {
        if !self.fields_valid(year) {
            return None;
        }
        let offset = self.offset.unwrap_or(0);
        let secs = days_from_civil(year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(offset);
        let nanos = i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(self.nanos);
        i64::try_from(nanos).ok().map(Timestamp)
    }

    /// Whether [`LineTime::at_year`] has a time for `year`, without computing it where it
    /// cannot be out of range: parsers validate every time they read, and most are dated once.
    fn exists_in(self, year: i32) -> bool {
        // Nanoseconds in an i64 span the years 1677 to 2262: within these years, even 26 hours
        // off, only the fields can be invalid.
        if (1678..=2261).contains(&year) {
            self.fields_valid(year)
        } else {
            self.at_year(year).is_some()
        }
    }

    /// The fields are a time of `year` (no 30 February, no second 60), within the ranges the
    /// `time` crate accepts.
    fn fields_valid(self, year: i32) -> bool {
        (-9999..=9999).contains(&year)
            && days_in_month(year, self.month).is_some_and(|days| (1..=days).contains(&self.day))
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
            && self.nanos < 1_000_000_000
            && self.offset.unwrap_or(0).unsigned_abs() < 26 * 3600
    }
}

/// Days in `month` (1-12) of `year`, `None` for a month out of range.
fn days_in_month(year: i32, month: u8) -> Option<u8> {
    Some(match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    })
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    s.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Fraction digits after a `.` or `,` at `at`: (nanos, bytes consumed including the dot).
fn fraction(b: &[u8], at: usize) -> (u32, usize) {
    if !matches!(b.get(at), Some(b'.') | Some(b',')) {
        return (0, 0);
    }
    let mut nanos = 0u32;
    let mut n = 0;
    while let Some(&c) = b.get(at + 1 + n) {
        if !c.is_ascii_digit() {
            break;
        }
        if n < 9 {
            nanos = nanos * 10 + u32::from(c - b'0');
        }
        n += 1;
    }
    if n == 0 {
        return (0, 0);
    }
    for _ in n..9 {
        nanos *= 10;
    }
    (nanos, n + 1)
}

/// `Z`, `+03:00`, `-0500`, `+08` at `at`: (seconds east, bytes consumed).
fn zone(b: &[u8], at: usize) -> (Option<i32>, usize) {
    match b.get(at) {
        Some(b'Z') | Some(b'z') => (Some(0), 1),
        Some(&sign @ (b'+' | b'-')) => {
            let Some(h) = digits(b, at + 1, 2) else {
                return (None, 0);
            };
            let (m, used) = if b.get(at + 3) == Some(&b':') {
                (digits(b, at + 4, 2), 6)
            } else {
                (digits(b, at + 3, 2), 5)
            };
            let (m, used) = match m {
                Some(m) => (m, used),
                None => (0, 3),
            };
            if h > 23 || m > 59 {
                return (None, 0);
            }
            let secs = (h * 3600 + m * 60) as i32;
            (Some(if sign == b'-' { -secs } else { secs }), used)
        }
        _ => (None, 0),
    }
}

/// `HH:MM:SS` at `at`, read as the eight bytes it always takes.
fn hms(b: &[u8], at: usize) -> Option<(u8, u8, u8)> {
    let &[h1, h2, c1, m1, m2, c2, s1, s2] = b.get(at..at.checked_add(8)?)? else {
        return None;
    };
    let h = two_digits(h1, h2)?;
    let m = two_digits(m1, m2)?;
    let s = two_digits(s1, s2)?;
    (c1 == b':' && c2 == b':' && h < 24 && m < 60 && s < 61).then_some((h, m, s.min(59)))
}

/// The number two ASCII digits write.
fn two_digits(tens: u8, ones: u8) -> Option<u8> {
    let (t, o) = (tens.wrapping_sub(b'0'), ones.wrapping_sub(b'0'));
    (t < 10 && o < 10).then(|| t * 10 + o)
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.frac][zone]` or `YYYY/MM/DD HH:MM:SS[.frac]` at the start of `s`.
/// Returns the time and the number of bytes it takes.
pub fn parse_iso(s: &str) -> Option<(LineTime, usize)> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    let sep = *b.get(4)?;
    if !(sep == b'-' || sep == b'/') || b.get(7) != Some(&sep) {
        return None;
    }
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if !matches!(b.get(10), Some(b'T') | Some(b' ') | Some(b't')) {
        return None;
    }
    let (hour, minute, second) = hms(b, 11)?;
    let (nanos, flen) = fraction(b, 19);
    let (offset, zlen) = zone(b, 19 + flen);
    let t = LineTime {
        year: Some(year as i32),
        month: month as u8,
        day: day as u8,
        hour,
        minute,
        second,
        nanos,
        offset,
    };
    t.exists_in(year as i32).then_some((t, 19 + flen + zlen))
}

/// Month names in the languages journald prints them in on the nodes seen in public reports:
/// English, Russian (abbreviated), CJK (`12月`), German, French and Spanish abbreviations.
const MONTH_NAMES: &[(&str, u8)] = &[
    ("Jan", 1),
    ("Feb", 2),
    ("Mar", 3),
    ("Apr", 4),
    ("May", 5),
    ("Jun", 6),
    ("Jul", 7),
    ("Aug", 8),
    ("Sep", 9),
    ("Oct", 10),
    ("Nov", 11),
    ("Dec", 12),
    ("янв", 1),
    ("фев", 2),
    ("мар", 3),
    ("апр", 4),
    ("май", 5),
    ("мая", 5),
    ("июн", 6),
    ("июл", 7),
    ("авг", 8),
    ("сен", 9),
    ("окт", 10),
    ("ноя", 11),
    ("дек", 12),
    ("Mär", 3),
    ("Mai", 5),
    ("Okt", 10),
    ("Dez", 12),
    ("janv", 1),
    ("févr", 2),
    ("mars", 3),
    ("avr", 4),
    ("mai", 5),
    ("juin", 6),
    ("juil", 7),
    ("août", 8),
    ("sept", 9),
    ("oct", 10),
    ("nov", 11),
    ("déc", 12),
    ("ene", 1),
    ("abr", 4),
    ("ago", 8),
    ("dic", 12),
];

/// The first bytes (either case) a month name can start with: most lines that reach the month
/// names start with none of them and are turned away without trying each name.
const MONTH_FIRST_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < MONTH_NAMES.len() {
        let c = MONTH_NAMES[i].0.as_bytes()[0];
        table[c.to_ascii_lowercase() as usize] = true;
        table[c.to_ascii_uppercase() as usize] = true;
        i += 1;
    }
    table
};

/// For each first byte (either case) of a month name, the second bytes (lower case) that
/// follow it in one, as a set of their low six bits: a filter that lets through every name.
const MONTH_SECOND_BYTES: [u64; 256] = {
    let mut table = [0; 256];
    let mut i = 0;
    while i < MONTH_NAMES.len() {
        let name = MONTH_NAMES[i].0.as_bytes();
        let bit = 1 << (name[1].to_ascii_lowercase() & 63);
        table[name[0].to_ascii_lowercase() as usize] |= bit;
        table[name[0].to_ascii_uppercase() as usize] |= bit;
        i += 1;
    }
    table
};

fn month_name(s: &str) -> Option<(u8, usize)> {
    let b = s.as_bytes();
    let first = *b.first()?;
    // Most syslog lines name the month in English, listed first: its three letters tell it
    // without a pass over every name.
    if let Some(m) = english_month(b) {
        let used = 3 + usize::from(b.get(3) == Some(&b'.'));
        return Some((m, used));
    }
    // The other names are tried only when the first two bytes could start one: most words
    // that get here (`Failed`, `error`, `Adding`) start none.
    let second = b.get(1).map_or(0, u8::to_ascii_lowercase);
    let names = if MONTH_SECOND_BYTES[usize::from(first)] & (1 << (second & 63)) != 0 {
        MONTH_NAMES
    } else {
        &[]
    };
    for &(name, m) in names {
        // Bytes equal to a whole name (ASCII case aside) end on a character boundary.
        if name.as_bytes()[0].eq_ignore_ascii_case(&first)
            && b.get(..name.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(name.as_bytes()))
        {
            let rest = &s[name.len()..];
            // A trailing dot is common in abbreviated localized names.
            let used = name.len() + usize::from(rest.starts_with('.'));
            return Some((m, used));
        }
    }
    // CJK: `12月` / `3月`.
    let n = b.iter().take(2).take_while(|c| c.is_ascii_digit()).count();
    if n > 0 && s[n..].starts_with('月') {
        let m = digits(b, 0, n)?;
        if (1..=12).contains(&m) {
            return Some((m as u8, n + '月'.len_utf8()));
        }
    }
    None
}

/// The English month (any case) the first three bytes of `b` name: the first 12 of
/// [`MONTH_NAMES`].
fn english_month(b: &[u8]) -> Option<u8> {
    let &[a, b, c] = b.get(..3)? else {
        return None;
    };
    let m = match [a | 0x20, b | 0x20, c | 0x20] {
        [b'j', b'a', b'n'] => 1,
        [b'f', b'e', b'b'] => 2,
        [b'm', b'a', b'r'] => 3,
        [b'a', b'p', b'r'] => 4,
        [b'm', b'a', b'y'] => 5,
        [b'j', b'u', b'n'] => 6,
        [b'j', b'u', b'l'] => 7,
        [b'a', b'u', b'g'] => 8,
        [b's', b'e', b'p'] => 9,
        [b'o', b'c', b't'] => 10,
        [b'n', b'o', b'v'] => 11,
        [b'd', b'e', b'c'] => 12,
        _ => return None,
    };
    Some(m)
}

/// Syslog / journald `Mon DD HH:MM:SS[.frac]` at the start of `s` (no year, no zone).
pub fn parse_syslog(s: &str) -> Option<(LineTime, usize)> {
    let b = s.as_bytes();
    // A month name starts with one of few letters, a CJK month with a digit; and the space
    // after the month comes within 8 bytes (a 6-byte name and its dot). Most lines, which are
    // not syslog, are turned away by these before the month names are tried.
    let first = *b.first()?;
    if !(MONTH_FIRST_BYTES[usize::from(first)] || first.is_ascii_digit()) {
        return None;
    }
    if !b.iter().take(8).any(|&c| c == b' ') {
        return None;
    }
    let (month, mut at) = month_name(s)?;
    if b.get(at) != Some(&b' ') {
        return None;
    }
    while b.get(at) == Some(&b' ') {
        at += 1;
    }
    let dlen = b[at..]
        .iter()
        .take(2)
        .take_while(|c| c.is_ascii_digit())
        .count();
    let day = digits(b, at, dlen.max(1))?;
    at += dlen;
    if b.get(at) != Some(&b' ') {
        return None;
    }
    at += 1;
    let (hour, minute, second) = hms(b, at)?;
    at += 8;
    let (nanos, flen) = fraction(b, at);
    let t = LineTime {
        year: None,
        month,
        day: day as u8,
        hour,
        minute,
        second,
        nanos,
        offset: None,
    };
    // Validate against a leap year so that 29 February passes here and is dated in resolve().
    t.exists_in(2000).then_some((t, at + flen))
}

/// The time of a klog header `Lmmdd hh:mm:ss.uuuuuu` (the level letter already removed).
pub fn parse_klog_time(s: &str) -> Option<(LineTime, usize)> {
    let b = s.as_bytes();
    let month = digits(b, 0, 2)?;
    let day = digits(b, 2, 2)?;
    if b.get(4) != Some(&b' ') {
        return None;
    }
    let (hour, minute, second) = hms(b, 5)?;
    let (nanos, flen) = fraction(b, 13);
    let t = LineTime {
        year: None,
        month: month as u8,
        day: day as u8,
        hour,
        minute,
        second,
        nanos,
        offset: None,
    };
    t.exists_in(2000).then_some((t, 13 + flen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_agrees_with_the_time_crate() {
        let reference = |t: Timestamp| {
            let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            let (y, mo, d) = t.to_calendar_date();
            let (h, mi, s, n) = t.to_hms_nano();
            format!(
                "{y:04}-{:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{n:09}Z",
                u8::from(mo)
            )
        };
        let mut cases = vec![i64::MIN, i64::MAX, -1, 0, 1, 951_782_400_000_000_000];
        // Every day of four years around a leap day and a century, at varied times.
        let mut t = 946_684_800_000_000_000 - 400 * 86_400 * NANOS_PER_SEC;
        for i in 0..1600 {
            cases.push(t + i * 7_919_000_001);
            t += 86_400 * NANOS_PER_SEC;
        }
        cases.push(-2_208_988_800_000_000_000);
        for n in cases {
            let t = Timestamp(n);
            assert_eq!(t.to_rfc3339(), reference(t), "{n}");
        }
    }

    #[test]
    fn dates_agree_with_the_time_crate() {
        use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};
        let reference = |t: LineTime, year: i32| -> Option<Timestamp> {
            let month = Month::try_from(t.month).ok()?;
            let date = Date::from_calendar_date(year, month, t.day).ok()?;
            let time = Time::from_hms_nano(t.hour, t.minute, t.second, t.nanos).ok()?;
            let offset = UtcOffset::from_whole_seconds(t.offset.unwrap_or(0)).ok()?;
            let nanos = PrimitiveDateTime::new(date, time)
                .assume_offset(offset)
                .unix_timestamp_nanos();
            i64::try_from(nanos).ok().map(Timestamp)
        };
        let years = [
            -10_000, -9999, -1, 0, 1, 1600, 1677, 1678, 1900, 1969, 1970, 2000, 2023,
        ];
        let years = years
            .into_iter()
            .chain([2024, 2100, 2261, 2262, 2263, 9999, 10_000]);
        for year in years {
            for month in 0..=13u8 {
                for day in [0, 1, 15, 28, 29, 30, 31, 32] {
                    for (hour, minute, second, nanos) in [
                        (0, 0, 0, 0),
                        (23, 59, 59, 999_999_999),
                        (12, 30, 60, 0),
                        (24, 0, 0, 0),
                        (0, 60, 0, 0),
                        (1, 2, 3, 1_000_000_000),
                    ] {
                        for offset in [
                            None,
                            Some(0),
                            Some(-93_599),
                            Some(93_599),
                            Some(93_600),
                            Some(19_800),
                        ] {
                            let t = LineTime {
                                year: Some(year),
                                month,
                                day,
                                hour,
                                minute,
                                second,
                                nanos,
                                offset,
                            };
                            assert_eq!(t.at_year(year), reference(t, year), "{t:?}");
                            assert_eq!(t.exists_in(year), t.at_year(year).is_some(), "{t:?}");
                        }
                    }
                }
            }
        }
    }

    const NOW_2024: Timestamp = Timestamp(1_710_000_000_000_000_000); // 2024-03-09T16:00:00Z

    fn iso(s: &str) -> String {
        let (t, n) = parse_iso(s).expect(s);
        assert_eq!(n, s.len(), "{s}");
        t.resolve(NOW_2024).to_rfc3339()
    }

    #[test]
    fn iso_layouts() {
        let cases = [
            (
                "2021-01-14T22:52:58.775198409Z",
                "2021-01-14T22:52:58.775198409Z",
            ),
            (
                "2022-11-08T14:45:08+03:00",
                "2022-11-08T11:45:08.000000000Z",
            ),
            ("2019-03-12T20:40:42Z", "2019-03-12T20:40:42.000000000Z"),
            ("2019-08-06T08:44:24.537", "2019-08-06T08:44:24.537000000Z"),
            (
                "2024-05-12T19:28:56.850191696-05:00",
                "2024-05-13T00:28:56.850191696Z",
            ),
            ("2022-04-22 05:17:07.520", "2022-04-22T05:17:07.520000000Z"),
            ("2017/09/30 14:34:58", "2017-09-30T14:34:58.000000000Z"),
            (
                "2017/06/06 15:47:48.503688",
                "2017-06-06T15:47:48.503688000Z",
            ),
            ("2019-03-14T02:50:05-0700", "2019-03-14T09:50:05.000000000Z"),
        ];
        for (input, want) in cases {
            assert_eq!(iso(input), want, "{input}");
        }
    }

    #[test]
    fn iso_rejects_non_times() {
        for s in [
            "2021-13-01T00:00:00Z",
            "2021-02-30 00:00:00",
            "20210101",
            "level=info",
            "",
        ] {
            assert!(parse_iso(s).is_none(), "{s}");
        }
    }

    #[test]
    fn syslog_dates_by_reference_year() {
        let (t, n) = parse_syslog("Apr 22 05:17:07 fedora").unwrap();
        assert_eq!(n, 15);
        // April is after the reference (March 2024) by more than two days: previous year.
        assert_eq!(
            t.resolve(NOW_2024).to_rfc3339(),
            "2023-04-22T05:17:07.000000000Z"
        );
        let (t, _) = parse_syslog("Nov  8 14:45:08 server1").unwrap();
        assert_eq!(
            t.resolve(NOW_2024).to_rfc3339(),
            "2023-11-08T14:45:08.000000000Z"
        );
        let (t, _) = parse_syslog("мар 09 13:42:28 dev").unwrap();
        assert_eq!(
            t.resolve(NOW_2024).to_rfc3339(),
            "2024-03-09T13:42:28.000000000Z"
        );
        let (t, _) = parse_syslog("12月 11 11:42:08 slave").unwrap();
        assert_eq!(
            t.resolve(NOW_2024).to_rfc3339(),
            "2023-12-11T11:42:08.000000000Z"
        );
        assert!(parse_syslog("Foo 11 11:42:08").is_none());
    }

    #[test]
    fn klog_time() {
        let (t, n) = parse_klog_time("0518 19:28:39.956871       1 main.go").unwrap();
        assert_eq!(n, 20);
        assert_eq!(
            t.resolve(NOW_2024).to_rfc3339(),
            "2023-05-18T19:28:39.956871000Z"
        );
    }

    #[test]
    fn leap_day_without_year_goes_to_a_leap_year() {
        let (t, _) = parse_klog_time("0229 10:00:00.000000").unwrap();
        let now_2025 = Timestamp(1_740_000_000_000_000_000); // 2025-02-19
        assert_eq!(
            t.resolve(now_2025).to_rfc3339(),
            "2024-02-29T10:00:00.000000000Z"
        );
    }

    #[test]
    fn every_month_name_is_read_in_either_case() {
        for &(name, month) in MONTH_NAMES {
            for name in [
                name.to_owned(),
                name.to_ascii_uppercase(),
                name.to_ascii_lowercase(),
            ] {
                let found = month_name(&format!("{name} 5")).map(|(m, _)| m);
                assert_eq!(found, Some(month), "{name}");
            }
        }
    }

    #[test]
    fn serde_round_trip() {
        let t = Timestamp(1_642_234_567_890_123_456);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2022-01-15T08:16:07.890123456Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }
}
