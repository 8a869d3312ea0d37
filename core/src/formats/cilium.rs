//! Cilium: the cilium-cni plugin's logrus (`level=warning msg=... subsys=cilium-cni`), slog
//! (`time=... level=INFO ...`, Cilium ≥ 1.17) and JSON lines, and the cilium-agent's endpoint
//! lines (`Create endpoint request`, `New endpoint`, `Removed endpoint`, identity resolution).
//!
//! The agent writes many subsystems' lines in the same logfmt; only `subsys=cilium-cni` or keys
//! that exist only in Cilium's endpoint logging claim a line, so that `subsys=daemon` start-up
//! chatter and containerd lines that merely mention Cilium are left to the generic readers.

use std::borrow::Cow;

use crate::envelope::Envelope;
use crate::event::{Category, Format, Operation, Severity};
use crate::facts::Facts;
use crate::text::{
    go_string_field, ips_in, json_members, looks_like_ip, pod_slash, quoted_after, ByteSearch,
    JsonValue, Logfmt, PhraseSearch, TrimFast, Words,
};
use crate::time::parse_iso;

/// Does a logfmt `body` state its level (`level=`: every logfmt line Cilium writes does) and
/// hold a key only Cilium's endpoint logging writes (with the separating space: ` endpointID=`,
/// ` k8sPodName=`, ` ciliumEndpointName=`, ` datapathPolicyRevision=`, ` identityLabels=`), or
/// ` subsys=cilium-cni`? Each of these holds one `=`, so they are looked for around each `=` of
/// the line, told apart by the byte before it: one pass answers both questions (a substring
/// search per word made six passes, then a pass per question made two), and `=` is a rarer byte
/// than any other of the words.
fn claims_logfmt(body: &str) -> bool {
    let b = body.as_bytes();
    let (mut level, mut claim) = (false, false);
    memchr::memchr_iter(b'=', b).any(|at| {
        let key = &b[..at];
        let ends = |k: &str| key.ends_with(k.as_bytes());
        match key.last() {
            Some(b'l') => level = level || ends("level"),
            Some(b'D') => claim = claim || ends(" endpointID"),
            Some(b'e') => claim = claim || ends(" k8sPodName") || ends(" ciliumEndpointName"),
            Some(b'n') => claim = claim || ends(" datapathPolicyRevision"),
            Some(b's') => {
                claim = claim
                    || ends(" identityLabels")
                    || (ends(" subsys") && b[at + 1..].starts_with(b"cilium-cni"));
            }
            _ => {}
        }
        level && claim
    })
}

/// The same keys in the JSON log format (`log-format: json`).
static CLAIM_KEYS_JSON: Words = Words::new(&[
    "\"subsys\":\"cilium-cni\"",
    "\"endpointID\":",
    "\"k8sPodName\":",
    "\"ciliumEndpointName\":",
    "\"identityLabels\":",
]);

/// Endpoint ids that name the pod's container: `container-id:<id>` (legacy) and
/// `cni-attachment-id:<id>:<ifname>` (one CNI ADD/DEL pair).
const CONTAINER_ID_PREFIXES: [&str; 2] = ["container-id:", "cni-attachment-id:"];

pub(crate) fn parse(env: &Envelope<'_>) -> Option<Facts> {
    let body = env.body.as_ref();
    let fields = Fields::read(body)?;
    let mut f = Facts::new(Format::Cilium);
    f.plugin = Some("cilium");
    read_fields(&fields, &mut f);
    let msg = fields.get_nonempty(Key::Msg).unwrap_or("");
    read_message(msg, &mut f);
    Some(f)
}

/// A record's key/value pairs, from logfmt or JSON.
struct Fields<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// For each [`Key`], the index of its first non-empty pair: `read_fields` asks for two
    /// dozen keys, and one pass over a line's pairs costs less than a scan per key.
    nonempty: [Option<usize>; Key::COUNT],
}

/// The keys whose first non-empty value `parse` and `read_fields` read.
#[derive(Clone, Copy)]
enum Key {
    Time,
    Msg,
    Subsys,
    ContainerID,
    EndpointID,
    EventUUID,
    EventID,
    Ipv4,
    Ipv6,
    IpAddr,
    Addressing,
    Pool,
    K8sPodName,
    K8sNamespace,
    Args,
    K8sUID,
    Netns,
    NetNSName,
    IfName,
    ContainerInterface,
    Interface,
    IdentityLabels,
    CiliumEndpointName,
    Identity,
}

impl Key {
    const COUNT: usize = Key::Identity as usize + 1;

    fn of(name: &str) -> Option<Key> {
        Some(match name {
            "time" => Key::Time,
            "msg" => Key::Msg,
            "subsys" => Key::Subsys,
            "containerID" => Key::ContainerID,
            "endpointID" => Key::EndpointID,
            "eventUUID" => Key::EventUUID,
            "eventID" => Key::EventID,
            "ipv4" => Key::Ipv4,
            "ipv6" => Key::Ipv6,
            "ipAddr" => Key::IpAddr,
            "addressing" => Key::Addressing,
            "pool" => Key::Pool,
            "k8sPodName" => Key::K8sPodName,
            "k8sNamespace" => Key::K8sNamespace,
            "args" => Key::Args,
            "k8sUID" => Key::K8sUID,
            "netns" => Key::Netns,
            "netNSName" => Key::NetNSName,
            "ifName" => Key::IfName,
            "containerInterface" => Key::ContainerInterface,
            "interface" => Key::Interface,
            "identityLabels" => Key::IdentityLabels,
            "ciliumEndpointName" => Key::CiliumEndpointName,
            "identity" => Key::Identity,
            _ => return None,
        })
    }
}

