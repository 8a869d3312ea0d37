//! Calico: the CNI plugin and calico-ipam in their four shapes.
//!
//! - Calico's own text format, `[INFO][20999] k8s.go 73: <message> Key="v" key2=v`, after the
//!   envelope removed its date. Newer versions write the package directory
//!   (`cni-plugin/k8s.go`, `ipam/ipam.go`). The key/value tail is sorted by key; strings are Go
//!   quoted, errors and `Stringer`s are written raw (`error=Unauthorized`, `block=10.0.0.0/26`),
//!   and the message itself may embed Go `%v` / `%#v` struct dumps.
//! - logrus lines of Calico v2 and of the IPAM plugin (`time=... level=info msg=...
//!   Workload=ns.pod`, `source="ipam_plugin.go:357"`), claimed only with Calico markers.
//! - the legacy Python plugin (calico_cni.py, 2015–2016):
//!   `<date> <time>,<ms> <pid> [<container id>] <LEVEL> <message>`.
//! - the caller's one-line report `calico-k8s-network : error executing ADD: <error>`.

use std::sync::LazyLock;

use memchr::memmem::{Finder, FinderRev};

use crate::envelope::Envelope;
use crate::event::{Category, CniError, Format, Operation, Severity};
use crate::facts::Facts;
use crate::text::{
    calico_wep, go_string_field, ips_in, is_container_id, is_uuid, json_members, member,
    phrase_positions, quoted_after, ByteSearch, Logfmt, PhraseSearch, TrimFast,
};
use crate::time::parse_iso;

/// Keys of the tail that Calico's plugins and libcalico-go log (sorted as Calico writes them, in
/// byte order, which `split_tail`'s binary search relies on).
/// The tail starts at the first of them, or at the first key with a quoted value, so that
/// `IPv4=1` in a message stays in the message.
const TAIL_KEYS: &[&str] = &[
    "ContainerID",
    "EndpointIDs",
    "HandleID",
    "IfName",
    "Namespace",
    "Node",
    "Orchestrator",
    "Pod",
    "Workload",
    "WorkloadEndpoint",
    "assignArgs",
    "block",
    "cidr",
    "endpoint",
    "error",
    "handle",
    "host",
    "iface",
    "ipVersion",
    "netns",
    "pool",
    "workloadID",
];

/// A phrase looked for in every record of Calico's text format. Building a substring searcher
/// costs more than searching one line, so each phrase's searcher is built once.
type Phrase = LazyLock<Finder<'static>>;

static WEP_IDENTIFIERS: Phrase = LazyLock::new(|| Finder::new("WEPIdentifiers{"));
static ASSIGN_ARGS: Phrase = LazyLock::new(|| Finder::new("assignArgs="));
static SPACE_ERROR: Phrase = LazyLock::new(|| Finder::new(" error="));
static CMD_ADD_K8S: Phrase = LazyLock::new(|| Finder::new("CmdAddK8s"));
static CMD_DEL_K8S: Phrase = LazyLock::new(|| Finder::new("CmdDelK8s"));
/// Searched from the end: the last `container: ` of a message names it.
static LAST_CONTAINER: LazyLock<FinderRev<'static>> =
    LazyLock::new(|| FinderRev::new("container: "));

/// The text after the first `phrase` in `s`.
fn after<'a>(s: &'a str, phrase: &Finder<'_>) -> Option<&'a str> {
    let at = phrase.find(s.as_bytes())? + phrase.needle().len();
    s.get(at..)
}

pub(crate) fn parse(env: &Envelope<'_>) -> Option<Facts> {
    let body = env.body.as_ref();
    match body.as_bytes().first()? {
        b'[' => text_record(body),
        b'0'..=b'9' => legacy_record(body),
        _ => caller_error(body).or_else(|| logrus_record(body)),
    }
}

fn calico_facts() -> Facts {
    let mut f = Facts::new(Format::Calico);
    f.plugin = Some("calico");
    f
}

/// `[LEVEL][PID] file.go LINE: rest`.
struct Header<'a> {
    level: &'a str,
    pid: Option<u32>,
    file: &'a str,
    line: &'a str,
    rest: &'a str,
}

impl<'a> Header<'a> {
    fn read(body: &'a str) -> Option<Header<'a>> {
        let r = body.strip_prefix('[')?;
        // Split at the first `]`, which must open the next part: a later one would leave a
        // `]` in the level or pid, which their byte checks reject anyway.
        let (level, r) = r.split_once_byte(b']')?;
        let r = r.strip_prefix('[')?;
        if level.is_empty() || !level.bytes().all(|c| c.is_ascii_uppercase()) {
            return None;
        }
        let (pid, r) = r.split_once_byte(b']')?;
        let r = r.strip_prefix(' ')?;
        if pid.is_empty() || !pid.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let (file, r) = r.split_once_byte(b' ')?;
        if !file.ends_with(".go") {
            return None;
        }
        let (line, rest) = r.split_once_byte(b':')?;
        if line.is_empty() || !line.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some(Header {
            level,
            pid: pid.parse().ok(),
            file,
            line,
            rest: rest.strip_prefix(' ').unwrap_or(rest),
        })
    }
}

fn text_record(body: &str) -> Option<Facts> {
    let h = Header::read(body)?;
    let mut f = calico_facts();
    f.level = Severity::from_level(h.level);
    // The plugin's own pid: the envelope's pid is the runtime that relayed its stderr.
    f.pid = h.pid;
    // Joined by hand: `format!` cost more than the rest of the header.
    let mut caller = String::with_capacity(h.file.len() + 1 + h.line.len());
    caller.push_str(h.file);
    caller.push(':');
    caller.push_str(h.line);
    f.attr("caller", &caller);
    let (msg, tail) = split_tail(h.rest);
    let msg = msg.trim_fast();
    f.plugin_type = plugin_type_of(h.file, msg).map(str::to_owned);
    if !msg.is_empty() {
        f.message = Some(msg.to_owned());
    }
    if let Some(e) = raw_error(tail).filter(|e| *e != "<nil>") {
        f.set_error(e);
    }
    read_pairs(&Logfmt::parse(tail), &mut f);
    if WEP_IDENTIFIERS.find(tail.as_bytes()).is_some() {
        read_identifiers_dump(tail, &mut f);
    }
    if let Some(args) = after(tail, &ASSIGN_ARGS) {
        read_assign_args(args, &mut f);
    }
    read_message(msg, &mut f);
    calico_namespace(&mut f);
    Some(f)
}

/// The exact plugin binary a source file belongs to, where only one binary has that file.
/// `utils.go` is shared: calico-ipam resolves pools there, the calico plugin releases its
/// addresses and rewrites host-local's pod CIDR there, in lines of its own (`Calico CNI ...`).
/// Other directories (`ipam/ipam.go`, `k8s/k8s.go` of libcalico-go) run in either binary and in
/// calico-node too.
fn plugin_type_of(file: &str, msg: &str) -> Option<&'static str> {
    let (dir, base) = match file.rsplit_once_byte(b'/') {
        Some((dir, base)) => (Some(dir), base),
        None => (None, file),
    };
    match base {
        "ipam_plugin.go" | "calico-ipam.go" => Some("calico-ipam"),
        // The calico plugin's DeleteIPAM and host-local pod-CIDR lines.
        "utils.go" if msg.starts_with("Calico CNI ") => Some("calico"),
        "utils.go" => None,
        _ if dir.is_some_and(|d| d != "cni-plugin") => None,
        "k8s.go" | "plugin.go" | "calico.go" | "dataplane_linux.go" | "network_linux.go" => {
            Some("calico")
        }
        // Any other file of the calico plugin's own package directory.
        _ if dir.is_some() => Some("calico"),
        _ => None,
    }
}

