//! `UnifiedEvent`: the one output type, serialized exactly to the schema of DESIGN.md §5.
//!
//! Absent knowledge is an absent field: every optional part is `Option` and skipped when `None`,
//! so a consumer never sees a made-up value.

use std::borrow::{Borrow, Cow};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// One thing that happened, as one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnifiedEvent {
    pub id: String,
    pub timestamp: Timestamp,
    /// Always `cni` from the collector: borrowed, so no event allocates it.
    pub source: Cow<'static, str>,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub category: Category,
    pub severity: Severity,
    pub confidence: f64,
    pub message: String,
    /// Mostly fixed words (`cni`, the plugin family, the operation): those are borrowed.
    pub tags: Tags,
    pub origin: Origin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni: Option<CniInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance: Option<PerformanceInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Boxed, as `trace_context`: rarely present, and the event moves smaller without them.
    pub security: Option<Box<SecurityInfo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_context: Option<Box<TraceContext>>,
    /// Format-specific facts with no field in the schema (extension of DESIGN.md §5): Cilium
    /// `endpoint_id`, Calico `workload_endpoint`, `ipam_block`, `ipam_handle`, ...
    /// Keys are mostly fixed words, borrowed.
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub attributes: Attributes,
    /// The original line(s), bounded in length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

/// Tags kept in the event itself: an event has at most this many, mostly.
const INLINE_TAGS: usize = 4;

/// The `tags` list. The first [`INLINE_TAGS`] are kept in the event: a list of their own cost
/// every event an allocation (and its free). Serialized, compared and printed as the list.
#[derive(Clone, Default, PartialEq)]
pub struct Tags {
    /// How many of `inline` are tags; the rest are empty. `more` is used only once all are.
    len: usize,
    inline: [Cow<'static, str>; INLINE_TAGS],
    more: Vec<Cow<'static, str>>,
}

impl Tags {
    pub fn push(&mut self, tag: Cow<'static, str>) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = tag;
                self.len += 1;
            }
            None => self.more.push(tag),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Cow<'static, str>> {
        self.inline[..self.len].iter().chain(&self.more)
    }

    pub fn len(&self) -> usize {
        self.len + self.more.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Extend<Cow<'static, str>> for Tags {
    fn extend<I: IntoIterator<Item = Cow<'static, str>>>(&mut self, tags: I) {
        for tag in tags {
            self.push(tag);
        }
    }
}

impl FromIterator<Cow<'static, str>> for Tags {
    fn from_iter<I: IntoIterator<Item = Cow<'static, str>>>(tags: I) -> Tags {
        let mut out = Tags::default();
        out.extend(tags);
        out
    }
}

impl fmt::Debug for Tags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Tags {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Tags, D::Error> {
        Vec::<Cow<'static, str>>::deserialize(deserializer).map(Tags::from_iter)
    }
}

/// Format-specific facts by name (see [`UnifiedEvent::attributes`]).
pub type Attributes = SortedMap<Cow<'static, str>, String>;