impl<'a> Fields<'a> {
    /// The pairs of `body` when it is a Cilium record, else `None` (cheaply, before parsing).
    fn read(body: &'a str) -> Option<Fields<'a>> {
        let trimmed = body.trim_start();
        if trimmed.starts_with('{') {
            if !CLAIM_KEYS_JSON.any_in(trimmed) {
                return None;
            }
            let members = json_members(trimmed)?;
            let pairs = members
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        JsonValue::Str(s) => s,
                        JsonValue::Raw(r) => Cow::Borrowed(r),
                    };
                    (k, v)
                })
                .collect();
            return Some(Fields::indexed(pairs));
        }
        if !claims_logfmt(body) {
            return None;
        }
        let pairs = Logfmt::parse(body)
            .pairs
            .into_iter()
            .map(|(k, v)| (Cow::Borrowed(k), v))
            .collect();
        Some(Fields::indexed(pairs))
    }

    fn indexed(pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>) -> Fields<'a> {
        let mut nonempty = [None; Key::COUNT];
        for (i, (k, v)) in pairs.iter().enumerate() {
            if let Some(key) = Key::of(k) {
                let slot = &mut nonempty[key as usize];
                if slot.is_none() && !v.trim_fast().is_empty() {
                    *slot = Some(i);
                }
            }
        }
        Fields { pairs, nonempty }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// The first non-empty value of `key`.
    fn get_nonempty(&self, key: Key) -> Option<&str> {
        self.nonempty[key as usize].map(|i| self.pairs[i].1.as_ref())
    }

    /// Every value of `key`, in order: a corrupt line may state a key twice.
    fn all<'s, 'k>(&'s self, key: &'k str) -> impl Iterator<Item = &'s str> + use<'s, 'k, 'a> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }
}

fn read_fields(fields: &Fields<'_>, f: &mut Facts) {
    f.level = fields.get("level").and_then(Severity::from_level);
    f.time = fields
        .get_nonempty(Key::Time)
        .and_then(|t| parse_iso(t.trim_fast()))
        .map(|(t, _)| t);
    if let Some(msg) = fields.get_nonempty(Key::Msg) {
        f.message = Some(msg.trim_fast().to_owned());
    }
    let subsys = fields.get_nonempty(Key::Subsys);
    if let Some(s) = subsys {
        f.attr("subsys", s);
    }
    let from_plugin = subsys == Some("cilium-cni");
    if from_plugin {
        f.plugin_type = Some("cilium-cni".to_owned());
    }

    if let Some(id) = fields.get_nonempty(Key::ContainerID) {
        Facts::set(&mut f.container_id, id);
    }
    if let Some(ep) = fields.get_nonempty(Key::EndpointID) {
        let ep = ep.trim_fast();
        if let Some(rest) = CONTAINER_ID_PREFIXES
            .iter()
            .find_map(|p| ep.strip_prefix(p))
        {
            let (id, if_name) = rest.split_once_byte(b':').unwrap_or((rest, ""));
            Facts::set(&mut f.container_id, id);
            Facts::set(&mut f.if_name, if_name);
            f.attr("endpoint_id", ep);
        } else if ep != "0" {
            // 0 is the agent's "no endpoint id yet".
            f.attr("endpoint_id", ep);
        }
    }
    for key in [Key::EventUUID, Key::EventID] {
        if let Some(v) = fields.get_nonempty(key) {
            f.attr("event_uuid", v);
        }
    }
    for key in ["error", "err"] {
        // `WithError(nil)` writes `error="<nil>"` on success paths.
        let stated = || {
            fields
                .all(key)
                .map(str::trim)
                .filter(|e| !e.is_empty() && *e != "<nil>")
        };
        // Two records spliced into one line leave a value with the other's tail in it; a clean
        // statement of the same key wins.
        let clean = stated().find(|e| without_debris(e) == *e);
        if let Some(e) = clean.or_else(|| stated().next().map(without_debris)) {
            f.set_error(e);
        }
    }

    for key in [Key::Ipv4, Key::Ipv6, Key::IpAddr] {
        if let Some(ip) = fields.get_nonempty(key) {
            if looks_like_ip(ip.trim_fast()) {
                f.add_ip(ip);
            }
        }
    }
    if let Some(addressing) = fields.get_nonempty(Key::Addressing) {
        // `&{10.10.0.241 <uuid> f00d::a0a:0:0:7aa5 <uuid>}`: a Go `%v` of AddressPair, whose
        // fields are positional; only the addresses are wanted.
        for ip in ips_in(addressing) {
            f.add_ip(ip);
        }
        if let Some(pool) = address_pair_pool(addressing) {
            f.attr("ipam_pool", pool);
        }
    }
    if let Some(pool) = fields.get_nonempty(Key::Pool) {
        f.attr("ipam_pool", pool);
    }

    // The agent writes `k8sPodName=ns/pod` (old: `ns:pod`; `/` or `:` alone when unknown); the
    // plugin writes `k8sNamespace=` and `k8sPodName=` separately.
    if let Some(p) = fields.get_nonempty(Key::K8sPodName) {
        match pod_slash(p) {
            Some((ns, name)) => {
                Facts::set(&mut f.namespace, ns);
                Facts::set(&mut f.pod_name, name);
            }
            None if p.find_any_byte(b"/:").is_none() => Facts::set(&mut f.pod_name, p),
            None => {}
        }
    }
    if let Some(ns) = fields.get_nonempty(Key::K8sNamespace) {
        Facts::set(&mut f.namespace, ns);
    }
    if let Some(args) = fields.get_nonempty(Key::Args) {
        f.read_cni_args(args);
    }
    if let Some(uid) = fields.get_nonempty(Key::K8sUID) {
        Facts::set(&mut f.pod_uid, uid);
    }

    for key in [Key::Netns, Key::NetNSName] {
        if let Some(ns) = fields.get_nonempty(key) {
            Facts::set(&mut f.netns, ns);
        }
    }
    if let Some(name) = fields.get_nonempty(Key::IfName) {
        Facts::set(&mut f.if_name, name);
    }
    if let Some(name) = fields.get_nonempty(Key::ContainerInterface) {
        Facts::set(&mut f.if_name, name);
    }
    if let Some(name) = fields.get_nonempty(Key::Interface) {
        // The agent names the host side of the veth (`lxc...`); the plugin names the interface
        // it was asked to create in the pod (`CNI_IFNAME`).
        if name.starts_with("lxc") || !from_plugin {
            Facts::set(&mut f.host_interface, name);
        } else {
            Facts::set(&mut f.if_name, name);
        }
    }

    if let Some(labels) = fields.get_nonempty(Key::IdentityLabels) {
        f.attr("identity_labels", labels);
        // The pod's namespace is one of its identity's labels.
        if let Some(ns) = labels.split_byte(b',').find_map(|l| {
            l.trim_fast()
                .strip_prefix("k8s:io.kubernetes.pod.namespace=")
        }) {
            Facts::set(&mut f.namespace, ns);
        }
    }
    if let Some(name) = fields.get_nonempty(Key::CiliumEndpointName) {
        if pod_slash(name).is_some() {
            f.attr("cilium_endpoint_name", name);
        }
    }
    if let Some(id) = fields.get_nonempty(Key::Identity) {
        f.attr("identity", id);
    }
}