/// Splits `message Key="v" ...` at the first tail key.
fn split_tail(rest: &str) -> (&str, &str) {
    let b = rest.as_bytes();
    let mut i = 0;
    while let Some(off) = memchr::memchr(b' ', &b[i..]) {
        let sp = i + off;
        let key_len = b[sp + 1..]
            .iter()
            .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
            .count();
        if key_len > 0 && b.get(sp + 1 + key_len) == Some(&b'=') {
            let key = &rest[sp + 1..sp + 1 + key_len];
            // The list is sorted: a binary search compares a few keys, not all of them.
            if TAIL_KEYS.binary_search(&key).is_ok() || b.get(sp + 2 + key_len) == Some(&b'"') {
                return (&rest[..sp], &rest[sp + 1..]);
            }
        }
        i = sp + 1;
    }
    (rest, "")
}

/// The unquoted `error=` value of a Calico tail, which runs to the next tail key: Calico writes
/// errors raw, spaces and all (`error=failed to set link up: Link not found`).
fn raw_error(tail: &str) -> Option<&str> {
    let at = if tail.starts_with("error=") {
        0
    } else {
        SPACE_ERROR.find(tail.as_bytes())? + 1
    };
    let value = &tail[at + "error=".len()..];
    if value.starts_with('"') {
        return None;
    }
    let end = TAIL_KEYS
        .iter()
        .filter(|k| **k != "error")
        .filter_map(|k| {
            let b = value.as_bytes();
            phrase_positions(value, k)
                .find(|&start| {
                    start > 0 && b[start - 1] == b' ' && b.get(start + k.len()) == Some(&b'=')
                })
                .map(|start| start - 1)
        })
        .min()
        .unwrap_or(value.len());
    Some(value[..end].trim_fast())
}

/// The keys `read_pairs` reads.
#[derive(Clone, Copy)]
enum Key {
    ContainerID,
    Namespace,
    Pod,
    Error,
    HandleID,
    Handle,
    Block,
    Host,
    Node,
    IfName,
    Iface,
    Netns,
    WorkloadEndpoint,
    Workload,
}

impl Key {
    const COUNT: usize = Key::Workload as usize + 1;

    fn of(name: &str) -> Option<Key> {
        Some(match name {
            "ContainerID" => Key::ContainerID,
            "Namespace" => Key::Namespace,
            "Pod" => Key::Pod,
            "error" => Key::Error,
            "HandleID" => Key::HandleID,
            "handle" => Key::Handle,
            "block" => Key::Block,
            "host" => Key::Host,
            "Node" => Key::Node,
            "IfName" => Key::IfName,
            "iface" => Key::Iface,
            "netns" => Key::Netns,
            "WorkloadEndpoint" => Key::WorkloadEndpoint,
            "Workload" => Key::Workload,
            _ => return None,
        })
    }
}

/// The keys Calico's plugins log, in the text tail and in logrus lines alike.
fn read_pairs(p: &Logfmt<'_>, f: &mut Facts) {
    // The first non-empty value of each key, from one pass over the pairs: a scan per key
    // (fourteen of them) cost more.
    let mut first = [None; Key::COUNT];
    for (k, v) in &p.pairs {
        if let Some(key) = Key::of(k) {
            let slot = &mut first[key as usize];
            if slot.is_none() && !v.trim_fast().is_empty() {
                *slot = Some(v.as_ref());
            }
        }
    }
    let get = |key: Key| first[key as usize];
    if let Some(id) = get(Key::ContainerID) {
        Facts::set(&mut f.container_id, id);
    }
    if let Some(ns) = get(Key::Namespace) {
        Facts::set(&mut f.namespace, ns);
    }
    if let Some(pod) = get(Key::Pod) {
        Facts::set(&mut f.pod_name, pod);
    }
    if let Some(e) = get(Key::Error).filter(|e| e.trim_fast() != "<nil>") {
        f.set_error(e);
    }
    for key in [Key::HandleID, Key::Handle] {
        if let Some(h) = get(key) {
            read_handle(h, f);
        }
    }
    if let Some(block) = get(Key::Block) {
        Facts::set(&mut f.subnet, block);
        f.attr("ipam_block", block);
    }
    for key in [Key::Host, Key::Node] {
        if let Some(node) = get(key) {
            Facts::set(&mut f.node_name, node);
        }
    }
    for key in [Key::IfName, Key::Iface] {
        if let Some(name) = get(key) {
            Facts::set(&mut f.if_name, name);
        }
    }
    if let Some(ns) = get(Key::Netns) {
        Facts::set(&mut f.netns, ns);
    }
    if let Some(wep) = get(Key::WorkloadEndpoint) {
        // A value that is only the WEP name's prefix (used to list a pod's endpoints) fails
        // to parse and states nothing.
        read_wep(wep, f);
    }
    if let Some(w) = get(Key::Workload) {
        read_workload(w, f);
    }
}

/// A full WEP name `<node>-<orchestrator>-<pod>-<iface>`; returns whether it was one.
fn read_wep(wep: &str, f: &mut Facts) -> bool {
    let Some([node, orchestrator, pod, iface]) = calico_wep(wep.trim_fast()) else {
        return false;
    };
    // Calico's orchestrator ids; anything else means the dashes were the name's own
    // (`default.object-storage-api-service` is a v2 `ns.pod` workload id, not a WEP).
    if !matches!(
        orchestrator.as_ref(),
        "k8s" | "cni" | "libnetwork" | "openstack" | "docker" | "mesos" | "rkt"
    ) {
        return false;
    }
    f.attr("workload_endpoint", wep);
    if orchestrator == "k8s" {
        Facts::set(&mut f.pod_name, &pod);
    } else {
        f.attr("orchestrator", &orchestrator);
    }
    Facts::set(&mut f.if_name, &iface);
    Facts::set(&mut f.node_name, &node);
    true
}

/// `Workload=`: a WEP name (calico-ipam DEL), `ns.pod` (Calico v2 workload id), or a container id
/// (non-Kubernetes orchestrators).
fn read_workload(w: &str, f: &mut Facts) {
    let w = w.trim_fast();
    if read_wep(w, f) {
        return;
    }
    f.attr("workload", w);
    if is_container_id(w) {
        Facts::set(&mut f.container_id, w);
    } else if let Some((ns, pod)) = w.split_once_byte(b'.') {
        // Namespaces have no dots; pod names may.
        if !ns.is_empty() && !pod.is_empty() && ns.find_any_byte(b" /").is_none() {
            Facts::set(&mut f.namespace, ns);
            Facts::set(&mut f.pod_name, pod);
        }
    }
}

