//! Properties over arbitrary input: no panic on any bytes, events round-trip through JSON, and
//! parsing does not depend on the line terminator.

use std::sync::OnceLock;

use proptest::prelude::*;
use proto::UnifiedEvent;
use tapio_cni_tests::{fixtures, parse_text};

/// Every line of every fixture log: the raw material the strategies mix and mutate.
fn fixture_lines() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let mut lines = Vec::new();
        for dir in ["logs", "logs/extra"] {
            let Ok(entries) = std::fs::read_dir(fixtures().join(dir)) else {
                continue;
            };
            let mut paths: Vec<_> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect();
            paths.sort();
            for p in paths {
                let text = std::fs::read_to_string(&p).expect("fixture is UTF-8");
                lines.extend(text.lines().map(str::to_owned));
            }
        }
        assert!(lines.len() > 100, "fixtures found: {}", lines.len());
        lines
    })
}

/// A fixture line, or one cut at a random point, or one with random bytes spliced in.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let n = fixture_lines().len();
    prop_oneof![
        (0..n).prop_map(|i| fixture_lines()[i].clone().into_bytes()),
        (0..n, any::<prop::sample::Index>()).prop_map(|(i, cut)| {
            let l = fixture_lines()[i].as_bytes();
            l[..cut.index(l.len() + 1)].to_vec()
        }),
        (
            0..n,
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 0..16)
        )
            .prop_map(|(i, at, junk)| {
                let mut l = fixture_lines()[i].clone().into_bytes();
                let at = at.index(l.len() + 1);
                l.splice(at..at, junk);
                l
            }),
        prop::collection::vec(any::<u8>(), 0..200),
    ]
}

fn join(lines: &[Vec<u8>], sep: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.extend_from_slice(sep);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        parse_text("arbitrary", &bytes);
    }

    #[test]
    fn events_round_trip_through_json(lines in prop::collection::vec(line(), 1..12)) {
        for event in parse_text("mixed", &join(&lines, b"\n")) {
            let json = serde_json::to_string(&event).unwrap();
            let back: UnifiedEvent = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, event);
        }
    }

    #[test]
    fn line_endings_do_not_matter(lines in prop::collection::vec(line(), 1..12)) {
        // Lines that themselves end in CR are ambiguous under CRLF; real logs do not have them.
        let lines: Vec<Vec<u8>> = lines.into_iter().map(|mut l| { while l.last() == Some(&b'\r') { l.pop(); } l }).collect();
        let lf = parse_text("endings", &join(&lines, b"\n"));
        let crlf = parse_text("endings", &join(&lines, b"\r\n"));
        prop_assert_eq!(lf, crlf);
    }
}
