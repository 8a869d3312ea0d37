//! CNI config files and plugin binaries: what the runtime saw on disk → `config_change` events.
//!
//! The runtime watches the config and plugin directories and reports each change as a
//! [`FileChange`] (with the bytes it read, or a plugin binary's size, mtime, hash and `VERSION`
//! answer). [`Files`] keeps the last good state of every file (bounded), drops changes that do
//! not change content, diffs a new version against the last good one, and tracks the *active*
//! config of each directory: the one a container runtime would load, libcni's lexicographically
//! first file among `.conf`, `.conflist` and `.json` that loads.

pub mod diff;
pub mod parse;

use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::Hasher;

use crate::event::{
    Category, CniError, CniInfo, EventType, Monitor, NetworkInfo, Origin, Severity, UnifiedEvent,
};
use crate::text::family_of_type;
use crate::time::Timestamp;
use diff::{diff, Diff};
use parse::{kind_of_name, NetConf};

/// What replaces a secret-looking value (DESIGN.md §5).
pub const REDACTED: &str = "<redacted>";

/// A file the runtime saw change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Absolute path of the file in its watched directory (symlinks not resolved: this is the
    /// name the container runtime loads).
    pub path: String,
    pub role: Role,
    pub kind: ChangeKind,
    pub body: Body,
}

/// Which watched directory the file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// A network config directory (`cni_conf_path` and its companions).
    Config,
    /// A plugin binary directory (`cni_bin_path`).
    Plugin,
}

/// What happened to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeKind {
    /// Found by a scan (start-up, rescan after an inotify overflow, stat polling) with no
    /// earlier report from this runtime.
    Present,
    Created,
    Modified,
    Deleted,
    /// Renamed within the watched directories; a rename over an existing file is that file's
    /// `Modified` instead.
    Renamed {
        from: String,
    },
}

/// What the runtime read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// Nothing (a deleted file).
    None,
    /// A config file's bytes, at most the runtime's read limit; `cut` when the file is longer.
    Bytes { bytes: Vec<u8>, cut: bool },
    /// A plugin binary.
    Plugin(PluginInfo),
    /// The file exists but could not be read (permission, not a regular file, a dangling or
    /// looping symlink): the reason, for the error event.
    Unreadable(String),
}

/// What the runtime learnt of a plugin binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub size: u64,
    pub mtime: Timestamp,
    /// Permission bits (`0o755`).
    pub mode: u32,
    /// Hex SHA-256 of the content, or why it could not be computed.
    pub sha256: Result<String, String>,
    /// The plugin's stdout for `CNI_COMMAND=VERSION`, or why there is none (not executable,
    /// timed out, failed); `None` when the runtime did not ask.
    pub version: Option<Result<Vec<u8>, String>>,
}

/// Counters of the file input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Changes handed to the collector.
    pub changes: u64,
    /// Changes whose content equals the last seen: no event.
    pub unchanged: u64,
    /// Config versions that did not parse (the previous good state is kept).
    pub invalid: u64,
    /// Files that could not be read.
    pub unreadable: u64,
    /// Files not tracked because as many were tracked already (the limits of [`Limits`]).
    pub untracked: u64,
    /// Config-directory names libcni does not load (not `.conf`/`.conflist`/`.json`), ignored.
    pub ignored_names: u64,
}

/// What is known of one config file.
#[derive(Debug, Clone)]
struct ConfState {
    /// Hash of the last content seen (or of the last read error), for deduplication.
    seen: u64,
    /// The last version that parsed.
    good: Option<NetConf>,
    /// The current content loads (libcni would consider it).
    valid: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct PluginState {
    size: u64,
    sha256: Result<String, String>,
    versions: Option<Result<String, String>>,
}

/// The file-input state machine inside the [`Collector`](crate::Collector).
#[derive(Debug, Default)]
pub struct Files {
    confs: BTreeMap<String, ConfState>,
    plugins: BTreeMap<String, PluginState>,
    /// Directory → its active config.
    active: BTreeMap<String, String>,
}

/// Limits of the file input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Config files tracked at once.
    pub max_configs: usize,
    /// Plugin binaries tracked at once.
    pub max_plugins: usize,
    /// Flattened keys kept of one config for the key-by-key diff.
    pub max_leaves: usize,
}

