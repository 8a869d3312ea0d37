//! Multus's own log (`2019-03-14T02:50:05-07:00 [debug] GetK8sClient: ...`): the envelope takes
//! the time, the body starts with one of Multus's levels in brackets. Events and runtime lines
//! that quote Multus errors are the runtime parsers' records.

use std::sync::LazyLock;

use memchr::memmem;

use crate::envelope::Envelope;
use crate::event::{Operation, Severity};
use crate::facts::Facts;
use crate::formats::cni_json::{self, Json};
use crate::text::{
    is_uuid, pod_slash, quoted_after, words_of, ByteSearch, PhraseSearch, TrimFast, Words,
};

/// A phrase looked for in every message Multus logs. Building a substring searcher costs more
/// than searching one message, so each phrase's searcher is built once.
type Phrase = LazyLock<memmem::Finder<'static>>;

static SET_MAC: Phrase = LazyLock::new(|| memmem::Finder::new("set MAC address "));
static IF_NAME_TO: Phrase = LazyLock::new(|| memmem::Finder::new(" interface name to "));
static DELEGATE_MARKERS: [Phrase; 3] = [
    LazyLock::new(|| memmem::Finder::new("DelegateAdd - ")),
    LazyLock::new(|| memmem::Finder::new("DelegateDel - ")),
    LazyLock::new(|| memmem::Finder::new("DelegateCheck - ")),
];
static ATTACHMENT: Phrase =
    LazyLock::new(|| memmem::Finder::new("network-attachment-definition ("));
static EXPECTED_UID: Phrase = LazyLock::new(|| memmem::Finder::new("expected pod UID "));
static CMD_ARGS: Phrase = LazyLock::new(|| memmem::Finder::new("&{"));

/// The text after the first `phrase` in `s`.
fn after<'a>(s: &'a str, phrase: &memmem::Finder<'_>) -> Option<&'a str> {
    let at = phrase.find(s.as_bytes())? + phrase.needle().len();
    s.get(at..)
}

/// The double-quoted text right after the first `phrase` in `s` (as `text::quoted_after`).
fn quoted_after_phrase<'a>(s: &'a str, phrase: &memmem::Finder<'_>) -> Option<&'a str> {
    let rest = after(s, phrase)?.strip_prefix('"')?;
    rest.split_once_byte(b'"').map(|(quoted, _)| quoted)
}

/// The words of the functions and messages that name the CNI command they run in.
const OPERATION_WORDS: [(&str, Operation); 17] = [
    ("CmdAdd", Operation::Add),
    // Errors only `CmdAdd` returns: loading the pod's delegates, waiting for the default
    // network (`CmdDel` words its wait "(on del)").
    ("error loading k8s delegates", Operation::Add),
    ("still waiting for readinessindicatorfile", Operation::Add),
    ("but continue to delete", Operation::Del),
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

/// The words of [`OPERATION_WORDS`], in its order, searched in one pass (see `Words`).
static OPERATIONS: Words = Words::new(&OPERATION_PHRASES);

const OPERATION_PHRASES: [&str; OPERATION_WORDS.len()] = words_of(&OPERATION_WORDS);

pub(crate) fn parse(env: &Envelope<'_>) -> Option<Facts> {
    let body = env.body.trim_fast();
    if !body.starts_with('[') {
        return None;
    }
    // At the first `]`, which must end the level: a later `] ` would leave a `]` in the level,
    // which none of the words below has.
    let (level, msg) = body[1..].split_once_byte(b']')?;
    let msg = msg.strip_prefix(' ')?;
    let level = match level {
        "debug" => Severity::Debug,
        "verbose" => Severity::Info,
        "error" => Severity::Error,
        "panic" => Severity::Critical,
        _ => return None,
    };
    let msg = msg.trim_fast();
    if msg.is_empty() || is_nginx_error(msg) {
        return None;
    }
    // Multus has no warning level: it logs warnings at verbose, prefixed `warning:`.
    let level = if level == Severity::Info && msg.starts_with("warning:") {
        Severity::Warning
    } else {
        level
    };
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
    } else if let Some(conf) = msg.strip_prefix("LoadNetConf: ") {
        config_facts(&mut f, conf);
    } else if let Some(rest) = msg.strip_prefix("GetPod: ") {
        // `GetPod: <namespace>, <name>`
        if let Some((ns, name)) = rest.split_once_str(", ") {
            Facts::set(&mut f.namespace, ns);
            Facts::set(&mut f.pod_name, name);
        }
    } else if let Some(rest) = msg.strip_prefix("Multus: getPod failed: ") {
        // On DEL a pod already gone from the API is expected: Multus goes on deleting. The
        // `Multus: ` speaker tag is the event's plugin already.
        f.message = Some(rest.to_owned());
        f.operation = operation_named(rest);
        if let Some(pod) = quoted_after(rest, "pods ") {
            Facts::set(&mut f.pod_name, pod);
        }
        if !rest.contains_str("but continue to delete") && level >= Severity::Error {
            failure(&mut f, msg);
        }
    } else {
        f.operation = operation_named(msg);
        cmd_args(&mut f, msg);
        stated_facts(&mut f, msg);
        if level >= Severity::Error {
            failure(&mut f, msg);
        }
    }
    Some(f)
}

