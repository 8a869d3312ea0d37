//! Kubernetes events about pod networking, as `kubectl describe` and `kubectl get events`
//! print them.
//!
//! `kubectl describe pod`: `Type  Reason  Age  From  Message`, where Age may carry an
//! aggregation (`33s (x8 over 67s)`), From may be `kubelet, <node>` or absent.
//! `kubectl get events`: `[NAMESPACE]  LAST SEEN  TYPE  REASON  OBJECT  MESSAGE`.
//! Columns are separated by two or more spaces; a message may itself contain double spaces, so
//! it is always the rest of the row.

use crate::envelope::Envelope;
use crate::event::{Category, Format, Severity};
use crate::facts::Facts;
use crate::formats::runtime_error;
use crate::text::{family_of_type, looks_like_ip, ByteSearch, PhraseSearch, TrimFast};

/// How far into a row the TYPE column can start (after NAMESPACE and LAST SEEN).
const TYPE_WITHIN: usize = 160;

/// One event row, borrowed from the line.
#[derive(Debug, Default, PartialEq)]
struct Row<'a> {
    kind: &'a str,
    reason: &'a str,
    age: Option<&'a str>,
    from: Option<&'a str>,
    object: Option<&'a str>,
    namespace: Option<&'a str>,
    message: &'a str,
}

pub(crate) fn parse(env: &Envelope<'_>) -> Option<Facts> {
    let body = env.body.as_ref();
    // Cut at a char boundary at or before the limit: the words are ASCII, so a match that
    // ends within the limit ends at or before that boundary too.
    let mut end = body.len().min(TYPE_WITHIN);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    let head = &body[..end];
    if !names_a_type(head) {
        return None;
    }
    let row = Row::split(body)?;
    let mut f = Facts::new(Format::KubeletEvent);
    let claimed = match row.reason {
        "AddedInterface" => added_interface(row.message, &mut f),
        "SandboxChanged" => true,
        "NetworkNotReady" => {
            if !runtime_error::read(row.message, &mut f) {
                f.category = Some(Category::HealthCheck);
                f.success = Some(false);
                f.set_error(row.message);
            }
            if let Some(statement) = runtime_error::not_ready_statement(row.message) {
                Facts::set(&mut f.message, statement);
            }
            true
        }
        "NoNetworkFound" => no_network_found(row.message, &mut f),
        _ => runtime_error::read(row.message, &mut f),
    };
    if !claimed {
        return None;
    }
    f.event_reason = Some(row.reason.to_owned());
    f.level = Severity::from_level(row.kind);
    if let Some(count) = row.age.and_then(event_count) {
        f.metrics.insert("event_count".to_owned(), count);
    }
    if let Some(from) = row.from {
        let (component, node) = from.split_once_str(", ").unwrap_or((from, ""));
        f.attr("component", component);
        // The component that reported the event is its speaker.
        Facts::set(&mut f.comm, component);
        Facts::set(&mut f.node_name, node);
        if f.plugin.is_none() {
            f.plugin = family_of_type(component);
        }
    }
    if let Some(object) = row.object {
        match object.split_once_byte(b'/') {
            Some(("pod", name)) => Facts::set(&mut f.pod_name, name),
            Some(("node", name)) => Facts::set(&mut f.node_name, name),
            _ => f.attr("object", object),
        }
    }
    if let Some(ns) = row.namespace {
        Facts::set(&mut f.namespace, ns);
    }
    Facts::set(&mut f.message, row.message);
    Some(f)
}

impl<'a> Row<'a> {
    fn split(body: &'a str) -> Option<Row<'a>> {
        let (first, rest) = field(body)?;
        if is_type(first) {
            return Row::describe(first, rest);
        }
        let (second, rest2) = field(rest)?;
        if is_type(second) {
            return Row::get_events(None, first, second, rest2);
        }
        let (third, rest3) = field(rest2)?;
        if is_type(third) && is_name(first) {
            return Row::get_events(Some(first), second, third, rest3);
        }
        None
    }

    /// `Type  Reason  Age  [From]  Message`.
    fn describe(kind: &'a str, rest: &'a str) -> Option<Row<'a>> {
        let (reason, rest) = field(rest)?;
        if !is_reason(reason) {
            return None;
        }
        let (age, rest) = field(rest)?;
        if !is_age(age) {
            return None;
        }
        let (from, message) = match field(rest) {
            Some((from, message)) if is_source(from) && !message.is_empty() => {
                (Some(from), message)
            }
            _ => (None, rest),
        };
        Some(Row {
            kind,
            reason,
            age: Some(age),
            from,
            message: message.trim_fast(),
            ..Row::default()
        })
    }