/// Builds events with the collector's running sequence number.
struct Out<'a> {
    now: Timestamp,
    seq: &'a mut u64,
    node_name: Option<&'a str>,
    events: Vec<UnifiedEvent>,
}

impl Files {
    /// Handles one change; returns the events it causes, in order.
    pub fn handle(
        &mut self,
        now: Timestamp,
        change: FileChange,
        limits: Limits,
        seq: &mut u64,
        node_name: Option<&str>,
        stats: &mut Stats,
    ) -> Vec<UnifiedEvent> {
        stats.changes += 1;
        let mut out = Out {
            now,
            seq,
            node_name,
            events: Vec::new(),
        };
        match change.role {
            Role::Config => self.handle_conf(change, limits, stats, &mut out),
            Role::Plugin => self.handle_plugin(change, limits, stats, &mut out),
        }
        out.events
    }

    /// The active config of `dir`, if any file there loads.
    pub fn active(&self, dir: &str) -> Option<&str> {
        self.active.get(dir).map(String::as_str)
    }

    /// Paths of the plugin binaries present now.
    pub fn plugins(&self) -> impl Iterator<Item = &str> {
        self.plugins.keys().map(String::as_str)
    }

    fn handle_conf(
        &mut self,
        change: FileChange,
        limits: Limits,
        stats: &mut Stats,
        out: &mut Out,
    ) {
        let FileChange {
            path, kind, body, ..
        } = change;
        let Some(file_kind) = kind_of_name(file_name(&path)) else {
            stats.ignored_names += 1;
            // Renamed to a name libcni does not load (`x.conflist` → `x.conflist.disabled`):
            // the config is gone as far as the container runtime is concerned.
            if let ChangeKind::Renamed { from } = kind {
                self.conf_deleted(&from, out);
                self.update_active(dir_of(&from), out);
            }
            return;
        };
        if matches!(kind, ChangeKind::Deleted) {
            self.conf_deleted(&path, out);
            self.update_active(dir_of(&path), out);
            return;
        }
        let from = match &kind {
            ChangeKind::Renamed { from } => Some(from.clone()),
            _ => None,
        };
        let was_active =
            self.is_active(&path) || from.as_deref().is_some_and(|f| self.is_active(f));
        let seen = match &body {
            Body::Bytes { bytes, cut } => hash(bytes, *cut),
            Body::Unreadable(why) => hash(why.as_bytes(), true) ^ 1,
            Body::None | Body::Plugin(_) => hash(b"", true) ^ 2,
        };
        // The same content as last time: nothing to parse, nothing to say.
        if from.is_none() && self.confs.get(&path).is_some_and(|p| p.seen == seen) {
            stats.unchanged += 1;
            return;
        }
        // A rename carries the old file's state to its new name, so its content is compared
        // with what the old name held; from an untracked name (an editor's temporary file) it
        // replaces what the new name held, which must not survive a refusal to track.
        let previous = from
            .as_deref()
            .and_then(|f| self.confs.remove(f))
            .or_else(|| self.confs.remove(&path));
        if previous.is_none() && self.confs.len() >= limits.max_configs {
            stats.untracked += 1;
            return;
        }
        let kind = settled_kind(kind, previous.is_some());
        let parsed = match body {
            Body::Bytes { bytes, cut } => {
                parse::parse(file_kind, &bytes, cut, limits.max_leaves).map_err(|e| e.to_string())
            }
            Body::Unreadable(why) => {
                stats.unreadable += 1;
                Err(format!("cannot be read: {why}"))
            }
            Body::None | Body::Plugin(_) => Err("no content was read".to_owned()),
        };
        let good_before = previous.and_then(|p| p.good);
        let state = ConfState {
            seen,
            valid: parsed.is_ok(),
            good: parsed
                .as_ref()
                .ok()
                .cloned()
                .or_else(|| good_before.clone()),
        };
        self.confs.insert(path.clone(), state);
        match parsed {
            Ok(new) => out.conf_changed(&path, &kind, good_before.as_ref(), &new, was_active),
            Err(error) => {
                stats.invalid += 1;
                out.conf_invalid(&path, &kind, good_before.as_ref(), &error);
            }
        }
        if let Some(from) = from.as_deref().filter(|f| dir_of(f) != dir_of(&path)) {
            self.update_active(dir_of(from), out);
        }
        self.update_active(dir_of(&path), out);
    }

