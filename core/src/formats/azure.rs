//! Azure CNI: the `azure-vnet` / `azure-vnet-ipam` plugins (and the libraries they log through)
//! as Go std-log text, `[pid] [component] message` once the `YYYY/MM/DD HH:MM:SS` time is
//! stripped, and as the zap JSON of newer releases (`"component":"cni"`, `"pid":N`).
//!
//! The facts sit in Go `%+v` dumps: the `skel.CmdArgs` struct with the network config as raw
//! JSON at its end, endpoint structs whose addresses carry hex netmasks (`Mask:ffff0000`), and
//! results with `err:<nil>`. Both often reach us cut off mid-struct.

use std::sync::LazyLock;

use memchr::memmem::Finder;

use crate::envelope::Envelope;
use crate::event::{Category, CniError, Format, Operation, Route, Severity};
use crate::facts::Facts;
use crate::text::{
    balanced_end, is_uuid, json_members, looks_like_ip, masked, member, phrase_positions,
    ByteSearch, JsonValue, PhraseSearch, TrimFast, Words,
};
use crate::time::parse_iso;

const FAMILY: &str = "azure-cni";

/// Routes kept from one record; a dump never has more in practice, and a corrupt one must not
/// make us allocate without bound.
const MAX_ROUTES: usize = 32;

pub(crate) fn parse(env: &Envelope<'_>) -> Option<Facts> {
    let body = env.body.trim_fast();
    match body.as_bytes().first()? {
        b'{' => parse_zap(body),
        b'[' => parse_text(body),
        _ => None,
    }
}

/// A phrase looked for in every Azure record. Building a substring searcher costs more than
/// searching one line, so each phrase's searcher is built once.
type Phrase = LazyLock<Finder<'static>>;

static COMPONENT_KEY: Phrase = LazyLock::new(|| Finder::new("\"component\":\""));
static TAGGED_MSG: Phrase = LazyLock::new(|| Finder::new("\"msg\":\"["));
static COMMAND_COMPLETED: Phrase = LazyLock::new(|| Finder::new(" command completed"));
static SLASH_CONF: Phrase = LazyLock::new(|| Finder::new("/conf/"));
static DOT_CONF: Phrase = LazyLock::new(|| Finder::new(".conf."));

/// `s` split around the first `phrase`, as `str::split_once` would.
fn split_at_phrase<'a>(s: &'a str, phrase: &Finder<'_>) -> Option<(&'a str, &'a str)> {
    let at = phrase.find(s.as_bytes())?;
    Some((s.get(..at)?, s.get(at + phrase.needle().len()..)?))
}

/// How surely a `[tag]` names Azure CNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    /// Only Azure writes it (`[cni-net]`, `[azure-vnet-ipam]`, `[Azure-Utils]`).
    Azure,
    /// A generic word Azure's libraries use (`[net]`, `[cni]`, `[ipam]`): ours only with a pid
    /// tag or Azure words around it.
    Generic,
}

fn tag_kind(tag: &str) -> Option<Tag> {
    const AZURE: [&str; 9] = [
        "cni-net",
        "cni-ipam",
        "cni-ipamv6",
        "azure-vnet",
        "azure-vnet-ipam",
        "azure-vnet-ipamv6",
        "azure-vnet-telemetry",
        "azure-utils",
        "azure-cns",
    ];
    const GENERIC: [&str; 8] = [
        "net",
        "cni",
        "ipam",
        "utils",
        "telemetry",
        "netlink",
        "cns",
        "platform",
    ];
    if AZURE.iter().any(|t| tag.eq_ignore_ascii_case(t)) {
        Some(Tag::Azure)
    } else if GENERIC.iter().any(|t| tag.eq_ignore_ascii_case(t)) {
        Some(Tag::Generic)
    } else {
        None
    }
}

/// The plugin binary a component tag belongs to.
fn plugin_of_tag(tag: &str) -> Option<&'static str> {
    // Compared without case and without a lowercased copy of the tag.
    const PLUGINS: [(&str, &str); 6] = [
        ("cni-net", "azure-vnet"),
        ("azure-vnet", "azure-vnet"),
        ("cni-ipam", "azure-vnet-ipam"),
        ("azure-vnet-ipam", "azure-vnet-ipam"),
        ("cni-ipamv6", "azure-vnet-ipamv6"),
        ("azure-vnet-ipamv6", "azure-vnet-ipamv6"),
    ];
    PLUGINS
        .iter()
        .find(|(t, _)| tag.eq_ignore_ascii_case(t))
        .map(|&(_, plugin)| plugin)
}

/// Words of Azure CNI lines that carry no component tag (`[78164] CNI_COMMAND ...`).
fn has_azure_words(text: &str) -> bool {
    static WORDS: Words = Words::new(&[
        "azure",
        "Azure",
        "azv",
        "CNI_COMMAND",
        "process lock",
        "telemetry service",
        "Number of endpoints",
        "setArpProxy",
        "Generate veth name",
        "Transparent client",
    ]);
    WORDS.any_in(text)
}

/// `[1234] rest` → (pid, rest).
fn pid_tag(s: &str) -> (Option<u32>, &str) {
    // At the first `]`, which must end the tag: a later `] ` would leave a `]` in it, which
    // the digit check rejects anyway.
    let Some((inner, rest)) = s
        .strip_prefix('[')
        .and_then(|r| r.split_once_byte(b']'))
        .and_then(|(inner, r)| Some((inner, r.strip_prefix(' ')?)))
    else {
        return (None, s);
    };
    if inner.is_empty() || inner.len() > 10 || !inner.bytes().all(|c| c.is_ascii_digit()) {
        return (None, s);
    }
    (inner.parse().ok(), rest)
}

/// `[cni-net] rest` → (tag, kind, rest) for a known tag.
fn component_tag(s: &str) -> Option<(&str, Tag, &str)> {
    let (inner, rest) = s.strip_prefix('[')?.split_once_byte(b']')?;
    let kind = tag_kind(inner)?;
    Some((inner, kind, rest.trim_start()))
}

fn parse_text(body: &str) -> Option<Facts> {
    let (pid, rest) = pid_tag(body);
    let (tag, text) = match component_tag(rest) {
        Some((tag, kind, text)) => {
            if kind == Tag::Generic && pid.is_none() && !has_azure_words(text) {
                return None;
            }
            (Some(tag), text)
        }
        None if pid.is_some() && has_azure_words(rest) => (None, rest),
        None => return None,
    };
    let mut f = start(tag);
    f.pid = pid;
    read_text(&mut f, text);
    finish(&mut f);
    Some(f)
}