/// Facts Multus's messages state in their own words, wherever they appear in the message.
fn stated_facts(f: &mut Facts, msg: &str) {
    // `delegateAdd: set MAC address "ca:fe:c0:ff:ee:01" to "net1"`
    if let Some(mac) = quoted_after_phrase(msg, &SET_MAC) {
        Facts::set(&mut f.mac, mac);
        if let Some(ifname) = after(msg, &SET_MAC).and_then(|r| quoted_after(r, "\" to ")) {
            Facts::set(&mut f.if_name, ifname);
        }
    }
    // `cannot set "" interface name to "net1"` (looked for here first: the reader's own search
    // builds its searcher on every call).
    if IF_NAME_TO.find(msg.as_bytes()).is_some() {
        if let Some(ifname) = super::runtime_error::delegate_if_name(msg) {
            Facts::set(&mut f.if_name, ifname);
        }
    }
    // `error invoking DelegateDel - "macvlan"`: the delegate plugin's type.
    for marker in &DELEGATE_MARKERS {
        if let Some(t) = quoted_after_phrase(msg, marker) {
            Facts::set(&mut f.plugin_type, t);
        }
    }
    // `cannot find a network-attachment-definition (macvlan-conf) in namespace (kube-system)`
    if let Some(rest) = after(msg, &ATTACHMENT) {
        if let Some((name, after)) = rest.split_once_byte(b')') {
            // `namespace/name`, as Multus's own events print an attachment.
            match after
                .strip_prefix(" in namespace (")
                .and_then(|r| r.split_once_byte(b')'))
            {
                Some((ns, _)) => f.attr("network_attachment", &format!("{ns}/{name}")),
                None => f.attr("network_attachment", name),
            }
        }
    }
    // `warning: expected pod UID "<CNI_ARGS uid>" but got "<API uid>" from Kube API`
    if let Some(expected) = quoted_after_phrase(msg, &EXPECTED_UID) {
        Facts::set(&mut f.pod_uid, expected);
        if let Some(got) = after(msg, &EXPECTED_UID).and_then(|r| quoted_after(r, "but got ")) {
            f.attr("api_pod_uid", got);
        }
    }
}

/// A network configuration (Multus's own, or a delegate's conf or conflist): its name, CNI
/// version, and its plugin's type (a conflist's first plugin).
fn config_facts(f: &mut Facts, json: &str) {
    let Some(m) = cni_json::object_of(json.trim_fast()) else {
        return;
    };
    let text = |v: Option<&Json<'_>>| v.and_then(Json::as_str).unwrap_or("").to_owned();
    Facts::set(&mut f.network_name, &text(m.get("name")));
    Facts::set(&mut f.cni_version, &text(m.get("cniVersion")));
    let first_plugin = m
        .get("plugins")
        .and_then(Json::as_array)
        .and_then(|p| p.first())
        .and_then(|p| p.get("type"));
    Facts::set(&mut f.plugin_type, &text(m.get("type").or(first_plugin)));
}