/// What the message says happened.
fn read_message(msg: &str, f: &mut Facts) {
    let m = msg.trim_fast();
    let starts = |p: &str| m.starts_with(p);
    if let Some(dump) = m.strip_prefix("CNI Args:") {
        read_args_dump(dump, f);
    } else if starts("Unable to create endpoint") || starts("Chained ADD failed") {
        f.operation = Some(Operation::Add);
        f.success = Some(false);
    } else if let Some(rest) = m.strip_prefix("Processing CNI ") {
        f.operation = rest
            .split_whitespace()
            .next()
            .and_then(Operation::from_word);
    } else if starts("Endpoint successfully created") {
        f.operation = Some(Operation::Add);
        f.success = Some(true);
    } else if starts("Queueing deletion request for endpoint")
        || starts("Wrote queued deletion file")
        || starts("Agent is not aware of endpoint")
        || starts("Errors encountered while deleting endpoint")
        || starts("Deletion of endpoint failed")
    {
        f.operation = Some(Operation::Del);
    } else if m.contains_str("will not delete interface") {
        // `Unable to enter namespace "<netns>", will not delete interface` (old) and
        // `Unable to delete interface <if> in namespace "<netns>", ...` (new): DEL goes on.
        f.operation = Some(Operation::Del);
        f.category = Some(Category::InterfaceTeardown);
        if let Some(ns) = quoted_after(m, "namespace ") {
            Facts::set(&mut f.netns, ns);
        }
        if let Some((if_name, _)) = m
            .strip_prefix("Unable to delete interface ")
            .and_then(|r| r.split_once_str(" in namespace "))
        {
            Facts::set(&mut f.if_name, if_name);
        }
    } else if starts("Create endpoint request") {
        // The plugin's PUT /endpoint reaching the agent: the addresses were allocated before
        // (and reported by IPAM), so this is a step of the ADD, not an allocation.
        f.operation = Some(Operation::Add);
    } else if starts("New endpoint") {
        // The agent created the endpoint object for the pod's interface.
        f.category = Some(Category::InterfaceSetup);
    } else if let Some(plugin) = m.strip_prefix("Using chained plugin ") {
        f.attr("chained_plugin", plugin);
    } else if starts("Removed endpoint") {
        f.category = Some(if f.ips.is_empty() {
            Category::InterfaceTeardown
        } else {
            Category::IpDeallocation
        });
    } else if starts("Creation of endpoint failed") {
        // The agent refused the plugin's PUT /endpoint: the ADD fails. An address named only
        // inside the error (`IP ipv4:10.17.239.232 is already in use`) is the one the request
        // asked for and another endpoint holds, not the pod's.
        f.operation = Some(Operation::Add);
        f.success = Some(false);
        let requested = f
            .error
            .as_ref()
            .and_then(|e| ips_in(&e.msg).next().map(str::to_owned));
        if let Some(ip) = requested {
            f.attr("requested_ip", &ip);
            f.category = Some(Category::IpAllocation);
        } else if !f.ips.is_empty() {
            f.category = Some(Category::IpAllocation);
        }
    } else if starts("Unable to release IP") {
        f.category = Some(Category::IpDeallocation);
        f.success = Some(false);
    } else if starts("Releasing IP") {
        f.category = Some(Category::IpDeallocation);
    } else if starts("Asking agent for healthz") {
        f.operation = Some(Operation::Check);
    } else if starts("Container ") && m.ends_with("has a healthy agent endpoint") {
        f.operation = Some(Operation::Check);
        f.success = Some(true);
    }
}

