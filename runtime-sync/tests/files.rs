//! The config and plugin-directory monitor on real inotify, real temp directories and the real
//! reference plugins of /usr/lib/cni, with its changes fed to the real core.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use proto::{
    Body, ChangeKind, Collector, Config, FileChange, Role, Severity, Timestamp, UnifiedEvent,
};
use tapio_cni_collector_lite::files::{FileMonitor, FileSettings};

const CONTAINERD_NET: &str = r#"{
  "cniVersion": "1.0.0",
  "name": "containerd-net",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/16"}]]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}"#;

/// A temp directory removed with everything in it when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tapio-files-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(dir)
    }

    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }

    /// Creates the config directory `net.d` and the plugin directory `bin` in it.
    fn conf_and_bin(&self) -> (PathBuf, PathBuf) {
        let (conf, bin) = (self.join("net.d"), self.join("bin"));
        fs::create_dir_all(&conf).unwrap();
        fs::create_dir_all(&bin).unwrap();
        (conf, bin)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn settings(conf: &Path, bin: &Path) -> FileSettings {
    FileSettings {
        conf_dirs: vec![conf.to_owned()],
        bin_dirs: vec![bin.to_owned()],
        ..FileSettings::default()
    }
}

/// Waits for the fd to become readable (up to 2 s), then drains until 150 ms pass quietly.
fn drain(m: &mut FileMonitor) -> Vec<FileChange> {
    let mut out = Vec::new();
    let mut quiet_for = Duration::from_secs(2);
    loop {
        let ready = {
            let fd = m.fd().expect("inotify is on");
            let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
            let ms = u16::try_from(quiet_for.as_millis()).unwrap();
            poll(&mut fds, PollTimeout::from(ms)).unwrap() > 0
        };
        if !ready {
            return out;
        }
        out.extend(m.on_readable());
        quiet_for = Duration::from_millis(150);
    }
}

/// (kind, file name) of each change.
fn shape(changes: &[FileChange]) -> Vec<(String, String)> {
    changes
        .iter()
        .map(|c| {
            let kind = match &c.kind {
                ChangeKind::Renamed { from } => format!("renamed from {}", name(from)),
                k => format!("{k:?}"),
            };
            (kind, name(&c.path).to_owned())
        })
        .collect()
}

fn name(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

fn bytes_of(c: &FileChange) -> &[u8] {
    match &c.body {
        Body::Bytes { bytes, .. } => bytes,
        other => panic!("{}: expected bytes, got {other:?}", c.path),
    }
}

struct Core {
    c: Collector,
    t: i64,
}

impl Core {
    fn new() -> Core {
        Core {
            c: Collector::new(Config::default()),
            t: 1_700_000_000_000_000_000,
        }
    }

    fn feed(&mut self, changes: Vec<FileChange>) -> Vec<UnifiedEvent> {
        for change in changes {
            self.t += 1_000_000;
            self.c
                .handle_file_change(Timestamp::from_unix_nanos(self.t), change);
        }
        std::iter::from_fn(|| self.c.poll_event()).collect()
    }
}

/// (id kind, file name, severity) of each event.
fn events(events: &[UnifiedEvent]) -> Vec<(String, String, Severity)> {
    events
        .iter()
        .map(|e| {
            let id = e.id.strip_prefix("cni_config_").unwrap();
            let kind = id.rsplitn(3, '_').nth(2).unwrap().to_owned();
            (
                kind,
                name(e.origin.file.as_deref().unwrap()).to_owned(),
                e.severity,
            )
        })
        .collect()
}

fn ev(kind: &str, file: &str, s: Severity) -> (String, String, Severity) {
    (kind.to_owned(), file.to_owned(), s)
}

fn s(kind: &str, file: &str) -> (String, String) {
    (kind.to_owned(), file.to_owned())
}

/// Drains what the monitor saw, checks its (kind, file name) shape, feeds it to the core and
/// checks the events' (id kind, file name, severity) shape; returns the events.
fn step(
    m: &mut FileMonitor,
    core: &mut Core,
    changes: &[(String, String)],
    events_wanted: &[(String, String, Severity)],
) -> Vec<UnifiedEvent> {
    let seen = drain(m);
    assert_eq!(shape(&seen), changes);
    let out = core.feed(seen);
    assert_eq!(events(&out), events_wanted);
    out
}

fn attr<'e>(e: &'e UnifiedEvent, k: &str) -> Option<&'e str> {
    e.attributes.get(k).map(String::as_str)
}

