//! A CNI network config file's bytes → [`NetConf`], validated the way libcni loads it.
//!
//! libcni reads `.conflist` files as a list (`name` and a non-empty `plugins` array required)
//! and `.conf` / `.json` files as one plugin config (`type` required); a file it cannot load is
//! skipped by the container runtime, so the same checks decide here which file is *valid*.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::text::bounded;

/// The longest value, and the longest key path, kept of one flattened config key; also the
/// longest name, type or range kept in the summary.
const MAX_VALUE_BYTES: usize = 256;
/// Plugins of a chain kept in the summary (all are validated), and entries of each of a
/// plugin's lists (ranges, routes, capabilities, delegates): with the leaf limit this bounds a
/// parsed config to a few hundred KiB whatever the file holds.
const MAX_PLUGINS: usize = 16;
const MAX_LIST: usize = 8;
/// Nesting kept when flattening (real configs are under ten deep).
const MAX_DEPTH: usize = 16;

/// What a config file holds, as far as users need it, with secret-looking values redacted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetConf {
    /// The network name (`name` of the list, or of the single config).
    pub name: Option<String>,
    pub cni_version: Option<String>,
    /// Read as a `.conflist`.
    pub is_list: bool,
    /// The chain, in execution order.
    pub plugins: Vec<PluginConf>,
    /// Every scalar of the config by its path (`plugins[bridge].ipam.subnet`), bounded and
    /// redacted: the base of the key-by-key diff.
    pub leaves: BTreeMap<String, String>,
    /// Leaves beyond the limit, not kept.
    pub leaves_cut: usize,
    /// Plugins of the chain beyond the first 16, validated but not kept.
    pub plugins_cut: usize,
}

/// One plugin of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginConf {
    pub plugin_type: String,
    pub ipam_type: Option<String>,
    /// Subnets, ranges (`10.1.0.0/16 [10.1.0.10-10.1.0.50]`), pools and static addresses.
    pub ranges: Vec<String>,
    /// IPAM routes, `dst` or `dst via gw`.
    pub routes: Vec<String>,
    pub bridge: Option<String>,
    pub is_gateway: Option<bool>,
    pub mtu: Option<String>,
    /// Capabilities the plugin asks the runtime for (`portMappings`, `bandwidth`, ...).
    pub capabilities: Vec<String>,
    /// Types of delegated configs (Multus `delegates`, Flannel `delegate`).
    pub delegates: Vec<String>,
}

/// Why a config file cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("empty file")]
    Empty,
    #[error("binary content (not UTF-8 text), not a JSON config")]
    Binary,
    #[error("larger than {0} bytes, only that much was read")]
    TooLarge(usize),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("not a JSON object")]
    NotObject,
    #[error("missing 'type'{}", if *.0 { " (a 'plugins' list belongs in a .conflist file)" } else { "" })]
    MissingType(bool),
    #[error("a .conflist needs a 'name'")]
    MissingName,
    #[error("a .conflist needs a non-empty 'plugins' array")]
    NoPlugins,
    #[error("plugins[{0}]: {1}")]
    Plugin(usize, String),
    #[error("'{0}' is not a string")]
    NotString(&'static str),
}

/// How libcni reads a file, from its name (only the extension counts: libcni loads hidden
/// files too); `None` for names it does not load.
pub fn kind_of_name(file_name: &str) -> Option<FileKind> {
    if file_name.ends_with(".conflist") {
        Some(FileKind::List)
    } else if file_name.ends_with(".conf") || file_name.ends_with(".json") {
        Some(FileKind::Single)
    } else {
        None
    }
}

/// Whether a file in a config directory is one libcni would consider loading.
pub fn is_config_name(file_name: &str) -> bool {
    kind_of_name(file_name).is_some()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `.conf` / `.json`: one plugin config.
    Single,
    /// `.conflist`: a named chain of plugins.
    List,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Single => "single plugin config",
            FileKind::List => "config list",
        })
    }
}