/// A trailing `"xxxx` fragment (an unbalanced quote and one word) cut off from `v`: what a
/// line spliced from two records leaves inside a value
/// (`getEndpointIdNotFound "521d` → `getEndpointIdNotFound`).
fn without_debris(v: &str) -> &str {
    let unbalanced = memchr::memchr_iter(b'"', v.as_bytes()).count() % 2 == 1;
    match v.rsplit_once_byte(b'"') {
        Some((head, tail))
            if unbalanced && head.ends_with(' ') && !tail.contains(char::is_whitespace) =>
        {
            head.trim_end()
        }
        _ => v,
    }
}

/// The IPAM pool named in a Go `%v` of `AddressPair` with pool names (Cilium ≥ 1.14:
/// `&{IPV4 IPV4ExpirationUUID IPV4PoolName IPV6 IPV6ExpirationUUID IPV6PoolName}`, empty
/// fields leaving double spaces). The older four-field form names no pool.
fn address_pair_pool(addressing: &str) -> Option<&str> {
    let inner = addressing
        .trim_fast()
        .strip_prefix("&{")?
        .strip_suffix('}')?;
    let fields: Vec<&str> = inner.split_byte(b' ').collect();
    let [_, _, pool4, _, _, pool6] = fields[..] else {
        return None;
    };
    [pool4, pool6]
        .into_iter()
        .find(|p| !p.is_empty() && !looks_like_ip(p))
}

