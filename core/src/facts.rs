//! What one record states, before it becomes a [`UnifiedEvent`](crate::event::UnifiedEvent).
//!
//! Every format parser fills a [`Facts`] with exactly what its line says; [`crate::build`] turns
//! it into an event (category, severity, sentence, tags, id) the same way for every format, so
//! the formats differ only in how they read text.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::event::{
    Attributes, Category, CniError, Format, Operation, Route, SecurityInfo, Severity, SortedMap,
};
use crate::text::TrimFast;
use crate::time::LineTime;

/// Facts extracted from one record. `None` / empty means the record does not state it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// The format that recognised the record (set by the dispatcher).
    pub format: Option<Format>,
    /// The time the record states (the body's own time, else its wrapper's).
    pub time: Option<LineTime>,
    pub level: Option<Severity>,
    /// Network provider family from DESIGN.md §5's vocabulary (`cilium`, `calico`, `bridge`...).
    pub plugin: Option<&'static str>,
    /// Exact plugin binary or config `type` (`cilium-cni`, `calico-ipam`, `bridge`).
    pub plugin_type: Option<String>,
    pub operation: Option<Operation>,
    /// The most specific category the record supports; when `None` the builder derives one
    /// from the operation (ADD → network_setup, ...) or falls back to `plugin_log`.
    pub category: Option<Category>,
    /// `Some(false)` when the record reports a failure, `Some(true)` when it reports success.
    pub success: Option<bool>,
    /// As given: full 64-hex id or a truncated prefix.
    pub container_id: Option<String>,
    pub pod_name: Option<String>,
    pub namespace: Option<String>,
    pub pod_uid: Option<String>,
    /// netns path as given (`/var/run/netns/cni-<uuid>`, `/proc/PID/ns/net`, ...).
    pub netns: Option<String>,
    /// Container-side interface (`CNI_IFNAME`).
    pub if_name: Option<String>,
    /// Host side of the veth pair.
    pub host_interface: Option<String>,
    /// Addresses as given, with a prefix length where the record gives one.
    pub ips: Vec<String>,
    /// A pool/range/subnet CIDR stated separately from the addresses.
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub mac: Option<String>,
    pub routes: Vec<Route>,
    pub dns: Option<serde_json::Value>,
    pub network_name: Option<String>,
    pub cni_version: Option<String>,
    /// `K8S_*` keys of `CNI_ARGS` (and `IgnoreUnknown`), nothing else.
    pub args: SortedMap<String, String>,
    pub error: Option<CniError>,
    /// The plugin's exit code, when the record states it (`rc=100`).
    pub exit_code: Option<i32>,
    /// Network policy facts (policy name and namespace, the action taken).
    pub security: Option<Box<SecurityInfo>>,
    /// The record's own message text, as the plugin wrote it (unescaped, trimmed).
    pub message: Option<String>,
    /// Kubernetes event reason (`FailedCreatePodSandBox`, `AddedInterface`, ...).
    pub event_reason: Option<String>,
    pub node_name: Option<String>,
    /// Host name from a journald/syslog prefix.
    pub hostname: Option<String>,
    pub pid: Option<u32>,
    /// Process name from a journald/syslog prefix or the log's component.
    pub comm: Option<String>,
    /// Numbers the record states (`event_count` of an aggregated k8s event, `mtu`, ...).
    pub metrics: SortedMap<String, f64>,
    /// Format-specific facts with no place in the schema: Cilium endpoint id, Calico workload
    /// endpoint, IPAM block and handle, event UUIDs.
    pub attributes: Attributes,
    /// Lower than the default when a fact had to be inferred rather than read.
    pub confidence: Option<f64>,
}

impl Facts {
    pub fn new(format: Format) -> Facts {
        Facts {
            format: Some(format),
            ..Facts::default()
        }
    }

    /// Sets `slot` to `value` unless it is already set or `value` is empty: the first statement
    /// of a fact wins, and an empty value (`containerID=`) states nothing.
    pub fn set(slot: &mut Option<String>, value: &str) {
        let v = value.trim_fast();
        if slot.is_none() && !v.is_empty() {
            *slot = Some(v.to_owned());
        }
    }

    /// Records an address unless it is already recorded (with or without a prefix length).
    pub fn add_ip(&mut self, ip: &str) {
        let ip = ip.trim_fast();
        if ip.is_empty() {
            return;
        }
        let bare = ip.split('/').next().unwrap_or(ip);
        if !self.ips.iter().any(|k| k.split('/').next() == Some(bare)) {
            self.ips.push(ip.to_owned());
        }
    }

    pub fn set_error(&mut self, msg: &str) {
        let msg = msg.trim_fast();
        if self.error.is_none() && !msg.is_empty() {
            self.error = Some(CniError {
                code: None,
                msg: msg.to_owned(),
                details: None,
            });
        }
    }

    /// Reads a plugin's request from its `CNI_*` environment variables: the operation, container
    /// id, interface, netns path, and the `K8S_*` keys of `CNI_ARGS` with the pod they name.
    /// What is set already stays.
    pub fn read_cni_env(&mut self, vars: &BTreeMap<String, String>) {
        let var = |k: &str| vars.get(k).map_or("", String::as_str);
        if self.operation.is_none() {
            self.operation = Operation::from_word(var("CNI_COMMAND"));
        }
        Facts::set(&mut self.container_id, var("CNI_CONTAINERID"));
        Facts::set(&mut self.if_name, var("CNI_IFNAME"));
        Facts::set(&mut self.netns, var("CNI_NETNS"));
        self.read_cni_args(var("CNI_ARGS"));
    }

    /// Reads a `CNI_ARGS` string: its `K8S_*` keys into `args` and the pod identity they state.
    pub fn read_cni_args(&mut self, s: &str) {
        // Merged in one sorted fill, the keys already known last so that they keep their
        // value: inserted one by one between them, a hostile line's keys cost quadratic time.
        let known = std::mem::take(&mut self.args);
        self.args = crate::text::cni_args(s).into_iter().chain(known).collect();
        self.identity_from_args();
    }

    /// The pod identity the `K8S_*` keys in `args` state.
    pub fn identity_from_args(&mut self) {
        // Borrowed field by field: the values are read in place, not cloned to be copied again.
        let Facts {
            args,
            pod_name,
            namespace,
            pod_uid,
            container_id,
            ..
        } = self;
        let get = |k: &str| args.get(k).map_or("", String::as_str);
        Facts::set(pod_name, get("K8S_POD_NAME"));
        Facts::set(namespace, get("K8S_POD_NAMESPACE"));
        Facts::set(pod_uid, get("K8S_POD_UID"));
        Facts::set(container_id, get("K8S_POD_INFRA_CONTAINER_ID"));
    }

    /// Records `key` = `value` unless `key` is recorded already or `value` is empty. Keys are
    /// mostly fixed words, borrowed rather than copied into every event.
    pub fn attr(&mut self, key: impl Into<Cow<'static, str>>, value: &str) {
        let v = value.trim_fast();
        if !v.is_empty() {
            self.attributes
                .entry(key.into())
                .or_insert_with(|| v.to_owned());
        }
    }
}
