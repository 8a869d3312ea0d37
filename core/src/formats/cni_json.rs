//! What the CNI protocol itself prints: results (any spec version), error results, VERSION
//! answers, the `about` text of a reference plugin run without `CNI_COMMAND`, libcni's own error
//! sentences, and the runtime's `NetworkReady` condition as `crictl info` shows it.
//!
//! This parser runs first on every record, so it looks at the first byte and a few key names
//! before it allocates anything.

use memchr::memmem;
use serde_json::{Map, Value};

use crate::envelope::Envelope;
use crate::event::{Category, CniError, Operation, Route};
use crate::facts::Facts;
use crate::text::{json_members, unescape, JsonValue};

/// Keys of which one must appear before a JSON object is read at all.
const KEYS: [&[u8]; 9] = [
    b"\"cniVersion\"",
    b"\"code\"",
    b"\"ips\"",
    b"\"interfaces\"",
    b"\"supportedVersions\"",
    b"\"ip4\"",
    b"\"ip6\"",
    b"\"NetworkReady\"",
    b"\"lastCNILoadStatus",
];

pub(crate) fn parse(env: &Envelope<'_>) -> Option<Facts> {
    let body = env.body.trim();
    match body.as_bytes().first()? {
        b'{' => document(body),
        b'"' => member_run(body),
        b's' => quoted_stdout(body),
        b'C' => about(body),
        b'n' => netplugin_failed(body),
        b'i' => incompatible_versions(body),
        _ => None,
    }
}

fn has_cni_key(text: &str) -> bool {
    KEYS.iter()
        .any(|k| memmem::find(text.as_bytes(), k).is_some())
}

/// A whole JSON document (compact, or pretty-printed and joined by the collector).
fn document(text: &str) -> Option<Facts> {
    if !has_cni_key(text) {
        return None;
    }
    classify(&object_of(text)?)
}

/// `"type": "NetworkReady",\n "status": false, ...`: members of an object whose braces were
/// not part of the pasted or logged text.
fn member_run(text: &str) -> Option<Facts> {
    if !text.contains("\":") || !has_cni_key(text) {
        return None;
    }
    classify(&object_of(&format!("{{{text}}}"))?)
}

/// The members of a JSON object: read exactly when the document is complete, leniently (what
/// precedes a cut, trailing commas) when it is not.
pub(crate) fn object_of(text: &str) -> Option<Map<String, Value>> {
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(text) {
        return Some(m);
    }
    let members = json_members(text)?;
    let m: Map<String, Value> = members
        .into_iter()
        .filter_map(|(k, v)| {
            let v = match v {
                JsonValue::Str(s) => Value::String(s.into_owned()),
                // A nested value cut off by truncation does not parse and is dropped.
                JsonValue::Raw(r) => serde_json::from_str(r).ok()?,
            };
            Some((k.into_owned(), v))
        })
        .collect();
    (!m.is_empty()).then_some(m)
}

fn str_of<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Which CNI document `m` is, and its facts; `None` for any other JSON (zap logs, configs).
fn classify(m: &Map<String, Value>) -> Option<Facts> {
    if m.contains_key("level") {
        return None;
    }
    if let Some(Value::Array(versions)) = m.get("supportedVersions") {
        let mut f = Facts {
            operation: Some(Operation::Version),
            success: Some(true),
            ..Facts::default()
        };
        Facts::set(&mut f.cni_version, str_of(m, "cniVersion").unwrap_or(""));
        let joined: Vec<&str> = versions.iter().filter_map(Value::as_str).collect();
        f.attr("supported_versions", &joined.join(","));
        return Some(f);
    }
    if let (Some(code), Some(msg)) = (m.get("code").and_then(Value::as_i64), str_of(m, "msg")) {
        return Some(error_result(m, code, msg));
    }
    if str_of(m, "type") == Some("NetworkReady")
        || str_of(m, "reason") == Some("NetworkPluginNotReady")
    {
        return Some(network_condition(m));
    }
    if let Some(f) = cni_load_status(m) {
        return Some(f);
    }
    let result_key = ["ips", "interfaces", "ip4", "ip6"]
        .iter()
        .any(|k| m.contains_key(*k));
    // A network configuration also carries `cniVersion` but names its plugin.
    let config_key = ["type", "plugins", "name", "msg"]
        .iter()
        .any(|k| m.contains_key(*k));
    if !result_key || config_key {
        return None;
    }
    let mut f = Facts::default();
    fill_result(&mut f, m);
    f.category = Some(Category::NetworkSetup);
    f.success = Some(true);
    Some(f)
}

