//! Inputs that once crashed or misled a parser, kept byte for byte (fuzz/regressions/): each
//! must still parse without a panic, through every format and through auto-detection, and its
//! events must read back from JSON unchanged. Those of the `conf` target are config file
//! contents: they go through the config parser of both file kinds and through a collector as
//! the files of a config directory.

use std::path::Path;

use proto::conf::parse::{kind_of_name, parse, FileKind};
use proto::{
    parse_record, Body, ChangeKind, Collector, Config, FileChange, Format, Role, Timestamp,
    UnifiedEvent,
};
use tapio_cni_tests::parse_text;

#[test]
fn fuzz_regression_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut count = 0;
    for target in std::fs::read_dir(&root).expect("fuzz/regressions exists") {
        let dir = target.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        let conf = dir.file_name().is_some_and(|n| n == "conf");
        for file in std::fs::read_dir(&dir).expect("readable") {
            let path = file.expect("entry").path();
            let bytes = std::fs::read(&path).expect("readable");
            if conf {
                config_file(&path, &bytes);
            } else {
                log_text(&path, &bytes);
            }
            count += 1;
        }
    }
    assert!(count > 0, "no regression inputs under {}", root.display());
}

fn log_text(path: &Path, bytes: &[u8]) {
    for event in parse_text("regression", bytes) {
        round_trips(path, &event);
    }
    let text = String::from_utf8_lossy(bytes);
    for f in Format::ALL {
        let _ = parse_record(&text, Some(f));
    }
}

/// The bytes as each kind of config file, created, rewritten, renamed and deleted: the active
/// config is the first name whose content loads, and every event reads back from JSON.
fn config_file(path: &Path, bytes: &[u8]) {
    const DIR: &str = "/etc/cni/net.d";
    let names = ["10-x.conf", "20-x.conflist", "30-x.json"];
    let loads = |name: &str| {
        let kind = kind_of_name(name).expect("a config name");
        parse(kind, bytes, false, 256).is_ok()
    };
    for kind in [FileKind::Single, FileKind::List] {
        assert!(
            parse(kind, bytes, true, 256).is_err(),
            "a cut file never loads"
        );
    }
    let mut c = Collector::new(Config::default());
    let mut now = Timestamp::from_unix_nanos(1_700_000_000_000_000_000);
    let mut change = |c: &mut Collector, path: String, kind: ChangeKind, body: Body| {
        now = now.add_nanos(1_000_000_000);
        let role = Role::Config;
        c.handle_file_change(
            now,
            FileChange {
                path,
                role,
                kind,
                body,
            },
        );
    };
    for name in names {
        let body = Body::Bytes {
            bytes: bytes.to_vec(),
            cut: false,
        };
        change(&mut c, format!("{DIR}/{name}"), ChangeKind::Created, body);
    }
    let first = names
        .iter()
        .find(|n| loads(n))
        .map(|n| format!("{DIR}/{n}"));
    assert_eq!(c.active_config(DIR), first.as_deref(), "{}", path.display());
    let body = Body::Bytes {
        bytes: bytes.to_vec(),
        cut: true,
    };
    change(
        &mut c,
        format!("{DIR}/10-x.conf"),
        ChangeKind::Modified,
        body,
    );
    let renamed = ChangeKind::Renamed {
        from: format!("{DIR}/10-x.conf"),
    };
    change(&mut c, format!("{DIR}/40-x.conf"), renamed, Body::None);
    change(
        &mut c,
        format!("{DIR}/20-x.conflist"),
        ChangeKind::Deleted,
        Body::None,
    );
    let first = ["30-x.json"]
        .into_iter()
        .find(|n| loads(n))
        .map(|n| format!("{DIR}/{n}"));
    assert_eq!(c.active_config(DIR), first.as_deref(), "{}", path.display());
    let events: Vec<UnifiedEvent> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(!events.is_empty());
    for event in &events {
        round_trips(path, event);
    }
}

fn round_trips(path: &Path, event: &UnifiedEvent) {
    let json = serde_json::to_string(event).expect("serializes");
    let back: UnifiedEvent = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(&back, event, "{}", path.display());
}