/// `<network name>.<container id>`: the IPAM handle of a CNI ADD.
fn read_handle(h: &str, f: &mut Facts) {
    f.attr("ipam_handle", h);
    if let Some((network, id)) = h.rsplit_once_byte(b'.') {
        if is_container_id(id) {
            Facts::set(&mut f.container_id, id);
            Facts::set(&mut f.network_name, network);
        }
    }
}

/// What the message says happened, and the facts it embeds.
fn read_message(msg: &str, f: &mut Facts) {
    use Category::{InterfaceSetup, InterfaceTeardown, IpAllocation, IpDeallocation};
    use Operation::{Add, Del};
    let m = msg;
    let starts = |p: &str| m.starts_with(p);

    if CMD_ADD_K8S.find(m.as_bytes()).is_some() {
        f.operation = Some(Add);
    } else if CMD_DEL_K8S.find(m.as_bytes()).is_some() {
        f.operation = Some(Del);
    }
    if let Some(dump) = m.strip_prefix("Calico CNI found existing endpoint:") {
        read_endpoint_dump(dump, f);
    }

    let (op, category, success) = if starts("Successfully claimed IPs")
        || starts("Calico CNI IPAM assigned addresses")
        || starts("IPAM plugin assigned IPv")
    {
        for ip in ips_in(m) {
            f.add_ip(ip);
        }
        (Some(Add), Some(IpAllocation), Some(true))
    } else if starts("Calico CNI using IPs") || starts("Created Calico endpoint with IP address") {
        // The plugin applying the addresses its IPAM claimed, not a second allocation.
        for ip in ips_in(m) {
            f.add_ip(ip);
        }
        (Some(Add), None, None)
    } else if let Some(rest) = m.strip_prefix("Auto-assigned ") {
        // `Auto-assigned 1 out of 1 IPv4s: [...]`: fewer than asked fails the ADD.
        for ip in ips_in(m) {
            f.add_ip(ip);
        }
        let mut words = rest.split_whitespace();
        let got = words.next().and_then(|n| n.parse::<u32>().ok());
        let wanted = words.nth(2).and_then(|n| n.parse::<u32>().ok());
        let success = match (got, wanted) {
            (Some(got), Some(wanted)) => Some(got > 0 && got >= wanted),
            _ => None,
        };
        (Some(Add), Some(IpAllocation), success)
    } else if starts("Auto-assign ")
        || starts("Auto assigning IP")
        || starts("Calico CNI IPAM request count")
    {
        (Some(Add), Some(IpAllocation), None)
    } else if starts("Releasing IPAM allocation(s) after failure") {
        (Some(Add), Some(IpDeallocation), None)
    } else if starts("Failed to release address") || starts("IPAM plugin failed to release") {
        (Some(Del), Some(IpDeallocation), Some(false))
    } else if starts("Released address using") {
        (Some(Del), Some(IpDeallocation), Some(true))
    } else if starts("Releasing address using")
        || starts("Calico CNI releasing IP address")
        || starts("Releasing IP address")
        || starts("Releasing all IPs with handle")
        || starts("Asked to release address but it doesn't exist")
    {
        // Under way, or (nothing held under the handle) nothing to release.
        (Some(Del), Some(IpDeallocation), None)
    } else if starts("Teardown processing complete") || starts("Finished removing container") {
        (Some(Del), None, Some(true))
    } else if starts("WorkloadEndpoint does not exist in the datastore")
        || starts("Remove network '")
    {
        (Some(Del), None, None)
    } else if starts("Cleaning up netns")
        || starts("Deleting workload's device in netns")
        || starts("Calico CNI deleting device in netns")
        || starts("Removing veth for endpoint")
    {
        (Some(Del), Some(InterfaceTeardown), None)
    } else if let Some(veth) = m.strip_prefix("Setting the host side veth name to ") {
        Facts::set(&mut f.host_interface, veth.trim_end_matches('.'));
        (Some(Add), Some(InterfaceSetup), None)
    } else if starts("Provisioned ") && m.contains_str(" in netns ") {
        // Legacy: `Provisioned eth0 in netns /proc/123/ns/net`.
        if let Some((iface, netns)) = m["Provisioned ".len()..].split_once_str(" in netns ") {
            Facts::set(&mut f.if_name, iface);
            Facts::set(&mut f.netns, netns);
        }
        (Some(Add), Some(InterfaceSetup), None)
    } else if starts("Wrote updated endpoint to datastore")
        || starts("Finished networking container")
    {
        (Some(Add), None, Some(true))
    } else if starts("Populated endpoint")
        || starts("Added Mac, interface name, and active container ID to endpoint")
        || starts("Configuring network '")
        || starts("Failed to apply profile to endpoint")
    {
        let failed = starts("Failed to apply profile").then_some(false);
        (Some(Add), None, failed)
    } else if let Some(rest) = m.strip_prefix("Final result of CNI ") {
        // `Final result of CNI ADD was an error.`: the plugin's last word on a failed command.
        let op = rest
            .split_whitespace()
            .next()
            .and_then(Operation::from_word);
        (op, None, Some(false))
    } else if starts("Calico CNI panicked during ADD") {
        (Some(Add), None, Some(false))
    } else if starts("IPAM plugin error (rc=") {
        read_ipam_error(m, f);
        (Some(Add), Some(IpAllocation), Some(false))
    } else if starts("Unhandled Exception killed plugin") {
        f.set_error(m);
        (None, None, Some(false))
    } else if let Some(rc) = m.strip_prefix("Calico CNI execution complete, rc=") {
        f.exit_code = rc.trim_fast().parse::<i32>().ok();
        (None, None, f.exit_code.map(|rc| rc == 0))
    } else {
        if let Some(rest) = m.strip_prefix("Resolved pool name ") {
            if let Some((pool, cidr)) = rest.split_once_str(" to cidr ") {
                f.attr("ipam_pool", pool);
                Facts::set(&mut f.subnet, cidr);
            }
        }
        (None, None, None)
    };
    f.operation = f.operation.or(op);
    f.category = f.category.or(category);
    f.success = f.success.or(success);

    // Legacy messages name the network and the container in the text.
    if let Some(rest) = m
        .strip_prefix("Configuring network '")
        .or_else(|| m.strip_prefix("Remove network '"))
    {
        if let Some((network, _)) = rest.split_once_byte(b'\'') {
            Facts::set(&mut f.network_name, network);
        }
    }
    if let Some(at) = LAST_CONTAINER.rfind(m.as_bytes()) {
        let id = &m[at + LAST_CONTAINER.needle().len()..];
        if is_container_id(id.trim_fast()) {
            Facts::set(&mut f.container_id, id.trim_fast());
        }
    }
}

/// `Calico CNI found existing endpoint: &{{WorkloadEndpoint projectcalico.org/v3} {<name>
/// <generateName> <namespace> <selfLink> <uid> ...} {<spec>}}`: Go `%v` of the endpoint, where
/// empty strings leave double spaces, so ObjectMeta's leading fields keep their positions. The
/// Kubernetes backend copies the pod's UID into the endpoint's.
fn read_endpoint_dump(dump: &str, f: &mut Facts) {
    if let Some(at) = dump.find_str("{WorkloadEndpoint ") {
        let after = &dump[at..];
        if let Some(meta_at) = after.find_str("} {") {
            let meta = &after[meta_at + 3..];
            let meta = meta.before_any_byte(b"}{");
            let fields: Vec<&str> = meta.split_byte(b' ').take(5).collect();
            if let [name, _generate_name, namespace, _self_link, uid] = fields[..] {
                if read_wep(name, f) {
                    if is_dns_label(namespace) {
                        Facts::set(&mut f.namespace, namespace);
                    }
                    if is_uuid(uid) {
                        Facts::set(&mut f.pod_uid, uid);
                    }
                }
            }
        }
    }
    // The host side of the veth: `cali` and 11 hex digits.
    if let Some(veth) = dump.split([' ', '{', '}']).find(|w| {
        w.len() == 15 && w.starts_with("cali") && w[4..].bytes().all(|c| c.is_ascii_hexdigit())
    }) {
        Facts::set(&mut f.host_interface, veth);
    }
}