    fn conf_deleted(&mut self, path: &str, out: &mut Out) {
        let Some(state) = self.confs.remove(path) else {
            return;
        };
        let was_active = self.is_active(path);
        out.conf_deleted(path, state.good.as_ref(), was_active);
    }

    fn is_active(&self, path: &str) -> bool {
        self.active.get(dir_of(path)).is_some_and(|a| a == path)
    }

    /// Recomputes the active config of `dir` and reports a change.
    fn update_active(&mut self, dir: &str, out: &mut Out) {
        let prefix = format!("{dir}/");
        let now_active = self
            .confs
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .find(|(p, s)| s.valid && dir_of(p) == dir)
            .map(|(p, _)| p.clone());
        let before = self.active.get(dir).cloned();
        if now_active == before {
            return;
        }
        match &now_active {
            Some(p) => self.active.insert(dir.to_owned(), p.clone()),
            None => self.active.remove(dir),
        };
        let conf = now_active
            .as_ref()
            .and_then(|p| self.confs.get(p))
            .and_then(|s| s.good.as_ref());
        out.active_changed(dir, before.as_deref(), now_active.as_deref(), conf);
    }

    fn handle_plugin(
        &mut self,
        change: FileChange,
        limits: Limits,
        stats: &mut Stats,
        out: &mut Out,
    ) {
        let FileChange {
            path, kind, body, ..
        } = change;
        if matches!(kind, ChangeKind::Deleted) {
            if self.plugins.remove(&path).is_some() {
                out.plugin_deleted(&path, self.users_of(&path));
            }
            return;
        }
        let from = match &kind {
            ChangeKind::Renamed { from } => Some(from.as_str()),
            _ => None,
        };
        let previous = self.plugins.remove(from.unwrap_or(&path));
        if previous.is_none() && self.plugins.len() >= limits.max_plugins {
            stats.untracked += 1;
            return;
        }
        let kind = settled_kind(kind.clone(), previous.is_some());
        let info = match body {
            Body::Plugin(info) => info,
            Body::Unreadable(why) => {
                stats.unreadable += 1;
                out.plugin_unreadable(&path, &why);
                return;
            }
            Body::None | Body::Bytes { .. } => {
                stats.unreadable += 1;
                out.plugin_unreadable(&path, "no binary facts were read");
                return;
            }
        };
        let state = PluginState {
            size: info.size,
            sha256: info.sha256.clone(),
            versions: info.version.as_ref().map(|v| {
                v.as_ref()
                    .map(|stdout| supported_versions(stdout))
                    .map_err(Clone::clone)
            }),
        };
        let unchanged = previous.as_ref().is_some_and(|p| {
            p.sha256 == state.sha256 && (state.versions.is_none() || p.versions == state.versions)
        });
        // A VERSION answer not asked for this time (the binary's size and mtime did not change)
        // is still the one from before.
        let state = match (&previous, state.versions.is_none()) {
            (Some(p), true) => PluginState {
                versions: p.versions.clone(),
                ..state
            },
            _ => state,
        };
        self.plugins.insert(path.clone(), state.clone());
        if unchanged && from.is_none() {
            stats.unchanged += 1;
            return;
        }
        let users = self.users_of(&path);
        out.plugin_changed(&path, &kind, previous.as_ref(), &state, &info, users);
    }

    /// Valid configs whose chain uses the plugin at `path` (by binary name).
    fn users_of(&self, path: &str) -> Vec<String> {
        let name = file_name(path);
        self.confs
            .iter()
            .filter(|(_, s)| s.valid)
            .filter(|(_, s)| {
                s.good.as_ref().is_some_and(|g| {
                    g.plugins.iter().any(|p| {
                        p.plugin_type == name
                            || p.ipam_type.as_deref() == Some(name)
                            || p.delegates.iter().any(|d| d.split('+').any(|t| t == name))
                    })
                })
            })
            .map(|(p, _)| p.clone())
            .collect()
    }
}

/// `supportedVersions` of a VERSION answer, joined; the answer itself when it is not one.
fn supported_versions(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout);
    let text = text.trim();
    let parsed: Option<Vec<String>> = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.get("supportedVersions")?
                .as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect()
        });
    match parsed {
        Some(vs) => vs.join(","),
        None => crate::text::bounded(text, 256),
    }
}