#[test]
fn create_modify_atomic_replace_rename_delete() {
    let tmp = TempDir::new("life");
    let (conf, bin) = tmp.conf_and_bin();
    let mut m = FileMonitor::new(settings(&conf, &bin)).unwrap();
    let mut core = Core::new();
    assert!(m.scan().is_empty());
    assert!(m.fallback().is_none());
    assert!(!m.needs_polling());

    // Create.
    fs::write(conf.join("10-net.conflist"), CONTAINERD_NET).unwrap();
    let changes = drain(&mut m);
    assert_eq!(shape(&changes), [s("Created", "10-net.conflist")]);
    assert_eq!(bytes_of(&changes[0]), CONTAINERD_NET.as_bytes());
    assert_eq!(changes[0].role, Role::Config);
    assert_eq!(
        events(&core.feed(changes)),
        [
            ev("CREATED", "10-net.conflist", Severity::Info),
            ev("ACTIVE", "10-net.conflist", Severity::Info)
        ]
    );

    // The same bytes written again: the monitor reports it (the mtime moved), the core drops it.
    fs::write(conf.join("10-net.conflist"), CONTAINERD_NET).unwrap();
    let changes = drain(&mut m);
    assert_eq!(shape(&changes), [s("Modified", "10-net.conflist")]);
    assert!(core.feed(changes).is_empty());

    // Modify in place: the range changes.
    let v2 = CONTAINERD_NET.replace("10.88.0.0/16", "10.99.0.0/16");
    fs::write(conf.join("10-net.conflist"), &v2).unwrap();
    let out = step(
        &mut m,
        &mut core,
        &[s("Modified", "10-net.conflist")],
        &[ev("MODIFIED", "10-net.conflist", Severity::Warning)],
    );
    assert_eq!(attr(&out[0], "ipam_ranges_before"), Some("10.88.0.0/16"));
    assert_eq!(attr(&out[0], "ipam_ranges"), Some("10.99.0.0/16"));

    // Atomic replace: write a temp name libcni ignores, rename it over the config.
    let v3 = v2.replace("\"portmap\"", "\"tuning\"");
    fs::write(conf.join(".10-net.conflist.tmp"), &v3).unwrap();
    fs::rename(
        conf.join(".10-net.conflist.tmp"),
        conf.join("10-net.conflist"),
    )
    .unwrap();
    let out = step(
        &mut m,
        &mut core,
        &[s("Modified", "10-net.conflist")],
        &[ev("MODIFIED", "10-net.conflist", Severity::Warning)],
    );
    assert_eq!(attr(&out[0], "plugins_added"), Some("tuning"));
    assert_eq!(attr(&out[0], "plugins_removed"), Some("portmap"));

    // Rename: the config moves, and with it the active config.
    fs::rename(conf.join("10-net.conflist"), conf.join("20-net.conflist")).unwrap();
    step(
        &mut m,
        &mut core,
        &[s("renamed from 10-net.conflist", "20-net.conflist")],
        &[
            ev("RENAMED", "20-net.conflist", Severity::Warning),
            ev("ACTIVE", "20-net.conflist", Severity::Warning),
        ],
    );

    // Rename over an existing config: the target is modified, the source is gone.
    fs::write(conf.join("30-other.conflist"), CONTAINERD_NET).unwrap();
    core.feed(drain(&mut m));
    fs::rename(conf.join("30-other.conflist"), conf.join("20-net.conflist")).unwrap();
    let out = step(
        &mut m,
        &mut core,
        &[
            s("Modified", "20-net.conflist"),
            s("Deleted", "30-other.conflist"),
        ],
        &[
            ev("MODIFIED", "20-net.conflist", Severity::Warning),
            ev("DELETED", "30-other.conflist", Severity::Info),
        ],
    );
    assert_eq!(attr(&out[0], "plugins_added"), Some("portmap"));

    // Delete: no loadable config is left.
    fs::remove_file(conf.join("20-net.conflist")).unwrap();
    step(
        &mut m,
        &mut core,
        &[s("Deleted", "20-net.conflist")],
        &[
            ev("DELETED", "20-net.conflist", Severity::Warning),
            ev("ACTIVE", "20-net.conflist", Severity::Error),
        ],
    );
    // Names libcni ignores are not reported at all.
    fs::write(conf.join("README"), "notes").unwrap();
    fs::write(conf.join("10-x.conflist.bak"), CONTAINERD_NET).unwrap();
    assert!(drain(&mut m).is_empty());
}

#[test]
fn invalid_json_keeps_the_last_good_version() {
    let tmp = TempDir::new("invalid");
    let (conf, bin) = tmp.conf_and_bin();
    fs::write(conf.join("10-net.conflist"), CONTAINERD_NET).unwrap();
    let mut m = FileMonitor::new(settings(&conf, &bin)).unwrap();
    let mut core = Core::new();
    let changes = m.scan();
    assert_eq!(shape(&changes), [s("Present", "10-net.conflist")]);
    core.feed(changes);

    fs::write(
        conf.join("10-net.conflist"),
        "{\"cniVersion\": \"1.0.0\", \"name\": ",
    )
    .unwrap();
    let out = core.feed(drain(&mut m));
    assert_eq!(
        events(&out),
        [
            ev("INVALID", "10-net.conflist", Severity::Error),
            ev("ACTIVE", "10-net.conflist", Severity::Error)
        ]
    );
    assert_eq!(
        attr(&out[0], "error"),
        Some("invalid JSON: EOF while parsing a value at line 1 column 32")
    );
    assert_eq!(attr(&out[0], "kept_state"), Some("true"));
    assert_eq!(
        out[0].cni.as_ref().unwrap().network_name.as_deref(),
        Some("containerd-net")
    );
}