/// `EndpointIDs=&utils.WEPIdentifiers{Namespace:"default", WEPName:"", WorkloadEndpointIdentifiers:
/// names.WorkloadEndpointIdentifiers{Node:"calico-01", Orchestrator:"cni", Endpoint:"eth0",
/// Workload:"", Pod:"", ContainerID:"cni"}}`.
fn read_identifiers_dump(text: &str, f: &mut Facts) {
    let field = |k: &str| go_string_field(text, k).filter(|v| !v.is_empty());
    if let Some(o) = field("Orchestrator") {
        f.attr("orchestrator", o);
    }
    if let Some(id) = field("ContainerID") {
        Facts::set(&mut f.container_id, id);
    }
    if let Some(ns) = field("Namespace") {
        Facts::set(&mut f.namespace, ns);
    }
    if let Some(pod) = field("Pod") {
        Facts::set(&mut f.pod_name, pod);
    }
    if let Some(wep) = field("WEPName") {
        read_wep(wep, f);
    }
    if let Some(node) = field("Node") {
        Facts::set(&mut f.node_name, node);
    }
    if let Some(iface) = field("Endpoint") {
        Facts::set(&mut f.if_name, iface);
    }
}

/// A workload of another orchestrator than Kubernetes (`cni` for a cnitool run, `libnetwork`,
/// ...) lives in a Calico namespace, `default` unless the caller chose one: not a Kubernetes
/// namespace.
fn calico_namespace(f: &mut Facts) {
    let other = f.attributes.get("orchestrator").is_some_and(|o| o != "k8s");
    if other {
        if let Some(ns) = f.namespace.take() {
            f.attr("calico_namespace", &ns);
        }
    }
}

/// `ipam.AutoAssignArgs{..., Attrs:map[string]string{"namespace":"shop", "node":"node-1",
/// "pod":"web-..."}, Hostname:"node-1", ...}`: the pod the addresses are claimed for.
fn read_assign_args(args: &str, f: &mut Facts) {
    if let Some(attrs) = args
        .split_once_str("Attrs:map[string]string{")
        .map(|(_, a)| a)
    {
        let attrs = attrs.before_byte(b'}');
        let attr = |k: &str| quoted_after(attrs, &format!("\"{k}\":")).filter(|v| !v.is_empty());
        if let Some(ns) = attr("namespace") {
            Facts::set(&mut f.namespace, ns);
        }
        if let Some(pod) = attr("pod") {
            Facts::set(&mut f.pod_name, pod);
        }
        if let Some(node) = attr("node") {
            Facts::set(&mut f.node_name, node);
        }
    }
    if let Some(host) = go_string_field(args, "Hostname") {
        Facts::set(&mut f.node_name, host);
    }
}