/// nginx's error log has the same shape after its time: `[error] 7#7: *1 connect() failed`.
fn is_nginx_error(msg: &str) -> bool {
    let word = msg.split_whitespace().next().unwrap_or("");
    word.ends_with(':')
        && word
            .trim_end_matches(':')
            .split_once_byte(b'#')
            .is_some_and(|(a, b)| {
                !a.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
            })
}

fn operation_named(msg: &str) -> Option<Operation> {
    // The earliest word names the operation; at a tie, the word listed first.
    OPERATIONS
        .earliest_in(msg)
        .map(|(_, i)| OPERATION_WORDS[i].1)
}

/// `Add: <ns>:<pod>:<uid>:<delegate>(<conf name>):<ifname> <result JSON>` (Del and Check carry
/// the delegate's config instead of a result; older releases have no uid).
fn delegate_line(f: &mut Facts, rest: &str, op: Operation) {
    f.operation = Some(op);
    let (head, json) = rest.split_once_byte(b' ').unwrap_or((rest, ""));
    let parts: Vec<&str> = head.split_byte(b':').collect();
    if parts.len() >= 4 {
        Facts::set(&mut f.namespace, parts[0]);
        Facts::set(&mut f.pod_name, parts[1]);
        Facts::set(&mut f.if_name, parts[parts.len() - 1]);
        let mut middle = &parts[2..parts.len() - 1];
        if let [uid, more @ ..] = middle {
            if is_uuid(uid) && !more.is_empty() {
                Facts::set(&mut f.pod_uid, uid);
                middle = more;
            } else if *uid == "unknownUID" && !more.is_empty() {
                middle = more;
            }
        }
        let net = middle.join(":");
        match net.split_once_byte(b'(') {
            Some((delegate, conf)) => {
                Facts::set(&mut f.network_name, conf.trim_end_matches(')'));
                // `default/macvlan-conf`: the attachment definition, namespace-qualified.
                f.attr("network_attachment", delegate);
            }
            None => Facts::set(&mut f.network_name, &net),
        }
    }
    if op != Operation::Add {
        // Del and Check log the delegate's configuration.
        config_facts(f, json);
        return;
    }
    // Multus logs `Add:` only after the delegate returned its result.
    f.success = Some(true);
    if let Some(m) = cni_json::object_of(json.trim_fast()) {
        let if_name = f.if_name.take();
        cni_json::fill_result(f, &m);
        // The name Multus gave the interface wins over the result's listing order.
        if if_name.is_some() {
            f.if_name = if_name;
        }
    }
}

/// `CmdAdd: &{<container id> <netns> <ifname> <CNI_ARGS> <path> [<stdin bytes>]}, ...`: Go's
/// `%v` of the plugin's `skel.CmdArgs`.
fn cmd_args(f: &mut Facts, msg: &str) {
    let Some(rest) = after(msg, &CMD_ARGS) else {
        return;
    };
    let mut words = rest.split_byte(b' ');
    let (Some(id), Some(netns), Some(ifname), Some(args)) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return;
    };
    if !(netns.starts_with('/') && args.contains_str("K8S_")) {
        return;
    }
    Facts::set(&mut f.container_id, id);
    Facts::set(&mut f.netns, netns);
    Facts::set(&mut f.if_name, ifname);
    f.read_cni_args(args);
}