/// A record with the message tag `tag`: the family, the tag, and the plugin binary the tag
/// names (which wins over the `type` of a config the record prints: the IPAM plugin logs the
/// main plugin's config). The tag is kept apart from the zap record's own `component`.
fn start(tag: Option<&str>) -> Facts {
    let mut f = Facts::new(Format::AzureCni);
    f.plugin = Some(FAMILY);
    if let Some(tag) = tag {
        f.attr("tag", tag);
        if let Some(plugin) = plugin_of_tag(tag) {
            Facts::set(&mut f.plugin_type, plugin);
        }
    }
    f
}

/// A command the IPAM plugin completed is an address allocation or release.
fn finish(f: &mut Facts) {
    let ipam = f
        .plugin_type
        .as_deref()
        .is_some_and(|t| t.starts_with("azure-vnet-ipam"));
    if ipam && f.category.is_none() && f.success.is_some() {
        f.category = match f.operation {
            Some(Operation::Add) => Some(Category::IpAllocation),
            Some(Operation::Del) => Some(Category::IpDeallocation),
            _ => None,
        };
    }
}

/// zap JSON: ours when its `component` is an Azure one or its `msg` starts with an Azure tag.
fn parse_zap(body: &str) -> Option<Facts> {
    let b = body.as_bytes();
    if COMPONENT_KEY.find(b).is_none() && TAGGED_MSG.find(b).is_none() {
        return None;
    }
    let members = json_members(body)?;
    let msg = member(&members, "msg").unwrap_or_default().trim_fast();
    let (msg_pid, rest) = pid_tag(msg);
    let tagged = component_tag(rest);
    let component = member(&members, "component");
    let azure_component = component.is_some_and(|c| {
        ["cni", "cns", "ipam", "net"]
            .iter()
            .any(|k| c.eq_ignore_ascii_case(k))
            || c.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("azure"))
    });
    if tagged.is_none() && !azure_component {
        return None;
    }
    let (tag, text) = match tagged {
        Some((tag, _, text)) => (Some(tag), text),
        None => (None, rest),
    };
    let mut f = start(tag);
    f.level = member(&members, "level").and_then(Severity::from_level);
    f.time = member(&members, "ts").and_then(parse_iso).map(|(t, _)| t);
    f.pid = member(&members, "pid")
        .and_then(|p| p.trim_fast().parse().ok())
        .or(msg_pid);
    if let Some(caller) = member(&members, "caller") {
        f.attr("caller", caller);
    }
    // The zap fields first: their `error` is the error, not the message text.
    read_zap_fields(&mut f, &members);
    read_text(&mut f, text);
    finish(&mut f);
    if let Some(c) = component {
        f.attr("component", c);
    }
    Some(f)
}

/// The zap fields of the plugins' structured lines, in the spellings the releases used
/// (`containerId` / `ContainerId`, `netNS` / `Netns`, ...).
fn read_zap_fields(f: &mut Facts, members: &[(std::borrow::Cow<'_, str>, JsonValue<'_>)]) {
    let get = |key: &str| {
        members
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    };
    if let Some(v) = get("network") {
        Facts::set(&mut f.network_name, v);
    }
    if let Some(v) = get("subnet").filter(|v| looks_like_ip(v)) {
        Facts::set(&mut f.subnet, v);
    }
    if let Some(v) = get("containerId") {
        Facts::set(&mut f.container_id, v);
    }
    if let Some(v) = get("netNS") {
        Facts::set(&mut f.netns, v);
    }
    if let Some(v) = get("ifName") {
        Facts::set(&mut f.if_name, v);
    }
    if let Some(v) = get("podName").or_else(|| get("pod")) {
        Facts::set(&mut f.pod_name, v);
    }
    if let Some(v) = get("podNamespace") {
        Facts::set(&mut f.namespace, v);
    }
    if let Some(v) = get("args") {
        f.read_cni_args(v);
    }
    if let Some(v) = get("stdinData") {
        read_net_conf(f, v);
    }
    if let Some(v) = get("error").filter(|e| *e != "<nil>" && *e != "null") {
        set_error_chain(f, v);
    }
}

/// Reads one message (after the pid and component tags).
fn read_text(f: &mut Facts, text: &str) {
    let text = text.trim_fast();
    Facts::set(&mut f.message, text);
    if let Some(rest) = text.strip_prefix("Plugin ") {
        // `Plugin azure-vnet version v1.0.11.`: printed on every run, not the VERSION command.
        if let Some((name, version)) = rest.split_once_str(" version ") {
            Facts::set(&mut f.plugin_type, name);
            f.attr("version", version.trim_fast().trim_end_matches('.'));
        }
    } else if let Some(rest) = text.strip_prefix("Processing ") {
        let (op, args) = rest.split_once_str(" command").unwrap_or((rest, ""));
        f.operation = Operation::from_word(op);
        if let Some(args) = args.strip_prefix(" with args ") {
            read_cmd_args(f, args);
        }
    } else if let Some(op) = text.strip_prefix("CNI_COMMAND environment variable set to ") {
        f.operation = Operation::from_word(op.trim_fast());
    } else if let Some((op, rest)) = split_at_phrase(text, &COMMAND_COMPLETED)
        .and_then(|(op, rest)| Operation::from_word(op).map(|op| (op, rest)))
    {
        f.operation = Some(op);
        read_completion(f, rest);
    } else if let Some(rest) = text.strip_prefix("Found network ") {
        // `Found network azure with subnet 10.224.0.0/16.` (zap: `Found network with subnet`)
        let (name, subnet) = rest.split_once_str("with subnet").unwrap_or((rest, ""));
        Facts::set(&mut f.network_name, name);
        let subnet = subnet.trim_fast().trim_end_matches('.');
        if looks_like_ip(subnet) {
            Facts::set(&mut f.subnet, subnet);
        }
    } else if let Some(dump) = text.strip_prefix("Created endpoint ") {
        // One step of the ADD, not its completion (`ADD command completed` reports that).
        f.category = Some(Category::InterfaceSetup);
        f.success = Some(true);
        read_endpoint(f, dump, false);
    } else if let Some(rest) = text.strip_prefix("Creating endpoint ") {
        f.category = Some(Category::InterfaceSetup);
        read_endpoint(f, rest, true);
    } else if let Some(rest) = text.strip_prefix("Creating veth pair ") {
        f.category = Some(Category::InterfaceSetup);
        read_veth_pair(f, rest);
    } else if let Some(rest) = text.strip_prefix("Deleting veth pair ") {
        f.category = Some(Category::InterfaceTeardown);
        read_veth_pair(f, rest);
    } else if text.starts_with("Deleting endpoint") || text.starts_with("Deleted endpoint") {
        f.category = Some(Category::InterfaceTeardown);
    } else if text.starts_with("Failed to ") {
        read_failure(f, text);
    } else if let Some(addr) = text
        .strip_prefix("Allocated address ")
        .or_else(|| text.strip_prefix("Address request completed with address:"))
    {
        f.category = Some(Category::IpAllocation);
        f.success = Some(true);
        add_address(f, addr);
    } else if let Some(addr) = text.strip_prefix("Released address ") {
        f.category = Some(Category::IpDeallocation);
        f.success = Some(true);
        add_address(f, addr);
    } else if let Some(rest) = text.strip_prefix("Releasing address with address:") {
        f.category = Some(Category::IpDeallocation);
        add_address(f, rest);
    } else if let Some(name) = sysctl_interface(text) {
        Facts::set(&mut f.host_interface, name);
    }
}