/// Legacy `IPAM plugin error (rc=100): {"code": 100, "msg": "...", "details": ...}`.
fn read_ipam_error(m: &str, f: &mut Facts) {
    let Some((_, output)) = m.split_once_str("): ") else {
        return;
    };
    let output = output.trim_fast();
    let Some(members) = json_members(output) else {
        f.set_error(output);
        return;
    };
    let Some(msg) = member(&members, "msg").filter(|s| !s.is_empty()) else {
        f.set_error(output);
        return;
    };
    f.error = Some(CniError {
        code: member(&members, "code").and_then(|c| c.trim_fast().parse().ok()),
        msg: msg.to_owned(),
        details: member(&members, "details")
            .filter(|d| !d.is_empty() && *d != "null")
            .map(str::to_owned),
    });
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// Legacy Python plugin: `[<date> <time>,<ms> ]<pid> [<container id>] <LEVEL> <message>`
/// (the envelope usually has removed the date already).
fn legacy_record(body: &str) -> Option<Facts> {
    let mut s = body;
    let mut time = None;
    if let Some((t, used)) = parse_iso(s) {
        time = Some(t);
        s = s.get(used..)?.strip_prefix(' ')?;
    }
    let (pid, rest) = s.split_once_byte(b' ')?;
    if pid.is_empty() || !pid.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (identity, rest) = rest.strip_prefix('[')?.split_once_str("] ")?;
    if identity.contains_byte(b' ') {
        return None;
    }
    let (level, msg) = rest.split_once_byte(b' ').unwrap_or((rest, ""));
    if !matches!(level, "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL") {
        return None;
    }
    let msg = msg.trim_fast();
    let names_calico = msg.to_ascii_lowercase().contains_str("calico");
    let id_like = (6..=64).contains(&identity.len())
        && identity
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    // Other Python services log `pid [thread] LEVEL`; Calico's identity is the container id.
    if !(id_like || names_calico) {
        return None;
    }
    let mut f = calico_facts();
    f.time = time;
    f.level = Severity::from_level(level);
    f.pid = pid.parse().ok();
    if !msg.is_empty() {
        f.message = Some(msg.to_owned());
    }
    if !names_calico {
        // The layout, not the text, says Calico.
        f.confidence = Some(0.7);
    }
    // A full id in the message wins over the logger's identity, which may be a prefix.
    read_message(msg, &mut f);
    if id_like {
        Facts::set(&mut f.container_id, identity);
    }
    Some(f)
}

/// `calico-k8s-network : error executing ADD: No IPv4 addresses available in pool`: the caller's
/// (rkt, early kubelet) report of a failed plugin, naming the network, not the plugin.
fn caller_error(body: &str) -> Option<Facts> {
    let (network, rest) = body.split_once_byte(b' ')?;
    let rest = rest.strip_prefix(": error executing ")?;
    if !(network.contains_str("calico") || network == "k8s-pod-network") {
        return None;
    }
    let (op, error) = rest.split_once_str(": ").unwrap_or((rest, ""));
    let mut f = calico_facts();
    f.operation = Some(Operation::from_word(op.trim_fast())?);
    f.network_name = Some(network.to_owned());
    f.success = Some(false);
    f.set_error(error);
    let lower = error.to_ascii_lowercase();
    if lower.contains_str("addresses available") || lower.contains_str("ips available") {
        // The pool is exhausted: the ADD failed allocating an address.
        f.category = Some(Category::IpAllocation);
    }
    // The family is read from the network's name.
    f.confidence = Some(0.7);
    Some(f)
}

/// Does a logrus `body` hold a marker that only Calico's logrus lines carry (` Workload=`,
/// ` WorkloadEndpoint=`, ` HandleID=`, `source="ipam_plugin.go`, `source="calico`,
/// `msg="Calico `)? Each holds one `=`, so they are looked for around each `=` of the line, told
/// apart by the byte before it: one pass, where a substring search per marker made six (every
/// containerd logrus line reaches this test).
fn has_logrus_marker(body: &str) -> bool {
    let b = body.as_bytes();
    memchr::memchr_iter(b'=', b).any(|at| {
        let (key, value) = (&b[..at], &b[at + 1..]);
        let ends = |k: &str| key.ends_with(k.as_bytes());
        match key.last() {
            Some(b'd') => ends(" Workload"),
            Some(b't') => ends(" WorkloadEndpoint"),
            Some(b'D') => ends(" HandleID"),
            Some(b'e') => {
                ends("source")
                    && (value.starts_with(b"\"ipam_plugin.go") || value.starts_with(b"\"calico"))
            }
            Some(b'g') => ends("msg") && value.starts_with(b"\"Calico "),
            _ => false,
        }
    })
}

fn logrus_record(body: &str) -> Option<Facts> {
    if !(body.starts_with("time=") || body.starts_with("level=")) {
        return None;
    }
    if !has_logrus_marker(body) {
        return None;
    }
    let p = Logfmt::parse(body);
    let msg = p.get_nonempty("msg").map_or("", str::trim);
    let source = p.get_nonempty("source");
    let file = source.map(|s| s.before_byte(b':'));
    let calico_source =
        file.is_some_and(|s| matches!(s, "ipam_plugin.go" | "calico-ipam.go" | "calico.go"));
    let calico = calico_source
        || p.has("Workload")
        || p.has("WorkloadEndpoint")
        || p.has("HandleID")
        || msg.starts_with("Calico ");
    if !calico {
        return None;
    }
    let mut f = calico_facts();
    f.level = p.get("level").and_then(Severity::from_level);
    f.time = p
        .get_nonempty("time")
        .and_then(|t| parse_iso(t.trim_fast()))
        .map(|(t, _)| t);
    if let Some(src) = source {
        f.attr("caller", src);
    }
    f.plugin_type = file
        .and_then(|file| plugin_type_of(file, msg))
        .map(str::to_owned);
    if !msg.is_empty() {
        f.message = Some(msg.to_owned());
    }
    read_pairs(&p, &mut f);
    read_message(msg, &mut f);
    calico_namespace(&mut f);
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::parse_record;

    fn parsed(line: &str) -> Facts {
        let f = parse_record(line, None).unwrap_or_else(|| panic!("not parsed: {line}"));
        assert_eq!(f.format, Some(Format::Calico), "{line}");
        assert_eq!(f.plugin, Some("calico"));
        f
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn tail_keys_are_sorted() {
        assert!(TAIL_KEYS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn corpus_line_1_cmd_add_k8s() {
        let f = parsed(
            r#"Apr 22 05:17:07 fedora containerd[712]: 2022-04-22 05:17:07.520 [INFO][20999] k8s.go 73: Extracted identifiers for CmdAddK8s ContainerID="3a0b9ebe70d0932d6d1d4e6841ba2ec9a7f9d001f531be6261392dcd6e2ffd1b" Namespace="default" Pod="nginx-kata" WorkloadEndpoint="fedora-k8s-nginx--kata-eth0""#,
        );
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.category, None);
        assert_eq!(
            f.container_id,
            s("3a0b9ebe70d0932d6d1d4e6841ba2ec9a7f9d001f531be6261392dcd6e2ffd1b")
        );
        assert_eq!(f.namespace, s("default"));
        assert_eq!(f.pod_name, s("nginx-kata"));
        assert_eq!(f.if_name, s("eth0"));
        assert_eq!(f.node_name, s("fedora"));
        assert_eq!(
            f.attributes["workload_endpoint"],
            "fedora-k8s-nginx--kata-eth0"
        );
        assert_eq!(f.attributes["caller"], "k8s.go:73");
        assert_eq!(f.plugin_type, s("calico"));
        assert_eq!(f.level, Some(Severity::Info));
        assert_eq!(f.pid, Some(20999));
        // The journald process (containerd) is not the process whose pid the line states.
        assert_eq!(f.comm, None);
        assert_eq!(f.message, s("Extracted identifiers for CmdAddK8s"));
    }

    #[test]
    fn corpus_line_2_existing_endpoint_dump_and_wep_prefix() {
        let f = parsed(
            r#"Apr 22 05:17:07 fedora containerd[712]: 2022-04-22 05:17:07.520 [INFO][20999] plugin.go 265: Calico CNI found existing endpoint: &{{WorkloadEndpoint projectcalico.org/v3} {fedora-k8s-nginx--kata-eth0  default  1643de63-a84a-4636-a561-416f4541537c 34860 0 2022-04-22 05:17:06 +0000 UTC <nil> <nil> map[projectcalico.org/namespace:default projectcalico.org/orchestrator:k8s projectcalico.org/serviceaccount:default] map[] [] []  []} {k8s  fedora  nginx-kata eth0 default [] []   [kns.default ksa.default.default] calib0680684ccf  []}} ContainerID="3a0b9ebe70d0932d6d1d4e6841ba2ec9a7f9d001f531be6261392dcd6e2ffd1b" Namespace="default" Pod="nginx-kata" WorkloadEndpoint="fedora-k8s-nginx--kata-""#,
        );
        assert_eq!(f.pod_name, s("nginx-kata"));
        assert_eq!(f.namespace, s("default"));
        assert_eq!(f.pod_uid, s("1643de63-a84a-4636-a561-416f4541537c"));
        assert_eq!(
            f.attributes["workload_endpoint"],
            "fedora-k8s-nginx--kata-eth0"
        );
        assert_eq!(f.if_name, s("eth0"));
        assert_eq!(f.node_name, s("fedora"));
        assert_eq!(f.host_interface, s("calib0680684ccf"));
        assert_eq!(
            f.container_id,
            s("3a0b9ebe70d0932d6d1d4e6841ba2ec9a7f9d001f531be6261392dcd6e2ffd1b")
        );
        assert!(f
            .message
            .as_deref()
            .unwrap()
            .starts_with("Calico CNI found existing endpoint: &{{WorkloadEndpoint"));
        assert!(f.message.as_deref().unwrap().ends_with("[]}}"));
        assert_eq!(f.operation, None);
        assert!(f.ips.is_empty());
    }

    #[test]
    fn corpus_line_3_pool_cidr_is_a_subnet() {
        let f = parsed(
            r#"2020-08-17 20:31:54.359 [INFO][29808] utils.go 596: Resolved pool name default-ipv4-ippool to cidr 172.29.0.0/16"#,
        );
        assert_eq!(f.subnet, s("172.29.0.0/16"));
        assert!(f.ips.is_empty());
        assert_eq!(f.attributes["ipam_pool"], "default-ipv4-ippool");
        assert_eq!(f.operation, None);
        assert_eq!(f.category, None);
        assert_eq!(f.plugin_type, None);
        assert!(f.time.is_some());
    }

    #[test]
    fn corpus_line_4_logrus_ipam_lock() {
        let f = parsed(
            r#"Nov  8 14:45:08 server1 crio[1603]: time="2022-11-08T14:45:08+03:00" level=info msg="About to acquire host-wide IPAM lock." source="ipam_plugin.go:357""#,
        );
        assert_eq!(f.plugin_type, s("calico-ipam"));
        assert_eq!(f.attributes["caller"], "ipam_plugin.go:357");
        assert_eq!(f.message, s("About to acquire host-wide IPAM lock."));
        assert_eq!(f.operation, None);
        assert_eq!(f.category, None);
        assert_eq!(f.comm, s("crio"));
        assert!(f.time.is_some());
    }

    #[test]
    fn corpus_line_5_successfully_claimed_ips() {
        let f = parsed(
            r#"Jul 27 19:18:40 k8s-test02.corp.cootek.com kubelet[22583]: 2019-07-27 19:18:40.547 [INFO][35106] ipam.go 838: Successfully claimed IPs: [10.1.105.205/26] block=10.1.105.192/26 handle="calico-k8s-network.2de2b005aee969964a01966a990522cbaca7c1ef4ed219fbcf66edecfa81280b" host="k8s-test02.corp.cootek.com""#,
        );
        assert_eq!(f.category, Some(Category::IpAllocation));
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.success, Some(true));
        assert_eq!(f.ips, vec!["10.1.105.205/26"]);
        assert_eq!(f.subnet, s("10.1.105.192/26"));
        assert_eq!(f.attributes["ipam_block"], "10.1.105.192/26");
        assert_eq!(
            f.attributes["ipam_handle"],
            "calico-k8s-network.2de2b005aee969964a01966a990522cbaca7c1ef4ed219fbcf66edecfa81280b"
        );
        assert_eq!(
            f.container_id,
            s("2de2b005aee969964a01966a990522cbaca7c1ef4ed219fbcf66edecfa81280b")
        );
        assert_eq!(f.network_name, s("calico-k8s-network"));
        assert_eq!(f.node_name, s("k8s-test02.corp.cootek.com"));
        assert_eq!(f.message, s("Successfully claimed IPs: [10.1.105.205/26]"));
        assert_eq!(f.plugin_type, None);
    }

    #[test]
    fn corpus_line_6_calico_cni_using_ips() {
        let f = parsed(
            r#"2021-10-27 12:32:05.123 [INFO][2659767] k8s.go 373: Calico CNI using IPs: [172.29.168.137/32] ContainerID="1022b90629c7c0d92f57bd3d8f6c696c9799611bd6293aeac9199f6c4a2f1002" Namespace="userz" Pod="zyk-3-redis-master-0" WorkloadEndpoint="dce--10--23--20--156-k8s-zyk--3--redis--master--0-eth0""#,
        );
        // The plugin applying what calico-ipam claimed: a step of the ADD, not an allocation.
        assert_eq!(f.category, None);
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.success, None);
        assert_eq!(f.ips, vec!["172.29.168.137/32"]);
        assert_eq!(f.pid, Some(2659767));
        assert_eq!(f.namespace, s("userz"));
        assert_eq!(f.pod_name, s("zyk-3-redis-master-0"));
        assert_eq!(f.node_name, s("dce-10-23-20-156"));
        assert_eq!(f.if_name, s("eth0"));
        assert_eq!(
            f.container_id,
            s("1022b90629c7c0d92f57bd3d8f6c696c9799611bd6293aeac9199f6c4a2f1002")
        );
    }

    #[test]
    fn corpus_line_7_non_k8s_identifiers() {
        let f = parsed(
            r#"2018-10-16 12:19:31.509 [INFO][4117] calico.go 75: Extracted identifiers EndpointIDs=&utils.WEPIdentifiers{Namespace:"default", WEPName:"", WorkloadEndpointIdentifiers:names.WorkloadEndpointIdentifiers{Node:"calico-01", Orchestrator:"cni", Endpoint:"eth0", Workload:"", Pod:"", ContainerID:"cni"}}"#,
        );
        assert_eq!(f.message, s("Extracted identifiers"));
        assert_eq!(f.container_id, s("cni"));
        // A cnitool run: `default` is Calico's namespace for non-Kubernetes workloads.
        assert_eq!(f.namespace, None);
        assert_eq!(f.attributes["calico_namespace"], "default");
        assert_eq!(f.pod_name, None);
        assert_eq!(f.node_name, s("calico-01"));
        assert_eq!(f.if_name, s("eth0"));
        assert_eq!(f.attributes["orchestrator"], "cni");
        assert_eq!(f.operation, None);
        assert_eq!(f.plugin_type, s("calico"));
    }

    #[test]
    fn corpus_line_8_package_dir_and_cut_struct() {
        let f = parsed(
            r#"2025-12-30 21:58:14.266 [INFO][52211] cni-plugin/k8s.go 446: Added Mac, interface name, and active container ID to endpoint ContainerID="41c85156546ac63f9402d1356a4d2dc00c4b807eed439c51678d1b94fac16f7c" Namespace="default" Pod="virt-launcher-vm-00-pb825" WorkloadEndpoint="isim--dev-k8s-virt--launcher--vm--00--pb825-eth0" endpoint=&v3.WorkloadEndpoint{Ty"#,
        );
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.plugin_type, s("calico"));
        assert_eq!(f.attributes["caller"], "cni-plugin/k8s.go:446");
        assert_eq!(f.pod_name, s("virt-launcher-vm-00-pb825"));
        assert_eq!(f.node_name, s("isim-dev"));
        assert_eq!(
            f.message,
            s("Added Mac, interface name, and active container ID to endpoint")
        );
        assert_eq!(
            f.container_id,
            s("41c85156546ac63f9402d1356a4d2dc00c4b807eed439c51678d1b94fac16f7c")
        );
    }

    #[test]
    fn corpus_line_9_release_by_workload_id() {
        let f = parsed(
            r#"Apr 18 11:04:34 test-cluster-001-np6-7c447c7f4-p6n5j containerd[656]: 2024-04-18 11:04:34.403 [INFO][8562] ipam_plugin.go 444: Releasing address using workloadID ContainerID="cb056e7f2b83ae62bf255b1d711fa5ba6196e2c1abe77924c699ba1dbbac4241" HandleID="k8s-pod-network.cb056e7f2b83ae62bf255b1d711fa5ba6196e2c1abe77924c699ba1dbbac4241" Workload="test--cluster--001--np6--7c447c7f4--p6n5j-k8s-netshoot--06-eth0""#,
        );
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.category, Some(Category::IpDeallocation));
        assert_eq!(f.plugin_type, s("calico-ipam"));
        assert_eq!(f.pod_name, s("netshoot-06"));
        assert_eq!(f.node_name, s("test-cluster-001-np6-7c447c7f4-p6n5j"));
        assert_eq!(f.network_name, s("k8s-pod-network"));
        assert_eq!(
            f.attributes["ipam_handle"],
            "k8s-pod-network.cb056e7f2b83ae62bf255b1d711fa5ba6196e2c1abe77924c699ba1dbbac4241"
        );
        assert_eq!(
            f.attributes["workload_endpoint"],
            "test--cluster--001--np6--7c447c7f4--p6n5j-k8s-netshoot--06-eth0"
        );
        assert_eq!(f.namespace, None);
        assert_eq!(f.success, None);
    }

    #[test]
    fn corpus_line_10_teardown_complete() {
        let f = parsed(
            r#"Apr 18 11:04:34 test-cluster-001-np6-7c447c7f4-p6n5j containerd[656]: 2024-04-18 11:04:34.405 [INFO][8552] k8s.go 589: Teardown processing complete. ContainerID="cb056e7f2b83ae62bf255b1d711fa5ba6196e2c1abe77924c699ba1dbbac4241""#,
        );
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.success, Some(true));
        assert_eq!(f.message, s("Teardown processing complete."));
        assert_eq!(
            f.container_id,
            s("cb056e7f2b83ae62bf255b1d711fa5ba6196e2c1abe77924c699ba1dbbac4241")
        );
    }

    #[test]
    fn corpus_line_11_calico_ipam_release_old_handle() {
        let f = parsed(
            r#"2018-12-14 03:20:14.984 [INFO][94113] calico-ipam.go 267: Released address using handleID ContainerID="685022f2f21c867e5c3acc0963758be7e1a1b086d9b2048ea3a3096fa0b74243" HandleID="calico-k8s-network.685022f2f21c867e5c3acc0963758be7e1a1b086d9b2048ea3a3096fa0b74243" Workload="knode7-k8s-my--cron--1544757600--zcpgm-eth0""#,
        );
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.category, Some(Category::IpDeallocation));
        assert_eq!(f.success, Some(true));
        assert_eq!(f.plugin_type, s("calico-ipam"));
        assert_eq!(f.network_name, s("calico-k8s-network"));
        assert_eq!(f.pod_name, s("my-cron-1544757600-zcpgm"));
        assert_eq!(f.node_name, s("knode7"));
    }

    #[test]
    fn corpus_line_12_missing_wep_is_a_warning() {
        let f = parsed(
            r#"May 18 15:58:04 mgt10 kubelet[1980]: 2020-05-18 15:58:04.743 [WARNING][4636] k8s.go 447: WorkloadEndpoint does not exist in the datastore, moving forward with the clean up ContainerID="4492b92ca1923035508cd3fa8545a55e931c2a42dbb781a6eae3f640b3224229" WorkloadEndpoint="mgt10-k8s-k8s--sidecar--injector--cff9f67d4--b6b4x-eth0""#,
        );
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.success, None);
        assert_eq!(f.error, None);
        assert_eq!(f.level, Some(Severity::Warning));
        assert_eq!(f.pod_name, s("k8s-sidecar-injector-cff9f67d4-b6b4x"));
        assert_eq!(f.node_name, s("mgt10"));
    }

    #[test]
    fn corpus_line_13_v2_logrus_dotted_workload() {
        let f = parsed(
            r#"Jun 04 10:21:21 dev-node2 kubelet[11347]: time="2019-06-04T10:21:21+08:00" level=info msg="Releasing address using workloadID" Workload=default.object-storage-api-service"#,
        );
        assert_eq!(f.namespace, s("default"));
        assert_eq!(f.pod_name, s("object-storage-api-service"));
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.category, Some(Category::IpDeallocation));
        assert_eq!(
            f.attributes["workload"],
            "default.object-storage-api-service"
        );
        assert!(f.time.is_some());
    }

    #[test]
    fn corpus_line_16_caller_error() {
        let f =
            parsed("calico-k8s-network : error executing ADD: No IPv4 addresses available in pool");
        assert_eq!(f.network_name, s("calico-k8s-network"));
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.category, Some(Category::IpAllocation));
        assert_eq!(f.success, Some(false));
        assert_eq!(
            f.error.as_ref().unwrap().msg,
            "No IPv4 addresses available in pool"
        );
        assert_eq!(f.confidence, Some(0.7));
    }

    #[test]
    fn extra_lines_stage_of_ip_operations() {
        let fixture = include_str!("../../../fixtures/logs/extra/calico.log");
        let line = |n: usize| parsed(fixture.lines().nth(n - 1).unwrap());
        let stage = |f: &Facts| (f.operation, f.category, f.success);
        let alloc = Some(Category::IpAllocation);
        let release = Some(Category::IpDeallocation);
        let add = Some(Operation::Add);
        let del = Some(Operation::Del);

        // Requested and under way.
        for n in [2, 3, 5] {
            assert_eq!(stage(&line(n)), (add, alloc, None), "line {n}");
        }
        // Done: claimed, auto-assigned, returned by calico-ipam, legacy IPAM output.
        for n in [6, 7, 8, 20] {
            let f = line(n);
            assert_eq!(stage(&f), (add, alloc, Some(true)), "line {n}");
            assert!(!f.ips.is_empty(), "line {n}");
        }
        // Release under way; a handle holding nothing releases nothing.
        for n in [14, 15, 16] {
            let f = line(n);
            assert_eq!(stage(&f), (del, release, None), "line {n}");
            assert!(f.ips.is_empty(), "line {n}");
        }
        // The plugin applying its claimed address.
        let f = line(17);
        assert_eq!(stage(&f), (add, None, None));
        assert_eq!(f.ips, vec!["192.168.104.9/32"]);

        let f = line(3);
        assert_eq!(f.namespace, s("shop"));
        assert_eq!(f.pod_name, s("web-6d4cf56db6-abcde"));
        assert_eq!(f.node_name, s("node-1"));

        for n in [9, 13, 15] {
            assert_eq!(line(n).plugin_type, s("calico"), "line {n}");
        }

        let f = line(24);
        assert_eq!(f.exit_code, Some(100));
        assert_eq!(f.success, Some(false));
    }

    #[test]
    fn plugin_type_by_source_file() {
        for (file, msg, want) in [
            ("ipam_plugin.go", "", Some("calico-ipam")),
            ("ipam/ipam_plugin.go", "", Some("calico-ipam")),
            ("calico-ipam.go", "", Some("calico-ipam")),
            ("cni-plugin/k8s.go", "", Some("calico")),
            ("cni-plugin/dataplane_linux.go", "", Some("calico")),
            ("k8s.go", "", Some("calico")),
            ("dataplane_linux.go", "", Some("calico")),
            ("network_linux.go", "", Some("calico")),
            (
                "utils.go",
                "Calico CNI releasing IP address",
                Some("calico"),
            ),
            // Shared by both binaries (calico-ipam resolves pools here).
            ("utils.go", "Resolved pool name a to cidr 10.0.0.0/16", None),
            // libcalico-go: either binary, or calico-node.
            ("ipam/ipam.go", "", None),
            ("ipam.go", "", None),
            ("k8s/k8s.go", "", None),
        ] {
            assert_eq!(plugin_type_of(file, msg), want, "{file}");
        }
    }

    #[test]
    fn non_k8s_workload_endpoint_namespace_is_calicos() {
        let f = parsed(
            r#"2018-10-16 12:19:31.600 [INFO][4117] calico.go 200: Populated endpoint ContainerID="cni" Namespace="default" WorkloadEndpoint="calico--01-cni-cni-eth0""#,
        );
        assert_eq!(f.namespace, None);
        assert_eq!(f.attributes["calico_namespace"], "default");
        assert_eq!(f.attributes["orchestrator"], "cni");
        assert_eq!(f.pod_name, None);
    }

    #[test]
    fn partial_auto_assign_fails() {
        let f = parsed(
            r#"2023-06-01 08:12:44.170 [INFO][31807] ipam/ipam.go 1222: Auto-assigned 0 out of 1 IPv4s: [] handle="k8s-pod-network.c21724a5ce2c" host="node-1""#,
        );
        assert_eq!(f.category, Some(Category::IpAllocation));
        assert_eq!(f.success, Some(false));
    }

    #[test]
    fn kubelet_runtime_line_11_cjk_month() {
        let f = parsed(
            r#"12月 11 11:42:08 slave-188 kubelet[9486]: time="2017-12-11T11:42:08+08:00" level=info msg="Releasing address using workloadID" Workload=admin.etcd-0"#,
        );
        assert_eq!(f.namespace, s("admin"));
        assert_eq!(f.pod_name, s("etcd-0"));
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.hostname, s("slave-188"));
    }

    #[test]
    fn raw_error_runs_to_the_next_key() {
        let f = parsed(
            r#"2022-01-30 17:21:57.754 [ERROR][26729] plugin.go 121: Final result of CNI ADD was an error. error=failed to set link up: failed to get link: Link not found"#,
        );
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.success, Some(false));
        assert_eq!(
            f.error.as_ref().unwrap().msg,
            "failed to set link up: failed to get link: Link not found"
        );
        assert_eq!(f.message, s("Final result of CNI ADD was an error."));
        let f = parsed(
            r#"[ERROR][1] ipam_plugin.go 420: Failed to release address ContainerID="abcdefabcdef" HandleID="k8s-pod-network.abcdefabcdef" Workload="n1-k8s-p-eth0" error=connection is unauthorized: Unauthorized host="n1""#,
        );
        assert_eq!(
            f.error.as_ref().unwrap().msg,
            "connection is unauthorized: Unauthorized"
        );
        assert_eq!(f.node_name, s("n1"));
        assert_eq!(f.success, Some(false));
        assert_eq!(f.category, Some(Category::IpDeallocation));
    }

    #[test]
    fn legacy_python_lines() {
        let f = parsed(
            "2016-02-11 21:36:54,412 16212 [7a4b3c2d1e0f] INFO Starting Calico CNI plugin execution",
        );
        assert_eq!(f.pid, Some(16212));
        assert_eq!(f.container_id, s("7a4b3c2d1e0f"));
        assert_eq!(f.level, Some(Severity::Info));
        assert_eq!(f.confidence, None);
        assert!(f.time.is_some());
        let f = parsed(
            r#"2016-02-11 21:36:55,002 16212 [7a4b3c2d1e0f] ERROR IPAM plugin error (rc=100): {"code": 100, "msg": "No more IPs available in pool", "details": null}"#,
        );
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.success, Some(false));
        let e = f.error.unwrap();
        assert_eq!(
            (e.code, e.msg.as_str()),
            (Some(100), "No more IPs available in pool")
        );
        assert_eq!(f.confidence, Some(0.7));
    }

    #[test]
    fn other_formats_are_not_claimed() {
        for line in [
            r#"  Warning  FailedCreatePodSandBox  33s               kubelet            Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "b6385006e8b3eedeaa1fd60e3e69afc9fb758a27666c93708a9211b3c988ab34": plugin type="calico" failed (add): error getting ClusterInformation: connection is unauthorized: Unauthorized"#,
            r#"Warning  FailedCreatePodSandBox  86s               kubelet            Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "3c8b059ce4c4cd7ae47eb9ebc8d1937afae2d0e23ec32cd3f4b9c464ab5d358d": plugin type="calico" failed (add): error adding host side routes for interface: calid29a1cadef5, error: route (Ifindex: 131, Dst: 172.25.136.1/32, Scope: link) already exists for an interface other than 'calid29a1cadef5': route (Ifindex: 12, Dst: 172.25.136.1/32, Scope: link, Iface: calif6cb5368383)"#,
            r#"time="2023-01-01T00:00:00Z" level=error msg="RunPodSandbox failed" error="plugin type=\"calico\" failed (add): connection is unauthorized""#,
            r#"level=warning msg="Unable to create endpoint" containerID=4fd2175605c4 error="Cilium API client timeout exceeded" subsys=cilium-cni"#,
            r#"mynet : error executing ADD: no IP addresses available in range set"#,
            r#"2023/01/01 00:00:00 [INFO] Starting IPAM daemon"#,
            r#"I0111 17:09:04.933346       1 route_network.go:56] Watching for new subnet leases"#,
            "123 not a calico line",
            "2016-02-11 21:36:54,412 16212 [MainThread] INFO Starting web server",
            "[INFO] aws seelog line",
        ] {
            assert!(parse(&Envelope::strip(line)).is_none(), "claimed: {line}");
        }
    }

    #[test]
    fn truncated_and_garbage_lines_do_not_panic() {
        let lines = [
            r#"[WARNING][4636] cni-plugin/k8s.go 447: Calico CNI found existing endpoint: &{{WorkloadEndpoint projectcalico.org/v3} {a-k8s-b-eth0  default  1643de63-a84a-4636-a561-416f4541537c 1} {calib0680684ccf}} Successfully claimed IPs: [10.0.0.1/26] error=x: y HandleID="k8s-pod-network.abcdefabcdef" Workload=a.b EndpointIDs=&utils.WEPIdentifiers{Namespace:"d"}"#,
            r#"time="2019-06-04T10:21:21+08:00" level=info msg="Calico CNI using IPs: [1.2.3.4/32]" Workload=default.x HandleID="h.abcdefabcdef" source="calico.go:1""#,
            "2016-02-11 21:36:54,412 16212 [7a4b3c2d1e0f] ERROR IPAM plugin error (rc=100): {\"code\": 1",
            "calico-k8s-network : error executing ADD",
        ];
        for line in lines {
            for end in 0..=line.len() {
                if let Some(prefix) = line.get(..end) {
                    let _ = parse_record(prefix, None);
                    let _ = parse(&Envelope::strip(prefix));
                }
            }
        }
        for junk in [
            "[",
            "[][",
            "[INFO][1] ",
            "[INFO][1] x.go 1:",
            "0",
            "1 [",
            "1 [x] INFO",
        ] {
            let _ = parse(&Envelope::strip(junk));
        }
    }

    #[test]
    fn every_extra_fixture_line_is_calico() {
        let fixture = include_str!("../../../fixtures/logs/extra/calico.log");
        for line in fixture.lines() {
            let f = parse_record(line, None).unwrap_or_else(|| panic!("not parsed: {line}"));
            assert_eq!(f.format, Some(Format::Calico), "{line}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_and_mutated_lines_do_not_panic(
            cut in 0usize..400,
            junk in "\\PC{0,40}",
            any in "\\PC{0,200}",
        ) {
            let seed = "[INFO][1] k8s.go 1: Calico CNI found existing endpoint: &{{WorkloadEndpoint v3} {a-k8s-b-eth0  d  1643de63-a84a-4636-a561-416f4541537c} Successfully claimed IPs: [10.0.0.1/26] ContainerID=\"ab\" HandleID=\"n.abcdefabcdef\" Workload=\"a.b\" error=x: y host=\"n\"";
            let at = (0..=cut.min(seed.len())).rev().find(|&i| seed.is_char_boundary(i)).unwrap_or(0);
            let mutated = format!("{}{junk}{}", &seed[..at], &seed[at..]);
            let _ = parse(&Envelope::strip(&mutated));
            let _ = parse(&Envelope::strip(&any));
            let _ = parse_record(&mutated, None);
        }
    }
}