/// `Multus: [ns/pod/uid]: <error>` and `[ns/pod/uid:network]: error adding container to
/// network "network": <error>`.
fn failure(f: &mut Facts, msg: &str) {
    let mut rest = msg.strip_prefix("Multus: ").unwrap_or(msg);
    if let Some((key, after)) = rest.strip_prefix('[').and_then(|r| r.split_once_str("]: ")) {
        let (pod_key, net) = match key.rsplit_once_byte(b':') {
            Some((p, n)) => (p, Some(n)),
            None => (key, None),
        };
        if let Some((ns, name)) = pod_slash(pod_key) {
            let (name, uid) = match name.split_once_byte(b'/') {
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
        .and_then(|r| r.split_once_str("\": "))
        .map_or(rest, |(net, err)| {
            Facts::set(&mut f.network_name, net);
            err
        });
    f.set_error(inner);
    if f.operation.is_some() {
        f.success = Some(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Format;
    use crate::formats::cni_json::tests::{survives_truncation, FOREIGN, SIBLINGS};
    use crate::formats::parse_record;

    const CORPUS: &str = r#"Mar 14 02:50:05 timhorton-node03 kubelet: 2019-03-14T02:50:05-07:00 [debug] GetK8sClient: /etc/kubernetes/node-kubeconfig.yaml, <nil>"#;

    fn claimed(line: &str) -> Facts {
        let f = parse_record(line, None).expect("claimed");
        assert_eq!(f.format, Some(Format::Multus), "{line}");
        assert_eq!(f.plugin, Some("multus"));
        f
    }

    #[test]
    fn corpus_debug_line() {
        let f = claimed(CORPUS);
        assert_eq!(f.level, Some(Severity::Debug));
        assert_eq!(
            f.message.as_deref(),
            Some("GetK8sClient: /etc/kubernetes/node-kubeconfig.yaml, <nil>")
        );
        assert_eq!(f.hostname.as_deref(), Some("timhorton-node03"));
        assert_eq!((f.operation, f.success, f.error), (None, None, None));
    }

    #[test]
    fn delegate_add_with_result() {
        let f = claimed(
            r#"2020-08-28T08:35:17Z [verbose] Add: default:samplepod:3b9c2a1e-51f0-4c4e-9e2a-6f1d8a4c2b10:default/macvlan-conf(macvlan-conf):net1 {"cniVersion":"0.3.1","interfaces":[{"name":"net1","mac":"ca:fe:c0:ff:ee:01","sandbox":"/proc/1234/ns/net"}],"ips":[{"version":"4","interface":0,"address":"192.168.1.200/24","gateway":"192.168.1.1"}],"dns":{}}"#,
        );
        assert_eq!(f.level, Some(Severity::Info));
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.success, Some(true));
        assert_eq!(f.namespace.as_deref(), Some("default"));
        assert_eq!(f.pod_name.as_deref(), Some("samplepod"));
        assert_eq!(
            f.pod_uid.as_deref(),
            Some("3b9c2a1e-51f0-4c4e-9e2a-6f1d8a4c2b10")
        );
        assert_eq!(f.network_name.as_deref(), Some("macvlan-conf"));
        assert_eq!(
            f.attributes.get("network_attachment").map(String::as_str),
            Some("default/macvlan-conf")
        );
        assert_eq!(f.if_name.as_deref(), Some("net1"));
        assert_eq!(f.ips, ["192.168.1.200/24"]);
        assert_eq!(f.gateway.as_deref(), Some("192.168.1.1"));
        assert_eq!(f.mac.as_deref(), Some("ca:fe:c0:ff:ee:01"));
        assert_eq!(f.netns.as_deref(), Some("/proc/1234/ns/net"));
        assert_eq!(f.cni_version.as_deref(), Some("0.3.1"));
    }

    #[test]
    fn delegate_del_and_cmd_args() {
        let f = claimed(
            r#"2020-08-28T08:40:01Z [verbose] Del: default:samplepod:unknownUID:macvlan-conf:net1 {"cniVersion":"0.3.1","name":"macvlan-conf","type":"macvlan","master":"eth1"}"#,
        );
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.success, None);
        assert_eq!(f.pod_uid, None);
        assert_eq!(f.network_name.as_deref(), Some("macvlan-conf"));
        assert_eq!(f.plugin_type.as_deref(), Some("macvlan"));
        assert_eq!(f.cni_version.as_deref(), Some("0.3.1"));
        assert!(f.ips.is_empty());

        // A conflist delegate: its first plugin's type.
        let f = claimed(
            r#"2020-08-28T08:40:01Z [verbose] Del: default:samplepod:3b9c2a1e-51f0-4c4e-9e2a-6f1d8a4c2b10:cbr0:eth0 {"cniVersion":"0.3.1","name":"cbr0","plugins":[{"type":"flannel","delegate":{"hairpinMode":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#,
        );
        assert_eq!(f.plugin_type.as_deref(), Some("flannel"));
        assert_eq!(f.cni_version.as_deref(), Some("0.3.1"));
        assert_eq!(f.network_name.as_deref(), Some("cbr0"));

        let f = claimed("2019-03-14T02:50:05-07:00 [debug] CmdAdd: &{9f2d3c1b7a6e5d4c3b2a19f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8 /proc/4242/ns/net eth0 IgnoreUnknown=true;K8S_POD_NAMESPACE=default;K8S_POD_NAME=samplepod;K8S_POD_INFRA_CONTAINER_ID=9f2d3c1b7a6e5d4c3b2a19f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8 /opt/multus/bin:/opt/cni/bin [123 34 99]}, <nil>, <nil>");
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(
            f.container_id.as_deref(),
            Some("9f2d3c1b7a6e5d4c3b2a19f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8")
        );
        assert_eq!(f.netns.as_deref(), Some("/proc/4242/ns/net"));
        assert_eq!(f.if_name.as_deref(), Some("eth0"));
        assert_eq!(f.namespace.as_deref(), Some("default"));
        assert_eq!(f.pod_name.as_deref(), Some("samplepod"));
        assert_eq!(
            f.args.get("K8S_POD_NAME").map(String::as_str),
            Some("samplepod")
        );
        assert_eq!(f.success, None);
    }

    #[test]
    fn errors_in_multus_own_format() {
        let f = claimed(
            r#"2019-10-02T11:20:33Z [error] [default/samplepod:macvlan-conf]: error adding container to network "macvlan-conf": delegateAdd: cannot set "" interface name to "net1": validateIfName: interface name net1 already exists"#,
        );
        assert_eq!(f.level, Some(Severity::Error));
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.success, Some(false));
        assert_eq!(f.namespace.as_deref(), Some("default"));
        assert_eq!(f.pod_name.as_deref(), Some("samplepod"));
        assert_eq!(f.network_name.as_deref(), Some("macvlan-conf"));
        assert_eq!(
            f.error.map(|e| e.msg).as_deref(),
            Some(
                r#"delegateAdd: cannot set "" interface name to "net1": validateIfName: interface name net1 already exists"#
            )
        );

        let f = claimed(
            r#"2021-05-04T10:00:00Z [error] Multus: [kube-system/coredns-74ff55c5b-9x2lq/6a1f0c2e-2b3d-4e5f-8a9b-0c1d2e3f4a5b]: error loading k8s delegates k8s args: TryLoadPodDelegates: error in getting k8s network for pod: GetNetworkDelegates: failed getting the delegate: getKubernetesDelegate: cannot find a network-attachment-definition (macvlan-conf) in namespace (kube-system): network-attachment-definitions.k8s.cni.cncf.io "macvlan-conf" not found"#,
        );
        assert_eq!(f.namespace.as_deref(), Some("kube-system"));
        assert_eq!(f.pod_name.as_deref(), Some("coredns-74ff55c5b-9x2lq"));
        assert_eq!(
            f.pod_uid.as_deref(),
            Some("6a1f0c2e-2b3d-4e5f-8a9b-0c1d2e3f4a5b")
        );
        assert!(f
            .error
            .is_some_and(|e| e.msg.starts_with("error loading k8s delegates")));
        // Only CmdAdd loads the pod's delegates.
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.success, Some(false));
        assert_eq!(
            f.attributes.get("network_attachment").map(String::as_str),
            Some("kube-system/macvlan-conf")
        );

        let f = claimed(
            r#"2021-05-04T10:00:01Z [error] delegateDel: error invoking DelegateDel - "macvlan": error in getting result from DelNetwork: Link not found"#,
        );
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.success, Some(false));
        assert_eq!(f.plugin_type.as_deref(), Some("macvlan"));

        let f = claimed(
            r#"2021-05-04T10:00:02Z [error] Multus: [default/samplepod/3b9c2a1e-51f0-4c4e-9e2a-6f1d8a4c2b10]: have you checked that your default network is ready? still waiting for readinessindicatorfile @ /run/flannel/subnet.env. pollimmediate error: timed out waiting for the condition"#,
        );
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.success, Some(false));
        assert_eq!(f.pod_name.as_deref(), Some("samplepod"));
    }

    #[test]
    fn facts_in_multus_words() {
        let f = claimed(
            r#"2020-08-28T08:35:16Z [debug] LoadNetConf: {"cniVersion":"0.3.1","name":"multus-cni-network","type":"multus","kubeconfig":"/etc/cni/net.d/multus.d/multus.kubeconfig","delegates":[{"cniVersion":"0.3.1","name":"cbr0","plugins":[{"type":"flannel"}]}]}"#,
        );
        assert_eq!(f.network_name.as_deref(), Some("multus-cni-network"));
        assert_eq!(f.cni_version.as_deref(), Some("0.3.1"));
        assert_eq!(f.plugin_type.as_deref(), Some("multus"));

        let f = claimed("2020-08-28T08:35:16Z [debug] GetPod: default, samplepod");
        assert_eq!(f.namespace.as_deref(), Some("default"));
        assert_eq!(f.pod_name.as_deref(), Some("samplepod"));

        let f = claimed(
            r#"2020-08-28T08:35:17Z [debug] delegateAdd: set MAC address "ca:fe:c0:ff:ee:01" to "net1""#,
        );
        assert_eq!(f.mac.as_deref(), Some("ca:fe:c0:ff:ee:01"));
        assert_eq!(f.if_name.as_deref(), Some("net1"));
        assert_eq!(f.operation, Some(Operation::Add));

        let f = claimed(
            r#"2019-10-02T11:20:33Z [error] [default/samplepod:macvlan-conf]: error adding container to network "macvlan-conf": delegateAdd: cannot set "" interface name to "net1": validateIfName: interface name net1 already exists"#,
        );
        assert_eq!(f.if_name.as_deref(), Some("net1"));

        let f = claimed(
            r#"2021-05-04T10:00:03Z [verbose] warning: expected pod UID "3b9c2a1e-51f0-4c4e-9e2a-6f1d8a4c2b10" but got "77d1e0aa-4d1f-4f1e-9c3b-2a1b0c9d8e7f" from Kube API"#,
        );
        assert_eq!(f.level, Some(Severity::Warning));
        assert_eq!(
            f.pod_uid.as_deref(),
            Some("3b9c2a1e-51f0-4c4e-9e2a-6f1d8a4c2b10")
        );
        assert_eq!(
            f.attributes.get("api_pod_uid").map(String::as_str),
            Some("77d1e0aa-4d1f-4f1e-9c3b-2a1b0c9d8e7f")
        );

        // A pod already gone on DEL is expected: Multus goes on deleting.
        let f = claimed(
            r#"2021-05-04T10:00:04Z [error] Multus: getPod failed: pods "samplepod" not found, but continue to delete"#,
        );
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.pod_name.as_deref(), Some("samplepod"));
        assert_eq!((f.success, f.error), (None, None));
    }

    #[test]
    fn other_lines_are_not_claimed() {
        for line in FOREIGN.iter().chain(SIBLINGS).filter(|l| **l != CORPUS) {
            assert_eq!(parse(&Envelope::strip(line)), None, "{line}");
        }
        for line in ["[warning] x", "[debug]", "[INFO] ipamd started"] {
            assert_eq!(parse(&Envelope::strip(line)), None, "{line}");
        }
    }

    #[test]
    fn garbage_does_not_panic() {
        survives_truncation(CORPUS);
        survives_truncation(r#"[verbose] Add: a:b:c:d(e):f {"ips":[{"address":"1.2.3.4/32"}]}"#);
        survives_truncation(
            "[error] Multus: [a/b/c:d]: error adding container to network \"d\": x",
        );
        survives_truncation("[debug] CmdAdd: &{id /proc/1/ns/net eth0 K8S_POD_NAME=a /opt}");
        survives_truncation("[verbose] Add: ::::");
    }

    #[test]
    fn extra_fixture_lines_are_claimed() {
        for line in include_str!("../../../fixtures/logs/extra/multus.log").lines() {
            claimed(line);
        }
    }
}