/// `{"code": 100, "msg": "...", "details": "..."}`: a plugin's failure.
fn error_result(m: &Map<String, Value>, code: i64, msg: &str) -> Facts {
    let mut f = Facts {
        success: Some(false),
        ..Facts::default()
    };
    Facts::set(&mut f.cni_version, str_of(m, "cniVersion").unwrap_or(""));
    f.error = Some(CniError {
        code: Some(code),
        msg: msg.to_owned(),
        details: str_of(m, "details").map(str::to_owned),
    });
    if msg.contains("failed to allocate") || msg.contains("no IP addresses available") {
        f.category = Some(Category::IpAllocation);
    }
    if let Some(rest) = msg.split_once("requested IP address ").map(|(_, r)| r) {
        f.attr("requested_ip", rest.split_whitespace().next().unwrap_or(""));
    }
    f
}

/// A runtime condition (`crictl info` → `status.conditions[]`) about the pod network.
fn network_condition(m: &Map<String, Value>) -> Facts {
    let mut f = Facts {
        category: Some(Category::HealthCheck),
        ..Facts::default()
    };
    let ready = match m.get("status") {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => s.parse::<bool>().ok(),
        _ => None,
    };
    f.success = ready;
    f.attr("condition", str_of(m, "type").unwrap_or(""));
    f.attr("reason", str_of(m, "reason").unwrap_or(""));
    if let Some(msg) = str_of(m, "message") {
        f.message = Some(msg.to_owned());
        if ready == Some(false) {
            // The runtime's wrapper prose around the plugin manager's own error.
            let inner = msg
                .strip_prefix("Network plugin returns error:")
                .unwrap_or(msg);
            f.set_error(inner);
        }
    }
    f
}

/// `"lastCNILoadStatus": "cni config load failed: ..."` from `crictl info` (containerd).
fn cni_load_status(m: &Map<String, Value>) -> Option<Facts> {
    let (key, status) = m.iter().find(|(k, _)| k.starts_with("lastCNILoadStatus"))?;
    let status = status.as_str()?.trim();
    let mut f = Facts {
        category: Some(Category::HealthCheck),
        ..Facts::default()
    };
    f.attr("status_key", key);
    f.message = Some(status.to_owned());
    if status.eq_ignore_ascii_case("OK") {
        f.success = Some(true);
    } else {
        f.success = Some(false);
        f.set_error(status);
    }
    Some(f)
}

struct Iface<'a> {
    name: &'a str,
    mac: Option<&'a str>,
    sandbox: Option<&'a str>,
}

fn ifaces(m: &Map<String, Value>) -> Vec<Iface<'_>> {
    let Some(Value::Array(list)) = m.get("interfaces") else {
        return Vec::new();
    };
    list.iter()
        .filter_map(Value::as_object)
        .map(|i| Iface {
            name: str_of(i, "name").unwrap_or(""),
            mac: str_of(i, "mac"),
            sandbox: str_of(i, "sandbox"),
        })
        .collect()
}

/// Names a bridge rather than one end of a veth pair.
fn is_bridge_name(name: &str) -> bool {
    matches!(
        name,
        "cbr0" | "docker0" | "kube-bridge" | "weave" | "podman0"
    ) || name.starts_with("br")
        || name.starts_with("virbr")
        || name.starts_with("cni-podman")
        || name
            .strip_prefix("cni")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
}

/// The facts of a CNI result object (spec 0.3.0 and later, and 0.1/0.2's `ip4`/`ip6`).
/// Shared with the Multus parser, which logs the results of its delegates.
pub(crate) fn fill_result(f: &mut Facts, m: &Map<String, Value>) {
    Facts::set(&mut f.cni_version, str_of(m, "cniVersion").unwrap_or(""));
    let interfaces = ifaces(m);
    if let Some(Value::Array(ips)) = m.get("ips") {
        for ip in ips.iter().filter_map(Value::as_object) {
            let Some(addr) = str_of(ip, "address") else {
                continue;
            };
            f.add_ip(addr);
            Facts::set(&mut f.gateway, str_of(ip, "gateway").unwrap_or(""));
            let idx = ip.get("interface").and_then(Value::as_u64);
            let iface = idx.and_then(|i| interfaces.get(usize::try_from(i).ok()?));
            if let Some(i) = iface.filter(|i| i.sandbox.is_some()) {
                pod_iface(f, i);
            }
        }
    }
    for key in ["ip4", "ip6"] {
        let Some(Value::Object(legacy)) = m.get(key) else {
            continue;
        };
        if let Some(addr) = str_of(legacy, "ip") {
            f.add_ip(addr);
        }
        Facts::set(&mut f.gateway, str_of(legacy, "gateway").unwrap_or(""));
        add_routes(f, legacy.get("routes"));
    }
    if f.if_name.is_none() {
        if let Some(i) = interfaces.iter().find(|i| i.sandbox.is_some()) {
            pod_iface(f, i);
        }
    }
    // Interfaces without a sandbox live on the host: a bridge (listed first by the bridge
    // plugin) and the host end of the pod's veth pair.
    let host: Vec<&str> = interfaces
        .iter()
        .filter(|i| i.sandbox.is_none() && !i.name.is_empty())
        .map(|i| i.name)
        .collect();
    match host.as_slice() {
        [] => {}
        [one] if is_bridge_name(one) => f.attr("bridge", one),
        [one] => Facts::set(&mut f.host_interface, one),
        [first, .., last] => {
            f.attr("bridge", first);
            Facts::set(&mut f.host_interface, last);
        }
    }
    add_routes(f, m.get("routes"));
    if let Some(dns) = m.get("dns").filter(|d| states_something(d)) {
        f.dns = Some(dns.clone());
    }
}