/// Parses and validates a config file's content; `cut` says the read stopped at a size limit.
///
/// # Errors
/// What libcni would refuse the file for, or why it is not text at all.
pub fn parse(kind: FileKind, bytes: &[u8], cut: bool, max_leaves: usize) -> Result<NetConf, Error> {
    // Binary content is told apart first, so a large binary is not reported as a large config.
    // A cut may split a character: only a sequence invalid before the cut is binary.
    let utf8 = std::str::from_utf8(bytes);
    let invalid = utf8
        .as_ref()
        .is_err_and(|e| !cut || e.error_len().is_some());
    if bytes.contains(&0) || invalid {
        return Err(Error::Binary);
    }
    if cut {
        return Err(Error::TooLarge(bytes.len()));
    }
    let Ok(text) = utf8 else {
        return Err(Error::Binary);
    };
    if text.trim().is_empty() {
        return Err(Error::Empty);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| Error::Json(e.to_string()))?;
    let Value::Object(top) = &value else {
        return Err(Error::NotObject);
    };
    let mut conf = NetConf {
        name: string_of(top, "name")?,
        cni_version: string_of(top, "cniVersion")?,
        is_list: kind == FileKind::List,
        ..NetConf::default()
    };
    match kind {
        FileKind::Single => {
            let plugin = plugin_of(top).map_err(|e| match e {
                Error::MissingType(_) => Error::MissingType(top.contains_key("plugins")),
                e => e,
            })?;
            conf.plugins.push(plugin);
        }
        FileKind::List => {
            if conf.name.as_deref().is_none_or(str::is_empty) {
                return Err(Error::MissingName);
            }
            let Some(Value::Array(plugins)) = top.get("plugins") else {
                return Err(Error::NoPlugins);
            };
            if plugins.is_empty() {
                return Err(Error::NoPlugins);
            }
            for (i, p) in plugins.iter().enumerate() {
                let Value::Object(p) = p else {
                    return Err(Error::Plugin(i, Error::NotObject.to_string()));
                };
                let plugin = plugin_of(p).map_err(|e| Error::Plugin(i, e.to_string()))?;
                if conf.plugins.len() < MAX_PLUGINS {
                    conf.plugins.push(plugin);
                } else {
                    conf.plugins_cut += 1;
                }
            }
        }
    }
    let mut flat = Flattener {
        leaves: BTreeMap::new(),
        max: max_leaves,
        cut: 0,
    };
    flat.walk("", &value, None, false, 0);
    conf.leaves = flat.leaves;
    conf.leaves_cut = flat.cut;
    Ok(conf)
}

fn string_of(m: &Map<String, Value>, key: &'static str) -> Result<Option<String>, Error> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(short(s))),
        Some(_) => Err(Error::NotString(key)),
    }
}

fn plugin_of(p: &Map<String, Value>) -> Result<PluginConf, Error> {
    let plugin_type = string_of(p, "type")?.filter(|t| !t.is_empty());
    let Some(plugin_type) = plugin_type else {
        return Err(Error::MissingType(false));
    };
    let mut out = PluginConf {
        plugin_type,
        bridge: p.get("bridge").and_then(Value::as_str).map(short),
        is_gateway: p.get("isGateway").and_then(Value::as_bool),
        mtu: p.get("mtu").and_then(scalar).map(|m| short(&m)),
        ..PluginConf::default()
    };
    if let Some(Value::Object(caps)) = p.get("capabilities") {
        out.capabilities = caps
            .iter()
            .filter(|(_, on)| on.as_bool() == Some(true))
            .map(|(k, _)| short(k))
            .take(MAX_LIST)
            .collect();
    }
    if let Some(Value::Object(ipam)) = p.get("ipam") {
        out.ipam_type = ipam.get("type").and_then(Value::as_str).map(short);
        read_ipam(ipam, &mut out);
    }
    // Calico states its pools next to `ipam`, not inside it.
    for key in ["ipv4_pools", "ipv6_pools"] {
        push_strings(p.get(key), &mut out.ranges);
        if let Some(Value::Object(ipam)) = p.get("ipam") {
            push_strings(ipam.get(key), &mut out.ranges);
        }
    }
    match p.get("delegates").or_else(|| p.get("delegate")) {
        Some(Value::Array(ds)) => {
            out.delegates = ds.iter().filter_map(delegate_type).take(MAX_LIST).collect();
        }
        Some(d @ Value::Object(_)) => out.delegates.extend(delegate_type(d)),
        _ => {}
    }
    Ok(out)
}

