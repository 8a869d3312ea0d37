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
use crate::text::{
    find_container_id, is_container_id, pod_slash, unescape, ByteSearch, Logfmt, PhraseSearch,
    TrimFast, Words,
};
use crate::time::parse_iso;

/// Confidence of a sandbox failure whose error text did not reach the log: it may be a CNI
/// failure or any other.
const UNCAPTURED: f64 = 0.5;

/// Confidence of kubelet's teardown warning, whose operation is known from where kubelet
/// logs it rather than from its words.
const TEARDOWN_INFERRED: f64 = 0.7;

/// A message stating that an operation failed.
static FAILED: Words = Words::new(&["failed"]);

/// A message or error naming CNI.
static CNI: Words = Words::new(&["CNI", "cni"]);

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
        None => unstructured_klog(body.trim_fast(), &mut f),
    };
    if !claimed {
        return None;
    }
    f.attr("caller", &klog.source);
    // Without a journal or syslog prefix naming the process, the klog caller tells whose line
    // it is: these files are kubelet's, and kubelet is the component that logs sandbox and
    // CNI failures in klog.
    if env.process.is_none() && is_kubelet_source(&klog.source) {
        f.comm = Some("kubelet".to_owned());
    }
    Some(f)
}

/// Whether a klog caller (`remote_runtime.go:193`) is one of kubelet's source files that log
/// pod networking.
fn is_kubelet_source(source: &str) -> bool {
    let file = source.split(':').next().unwrap_or(source);
    file.starts_with("kuberuntime_")
        || file.starts_with("kubelet")
        || matches!(
            file,
            "remote_runtime.go" | "pod_workers.go" | "cni.go" | "docker_sandbox.go"
        )
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
    let content_less_failure = opener_only && op.is_some() && FAILED.any_in(&msg);
    if !(claimed || content_less_failure) {
        return false;
    }
    if f.operation.is_none() {
        f.operation = op;
    }
    if f.operation.is_some() && FAILED.any_in(&msg) {
        f.success = Some(false);
    }
    if !claimed {
        // A sandbox image pull failure opens the same way: this may not be a CNI failure.
        f.confidence = Some(UNCAPTURED);
        f.message = Some(format!("{msg} (error text not captured)"));
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
/// the error carries the full id, which is the one worth keeping. Kubelet also prints it as
/// an object, `{"Type":"containerd","ID":"<id>"}`.
fn sandbox_id(id: &str, f: &mut Facts) {
    let id = match id.starts_with('{') {
        true => match find_container_id(id) {
            Some(inner) => inner,
            None => return,
        },
        false => id,
    };
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
    static OPENER: Words = Words::new(&["=<"]);
    let find = |s: &str| OPENER.earliest_in(s).map(|(at, _)| at);
    if find(s).is_none() {
        return (Cow::Borrowed(s), Vec::new());
    }
    let mut pairs = String::new();
    let mut blocks = Vec::new();
    let mut rest = s;
    while let Some(at) = find(rest) {
        let after = &rest[at + 2..];
        if !(after.is_empty() || after.starts_with('\n')) {
            pairs.push_str(&rest[..at + 2]);
            rest = after;
            continue;
        }
        let head = &rest[..at];
        let key_start = head.rfind_byte(b' ').map_or(0, |p| p + 1);
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
        blocks.push((key, lines.join("\n").trim_fast().to_owned()));
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
    static ADD: Words = Words::new(&["RunPodSandbox", "CreatePodSandbox", "create sandbox"]);
    static DEL: Words = Words::new(&[
        "StopPodSandbox",
        "KillPodSandbox",
        "RemovePodSandbox",
        "stop sandbox",
    ]);
    // Every wording names a sandbox: most messages are done with one search.
    static SANDBOX: Words = Words::new(&["andbox"]);
    if !SANDBOX.any_in(msg) {
        None
    } else if ADD.any_in(msg) {
        Some(Operation::Add)
    } else if DEL.any_in(msg) {
        Some(Operation::Del)
    } else {
        None
    }
}

fn unstructured_klog(body: &str, f: &mut Facts) -> bool {
    const NETNS: &str = "CNI failed to retrieve network namespace path";
    if let Some(err) = body.strip_prefix(NETNS).and_then(|r| r.strip_prefix(": ")) {
        // dockershim's TearDownPod logs this as a warning and goes on with the DEL ("lack of
        // namespace should not be fatal on teardown"): no operation failed (yet).
        if let Some(id) = find_container_id(err) {
            Facts::set(&mut f.container_id, id);
        }
        f.operation = Some(Operation::Del);
        f.confidence = Some(TEARDOWN_INFERRED);
        // Docker's client prefixes its own `Error: `.
        f.set_error(err.strip_prefix("Error: ").unwrap_or(err));
        Facts::set(&mut f.message, NETNS);
        return true;
    }
    if !runtime_error::read(body, f) {
        return false;
    }
    set_message(body, f);
    true
}

/// The message of a record whose whole text is a runtime error: a not-ready state is told by
/// kubelet's statement, with the cause in the error.
fn set_message(text: &str, f: &mut Facts) {
    let statement = match f.category {
        Some(Category::HealthCheck) => runtime_error::not_ready_statement(text),
        _ => None,
    };
    Facts::set(&mut f.message, statement.unwrap_or(text));
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
        return logrus_facts(Severity::from_level(level), msg.trim_fast(), &pairs);
    }
    if !(body.starts_with("time=") || body.starts_with("level=")) || !mentions_network(body) {
        return None;
    }
    let pairs = Logfmt::parse(body);
    let level = pairs.get("level").and_then(Severity::from_level);
    let mut f = logrus_facts(level, pairs.get("msg").unwrap_or("").trim_fast(), &pairs)?;
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
    let (secs, rest) = rest.split_once_str("] ")?;
    if secs.is_empty() || !secs.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Logrus pads the message to 44 columns before the fields: the fields start after the
    // first run of spaces that a `key=` follows.
    let mut from = 0;
    while let Some(at) = rest[from..].find_str("  ") {
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
        || runtime_error::read(msg, &mut f)
        || CNI.any_in(msg)
        || error.is_some_and(|e| CNI.any_in(e));
    if !claimed {
        return None;
    }
    if let Some(op) = sandbox_op(msg) {
        if f.operation.is_none() {
            f.operation = Some(op);
        }
        if FAILED.any_in(msg) {
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
        let (name, rest) = rest.split_once_byte(b' ').unwrap_or((rest, ""));
        Facts::set(&mut f.network_name, name);
        if let Some((ty, rest)) = rest
            .strip_prefix("(type=")
            .and_then(|r| r.split_once_byte(b')'))
        {
            Facts::set(&mut f.plugin_type, ty);
            f.plugin = crate::text::family_of_type(ty);
            if let Some(file) = rest.trim_fast().strip_prefix("at ") {
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
        let Some((pod, rest)) = rest.split_once_str(joint) else {
            continue;
        };
        // ocicni writes `<namespace>_<name>`.
        if let Some((ns, name)) = pod.split_once_byte(b'_') {
            Facts::set(&mut f.namespace, ns);
            Facts::set(&mut f.pod_name, name);
        }
        let rest = rest.trim_start_matches('"');
        let (net, rest) = rest.split_once_byte(b'"').unwrap_or((rest, ""));
        Facts::set(&mut f.network_name, net);
        if let Some((ty, _)) = rest
            .trim_start()
            .strip_prefix("(type=")
            .and_then(|r| r.split_once_byte(b')'))
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
        // ocicni prints the fsnotify event: `CREATE        "<file>"`, or `"<file>": CREATE`
        // with older fsnotify.
        f.category = Some(Category::ConfigChange);
        let (op, file) = match rest.strip_prefix('"') {
            Some(r) => r.split_once_str("\": ").map(|(file, op)| (op, file)),
            None => rest.split_once_byte(b' '),
        }
        .unwrap_or(("", rest));
        let op = op.trim_fast();
        f.attr("fs_event", op);
        f.attr("conf_file", file.trim_fast().trim_matches('"'));
        // The file is in an attribute; the message keeps the event's prose.
        Facts::set(&mut f.message, &format!("CNI monitoring event {op}"));
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
            let Some((k, v)) = field.split_once_byte(b':') else {
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
        Some(m) => m
            .split(',')
            .filter_map(|p| p.split_once_byte(b':'))
            .collect(),
        None => s
            .split(' ')
            .filter_map(|p| p.split_once_byte(b':'))
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
    let body = env.body.trim_fast();
    // JSON and JSON members (`crictl info` conditions) belong to the structured readers.
    if body.starts_with(['{', '"']) {
        return None;
    }
    let mut f = Facts::new(Format::Text);
    if !runtime_error::read(body, &mut f) {
        return None;
    }
    set_message(body, &mut f);
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::parse_record;
    use crate::formats::runtime_error::tests::{check, Case};

    const KLOG: Option<Format> = Some(Format::Klog);
    const LOGRUS: Option<Format> = Some(Format::Logrus);
    const TEXT: Option<Format> = Some(Format::Text);
    const ERROR: Option<Severity> = Some(Severity::Error);
    const ADD: Option<Operation> = Some(Operation::Add);
    const DEL: Option<Operation> = Some(Operation::Del);
    const GRPC: (&str, &str) = ("grpc_code", "Unknown");

    #[test]
    fn corpus_klog() {
        let cases = [
            // flannel.log 8: structured klog, `pod="ns/name"`.
            Case {
                line: r#"    Oct 26 14:08:18 k8s-eu-1-master kubelet[1067481]: E1026 14:08:18.459398 1067481 kuberuntime_sandbox.go:72] "Failed to create sandbox for pod" err="rpc error: code = Unknown desc = failed to setup network for sandbox \"5db402ddcda98eb797e884575883860a0211c9bf5b6b9d08562793290fd5de78\": plugin type=\"flannel\" failed (add): loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory" pod="kube-system/coredns-5dd5756b68-gt7xt""#,
                format: KLOG,
                op: ADD,
                container: Some("5db402ddcda98eb797e884575883860a0211c9bf5b6b9d08562793290fd5de78"),
                pod: Some("coredns-5dd5756b68-gt7xt"),
                ns: Some("kube-system"),
                plugin: Some("flannel"),
                plugin_type: Some("flannel"),
                success: Some(false),
                error: Some("loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory"),
                level: ERROR,
                attrs: &[GRPC, ("caller", "kuberuntime_sandbox.go:72")],
                ..Case::default()
            },
            // k8s-events.log 7: runtime network not ready.
            Case {
                line: r#"Apr 16 22:26:30 tomoyafujita-HP-Compaq-Elite-8300-SFF kubelet[10125]: E0416 22:26:30.150357   10125 kubelet.go:2373] "Container runtime network not ready" networkReady="NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized""#,
                format: KLOG,
                category: Some(Category::HealthCheck),
                success: Some(false),
                error: Some("cni plugin not initialized"),
                message: Some("Container runtime network not ready"),
                comm: Some("kubelet"),
                level: ERROR,
                attrs: &[("reason", "NetworkPluginNotReady"), ("caller", "kubelet.go:2373")],
                ..Case::default()
            },
            // kubelet-runtime.log 6: unstructured StopPodSandbox with the AWS DEL error.
            Case {
                line: r#"Oct 02 23:27:34 ip-10-0-60-95.us-west-2.compute.internal kubelet[2783]: E1002 23:27:34.439481    2783 remote_runtime.go:132] StopPodSandbox "cae59246074a27247c54d43ffd3f68be61121bcc741133b940e7188002e34f60" from runtime service failed: rpc error: code = Unknown desc = failed to destroy network for sandbox "cae59246074a27247c54d43ffd3f68be61121bcc741133b940e7188002e34f60": del cmd: failed to process delete request"#,
                format: KLOG,
                op: DEL,
                container: Some("cae59246074a27247c54d43ffd3f68be61121bcc741133b940e7188002e34f60"),
                plugin: Some("aws-vpc-cni"),
                confidence: Some(0.7),
                success: Some(false),
                error: Some("del cmd: failed to process delete request"),
                level: ERROR,
                attrs: &[GRPC],
                ..Case::default()
            },
            // kubelet-runtime.log 7: truncated podSandboxID beside the full id.
            Case {
                line: r#"E0703 17:44:38.499824  388250 remote_runtime.go:224] "RemovePodSandbox from runtime service failed" err="rpc error: code = Unknown desc = failed to forcibly stop sandbox \"72d5ec47717f6828f9ef09381e0994f215fb84e12bce49a28af094e83182f8dd\": failed to destroy network for sandbox \"72d5ec47717f6828f9ef09381e0994f215fb84e12bce49a28af094e83182f8dd\": cni plugin not initialized" podSandboxID="72d5ec47717f6""#,
                format: KLOG,
                op: DEL,
                container: Some("72d5ec47717f6828f9ef09381e0994f215fb84e12bce49a28af094e83182f8dd"),
                success: Some(false),
                error: Some("cni plugin not initialized"),
                comm: Some("kubelet"),
                level: ERROR,
                attrs: &[GRPC, ("pod_sandbox_id", "72d5ec47717f6")],
                ..Case::default()
            },
            // kubelet-runtime.log 8: dockershim not-ready, runtime name first.
            Case {
                line: r#"Jun 15 15:56:55 ip-172-18-9-251.ec2.internal origin-node[17440]: E0615 15:56:55.888015   17494 kubelet.go:2072] Container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:docker: network plugin is not ready: cni config uninitialized"#,
                format: KLOG,
                category: Some(Category::HealthCheck),
                success: Some(false),
                error: Some("cni config uninitialized"),
                message: Some("Container runtime network not ready"),
                level: ERROR,
                attrs: &[("reason", "NetworkPluginNotReady"), ("runtime", "docker")],
                ..Case::default()
            },
            // kubelet-runtime.log 9: dockershim's TearDownPod goes on without the netns: a
            // warning on a DEL, not a failed one.
            Case {
                line: r#"May 18 15:58:04 mgt10 kubelet[1980]: W0518 15:58:04.656165    1980 cni.go:309] CNI failed to retrieve network namespace path: Error: No such container: 4492b92ca1923035508cd3fa8545a55e931c2a42dbb781a6eae3f640b3224229"#,
                format: KLOG,
                op: DEL,
                container: Some("4492b92ca1923035508cd3fa8545a55e931c2a42dbb781a6eae3f640b3224229"),
                error: Some("No such container: 4492b92ca1923035508cd3fa8545a55e931c2a42dbb781a6eae3f640b3224229"),
                message: Some("CNI failed to retrieve network namespace path"),
                confidence: Some(0.7),
                level: Some(Severity::Warning),
                attrs: &[("caller", "cni.go:309")],
                ..Case::default()
            },
            // kubelet-runtime.log 10: gRPC code 2, `name_ns(uid)`.
            Case {
                line: r#"Mar 21 14:55:41 rook-test kubelet-patched[18578]: E0321 14:55:41.732883   18578 kuberuntime_sandbox.go:54] CreatePodSandbox for pod "kube-apiserver-rook-test_kube-system(b6f5ab4a84ad8cfa02fde7a4aeb1ea45)" failed: rpc error: code = 2 desc = NetworkPlugin cni failed to set up pod "kube-apiserver-rook-test_kube-system" network: cni config uninitialized"#,
                format: KLOG,
                op: ADD,
                pod: Some("kube-apiserver-rook-test"),
                ns: Some("kube-system"),
                uid: Some("b6f5ab4a84ad8cfa02fde7a4aeb1ea45"),
                success: Some(false),
                error: Some("cni config uninitialized"),
                comm: Some("kubelet-patched"),
                level: ERROR,
                attrs: &[("grpc_code", "Unknown")],
                ..Case::default()
            },
            // multus-reference.log 1: host-local exhaustion, no plugin named.
            Case {
                line: r#"E0711 15:11:17.994634   24727 remote_runtime.go:92] RunPodSandbox from runtime service failed: rpc error: code = Unknown desc = NetworkPlugin cni failed to set up pod "myzep-79945ccb7f-rz8ld_myzep" network: failed to allocate for range 0: no IP addresses available in range set: 10.42.0.1-10.42.0.254"#,
                format: KLOG,
                op: ADD,
                pod: Some("myzep-79945ccb7f-rz8ld"),
                ns: Some("myzep"),
                plugin: Some("host-local"),
                confidence: Some(0.7),
                category: Some(Category::IpAllocation),
                success: Some(false),
                error: Some("failed to allocate for range 0: no IP addresses available in range set: 10.42.0.1-10.42.0.254"),
                comm: Some("kubelet"),
                level: ERROR,
                attrs: &[GRPC, ("ip_range", "10.42.0.1-10.42.0.254")],
                ..Case::default()
            },
            // multus-reference.log 6: only the opener of a multi-line value arrived.
            Case {
                line: r#"Nov 05 17:15:34 atsc2 kubelet[4258]: E1105 17:15:34.352838    4258 remote_runtime.go:193] "RunPodSandbox from runtime service failed" err=<"#,
                format: KLOG,
                op: ADD,
                success: Some(false),
                confidence: Some(0.5),
                message: Some("RunPodSandbox from runtime service failed (error text not captured)"),
                level: ERROR,
                attrs: &[("caller", "remote_runtime.go:193")],
                ..Case::default()
            },
        ];
        for c in &cases {
            check(c);
        }
    }

    #[test]
    fn klog_multi_line_value() {
        let record = "E1105 17:15:34.352838    4258 remote_runtime.go:193] \"Failed to create sandbox for pod\" err=<\n\trpc error: code = Unknown desc = failed to setup network for sandbox \"3f1c2b7a9e0d4c6b8a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b\": plugin type=\"bridge\" name=\"k8s-pod-network\" failed (add): failed to set bridge addr: could not add IP address to \"cni0\": permission denied\n > pod=\"default/web-0\" podUID=\"0d3c2b1a-1111-2222-3333-444455556666\"";
        let f = parse_record(record, None).unwrap();
        assert_eq!(f.format, KLOG);
        assert_eq!(f.operation, ADD);
        assert_eq!(f.plugin_type.as_deref(), Some("bridge"));
        assert_eq!(f.network_name.as_deref(), Some("k8s-pod-network"));
        assert_eq!(
            f.error.unwrap().msg,
            "failed to set bridge addr: could not add IP address to \"cni0\": permission denied"
        );
        assert_eq!(f.pod_name.as_deref(), Some("web-0"));
        assert_eq!(f.namespace.as_deref(), Some("default"));
        assert_eq!(
            f.pod_uid.as_deref(),
            Some("0d3c2b1a-1111-2222-3333-444455556666")
        );
        assert_eq!(
            f.message.as_deref(),
            Some("Failed to create sandbox for pod")
        );
    }

    #[test]
    fn corpus_logrus() {
        let cases = [
            // kubelet-runtime.log 1: containerd 1.2 with unescaped inner quotes.
            Case {
                line: r#"Oct 02 23:27:34 ip-10-0-60-95.us-west-2.compute.internal containerd[2639]: time="2019-10-02T23:27:34.439359450Z" level=error msg="StopPodSandbox for "cae59246074a27247c54d43ffd3f68be61121bcc741133b940e7188002e34f60" failed" error="failed to destroy network for sandbox "cae59246074a27247c54d43ffd3f68be61121bcc741133b940e7188002e34f60": del cmd: failed to process delete request""#,
                format: LOGRUS,
                op: DEL,
                container: Some("cae59246074a27247c54d43ffd3f68be61121bcc741133b940e7188002e34f60"),
                plugin: Some("aws-vpc-cni"),
                confidence: Some(0.7),
                success: Some(false),
                error: Some("del cmd: failed to process delete request"),
                level: ERROR,
                ..Case::default()
            },
            // kubelet-runtime.log 2: pod identity from the sandbox metadata struct.
            Case {
                line: r#"May 11 16:09:21 k8s-master01 containerd[765]: time="2023-05-11T16:09:21.839669754+08:00" level=error msg="RunPodSandbox for &PodSandboxMetadata{Name:coredns-f5cb5585b-s2bxk,Uid:eeb63f47-d6af-45ef-b52a-f37fb5bc75d5,Namespace:kube-system,Attempt:0,} failed, error" error="failed to setup network for sandbox \"f1f5708a3613e62a4d38161c36417538dbc3b1e46020bea2a4a7c4cca87603a0\": plugin type=\"calico\" failed (add): netplugin failed with no error message: signal: killed""#,
                format: LOGRUS,
                op: ADD,
                container: Some("f1f5708a3613e62a4d38161c36417538dbc3b1e46020bea2a4a7c4cca87603a0"),
                pod: Some("coredns-f5cb5585b-s2bxk"),
                ns: Some("kube-system"),
                uid: Some("eeb63f47-d6af-45ef-b52a-f37fb5bc75d5"),
                plugin: Some("calico"),
                plugin_type: Some("calico"),
                success: Some(false),
                error: Some("netplugin failed with no error message: signal: killed"),
                level: ERROR,
                ..Case::default()
            },
            // kubelet-runtime.log 3: Cyrillic month; not-ready on a DEL keeps the DEL.
            Case {
                line: r#"мар 12 13:42:28 dev containerd[165846]: time="2025-03-12T13:42:28.202269977+07:00" level=error msg="StopPodSandbox for \"ffc514f27869bf96c05b358c264943520c700b280323730e3021e4e77fb3c26d\" failed" error="rpc error: code = Unknown desc = failed to destroy network for sandbox \"ffc514f27869bf96c05b358c264943520c700b280323730e3021e4e77fb3c26d\": cni plugin not initialized""#,
                format: LOGRUS,
                op: DEL,
                container: Some("ffc514f27869bf96c05b358c264943520c700b280323730e3021e4e77fb3c26d"),
                success: Some(false),
                error: Some("cni plugin not initialized"),
                level: ERROR,
                attrs: &[GRPC],
                ..Case::default()
            },
            // kubelet-runtime.log 5: ocicni TTY form.
            Case {
                line: "INFO[0000] Found CNI network bridge-firewall (type=bridge) at /etc/cni/net.d/1-bridge-firewall.conflist ",
                format: LOGRUS,
                plugin: Some("bridge"),
                plugin_type: Some("bridge"),
                network: Some("bridge-firewall"),
                message: Some("Found CNI network bridge-firewall (type=bridge) at /etc/cni/net.d/1-bridge-firewall.conflist"),
                level: Some(Severity::Info),
                attrs: &[("conf_file", "/etc/cni/net.d/1-bridge-firewall.conflist")],
                ..Case::default()
            },
            // multus-reference.log 7: ISO-dated syslog around logrus; result conversion error.
            Case {
                line: r#"2019-08-06T08:44:24.537 controller-0 containerd[109360]: info time="2019-08-06T08:44:24.537275833Z" level=error msg="RunPodSandbox for &PodSandboxMetadata{Name:coredns-5ffc5dfc87-mq9ww,Uid:49b86b67-b821-11e9-8ec1-5254008c3e56,Namespace:kube-system,Attempt:0,} failed, error" error="failed to setup network for sandbox \"f225b3a306cc51f757c9f7280f34ee647f8a175acb79ebf918341fd3d27b2fa3\": cannot convert: no valid IP addresses""#,
                format: LOGRUS,
                op: ADD,
                container: Some("f225b3a306cc51f757c9f7280f34ee647f8a175acb79ebf918341fd3d27b2fa3"),
                pod: Some("coredns-5ffc5dfc87-mq9ww"),
                ns: Some("kube-system"),
                uid: Some("49b86b67-b821-11e9-8ec1-5254008c3e56"),
                success: Some(false),
                error: Some("cannot convert: no valid IP addresses"),
                level: ERROR,
                ..Case::default()
            },
        ];
        for c in &cases {
            check(c);
            assert!(
                c.line.contains("INFO[") || parse_record(c.line, None).unwrap().time.is_some(),
                "time of {}",
                c.line
            );
        }
    }

    #[test]
    fn corpus_text() {
        let cases = [
            // flannel.log 10: last line of a multi-line kubelet message.
            Case {
                line: r#"Apr 30 21:19:38 z00419767-bcs-0001 kubelet[32535]: : [failed to find plugin "flannel" in path [/opt/cni/bin] failed to find plugin "portmap" in path [/opt/cni/bin]]"#,
                format: TEXT,
                plugin: Some("flannel"),
                plugin_type: Some("flannel"),
                category: Some(Category::HealthCheck),
                success: Some(false),
                error: Some(r#"failed to find plugin "flannel" in path [/opt/cni/bin] failed to find plugin "portmap" in path [/opt/cni/bin]"#),
                attrs: &[("missing_plugins", "flannel,portmap")],
                ..Case::default()
            },
            // multus-reference.log 3: CRI-O fragment, `plugin type="bridge" name="crio"`.
            Case {
                line: r#"error adding pod kube-system_coredns-565d847f94-8trzb to CNI network "crio": plugin type="bridge" name="crio" failed (add): failed to set bridge addr: could not add IP address to "cni0": permission denied"#,
                format: TEXT,
                op: ADD,
                pod: Some("coredns-565d847f94-8trzb"),
                ns: Some("kube-system"),
                plugin: Some("bridge"),
                plugin_type: Some("bridge"),
                network: Some("crio"),
                success: Some(false),
                error: Some(r#"failed to set bridge addr: could not add IP address to "cni0": permission denied"#),
                ..Case::default()
            },
            // multus-reference.log 4: fragment starting at `rpc error:`.
            Case {
                line: r#"rpc error: code = Unknown desc = failed to setup network for sandbox "c44369cc2c061e4fe9943c27526025815413c7230642e1541aa23b408f4afdcd": plugin type="bridge" failed (add): failed to set bridge addr: could not add IP address to "cni0": permission denied"#,
                format: TEXT,
                op: ADD,
                container: Some("c44369cc2c061e4fe9943c27526025815413c7230642e1541aa23b408f4afdcd"),
                plugin: Some("bridge"),
                plugin_type: Some("bridge"),
                success: Some(false),
                error: Some(r#"failed to set bridge addr: could not add IP address to "cni0": permission denied"#),
                attrs: &[GRPC],
                ..Case::default()
            },
            // multus-reference.log 11: ADD and DEL errors of Multus joined in one list.
            Case {
                line: r#"Failed create pod sandbox: rpc error: code = Unknown desc = [failed to set up sandbox container "f70391d455c0e7d814609ec406bc4f64a17ed7ba5fd11d63d2259251915a249f" network for pod "virt-launcher-vmi-multus-multiple-net-bridge-stfxc": NetworkPlugin cni failed to set up pod "virt-launcher-vmi-multus-multiple-net-bridge-stfxc_default" network: Multus: Err adding pod to network "BL2": Multus: error in invoke Delegate add - "bridge": no plugin name provided, failed to clean up sandbox container "f70391d455c0e7d814609ec406bc4f64a17ed7ba5fd11d63d2259251915a249f" network for pod "virt-launcher-vmi-multus-multiple-net-bridge-stfxc": NetworkPlugin cni failed to teardown pod "virt-launcher-vmi-multus-multiple-net-bridge-stfxc_default" network: Multus: error in invoke Delegate del - "bridge": no plugin name provided]"#,
                format: TEXT,
                op: ADD,
                container: Some("f70391d455c0e7d814609ec406bc4f64a17ed7ba5fd11d63d2259251915a249f"),
                pod: Some("virt-launcher-vmi-multus-multiple-net-bridge-stfxc"),
                ns: Some("default"),
                plugin: Some("multus"),
                confidence: Some(0.7),
                success: Some(false),
                error: Some(r#"Multus: Err adding pod to network "BL2": Multus: error in invoke Delegate add - "bridge": no plugin name provided"#),
                attrs: &[
                    GRPC,
                    ("delegate_network", "BL2"),
                    ("delegate_type", "bridge"),
                    ("teardown_error", r#"Multus: error in invoke Delegate del - "bridge": no plugin name provided"#),
                ],
                ..Case::default()
            },
            // azure-cni.log 9: event message without columns; namespace literally `clusterip`.
            Case {
                line: r#"Failed to create pod sandbox: rpc error: code = Unknown desc = failed to set up sandbox container "cfaf5e13cb6ef35b93dcfb8e70978fe3c57e302da6cc90f287ba374772c0816e" network for pod "nginx-deployment-5f8bd9f69b-zbvfj": networkPlugin cni failed to set up pod "nginx-deployment-5f8bd9f69b-zbvfj_clusterip" network: Failed to allocate pool: Failed to delegate: Failed to allocate pool: No available address pools"#,
                format: TEXT,
                op: ADD,
                container: Some("cfaf5e13cb6ef35b93dcfb8e70978fe3c57e302da6cc90f287ba374772c0816e"),
                pod: Some("nginx-deployment-5f8bd9f69b-zbvfj"),
                ns: Some("clusterip"),
                plugin: Some("azure-cni"),
                confidence: Some(0.7),
                category: Some(Category::IpAllocation),
                success: Some(false),
                error: Some("Failed to allocate pool: Failed to delegate: Failed to allocate pool: No available address pools"),
                attrs: &[GRPC],
                ..Case::default()
            },
        ];
        for c in &cases {
            check(c);
        }
    }

    #[test]
    fn logrus_statements() {
        let f = parse_record(r#"time="2024-03-05T10:12:03.551200417Z" level=info msg="TearDown network for sandbox \"9c1e6b2d7f3a48e5b0c4d2a1f6e8b7c3d5a9e0f1b2c3d4e5f6a7b8c9d0e1f2a3\" successfully""#, None).unwrap();
        assert_eq!((f.operation, f.success), (DEL, Some(true)));
        assert_eq!(
            f.container_id.as_deref(),
            Some("9c1e6b2d7f3a48e5b0c4d2a1f6e8b7c3d5a9e0f1b2c3d4e5f6a7b8c9d0e1f2a3")
        );

        let f = parse_record(r#"time="2024-01-12 08:15:30.412889120Z" level=info msg="Adding pod default_web-0 to CNI network \"k8s-pod-network\" (type=calico)""#, None).unwrap();
        assert_eq!((f.operation, f.success), (ADD, None));
        assert_eq!(f.pod_name.as_deref(), Some("web-0"));
        assert_eq!(f.namespace.as_deref(), Some("default"));
        assert_eq!(f.network_name.as_deref(), Some("k8s-pod-network"));
        assert_eq!(f.plugin, Some("calico"));

        for line in [
            r#"level=info msg="CNI monitoring event CREATE        \"/etc/cni/net.d/10-calico.conflist\"""#,
            r#"level=info msg="CNI monitoring event \"/etc/cni/net.d/10-calico.conflist\": CREATE""#,
        ] {
            let f = parse_record(line, None).unwrap();
            assert_eq!(f.category, Some(Category::ConfigChange), "{line}");
            assert_eq!(
                f.attributes.get("conf_file").map(String::as_str),
                Some("/etc/cni/net.d/10-calico.conflist"),
                "{line}"
            );
            assert_eq!(
                f.attributes.get("fs_event").map(String::as_str),
                Some("CREATE"),
                "{line}"
            );
            assert_eq!(
                f.message.as_deref(),
                Some("CNI monitoring event CREATE"),
                "{line}"
            );
        }

        // CRI-O puts the error in msg.
        let f = parse_record(r#"level=error msg="Error stopping network on cleanup: failed to destroy network for pod sandbox k8s_web-0_default_0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d_0(6d2f8a1c4e7b): error removing pod default_web-0 from CNI network \"k8s-pod-network\": plugin type=\"calico\" failed (delete): connection is unauthorized: Unauthorized""#, None).unwrap();
        assert_eq!(f.operation, DEL);
        assert_eq!(f.container_id.as_deref(), Some("6d2f8a1c4e7b"));
        assert_eq!(
            f.pod_uid.as_deref(),
            Some("0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d")
        );
        assert_eq!(
            f.error.unwrap().msg,
            "connection is unauthorized: Unauthorized"
        );
    }

    #[test]
    fn statements_and_speakers() {
        // kubelet's statement is the message, its cause the error.
        let f = parse_record("Feb 02 11:04:17 node-b kubelet[988]: W0202 11:04:17.660219     988 cni.go:237] Unable to update cni config: no networks found in /etc/cni/net.d", None).unwrap();
        assert_eq!(f.message.as_deref(), Some("Unable to update cni config"));
        assert_eq!(f.error.unwrap().msg, "no networks found in /etc/cni/net.d");
        let f = parse_record("Container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized", None).unwrap();
        assert_eq!(f.format, TEXT);
        assert_eq!(
            f.message.as_deref(),
            Some("Container runtime network not ready")
        );

        // The host-side veth of a CRI-O fragment.
        let f = parse_record(r#"rpc error: code = Unknown desc = failed to create pod network sandbox k8s_web-0_default_0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d_1(6d2f8a1c4e7b9d3f0a5c2e8b1d4f7a9c3e6b0d2f5a8c1e4b7d0f3a6c9e2b5d8f): error adding pod default_web-0 to CNI network "k8s-pod-network": plugin type="calico" failed (add): error adding host side routes for interface: cali3f1a9c2d7e5, error: route (Ifindex: 27, Dst: 10.244.3.18/32, Scope: link) already exists for an interface other than 'cali3f1a9c2d7e5'"#, None).unwrap();
        assert_eq!(f.host_interface.as_deref(), Some("cali3f1a9c2d7e5"));

        // A klog line of kubelet's files with no process in front is kubelet's; the journal's
        // process name wins where there is one.
        let f = parse_record(r#"E0703 17:44:38.499824  388250 remote_runtime.go:224] "StopPodSandbox from runtime service failed" err="rpc error: code = Unknown desc = failed to destroy network for sandbox \"72d5ec47717f\": cni plugin not initialized""#, None).unwrap();
        assert_eq!(f.comm.as_deref(), Some("kubelet"));
        let f = parse_record(r#"E0703 17:44:38.499824  388250 some_daemon.go:224] "StopPodSandbox from runtime service failed" err="rpc error: code = Unknown desc = failed to destroy network for sandbox \"72d5ec47717f\": cni plugin not initialized""#, None).unwrap();
        assert_eq!(f.comm, None);

        // ocicni is vendored by CRI-O and by podman: its TTY line names no speaker.
        let f = parse_record("INFO[0000] Found CNI network bridge-firewall (type=bridge) at /etc/cni/net.d/1-bridge-firewall.conflist ", None).unwrap();
        assert_eq!(f.comm, None);
    }

    #[test]
    fn sandbox_id_as_an_object() {
        let f = parse_record(r#"E0708 18:03:12.338002     701 kuberuntime_manager.go:1375] "Failed to stop sandbox" podSandboxID={"Type":"containerd","ID":"8f3a1d6c9e2b5f8a1c4d7e0b3f6a9c2d5e8b1f4a7c0d3e6b9f2a5c8d1e4b7a0f"} err="rpc error: code = Unknown desc = failed to destroy network for sandbox \"8f3a1d6c9e2b5f8a1c4d7e0b3f6a9c2d5e8b1f4a7c0d3e6b9f2a5c8d1e4b7a0f\": cni plugin not initialized""#, None).unwrap();
        assert_eq!(f.operation, DEL);
        assert_eq!(f.attributes.get("pod_sandbox_id"), None);
        assert_eq!(
            f.container_id.as_deref(),
            Some("8f3a1d6c9e2b5f8a1c4d7e0b3f6a9c2d5e8b1f4a7c0d3e6b9f2a5c8d1e4b7a0f")
        );
    }

    #[test]
    fn klog_not_about_networking() {
        for line in [
            // k8s-events.log 12: a rejected Event dump cut off before its reason and message;
            // what is left names a Node and nothing about networking.
            r#"Aug 04 09:07:40 node3.kubernetes kubelet[66141]: E0804 09:07:40.144352   66141 event.go:240] Server rejected event '&v1.Event{TypeMeta:v1.TypeMeta{Kind:"", APIVersion:""}, ObjectMeta:v1.ObjectMeta{Name:"node3.kubernetes.15b7c3f47c4fdf3c", GenerateName:"", Namespace:"default", SelfLink:"", UID:"", ResourceVersion:"", Generation:0, CreationTimestamp:v1.Time{Time:time.Time{wall:0x0, ext:0, loc:(*time.Location)(nil)}}, DeletionTimestamp:(*v1.Time)(nil), DeletionGracePeriodSeconds:(*int64)(nil), Labels:map[string]string(nil), Annotations:map[string]string(nil), OwnerReferences:[]v1.OwnerReference(nil), Initializers:(*v1.Initializers)(nil), Finalizers:[]string(nil), ClusterName:"", ManagedFields:[]v1.ManagedFieldsEntry(nil)}, InvolvedObject:v1.ObjectReference{Kind:"Node", Namespace:""#,
            r#"E0703 17:44:38.499824  388250 remote_runtime.go:224] "RunPodSandbox from runtime service failed" err="rpc error: code = Unknown desc = failed to get sandbox image \"registry.k8s.io/pause:3.6\": failed to pull image""#,
            r#"I0703 17:44:38.499824  388250 kubelet.go:2100] "SyncLoop ADD" source="api" pods=["default/web-0"]"#,
        ] {
            assert_eq!(parse_klog(&Envelope::strip(line)), None, "{line}");
            assert_eq!(parse_record(line, None), None, "{line}");
        }
        // flanneld's own line: not kubelet's business (the flannel parser claims it).
        let flanneld =
            "I0111 17:09:04.933346       1 route_network.go:56] Watching for new subnet leases";
        assert_eq!(parse_klog(&Envelope::strip(flanneld)), None);
    }

    #[test]
    fn other_formats_are_not_claimed() {
        let lines = [
            r#"level=warning msg="Unable to enter namespace \"\", will not delete interface" error="failed to Statfs \"\": no such file or directory" subsys=cilium-cni"#,
            r#"2019-08-06 10:48:04.633 [INFO][20999] k8s.go 73: Extracted identifiers for CmdAddK8s ContainerID="2dc5" Namespace="default" Pod="app""#,
            r#"{"level":"info","ts":"2024-02-21T19:23:32.543Z","caller":"routed-eni-cni-plugin/cni.go:125","msg":"Received CNI add request"}"#,
            "INFO: 2017/06/21 09:21:28.154418 Discovered local MAC 7a:37:1e:dd:3a:4e",
            r#"        "message": "Network plugin returns error: cni plugin not initialized""#,
            r#"incompatible CNI versions; config is \"1.0.0\", plugin supports [\"0.1.0\" \"0.2.0\" \"0.3.0\" \"0.3.1\" \"0.4.0\"]""#,
            "[cni-net] Processing ADD command with args {ContainerID:abc Netns:/proc/1/ns/net}",
            "  Warning  FailedCreatePodSandBox  33s  kubelet  Failed to create pod sandbox: rpc error",
        ];
        for line in lines {
            let env = Envelope::strip(line);
            assert_eq!(parse_text(&env), None, "text: {line}");
            assert_eq!(parse_klog(&env), None, "klog: {line}");
        }
        // A logrus line of another component that says nothing about CNI.
        let env = Envelope::strip(
            r#"time="2024-01-01T00:00:00Z" level=info msg="loading plugin \"io.containerd.snapshotter.v1.overlayfs\"...""#,
        );
        assert_eq!(parse_logrus(&env), None);
    }

    #[test]
    fn garbage_does_not_panic() {
        let lines = [
            r#"E0703 17:44:38.499824  388250 remote_runtime.go:224] "RemovePodSandbox from runtime service failed" err="rpc error: code = Unknown desc = failed to forcibly stop sandbox \"72d5\": cni" podSandboxID="72d5""#,
            "E1105 17:15:34.352838    4258 remote_runtime.go:193] \"RunPodSandbox failed\" err=<\n\trpc error\n >x=<\n",
            r#"time="2019-10-02T23:27:34Z" level=error msg="RunPodSandbox for &PodSandboxMetadata{Name:a,Uid:b" error="failed to setup network for sandbox \"a"#,
            "INFO[0000] Found CNI network x (type=",
            "ERRO[12] Adding pod a_b to CNI network \"",
            r#"level=info msg="Got pod network &{Name:"#,
        ];
        for line in lines {
            for cut in 0..=line.len() {
                if let Some(p) = line.get(..cut) {
                    let _ = parse_record(p, None);
                }
            }
        }
    }
}