#[test]
fn a_directory_removed_and_re_created_or_missing_at_start_is_picked_up() {
    let tmp = TempDir::new("dirs");
    let (conf, bin) = (tmp.join("etc/cni/net.d"), tmp.join("opt/cni/bin"));
    // Neither exists yet: their nearest ancestor is watched.
    let mut m = FileMonitor::new(settings(&conf, &bin)).unwrap();
    assert!(m.scan().is_empty());
    assert_eq!(m.watched().collect::<Vec<_>>(), [tmp.0.as_path()]);

    fs::create_dir_all(&conf).unwrap();
    fs::write(conf.join("10-net.conflist"), CONTAINERD_NET).unwrap();
    let changes = drain(&mut m);
    assert_eq!(shape(&changes), [s("Created", "10-net.conflist")]);
    assert_eq!(bytes_of(&changes[0]), CONTAINERD_NET.as_bytes());
    assert!(m.watched().any(|p| p == conf));

    // Removed with its content: every config in it is deleted.
    fs::remove_dir_all(tmp.join("etc")).unwrap();
    let changes = drain(&mut m);
    assert_eq!(shape(&changes), [s("Deleted", "10-net.conflist")]);
    assert!(!m.watched().any(|p| p == conf));

    // Re-created: watched again.
    fs::create_dir_all(&conf).unwrap();
    let changes = drain(&mut m);
    assert!(changes.is_empty(), "{changes:?}");
    fs::write(conf.join("05-net.conf"), r#"{"name":"n","type":"bridge"}"#).unwrap();
    let changes = drain(&mut m);
    assert_eq!(shape(&changes), [s("Created", "05-net.conf")]);
}

#[test]
fn queue_overflow_is_followed_by_a_rescan() {
    let tmp = TempDir::new("overflow");
    let (conf, bin) = tmp.conf_and_bin();
    fs::write(conf.join("10-net.conflist"), CONTAINERD_NET).unwrap();
    let mut m = FileMonitor::new(settings(&conf, &bin)).unwrap();
    assert_eq!(m.scan().len(), 1);

    let max: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Each create + delete of a file is two queued events (three with its close); a change of
    // the config hides in the flood, which is not drained until it is over.
    let v2 = CONTAINERD_NET.replace("10.88.0.0/16", "10.77.0.0/16");
    fs::write(conf.join("10-net.conflist"), &v2).unwrap();
    for i in 0..=max / 2 {
        let p = bin.join(format!(".flood-{i}"));
        fs::write(&p, b"").unwrap();
        fs::remove_file(&p).unwrap();
    }
    fs::write(conf.join("20-new.conf"), r#"{"name":"n","type":"bridge"}"#).unwrap();
    let changes = drain(&mut m);
    assert_eq!(m.stats().overflows, 1);
    assert_eq!(m.stats().scans, 2);
    assert_eq!(
        shape(&changes),
        [
            s("Modified", "10-net.conflist"),
            s("Created", "20-new.conf")
        ]
    );
    assert_eq!(bytes_of(&changes[0]), v2.as_bytes());
}

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned()
}

fn plugin_facts(c: &FileChange) -> &proto::PluginInfo {
    match &c.body {
        Body::Plugin(info) => info,
        other => panic!("{}: expected plugin facts, got {other:?}", c.path),
    }
}

#[test]
fn a_plugin_binary_replaced_is_hashed_and_asked_its_version() {
    let tmp = TempDir::new("plugins");
    let (conf, bin) = tmp.conf_and_bin();
    fs::write(conf.join("10-net.conflist"), CONTAINERD_NET).unwrap();
    let mut m = FileMonitor::new(settings(&conf, &bin)).unwrap();
    let mut core = Core::new();
    core.feed(m.scan());

    let started = Instant::now();
    fs::copy("/usr/lib/cni/bridge", bin.join("bridge")).unwrap();
    let changes = drain(&mut m);
    assert_eq!(shape(&changes), [s("Created", "bridge")]);
    assert_eq!(changes[0].role, Role::Plugin);
    let info = plugin_facts(&changes[0]);
    assert_eq!(
        info.sha256.as_deref(),
        Ok(sha256sum(&bin.join("bridge")).as_str())
    );
    assert_eq!(
        info.size,
        fs::metadata("/usr/lib/cni/bridge").unwrap().len()
    );
    assert_eq!(info.mode, 0o755);
    let version = info.version.clone().unwrap().unwrap();
    let version: serde_json::Value = serde_json::from_slice(&version).unwrap();
    assert!(version["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&"1.0.0".into()));
    eprintln!(
        "bridge copied, hashed and asked VERSION in {:?}",
        started.elapsed()
    );
    let out = core.feed(changes);
    assert_eq!(
        events(&out),
        [ev("PLUGIN_CREATED", "bridge", Severity::Info)]
    );
    assert_eq!(
        attr(&out[0], "used_by").unwrap(),
        conf.join("10-net.conflist").to_str().unwrap()
    );

    // Replaced by another binary through a rename over it (what `install` does).
    fs::copy("/usr/lib/cni/host-local", bin.join(".bridge.new")).unwrap();
    fs::rename(bin.join(".bridge.new"), bin.join("bridge")).unwrap();
    let changes = drain(&mut m);
    assert_eq!(shape(&changes), [s("Modified", "bridge")]);
    assert_eq!(
        plugin_facts(&changes[0]).sha256.as_deref(),
        Ok(sha256sum(Path::new("/usr/lib/cni/host-local")).as_str())
    );
    let out = core.feed(changes);
    assert_eq!(
        events(&out),
        [ev("PLUGIN_REPLACED", "bridge", Severity::Warning)]
    );
    assert_eq!(
        attr(&out[0], "sha256_before"),
        Some(sha256sum(Path::new("/usr/lib/cni/bridge")).as_str())
    );
    assert!(
        out[0].message.starts_with("CNI plugin bridge replaced in "),
        "{}",
        out[0].message
    );

    // Touched (mtime only): reported by the monitor, dropped by the core as unchanged.
    let f = fs::File::options()
        .write(true)
        .open(bin.join("bridge"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now()).unwrap();
    drop(f);
    let changes = drain(&mut m);
    assert_eq!(shape(&changes), [s("Modified", "bridge")]);
    assert!(core.feed(changes).is_empty());

    // Removed while the config uses it.
    fs::remove_file(bin.join("bridge")).unwrap();
    let out = core.feed(drain(&mut m));
    assert_eq!(
        events(&out),
        [ev("PLUGIN_DELETED", "bridge", Severity::Error)]
    );
    assert_eq!(m.stats().version_runs, 3);
}

#[test]
fn the_real_plugin_dir_at_start_up() {
    let tmp = TempDir::new("realbin");
    let mut m = FileMonitor::new(settings(&tmp.join("net.d"), Path::new("/usr/lib/cni"))).unwrap();
    let started = Instant::now();
    let changes = m.scan();
    let elapsed = started.elapsed();
    let mut names: Vec<String> = fs::read_dir("/usr/lib/cni")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        changes.iter().map(|c| name(&c.path)).collect::<Vec<_>>(),
        names
    );
    let mut core = Core::new();
    for c in &changes {
        assert_eq!(c.kind, ChangeKind::Present);
        let info = plugin_facts(c);
        assert_eq!(
            info.sha256.as_deref(),
            Ok(sha256sum(Path::new(&c.path)).as_str()),
            "{}",
            c.path
        );
        let answer = info.version.clone().unwrap().unwrap();
        assert!(
            String::from_utf8(answer)
                .unwrap()
                .contains("\"supportedVersions\""),
            "{}",
            c.path
        );
    }
    let bytes: u64 = changes.iter().map(|c| plugin_facts(c).size).sum();
    eprintln!(
        "start-up scan of /usr/lib/cni: {} plugins, {} MiB hashed, {} VERSION runs in {elapsed:?}",
        changes.len(),
        bytes >> 20,
        m.stats().version_runs
    );
    let out = core.feed(changes);
    assert_eq!(out.len(), names.len());
    assert!(out
        .iter()
        .all(|e| e.id.starts_with("cni_config_PLUGIN_PRESENT_")));
    // Nothing changed: the next scan neither hashes nor runs anything.
    assert!(m.scan().is_empty());
    assert_eq!(m.stats().version_runs, names.len() as u64);
}

#[test]
fn a_plugin_that_hangs_on_version_is_killed_in_time() {
    let tmp = TempDir::new("hang");
    let (conf, bin) = tmp.conf_and_bin();
    let script = bin.join("slow");
    fs::write(&script, "#!/bin/sh\n# ignores CNI_COMMAND\nsleep 30\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let mut m = FileMonitor::new(FileSettings {
        version_timeout: Duration::from_millis(200),
        ..settings(&conf, &bin)
    })
    .unwrap();
    let started = Instant::now();
    let changes = m.scan();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        plugin_facts(&changes[0]).version,
        Some(Err("no answer within 200 ms".to_owned()))
    );
    assert_eq!(m.stats().version_failures, 1);
}

#[test]
fn an_executable_that_is_no_cni_plugin_is_not_run() {
    let tmp = TempDir::new("notcni");
    let (conf, bin) = tmp.conf_and_bin();
    let marker = tmp.join("ran");
    let script = bin.join("reboot");
    fs::write(&script, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let mut m = FileMonitor::new(settings(&conf, &bin)).unwrap();
    let changes = m.scan();
    assert_eq!(
        plugin_facts(&changes[0]).version,
        Some(Err(
            "not run: the file never mentions CNI_COMMAND, so it is no CNI plugin".to_owned()
        ))
    );
    assert!(plugin_facts(&changes[0]).sha256.is_ok());
    assert!(!marker.exists());
    assert_eq!(m.stats().version_runs, 0);
}

#[test]
fn bad_files_are_clear_changes_not_hangs() {
    let tmp = TempDir::new("bad");
    let (conf, bin) = tmp.conf_and_bin();
    let fifo = conf.join("10-fifo.conf");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    symlink(conf.join("nowhere.conf"), conf.join("11-dangling.conf")).unwrap();
    symlink(conf.join("13-loop.conf"), conf.join("12-loop.conf")).unwrap();
    symlink(conf.join("12-loop.conf"), conf.join("13-loop.conf")).unwrap();
    fs::create_dir(conf.join("14-dir.conf")).unwrap();
    fs::copy("/usr/lib/cni/loopback", conf.join("15-binary.conf")).unwrap();
    fs::write(conf.join("16-huge.conflist"), vec![b' '; 2 << 20]).unwrap();
    let mut m = FileMonitor::new(settings(&conf, &bin)).unwrap();
    let mut core = Core::new();
    let changes = m.scan();
    let bodies: Vec<(String, String)> = changes
        .iter()
        .map(|c| {
            let body = match &c.body {
                Body::Unreadable(why) => why.clone(),
                Body::Bytes { bytes, cut } => format!("{} bytes, cut {cut}", bytes.len()),
                other => format!("{other:?}"),
            };
            (name(&c.path).to_owned(), body)
        })
        .collect();
    let dangling = format!(
        "dangling symlink to {}",
        conf.join("nowhere.conf").display()
    );
    let binary_len = fs::metadata("/usr/lib/cni/loopback")
        .unwrap()
        .len()
        .min(1 << 20);
    assert_eq!(
        bodies,
        [
            s("10-fifo.conf", "a FIFO, not a regular file"),
            s("11-dangling.conf", &dangling),
            s(
                "12-loop.conf",
                "Too many levels of symbolic links (os error 40)"
            ),
            s(
                "13-loop.conf",
                "Too many levels of symbolic links (os error 40)"
            ),
            s("14-dir.conf", "a directory, not a file"),
            s(
                "15-binary.conf",
                &format!("{binary_len} bytes, cut {}", binary_len == 1 << 20)
            ),
            s("16-huge.conflist", "1048576 bytes, cut true"),
        ]
    );
    let out = core.feed(changes);
    let errors: Vec<(&str, &str)> = out
        .iter()
        .filter(|e| e.id.starts_with("cni_config_INVALID"))
        .map(|e| {
            (
                name(e.origin.file.as_deref().unwrap()),
                attr(e, "error").unwrap(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 7);
    assert_eq!(
        errors[0],
        ("10-fifo.conf", "cannot be read: a FIFO, not a regular file")
    );
    assert_eq!(
        errors[6],
        (
            "16-huge.conflist",
            "larger than 1048576 bytes, only that much was read"
        )
    );
    assert_eq!(
        errors[5],
        (
            "15-binary.conf",
            "binary content (not UTF-8 text), not a JSON config"
        )
    );
    // Nothing changed: a second scan reads nothing and reports nothing.
    let reads = m.stats().reads;
    assert!(m.scan().is_empty());
    assert_eq!(m.stats().reads, reads);

    // A file that vanishes between its event and the read is a counted skip.
    fs::write(conf.join("20-brief.conf"), "{}").unwrap();
    fs::remove_file(conf.join("20-brief.conf")).unwrap();
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.stats().vanished, 1);
}

#[test]
fn a_configmap_style_symlink_swap_is_a_modification() {
    // Kubernetes mounts a ConfigMap as `name -> ..data/name`, `..data -> ..<timestamp>`, and
    // updates it by renaming a new `..data` over the old one.
    let tmp = TempDir::new("configmap");
    let (conf, bin) = (tmp.join("net.d"), tmp.join("bin"));
    fs::create_dir_all(conf.join("..2024_01")).unwrap();
    fs::create_dir_all(&bin).unwrap();
    fs::write(conf.join("..2024_01/10-net.conflist"), CONTAINERD_NET).unwrap();
    symlink("..2024_01", conf.join("..data")).unwrap();
    symlink("..data/10-net.conflist", conf.join("10-net.conflist")).unwrap();
    let mut m = FileMonitor::new(settings(&conf, &bin)).unwrap();
    let changes = m.scan();
    assert_eq!(shape(&changes), [s("Present", "10-net.conflist")]);
    assert_eq!(
        changes[0].path,
        conf.join("10-net.conflist").to_str().unwrap()
    );

    let v2 = CONTAINERD_NET.replace("cni0", "cni1");
    fs::create_dir_all(conf.join("..2024_02")).unwrap();
    fs::write(conf.join("..2024_02/10-net.conflist"), &v2).unwrap();
    symlink("..2024_02", conf.join("..data_tmp")).unwrap();
    fs::rename(conf.join("..data_tmp"), conf.join("..data")).unwrap();
    fs::remove_dir_all(conf.join("..2024_01")).unwrap();
    let changes = drain(&mut m);
    assert_eq!(shape(&changes), [s("Modified", "10-net.conflist")]);
    assert_eq!(bytes_of(&changes[0]), v2.as_bytes());
}

#[test]
fn stat_polling_without_inotify() {
    let tmp = TempDir::new("poll");
    let (conf, bin) = tmp.conf_and_bin();
    let mut m = FileMonitor::new(FileSettings {
        use_inotify: false,
        ..settings(&conf, &bin)
    })
    .unwrap();
    assert!(m.fd().is_none());
    assert!(m.needs_polling());
    assert_eq!(m.fallback(), Some("use_inotify is false"));
    assert!(m.scan().is_empty());
    fs::write(conf.join("10-net.conflist"), CONTAINERD_NET).unwrap();
    assert_eq!(shape(&m.scan()), [s("Created", "10-net.conflist")]);
    assert!(m.scan().is_empty());
    fs::write(
        conf.join("10-net.conflist"),
        CONTAINERD_NET.replace("cni0", "br0"),
    )
    .unwrap();
    assert_eq!(shape(&m.scan()), [s("Modified", "10-net.conflist")]);
    fs::remove_file(conf.join("10-net.conflist")).unwrap();
    assert_eq!(shape(&m.scan()), [s("Deleted", "10-net.conflist")]);
    assert!(m.on_readable().is_empty());
}

/// Run by [`permission_denied_as_an_unprivileged_user`] as uid 65534: scans the directory in
/// `TAPIO_FILES_TEST_DIR` and prints each change as `name<TAB>body`.
#[test]
#[ignore = "run as another user by permission_denied_as_an_unprivileged_user"]
fn scan_as_child() {
    let dir = PathBuf::from(std::env::var("TAPIO_FILES_TEST_DIR").unwrap());
    let mut m = FileMonitor::new(FileSettings {
        conf_dirs: vec![dir.join("net.d"), dir.join("locked")],
        ..settings(&dir.join("net.d"), &dir.join("bin"))
    })
    .unwrap();
    for c in m.scan() {
        let body = match &c.body {
            Body::Unreadable(why) => format!("unreadable: {why}"),
            Body::Bytes { bytes, .. } => format!("{} bytes", bytes.len()),
            other => format!("{other:?}"),
        };
        println!("CHANGE\t{}\t{body}", name(&c.path));
    }
    let st = m.stats();
    println!(
        "CHANGE\tstats\tunreadable {} watch_errors {} needs_polling {}",
        st.unreadable,
        st.watch_errors,
        m.needs_polling()
    );
}

#[test]
fn permission_denied_as_an_unprivileged_user() {
    // Root reads any file, so the monitor runs as nobody through setpriv: what this proves is
    // that a config the collector's user cannot read is reported as unreadable (with the OS's
    // reason), not skipped silently and not fatal.
    let tmp = TempDir::new("perm");
    let (conf, bin) = tmp.conf_and_bin();
    for d in [&conf, &bin] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::write(conf.join("10-open.conflist"), CONTAINERD_NET).unwrap();
    fs::set_permissions(
        conf.join("10-open.conflist"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    fs::write(conf.join("20-secret.conflist"), CONTAINERD_NET).unwrap();
    fs::set_permissions(
        conf.join("20-secret.conflist"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // A directory the user cannot list: nothing in it is reported (not as deleted either), and
    // it cannot be watched.
    let locked = tmp.join("locked");
    fs::create_dir_all(&locked).unwrap();
    fs::write(locked.join("10-hidden.conflist"), CONTAINERD_NET).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
    // The test binary may sit under a directory nobody cannot enter (a checkout in /root):
    // nobody runs a link or copy of it in the temp dir.
    let exe = tmp.join("files-test");
    let current = std::env::current_exe().unwrap();
    if fs::hard_link(&current, &exe).is_err() {
        fs::copy(&current, &exe).unwrap();
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args([
            "--exact",
            "scan_as_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TAPIO_FILES_TEST_DIR", &tmp.0)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // libtest prints the test's name without a line end before the test's own output.
    let lines: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once("CHANGE\t").map(|(_, c)| c))
        .collect();
    assert_eq!(
        lines,
        [
            format!("10-open.conflist\t{} bytes", CONTAINERD_NET.len()),
            "20-secret.conflist\tunreadable: Permission denied (os error 13)".to_owned(),
            "stats\tunreadable 2 watch_errors 1 needs_polling true".to_owned(),
        ]
    );
}

#[test]
fn a_config_dir_that_is_a_symlink_retargeted_and_a_move_between_dirs() {
    let tmp = TempDir::new("retarget");
    let bin = tmp.join("bin");
    fs::create_dir_all(tmp.join("a")).unwrap();
    fs::create_dir_all(tmp.join("b")).unwrap();
    fs::create_dir_all(tmp.join("conf.d")).unwrap();
    fs::create_dir_all(&bin).unwrap();
    fs::write(tmp.join("a/10-net.conflist"), CONTAINERD_NET).unwrap();
    fs::write(
        tmp.join("a/20-old.conf"),
        r#"{"name":"old","type":"bridge"}"#,
    )
    .unwrap();
    let v2 = CONTAINERD_NET.replace("cni0", "cni9");
    fs::write(tmp.join("b/10-net.conflist"), &v2).unwrap();
    fs::write(tmp.join("b/30-new.conf"), r#"{"name":"new","type":"ptp"}"#).unwrap();
    symlink(tmp.join("a"), tmp.join("net.d")).unwrap();
    let mut m = FileMonitor::new(FileSettings {
        conf_dirs: vec![tmp.join("net.d"), tmp.join("conf.d")],
        ..settings(&tmp.join("net.d"), &bin)
    })
    .unwrap();
    assert_eq!(
        shape(&m.scan()),
        [s("Present", "10-net.conflist"), s("Present", "20-old.conf")]
    );

    // The directory symlink is swapped atomically to another directory.
    symlink(tmp.join("b"), tmp.join("net.d.tmp")).unwrap();
    fs::rename(tmp.join("net.d.tmp"), tmp.join("net.d")).unwrap();
    let changes = drain(&mut m);
    assert_eq!(
        shape(&changes),
        [
            s("Deleted", "20-old.conf"),
            s("Modified", "10-net.conflist"),
            s("Created", "30-new.conf")
        ]
    );
    assert_eq!(bytes_of(&changes[1]), v2.as_bytes());
    // Only the new target is watched: a write in the old one is not reported.
    fs::write(
        tmp.join("a/40-stale.conf"),
        r#"{"name":"x","type":"bridge"}"#,
    )
    .unwrap();
    assert!(drain(&mut m).is_empty());

    // Moved from one watched config dir to another: a rename across directories.
    fs::rename(
        tmp.join("net.d/30-new.conf"),
        tmp.join("conf.d/30-new.conf"),
    )
    .unwrap();
    let changes = drain(&mut m);
    assert_eq!(
        shape(&changes),
        [s("renamed from 30-new.conf", "30-new.conf")]
    );
    let ChangeKind::Renamed { from } = &changes[0].kind else {
        unreachable!()
    };
    assert_eq!(from, tmp.join("net.d/30-new.conf").to_str().unwrap());
    assert_eq!(
        changes[0].path,
        tmp.join("conf.d/30-new.conf").to_str().unwrap()
    );
}

#[test]
fn the_monitors_own_version_probe_is_seen_by_ebpf_and_dropped_by_the_core() {
    // Real kernel probes on a temp plugin dir: the monitor's VERSION run of a new plugin is a
    // plugin execution like any other to the kernel; the core must not report it.
    assert!(
        nix::unistd::geteuid().is_root(),
        "the eBPF tests run as root"
    );
    let tmp = TempDir::new("ebpf");
    let (conf, bin) = tmp.conf_and_bin();
    let mut probes = tapio_cni_bpf::Probes::load(&tapio_cni_bpf::Options {
        plugin_dirs: vec![bin.clone()],
        ..tapio_cni_bpf::Options::default()
    })
    .unwrap();
    fs::copy("/usr/lib/cni/bridge", bin.join("bridge")).unwrap();
    let mut m = FileMonitor::new(settings(&conf, &bin)).unwrap();
    let changes = m.scan();
    assert_eq!(m.stats().version_runs, 1);
    assert!(plugin_facts(&changes[0]).version.as_ref().unwrap().is_ok());

    let mut records: Vec<Vec<u8>> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let exited = |r: &Vec<u8>| {
        proto::bpf::record::Record::parse(r)
            .is_ok_and(|r| r.kind() == proto::bpf::record::Kind::Exit)
    };
    while Instant::now() < deadline && !records.iter().any(exited) {
        probes
            .poll(Duration::from_millis(100), |r| records.push(r.to_vec()))
            .unwrap();
    }
    let clock = tapio_cni_collector_lite::daemon::sample_clock().unwrap();
    let now = Timestamp::from_unix_nanos(1_700_000_000_000_000_000);
    let run = |own_pid: Option<u32>| {
        let mut c = Collector::new(Config {
            own_pid,
            ..Config::default()
        });
        for r in &records {
            c.handle_bpf_record(now, clock, r).unwrap();
        }
        let events: Vec<UnifiedEvent> = std::iter::from_fn(|| c.poll_event()).collect();
        (events, c.stats().own_executions)
    };
    let (events, dropped) = run(Some(std::process::id()));
    assert_eq!((events.len(), dropped), (0, 1), "{events:?}");
    let (events, dropped) = run(None);
    assert_eq!(dropped, 0);
    assert_eq!(events.len(), 1, "{events:?}");
    let cni = events[0].cni.as_ref().unwrap();
    assert_eq!(cni.operation, Some(proto::Operation::Version));
    assert_eq!(cni.plugin_type.as_deref(), Some("bridge"));
    assert_eq!(
        events[0].system.as_ref().unwrap().ppid,
        Some(std::process::id())
    );
}

#[test]
fn cilium_taking_over_from_calico() {
    // What the Cilium agent does on a node that ran Calico: it writes its own config and moves
    // the others aside under a name libcni does not load.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/conf");
    let tmp = TempDir::new("cilium");
    let (conf, bin) = tmp.conf_and_bin();
    fs::copy(
        fixtures.join("10-calico.conflist"),
        conf.join("10-calico.conflist"),
    )
    .unwrap();
    let mut m = FileMonitor::new(settings(&conf, &bin)).unwrap();
    let mut core = Core::new();
    assert_eq!(
        events(&core.feed(m.scan())),
        [
            ev("PRESENT", "10-calico.conflist", Severity::Info),
            ev("ACTIVE", "10-calico.conflist", Severity::Info)
        ]
    );

    fs::copy(
        fixtures.join("05-cilium.conflist"),
        conf.join("05-cilium.conflist"),
    )
    .unwrap();
    fs::rename(
        conf.join("10-calico.conflist"),
        conf.join("10-calico.conflist.cilium_bak"),
    )
    .unwrap();
    let out = step(
        &mut m,
        &mut core,
        &[
            s("Created", "05-cilium.conflist"),
            s("Deleted", "10-calico.conflist"),
        ],
        &[
            ev("CREATED", "05-cilium.conflist", Severity::Info),
            ev("ACTIVE", "05-cilium.conflist", Severity::Warning),
            ev("DELETED", "10-calico.conflist", Severity::Info),
        ],
    );
    assert_eq!(
        out[1].message,
        format!(
            "Active CNI config of {} is now 05-cilium.conflist (network cilium, cniVersion 0.3.1, plugin cilium-cni), was 10-calico.conflist",
            conf.display()
        )
    );
}

#[test]
fn a_file_is_read_once_written_and_links_when_made() {
    let tmp = TempDir::new("writes");
    let (conf, bin) = tmp.conf_and_bin();
    let mut m = FileMonitor::new(settings(&conf, &bin)).unwrap();
    assert!(m.scan().is_empty());

    // Half written and still open: not read (it would be invalid JSON).
    let (first, rest) = CONTAINERD_NET.split_at(100);
    let mut f = fs::File::create(conf.join("10-net.conflist")).unwrap();
    std::io::Write::write_all(&mut f, first.as_bytes()).unwrap();
    assert!(drain(&mut m).is_empty());
    assert_eq!(m.stats().reads, 0);
    // Closed after the rest: read once, whole.
    std::io::Write::write_all(&mut f, rest.as_bytes()).unwrap();
    drop(f);
    let changes = drain(&mut m);
    assert_eq!(shape(&changes), [s("Created", "10-net.conflist")]);
    assert_eq!(bytes_of(&changes[0]), CONTAINERD_NET.as_bytes());
    assert_eq!(m.stats().reads, 1);

    // A symlink and a hard link are made without any write: seen at their creation.
    symlink(conf.join("10-net.conflist"), conf.join("20-sym.conflist")).unwrap();
    fs::hard_link(conf.join("10-net.conflist"), conf.join("30-hard.conflist")).unwrap();
    let changes = drain(&mut m);
    assert_eq!(
        shape(&changes),
        [
            s("Created", "20-sym.conflist"),
            s("Created", "30-hard.conflist")
        ]
    );
    assert!(changes
        .iter()
        .all(|c| bytes_of(c) == CONTAINERD_NET.as_bytes()));
}

#[test]
fn one_call_reads_a_bounded_number_of_bytes() {
    let tmp = TempDir::new("budget");
    let (conf, bin) = tmp.conf_and_bin();
    for i in 0..5 {
        fs::write(conf.join(format!("{i}0-net.conflist")), CONTAINERD_NET).unwrap();
    }
    let len = CONTAINERD_NET.len() as u64;
    let mut m = FileMonitor::new(FileSettings {
        max_bytes_per_call: 2 * len + 1,
        ..settings(&conf, &bin)
    })
    .unwrap();
    // Two files per call; the rest wait, and the monitor asks to be scanned again.
    let mut seen = Vec::new();
    for expected in [2, 2, 1] {
        let changes = m.scan();
        assert_eq!(changes.len(), expected);
        seen.extend(changes.iter().map(|c| name(&c.path).to_owned()));
        assert_eq!(m.needs_polling(), expected == 2);
    }
    assert_eq!(
        seen,
        [
            "00-net.conflist",
            "10-net.conflist",
            "20-net.conflist",
            "30-net.conflist",
            "40-net.conflist"
        ]
    );
    assert_eq!(m.stats().deferred, 3 + 1);
    assert!(m.scan().is_empty());
}