/// A delegate's type, or the types of the list it is.
fn delegate_type(d: &Value) -> Option<String> {
    if let Some(t) = d.get("type").and_then(Value::as_str) {
        return Some(short(t));
    }
    let types: Vec<&str> = d
        .get("plugins")?
        .as_array()?
        .iter()
        .filter_map(|p| p.get("type").and_then(Value::as_str))
        .collect();
    (!types.is_empty()).then(|| short(&types.join("+")))
}

fn read_ipam(ipam: &Map<String, Value>, out: &mut PluginConf) {
    let range = |r: &Map<String, Value>| {
        let subnet = r.get("subnet").and_then(Value::as_str)?;
        let start = r.get("rangeStart").and_then(Value::as_str);
        let end = r.get("rangeEnd").and_then(Value::as_str);
        Some(match (start, end) {
            (None, None) => subnet.to_owned(),
            (s, e) => format!("{subnet} [{}-{}]", s.unwrap_or(""), e.unwrap_or("")),
        })
    };
    push_bounded(&mut out.ranges, range(ipam));
    if let Some(Value::Array(sets)) = ipam.get("ranges") {
        for set in sets.iter().filter_map(Value::as_array) {
            for r in set.iter().filter_map(Value::as_object) {
                push_bounded(&mut out.ranges, range(r));
            }
        }
    }
    // whereabouts `range`, static `addresses`.
    push_bounded(
        &mut out.ranges,
        ipam.get("range").and_then(Value::as_str).map(str::to_owned),
    );
    if let Some(Value::Array(addrs)) = ipam.get("addresses") {
        for a in addrs {
            let address = a.get("address").and_then(Value::as_str);
            push_bounded(&mut out.ranges, address.map(str::to_owned));
        }
    }
    if let Some(Value::Array(routes)) = ipam.get("routes") {
        for r in routes {
            let Some(dst) = r.get("dst").and_then(Value::as_str) else {
                continue;
            };
            let route = match r.get("gw").and_then(Value::as_str) {
                Some(gw) => format!("{dst} via {gw}"),
                None => dst.to_owned(),
            };
            push_bounded(&mut out.routes, Some(route));
        }
    }
}

fn push_strings(v: Option<&Value>, out: &mut Vec<String>) {
    if let Some(Value::Array(items)) = v {
        for item in items.iter().filter_map(Value::as_str) {
            push_bounded(out, Some(item.to_owned()));
        }
    }
}

/// Adds `item` (bounded) unless the list is full.
fn push_bounded(list: &mut Vec<String>, item: Option<String>) {
    if let Some(item) = item.filter(|_| list.len() < MAX_LIST) {
        list.push(short(&item));
    }
}

fn short(s: &str) -> String {
    bounded(s, MAX_VALUE_BYTES)
}

/// A scalar as text (`1500`, `"1500"`, `true`).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

struct Flattener {
    leaves: BTreeMap<String, String>,
    max: usize,
    cut: usize,
}

impl Flattener {
    /// `hidden`: a key above this value looks like a secret, so everything under it is one.
    fn walk(&mut self, path: &str, v: &Value, key: Option<&str>, hidden: bool, depth: usize) {
        if depth > MAX_DEPTH {
            self.push(path, "<nested too deep>".to_owned());
            return;
        }
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    let hidden = hidden || is_secret_key(k);
                    self.walk(&p, child, Some(k), hidden, depth + 1);
                }
            }
            Value::Array(items) => {
                let labels = element_labels(items);
                for (label, child) in labels.iter().zip(items) {
                    self.walk(&format!("{path}[{label}]"), child, key, hidden, depth + 1);
                }
            }
            Value::Null => self.push(path, "null".to_owned()),
            scalar_value => {
                let text = scalar(scalar_value).unwrap_or_default();
                let secret = hidden || key.is_some_and(|k| is_secret(k, &text));
                let text = if secret || text.contains("-----BEGIN ") {
                    super::REDACTED.to_owned()
                } else {
                    short(&text)
                };
                self.push(path, text);
            }
        }
    }

    fn push(&mut self, path: &str, value: String) {
        if self.leaves.len() >= self.max {
            self.cut += 1;
            return;
        }
        self.leaves.insert(short(path), value);
    }
}

