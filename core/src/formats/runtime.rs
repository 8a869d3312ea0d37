//! kubelet (klog), containerd and CRI-O (logrus) lines about pod networking, and bare runtime
//! error text.
//!
//! These components log far more than networking, so each reader first asks whether the line
//! is about CNI at all; the runtime error wording inside them is read by
//! [`runtime_error::read`].

use std::borrow::Cow;

use crate::envelope::Envelope;
use crate::event::{Category, Format, Operation, Severity};
use crate::facts::Facts;
use crate::formats::runtime_error::{self, mentions_network};
use crate::text::{find_container_id, is_container_id, pod_slash, unescape, Logfmt};
use crate::time::parse_iso;

/// A kubelet (or other klog) line about pod networking; the envelope removed the klog header.
pub(crate) fn parse_klog(env: &Envelope<'_>) -> Option<Facts> {
    let klog = env.klog.as_ref()?;
    let body = env.body.as_ref();
    if !mentions_network(body) {
        return None;
    }
    let mut f = Facts::new(Format::Klog);
    let claimed = match body.strip_prefix('"') {
        Some(quoted) => structured_klog(quoted, &mut f),
        None => unstructured_klog(body.trim(), &mut f),
    };
    if !claimed {
        return None;
    }
    f.attr("caller", &klog.source);
    Some(f)
}

/// `"Message" key="value" key=<\n\tmulti-line value\n >`; `s` starts after the opening quote.
fn structured_klog(s: &str, f: &mut Facts) -> bool {
    let (msg, rest) = klog_message(s);
    let (pairs_text, blocks) = klog_blocks(rest);
    let pairs = Logfmt::parse(&pairs_text);
    let block = |key: &str| {
        blocks
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let err = block("err").or_else(|| pairs.get_nonempty("err"));
    let op = sandbox_op(&msg);

    let mut claimed = err.is_some_and(|e| runtime_error::read(e, f));
    if let Some(ready) = pairs.get_nonempty("networkReady") {
        claimed |= runtime_error::read(ready, f);
    }
    if !claimed {
        claimed = runtime_error::read(&msg, f);
    }
    // A multi-line `err=<` whose lines did not reach us still reports the sandbox failure.
    let opener_only = block("err").is_some_and(str::is_empty);
    let content_less_failure = opener_only && op.is_some() && msg.contains("failed");
    if !(claimed || content_less_failure) {
        return false;
    }
    if f.operation.is_none() {
        f.operation = op;
    }
    if f.operation.is_some() && msg.contains("failed") {
        f.success = Some(false);
    }
    if let Some((ns, name)) = pairs.get_nonempty("pod").and_then(pod_slash) {
        Facts::set(&mut f.namespace, ns);
        Facts::set(&mut f.pod_name, name);
    }
    if let Some(uid) = pairs.get_nonempty("podUID") {
        Facts::set(&mut f.pod_uid, uid);
    }
    for key in ["podSandboxID", "containerID"] {
        if let Some(id) = pairs.get_nonempty(key) {
            sandbox_id(id, f);
        }
    }
    Facts::set(&mut f.message, &msg);
    true
}

/// A sandbox id stated beside the error: kubelet cuts `podSandboxID` to 13 characters while
/// the error carries the full id, which is the one worth keeping.
fn sandbox_id(id: &str, f: &mut Facts) {
    match f.container_id.as_deref() {
        None => Facts::set(&mut f.container_id, id),
        Some(full) if full != id => f.attr("pod_sandbox_id", id),
        Some(_) => {}
    }
}

/// The quoted klog message (`s` starts after its opening quote) and the text after it.
fn klog_message(s: &str) -> (Cow<'_, str>, &str) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return (unescape(&s[..i]), &s[i + 1..]),
            _ => i += 1,
        }
    }
    (unescape(s), "")
}

/// Takes klog's multi-line values (`key=<` newline, tab-indented lines, ` >`) out of `s`:
/// returns the one-line pairs that remain and each (key, value).
fn klog_blocks(s: &str) -> (Cow<'_, str>, Vec<(String, String)>) {
    if !s.contains("=<") {
        return (Cow::Borrowed(s), Vec::new());
    }
    let mut pairs = String::new();
    let mut blocks = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find("=<") {
        let after = &rest[at + 2..];
        if !(after.is_empty() || after.starts_with('\n')) {
            pairs.push_str(&rest[..at + 2]);
            rest = after;
            continue;
        }
        let head = &rest[..at];
        let key_start = head.rfind(' ').map_or(0, |p| p + 1);
        pairs.push_str(&head[..key_start]);
        let key = head[key_start..].to_owned();
        let mut lines = Vec::new();
        let mut tail = "";
        let mut pos = usize::from(after.starts_with('\n'));
        while pos > 0 && pos < after.len() {
            let end = after[pos..].find('\n').map_or(after.len(), |e| pos + e);
            let line = &after[pos..end];
            if let Some(more) = line.trim_start_matches(' ').strip_prefix('>') {
                // The remaining pairs follow the closing `>` on its line and after it.
                tail = &after[end - more.len()..];
                break;
            }
            lines.push(line.strip_prefix('\t').unwrap_or(line));
            pos = end + 1;
        }
        blocks.push((key, lines.join("\n").trim().to_owned()));
        rest = tail;
        if rest.is_empty() {
            break;
        }
    }
    pairs.push_str(rest);
    (Cow::Owned(pairs), blocks)
}