    /// `[NAMESPACE]  LAST SEEN  TYPE  REASON  OBJECT  MESSAGE`.
    fn get_events(
        namespace: Option<&'a str>,
        last_seen: &'a str,
        kind: &'a str,
        rest: &'a str,
    ) -> Option<Row<'a>> {
        if !is_age(last_seen) {
            return None;
        }
        let (reason, rest) = field(rest)?;
        if !is_reason(reason) {
            return None;
        }
        let (object, message) = field(rest)?;
        if object.contains_byte(b' ') {
            return None;
        }
        Some(Row {
            kind,
            reason,
            age: Some(last_seen),
            object: Some(object),
            namespace,
            message: message.trim_fast(),
            ..Row::default()
        })
    }
}

/// Does `head` hold `Warning` or `Normal`? Every line not claimed before reaches this test:
/// their capitals are rare in a line, so each is found with `memchr2` and the word compared
/// there, where a substring search per word costs more than most lines.
fn names_a_type(head: &str) -> bool {
    let b = head.as_bytes();
    memchr::memchr2_iter(b'W', b'N', b).any(|at| {
        let rest = &b[at..];
        rest.starts_with(b"Warning") || rest.starts_with(b"Normal")
    })
}

/// `s` without its leading spaces and tabs.
fn skip_blanks(s: &str) -> &str {
    let n = s.bytes().take_while(|&c| c == b' ' || c == b'\t').count();
    &s[n..]
}

/// The next column of `s` (up to two spaces or a tab) and the rest after the separator.
fn field(s: &str) -> Option<(&str, &str)> {
    let s = skip_blanks(s);
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\t' || (b[i] == b' ' && b.get(i + 1) == Some(&b' ')) {
            let rest = skip_blanks(&s[i..]);
            return Some((&s[..i], rest));
        }
        i += 1;
    }
    Some((s, ""))
}

fn is_type(s: &str) -> bool {
    s == "Normal" || s == "Warning"
}