/// The container side of the pod's interface.
fn pod_iface(f: &mut Facts, i: &Iface<'_>) {
    Facts::set(&mut f.if_name, i.name);
    Facts::set(&mut f.mac, i.mac.unwrap_or(""));
    Facts::set(&mut f.netns, i.sandbox.unwrap_or(""));
}

fn add_routes(f: &mut Facts, routes: Option<&Value>) {
    let Some(Value::Array(routes)) = routes else {
        return;
    };
    for r in routes.iter().filter_map(Value::as_object) {
        let Some(dst) = str_of(r, "dst") else {
            continue;
        };
        f.routes.push(Route {
            destination: dst.to_owned(),
            gateway: str_of(r, "gw").map(str::to_owned),
        });
    }
}

/// `{}` or `{"nameservers": []}` states nothing.
fn states_something(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(states_something),
        Value::Object(o) => o.values().any(states_something),
        _ => true,
    }
}

/// A runtime quoting the plugin's output: `stdout='{...}', stderr='...'`.
fn quoted_stdout(text: &str) -> Option<Facts> {
    let rest = text.strip_prefix("stdout='")?;
    let (inner, stderr) = match rest.find("', stderr='") {
        Some(at) => (
            &rest[..at],
            rest.get(at + 11..).map(|s| s.trim_end_matches('\'')),
        ),
        None => (rest.trim_end_matches('\''), None),
    };
    let mut f = document(inner.trim())?;
    f.attr("stderr", stderr.unwrap_or(""));
    Some(f)
}

/// `CNI bridge plugin v1.3.0` and, joined by the collector, `CNI protocol versions supported:
/// 0.1.0, ...`: what a reference plugin prints when run without `CNI_COMMAND`.
fn about(text: &str) -> Option<Facts> {
    let mut lines = text.lines().map(str::trim);
    let first = lines.next()?;
    let mut f = Facts::default();
    let versions_line = if let Some(list) = first.strip_prefix("CNI protocol versions supported:") {
        Some(list)
    } else {
        let (name, version) = first.strip_prefix("CNI ")?.split_once(" plugin ")?;
        if name.is_empty() || name.contains(' ') {
            return None;
        }
        f.plugin_type = Some(name.to_owned());
        f.attr("plugin_version", version);
        f.message = Some(first.to_owned());
        lines.find_map(|l| l.strip_prefix("CNI protocol versions supported:"))
    };
    if let Some(list) = versions_line {
        let versions: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        f.attr("supported_versions", &versions.join(","));
    }
    f.category = Some(Category::HealthCheck);
    Some(f)
}

/// libcni: a plugin exited non-zero and its stdout was not a CNI error.
fn netplugin_failed(text: &str) -> Option<Facts> {
    if !text.starts_with("netplugin failed") {
        return None;
    }
    let mut f = Facts {
        success: Some(false),
        ..Facts::default()
    };
    f.set_error(&unescape(text));
    Some(f)
}

/// libcni's version negotiation failure, also as an escaped fragment of a quoted error.
fn incompatible_versions(text: &str) -> Option<Facts> {
    if !text.starts_with("incompatible CNI versions") {
        return None;
    }
    let text = unescape(text);
    let mut text = text.trim();
    // A stray closing quote of the string this fragment was cut from.
    if text.matches('"').count() % 2 == 1 {
        text = text.strip_suffix('"').unwrap_or(text).trim_end();
    }
    let mut f = Facts {
        success: Some(false),
        ..Facts::default()
    };
    f.set_error(text);
    if let Some(v) = text
        .split_once("config is \"")
        .and_then(|(_, r)| r.split_once('"'))
    {
        Facts::set(&mut f.cni_version, v.0);
    }
    if let Some(list) = text
        .split_once("plugin supports [")
        .and_then(|(_, r)| r.split_once(']'))
    {
        let versions: Vec<&str> = list
            .0
            .split([' ', ','])
            .map(|v| v.trim_matches('"'))
            .filter(|v| !v.is_empty())
            .collect();
        f.attr("supported_versions", &versions.join(","));
    }
    Some(f)
}