/// The operation a kubelet message about a sandbox names.
fn sandbox_op(msg: &str) -> Option<Operation> {
    if msg.contains("RunPodSandbox")
        || msg.contains("CreatePodSandbox")
        || msg.contains("create sandbox")
    {
        Some(Operation::Add)
    } else if msg.contains("StopPodSandbox")
        || msg.contains("KillPodSandbox")
        || msg.contains("RemovePodSandbox")
        || msg.contains("stop sandbox")
    {
        Some(Operation::Del)
    } else {
        None
    }
}

fn unstructured_klog(body: &str, f: &mut Facts) -> bool {
    const NETNS: &str = "CNI failed to retrieve network namespace path: ";
    if let Some(err) = body.strip_prefix(NETNS) {
        // A warning while kubelet reads pod status: no CNI operation failed (yet).
        if let Some(id) = find_container_id(err) {
            Facts::set(&mut f.container_id, id);
        }
        f.set_error(err);
        Facts::set(&mut f.message, body);
        return true;
    }
    if !runtime_error::read(body, f) {
        return false;
    }
    Facts::set(&mut f.message, body);
    true
}

/// A containerd / CRI-O logrus line about CNI: `time=".." level=error msg=".." error=".."`, or
/// the TTY form `INFO[0000] message  key=value`.
pub(crate) fn parse_logrus(env: &Envelope<'_>) -> Option<Facts> {
    let body = env.body.as_ref();
    if let Some((level, msg, fields)) = tty_logrus(body) {
        if !mentions_network(body) {
            return None;
        }
        let pairs = Logfmt::parse(fields);
        return logrus_facts(Severity::from_level(level), msg.trim(), &pairs);
    }
    if !(body.starts_with("time=") || body.starts_with("level=")) || !mentions_network(body) {
        return None;
    }
    let pairs = Logfmt::parse(body);
    let level = pairs.get("level").and_then(Severity::from_level);
    let mut f = logrus_facts(level, pairs.get("msg").unwrap_or("").trim(), &pairs)?;
    f.time = pairs
        .get_nonempty("time")
        .and_then(parse_iso)
        .map(|(t, _)| t);
    Some(f)
}

/// `LEVL[0000] message` as logrus writes to a terminal (the colour codes already gone or
/// never written): (level word, message, key=value fields).
fn tty_logrus(body: &str) -> Option<(&str, &str, &str)> {
    let level = body.get(..4)?;
    if !matches!(
        level,
        "INFO" | "WARN" | "ERRO" | "DEBU" | "FATA" | "PANI" | "TRAC"
    ) {
        return None;
    }
    let rest = body[4..].strip_prefix('[')?;
    let (secs, rest) = rest.split_once("] ")?;
    if secs.is_empty() || !secs.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Logrus pads the message to 44 columns before the fields: the fields start after the
    // first run of spaces that a `key=` follows.
    let mut from = 0;
    while let Some(at) = rest[from..].find("  ") {
        let at = from + at;
        let fields = rest[at..].trim_start();
        let key = fields
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
            .count();
        if key > 0 && fields.as_bytes().get(key) == Some(&b'=') {
            return Some((level, &rest[..at], fields));
        }
        from = at + 2;
    }
    Some((level, rest, ""))
}

fn logrus_facts(level: Option<Severity>, msg: &str, pairs: &Logfmt<'_>) -> Option<Facts> {
    let mut f = Facts::new(Format::Logrus);
    f.level = level;
    let error = pairs.get_nonempty("error").or(pairs.get_nonempty("err"));
    let claimed = error.is_some_and(|e| runtime_error::read(e, &mut f))
        || logrus_message(msg, &mut f)
        || msg.contains("CNI")
        || msg.contains("cni")
        || error.is_some_and(|e| e.contains("CNI") || e.contains("cni"));
    if !claimed {
        return None;
    }
    if let Some(op) = sandbox_op(msg) {
        if f.operation.is_none() {
            f.operation = Some(op);
        }
        if msg.contains("failed") {
            f.success = Some(false);
        }
    }
    if let Some(rest) = msg.strip_prefix("RunPodSandbox for ") {
        sandbox_metadata(rest, &mut f);
    }
    for prefix in [
        "StopPodSandbox for ",
        "RemovePodSandbox for ",
        "Failed to destroy network for sandbox ",
        "TearDown network for sandbox ",
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            if let Some(id) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                sandbox_id(id, &mut f);
            }
        }
    }
    if let Some(id) = pairs.get_nonempty("id").filter(|id| is_container_id(id)) {
        sandbox_id(id, &mut f);
    }
    if let Some(e) = error {
        if f.error.is_none() {
            f.set_error(e);
        }
    }
    Facts::set(&mut f.message, msg);
    Some(f)
}