/// The Azure veth a kernel setting is written for: `echo 1 > /proc/sys/net/ipv4/conf/<if>/proxy_arp`
/// or `sysctl -w net.ipv6.conf.<if>.accept_ra=0`; other interfaces (`all`, `eth0`) are not the
/// pod's.
fn sysctl_interface(text: &str) -> Option<&str> {
    let (_, rest) =
        split_at_phrase(text, &SLASH_CONF).or_else(|| split_at_phrase(text, &DOT_CONF))?;
    let name = rest.before_any_byte(b"/. =");
    is_host_veth(name).then_some(name)
}

/// `<host veth> <container end>`: the container end is the temporary `azv...2` name while the
/// pair is created, the CNI interface name (`eth0`) once it sits in the pod.
fn read_veth_pair(f: &mut Facts, rest: &str) {
    let mut words = rest.split_whitespace().map(|w| w.trim_end_matches('.'));
    if let Some(host) = words.next() {
        Facts::set(&mut f.host_interface, host);
    }
    match words.next() {
        Some(w) if is_host_veth(w) => f.attr("container_veth", w),
        Some(w) => Facts::set(&mut f.if_name, w),
        None => {}
    }
}

/// `Failed to <step>: <error>.`, where the error may be another `Failed to <step>: ...`.
fn read_failure(f: &mut Facts, text: &str) {
    set_error_chain(f, text);
    let steps: Vec<&str> = text
        .trim_end_matches('.')
        .split(": ")
        .take_while(|s| s.starts_with("Failed to "))
        .collect();
    let says = |w: &str| steps.iter().any(|s| s.contains(w));
    let (category, interface) = if says("allocate address") || says("allocate pool") {
        (Category::IpAllocation, false)
    } else if says("release address") || says("release pool") {
        (Category::IpDeallocation, false)
    } else if says("delete veth") || says("delete endpoint") {
        (Category::InterfaceTeardown, true)
    } else if says("create veth") || says("create endpoint") {
        (Category::InterfaceSetup, true)
    } else {
        return;
    };
    f.category = Some(category);
    f.success = Some(false);
    if interface {
        let veth = steps
            .iter()
            .flat_map(|s| s.split_byte(b' '))
            .find(|w| is_host_veth(w));
        if let Some(name) = veth {
            Facts::set(&mut f.host_interface, name);
        }
    }
}

/// An error chain `Failed to delegate: Failed to allocate address: No available addresses.`:
/// the innermost message is the error, the whole chain its details. A layer that names its
/// object (`Failed to create veth pair azv7a8b9c0d1e2: file exists`) stays in the error: the
/// name is what an operator needs.
fn set_error_chain(f: &mut Facts, text: &str) {
    let full = text.trim_fast().trim_end_matches('.').trim_fast();
    let mut inner = full;
    while let Some((head, rest)) = inner.split_once_str(": ") {
        if !head.starts_with("Failed to ") || names_object(head) || rest.trim_fast().is_empty() {
            break;
        }
        inner = rest.trim_fast();
    }
    if f.error.is_none() && !inner.is_empty() {
        f.error = Some(CniError {
            code: None,
            msg: inner.to_owned(),
            details: (inner != full).then(|| full.to_owned()),
        });
    }
}

/// Whether a `Failed to <step>` layer names the object it failed on (a veth, an endpoint id, an
/// address): a word with a digit, where the generic wrappers (`Failed to delegate`,
/// `Failed to allocate pool`, `... for IPv6`) have none.
fn names_object(head: &str) -> bool {
    head.split_byte(b' ').skip(2).any(|w| {
        let family = ["IPv4", "IPv6", "v4", "v6"]
            .iter()
            .any(|f| w.eq_ignore_ascii_case(f));
        !family && w.bytes().any(|c| c.is_ascii_digit())
    })
}

/// Azure's host-side veth names: `azv<hash>` (older `azveth<hash>`).
fn is_host_veth(name: &str) -> bool {
    name.starts_with("azv") && name.len() > 3 && name.bytes().all(|c| c.is_ascii_alphanumeric())
}

fn add_address(f: &mut Facts, s: &str) {
    let addr = s.split_whitespace().next().unwrap_or_default();
    let addr = addr.trim_end_matches(['.', ',']);
    if looks_like_ip(addr) {
        f.add_ip(addr);
    }
}

/// ` with result:<dump> err:<nil>.` / ` for pod nginx with IPs:[...] err:<nil>.` / ` with err:..`
fn read_completion(f: &mut Facts, rest: &str) {
    if let Some(pod) = rest
        .strip_prefix(" for pod ")
        .and_then(|r| r.split_whitespace().next())
    {
        Facts::set(&mut f.pod_name, pod);
    }
    let (result, err) = match rest.find_str("err:") {
        Some(at) => (rest.get(..at).unwrap_or(rest), rest.get(at + 4..)),
        None => (rest, None),
    };
    read_masked_ips(f, result);
    if let Some(gw) = go_value(result, "Gateway").filter(|g| is_gateway(g)) {
        Facts::set(&mut f.gateway, gw);
    }
    if let Some(v) = go_value(result, "CNIVersion") {
        Facts::set(&mut f.cni_version, v);
    }
    read_dns(f, result);
    let Some(err) = err else {
        return;
    };
    let err = err.trim_fast().trim_end_matches('.').trim_fast();
    if err == "<nil>" {
        f.success = Some(true);
    } else if !err.is_empty() {
        f.success = Some(false);
        set_error_chain(f, err);
    }
}