/// A map kept as a list sorted by key. An event's maps hold a few entries or none, and a
/// `BTreeMap` cost more to fill and to drop (even empty) than the whole list. Serialized,
/// compared and printed as the map; it offers the `BTreeMap` calls its users make.
#[derive(Clone, PartialEq, Eq)]
pub struct SortedMap<K, V> {
    /// Sorted by key, each key once.
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    /// Looked up as in a `BTreeMap`: by anything a key borrows as.
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`, returning the value it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn entry(&mut self, key: K) -> SortedEntry<'_, K, V> {
        let at = self.find(&key);
        SortedEntry { map: self, key, at }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A key of a [`SortedMap`], set or not, as `BTreeMap::entry` gives it.
pub struct SortedEntry<'a, K, V> {
    map: &'a mut SortedMap<K, V>,
    key: K,
    at: Result<usize, usize>,
}

impl<'a, K, V> SortedEntry<'a, K, V> {
    pub fn or_insert(self, value: V) -> &'a mut V {
        self.or_insert_with(|| value)
    }

    pub fn or_insert_with(self, value: impl FnOnce() -> V) -> &'a mut V {
        let i = match self.at {
            Ok(i) => i,
            Err(i) => {
                self.map.entries.insert(i, (self.key, value()));
                i
            }
        };
        &mut self.map.entries[i].1
    }
}

impl<K: Ord + Borrow<Q>, V, Q: Ord + ?Sized> std::ops::Index<&Q> for SortedMap<K, V> {
    type Output = V;

    /// # Panics
    /// When `key` is not set, as a `BTreeMap` does.
    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("key is set")
    }
}

impl<K, V> IntoIterator for SortedMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a SortedMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for SortedMap<K, V> {
    /// A key given twice keeps its last value, as in a `BTreeMap`. Sorted once, not inserted
    /// one by one: inserting into the middle of the list shifts it, which is quadratic in the
    /// keys of a hostile line.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Self {
        let mut entries: Vec<(K, V)> = items.into_iter().collect();
        // Stable, so a key's values stay in the order given; sorted input is one linear pass.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // `dedup_by` keeps the first of a run: the later value is swapped into it first.
        entries.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        SortedMap { entries }
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for SortedMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl<K: Serialize, V: Serialize> Serialize for SortedMap<K, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.entries.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Deserialize<'de> for SortedMap<K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<K, V>::deserialize(deserializer).map(|m| SortedMap {
            entries: m.into_iter().collect(),
        })
    }
}

/// `type` of DESIGN.md §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventType {
    Network,
    Kubernetes,
    Config,
    System,
}

/// `category` of DESIGN.md §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Category {
    NetworkSetup,
    NetworkTeardown,
    NetworkCheck,
    IpAllocation,
    IpDeallocation,
    InterfaceSetup,
    InterfaceTeardown,
    PolicyApply,
    PolicyRemove,
    SecurityViolation,
    HealthCheck,
    PerformanceAnomaly,
    ConfigChange,
    PluginLog,
    Collector,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::NetworkSetup => "network_setup",
            Category::NetworkTeardown => "network_teardown",
            Category::NetworkCheck => "network_check",
            Category::IpAllocation => "ip_allocation",
            Category::IpDeallocation => "ip_deallocation",
            Category::InterfaceSetup => "interface_setup",
            Category::InterfaceTeardown => "interface_teardown",
            Category::PolicyApply => "policy_apply",
            Category::PolicyRemove => "policy_remove",
            Category::SecurityViolation => "security_violation",
            Category::HealthCheck => "health_check",
            Category::PerformanceAnomaly => "performance_anomaly",
            Category::ConfigChange => "config_change",
            Category::PluginLog => "plugin_log",
            Category::Collector => "collector",
        }
    }
}

/// `severity` of DESIGN.md §5, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    /// Reads the level words and letters that logrus, slog, zap, klog, seelog, Calico and
    /// `kubectl` use (`info`, `INFO`, `I`, `warn`, `WARNING`, `Warning`, `E`, `fatal`, `panic`).
    pub fn from_level(level: &str) -> Option<Severity> {
        let l = level.trim();
        let eq = |w: &str| l.eq_ignore_ascii_case(w);
        Some(if eq("debug") || eq("trace") || eq("d") || eq("dbg") {
            Severity::Debug
        } else if eq("info") || eq("i") || eq("normal") || eq("notice") || eq("inf") {
            Severity::Info
        } else if eq("warning") || eq("warn") || eq("w") || eq("wrn") {
            Severity::Warning
        } else if eq("error") || eq("err") || eq("e") || eq("eror") {
            Severity::Error
        } else if eq("fatal") || eq("panic") || eq("f") || eq("critical") || eq("crit") {
            Severity::Critical
        } else {
            return None;
        })
    }
}

/// Which monitor saw the event, and where in its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub monitor: Monitor,
    /// Shared with every other event and checkpoint of the same file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<Arc<str>>,
    /// 1-based number of the record's first line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Monitor {
    Ebpf,
    Proc,
    Log,
    File,
    K8s,
}

/// The text format a record was parsed from (`origin.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Format {
    Cilium,
    Calico,
    Flannel,
    AwsVpcCni,
    AzureCni,
    Multus,
    Weave,
    KubeRouter,
    /// klog lines of kubelet and other Kubernetes components.
    Klog,
    /// logrus lines of containerd, CRI-O and others not claimed by a plugin format.
    Logrus,
    /// `kubectl describe` / `kubectl get events` rows and event messages.
    KubeletEvent,
    /// CNI result, error and VERSION JSON.
    CniResult,
    /// Plain text of a container runtime or plugin stderr (no structured layout).
    Text,
}

impl Format {
    pub const ALL: [Format; 13] = [
        Format::Cilium,
        Format::Calico,
        Format::Flannel,
        Format::AwsVpcCni,
        Format::AzureCni,
        Format::Multus,
        Format::Weave,
        Format::KubeRouter,
        Format::Klog,
        Format::Logrus,
        Format::KubeletEvent,
        Format::CniResult,
        Format::Text,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Cilium => "cilium",
            Format::Calico => "calico",
            Format::Flannel => "flannel",
            Format::AwsVpcCni => "aws-vpc-cni",
            Format::AzureCni => "azure-cni",
            Format::Multus => "multus",
            Format::Weave => "weave",
            Format::KubeRouter => "kube-router",
            Format::Klog => "klog",
            Format::Logrus => "logrus",
            Format::KubeletEvent => "kubelet-event",
            Format::CniResult => "cni-result",
            Format::Text => "text",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CNI command (`CNI_COMMAND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Operation {
    #[serde(rename = "ADD")]
    Add,
    #[serde(rename = "DEL")]
    Del,
    #[serde(rename = "CHECK")]
    Check,
    #[serde(rename = "STATUS")]
    Status,
    #[serde(rename = "GC")]
    Gc,
    #[serde(rename = "VERSION")]
    Version,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Add => "ADD",
            Operation::Del => "DEL",
            Operation::Check => "CHECK",
            Operation::Status => "STATUS",
            Operation::Gc => "GC",
            Operation::Version => "VERSION",
        }
    }

    /// Reads the spellings that plugins and runtimes use: `ADD`, `add`, `del`, `delete`,
    /// `check`, `status`, `gc`, `version`.
    pub fn from_word(word: &str) -> Option<Operation> {
        let eq = |w: &str| word.eq_ignore_ascii_case(w);
        Some(if eq("add") {
            Operation::Add
        } else if eq("del") || eq("delete") {
            Operation::Del
        } else if eq("check") {
            Operation::Check
        } else if eq("status") {
            Operation::Status
        } else if eq("gc") {
            Operation::Gc
        } else if eq("version") {
            Operation::Version
        } else {
            return None;
        })
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `cni` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CniInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_name: Option<String>,
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub args: SortedMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CniError>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<ChainEntry>,
}

/// The plugin's own error: the CNI error JSON, or the error text a log line gives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// One plugin execution of a chain, with its delegated children.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainEntry {
    pub plugin_type: String,
    pub operation: Option<Operation>,
    pub duration_ms: Option<f64>,
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ChainEntry>,
}

/// The `kubernetes` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub labels: SortedMap<String, String>,
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub annotations: SortedMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_reason: Option<String>,
}

/// The `network` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// A family name of the fixed vocabulary, borrowed when the collector names it.
    pub plugin_name: Option<Cow<'static, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    /// Bare address, no prefix length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// CIDR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni_version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<serde_json::Value>,
    /// Every address the record states, with prefix length where given (dual stack, several
    /// interfaces); `ip_address` is the first of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<String>,
    /// The host side of a veth pair (`lxc...`, `cali...`, `eni...`, `veth...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_interface: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// The `performance` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerformanceInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    #[serde(default, skip_serializing_if = "SortedMap::is_empty")]
    pub metrics: SortedMap<String, f64>,
}

/// The `security` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
}

/// The `system` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// The netns path as given to the plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_ns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    pub trace_id: String,
    pub span_id: String,
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use std::collections::BTreeMap;

