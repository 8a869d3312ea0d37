//! Multus's own log (`2019-03-14T02:50:05-07:00 [debug] GetK8sClient: ...`): the envelope takes
//! the time, the body starts with one of Multus's levels in brackets. Events and runtime lines
//! that quote Multus errors are the runtime parsers' records.

use crate::envelope::Envelope;
use crate::event::{Operation, Severity};
use crate::facts::Facts;
use crate::formats::cni_json;
use crate::text::{cni_args, pod_slash};

/// The words of the functions and messages that name the CNI command they run in.
const OPERATION_WORDS: [(&str, Operation); 14] = [
    ("CmdAdd", Operation::Add),
    ("cmdAdd", Operation::Add),
    ("delegateAdd", Operation::Add),
    ("confAdd", Operation::Add),
    ("conflistAdd", Operation::Add),
    ("error adding", Operation::Add),
    ("CmdDel", Operation::Del),
    ("delegateDel", Operation::Del),
    ("confDel", Operation::Del),
    ("conflistDel", Operation::Del),
    ("error deleting", Operation::Del),
    ("CmdCheck", Operation::Check),
    ("delegateCheck", Operation::Check),
    ("conflistCheck", Operation::Check),
];

pub(crate) fn parse(env: &Envelope<'_>) -> Option<Facts> {
    let body = env.body.trim();
    if !body.starts_with('[') {
        return None;
    }
    let (level, msg) = body[1..].split_once("] ")?;
    let level = match level {
        "debug" => Severity::Debug,
        "verbose" => Severity::Info,
        "error" => Severity::Error,
        "panic" => Severity::Critical,
        _ => return None,
    };
    let msg = msg.trim();
    if msg.is_empty() || is_nginx_error(msg) {
        return None;
    }
    let mut f = Facts {
        plugin: Some("multus"),
        level: Some(level),
        message: Some(msg.to_owned()),
        ..Facts::default()
    };

    if let Some(rest) = msg.strip_prefix("Add: ") {
        delegate_line(&mut f, rest, Operation::Add);
    } else if let Some(rest) = msg.strip_prefix("Del: ") {
        delegate_line(&mut f, rest, Operation::Del);
    } else if let Some(rest) = msg.strip_prefix("Check: ") {
        delegate_line(&mut f, rest, Operation::Check);
    } else {
        f.operation = operation_named(msg);
        cmd_args(&mut f, msg);
        if level >= Severity::Error {
            failure(&mut f, msg);
        }
    }
    Some(f)
}

/// nginx's error log has the same shape after its time: `[error] 7#7: *1 connect() failed`.
fn is_nginx_error(msg: &str) -> bool {
    let word = msg.split_whitespace().next().unwrap_or("");
    word.ends_with(':')
        && word
            .trim_end_matches(':')
            .split_once('#')
            .is_some_and(|(a, b)| {
                !a.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
            })
}

fn operation_named(msg: &str) -> Option<Operation> {
    OPERATION_WORDS
        .iter()
        .filter_map(|(w, op)| msg.find(w).map(|at| (at, *op)))
        .min_by_key(|(at, _)| *at)
        .map(|(_, op)| op)
}

/// `Add: <ns>:<pod>:<uid>:<delegate>(<conf name>):<ifname> <result JSON>` (Del and Check carry
/// the delegate's config instead of a result; older releases have no uid).
fn delegate_line(f: &mut Facts, rest: &str, op: Operation) {
    f.operation = Some(op);
    let (head, json) = rest.split_once(' ').unwrap_or((rest, ""));
    let parts: Vec<&str> = head.split(':').collect();
    if parts.len() >= 4 {
        Facts::set(&mut f.namespace, parts[0]);
        Facts::set(&mut f.pod_name, parts[1]);
        Facts::set(&mut f.if_name, parts[parts.len() - 1]);
        let mut middle = &parts[2..parts.len() - 1];
        if let [uid, more @ ..] = middle {
            if looks_like_uid(uid) && !more.is_empty() {
                Facts::set(&mut f.pod_uid, uid);
                middle = more;
            } else if *uid == "unknownUID" && !more.is_empty() {
                middle = more;
            }
        }
        let net = middle.join(":");
        match net.split_once('(') {
            Some((delegate, conf)) => {
                Facts::set(&mut f.network_name, conf.trim_end_matches(')'));
                f.attr("network_attachment", delegate);
            }
            None => Facts::set(&mut f.network_name, &net),
        }
    }
    if op != Operation::Add {
        return;
    }
    // Multus logs `Add:` only after the delegate returned its result.
    f.success = Some(true);
    if let Some(m) = cni_json::object_of(json.trim()) {
        let if_name = f.if_name.take();
        cni_json::fill_result(f, &m);
        // The name Multus gave the interface wins over the result's listing order.
        if if_name.is_some() {
            f.if_name = if_name;
        }
    }
}

fn looks_like_uid(s: &str) -> bool {
    s.len() == 36 && s.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-')
}

/// `CmdAdd: &{<container id> <netns> <ifname> <CNI_ARGS> <path> [<stdin bytes>]}, ...`: Go's
/// `%v` of the plugin's `skel.CmdArgs`.
fn cmd_args(f: &mut Facts, msg: &str) {
    let Some((_, rest)) = msg.split_once("&{") else {
        return;
    };
    let mut words = rest.split(' ');
    let (Some(id), Some(netns), Some(ifname), Some(args)) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return;
    };
    if !(netns.starts_with('/') && args.contains("K8S_")) {
        return;
    }
    Facts::set(&mut f.container_id, id);
    Facts::set(&mut f.netns, netns);
    Facts::set(&mut f.if_name, ifname);
    f.args = cni_args(args);
    let arg = |k: &str| f.args.get(k).cloned().unwrap_or_default();
    let (ns, pod, uid) = (
        arg("K8S_POD_NAMESPACE"),
        arg("K8S_POD_NAME"),
        arg("K8S_POD_UID"),
    );
    Facts::set(&mut f.namespace, &ns);
    Facts::set(&mut f.pod_name, &pod);
    Facts::set(&mut f.pod_uid, &uid);
}

/// `Multus: [ns/pod/uid]: <error>` and `[ns/pod/uid:network]: error adding container to
/// network "network": <error>`.
fn failure(f: &mut Facts, msg: &str) {
    let mut rest = msg.strip_prefix("Multus: ").unwrap_or(msg);
    if let Some((key, after)) = rest.strip_prefix('[').and_then(|r| r.split_once("]: ")) {
        let (pod_key, net) = match key.rsplit_once(':') {
            Some((p, n)) => (p, Some(n)),
            None => (key, None),
        };
        if let Some((ns, name)) = pod_slash(pod_key) {
            let (name, uid) = match name.split_once('/') {
                Some((n, u)) => (n, Some(u)),
                None => (name, None),
            };
            Facts::set(&mut f.namespace, ns);
            Facts::set(&mut f.pod_name, name);
            Facts::set(&mut f.pod_uid, uid.unwrap_or(""));
        }
        Facts::set(&mut f.network_name, net.unwrap_or(""));
        rest = after;
    }
    // `error adding container to network "x": <the delegate's error>`
    let inner = rest
        .strip_prefix("error adding container to network \"")
        .and_then(|r| r.split_once("\": "))
        .map_or(rest, |(net, err)| {
            Facts::set(&mut f.network_name, net);
            err
        });
    f.set_error(inner);
    if f.operation.is_some() {
        f.success = Some(false);
    }
}