/// The Go `%+v` of `skel.CmdArgs`: `{ContainerID:.. Netns:.. IfName:.. Args:.. Path:..
/// StdinData:{json}}`, with `}.` after it; the record may be cut off anywhere.
fn read_cmd_args(f: &mut Facts, s: &str) {
    const KEYS: [&str; 5] = ["ContainerID:", "Netns:", "IfName:", "Args:", "Path:"];
    let s = s.strip_prefix('{').unwrap_or(s);
    // The config JSON comes last; no key is looked for inside it.
    let (head, stdin) = match s.find_str(" StdinData:") {
        Some(at) => (s.get(..at).unwrap_or(s), s.get(at + " StdinData:".len()..)),
        None => (s, None),
    };
    let closed = stdin.is_some() || head.trim_end().trim_end_matches('.').ends_with('}');
    let mut found: Vec<(usize, &str)> = KEYS
        .iter()
        .filter_map(|k| key_at(head, k).map(|at| (at, *k)))
        .collect();
    found.sort_unstable();
    for (i, &(at, key)) in found.iter().enumerate() {
        let start = at + key.len();
        let next = found.get(i + 1).map_or(head.len(), |&(n, _)| n);
        let mut value = head.get(start..next).unwrap_or_default().trim_fast();
        let last = i + 1 == found.len();
        if last && stdin.is_none() {
            value = value.trim_end_matches('.');
            value = value.strip_suffix('}').unwrap_or(value);
        }
        match key {
            "ContainerID:" => Facts::set(&mut f.container_id, value),
            "Netns:" => Facts::set(&mut f.netns, value),
            "IfName:" => Facts::set(&mut f.if_name, value),
            "Args:" => {
                // Cut off inside Args: its last value may be incomplete, so it is dropped.
                let value = if last && !closed {
                    value.rsplit_once_byte(b';').map_or("", |(done, _)| done)
                } else {
                    value
                };
                f.read_cni_args(value);
            }
            _ => {}
        }
    }
    if let Some(json) = stdin {
        let json = json.trim_start();
        let end = balanced_end(json.as_bytes(), 0);
        read_net_conf(f, json.get(..end).unwrap_or(json));
    }
}

/// Where `key` starts in `s` as a struct field (at the start or after a space).
fn key_at(s: &str, key: &str) -> Option<usize> {
    let b = s.as_bytes();
    phrase_positions(s, key).find(|&at| at == 0 || matches!(b[at - 1], b' ' | b'{'))
}

/// The network config JSON: name, version, plugin type, and its `ipam` section.
fn read_net_conf(f: &mut Facts, json: &str) {
    let Some(members) = json_members(json) else {
        return;
    };
    if let Some(v) = member(&members, "name") {
        Facts::set(&mut f.network_name, v);
    }
    if let Some(v) = member(&members, "cniVersion") {
        Facts::set(&mut f.cni_version, v);
    }
    if let Some(v) = member(&members, "type") {
        Facts::set(&mut f.plugin_type, v);
    }
    if let Some(v) = member(&members, "mode") {
        f.attr("mode", v);
    }
    let ipam = members
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("ipam"))
        .and_then(|(_, v)| json_members(v.as_str()));
    let Some(ipam) = ipam else {
        return;
    };
    if let Some(v) = member(&ipam, "type") {
        f.attr("ipam_type", v);
    }
    if let Some(v) = member(&ipam, "subnet").filter(|v| looks_like_ip(v)) {
        Facts::set(&mut f.subnet, v);
    }
    // The address the IPAM plugin is asked to reserve or release: the pod's own.
    if let Some(v) = member(&ipam, "ipAddress").filter(|v| looks_like_ip(v)) {
        f.add_ip(v);
    }
}

/// An endpoint: the `%+v` of `network.endpoint` after `Created endpoint &`, or the field list
/// after `Creating endpoint` (where `IfName` is the CNI interface and `IPAddrs:[{ip mask}]`).
fn read_endpoint(f: &mut Facts, s: &str, creating: bool) {
    if let Some(v) = go_value(s, "ContainerID") {
        Facts::set(&mut f.container_id, v);
    }
    if let Some(v) = go_value(s, "Id") {
        f.attr("endpoint_id", v);
        // Azure names a Linux endpoint `<containerID[:8]>-<ifName>`.
        if let Some((prefix, ifname)) = endpoint_id_parts(v) {
            Facts::set(&mut f.container_id, prefix);
            Facts::set(&mut f.if_name, ifname);
        }
    }
    if let Some(v) = go_value(s, "NetworkNameSpace").or_else(|| go_value(s, "NetNsPath")) {
        Facts::set(&mut f.netns, v);
    }
    if let Some(v) = go_value(s, "HostIfName") {
        Facts::set(&mut f.host_interface, v);
    }
    if let Some(v) = go_value(s, "MacAddress") {
        Facts::set(&mut f.mac, v);
    }
    if let Some(v) = go_value(s, "PODName") {
        Facts::set(&mut f.pod_name, v);
    }
    if let Some(v) = go_value(s, "PODNameSpace") {
        Facts::set(&mut f.namespace, v);
    }
    if let Some(v) = go_value(s, "IfName") {
        if creating {
            Facts::set(&mut f.if_name, v);
        } else {
            // The container end before it is renamed to the CNI interface name.
            f.attr("container_veth", v);
        }
    }
    read_masked_ips(f, s);
    read_dns(f, s);
    if let Some(list) = s.find_str("IPAddrs:[").and_then(|at| s.get(at + 9..)) {
        let list = list.before_byte(b']');
        for item in list.split_byte(b'{').skip(1) {
            let item = item.before_byte(b'}');
            let (ip, mask) = item.split_once_byte(b' ').unwrap_or((item, ""));
            add_masked(f, ip, mask);
        }
    }
}

/// `9ac1b7e2-eth0` → (`9ac1b7e2`, `eth0`): the container id prefix and the interface of an
/// endpoint id; a GUID (Windows HNS) or any other shape says neither.
fn endpoint_id_parts(id: &str) -> Option<(&str, &str)> {
    if is_uuid(id) {
        return None;
    }
    let (prefix, ifname) = id.split_once_byte(b'-')?;
    let ok = prefix.len() == 8
        && prefix.bytes().all(|c| c.is_ascii_alphanumeric())
        && !ifname.is_empty()
        && ifname.len() <= 15
        && ifname
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    ok.then_some((prefix, ifname))
}