/// `types.ArgsSpec{CommonArgs:..., K8S_POD_NAME:"coredns-...", K8S_POD_NAMESPACE:"kube-system",
/// K8S_POD_INFRA_CONTAINER_ID:"..."}`: the plugin's Go `%#v` dump of its parsed `CNI_ARGS`.
fn read_args_dump(dump: &str, f: &mut Facts) {
    for key in [
        "K8S_POD_NAME",
        "K8S_POD_NAMESPACE",
        "K8S_POD_INFRA_CONTAINER_ID",
        "K8S_POD_UID",
    ] {
        if let Some(v) = go_string_field(dump, key) {
            if !v.is_empty() {
                f.args.entry(key.to_owned()).or_insert_with(|| v.to_owned());
            }
        }
    }
    f.identity_from_args();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::parse_record;

    fn parsed(line: &str) -> Facts {
        parse_record(line, None).unwrap_or_else(|| panic!("not parsed: {line}"))
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn corpus_line_1_add_timeout_in_kubelet_journal() {
        let f = parsed(
            r#"Aug 02 23:49:54 k8s2 kubelet[3408]: level=warning msg="Unable to create endpoint" containerID=68d4fc9c6eb689c15ac2f06dc1c1828dfea222dc0e26fce772cf477943c09ec8 endpointID=5436 error="context deadline exceeded" eventUUID=af3c7bb1-96ae-11e8-897e-0800275579e8 subsys=cilium-cni"#,
        );
        assert_eq!(f.format, Some(Format::Cilium));
        assert_eq!(f.plugin, Some("cilium"));
        assert_eq!(f.plugin_type, s("cilium-cni"));
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.success, Some(false));
        assert_eq!(f.level, Some(Severity::Warning));
        assert_eq!(
            f.container_id,
            s("68d4fc9c6eb689c15ac2f06dc1c1828dfea222dc0e26fce772cf477943c09ec8")
        );
        assert_eq!(f.error.as_ref().unwrap().msg, "context deadline exceeded");
        assert_eq!(f.message, s("Unable to create endpoint"));
        assert_eq!(f.attributes["endpoint_id"], "5436");
        assert_eq!(
            f.attributes["event_uuid"],
            "af3c7bb1-96ae-11e8-897e-0800275579e8"
        );
        assert_eq!(f.attributes["subsys"], "cilium-cni");
        assert_eq!(f.hostname, s("k8s2"));
        assert_eq!(f.comm, s("kubelet"));
        assert_eq!(f.pid, Some(3408));
        assert_eq!(f.category, None);
    }

    #[test]
    fn corpus_line_2_bare_logrus_api_timeout() {
        let f = parsed(
            r#"level=warning msg="Unable to create endpoint" containerID=4fd2175605c4bd7b03251f167310ea54a47c54c1895515b44eaad874d5a05e51 error="Cilium API client timeout exceeded" eventUUID=643d9fd9-37f3-4c63-a4c1-0ab2ebd4e53c subsys=cilium-cni"#,
        );
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.success, Some(false));
        assert_eq!(
            f.error.as_ref().unwrap().msg,
            "Cilium API client timeout exceeded"
        );
        assert_eq!(
            f.container_id,
            s("4fd2175605c4bd7b03251f167310ea54a47c54c1895515b44eaad874d5a05e51")
        );
        assert!(!f.attributes.contains_key("endpoint_id"));
        assert_eq!(f.time, None);
    }

    #[test]
    fn corpus_line_3_del_with_empty_netns() {
        let f = parsed(
            r#"level=warning msg="Unable to enter namespace \"\", will not delete interface" error="failed to Statfs \"\": no such file or directory" subsys=cilium-cni"#,
        );
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.category, Some(Category::InterfaceTeardown));
        assert_eq!(f.success, None);
        assert_eq!(f.netns, None);
        assert_eq!(f.container_id, None);
        assert_eq!(
            f.message,
            s(r#"Unable to enter namespace "", will not delete interface"#)
        );
        assert_eq!(
            f.error.as_ref().unwrap().msg,
            r#"failed to Statfs "": no such file or directory"#
        );
        assert_eq!(f.level, Some(Severity::Warning));
    }

    #[test]
    fn corpus_line_4_queued_deletion_with_container_endpoint_id() {
        let id = "8a3a3c59b566d3d968238b5a8905879f4ecbaae0c2786da689036a3ca171a028";
        let f = parsed(
            r#"level=info msg="Queueing deletion request for endpoint" containerID=8a3a3c59b566d3d968238b5a8905879f4ecbaae0c2786da689036a3ca171a028 endpointID="container-id:8a3a3c59b566d3d968238b5a8905879f4ecbaae0c2786da689036a3ca171a028" eventUUID=a0d5f74c-130d-48e5-b656-fc380fc5a308 subsys=cilium-cni"#,
        );
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.success, None);
        assert_eq!(f.container_id.as_deref(), Some(id));
        assert_eq!(f.attributes["endpoint_id"], format!("container-id:{id}"));
        assert_eq!(f.level, Some(Severity::Info));
    }

    #[test]
    fn corpus_line_5_cni_args_dump() {
        let f = parsed(
            r#"Feb 07 09:06:45 k8s1 kubelet[9948]: level=debug msg="CNI Args: types.ArgsSpec{CommonArgs:types.CommonArgs{IgnoreUnknown:true}, IP:net.IP(nil), K8S_POD_NAME:\"coredns-69b675786c-6thtp\", K8S_POD_NAMESPACE:\"kube-system\", K8S_POD_INFRA_CONTAINER_ID:\"158db04820a84e974ac617ffe223971f84c87c17f51bfb87e0465e4bcecd4d73\"}" eventUUID=9303666c-5478-4c5d-8900-61a143ba514f subsys=cilium-cni"#,
        );
        assert_eq!(f.pod_name, s("coredns-69b675786c-6thtp"));
        assert_eq!(f.namespace, s("kube-system"));
        assert_eq!(
            f.container_id,
            s("158db04820a84e974ac617ffe223971f84c87c17f51bfb87e0465e4bcecd4d73")
        );
        assert_eq!(f.args["K8S_POD_NAME"], "coredns-69b675786c-6thtp");
        assert_eq!(f.args.len(), 3);
        assert_eq!(f.operation, None);
        assert_eq!(f.category, None);
        assert_eq!(f.level, Some(Severity::Debug));
        assert_eq!(f.plugin_type, s("cilium-cni"));
    }

    #[test]
    fn corpus_line_6_corrupted_line_keeps_container_id() {
        let f = parsed(
            r#"Jul 24 10:07:19 k8s-02 kubelet[1872]: level=debug msg="Agent is not aware of endpoint" endpointID="container-id:3c6243d84cf15016feaddf658ecb0c27d5027cf3a43cf0480d325309d165521d" error="[GET /endpoint/{id}][404] getEndpointIdNotFound "521d" error="[GET /endpoint/{id}][404] getEndpointIdNotFound "#,
        );
        assert_eq!(f.format, Some(Format::Cilium));
        assert_eq!(
            f.container_id,
            s("3c6243d84cf15016feaddf658ecb0c27d5027cf3a43cf0480d325309d165521d")
        );
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.success, None);
        // The first `error=` carries `"521d`, debris of the spliced record; the second is clean.
        assert_eq!(
            f.error.as_ref().unwrap().msg,
            "[GET /endpoint/{id}][404] getEndpointIdNotFound"
        );
        assert_eq!(f.plugin_type, None);
    }

    #[test]
    fn corpus_line_7_slog_queued_deletion() {
        let f = parsed(
            r#"time=2025-07-28T23:20:16.864Z level=INFO msg="Wrote queued deletion file" subsys=cilium-cni eventID=398325a3-7db7-488c-9194-4c4fdfbabb25 containerID=9677d37a7fdce6bab07a8c9d1db920b75b85f20d3d9233cb7004512126658000 netNSName=/var/run/netns/cni-e4a0cdda-2833-3fd3-0f82-04f5500c36c1 interface=eth0 args="K8S_POD_INFRA_CONTAINER_ID=9677d37a7fdce6bab07a8c9d1db920b75b85f20d3d9233cb7004512126658000;K8S_POD_UID=24bd6a70-0289-4b1a-a653-d44dc991942f;IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=netshoot" file-path=/opt/cni/bin k8sNamespace=default k8sPodName=netshoot file-path=/var/run/cilium/deleteQueue/f078c648eb722794235ee51ebf8cbb956e18b5a5c07781d74951dc81fa1ab623.delete"#,
        );
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.level, Some(Severity::Info));
        assert!(f.time.is_some());
        assert_eq!(
            f.container_id,
            s("9677d37a7fdce6bab07a8c9d1db920b75b85f20d3d9233cb7004512126658000")
        );
        assert_eq!(f.pod_name, s("netshoot"));
        assert_eq!(f.namespace, s("default"));
        assert_eq!(f.pod_uid, s("24bd6a70-0289-4b1a-a653-d44dc991942f"));
        assert_eq!(
            f.netns,
            s("/var/run/netns/cni-e4a0cdda-2833-3fd3-0f82-04f5500c36c1")
        );
        assert_eq!(f.if_name, s("eth0"));
        assert_eq!(f.host_interface, None);
        // Only K8S_* keys of CNI_ARGS leave the collector.
        assert_eq!(f.args.len(), 4);
        assert!(!f.args.contains_key("IgnoreUnknown"));
        assert_eq!(
            f.attributes["event_uuid"],
            "398325a3-7db7-488c-9194-4c4fdfbabb25"
        );
        assert_eq!(f.plugin_type, s("cilium-cni"));
    }

    #[test]
    fn corpus_line_8_agent_create_endpoint_request() {
        let f = parsed(
            r#"2021-01-14T22:52:58.775198409Z level=info msg="Create endpoint request" addressing="&{10.10.0.241 3f663f58-56bb-11eb-831e-080027f8b936 f00d::a0a:0:0:7aa5 3f663f7c-56bb-11eb-831e-080027f8b936}" containerID=35442af221fe85c58f86386a0cdc6fdbc880d823929ce34f01e5b7cc13d45e4f datapathConfiguration="<nil>" interface=lxc2548bd6207ea k8sPodName=default/app1-68cb4f68c5-5fjhg labels="[]" subsys=daemon sync-build=true"#,
        );
        assert_eq!(f.ips, vec!["10.10.0.241", "f00d::a0a:0:0:7aa5"]);
        assert_eq!(f.host_interface, s("lxc2548bd6207ea"));
        assert_eq!(f.if_name, None);
        assert_eq!(f.namespace, s("default"));
        assert_eq!(f.pod_name, s("app1-68cb4f68c5-5fjhg"));
        // A step of the ADD, not a second allocation of the addresses.
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.category, None);
        assert_eq!(f.success, None);
        assert_eq!(f.plugin_type, None);
        assert_eq!(f.plugin, Some("cilium"));
        assert_eq!(f.attributes["subsys"], "daemon");
        // The four-field AddressPair of Cilium < 1.14 names no pool.
        assert!(!f.attributes.contains_key("ipam_pool"));
        assert!(f.time.is_some());
    }

    #[test]
    fn corpus_line_9_agent_new_endpoint_truncated_id() {
        let f = parsed(
            r#"2021-01-14T22:52:58.775511839Z level=info msg="New endpoint" containerID=35442af221 datapathPolicyRevision=0 desiredPolicyRevision=0 endpointID=1192 ipv4=10.10.0.241 ipv6="f00d::a0a:0:0:7aa5" k8sPodName=default/app1-68cb4f68c5-5fjhg"#,
        );
        assert_eq!(f.container_id, s("35442af221"));
        assert_eq!(f.attributes["endpoint_id"], "1192");
        assert_eq!(f.ips, vec!["10.10.0.241", "f00d::a0a:0:0:7aa5"]);
        assert_eq!(f.pod_name, s("app1-68cb4f68c5-5fjhg"));
        assert_eq!(f.category, Some(Category::InterfaceSetup));
        assert_eq!(f.operation, None);
        assert_eq!(f.success, None);
    }

    #[test]
    fn corpus_line_10_invalid_data_ip_in_error() {
        let f = parsed(
            r#"time="2025-03-19T10:24:07Z" level=warning msg="Creation of endpoint failed due to invalid data" ciliumEndpointName=/ containerID= containerInterface= datapathPolicyRevision=0 desiredPolicyRevision=0 endpointID=0 error="IP ipv4:10.17.239.232 is already in use" ipv4= ipv6= k8sPodName=/ subsys=daemon"#,
        );
        assert_eq!(f.container_id, None);
        assert_eq!(f.pod_name, None);
        assert_eq!(f.namespace, None);
        assert_eq!(f.if_name, None);
        assert!(!f.attributes.contains_key("endpoint_id"));
        assert!(!f.attributes.contains_key("cilium_endpoint_name"));
        // The address in use by another endpoint is not the pod's.
        assert!(f.ips.is_empty());
        assert_eq!(f.attributes["requested_ip"], "10.17.239.232");
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.success, Some(false));
        assert_eq!(f.category, Some(Category::IpAllocation));
        assert_eq!(
            f.error.as_ref().unwrap().msg,
            "IP ipv4:10.17.239.232 is already in use"
        );
        assert!(f.time.is_some());
    }

    #[test]
    fn corpus_line_11_identity_resolution() {
        let f = parsed(
            r#"level=info msg="Resolving identity labels (blocking)" containerID= datapathPolicyRevision=0 desiredPolicyRevision=0 endpointID=1128 identityLabels="k8s:io.cilium.k8s.policy.cluster=default,k8s:io.cilium.k8s.policy.serviceaccount=default,k8s:io.kubernetes.pod.namespace=cilium-test,k8s:name=pod-to-external-1111" ipv4= ipv6= k8sPodName=/ subsys=endpoint"#,
        );
        assert_eq!(f.category, None);
        assert_eq!(f.operation, None);
        assert_eq!(f.container_id, None);
        assert!(f.ips.is_empty());
        assert_eq!(f.namespace, s("cilium-test"));
        assert_eq!(f.pod_name, None);
        assert_eq!(f.attributes["endpoint_id"], "1128");
        assert!(f.attributes["identity_labels"].ends_with("k8s:name=pod-to-external-1111"));
        assert_eq!(f.attributes["subsys"], "endpoint");
    }

    #[test]
    fn corpus_line_12_removed_endpoint_behind_grep_prefix() {
        let f = parsed(
            r#"pod-kube-system-cilium-4l58p-cilium-agent.log:2018-10-01T18:31:41.025765667Z level=info msg="Removed endpoint" containerID=3a4ef89bb9 datapathPolicyRevision=0 desiredPolicyRevision=0 endpointID=55776 ipv4=10.10.1.192 ipv6="f00d::a0a:100:0:d9e0" k8sPodName=/ subsys=endpoint"#,
        );
        assert_eq!(f.category, Some(Category::IpDeallocation));
        assert_eq!(f.container_id, s("3a4ef89bb9"));
        assert_eq!(f.ips, vec!["10.10.1.192", "f00d::a0a:100:0:d9e0"]);
        assert_eq!(f.pod_name, None);
        assert_eq!(f.attributes["endpoint_id"], "55776");
    }

    #[test]
    fn corpus_line_13_old_agent_colon_pod() {
        let f = parsed(
            r#"2018-06-21T02:11:27.205061698Z level=debug msg="Set identity for this endpoint" code=OK containerID=f99e19a90f endpointID=19056 endpointState=ready ipv4=10.10.1.82 ipv6="f00d::a0a:100:0:4a70" k8sPodName=":" policyRevision=0 type=0"#,
        );
        assert_eq!(f.format, Some(Format::Cilium));
        assert_eq!(f.pod_name, None);
        assert_eq!(f.namespace, None);
        assert_eq!(f.category, None);
        assert_eq!(f.error, None);
        assert_eq!(f.container_id, s("f99e19a90f"));
        assert_eq!(f.ips, vec!["10.10.1.82", "f00d::a0a:100:0:4a70"]);
        assert_eq!(f.level, Some(Severity::Debug));
    }

    #[test]
    fn old_colon_pod_name_and_json_format() {
        let f = parsed(
            r#"level=info msg="New endpoint" endpointID=7 k8sPodName="kube-system:coredns-1""#,
        );
        assert_eq!(f.namespace, s("kube-system"));
        assert_eq!(f.pod_name, s("coredns-1"));
        assert_eq!(f.category, Some(Category::InterfaceSetup));

        let f = parsed(
            r#"{"containerID":"4fd2175605c4","error":"Cilium API client timeout exceeded","level":"warning","msg":"Unable to create endpoint","subsys":"cilium-cni","time":"2023-05-02T10:00:00Z"}"#,
        );
        assert_eq!(f.format, Some(Format::Cilium));
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.success, Some(false));
        assert_eq!(f.container_id, s("4fd2175605c4"));
        assert!(f.time.is_some());
    }

    #[test]
    fn new_delete_interface_warning_names_the_netns() {
        let f = parsed(
            r#"level=warning msg="Unable to delete interface eth0 in namespace \"/var/run/netns/cni-1\", will not delete interface" error="Link not found" subsys=cilium-cni"#,
        );
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.netns, s("/var/run/netns/cni-1"));
        assert_eq!(f.if_name, s("eth0"));
    }

    #[test]
    fn extra_lines_chaining_pool_and_endpoint_lifecycle() {
        let fixture = include_str!("../../../fixtures/logs/extra/cilium.log");
        let line = |n: usize| parsed(fixture.lines().nth(n - 1).unwrap());

        let f = line(3);
        assert_eq!(f.attributes["chained_plugin"], "aws-cni");
        assert_eq!(f.category, None);
        assert_eq!(f.operation, None);

        let f = line(7);
        assert_eq!(f.category, Some(Category::IpDeallocation));
        assert_eq!(f.success, Some(false));
        assert_eq!(f.ips, vec!["10.0.1.23"]);
        assert_eq!(f.attributes["ipam_pool"], "default");

        let f = line(9);
        assert_eq!(f.if_name, s("eth0"));
        assert_eq!(
            f.netns,
            s("/var/run/netns/cni-3d5f7a9c-1b2d-4e6f-8a0c-2e4f6a8c0e1a")
        );

        let f = line(12);
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.category, None);
        assert_eq!(f.ips, vec!["10.0.1.57"]);
        assert_eq!(f.attributes["ipam_pool"], "default");
        assert_eq!(f.host_interface, s("lxc8a1b2c3d4e5f"));

        let f = line(13);
        assert_eq!(f.category, Some(Category::InterfaceSetup));
        assert_eq!(f.success, None);
        assert_eq!(f.ips, vec!["10.0.1.57"]);
        assert_eq!(f.if_name, s("eth0"));
    }

    #[test]
    fn debris_is_cut_only_as_an_unbalanced_trailing_word() {
        assert_eq!(
            without_debris(r#"getEndpointIdNotFound "521d"#),
            "getEndpointIdNotFound"
        );
        assert_eq!(
            without_debris(r#"failed to Statfs "": no such file"#),
            r#"failed to Statfs "": no such file"#
        );
        assert_eq!(without_debris(r#"open "/x y"#), r#"open "/x y"#);
        assert_eq!(
            address_pair_pool("&{10.0.1.57 5c0e4a62-7d1b-4c8e-9f3a-2b6d8e0f1a3c default   }"),
            Some("default")
        );
        assert_eq!(address_pair_pool("&{   f00d::1 u pool-6}"), Some("pool-6"));
        assert_eq!(address_pair_pool("&{10.10.0.241 u f00d::1 u}"), None);
    }

    #[test]
    fn other_formats_are_not_claimed() {
        for line in [
            // kubectl event rows of the same corpus file.
            r#"  Warning  FailedCreatePodSandBox  99m                   kubelet            Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "03bc9190fdef1b1244f241fc20f994854eec658cc9eb75aa99ec605098e7b33b": plugin type="cilium-cni" name="cilium" failed (add): Unable to create endpoint: Cilium API client timeout exceeded"#,
            r#"  Warning  FailedCreatePodSandBox  12m                kubelet, k8s1      Failed create pod sandbox: rpc error: code = Unknown desc = NetworkPlugin cni failed to set up pod "app1-78b4c7b56c-qzwp8_default" network: Unable to create endpoint: [PUT /endpoint/{id}][500] putEndpointIdFailed  endpoint 16569 did not synchronously regenerate after timeout"#,
            // cilium-agent start-up chatter: subsys=daemon alone.
            r#"level=info msg="Cilium 1.9.1 975b6f3 2020-12-01T20:12:33+01:00 go version go1.15.5 linux/amd64" subsys=daemon"#,
            // containerd logrus naming the plugin in its error.
            r#"time="2023-01-01T00:00:00Z" level=error msg="RunPodSandbox failed" error="plugin type=\"cilium-cni\" failed (add): unable to connect to Cilium daemon""#,
            // Calico, Flannel, AWS.
            r#"2020-08-17 20:31:54.359 [INFO][29808] utils.go 596: Resolved pool name default-ipv4-ippool to cidr 172.29.0.0/16"#,
            r#"I0111 17:09:04.933346       1 route_network.go:56] Watching for new subnet leases"#,
            r#"{"level":"info","ts":"2023-01-01T00:00:00.000Z","caller":"ipamd/ipamd.go:100","msg":"Starting L-IPAMD"}"#,
            "garbage",
        ] {
            assert!(parse(&Envelope::strip(line)).is_none(), "claimed: {line}");
        }
    }

    #[test]
    fn truncated_and_garbage_lines_do_not_panic() {
        let line = r#"time=2025-07-28T23:20:16.864Z level=INFO msg="Wrote queued deletion file" subsys=cilium-cni eventID=398325a3 containerID=9677d37a netNSName=/var/run/netns/cni-e4 interface=eth0 args="K8S_POD_INFRA_CONTAINER_ID=96;K8S_POD_UID=24bd;IgnoreUnknown=1" endpointID="container-id:ab" addressing="&{10.0.0.1 x}" msg="CNI Args: types.ArgsSpec{K8S_POD_NAME:\"a"#;
        for end in 0..=line.len() {
            if let Some(prefix) = line.get(..end) {
                let _ = parse_record(prefix, None);
                let _ = parse(&Envelope::strip(prefix));
            }
        }
        for junk in [
            "level= subsys=cilium-cni",
            "level=x endpointID=container-id:",
            "level=x endpointID=\"container-id:\" k8sPodName=/ addressing=\"&{\"",
            "{\"subsys\":\"cilium-cni\"",
            "level=info msg=\"CNI Args: K8S_POD_NAME:\" subsys=cilium-cni",
            "level=warning msg=\"Unable to enter namespace \\\" subsys=cilium-cni",
        ] {
            let _ = parse(&Envelope::strip(junk));
        }
    }

    #[test]
    fn every_extra_fixture_line_is_cilium() {
        let fixture = include_str!("../../../fixtures/logs/extra/cilium.log");
        for line in fixture.lines() {
            let f = parse_record(line, None).unwrap_or_else(|| panic!("not parsed: {line}"));
            assert_eq!(f.format, Some(Format::Cilium), "{line}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_and_mutated_lines_do_not_panic(
            cut in 0usize..400,
            junk in "\\PC{0,40}",
            any in "\\PC{0,200}",
        ) {
            let seed = "level=warning msg=\"Unable to create endpoint\" containerID=4fd2 endpointID=\"container-id:ab\" k8sPodName=default/x addressing=\"&{10.0.0.1 x}\" args=\"K8S_POD_NAME=a;\" subsys=cilium-cni";
            let at = (0..=cut.min(seed.len())).rev().find(|&i| seed.is_char_boundary(i)).unwrap_or(0);
            let mutated = format!("{}{junk}{}", &seed[..at], &seed[at..]);
            let _ = parse(&Envelope::strip(&mutated));
            let _ = parse(&Envelope::strip(&any));
            let _ = parse_record(&mutated, None);
        }
    }
}