fn hash(bytes: &[u8], cut: bool) -> u64 {
    // SipHash with fixed keys: deterministic within and across runs of one build.
    let mut h = DefaultHasher::new();
    h.write(bytes);
    h.write_u8(u8::from(cut));
    h.finish()
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, f)| f)
}

fn kind_word(kind: &ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Present => "found",
        ChangeKind::Created => "created",
        ChangeKind::Modified => "modified",
        ChangeKind::Deleted => "deleted",
        ChangeKind::Renamed { .. } => "renamed",
    }
}

fn summary(c: &NetConf) -> String {
    let mut parts = Vec::new();
    if let Some(n) = &c.name {
        parts.push(format!("network {n}"));
    }
    if let Some(v) = &c.cni_version {
        parts.push(format!("cniVersion {v}"));
    }
    let types = c.types();
    parts.push(match types.len() {
        1 => format!("plugin {}", types[0]),
        _ => format!("plugins {}", types.join(" → ")),
    });
    parts.join(", ")
}

/// The parsed facts of a config, as event attributes.
fn conf_attributes(c: &NetConf, attrs: &mut BTreeMap<Cow<'static, str>, String>) {
    let mut put = |k: &'static str, v: String| {
        if !v.is_empty() {
            attrs.insert(k.into(), v);
        }
    };
    put("plugins", c.types().join(","));
    put("ipam_ranges", c.ranges().join(","));
    let first = |f: &dyn Fn(&parse::PluginConf) -> Option<String>| {
        c.plugins.iter().find_map(f).unwrap_or_default()
    };
    put("ipam_type", first(&|p| p.ipam_type.clone()));
    put("bridge", first(&|p| p.bridge.clone()));
    put(
        "is_gateway",
        first(&|p| p.is_gateway.map(|g| g.to_string())),
    );
    put("mtu", first(&|p| p.mtu.clone()));
    let routes: Vec<String> = c.plugins.iter().flat_map(|p| p.routes.clone()).collect();
    put("ipam_routes", routes.join(","));
    let caps: Vec<String> = c
        .plugins
        .iter()
        .flat_map(|p| p.capabilities.clone())
        .collect();
    put("capabilities", caps.join(","));
    let delegates: Vec<String> = c.plugins.iter().flat_map(|p| p.delegates.clone()).collect();
    put("delegates", delegates.join(","));
    put(
        "config_kind",
        if c.is_list { "conflist" } else { "conf" }.to_owned(),
    );
    if c.plugins_cut > 0 {
        put("plugins_cut", c.plugins_cut.to_string());
    }
}

fn diff_attributes(d: &Diff, attrs: &mut BTreeMap<Cow<'static, str>, String>) {
    let mut put = |k: &'static str, v: String| {
        attrs.insert(k.into(), v);
    };
    if !d.plugins_added.is_empty() {
        put("plugins_added", d.plugins_added.join(","));
    }
    if !d.plugins_removed.is_empty() {
        put("plugins_removed", d.plugins_removed.join(","));
    }
    if !d.plugins_changed.is_empty() {
        put("plugins_changed", d.plugins_changed.join(","));
    }
    if d.reordered {
        put("plugins_reordered", "true".to_owned());
    }
    if let Some(r) = &d.ranges_before {
        put("ipam_ranges_before", r.join(","));
    }
    if let Some(v) = &d.cni_version_before {
        put("cni_version_before", v.clone().unwrap_or_default());
    }
    if let Some(v) = &d.name_before {
        put("network_name_before", v.clone().unwrap_or_default());
    }
    if !d.changed_keys.is_empty() {
        let mut keys = d.changed_keys.join("; ");
        if d.more_keys > 0 {
            keys.push_str(&format!("; and {} more", d.more_keys));
        }
        put("changed_keys", keys);
    }
}

