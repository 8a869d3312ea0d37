//! The config-file input fed arbitrary bytes and arbitrary sequences of file changes.
//!
//! The whole input is first parsed as a config file of both kinds (with and without a cut):
//! never a panic, and a parsed config stays within its limits. The same bytes then decode into
//! a run of `FileChange`s on a small set of paths in two config directories (one nested in the
//! other) and a plugin directory — every change kind including renames, bodies that are
//! arbitrary bytes, mutated real configs from fixtures/conf/, plugin facts, unreadable files —
//! with time moving forward. After each step every event must have a new id and serialize and
//! read back unchanged, every plugin the collector lists must be one reported present, and the
//! active config of each directory must be the first (by name) of the files last reported
//! there with content that loads; with a small file limit, at least one of them.
#![no_main]

use std::collections::{BTreeMap, BTreeSet, HashSet};

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use proto::conf::parse::{kind_of_name, parse, FileKind};
use proto::{
    Body, ChangeKind, Collector, Config, FileChange, PluginInfo, Role, Timestamp, UnifiedEvent,
};

const CONF_DIRS: [&str; 2] = ["/etc/cni/net.d", "/etc/cni/net.d/multus"];
/// Names libcni loads (hidden ones too) and one it does not, as editors and `mv` leave them.
const CONF_NAMES: [&str; 6] = [
    "00-a.conf",
    "10-b.conflist",
    "10-b.conflist.tmp",
    ".c.json",
    "99-d.conflist",
    "99-d.conflist.disabled",
];
const BIN_DIR: &str = "/opt/cni/bin";
const BIN_NAMES: [&str; 4] = ["bridge", "host-local", "portmap", "calico"];

const FIXTURES: [&[u8]; 10] = [
    include_bytes!("../../fixtures/conf/00-multus.conf"),
    include_bytes!("../../fixtures/conf/05-cilium.conflist"),
    include_bytes!("../../fixtures/conf/10-aws.conflist"),
    include_bytes!("../../fixtures/conf/10-calico-etcd.conf"),
    include_bytes!("../../fixtures/conf/10-calico.conflist"),
    include_bytes!("../../fixtures/conf/10-containerd-net.conflist"),
    include_bytes!("../../fixtures/conf/10-flannel.conflist"),
    include_bytes!("../../fixtures/conf/10-mynet.conf"),
    include_bytes!("../../fixtures/conf/20-list-in-conf.conf"),
    include_bytes!("../../fixtures/conf/99-trailing-comma.conflist"),
];

/// JSON pieces spliced into real configs: a plugin more, another range, a secret, a type.
const SNIPPETS: [&[u8]; 8] = [
    br#"{"type":"portmap","capabilities":{"portMappings":true}},"#,
    br#""subnet":"10.99.0.0/16","#,
    br#""ranges":[[{"subnet":"10.1.0.0/24","rangeStart":"10.1.0.10"}]],"#,
    br#""type":"bandwidth","#,
    br#""password":"hunter2","#,
    br#""plugins":[],"#,
    br#""name":"","#,
    br#"null"#,
];

#[derive(Debug, Arbitrary)]
struct Run {
    /// Small limits make the collector refuse to track files.
    small_limits: bool,
    steps: Vec<Step>,
}

#[derive(Debug, Arbitrary)]
enum Step {
    Change {
        path: u8,
        plugin_role: bool,
        kind: Kind,
        body: BodyIn,
    },
    Advance {
        ms: u16,
    },
    Timeout,
}

#[derive(Debug, Arbitrary)]
enum Kind {
    Present,
    Created,
    Modified,
    Deleted,
    Renamed { from: u8 },
}

#[derive(Debug, Arbitrary)]
enum BodyIn {
    None,
    Bytes {
        bytes: Vec<u8>,
        cut: bool,
    },
    Fixture {
        index: u8,
        edits: Vec<Edit>,
        cut: bool,
    },
    Plugin {
        size: u64,
        mtime: i64,
        mode: u32,
        sha256: Option<u8>,
        version: Option<Result<Vec<u8>, u8>>,
    },
    Unreadable(u8),
}

#[derive(Debug, Arbitrary)]
enum Edit {
    Set { at: u16, byte: u8 },
    Remove { at: u16, len: u8 },
    Splice { at: u16, snippet: u8 },
}

fn path_of(i: u8) -> String {
    let i = usize::from(i);
    let confs = CONF_DIRS.len() * CONF_NAMES.len();
    match i % (confs + BIN_NAMES.len()) {
        n if n < confs => format!(
            "{}/{}",
            CONF_DIRS[n / CONF_NAMES.len()],
            CONF_NAMES[n % CONF_NAMES.len()]
        ),
        n => format!("{BIN_DIR}/{}", BIN_NAMES[n - confs]),
    }
}

fn mutated(index: u8, edits: Vec<Edit>) -> Vec<u8> {
    let mut bytes = FIXTURES[usize::from(index) % FIXTURES.len()].to_vec();
    for edit in edits {
        let at = |at: u16| usize::from(at) % (bytes.len() + 1);
        match edit {
            Edit::Set { at: i, byte } => {
                let i = at(i);
                if i < bytes.len() {
                    bytes[i] = byte;
                }
            }
            Edit::Remove { at: i, len } => {
                let i = at(i);
                let end = (i + usize::from(len)).min(bytes.len());
                bytes.drain(i..end);
            }
            Edit::Splice { at: i, snippet } => {
                let i = at(i);
                let s = SNIPPETS[usize::from(snippet) % SNIPPETS.len()];
                bytes.splice(i..i, s.iter().copied());
            }
        }
    }
    bytes
}