    use super::{Attributes, Tags};

    #[test]
    fn tags_behave_as_the_list_they_hold() {
        let words = ["cni", "calico", "ADD", "namespace:x", "failed", "more"];
        for n in 0..=words.len() {
            let list: Vec<Cow<'static, str>> = words[..n].iter().map(|&w| w.into()).collect();
            let tags: Tags = list.iter().cloned().collect();
            assert_eq!(tags.len(), n);
            assert_eq!(tags.is_empty(), n == 0);
            assert!(tags.iter().eq(list.iter()));
            assert_eq!(format!("{tags:?}"), format!("{list:?}"));
            let json = serde_json::to_string(&tags).unwrap();
            assert_eq!(json, serde_json::to_string(&list).unwrap());
            assert_eq!(serde_json::from_str::<Tags>(&json).unwrap(), tags);
        }
    }

    #[test]
    fn attributes_behave_as_the_map_they_hold() {
        let pairs = [("b", "1"), ("a", "2"), ("c", "3"), ("a", "4"), ("d", "")];
        let mut attrs = Attributes::default();
        let mut map: BTreeMap<Cow<'static, str>, String> = BTreeMap::new();
        for (k, v) in pairs {
            attrs.entry(k.into()).or_insert_with(|| v.to_owned());
            map.entry(k.into()).or_insert_with(|| v.to_owned());
            assert_eq!(attrs.len(), map.len());
            assert!(attrs.iter().eq(map.iter()));
        }
        assert_eq!(attrs["a"], "2");
        assert_eq!(attrs.get("zz"), None);
        assert!(attrs.contains_key("d") && !attrs.contains_key("e"));
        assert_eq!(attrs.insert("a".into(), "5".into()), Some("2".into()));
        map.insert("a".into(), "5".into());
        assert_eq!(format!("{attrs:?}"), format!("{map:?}"));
        let json = serde_json::to_string(&attrs).unwrap();
        assert_eq!(json, serde_json::to_string(&map).unwrap());
        assert_eq!(serde_json::from_str::<Attributes>(&json).unwrap(), attrs);
        let last: Attributes = pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect();
        assert_eq!(last["a"], "4");
        assert!(last.into_iter().map(|(k, _)| k).eq(["a", "b", "c", "d"]));
    }
}