/// The DNS settings of a result (`DNS:{Nameservers:[..] Domain: Search:[] Options:[]}`) or an
/// endpoint (`DNS:{Suffix: Servers:[..] Options:[]}`), as the CNI result's `dns` object; empty
/// settings state nothing.
fn read_dns(f: &mut Facts, s: &str) {
    let Some(body) = s
        .find_str("DNS:{")
        .and_then(|at| s.get(at + 5..))
        .map(|r| r.before_byte(b'}'))
    else {
        return;
    };
    let list = |key: &str| -> Vec<serde_json::Value> {
        let Some(at) = key_at(body, key) else {
            return Vec::new();
        };
        let rest = body.get(at + key.len()..).unwrap_or_default();
        let Some(items) = rest.strip_prefix('[') else {
            return Vec::new();
        };
        let items = items.before_byte(b']');
        items
            .split_whitespace()
            .take(MAX_ROUTES)
            .map(|v| serde_json::Value::String(v.to_owned()))
            .collect()
    };
    let mut dns = serde_json::Map::new();
    let servers = [list("Nameservers:"), list("Servers:")].concat();
    if !servers.is_empty() {
        dns.insert("nameservers".to_owned(), servers.into());
    }
    if let Some(d) = go_value(body, "Domain").or_else(|| go_value(body, "Suffix")) {
        dns.insert("domain".to_owned(), d.into());
    }
    for (key, name) in [("Search:", "search"), ("Options:", "options")] {
        let items = list(key);
        if !items.is_empty() {
            dns.insert(name.to_owned(), items.into());
        }
    }
    if f.dns.is_none() && !dns.is_empty() {
        f.dns = Some(serde_json::Value::Object(dns));
    }
}

/// `{IP:10.244.0.84 Mask:ffff0000}` items: pod addresses, or route destinations after `Dst:`
/// (with the route's `Gw:`/`GW:`).
fn read_masked_ips(f: &mut Facts, s: &str) {
    const ITEM: &str = "{IP:";
    for at in phrase_positions(s, ITEM) {
        let from = at + ITEM.len();
        let rest = s.get(from..).unwrap_or_default();
        let end = rest.find_byte(b'}').unwrap_or(rest.len());
        let item = rest.get(..end).unwrap_or_default();
        let (ip, mask) = item.split_once_str(" Mask:").unwrap_or((item, ""));
        let before = s.get(..at).unwrap_or_default();
        if before.ends_with("Dst:") {
            let Some(destination) = masked(ip, mask) else {
                continue;
            };
            let after = rest.get(end..).unwrap_or_default();
            let route_part = after.get(..after.find_str("Dst:").unwrap_or(after.len()));
            let gateway = route_part
                .and_then(|r| go_value(r, "Gw").or_else(|| go_value(r, "GW")))
                .filter(|g| looks_like_ip(g))
                .map(str::to_owned);
            if f.routes.len() < MAX_ROUTES {
                f.routes.push(Route {
                    destination,
                    gateway,
                });
            }
        } else if before.ends_with("VnetIP:") || before.ends_with("Src:") {
            continue;
        } else {
            add_masked(f, ip, mask);
        }
    }
}

fn add_masked(f: &mut Facts, ip: &str, mask: &str) {
    if let Some(cidr) = masked(ip, mask) {
        f.add_ip(&cidr);
    }
}

/// The value of `Key:value` in a Go `%+v` dump (up to a space, `}` or `]`); empty, `<nil>` and
/// nested values state nothing here.
fn go_value<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let b = s.as_bytes();
    for at in phrase_positions(s, key) {
        let from = at + key.len();
        let boundary = at == 0 || matches!(b[at - 1], b' ' | b'{' | b'&');
        if !boundary || b.get(from) != Some(&b':') {
            continue;
        }
        let rest = s.get(from + 1..)?;
        let end = rest.find_any_byte(b" }]").unwrap_or(rest.len());
        let v = rest.get(..end)?;
        return (!v.is_empty() && v != "<nil>" && !v.starts_with(['{', '['])).then_some(v);
    }
    None
}