/// The CNI statements of containerd's CRI plugin and of CRI-O's ocicni; returns whether `msg`
/// is one.
fn logrus_message(msg: &str, f: &mut Facts) -> bool {
    if let Some(rest) = msg.strip_prefix("Found CNI network ") {
        // ocicni: `Found CNI network <name> (type=<type>) at <file>`.
        let (name, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        Facts::set(&mut f.network_name, name);
        if let Some((ty, rest)) = rest.strip_prefix("(type=").and_then(|r| r.split_once(')')) {
            Facts::set(&mut f.plugin_type, ty);
            f.plugin = crate::text::family_of_type(ty);
            if let Some(file) = rest.trim().strip_prefix("at ") {
                f.attr("conf_file", file);
            }
        }
        return true;
    }
    for (prefix, op, joint) in [
        ("Adding pod ", Operation::Add, " to CNI network "),
        ("Deleting pod ", Operation::Del, " from CNI network "),
        ("Checking pod ", Operation::Check, " for CNI network "),
    ] {
        let Some(rest) = msg.strip_prefix(prefix) else {
            continue;
        };
        let Some((pod, rest)) = rest.split_once(joint) else {
            continue;
        };
        // ocicni writes `<namespace>_<name>`.
        if let Some((ns, name)) = pod.split_once('_') {
            Facts::set(&mut f.namespace, ns);
            Facts::set(&mut f.pod_name, name);
        }
        let rest = rest.trim_start_matches('"');
        let (net, rest) = rest.split_once('"').unwrap_or((rest, ""));
        Facts::set(&mut f.network_name, net);
        if let Some((ty, _)) = rest
            .trim_start()
            .strip_prefix("(type=")
            .and_then(|r| r.split_once(')'))
        {
            Facts::set(&mut f.plugin_type, ty);
            f.plugin = crate::text::family_of_type(ty);
        }
        f.operation = Some(op);
        return true;
    }
    if let Some(rest) = msg.strip_prefix("TearDown network for sandbox ") {
        if rest.ends_with("successfully") {
            f.operation = Some(Operation::Del);
            f.success = Some(true);
            return true;
        }
    }
    if let Some(rest) = msg.strip_prefix("CNI monitoring event ") {
        // ocicni watches the config directory: `CNI monitoring event CREATE "<file>"`.
        f.category = Some(Category::ConfigChange);
        if let Some((op, file)) = rest.split_once(' ') {
            f.attr("fs_event", op);
            f.attr("conf_file", file.trim_matches('"'));
        }
        return true;
    }
    if let Some(name) = msg.strip_prefix("Updated default CNI network name to ") {
        f.category = Some(Category::ConfigChange);
        Facts::set(&mut f.network_name, name);
        return true;
    }
    if let Some(rest) = msg.strip_prefix("Got pod network &{") {
        // CRI-O's `%+v` of its PodNetwork: `Name:x Namespace:y ID:z UID:u NetNS:/path ...`.
        for field in rest.split(' ') {
            let Some((k, v)) = field.split_once(':') else {
                continue;
            };
            match k {
                "Name" => Facts::set(&mut f.pod_name, v),
                "Namespace" => Facts::set(&mut f.namespace, v),
                "ID" => Facts::set(&mut f.container_id, v),
                "UID" => Facts::set(&mut f.pod_uid, v),
                "NetNS" => Facts::set(&mut f.netns, v),
                _ => {}
            }
        }
        return true;
    }
    false
}

/// containerd's `&PodSandboxMetadata{Name:x,Uid:y,Namespace:z,Attempt:0,}` or, in newer
/// releases, the protobuf text `name:"x" uid:"y" namespace:"z" attempt:0`.
fn sandbox_metadata(s: &str, f: &mut Facts) {
    let meta = s
        .strip_prefix("&PodSandboxMetadata{")
        .map(|r| r.split('}').next().unwrap_or(r));
    let fields: Vec<(&str, &str)> = match meta {
        Some(m) => m.split(',').filter_map(|p| p.split_once(':')).collect(),
        None => s
            .split(' ')
            .filter_map(|p| p.split_once(':'))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect(),
    };
    for (k, v) in fields {
        match k {
            "Name" | "name" => Facts::set(&mut f.pod_name, v),
            "Namespace" | "namespace" => Facts::set(&mut f.namespace, v),
            "Uid" | "uid" => Facts::set(&mut f.pod_uid, v),
            _ => {}
        }
    }
}

/// Bare runtime error text: an event message without its columns, a fragment of a longer
/// kubelet message, an error quoted on its own. Last in the detection order, so it claims only
/// text carrying one of the runtime CNI error forms.
pub(crate) fn parse_text(env: &Envelope<'_>) -> Option<Facts> {
    let body = env.body.trim();
    // JSON and JSON members (`crictl info` conditions) belong to the structured readers.
    if body.starts_with(['{', '"']) {
        return None;
    }
    let mut f = Facts::new(Format::Text);
    if !runtime_error::read(body, &mut f) {
        return None;
    }
    Facts::set(&mut f.message, body);
    Some(f)
}
