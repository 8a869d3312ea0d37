//! What the CNI protocol itself prints: results (any spec version), error results, VERSION
//! answers, the `about` text of a reference plugin run without `CNI_COMMAND`, libcni's own error
//! sentences, and the runtime's `NetworkReady` condition as `crictl info` shows it.
//!
//! This parser runs first on every record, so it looks at the first byte and a few key names
//! before it allocates anything.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::envelope::Envelope;
use crate::event::{Category, CniError, Operation, Route};
use crate::facts::Facts;
use crate::text::{json_members, unescape, ByteSearch, JsonValue, PhraseSearch, TrimFast, Words};

/// Keys of which one must appear before a JSON object is read at all.
static KEYS: Words = Words::new(&[
    "\"cniVersion\"",
    "\"code\"",
    "\"ips\"",
    "\"interfaces\"",
    "\"supportedVersions\"",
    "\"ip4\"",
    "\"ip6\"",
    "\"NetworkReady\"",
    "\"lastCNILoadStatus",
]);

pub(crate) fn parse(env: &Envelope<'_>) -> Option<Facts> {
    let body = env.body.trim_fast();
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
    KEYS.any_in(text)
}

/// A whole JSON document (compact, or pretty-printed and joined by the collector).
fn document(text: &str) -> Option<Facts> {
    // A zap log line opens with its `level`, and `classify` rejects every object with one:
    // neither search its keys nor read it.
    if text.starts_with("{\"level\":\"") || !has_cni_key(text) {
        return None;
    }
    classify(&object_of(text)?)
}

/// `"type": "NetworkReady",\n "status": false, ...`: members of an object whose braces were
/// not part of the pasted or logged text.
fn member_run(text: &str) -> Option<Facts> {
    if !opens_with_key(text) || !text.contains_str("\":") || !has_cni_key(text) {
        return None;
    }
    classify(&object_of(&format!("{{{text}}}"))?)
}

/// Is the string that opens `text` followed by a `:`, as the first key of a member run is?
/// Without one neither the JSON parser nor the lenient reader finds a member in `{text}`: a scan
/// of one string that spares a quoted kubelet message (`"Failed to ..." err="..."`) the key
/// searches over the whole line.
fn opens_with_key(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 1;
    // Only quotes and backslashes matter inside a string: jump between them.
    while let Some(k) = b
        .get(i..)
        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
    {
        i += k;
        if b[i] == b'"' {
            let mut after = b[i + 1..].iter().filter(|c| !c.is_ascii_whitespace());
            return after.next() == Some(&b':');
        }
        i += 2;
    }
    false
}

/// The members of a JSON object: read exactly when the document is complete, leniently (what
/// precedes a cut, trailing commas) when it is not.
pub(crate) fn object_of(text: &str) -> Option<Members<'_>> {
    if let Ok(Json::Object(m)) = serde_json::from_str::<Json<'_>>(text) {
        return Some(m);
    }
    let members = json_members(text)?;
    let m: Vec<_> = members
        .into_iter()
        .filter_map(|(k, v)| {
            let v = match v {
                JsonValue::Str(s) => Json::Str(s),
                // A nested value cut off by truncation does not parse and is dropped.
                JsonValue::Raw(r) => serde_json::from_str(r).ok()?,
            };
            Some((k, v))
        })
        .collect();
    (!m.is_empty()).then_some(Members(m))
}

/// A JSON value read in place, what this module reads instead of a `serde_json::Value`: its
/// strings borrow from the document unless they hold escapes, and an object keeps its members
/// in a list, not a map; building a `Value` copied every key and string into a tree of maps.
/// The same parser reads it, so what fails to parse as a `Value` fails here too.
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Members<'a>),
}

/// An object's members in document order, duplicates included.
pub(crate) struct Members<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Members<'a> {
    /// The value of `key`: of duplicate keys the last, as a `serde_json::Map` keeps it.
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The object as a `serde_json::Map` (sorted keys, the last of duplicates).
    fn to_map(&self) -> Map<String, Value> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone().into_owned(), v.to_value()))
            .collect()
    }
}