/// An event reason: a CamelCase word.
fn is_reason(s: &str) -> bool {
    s.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
        && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// `33s`, `5d7h`, `2m52s (x35156 over 5d7h)`, `<unknown>`, `<invalid>`.
fn is_age(s: &str) -> bool {
    s.starts_with('<') || s.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
}

/// The From column: a component, optionally `, <node>` (`kubelet, ip-10-0-0-1.ec2.internal`).
fn is_source(s: &str) -> bool {
    let (component, node) = s.split_once_str(", ").unwrap_or((s, "x"));
    is_name(component)
        && !node.is_empty()
        && node
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_')
}

/// `N` of an aggregated age `2m52s (x35156 over 5d7h)`.
fn event_count(age: &str) -> Option<f64> {
    let (_, rest) = age.split_once_str("(x")?;
    let n = rest.split(' ').next()?;
    n.parse::<u64>().ok().map(|n| n as f64)
}

/// Multus: `cannot find a network-attachment-definition (<name>) in namespace (<ns>): <err>`,
/// an attachment a pod asks for that does not exist: its networks cannot be set up.
fn no_network_found(msg: &str, f: &mut Facts) -> bool {
    let inside = |marker: &str| {
        let at = msg.find_str(marker)?;
        let rest = &msg[at + marker.len()..];
        rest.split_once_byte(b')').map(|(v, _)| v.trim_fast())
    };
    let name = inside("network-attachment-definition (");
    let ns = inside("in namespace (");
    match (ns, name) {
        (Some(ns), Some(name)) if !ns.is_empty() && !name.is_empty() => {
            f.attr("network_attachment", &format!("{ns}/{name}"));
        }
        (_, Some(name)) => f.attr("network_attachment", name),
        _ => {}
    }
    f.plugin = Some("multus");
    f.success = Some(false);
    f.set_error(msg);
    true
}

/// Multus: `Add eth0 [10.0.0.5/24 fd00::5/64] from ns/attachment` (`from` is absent for the
/// cluster default network in older releases). It reports an interface Multus added, not the
/// CNI operation it belongs to.
fn added_interface(msg: &str, f: &mut Facts) -> bool {
    let Some(rest) = msg.strip_prefix("Add ") else {
        return false;
    };
    let (ifname, rest) = rest.split_once_byte(b' ').unwrap_or((rest, ""));
    Facts::set(&mut f.if_name, ifname);
    let rest = rest.trim_start();
    let rest = match rest.strip_prefix('[').and_then(|r| r.split_once_byte(b']')) {
        Some((ips, rest)) => {
            for ip in ips.split([' ', ',']).filter(|ip| looks_like_ip(ip)) {
                f.add_ip(ip);
            }
            rest
        }
        None => rest,
    };
    if let Some(attachment) = rest.trim_fast().strip_prefix("from ") {
        // The NetworkAttachmentDefinition reference (`ns/name`), not the CNI network name of
        // its config.
        f.attr("network_attachment", attachment);
    }
    f.plugin = Some("multus");
    f.category = Some(Category::InterfaceSetup);
    f.success = Some(true);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Operation;
    use crate::formats::runtime_error::tests::{check, Case};

    const EVENT: Option<Format> = Some(Format::KubeletEvent);
    const WARN: Option<Severity> = Some(Severity::Warning);
    const ADD: Option<Operation> = Some(Operation::Add);
    const SANDBOX: Option<&str> = Some("FailedCreatePodSandBox");
    const GRPC: (&str, &str) = ("grpc_code", "Unknown");
    const KUBELET: (&str, &str) = ("component", "kubelet");

    #[test]
    fn corpus_rows() {
        let cases = [
            // cilium.log 14
            Case {
                line: r#"  Warning  FailedCreatePodSandBox  12m                kubelet, k8s1      Failed create pod sandbox: rpc error: code = Unknown desc = NetworkPlugin cni failed to set up pod "app1-78b4c7b56c-qzwp8_default" network: Unable to create endpoint: [PUT /endpoint/{id}][500] putEndpointIdFailed  endpoint 16569 did not synchronously regenerate after timeout"#,
                format: EVENT,
                op: ADD,
                pod: Some("app1-78b4c7b56c-qzwp8"),
                ns: Some("default"),
                plugin: Some("cilium"),
                confidence: Some(0.7),
                success: Some(false),
                error: Some("Unable to create endpoint: [PUT /endpoint/{id}][500] putEndpointIdFailed  endpoint 16569 did not synchronously regenerate after timeout"),
                level: WARN,
                reason: SANDBOX,
                node: Some("k8s1"),
                attrs: &[GRPC, KUBELET, ("endpoint_id", "16569")],
                ..Case::default()
            },
            // cilium.log 15
            Case {
                line: r#"  Warning  FailedCreatePodSandBox  99m                   kubelet            Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "03bc9190fdef1b1244f241fc20f994854eec658cc9eb75aa99ec605098e7b33b": plugin type="cilium-cni" name="cilium" failed (add): Unable to create endpoint: Cilium API client timeout exceeded"#,
                format: EVENT,
                op: ADD,
                container: Some("03bc9190fdef1b1244f241fc20f994854eec658cc9eb75aa99ec605098e7b33b"),
                plugin: Some("cilium"),
                plugin_type: Some("cilium-cni"),
                network: Some("cilium"),
                success: Some(false),
                error: Some("Unable to create endpoint: Cilium API client timeout exceeded"),
                level: WARN,
                reason: SANDBOX,
                attrs: &[GRPC, KUBELET],
                ..Case::default()
            },
            // cilium.log 16
            Case {
                line: r#"  Warning  FailedCreatePodSandBox  20s   kubelet, ip-192-168-4-64.us-west-2.compute.internal  Failed create pod sandbox: rpc error: code = Unknown desc = [failed to set up sandbox container "7cf45c4df81512373b370ffe526ce61fad423a1c801f6d0136f389314a4fac1c" network for pod "cilium-etcd-zj5wtgvx9d": NetworkPlugin cni failed to set up pod "cilium-etcd-zj5wtgvx9d_kube-system" network: unable to connect to Cilium daemon: Failed to create cilium agent client after 30.000000 seconds timeout: %!!(MISSING)s(<nil>), failed to clean up sandbox container "7cf45c4df81512373b370ffe526ce61fad423a1c801f6d0136f389314a4fac1c" network for pod "cilium-etcd-zj5wtgvx9d": NetworkPlugin cni failed to teardown pod "cilium-etcd-zj5wtgvx9d_kube-system" network: unable to connect to Cilium daemon: Failed to create cilium agent client after 30.000000 seconds timeout: %!!(MISSING)s(<nil>)]"#,
                format: EVENT,
                op: ADD,
                container: Some("7cf45c4df81512373b370ffe526ce61fad423a1c801f6d0136f389314a4fac1c"),
                pod: Some("cilium-etcd-zj5wtgvx9d"),
                ns: Some("kube-system"),
                plugin: Some("cilium"),
                confidence: Some(0.7),
                success: Some(false),
                error: Some("unable to connect to Cilium daemon: Failed to create cilium agent client after 30.000000 seconds timeout: %!!(MISSING)s(<nil>)"),
                level: WARN,
                reason: SANDBOX,
                node: Some("ip-192-168-4-64.us-west-2.compute.internal"),
                attrs: &[
                    GRPC,
                    KUBELET,
                    ("teardown_error", "unable to connect to Cilium daemon: Failed to create cilium agent client after 30.000000 seconds timeout: %!!(MISSING)s(<nil>)"),
                ],
                ..Case::default()
            },
            // calico.log 14
            Case {
                line: r#"  Warning  FailedCreatePodSandBox  33s               kubelet            Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "b6385006e8b3eedeaa1fd60e3e69afc9fb758a27666c93708a9211b3c988ab34": plugin type="calico" failed (add): error getting ClusterInformation: connection is unauthorized: Unauthorized"#,
                format: EVENT,
                op: ADD,
                container: Some("b6385006e8b3eedeaa1fd60e3e69afc9fb758a27666c93708a9211b3c988ab34"),
                plugin: Some("calico"),
                plugin_type: Some("calico"),
                success: Some(false),
                error: Some("error getting ClusterInformation: connection is unauthorized: Unauthorized"),
                level: WARN,
                reason: SANDBOX,
                attrs: &[GRPC, KUBELET],
                ..Case::default()
            },
            // calico.log 15
            Case {
                line: r#"Warning  FailedCreatePodSandBox  86s               kubelet            Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "3c8b059ce4c4cd7ae47eb9ebc8d1937afae2d0e23ec32cd3f4b9c464ab5d358d": plugin type="calico" failed (add): error adding host side routes for interface: calid29a1cadef5, error: route (Ifindex: 131, Dst: 172.25.136.1/32, Scope: link) already exists for an interface other than 'calid29a1cadef5': route (Ifindex: 12, Dst: 172.25.136.1/32, Scope: link, Iface: calif6cb5368383)"#,
                format: EVENT,
                op: ADD,
                container: Some("3c8b059ce4c4cd7ae47eb9ebc8d1937afae2d0e23ec32cd3f4b9c464ab5d358d"),
                plugin: Some("calico"),
                plugin_type: Some("calico"),
                success: Some(false),
                error: Some("error adding host side routes for interface: calid29a1cadef5, error: route (Ifindex: 131, Dst: 172.25.136.1/32, Scope: link) already exists for an interface other than 'calid29a1cadef5': route (Ifindex: 12, Dst: 172.25.136.1/32, Scope: link, Iface: calif6cb5368383)"),
                host: Some("calid29a1cadef5"),
                level: WARN,
                reason: SANDBOX,
                attrs: &[GRPC, KUBELET],
                ..Case::default()
            },
            // flannel.log 7: `kubectl get events` layout.
            Case {
                line: r#"28m     Warning   FailedCreatePodSandBox         pod/llm-proxy-65577dbdfb-hq9h8           Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "6232c2d3c6e61f5ade0dd75a827e954bb3a72b323431247a369ba16fd70ab649": plugin type="flannel" failed (add): failed to load flannel 'subnet.env' file: open /run/flannel/subnet.env: no such file or directory. Check the flannel pod log for this node."#,
                format: EVENT,
                op: ADD,
                container: Some("6232c2d3c6e61f5ade0dd75a827e954bb3a72b323431247a369ba16fd70ab649"),
                pod: Some("llm-proxy-65577dbdfb-hq9h8"),
                plugin: Some("flannel"),
                plugin_type: Some("flannel"),
                success: Some(false),
                error: Some("failed to load flannel 'subnet.env' file: open /run/flannel/subnet.env: no such file or directory. Check the flannel pod log for this node."),
                level: WARN,
                reason: SANDBOX,
                attrs: &[GRPC],
                ..Case::default()
            },
            // flannel.log 9: CRI-O wording.
            Case {
                line: r#"Warning  FailedCreatePodSandBox  1s    kubelet  (combined from similar events): Failed to create pod sandbox: rpc error: code = Unknown desc = failed to create pod network sandbox k8s_coredns-7c65d6cfc9-prlbd_kube-system_335070f1-cc11-4569-bf97-e2ba7d480ee2_0(a1e1f9e2930f82a9d88d50b6245a88310d610bd04229384a24b354d172c2030e): error adding pod kube-system_coredns-7c65d6cfc9-prlbd to CNI network "cbr0": plugin type="flannel" failed (add): loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory"#,
                format: EVENT,
                op: ADD,
                container: Some("a1e1f9e2930f82a9d88d50b6245a88310d610bd04229384a24b354d172c2030e"),
                pod: Some("coredns-7c65d6cfc9-prlbd"),
                ns: Some("kube-system"),
                uid: Some("335070f1-cc11-4569-bf97-e2ba7d480ee2"),
                plugin: Some("flannel"),
                plugin_type: Some("flannel"),
                network: Some("cbr0"),
                success: Some(false),
                error: Some("loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory"),
                level: WARN,
                reason: SANDBOX,
                attrs: &[GRPC, KUBELET],
                ..Case::default()
            },
            // k8s-events.log 1
            Case {
                line: r#"  Warning  FailedCreatePodSandBox  60s               kubelet            Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "d9f4c91394d548cca1b189e665fd0532f158bb5bb4407153aa48e1af40afe2f0": plugin type="calico" failed (add): error getting ClusterInformation: connection is unauthorized: Unauthorized"#,
                format: EVENT,
                op: ADD,
                container: Some("d9f4c91394d548cca1b189e665fd0532f158bb5bb4407153aa48e1af40afe2f0"),
                plugin: Some("calico"),
                plugin_type: Some("calico"),
                success: Some(false),
                error: Some("error getting ClusterInformation: connection is unauthorized: Unauthorized"),
                level: WARN,
                reason: SANDBOX,
                attrs: &[GRPC, KUBELET],
                ..Case::default()
            },
            // k8s-events.log 2: AWS wording through dockershim.
            Case {
                line: r#"  Warning  FailedCreatePodSandBox  22m                 kubelet                  Failed to create pod sandbox: rpc error: code = Unknown desc = failed to set up sandbox container "1fbd04a78009306752329adc6462562b85c473dc6b3358f39d234f898d6c1f79" network for pod "wesql-6lss5-replicasets-0": networkPlugin cni failed to set up pod "wesql-6lss5-replicasets-0_default" network: add cmd: failed to assign an IP address to container"#,
                format: EVENT,
                op: ADD,
                container: Some("1fbd04a78009306752329adc6462562b85c473dc6b3358f39d234f898d6c1f79"),
                pod: Some("wesql-6lss5-replicasets-0"),
                ns: Some("default"),
                plugin: Some("aws-vpc-cni"),
                confidence: Some(0.7),
                category: Some(Category::IpAllocation),
                success: Some(false),
                error: Some("add cmd: failed to assign an IP address to container"),
                level: WARN,
                reason: SANDBOX,
                attrs: &[GRPC, KUBELET],
                ..Case::default()
            },
            // k8s-events.log 3
            Case {
                line: r#"  Warning  FailedCreatePodSandBox  33s   kubelet            Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "adf18a2d394b3355e50ce339b2ec0c52e05a71e727f11a043e7e967ecf2ac9f6": failed to find plugin "flannel" in path [/opt/cni/bin]"#,
                format: EVENT,
                op: ADD,
                container: Some("adf18a2d394b3355e50ce339b2ec0c52e05a71e727f11a043e7e967ecf2ac9f6"),
                plugin: Some("flannel"),
                plugin_type: Some("flannel"),
                success: Some(false),
                error: Some(r#"failed to find plugin "flannel" in path [/opt/cni/bin]"#),
                level: WARN,
                reason: SANDBOX,
                attrs: &[GRPC, KUBELET, ("missing_plugins", "flannel")],
                ..Case::default()
            },
            // k8s-events.log 4: Multus AddedInterface, dual stack.
            Case {
                line: r#"  Normal   AddedInterface  5m6s                  multus             Add eth0 [fc00:f853:ccd:e793:f::89/64 172.18.40.182/16] from kube-system/macvlan-vlan0"#,
                format: EVENT,
                plugin: Some("multus"),
                category: Some(Category::InterfaceSetup),
                success: Some(true),
                level: Some(Severity::Info),
                if_name: Some("eth0"),
                ips: &["fc00:f853:ccd:e793:f::89/64", "172.18.40.182/16"],
                reason: Some("AddedInterface"),
                comm: Some("multus"),
                attrs: &[
                    ("component", "multus"),
                    ("network_attachment", "kube-system/macvlan-vlan0"),
                ],
                ..Case::default()
            },
            // k8s-events.log 5
            Case {
                line: r#"27m     Normal    SandboxChanged                 pod/llm-proxy-65577dbdfb-k8vmh           Pod sandbox changed, it will be killed and re-created."#,
                format: EVENT,
                pod: Some("llm-proxy-65577dbdfb-k8vmh"),
                level: Some(Severity::Info),
                reason: Some("SandboxChanged"),
                ..Case::default()
            },
            // k8s-events.log 6
            Case {
                line: r#"  Warning  FailedKillPod  11s (x8 over 67s)  kubelet  error killing pod: failed to "KillPodSandbox" for "18ba147d-9f0f-4255-816f-5d07998d6908" with KillPodSandboxError: "rpc error: code = Unknown desc = failed to destroy network for sandbox \"3bb433e9ee32e3402ad828c97ddfe322b9f2d88348cb004d01efd226aa0bfd5d\": plugin type=\"multus\" name=\"multus-cni-network\" failed (delete): delegateDel: error invoking ConflistDel - \"sriov-overlay\": conflistDel: error in getting result from DelNetworkList: failed to del rule table 500: no such file or directory ""#,
                format: EVENT,
                op: Some(Operation::Del),
                container: Some("3bb433e9ee32e3402ad828c97ddfe322b9f2d88348cb004d01efd226aa0bfd5d"),
                uid: Some("18ba147d-9f0f-4255-816f-5d07998d6908"),
                plugin: Some("multus"),
                plugin_type: Some("multus"),
                network: Some("multus-cni-network"),
                success: Some(false),
                error: Some(r#"delegateDel: error invoking ConflistDel - "sriov-overlay": conflistDel: error in getting result from DelNetworkList: failed to del rule table 500: no such file or directory"#),
                level: WARN,
                reason: Some("FailedKillPod"),
                count: Some(8.0),
                attrs: &[GRPC, KUBELET, ("delegate_network", "sriov-overlay")],
                ..Case::default()
            },
            // multus-reference.log 2: aggregated 35156 times.
            Case {
                line: r#"Warning  FailedCreatePodSandBox  2m52s (x35156 over 5d7h)  kubelet, 10.1.121.33  (combined from similar events): Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "9a1b3fd9596e428093232c054a1ac7fac47a57c87f5c46dd80dde72e5bbea132": failed to allocate for range 0: no IP addresses available in range set: 10.1.56.1-10.1.56.254"#,
                format: EVENT,
                op: ADD,
                container: Some("9a1b3fd9596e428093232c054a1ac7fac47a57c87f5c46dd80dde72e5bbea132"),
                plugin: Some("host-local"),
                confidence: Some(0.7),
                category: Some(Category::IpAllocation),
                success: Some(false),
                error: Some("failed to allocate for range 0: no IP addresses available in range set: 10.1.56.1-10.1.56.254"),
                level: WARN,
                reason: SANDBOX,
                node: Some("10.1.121.33"),
                count: Some(35156.0),
                attrs: &[GRPC, KUBELET, ("ip_range", "10.1.56.1-10.1.56.254")],
                ..Case::default()
            },
            // multus-reference.log 5: dockershim portmap failure.
            Case {
                line: r#"Warning  FailedCreatePodSandBox  108s                 kubelet, kube-node-public-0-kubelet  Failed create pod sandbox: rpc error: code = Unknown desc = failed to set up sandbox container "5a572019b130209679e245deafec67238e3be22ae67cee6b0f5a519db4ee1af3" network for pod "traefik-h74xh": NetworkPlugin cni failed to set up pod "traefik-h74xh_test-ingress" network: unable to create chain CNI-HOSTPORT-SETMARK: running [/usr/sbin/iptables -t nat -I POSTROUTING 1 -m comment --comment CNI portfwd requiring masquerade -j CNI-HOSTPORT-MASQ --wait]: exit status 4: iptables v1.8.1 (nf_tables):  RULE_INSERT failed (Invalid argument): rule in chain POSTROUTING"#,
                format: EVENT,
                op: ADD,
                container: Some("5a572019b130209679e245deafec67238e3be22ae67cee6b0f5a519db4ee1af3"),
                pod: Some("traefik-h74xh"),
                ns: Some("test-ingress"),
                plugin: Some("portmap"),
                confidence: Some(0.7),
                success: Some(false),
                error: Some("unable to create chain CNI-HOSTPORT-SETMARK: running [/usr/sbin/iptables -t nat -I POSTROUTING 1 -m comment --comment CNI portfwd requiring masquerade -j CNI-HOSTPORT-MASQ --wait]: exit status 4: iptables v1.8.1 (nf_tables):  RULE_INSERT failed (Invalid argument): rule in chain POSTROUTING"),
                level: WARN,
                reason: SANDBOX,
                node: Some("kube-node-public-0-kubelet"),
                attrs: &[GRPC, KUBELET],
                ..Case::default()
            },
            // multus-reference.log 9: AddedInterface without `from`.
            Case {
                line: r#"  Normal  AddedInterface  1s         multus             Add eth0 [10.233.76.149/32]"#,
                format: EVENT,
                plugin: Some("multus"),
                category: Some(Category::InterfaceSetup),
                success: Some(true),
                level: Some(Severity::Info),
                if_name: Some("eth0"),
                ips: &["10.233.76.149/32"],
                reason: Some("AddedInterface"),
                attrs: &[("component", "multus")],
                ..Case::default()
            },
            // multus-reference.log 10: Multus delegate error.
            Case {
                line: r#"  Warning  FailedCreatePodSandBox  9s         kubelet, localhost.localdomain  Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "6680c8253a85b20d0b5e21e95ae1ba7a0a2d85cd91ac621c40e2da5dd454f025": [default/samplepod:macvlan-conf]: error adding container to network "macvlan-conf": delegateAdd: cannot set "" interface name to "net1": validateIfName: interface name net1 already exists"#,
                format: EVENT,
                op: ADD,
                container: Some("6680c8253a85b20d0b5e21e95ae1ba7a0a2d85cd91ac621c40e2da5dd454f025"),
                pod: Some("samplepod"),
                ns: Some("default"),
                plugin: Some("multus"),
                confidence: Some(0.7),
                success: Some(false),
                error: Some(r#"[default/samplepod:macvlan-conf]: error adding container to network "macvlan-conf": delegateAdd: cannot set "" interface name to "net1": validateIfName: interface name net1 already exists"#),
                if_name: Some("net1"),
                level: WARN,
                reason: SANDBOX,
                node: Some("localhost.localdomain"),
                attrs: &[GRPC, KUBELET, ("delegate_network", "macvlan-conf")],
                ..Case::default()
            },
        ];
        for c in &cases {
            check(c);
            // The reporting component speaks the event.
            let f = crate::formats::parse_record(c.line, None).unwrap();
            assert_eq!(
                f.comm.as_ref(),
                f.attributes.get("component"),
                "comm of {}",
                c.line
            );
        }
    }

    #[test]
    fn multus_attachment_events() {
        let f = parse(&Envelope::strip(r#"  Normal   AddedInterface          12s                  multus             Add net1 [10.1.1.101/24] from default/macvlan-conf"#)).unwrap();
        assert_eq!(f.if_name.as_deref(), Some("net1"));
        assert_eq!(f.network_name, None);
        assert_eq!(
            f.attributes.get("network_attachment").map(String::as_str),
            Some("default/macvlan-conf")
        );
        assert_eq!(f.ips, ["10.1.1.101/24"]);
        assert_eq!(
            (f.operation, f.category, f.success),
            (None, Some(Category::InterfaceSetup), Some(true))
        );

        let f = parse(&Envelope::strip(r#"  Warning  NoNetworkFound          8s                   multus             cannot find a network-attachment-definition (macvlan-conf) in namespace (default): network-attachment-definitions.k8s.cni.cncf.io "macvlan-conf" not found"#)).unwrap();
        assert_eq!(f.plugin, Some("multus"));
        assert_eq!(f.comm.as_deref(), Some("multus"));
        assert_eq!(f.success, Some(false));
        assert_eq!(f.operation, None);
        assert_eq!(
            f.attributes.get("network_attachment").map(String::as_str),
            Some("default/macvlan-conf")
        );

        // A plugin-less event is spoken by its component.
        let f = parse(&Envelope::strip("  Normal   SandboxChanged          2m (x3 over 4m)      kubelet            Pod sandbox changed, it will be killed and re-created.")).unwrap();
        assert_eq!(f.comm.as_deref(), Some("kubelet"));
        assert_eq!(f.plugin, None);
    }

    #[test]
    fn rows_that_are_not_about_networking() {
        for line in [
            "  Warning  FailedMount  2m (x3 over 6m)  kubelet  MountVolume.SetUp failed for volume \"config\" : configmap \"x\" not found",
            "  Normal   Pulled       5m               kubelet  Container image \"nginx\" already present on machine",
            "  Warning  FailedCreatePodSandBox  1m  kubelet  Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox image \"registry.k8s.io/pause:3.9\": failed to pull image",
            "12m   Normal   Scheduled   pod/web-0   Successfully assigned default/web-0 to node-1",
        ] {
            assert_eq!(parse(&Envelope::strip(line)), None, "{line}");
        }
    }

    #[test]
    fn other_formats_are_not_claimed() {
        for line in [
            r#"level=warning msg="Unable to enter namespace \"\", will not delete interface" error="failed to Statfs \"\": no such file or directory" subsys=cilium-cni"#,
            r#"2019-08-06 10:48:04.633 [INFO][20999] k8s.go 73: Extracted identifiers for CmdAddK8s ContainerID="2dc5" Namespace="default" Pod="app""#,
            r#"{"level":"info","ts":"2024-02-21T19:23:32.543Z","caller":"routed-eni-cni-plugin/cni.go:125","msg":"Received CNI add request"}"#,
            "I0111 17:09:04.933346       1 route_network.go:56] Watching for new subnet leases",
            "INFO: 2017/06/21 09:21:28.154418 Discovered local MAC 7a:37:1e:dd:3a:4e",
            r#"E0703 17:44:38.499824  388250 remote_runtime.go:224] "RemovePodSandbox from runtime service failed" err="rpc error""#,
            "Warning: something happened in the Normal way",
        ] {
            assert_eq!(parse(&Envelope::strip(line)), None, "{line}");
        }
    }

    #[test]
    fn row_layouts() {
        // `kubectl get events -A`: a leading NAMESPACE column.
        let f = parse(&Envelope::strip(r#"kube-system   3m2s   Warning   NetworkNotReady   pod/coredns-5d78c9869d-7xk2p   network is not ready: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"#)).unwrap();
        assert_eq!(f.namespace.as_deref(), Some("kube-system"));
        assert_eq!(f.pod_name.as_deref(), Some("coredns-5d78c9869d-7xk2p"));
        assert_eq!(f.category, Some(Category::HealthCheck));
        assert_eq!(f.success, Some(false));
        assert_eq!(
            f.message.as_deref(),
            Some("network is not ready: container runtime network not ready")
        );
        assert_eq!(f.error.unwrap().msg, "cni plugin not initialized");
        // No From column.
        let f = parse(&Envelope::strip("  Warning  FailedCreatePodSandBox  4s  Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"0123456789abcdef\": cni plugin not initialized")).unwrap();
        assert_eq!(f.attributes.get("component"), None);
        assert_eq!(f.comm, None);
        assert_eq!(f.container_id.as_deref(), Some("0123456789abcdef"));
        assert_eq!(f.operation, Some(Operation::Add));
    }

    #[test]
    fn garbage_does_not_panic() {
        let line = r#"  Warning  FailedKillPod  11s (x8 over 67s)  kubelet  error killing pod: failed to "KillPodSandbox" for "18ba147d" with KillPodSandboxError: "rpc error: code = Unknown desc = failed to destroy network for sandbox \"3bb4\": plugin type=\"multus\" failed (delete): x ""#;
        for cut in 0..line.len() {
            if let Some(p) = line.get(..cut) {
                let _ = parse(&Envelope::strip(p));
            }
        }
        for s in [
            "Warning",
            "Normal  ",
            "  Normal  AddedInterface  1s  multus  Add",
            "  Normal  AddedInterface  1s  multus  Add eth0 [",
            "  Normal  AddedInterface  1s  multus  Add eth0 [] from ",
            "x  y  Warning  ",
            "  Warning  É  (xé over",
            "  Warning  FailedKillPod  1s (x",
        ] {
            let _ = parse(&Envelope::strip(s));
        }
    }
}