/// Array elements are named by their `type` where each has a distinct one, so a diff of a
/// reordered chain names plugins, not positions.
fn element_labels(items: &[Value]) -> Vec<String> {
    let types: Vec<Option<&str>> = items
        .iter()
        .map(|i| i.get("type").and_then(Value::as_str))
        .collect();
    let distinct = types.iter().all(Option::is_some)
        && types
            .iter()
            .enumerate()
            .all(|(i, t)| !types[..i].contains(t));
    if distinct {
        types.into_iter().flatten().map(str::to_owned).collect()
    } else {
        (0..items.len()).map(|i| i.to_string()).collect()
    }
}

/// Whether a config key's value must not leave the collector (DESIGN.md §5): passwords, tokens,
/// secrets, keys and credentials, but not file paths to them, public keys, nor the handful of
/// keys whose name merely contains "key".
pub fn is_secret(key: &str, value: &str) -> bool {
    value.contains("-----BEGIN ") || is_secret_key(key)
}

/// Whether a key's name says its value is a secret.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    const PATHS: [&str; 4] = ["file", "path", "dir", "name"];
    if PATHS.iter().any(|p| k.ends_with(p)) {
        return false;
    }
    if k.contains("public") {
        return false;
    }
    const WORDS: [&str; 8] = [
        "password",
        "passwd",
        "token",
        "secret",
        "credential",
        "key",
        "auth",
        "cert",
    ];
    WORDS.iter().any(|w| k.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> Result<NetConf, Error> {
        parse(FileKind::List, text.as_bytes(), false, 1024)
    }

    fn single(text: &str) -> Result<NetConf, Error> {
        parse(FileKind::Single, text.as_bytes(), false, 1024)
    }

    #[test]
    fn names_libcni_loads() {
        assert_eq!(kind_of_name("10-a.conflist"), Some(FileKind::List));
        assert_eq!(kind_of_name("10-a.conf"), Some(FileKind::Single));
        assert_eq!(kind_of_name("10-a.json"), Some(FileKind::Single));
        assert_eq!(kind_of_name(".10-a.conf"), Some(FileKind::Single));
        for n in [
            "10-a.conflist.tmp",
            "README",
            ".10-a.conf.swp",
            "10-a.conf~",
            "4913",
        ] {
            assert_eq!(kind_of_name(n), None, "{n}");
        }
    }

    #[test]
    fn what_libcni_refuses() {
        assert_eq!(single(""), Err(Error::Empty));
        assert_eq!(single(" \n"), Err(Error::Empty));
        assert_eq!(
            parse(FileKind::Single, b"\x7fELF\x02\x01\x01\0", false, 8),
            Err(Error::Binary)
        );
        assert_eq!(
            parse(FileKind::Single, b"{\xff}", false, 8),
            Err(Error::Binary)
        );
        assert_eq!(
            parse(FileKind::Single, b"{}", true, 8),
            Err(Error::TooLarge(2))
        );
        // Cut inside a character: still text.
        assert_eq!(
            parse(
                FileKind::Single,
                "{\"a\":\"é".as_bytes().split_last().unwrap().1,
                true,
                8
            ),
            Err(Error::TooLarge(7))
        );
        assert_eq!(
            parse(FileKind::Single, b"\x7fELF\x02\x01\x01\0", true, 8),
            Err(Error::Binary)
        );
        assert_eq!(single("[1]"), Err(Error::NotObject));
        assert_eq!(single(r#"{"name":"x"}"#), Err(Error::MissingType(false)));
        assert_eq!(
            single(r#"{"name":"x","plugins":[{"type":"bridge"}]}"#),
            Err(Error::MissingType(true))
        );
        assert_eq!(
            list(r#"{"plugins":[{"type":"a"}]}"#),
            Err(Error::MissingName)
        );
        assert_eq!(list(r#"{"name":"n","plugins":[]}"#), Err(Error::NoPlugins));
        assert_eq!(list(r#"{"name":"n"}"#), Err(Error::NoPlugins));
        assert_eq!(
            list(r#"{"name":"n","plugins":[{"type":"a"},{"mtu":1}]}"#),
            Err(Error::Plugin(1, "missing 'type'".to_owned()))
        );
        assert_eq!(
            list(r#"{"name":"n","cniVersion":1,"plugins":[{"type":"a"}]}"#),
            Err(Error::NotString("cniVersion"))
        );
        let Err(Error::Json(msg)) = list(r#"{"name":"n","#) else {
            panic!("cut JSON must be a JSON error");
        };
        assert!(msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn secrets_are_redacted_in_leaves() {
        let c = single(
            r#"{"type":"x","etcd_key_file":"/k.pem","apiKey":"s3cr3t","kubernetes":{"token":"abc","kubeconfig":"/etc/kc"},
                "etcd_ca":"-----BEGIN CERTIFICATE-----\nMII","publicKey":"pub","mtu":9001,"credentials":{"user":"u"},"auth_tokens":["t"],"datastore_type":"kubernetes"}"#,
        )
        .unwrap();
        let get = |k: &str| c.leaves.get(k).map(String::as_str);
        assert_eq!(get("credentials.user"), Some(REDACTED_TEXT));
        assert_eq!(get("auth_tokens[0]"), Some(REDACTED_TEXT));
        assert_eq!(get("etcd_key_file"), Some("/k.pem"));
        assert_eq!(get("apiKey"), Some(REDACTED_TEXT));
        assert_eq!(get("kubernetes.token"), Some(REDACTED_TEXT));
        assert_eq!(get("kubernetes.kubeconfig"), Some("/etc/kc"));
        assert_eq!(get("etcd_ca"), Some(REDACTED_TEXT));
        assert_eq!(get("publicKey"), Some("pub"));
        assert_eq!(get("mtu"), Some("9001"));
        assert_eq!(get("datastore_type"), Some("kubernetes"));
    }

    const REDACTED_TEXT: &str = super::super::REDACTED;

    #[test]
    fn the_summary_is_bounded_whatever_the_file_holds() {
        let ranges: Vec<String> = (0..100).map(|i| format!("\"10.{i}.0.0/16\"")).collect();
        let plugins: Vec<String> = (0..40)
            .map(|i| format!(r#"{{"type":"p{i}","ipv4_pools":[{}]}}"#, ranges.join(",")))
            .collect();
        let long_key = "k".repeat(10_000);
        let text = format!(
            r#"{{"name":"{}","plugins":[{}],"{long_key}":1}}"#,
            "n".repeat(10_000),
            plugins.join(",")
        );
        let c = list(&text).unwrap();
        assert_eq!(
            (c.plugins.len(), c.plugins_cut),
            (MAX_PLUGINS, 40 - MAX_PLUGINS)
        );
        assert!(c.plugins.iter().all(|p| p.ranges.len() == MAX_LIST));
        assert!(c.name.as_ref().unwrap().len() < MAX_VALUE_BYTES + 32);
        assert!(c.leaves.keys().all(|k| k.len() < MAX_VALUE_BYTES + 32));
    }

    #[test]
    fn leaves_are_bounded() {
        let c = single(r#"{"type":"x","a":1,"b":2,"c":3,"d":4}"#).unwrap();
        assert_eq!(c.leaves.len(), 5);
        let c = parse(
            FileKind::Single,
            br#"{"type":"x","a":1,"b":2,"c":3,"d":4}"#,
            false,
            2,
        )
        .unwrap();
        assert_eq!((c.leaves.len(), c.leaves_cut), (2, 3));
    }
}