/// A gateway worth reporting: an address, not the unspecified one plugins print for "none".
fn is_gateway(g: &str) -> bool {
    looks_like_ip(g) && g != "0.0.0.0" && g != "::"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::parse_record;

    /// What a line must yield; `None` / empty means "states nothing".
    #[derive(Default)]
    struct Want {
        op: Option<Operation>,
        category: Option<Category>,
        success: Option<bool>,
        level: Option<Severity>,
        pid: Option<u32>,
        container: Option<&'static str>,
        pod: Option<&'static str>,
        namespace: Option<&'static str>,
        netns: Option<&'static str>,
        if_name: Option<&'static str>,
        host_interface: Option<&'static str>,
        mac: Option<&'static str>,
        ips: &'static [&'static str],
        subnet: Option<&'static str>,
        gateway: Option<&'static str>,
        routes: &'static [(&'static str, Option<&'static str>)],
        network: Option<&'static str>,
        cni_version: Option<&'static str>,
        plugin_type: Option<&'static str>,
        error: Option<&'static str>,
        /// The `dns` object as JSON text.
        dns: Option<&'static str>,
        attrs: &'static [(&'static str, &'static str)],
    }

    fn check(line: &str, w: Want) {
        let f = parse_record(line, None).unwrap_or_else(|| panic!("not claimed: {line}"));
        let s = |o: &Option<String>| o.clone();
        let o = |v: Option<&str>| v.map(str::to_owned);
        assert_eq!(f.format, Some(Format::AzureCni), "{line}");
        assert_eq!(f.plugin, Some(FAMILY), "{line}");
        assert_eq!(f.operation, w.op, "operation: {line}");
        assert_eq!(f.category, w.category, "category: {line}");
        assert_eq!(f.success, w.success, "success: {line}");
        assert_eq!(f.level, w.level, "level: {line}");
        assert_eq!(f.pid, w.pid, "pid: {line}");
        assert_eq!(s(&f.container_id), o(w.container), "container: {line}");
        assert_eq!(s(&f.pod_name), o(w.pod), "pod: {line}");
        assert_eq!(s(&f.namespace), o(w.namespace), "namespace: {line}");
        assert_eq!(s(&f.netns), o(w.netns), "netns: {line}");
        assert_eq!(s(&f.if_name), o(w.if_name), "if_name: {line}");
        assert_eq!(s(&f.host_interface), o(w.host_interface), "host if: {line}");
        assert_eq!(s(&f.mac), o(w.mac), "mac: {line}");
        assert_eq!(f.ips, w.ips.to_vec(), "ips: {line}");
        assert_eq!(s(&f.subnet), o(w.subnet), "subnet: {line}");
        assert_eq!(s(&f.gateway), o(w.gateway), "gateway: {line}");
        let routes: Vec<(String, Option<String>)> = f
            .routes
            .iter()
            .map(|r| (r.destination.clone(), r.gateway.clone()))
            .collect();
        let want: Vec<(String, Option<String>)> = w
            .routes
            .iter()
            .map(|(d, g)| ((*d).to_owned(), g.map(str::to_owned)))
            .collect();
        assert_eq!(routes, want, "routes: {line}");
        assert_eq!(s(&f.network_name), o(w.network), "network: {line}");
        assert_eq!(s(&f.cni_version), o(w.cni_version), "cni_version: {line}");
        assert_eq!(s(&f.plugin_type), o(w.plugin_type), "plugin_type: {line}");
        assert_eq!(
            f.error.as_ref().map(|e| e.msg.as_str()),
            w.error,
            "error: {line}"
        );
        let dns = w
            .dns
            .map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap());
        assert_eq!(f.dns, dns, "dns: {line}");
        for (k, v) in w.attrs {
            assert_eq!(
                f.attributes.get(*k).map(String::as_str),
                Some(*v),
                "{k}: {line}"
            );
        }
        assert!(f.message.is_some(), "message: {line}");
    }

    #[test]
    fn corpus_cmd_args_lines() {
        let id = "f363b81299c8676e0e5b491b05e31649d39ebb07b076864b7ace76064e2e300c";
        check(
            "2017/09/30 14:34:58 [cni-net] Processing DEL command with args {ContainerID:f363b81299c8676e0e5b491b05e31649d39ebb07b076864b7ace76064e2e300c Netns: IfName:eth0 Args:IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=yyy-1506541740-fms3c;K8S_POD_INFRA_CONTAINER_ID=f363b81299c8676e0e5b491b05e31649d39ebb07b076864b7ace76064e2e300c Path:/opt/azure-vnet/bin:/opt/cni/bin}.",
            Want {
                op: Some(Operation::Del),
                container: Some(id),
                pod: Some("yyy-1506541740-fms3c"),
                namespace: Some("default"),
                if_name: Some("eth0"),
                plugin_type: Some("azure-vnet"),
                attrs: &[("tag", "cni-net")],
                ..Want::default()
            },
        );
        // Cut off inside Args: the cut namespace value `defau` is not a fact.
        check(
            "2018/07/03 13:34:26 [cni-net] Processing ADD command with args {ContainerID:ea3e124f36f75d0eb692b6803f3970242a106c609b125a6b12f82aa92f82fa64 Netns:container:d0946d958d3d524c0317eaf486d645161cff4c93740b430f6ad2aa09fbc9bd79 IfName:eth0 Args:IgnoreUnknown=1;K8S_POD_NAMESPACE=defau",
            Want {
                op: Some(Operation::Add),
                container: Some("ea3e124f36f75d0eb692b6803f3970242a106c609b125a6b12f82aa92f82fa64"),
                netns: Some("container:d0946d958d3d524c0317eaf486d645161cff4c93740b430f6ad2aa09fbc9bd79"),
                if_name: Some("eth0"),
                plugin_type: Some("azure-vnet"),
                ..Want::default()
            },
        );
        check(
            r#"2020/07/29 16:03:27 [3057] [cni-ipam] Processing DEL command with args {ContainerID:50db5922fada75ffba532e36988dfab7b777bdad1879233257cb7cd8a7f741df Netns:netnspath IfName:eth0 Args:K8S_POD_NAMESPACE=default;K8S_POD_NAME=nginx2 Path:/opt/cni/bin StdinData:{"cniVersion":"0.3.0","name":"azure","type":"azure-vnet","mode":"bridge","master":"","bridge":"azure0","ipsToRouteViaHost":["169.254.20.10"],"Ipam":{"type":"azure-vnet-ipam","subnet":"172.16.0.0/26","ipAddress":"172.16.0.6"},"dns":{},"runtimeConfig":{"dns":{}},"AdditionalArgs":null}}."#,
            Want {
                op: Some(Operation::Del),
                pid: Some(3057),
                container: Some("50db5922fada75ffba532e36988dfab7b777bdad1879233257cb7cd8a7f741df"),
                pod: Some("nginx2"),
                namespace: Some("default"),
                netns: Some("netnspath"),
                if_name: Some("eth0"),
                ips: &["172.16.0.6"],
                subnet: Some("172.16.0.0/26"),
                network: Some("azure"),
                cni_version: Some("0.3.0"),
                plugin_type: Some("azure-vnet-ipam"),
                attrs: &[("tag", "cni-ipam"), ("ipam_type", "azure-vnet-ipam")],
                ..Want::default()
            },
        );
        check(
            "2020/10/22 17:48:47 [1920] [cni-net] Processing ADD command with args {ContainerID:6ad647ea8218c1a666b10706209708fd2b9ac846fd7e7f4d1106a379da65bad8 Netns:none IfName:eth0",
            Want {
                op: Some(Operation::Add),
                pid: Some(1920),
                container: Some("6ad647ea8218c1a666b10706209708fd2b9ac846fd7e7f4d1106a379da65bad8"),
                netns: Some("none"),
                if_name: Some("eth0"),
                plugin_type: Some("azure-vnet"),
                ..Want::default()
            },
        );
        check(
            "2022/04/27 21:46:02 [78164] CNI_COMMAND environment variable set to DEL",
            Want {
                op: Some(Operation::Del),
                pid: Some(78164),
                ..Want::default()
            },
        );
    }

    #[test]
    fn corpus_failures_banner_and_state() {
        check(
            "2017/09/24 16:16:56 [net] Failed to delete veth pair azvethc62015c: route ip+net: no such network interface.",
            Want {
                category: Some(Category::InterfaceTeardown),
                success: Some(false),
                host_interface: Some("azvethc62015c"),
                // The layer names the veth: it stays in the error.
                error: Some("Failed to delete veth pair azvethc62015c: route ip+net: no such network interface"),
                attrs: &[("tag", "net")],
                ..Want::default()
            },
        );
        check(
            "2019/04/13 05:11:08 [cni-net] Plugin azure-vnet version v1.0.11.",
            Want {
                plugin_type: Some("azure-vnet"),
                attrs: &[("version", "v1.0.11")],
                ..Want::default()
            },
        );
        check(
            "2018/06/26 08:12:25 [azure-vnet-ipam] Failed to allocate address: No available addresses.",
            Want {
                category: Some(Category::IpAllocation),
                success: Some(false),
                plugin_type: Some("azure-vnet-ipam"),
                error: Some("No available addresses"),
                ..Want::default()
            },
        );
        check(
            "2023/08/11 02:14:30 [299160] [net] Restored state",
            Want {
                pid: Some(299160),
                attrs: &[("tag", "net")],
                ..Want::default()
            },
        );
        check(
            "2023/09/11 14:17:30 [9460] [Azure-Utils] echo 1 > /proc/sys/net/ipv4/conf/azv2b28bcafcfb/proxy_arp",
            Want {
                pid: Some(9460),
                host_interface: Some("azv2b28bcafcfb"),
                attrs: &[("tag", "Azure-Utils")],
                ..Want::default()
            },
        );
        let f = parse_record(
            "2019/04/13 05:11:08 [cni-net] Plugin azure-vnet version v1.0.11.",
            None,
        )
        .unwrap();
        assert!(f.time.is_some());
    }

    #[test]
    fn corpus_zap_and_endpoint_dump() {
        check(
            r#"{"level":"info","ts":"2023-08-15T20:44:48.780Z","msg":"[cni-net] Found network with subnet","pid":3139991,"component":"cni","network":"azure","subnet":"10.244.0.0/16"}"#,
            Want {
                level: Some(Severity::Info),
                pid: Some(3139991),
                subnet: Some("10.244.0.0/16"),
                network: Some("azure"),
                plugin_type: Some("azure-vnet"),
                // The record's own component; the message's `[cni-net]` is its tag.
                attrs: &[("component", "cni"), ("tag", "cni-net")],
                ..Want::default()
            },
        );
        check(
            "2023/08/15 20:44:48 [3139991] [net] Created endpoint &{Id:9ac1b7e2-eth0 HnsId: SandboxKey: IfName:azvf1dc55168972 HostIfName:azvf1dc5516897 MacAddress:3e:1f:c8:7e:8b:14 InfraVnetIP:{IP:<nil> Mask:<nil>} LocalIP: IPAddresses:[{IP:10.244.0.84 Mask:ffff0000} {IP:fd9a:2e13:4857:dd28::18 Mask:ffffffffffffffff0000000000000000}] Gateways:[0.0.0.0] DNS:{Suffix: Servers:[] Options:[]} Routes:[{Dst:{IP:0.0.0.0 Mask:00000000} Src:<nil> Gw:169.254.1.1 Protocol:0 DevName: Scope:0 Priority:0 Table:0}] VlanID:0 EnableSnatOn",
            // A step of the ADD, not its completion; the endpoint id is `<containerID[:8]>-<if>`.
            Want {
                category: Some(Category::InterfaceSetup),
                success: Some(true),
                pid: Some(3139991),
                container: Some("9ac1b7e2"),
                if_name: Some("eth0"),
                host_interface: Some("azvf1dc5516897"),
                mac: Some("3e:1f:c8:7e:8b:14"),
                ips: &["10.244.0.84/16", "fd9a:2e13:4857:dd28::18/64"],
                routes: &[("0.0.0.0/0", Some("169.254.1.1"))],
                attrs: &[("endpoint_id", "9ac1b7e2-eth0"), ("container_veth", "azvf1dc55168972")],
                ..Want::default()
            },
        );
    }

    #[test]
    fn extra_fixture_lines() {
        let lines: Vec<&str> = include_str!("../../../fixtures/logs/extra/azure-cni.log")
            .lines()
            .collect();
        for line in &lines {
            assert!(parse_record(line, None).is_some(), "not claimed: {line}");
        }
        let id = "c81f0a2e4b6d8f1a3c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a";
        let netns = "/var/run/netns/cni-5e7a9c1b-3d5f-4a7c-8e0b-2d4f6a8c0e1b";
        check(
            lines[0],
            Want {
                op: Some(Operation::Add),
                pid: Some(4711),
                container: Some(id),
                pod: Some("cart-6b7f9d8c5-h2x4p"),
                namespace: Some("shop"),
                netns: Some(netns),
                if_name: Some("eth0"),
                network: Some("azure"),
                cni_version: Some("0.3.0"),
                plugin_type: Some("azure-vnet"),
                attrs: &[("ipam_type", "azure-vnet-ipam"), ("mode", "transparent")],
                ..Want::default()
            },
        );
        check(
            lines[2],
            Want {
                pid: Some(4711),
                ..Want::default()
            },
        );
        check(
            lines[6],
            Want {
                op: Some(Operation::Add),
                category: Some(Category::IpAllocation),
                success: Some(true),
                pid: Some(4733),
                ips: &["10.224.0.58/16"],
                gateway: Some("10.224.0.1"),
                routes: &[("0.0.0.0/0", Some("10.224.0.1"))],
                cni_version: Some("1.0.0"),
                plugin_type: Some("azure-vnet-ipam"),
                dns: Some(r#"{"nameservers":["168.63.129.16"]}"#),
                ..Want::default()
            },
        );
        check(
            lines[9],
            Want {
                category: Some(Category::InterfaceSetup),
                success: Some(true),
                pid: Some(4711),
                container: Some(id),
                if_name: Some("eth0"),
                dns: Some(r#"{"nameservers":["168.63.129.16"]}"#),
                pod: Some("cart-6b7f9d8c5-h2x4p"),
                namespace: Some("shop"),
                netns: Some(netns),
                host_interface: Some("azv3f1c2b7d9e0"),
                mac: Some("5a:61:0e:2b:9c:d4"),
                ips: &["10.224.0.58/16"],
                routes: &[("0.0.0.0/0", Some("10.224.0.1"))],
                ..Want::default()
            },
        );
        check(
            lines[11],
            Want {
                op: Some(Operation::Del),
                success: Some(true),
                pid: Some(5120),
                pod: Some("cart-6b7f9d8c5-h2x4p"),
                plugin_type: Some("azure-vnet"),
                ..Want::default()
            },
        );
        check(
            lines[13],
            Want {
                op: Some(Operation::Del),
                category: Some(Category::IpDeallocation),
                success: Some(true),
                pid: Some(5131),
                plugin_type: Some("azure-vnet-ipam"),
                ..Want::default()
            },
        );
        check(
            lines[15],
            Want {
                op: Some(Operation::Add),
                level: Some(Severity::Info),
                pid: Some(8812),
                container: Some("e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b1d3f5a7c9e2b4"),
                pod: Some("etl-worker-0"),
                namespace: Some("analytics"),
                netns: Some("/var/run/netns/cni-0b1d3f5a-7c9e-4b4d-8f8a-0c1e3b5d7f9a"),
                if_name: Some("eth0"),
                network: Some("azure"),
                cni_version: Some("0.3.0"),
                plugin_type: Some("azure-vnet"),
                attrs: &[("component", "cni"), ("ipam_type", "azure-cns")],
                ..Want::default()
            },
        );
        check(
            lines[7],
            Want {
                category: Some(Category::InterfaceSetup),
                pid: Some(4711),
                host_interface: Some("azv3f1c2b7d9e0"),
                attrs: &[("container_veth", "azv3f1c2b7d9e02"), ("tag", "net")],
                ..Want::default()
            },
        );
        check(
            lines[8],
            Want {
                pid: Some(4711),
                host_interface: Some("azv3f1c2b7d9e0"),
                ..Want::default()
            },
        );
        check(
            lines[10],
            Want {
                op: Some(Operation::Add),
                success: Some(true),
                pid: Some(4711),
                pod: Some("cart-6b7f9d8c5-h2x4p"),
                ips: &["10.224.0.58/16"],
                gateway: Some("10.224.0.1"),
                plugin_type: Some("azure-vnet"),
                ..Want::default()
            },
        );
        check(
            lines[12],
            Want {
                category: Some(Category::InterfaceTeardown),
                pid: Some(5120),
                if_name: Some("eth0"),
                host_interface: Some("azv3f1c2b7d9e0"),
                ..Want::default()
            },
        );
        check(
            lines[16],
            Want {
                category: Some(Category::IpAllocation),
                success: Some(false),
                level: Some(Severity::Error),
                pid: Some(8812),
                error: Some("No available addresses"),
                ..Want::default()
            },
        );
        check(
            lines[17],
            Want {
                category: Some(Category::InterfaceSetup),
                success: Some(false),
                pid: Some(2231),
                host_interface: Some("azv7a8b9c0d1e2"),
                plugin_type: Some("azure-vnet"),
                // `Failed to create endpoint` is a generic wrapper; the veth layer names its object.
                error: Some("Failed to create veth pair azv7a8b9c0d1e2: file exists"),
                ..Want::default()
            },
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(
            endpoint_id_parts("9ac1b7e2-eth0"),
            Some(("9ac1b7e2", "eth0"))
        );
        assert_eq!(
            endpoint_id_parts("6f2b0c2a-1d3f-4b5a-9c7e-2f4a6c8e0b1d"),
            None
        );
        assert_eq!(endpoint_id_parts("short-eth0"), None);
        assert_eq!(endpoint_id_parts("9ac1b7e2-"), None);
        assert_eq!(
            sysctl_interface("echo 1 > /proc/sys/net/ipv4/conf/azv2b28bcafcfb/proxy_arp"),
            Some("azv2b28bcafcfb")
        );
        assert_eq!(
            sysctl_interface("sysctl -w net.ipv6.conf.azv3f1c2b7d9e0.accept_ra=0"),
            Some("azv3f1c2b7d9e0")
        );
        assert_eq!(
            sysctl_interface("sysctl -w net.ipv4.conf.all.rp_filter=1"),
            None
        );
        assert_eq!(
            sysctl_interface("echo 1 > /proc/sys/net/ipv4/conf/eth0/proxy_arp"),
            None
        );
        assert!(names_object("Failed to create veth pair azv7a8b9c0d1e2"));
        assert!(!names_object("Failed to delegate"));
        assert!(!names_object("Failed to allocate pool"));
        assert!(!names_object("Failed to allocate address for IPv6"));
        let mut f = Facts::new(Format::AzureCni);
        set_error_chain(
            &mut f,
            "Failed to create endpoint: Failed to create veth pair azv7a: Failed to delegate: x.",
        );
        assert_eq!(
            f.error.map(|e| e.msg).as_deref(),
            Some("Failed to create veth pair azv7a: Failed to delegate: x")
        );
    }

    #[test]
    fn other_formats_are_not_claimed() {
        for line in [
            r#"{"level":"info","ts":"2024-03-10T17:25:08.487Z","caller":"routed-eni-cni-plugin/cni.go:119","msg":"Constructed new logger instance"}"#,
            "2019-01-15T10:19:46Z [INFO] Starting L-IPAMD v1.3.0  ...",
            "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to set up sandbox container \"cfaf\" network for pod \"nginx\": networkPlugin cni failed to set up pod \"nginx_clusterip\" network: Failed to allocate pool: Failed to delegate: Failed to allocate address: No available addresses",
            "2022-03-07 14:38:53.555 [INFO][20999] k8s.go 73: Extracted identifiers",
            "I0111 17:09:04.933346       1 route_network.go:56] Watching for new subnet leases",
            "[net] link eth0 is up",
            "[1234] hello world",
            "[warn] something",
            r#"{"level":"info","msg":"started","component":"kubelet"}"#,
            r#"{"cniVersion":"0.4.0","ips":[{"address":"10.1.0.5/24"}]}"#,
        ] {
            assert_eq!(parse(&Envelope::strip(line)), None, "{line}");
        }
    }

    #[test]
    fn garbage_and_cut_lines_do_not_panic() {
        let corpus = include_str!("../../../fixtures/logs/azure-cni.log");
        let extra = include_str!("../../../fixtures/logs/extra/azure-cni.log");
        for line in corpus.lines().chain(extra.lines()) {
            for (cut, _) in line.char_indices() {
                let _ = parse(&Envelope::strip(&line[..cut]));
                let _ = parse(&Envelope::strip(&line[cut..]));
            }
        }
        for s in [
            "[",
            "[]",
            "[] ",
            "[1] ",
            "[1] [",
            "[cni-net]",
            "[cni-net] Processing ADD command with args {",
            "[cni-net] Processing ADD command with args {ContainerID: StdinData:",
            "[cni-net] Processing ADD command with args {Path:} StdinData:{\"ipam\":{\"sub",
            "[net] Created endpoint &{IP:{IP:",
            "[net] Created endpoint Routes:[{Dst:{IP:1.2.3.4 Mask:zz} Gw:",
            "[cni-net] ADD command completed err:",
            "[cni-net] Failed to : : :",
            "[99999999999] [cni-net] x",
            r#"{"component":"cni","msg":"[cni-net] é","pid":-1}"#,
            "[cni-net] Found network with subnet é/é",
        ] {
            let _ = parse(&Envelope::strip(s));
        }
    }
}