fn body_of(body: BodyIn) -> Body {
    match body {
        BodyIn::None => Body::None,
        BodyIn::Bytes { bytes, cut } => Body::Bytes { bytes, cut },
        BodyIn::Fixture { index, edits, cut } => Body::Bytes {
            bytes: mutated(index, edits),
            cut,
        },
        BodyIn::Plugin {
            size,
            mtime,
            mode,
            sha256,
            version,
        } => Body::Plugin(PluginInfo {
            size,
            mtime: Timestamp::from_unix_nanos(mtime),
            mode,
            // Few distinct hashes, so that replacements are sometimes no change at all.
            sha256: match sha256 {
                Some(h) => Ok(format!("{:064x}", h % 4)),
                None => Err("permission denied".to_owned()),
            },
            version: version.map(|v| v.map_err(|e| format!("exit status {e}"))),
        }),
        BodyIn::Unreadable(why) => Body::Unreadable(format!("error {}", why % 3)),
    }
}

/// What the runtime last reported of each config-directory file libcni would load (whether
/// its content loads), and of the plugin directory (the paths present).
#[derive(Default)]
struct Model {
    loads: BTreeMap<String, bool>,
    plugins: BTreeSet<String>,
}

impl Model {
    fn apply(&mut self, change: &FileChange, max_keys: usize) {
        if change.role == Role::Plugin {
            if let ChangeKind::Renamed { from } = &change.kind {
                self.plugins.remove(from);
            }
            if change.kind == ChangeKind::Deleted {
                self.plugins.remove(&change.path);
            } else {
                self.plugins.insert(change.path.clone());
            }
            return;
        }
        if let ChangeKind::Renamed { from } = &change.kind {
            self.loads.remove(from);
        }
        let Some(kind) = kind_of_name(file_name(&change.path)) else {
            return;
        };
        if change.kind == ChangeKind::Deleted {
            self.loads.remove(&change.path);
            return;
        }
        self.loads
            .insert(change.path.clone(), loads(kind, &change.body, max_keys));
    }

    fn first_loading(&self, dir: &str) -> Option<&str> {
        self.loads
            .iter()
            .find(|(p, ok)| **ok && dir_of(p) == dir)
            .map(|(p, _)| p.as_str())
    }
}

fn loads(kind: FileKind, body: &Body, max_keys: usize) -> bool {
    match body {
        Body::Bytes { bytes, cut } => parse(kind, bytes, *cut, max_keys).is_ok(),
        _ => false,
    }
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, f)| f)
}

fn check_parse(data: &[u8]) {
    const MAX_KEYS: usize = 32;
    for kind in [FileKind::Single, FileKind::List] {
        for cut in [false, true] {
            let Ok(conf) = parse(kind, data, cut, MAX_KEYS) else {
                continue;
            };
            assert!(!cut, "a cut file never loads");
            assert_eq!(conf.is_list, kind == FileKind::List);
            assert!(!conf.plugins.is_empty() && conf.plugins.len() <= 16);
            assert!(conf.leaves.len() <= MAX_KEYS);
            for (k, v) in &conf.leaves {
                // 256 bytes kept, then the note of how much was cut.
                assert!(k.len() <= 300 && v.len() <= 300, "{k}: {v}");
            }
        }
    }
}

fn check_event(event: &UnifiedEvent, ids: &mut HashSet<String>) {
    assert!(ids.insert(event.id.clone()), "duplicate id {}", event.id);
    let json = serde_json::to_string(event).expect("events serialize");
    let back: UnifiedEvent = serde_json::from_str(&json).expect("events deserialize");
    assert_eq!(&back, event);
    assert!(event.origin.file.is_some());
}

fuzz_target!(|data: &[u8]| {
    check_parse(data);
    let Ok(run) = Run::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let config = if run.small_limits {
        Config {
            max_config_files: 3,
            max_plugin_files: 2,
            max_config_keys: 8,
            ..Config::default()
        }
    } else {
        Config::default()
    };
    let max_keys = config.max_config_keys;
    let mut c = Collector::new(config);
    let mut model = Model::default();
    let mut ids = HashSet::new();
    let mut now = Timestamp::from_unix_nanos(1_700_000_000_000_000_000);
    for step in run.steps {
        match step {
            Step::Change {
                path,
                plugin_role,
                kind,
                body,
            } => {
                let change = FileChange {
                    path: path_of(path),
                    role: if plugin_role {
                        Role::Plugin
                    } else {
                        Role::Config
                    },
                    kind: match kind {
                        Kind::Present => ChangeKind::Present,
                        Kind::Created => ChangeKind::Created,
                        Kind::Modified => ChangeKind::Modified,
                        Kind::Deleted => ChangeKind::Deleted,
                        Kind::Renamed { from } => ChangeKind::Renamed {
                            from: path_of(from),
                        },
                    },
                    body: body_of(body),
                };
                model.apply(&change, max_keys);
                c.handle_file_change(now, change);
            }
            Step::Advance { ms } => now = now.add_nanos(i64::from(ms) * 1_000_000),
            Step::Timeout => {
                if let Some((deadline, _)) = c.poll_timeout() {
                    if deadline <= now {
                        c.handle_timeout(now);
                    }
                }
            }
        }
        c.release_held();
        while let Some(event) = c.poll_event() {
            check_event(&event, &mut ids);
        }
        for p in c.plugins_detected() {
            assert!(
                model.plugins.contains(p),
                "plugin {p} was not reported present"
            );
        }
        for dir in CONF_DIRS {
            let active = c.active_config(dir);
            if let Some(a) = active {
                assert_eq!(dir_of(a), dir);
                assert_eq!(model.loads.get(a), Some(&true), "active {a} does not load");
            }
            if !run.small_limits {
                assert_eq!(active, model.first_loading(dir), "active config of {dir}");
            }
        }
    }
});