impl<'a> Json<'a> {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    fn as_object(&self) -> Option<&Members<'a>> {
        match self {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&Number> {
        match self {
            Json::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The member `key` of an object; `None` for any other value.
    pub(crate) fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.as_object()?.get(key)
    }

    /// The value as `serde_json` would have read it.
    fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::Str(s) => Value::String(s.clone().into_owned()),
            Json::Array(a) => Value::Array(a.iter().map(Json::to_value).collect()),
            Json::Object(m) => Value::Object(m.to_map()),
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

/// Builds a [`Json`] from what the parser reports, as `serde_json::Value`'s visitor does.
struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(s)))
    }

    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        Json::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some((Key(k), v)) = map.next_entry()? {
            members.push((k, v));
        }
        Ok(Json::Object(Members(members)))
    }
}

/// An object's key, borrowed from the document when it holds no escape.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(s.to_owned())))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(s)))
    }

    fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(s)))
    }
}

fn str_of<'a>(m: &'a Members<'_>, key: &str) -> Option<&'a str> {
    m.get(key)
        .and_then(Json::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Which CNI document `m` is, and its facts; `None` for any other JSON (zap logs, configs).
fn classify(m: &Members<'_>) -> Option<Facts> {
    if m.contains_key("level") {
        return None;
    }
    if let Some(Json::Array(versions)) = m.get("supportedVersions") {
        let mut f = Facts {
            operation: Some(Operation::Version),
            success: Some(true),
            ..Facts::default()
        };
        Facts::set(&mut f.cni_version, str_of(m, "cniVersion").unwrap_or(""));
        let joined: Vec<&str> = versions.iter().filter_map(Json::as_str).collect();
        f.attr("supported_versions", &joined.join(", "));
        return Some(f);
    }
    let code = m
        .get("code")
        .and_then(Json::as_number)
        .and_then(Number::as_i64);
    if let (Some(code), Some(msg)) = (code, str_of(m, "msg")) {
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
        .any(|k| m.contains_key(k));
    // A network configuration also carries `cniVersion` but names its plugin.
    let config_key = ["type", "plugins", "name", "msg"]
        .iter()
        .any(|k| m.contains_key(k));
    if !result_key || config_key {
        return None;
    }
    let mut f = Facts::default();
    fill_result(&mut f, m);
    // Only ADD returns a result with interfaces and addresses (CHECK and DEL return nothing).
    f.operation = Some(Operation::Add);
    f.category = Some(Category::NetworkSetup);
    f.success = Some(true);
    if let Some(family) = f
        .host_interface
        .as_deref()
        .and_then(family_of_host_interface)
    {
        f.plugin = Some(family);
        f.confidence = Some(0.7);
    }
    Some(f)
}

/// The provider whose naming convention a host-side veth follows (`cali60a2b8aaa42`,
/// `lxc1a2b3c4d5e6f`, `eni0a1b2c3d4e5`); the family is inferred, not stated.
fn family_of_host_interface(name: &str) -> Option<&'static str> {
    [
        ("cali", "calico"),
        ("lxc", "cilium"),
        ("eni", "aws-vpc-cni"),
    ]
    .iter()
    .find(|(prefix, _)| {
        name.strip_prefix(prefix)
            .is_some_and(|id| id.len() >= 8 && id.bytes().all(|c| c.is_ascii_hexdigit()))
    })
    .map(|&(_, family)| family)
}

/// `{"code": 100, "msg": "...", "details": "..."}`: a plugin's failure.
fn error_result(m: &Members<'_>, code: i64, msg: &str) -> Facts {
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
    if msg.contains_str("failed to allocate") || msg.contains_str("no IP addresses available") {
        f.category = Some(Category::IpAllocation);
    }
    if msg.starts_with("failed to allocate for range ") || msg.contains_str(" in range set") {
        // host-local's allocator wording (`failed to allocate for range %d: %v`, `... in range
        // set`); it allocates only on ADD.
        f.plugin = Some("host-local");
        f.confidence = Some(0.7);
        f.operation = Some(Operation::Add);
    }
    if let Some(rest) = msg.split_once_str("requested IP address ").map(|(_, r)| r) {
        f.attr("requested_ip", rest.split_whitespace().next().unwrap_or(""));
    }
    f
}

/// A runtime condition (`crictl info` → `status.conditions[]`) about the pod network.
fn network_condition(m: &Members<'_>) -> Facts {
    let mut f = Facts {
        category: Some(Category::HealthCheck),
        ..Facts::default()
    };
    let ready = match m.get("status") {
        Some(Json::Bool(b)) => Some(*b),
        Some(Json::Str(s)) => s.parse::<bool>().ok(),
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
fn cni_load_status(m: &Members<'_>) -> Option<Facts> {
    // The first such key in sorted order, as a `serde_json::Map` iterates them.
    let key =
        m.0.iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with("lastCNILoadStatus"))
            .min()?;
    let status = m.get(key)?.as_str()?.trim_fast();
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

fn ifaces<'m>(m: &'m Members<'_>) -> Vec<Iface<'m>> {
    let Some(Json::Array(list)) = m.get("interfaces") else {
        return Vec::new();
    };
    list.iter()
        .filter_map(Json::as_object)
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
pub(crate) fn fill_result(f: &mut Facts, m: &Members<'_>) {
    Facts::set(&mut f.cni_version, str_of(m, "cniVersion").unwrap_or(""));
    let interfaces = ifaces(m);
    if let Some(Json::Array(ips)) = m.get("ips") {
        for ip in ips.iter().filter_map(Json::as_object) {
            let Some(addr) = str_of(ip, "address") else {
                continue;
            };
            f.add_ip(addr);
            Facts::set(&mut f.gateway, str_of(ip, "gateway").unwrap_or(""));
            let idx = ip
                .get("interface")
                .and_then(Json::as_number)
                .and_then(Number::as_u64);
            let iface = idx.and_then(|i| interfaces.get(usize::try_from(i).ok()?));
            if let Some(i) = iface.filter(|i| i.sandbox.is_some()) {
                pod_iface(f, i);
            }
        }
    }
    for key in ["ip4", "ip6"] {
        let Some(Json::Object(legacy)) = m.get(key) else {
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
    if let Some(dns) = m.get("dns").map(Json::to_value).filter(states_something) {
        f.dns = Some(dns);
    }
}

/// The container side of the pod's interface.
fn pod_iface(f: &mut Facts, i: &Iface<'_>) {
    Facts::set(&mut f.if_name, i.name);
    Facts::set(&mut f.mac, i.mac.unwrap_or(""));
    Facts::set(&mut f.netns, i.sandbox.unwrap_or(""));
}

fn add_routes(f: &mut Facts, routes: Option<&Json<'_>>) {
    let Some(Json::Array(routes)) = routes else {
        return;
    };
    for r in routes.iter().filter_map(Json::as_object) {
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
    let (inner, stderr) = match rest.find_str("', stderr='") {
        Some(at) => (
            &rest[..at],
            rest.get(at + 11..).map(|s| s.trim_end_matches('\'')),
        ),
        None => (rest.trim_end_matches('\''), None),
    };
    let mut f = document(inner.trim_fast())?;
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
        let (name, version) = first.strip_prefix("CNI ")?.split_once_str(" plugin ")?;
        if name.is_empty() || name.contains_byte(b' ') {
            return None;
        }
        f.plugin_type = Some(name.to_owned());
        f.attr("plugin_version", version);
        f.message = Some(first.to_owned());
        lines.find_map(|l| l.strip_prefix("CNI protocol versions supported:"))
    };
    if let Some(list) = versions_line {
        let versions: Vec<&str> = list
            .split_byte(b',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        let versions = versions.join(", ");
        f.message = Some(match (&f.plugin_type, f.attributes.get("plugin_version")) {
            (Some(name), Some(version)) => {
                format!("{name} plugin {version} supports CNI versions {versions}")
            }
            _ => format!("supports CNI versions {versions}"),
        });
        f.attr("supported_versions", &versions);
    }
    // The plugin's self-description, not a check of any network: a plugin_log.
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
    // libcni's `netplugin failed: %q` of the plugin's stderr: the stderr is the error, the
    // line stays in `details`.
    let quoted = text
        .strip_prefix("netplugin failed: \"")
        .and_then(|r| r.trim_end().strip_suffix('"'));
    match quoted {
        Some(stderr) => {
            f.set_error(&unescape(stderr));
            if let Some(e) = f.error.as_mut() {
                e.details = Some(text.trim_fast().to_owned());
            }
        }
        None => f.set_error(&unescape(text)),
    }
    Some(f)
}

/// libcni's version negotiation failure, also as an escaped fragment of a quoted error.
fn incompatible_versions(text: &str) -> Option<Facts> {
    if !text.starts_with("incompatible CNI versions") {
        return None;
    }
    let text = unescape(text);
    let mut text = text.trim_fast();
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
        .split_once_str("config is \"")
        .and_then(|(_, r)| r.split_once_byte(b'"'))
    {
        Facts::set(&mut f.cni_version, v.0);
    }
    if let Some(list) = text
        .split_once_str("plugin supports [")
        .and_then(|(_, r)| r.split_once_byte(b']'))
    {
        let versions: Vec<&str> = list
            .0
            .split([' ', ','])
            .map(|v| v.trim_matches('"'))
            .filter(|v| !v.is_empty())
            .collect();
        f.attr("supported_versions", &versions.join(", "));
    }
    Some(f)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::Format;
    use crate::formats::parse_record;

    /// Lines of the formats other helpers parse (runtime wrappers, events, other plugins).
    pub(crate) const FOREIGN: &[&str] = &[
        r#"Apr 22 05:17:07 fedora containerd[712]: 2022-04-22 05:17:07.520 [INFO][20999] k8s.go 73: Extracted identifiers for CmdAddK8s ContainerID="3a0b9ebe70d0932d6d1d4e6841ba2ec9a7f9d001f531be6261392dcd6e2ffd1b" Namespace="default" Pod="nginx-kata" WorkloadEndpoint="fedora-k8s-nginx--kata-eth0""#,
        r#"level=warning msg="Unable to create endpoint" containerID=4fd2175605c4bd7b03251f167310ea54a47c54c1895515b44eaad874d5a05e51 error="Cilium API client timeout exceeded" eventUUID=643d9fd9-37f3-4c63-a4c1-0ab2ebd4e53c subsys=cilium-cni"#,
        r#"{"level":"info","ts":"2024-10-10T21:51:34.993Z","caller":"routed-eni-cni-plugin/cni.go:119","msg":"Constructed new logger instance"}"#,
        r#"{"level":"error","ts":"2024-10-10T21:51:34.993Z","caller":"ipamd/ipamd.go:1","msg":"failed","code":7}"#,
        r#"2017/09/30 14:34:58 [cni-net] Processing DEL command with args {ContainerID:f363b81299c8676e0e5b491b05e31649d39ebb07b076864b7ace76064e2e300c Netns: IfName:eth0 Args:IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=yyy-1506541740-fms3c;K8S_POD_INFRA_CONTAINER_ID=f363b81299c8676e0e5b491b05e31649d39ebb07b076864b7ace76064e2e300c Path:/opt/azure-vnet/bin:/opt/cni/bin}."#,
        r#"2019/04/13 05:11:08 [cni-net] Plugin azure-vnet version v1.0.11."#,
        r#"  Warning  FailedCreatePodSandBox  60s               kubelet            Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "d9f4c91394d548cca1b189e665fd0532f158bb5bb4407153aa48e1af40afe2f0": plugin type="calico" failed (add): error getting ClusterInformation: connection is unauthorized: Unauthorized"#,
        r#"28m     Warning   FailedCreatePodSandBox         pod/llm-proxy-65577dbdfb-hq9h8           Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "6232c2d3c6e61f5ade0dd75a827e954bb3a72b323431247a369ba16fd70ab649": plugin type="flannel" failed (add): failed to load flannel 'subnet.env' file: open /run/flannel/subnet.env: no such file or directory. Check the flannel pod log for this node."#,
        r#"    Oct 26 14:08:18 k8s-eu-1-master kubelet[1067481]: E1026 14:08:18.459398 1067481 kuberuntime_sandbox.go:72] "Failed to create sandbox for pod" err="rpc error: code = Unknown desc = failed to setup network for sandbox \"5db402ddcda98eb797e884575883860a0211c9bf5b6b9d08562793290fd5de78\": plugin type=\"flannel\" failed (add): loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory" pod="kube-system/coredns-5dd5756b68-gt7xt""#,
        r#"Warning  FailedCreatePodSandBox  1s    kubelet  (combined from similar events): Failed to create pod sandbox: rpc error: code = Unknown desc = failed to create pod network sandbox k8s_coredns-7c65d6cfc9-prlbd_kube-system_335070f1-cc11-4569-bf97-e2ba7d480ee2_0(a1e1f9e2930f82a9d88d50b6245a88310d610bd04229384a24b354d172c2030e): error adding pod kube-system_coredns-7c65d6cfc9-prlbd to CNI network "cbr0": plugin type="flannel" failed (add): loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory"#,
        r#"Apr 30 21:19:38 z00419767-bcs-0001 kubelet[32535]: : [failed to find plugin "flannel" in path [/opt/cni/bin] failed to find plugin "portmap" in path [/opt/cni/bin]]"#,
        r#"E0711 15:11:17.994634   24727 remote_runtime.go:92] RunPodSandbox from runtime service failed: rpc error: code = Unknown desc = NetworkPlugin cni failed to set up pod "myzep-79945ccb7f-rz8ld_myzep" network: failed to allocate for range 0: no IP addresses available in range set: 10.42.0.1-10.42.0.254"#,
        r#"  Normal  AddedInterface  1s         multus             Add eth0 [10.233.76.149/32]"#,
        r#"  Warning  FailedCreatePodSandBox  9s         kubelet, localhost.localdomain  Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "6680c8253a85b20d0b5e21e95ae1ba7a0a2d85cd91ac621c40e2da5dd454f025": [default/samplepod:macvlan-conf]: error adding container to network "macvlan-conf": delegateAdd: cannot set "" interface name to "net1": validateIfName: interface name net1 already exists"#,
        r#"2019-08-06T08:44:24.537 controller-0 containerd[109360]: info time="2019-08-06T08:44:24.537275833Z" level=error msg="RunPodSandbox for &PodSandboxMetadata{Name:coredns-5ffc5dfc87-mq9ww,Uid:49b86b67-b821-11e9-8ec1-5254008c3e56,Namespace:kube-system,Attempt:0,} failed, error" error="failed to setup network for sandbox \"f225b3a306cc51f757c9f7280f34ee647f8a175acb79ebf918341fd3d27b2fa3\": cannot convert: no valid IP addresses""#,
        r#"Nov 05 17:15:34 atsc2 kubelet[4258]: E1105 17:15:34.352838    4258 remote_runtime.go:193] "RunPodSandbox from runtime service failed" err=<"#,
        r#"Feb 28 14:21:50 ip-10-128-171-159 kubelet[735]: E0228 14:21:50.538102     735 kuberuntime_sandbox.go:54] CreatePodSandbox for pod "web-0_default(1f2e)" failed: rpc error: code = Unknown desc = NetworkPlugin cni failed to set up pod "web-0_default" network: unable to allocate IP address: Post http://127.0.0.1:6784/ip/28d43bd0bc62c2043819662c6bed43737d8ea20bf3b1ab3c804e73760603474e: dial tcp 127.0.0.1:6784: getsockopt: connection refused"#,
        r#"I0101 00:00:00.000000       1 server.go:655] Version: v1.28.2"#,
        r#"2021/03/01 10:00:00 [error] 7#7: *1 connect() failed (111: Connection refused) while connecting to upstream"#,
        "",
        "   ",
        "{",
        "}",
        "[",
        "not a log line at all",
    ];

    /// Own lines of the other four formats of this module's sibling parsers.
    pub(crate) const SIBLINGS: &[&str] = &[
        r#"I0518 19:28:39.956871       1 main.go:475] Determining IP address of default interface"#,
        r#"Aug 12 10:41:51 core-02 sdnotify-proxy[940]: I0812 10:41:51.779339 00001 vxlan.go:226] Subnet removed: 10.1.88.0/24"#,
        r#"INFO: 2017/06/06 15:47:48.503688 Communication between peers is unencrypted."#,
        r#"Feb 28 14:21:50 ip-10-128-171-159 kubelet[735]: E0228 14:21:50.538102     735 cni.go:255] Error adding network: unable to allocate IP address: Post http://127.0.0.1:6784/ip/28d43bd0bc62c2043819662c6bed43737d8ea20bf3b1ab3c804e73760603474e: dial tcp 127.0.0.1:6784: getsockopt: connection refused"#,
        r#"E0328 04:41:20.151591    8770 network_routes_controller.go:190] Failed to enable netfilter for bridge. Network policies and service proxy may not work: exit status 1"#,
        r#"kube-router-qx29r kube-router 2024-05-12T19:28:56.850191696-05:00 flush TMP-PRBJ7ASFQM5DJR3Q"#,
        r#"Mar 14 02:50:05 timhorton-node03 kubelet: 2019-03-14T02:50:05-07:00 [debug] GetK8sClient: /etc/kubernetes/node-kubeconfig.yaml, <nil>"#,
        r#"{"cniVersion":"0.3.0","interfaces":[{"name":"cali60a2b8aaa42"}],"ips":[{"version":"4","address":"172.16.193.18/32"}],"dns":{}}"#,
        "CNI bridge plugin v1.3.0\nCNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0",
    ];

    /// Feeds every prefix of `line` (truncation at any point) to the whole dispatcher.
    pub(crate) fn survives_truncation(line: &str) {
        for (i, _) in line.char_indices() {
            let _ = parse_record(&line[..i], None);
        }
        let _ = parse_record(&line.replace('"', ""), None);
        let _ = parse_record(&line.replace(' ', ""), None);
    }

    fn claimed(record: &str) -> Facts {
        let f = parse_record(record, None).expect("claimed");
        assert_eq!(f.format, Some(Format::CniResult), "{record}");
        f
    }

    const PRETTY_RESULT: &str = r#"{
    "cniVersion": "0.3.1",
    "interfaces": [
        {
            "name": "cni0",
            "mac": "0a:58:0a:f4:01:01"
        },
        {
            "name": "veth7c5a44d1",
            "mac": "ae:4b:be:d5:7e:88"
        },
        {
            "name": "eth0",
            "mac": "0a:58:0a:f4:01:06",
            "sandbox": "/var/run/netns/a"
        }
    ],
    "ips": [
        {
            "version": "4",
            "interface": 2,
            "address": "10.244.1.6/24",
            "gateway": "10.244.1.1"
        }
    ],
    "routes": [
        {
            "dst": "0.0.0.0/0"
        }
    ],
    "dns": {}
}"#;

    #[test]
    fn pretty_bridge_result() {
        let f = claimed(PRETTY_RESULT);
        assert_eq!(f.cni_version.as_deref(), Some("0.3.1"));
        assert_eq!(f.ips, ["10.244.1.6/24"]);
        assert_eq!(f.gateway.as_deref(), Some("10.244.1.1"));
        assert_eq!(f.if_name.as_deref(), Some("eth0"));
        assert_eq!(f.mac.as_deref(), Some("0a:58:0a:f4:01:06"));
        assert_eq!(f.netns.as_deref(), Some("/var/run/netns/a"));
        assert_eq!(f.host_interface.as_deref(), Some("veth7c5a44d1"));
        assert_eq!(f.attributes.get("bridge").map(String::as_str), Some("cni0"));
        assert_eq!(
            f.routes,
            [Route {
                destination: "0.0.0.0/0".into(),
                gateway: None
            }]
        );
        assert_eq!(f.dns, None);
        assert_eq!(f.category, Some(Category::NetworkSetup));
        assert_eq!(f.success, Some(true));
        // Only ADD returns a result.
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.subnet, None);
        // veth and bridge names say nothing of the provider.
        assert_eq!((f.plugin, f.confidence), (None, None));
    }

    #[test]
    fn duplicate_keys_read_as_serde_json_map_keeps_them() {
        // The last of duplicate keys wins, and of several `lastCNILoadStatus*` keys the first
        // in sorted order is read.
        let f = claimed(r#"{"code":1,"msg":"first","code":7,"msg":"x\u00e9"}"#);
        let e = f.error.unwrap();
        assert_eq!((e.code, e.msg.as_str()), (Some(7), "x\u{e9}"));
        let f = claimed(r#"{"lastCNILoadStatus.z":"OK","lastCNILoadStatus.a":"broken"}"#);
        assert_eq!(f.attributes["status_key"], "lastCNILoadStatus.a");
        assert_eq!(f.success, Some(false));
        let f = claimed(
            r#"{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}],"dns":{"search":["a"],"search":[]}}"#,
        );
        assert_eq!(f.dns, None);
    }

    #[test]
    fn compact_calico_result() {
        let f = claimed(
            r#"{"cniVersion":"0.3.0","interfaces":[{"name":"cali60a2b8aaa42"}],"ips":[{"version":"4","address":"172.16.193.18/32"}],"dns":{}}"#,
        );
        assert_eq!(f.cni_version.as_deref(), Some("0.3.0"));
        assert_eq!(f.ips, ["172.16.193.18/32"]);
        assert_eq!(f.host_interface.as_deref(), Some("cali60a2b8aaa42"));
        assert_eq!((f.if_name, f.mac, f.netns, f.dns), (None, None, None, None));
        assert_eq!(f.success, Some(true));
        assert_eq!(f.operation, Some(Operation::Add));
        // Calico's host-side veth naming.
        assert_eq!((f.plugin, f.confidence), (Some("calico"), Some(0.7)));
    }

    #[test]
    fn result_variants() {
        // Truncated: the members before the cut still count.
        let f = claimed(
            r#"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/var/run/netns/cni-1"}],"ips":[{"interface":0,"address":"10.1.2.3/24"}],"routes":[{"dst":"0.0.0.0/0","gw":"10."#,
        );
        assert_eq!(f.ips, ["10.1.2.3/24"]);
        assert_eq!(f.netns.as_deref(), Some("/var/run/netns/cni-1"));
        // Spec 0.2.0 and DNS that states something; any key order.
        let f = claimed(
            r#"{"dns":{"nameservers":["10.96.0.10"]},"ip4":{"gateway":"10.22.0.1","ip":"10.22.0.5/16","routes":[{"dst":"0.0.0.0/0","gw":"10.22.0.1"}]},"cniVersion":"0.2.0"}"#,
        );
        assert_eq!(f.ips, ["10.22.0.5/16"]);
        assert_eq!(f.gateway.as_deref(), Some("10.22.0.1"));
        assert_eq!(f.routes[0].gateway.as_deref(), Some("10.22.0.1"));
        assert!(f.dns.is_some());
        // A network configuration is not a result.
        assert!(parse_record(
            r#"{"cniVersion":"0.3.1","name":"cbr0","type":"flannel","delegate":{"isDefaultGateway":true}}"#,
            None
        )
        .is_none());
    }

    #[test]
    fn quoted_error_result() {
        let f = claimed(
            r#"stdout='{ "code": 100, "msg": "failed to allocate for range 0: requested IP address 192.168.122.253 is not available in range set 192.168.122.10-192.168.122.20,192.168.122.140-192.168.122.200,192.168.122.250-192.168.122.254" }', stderr=''"#,
        );
        let e = f.error.expect("error");
        assert_eq!(e.code, Some(100));
        assert!(e.msg.starts_with(
            "failed to allocate for range 0: requested IP address 192.168.122.253 is not available"
        ));
        assert_eq!(e.details, None);
        assert_eq!(f.success, Some(false));
        assert_eq!(f.category, Some(Category::IpAllocation));
        assert!(f.ips.is_empty());
        assert_eq!(
            f.attributes.get("requested_ip").map(String::as_str),
            Some("192.168.122.253")
        );
        assert!(!f.attributes.contains_key("stderr"));
        // host-local's allocator wording; allocation happens only on ADD.
        assert_eq!((f.plugin, f.confidence), (Some("host-local"), Some(0.7)));
        assert_eq!(f.operation, Some(Operation::Add));

        let f = claimed(
            r#"{"cniVersion":"1.0.0","code":7,"msg":"invalid network config","details":"no ipam type"}"#,
        );
        let e = f.error.expect("error");
        assert_eq!(
            (e.code, e.details.as_deref()),
            (Some(7), Some("no ipam type"))
        );
        assert_eq!(f.category, None);
        assert_eq!((f.plugin, f.operation), (None, None));
    }

    #[test]
    fn libcni_errors() {
        // `netplugin failed: %q` of the plugin's stderr.
        let line =
            r#"netplugin failed: "panic: runtime error: index out of range [0] with length 0\n""#;
        let f = claimed(line);
        let e = f.error.expect("error");
        assert_eq!(
            e.msg,
            "panic: runtime error: index out of range [0] with length 0"
        );
        assert_eq!(e.details.as_deref(), Some(line));
        assert_eq!(f.success, Some(false));

        let f = claimed(
            r#"netplugin failed but error parsing its diagnostic message "": unexpected end of JSON input"#,
        );
        assert_eq!(f.success, Some(false));
        assert_eq!(
            f.error.map(|e| e.msg).as_deref(),
            Some(
                r#"netplugin failed but error parsing its diagnostic message "": unexpected end of JSON input"#
            )
        );

        let f = claimed(
            r#"incompatible CNI versions; config is "0.4.0", plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1"]"#,
        );
        assert_eq!(f.cni_version.as_deref(), Some("0.4.0"));
        assert_eq!(
            f.attributes.get("supported_versions").map(String::as_str),
            Some("0.1.0, 0.2.0, 0.3.0, 0.3.1")
        );
        assert_eq!(f.success, Some(false));

        // kubelet-runtime.log line 4: escaped quotes and a stray closing quote.
        let f = claimed(
            r#"incompatible CNI versions; config is \"1.0.0\", plugin supports [\"0.1.0\" \"0.2.0\" \"0.3.0\" \"0.3.1\" \"0.4.0\"]""#,
        );
        assert_eq!(f.cni_version.as_deref(), Some("1.0.0"));
        assert_eq!(
            f.error.map(|e| e.msg).as_deref(),
            Some(
                r#"incompatible CNI versions; config is "1.0.0", plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0"]"#
            )
        );
        assert_eq!(
            f.attributes.get("supported_versions").map(String::as_str),
            Some("0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0")
        );
    }

    #[test]
    fn version_answers() {
        let f = claimed(
            r#"{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0"]}"#,
        );
        assert_eq!(f.operation, Some(Operation::Version));
        assert_eq!(f.cni_version.as_deref(), Some("1.0.0"));
        assert_eq!(f.success, Some(true));
        assert_eq!(
            f.attributes.get("supported_versions").map(String::as_str),
            Some("0.3.0, 0.3.1, 0.4.0, 1.0.0")
        );

        let f = claimed("CNI bridge plugin v1.3.0\nCNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0");
        assert_eq!(f.plugin_type.as_deref(), Some("bridge"));
        assert_eq!(f.operation, None);
        // A self-description, not a check: plugin_log.
        assert_eq!(f.category, None);
        assert_eq!(
            f.message.as_deref(),
            Some("bridge plugin v1.3.0 supports CNI versions 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0")
        );
        assert_eq!(
            f.attributes.get("plugin_version").map(String::as_str),
            Some("v1.3.0")
        );
        assert_eq!(
            f.attributes.get("supported_versions").map(String::as_str),
            Some("0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0")
        );
        // The first line alone, when the second never came.
        let f = claimed("CNI host-local plugin version unknown");
        assert_eq!(f.plugin_type.as_deref(), Some("host-local"));
    }

    #[test]
    fn crictl_network_condition() {
        let record = "        \"type\": \"NetworkReady\",\n        \"status\": false,\n        \"reason\": \"NetworkPluginNotReady\",\n        \"message\": \"Network plugin returns error: cni plugin not initialized\"";
        let f = claimed(record);
        assert_eq!(f.category, Some(Category::HealthCheck));
        assert_eq!(f.success, Some(false));
        assert_eq!(
            f.error.map(|e| e.msg).as_deref(),
            Some("cni plugin not initialized")
        );
        assert_eq!(
            f.attributes.get("reason").map(String::as_str),
            Some("NetworkPluginNotReady")
        );
        // Cut after the second member, trailing comma and all.
        let f = claimed("        \"type\": \"NetworkReady\",\n        \"status\": true,");
        assert_eq!(f.success, Some(true));
        assert_eq!(f.error, None);
        let f = claimed(
            r#"    "lastCNILoadStatus": "cni config load failed: no network config found in /etc/cni/net.d: cni plugin not initialized: failed to load cni config","#,
        );
        assert_eq!(f.success, Some(false));
        assert!(f.error.is_some());
    }

    #[test]
    fn other_lines_are_not_claimed() {
        for line in FOREIGN.iter().chain(&SIBLINGS[..7]) {
            assert_eq!(parse(&Envelope::strip(line)), None, "{line}");
        }
    }

    #[test]
    fn garbage_does_not_panic() {
        for line in [
            PRETTY_RESULT,
            r#"stdout='{ "code": 100, "msg": "x" }', stderr='oops'"#,
            r#"incompatible CNI versions; config is \"1.0.0\", plugin supports [\"0.1.0\"]""#,
            "CNI bridge plugin v1.3.0\nCNI protocol versions supported: 0.1.0",
            "        \"type\": \"NetworkReady\",\n        \"status\": false,",
            r#"{"ips":[{"interface":99999999999999999999,"address":"1.2.3.4"}],"interfaces":{}}"#,
            r#"{"ips":"x","interfaces":[1,2],"routes":[{"dst":5}],"dns":[]}"#,
        ] {
            survives_truncation(line);
        }
    }

    #[test]
    fn extra_fixture_lines_are_claimed() {
        let text = include_str!("../../../fixtures/logs/extra/cni-result.log");
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            // The two-line `about` output is one record, joined as the collector joins it.
            let record = match lines.peek() {
                Some(next) if next.starts_with("CNI protocol versions supported") => {
                    format!("{line}\n{}", lines.next().unwrap_or_default())
                }
                _ => line.to_owned(),
            };
            claimed(&record);
        }
    }
}