impl Out<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id_kind: &str,
        path: &str,
        severity: Severity,
        message: String,
        cni: Option<CniInfo>,
        extra_tags: &[&str],
        attributes: BTreeMap<Cow<'static, str>, String>,
    ) {
        *self.seq += 1;
        let nanos = self.now.unix_nanos();
        let family = cni
            .as_ref()
            .and_then(|c| c.plugin_type.as_deref())
            .and_then(family_of_type);
        let tags = [Cow::Borrowed("cni"), Cow::Borrowed("config")]
            .into_iter()
            .chain(family.map(Cow::Borrowed))
            .chain(extra_tags.iter().map(|t| Cow::Owned((*t).to_owned())))
            .collect();
        let network = family.map(|f| NetworkInfo {
            plugin_name: Some(Cow::Borrowed(f)),
            cni_version: cni.as_ref().and_then(|c| c.cni_version.clone()),
            ..NetworkInfo::default()
        });
        let system = self.node_name.map(|n| crate::event::SystemInfo {
            node_name: Some(n.to_owned()),
            ..Default::default()
        });
        self.events.push(UnifiedEvent {
            id: format!("cni_config_{id_kind}_{nanos}_{}", self.seq),
            timestamp: self.now,
            source: Cow::Borrowed("cni"),
            event_type: EventType::Config,
            category: Category::ConfigChange,
            severity,
            confidence: 1.0,
            message: crate::text::bounded(&message, 512),
            tags,
            origin: Origin {
                monitor: Monitor::File,
                file: Some(path.into()),
                line: None,
                format: None,
            },
            cni,
            kubernetes: None,
            network,
            performance: None,
            security: None,
            system,
            trace_context: None,
            attributes: attributes.into_iter().collect(),
            raw: None,
        });
    }

    fn conf_changed(
        &mut self,
        path: &str,
        kind: &ChangeKind,
        before: Option<&NetConf>,
        new: &NetConf,
        was_active: bool,
    ) {
        let mut attrs = BTreeMap::new();
        attrs.insert("change".into(), kind_word(kind).to_owned());
        conf_attributes(new, &mut attrs);
        let name = file_name(path);
        let mut message = match kind {
            ChangeKind::Renamed { from } => {
                attrs.insert("renamed_from".into(), from.clone());
                format!("CNI config renamed from {} to {name}", file_name(from))
            }
            k => format!("CNI config {name} {} in {}", kind_word(k), dir_of(path)),
        };
        message.push_str(&format!(": {}", summary(new)));
        if let Some(before) = before {
            let d = diff(before, new);
            let clauses = d.clauses(new);
            if !clauses.is_empty() {
                message.push_str(&format!("; {}", clauses.join("; ")));
            }
            diff_attributes(&d, &mut attrs);
        }
        if was_active {
            attrs.insert("active".into(), "true".to_owned());
        }
        let severity =
            if was_active && matches!(kind, ChangeKind::Modified | ChangeKind::Renamed { .. }) {
                Severity::Warning
            } else {
                Severity::Info
            };
        let cni = cni_of(Some(new), None);
        self.push(
            kind_id(kind),
            path,
            severity,
            message,
            Some(cni),
            &[kind_word(kind)],
            attrs,
        );
    }

    fn conf_invalid(&mut self, path: &str, kind: &ChangeKind, kept: Option<&NetConf>, error: &str) {
        let mut attrs = BTreeMap::new();
        attrs.insert("change".into(), kind_word(kind).to_owned());
        attrs.insert("error".into(), error.to_owned());
        let kept_note = match kept {
            Some(k) => {
                attrs.insert("kept_state".into(), "true".to_owned());
                format!("; keeping its last good version ({})", summary(k))
            }
            None => "; no earlier good version".to_owned(),
        };
        if let ChangeKind::Renamed { from } = kind {
            attrs.insert("renamed_from".into(), from.clone());
        }
        let message = format!(
            "CNI config {} is invalid, the container runtime will skip it: {error}{kept_note}",
            file_name(path)
        );
        let cni = cni_of(kept, Some(error));
        self.push(
            "INVALID",
            path,
            Severity::Error,
            message,
            Some(cni),
            &["invalid"],
            attrs,
        );
    }

    fn conf_deleted(&mut self, path: &str, last: Option<&NetConf>, was_active: bool) {
        let mut attrs = BTreeMap::new();
        attrs.insert("change".into(), "deleted".to_owned());
        let mut message = format!(
            "CNI config {} deleted from {}",
            file_name(path),
            dir_of(path)
        );
        if let Some(last) = last {
            conf_attributes(last, &mut attrs);
            message.push_str(&format!(" ({})", summary(last)));
        }
        if was_active {
            attrs.insert("active".into(), "true".to_owned());
        }
        let severity = if was_active {
            Severity::Warning
        } else {
            Severity::Info
        };
        let cni = last.map(|l| cni_of(Some(l), None));
        self.push("DELETED", path, severity, message, cni, &["deleted"], attrs);
    }

    fn active_changed(
        &mut self,
        dir: &str,
        before: Option<&str>,
        now: Option<&str>,
        conf: Option<&NetConf>,
    ) {
        let mut attrs = BTreeMap::new();
        attrs.insert("conf_dir".into(), dir.to_owned());
        if let Some(b) = before {
            attrs.insert("previous_active_config".into(), b.to_owned());
        }
        let (severity, message, path) = match now {
            Some(now) => {
                attrs.insert("active_config".into(), now.to_owned());
                if let Some(c) = conf {
                    conf_attributes(c, &mut attrs);
                }
                let what = conf.map(summary).unwrap_or_default();
                match before {
                    Some(b) => (
                        Severity::Warning,
                        format!(
                            "Active CNI config of {dir} is now {} ({what}), was {}",
                            file_name(now),
                            file_name(b)
                        ),
                        now,
                    ),
                    None => (
                        Severity::Info,
                        format!("Active CNI config of {dir} is {} ({what})", file_name(now)),
                        now,
                    ),
                }
            }
            None => (
                Severity::Error,
                format!(
                    "No loadable CNI config left in {dir}: new pod networks cannot be set up from it"
                ),
                before.unwrap_or(dir),
            ),
        };
        let cni = conf.map(|c| cni_of(Some(c), None));
        self.push("ACTIVE", path, severity, message, cni, &["active"], attrs);
    }

    fn plugin_changed(
        &mut self,
        path: &str,
        kind: &ChangeKind,
        before: Option<&PluginState>,
        state: &PluginState,
        info: &PluginInfo,
        users: Vec<String>,
    ) {
        let name = file_name(path);
        let mut attrs = BTreeMap::new();
        attrs.insert("change".into(), kind_word(kind).to_owned());
        attrs.insert("plugin_path".into(), path.to_owned());
        attrs.insert("size".into(), info.size.to_string());
        attrs.insert("mode".into(), format!("{:o}", info.mode));
        attrs.insert("mtime".into(), info.mtime.to_rfc3339());
        match &state.sha256 {
            Ok(h) => attrs.insert("sha256".into(), h.clone()),
            Err(e) => attrs.insert("sha256_error".into(), e.clone()),
        };
        match &state.versions {
            Some(Ok(v)) => attrs.insert("supported_versions".into(), v.clone()),
            Some(Err(e)) => attrs.insert("version_error".into(), e.clone()),
            None => None,
        };
        if !users.is_empty() {
            attrs.insert("used_by".into(), users.join(","));
        }
        let mut message = match kind {
            ChangeKind::Renamed { from } => {
                attrs.insert("renamed_from".into(), from.clone());
                format!(
                    "CNI plugin renamed from {} to {name} in {}",
                    file_name(from),
                    dir_of(path)
                )
            }
            ChangeKind::Modified => format!("CNI plugin {name} replaced in {}", dir_of(path)),
            k => format!("CNI plugin {name} {} in {}", kind_word(k), dir_of(path)),
        };
        let mut severity = Severity::Info;
        if let Some(b) = before {
            let mut clauses = Vec::new();
            if b.sha256 != state.sha256 {
                let short = |h: &Result<String, String>| match h {
                    Ok(h) => h.chars().take(12).collect(),
                    Err(_) => "(unknown)".to_owned(),
                };
                clauses.push(format!(
                    "sha256 {} → {}",
                    short(&b.sha256),
                    short(&state.sha256)
                ));
                if let Ok(h) = &b.sha256 {
                    attrs.insert("sha256_before".into(), h.clone());
                }
            }
            if b.size != state.size {
                clauses.push(format!("size {} → {} bytes", b.size, state.size));
                attrs.insert("size_before".into(), b.size.to_string());
            }
            if b.versions != state.versions {
                let show = |v: &Option<Result<String, String>>| match v {
                    Some(Ok(v)) => v.clone(),
                    Some(Err(e)) => format!("(error: {e})"),
                    None => "(unknown)".to_owned(),
                };
                clauses.push(format!(
                    "supported CNI versions {} → {}",
                    show(&b.versions),
                    show(&state.versions)
                ));
                attrs.insert("supported_versions_before".into(), show(&b.versions));
            }
            if !clauses.is_empty() {
                message.push_str(&format!(": {}", clauses.join("; ")));
            }
            // Version drift under running configs is a common cause of failures.
            severity = Severity::Warning;
        } else {
            message.push_str(&format!(" ({} bytes", info.size));
            if let Some(Ok(v)) = &state.versions {
                message.push_str(&format!(", supports CNI {v}"));
            }
            message.push(')');
        }
        if let Some(Err(e)) = &state.versions {
            message.push_str(&format!("; VERSION: {e}"));
            severity = severity.max(Severity::Warning);
        }
        let cni = CniInfo {
            plugin_type: Some(name.to_owned()),
            ..CniInfo::default()
        };
        self.push(
            plugin_id(kind),
            path,
            severity,
            message,
            Some(cni),
            &["plugin", kind_word(kind)],
            attrs,
        );
    }

    fn plugin_deleted(&mut self, path: &str, users: Vec<String>) {
        let name = file_name(path);
        let mut attrs = BTreeMap::new();
        attrs.insert("change".into(), "deleted".to_owned());
        attrs.insert("plugin_path".into(), path.to_owned());
        let mut message = format!("CNI plugin {name} removed from {}", dir_of(path));
        let severity = if users.is_empty() {
            Severity::Warning
        } else {
            message.push_str(&format!(", still used by {}", users.join(", ")));
            attrs.insert("used_by".into(), users.join(","));
            Severity::Error
        };
        let cni = CniInfo {
            plugin_type: Some(name.to_owned()),
            ..CniInfo::default()
        };
        self.push(
            "PLUGIN_DELETED",
            path,
            severity,
            message,
            Some(cni),
            &["plugin", "deleted"],
            attrs,
        );
    }

    fn plugin_unreadable(&mut self, path: &str, why: &str) {
        let name = file_name(path);
        let mut attrs = BTreeMap::new();
        attrs.insert("plugin_path".into(), path.to_owned());
        attrs.insert("error".into(), why.to_owned());
        let message = format!(
            "CNI plugin {name} in {} cannot be read: {why}",
            dir_of(path)
        );
        let cni = CniInfo {
            plugin_type: Some(name.to_owned()),
            error: Some(CniError {
                code: None,
                msg: why.to_owned(),
                details: None,
            }),
            ..CniInfo::default()
        };
        self.push(
            "PLUGIN_UNREADABLE",
            path,
            Severity::Error,
            message,
            Some(cni),
            &["plugin", "invalid"],
            attrs,
        );
    }
}

/// A file reported as new that the collector already knows was changed (a rescan after an
/// overflow, a deletion the runtime missed).
fn settled_kind(kind: ChangeKind, known: bool) -> ChangeKind {
    match kind {
        ChangeKind::Present | ChangeKind::Created if known => ChangeKind::Modified,
        k => k,
    }
}

fn kind_id(kind: &ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Present => "PRESENT",
        ChangeKind::Created => "CREATED",
        ChangeKind::Modified => "MODIFIED",
        ChangeKind::Deleted => "DELETED",
        ChangeKind::Renamed { .. } => "RENAMED",
    }
}

fn plugin_id(kind: &ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Present => "PLUGIN_PRESENT",
        ChangeKind::Created => "PLUGIN_CREATED",
        ChangeKind::Modified => "PLUGIN_REPLACED",
        ChangeKind::Deleted => "PLUGIN_DELETED",
        ChangeKind::Renamed { .. } => "PLUGIN_RENAMED",
    }
}

fn cni_of(conf: Option<&NetConf>, error: Option<&str>) -> CniInfo {
    CniInfo {
        network_name: conf.and_then(|c| c.name.clone()),
        cni_version: conf.and_then(|c| c.cni_version.clone()),
        plugin_type: conf
            .and_then(|c| c.plugins.first())
            .map(|p| p.plugin_type.clone()),
        error: error.map(|e| CniError {
            code: None,
            msg: e.to_owned(),
            details: None,
        }),
        ..CniInfo::default()
    }
}

#[cfg(test)]
mod tests;
