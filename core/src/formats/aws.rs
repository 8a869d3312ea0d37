//! AWS VPC CNI: the `aws-cni` plugin's `plugin.log` and the L-IPAMD daemon's `ipamd.log`, as zap
//! JSON lines (v1.7 on) or as the older seelog text (`[INFO] ...` once the time is stripped).
//!
//! Both logs pack their facts into the message text: the plugin's request lines as `Key(value)`
//! groups (with the network config as JSON inside `argsStdinData(...)`), the driver's lines as
//! `k=v, ` lists, and the gRPC messages between plugin and ipamd as protobuf text
//! (`Key:"value"`). The JSON envelope is decoded once, so the message read here is plain text.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use crate::envelope::Envelope;
use crate::event::{Category, CniError, Format, Operation, Severity};
use crate::facts::Facts;
use crate::text::{
    cidr_with_hex_mask, json_members, looks_like_ip, member, phrase_positions, unescape,
    ByteSearch, PhraseSearch, TrimFast, Words,
};
use crate::time::parse_iso;

const FAMILY: &str = "aws-vpc-cni";
/// The plugin binary and its config `type`.
const PLUGIN_TYPE: &str = "aws-cni";

/// A phrase looked for in the plugin's and ipamd's messages. Building a substring searcher costs
/// more than searching one message, so each phrase's searcher is built once.
type Phrase = LazyLock<Finder<'static>>;

static CALLER_KEY: Phrase = LazyLock::new(|| Finder::new("\"caller\":\""));
static COLON_SPACE: Phrase = LazyLock::new(|| Finder::new(": "));
static ASSIGN_IP: Phrase = LazyLock::new(|| Finder::new("Assign IP "));
static UNASSIGN: Phrase = LazyLock::new(|| Finder::new("UnassignPodIPAddress: sandbox "));
static NO_FREE_IP: Phrase = LazyLock::new(|| Finder::new("no free IP available in the prefix - "));
static POOL_STATS: Phrase = LazyLock::new(|| Finder::new("IP address pool stats: "));
static CONTAINER: Phrase = LazyLock::new(|| Finder::new("container "));
static INTERFACE: Phrase = LazyLock::new(|| Finder::new("interface "));
static CONTAINER_ID_WORD: Phrase = LazyLock::new(|| Finder::new("containerID "));
static IP_ADDR: Phrase = LazyLock::new(|| Finder::new("ipAddr "));
static NETWORK_CARD: Phrase = LazyLock::new(|| Finder::new("network card "));
static CONTAINER_ID_PHRASE: Phrase = LazyLock::new(|| Finder::new("container ID "));
static POD: Phrase = LazyLock::new(|| Finder::new("pod "));
static NAMESPACE: Phrase = LazyLock::new(|| Finder::new("namespace "));
static SANDBOX: Phrase = LazyLock::new(|| Finder::new("sandbox "));

/// The `Key(` groups of the plugin's request line.
static KEY_CONTAINER_ID: Phrase = LazyLock::new(|| Finder::new("ContainerID"));
static KEY_NETNS: Phrase = LazyLock::new(|| Finder::new("Netns"));
static KEY_IF_NAME: Phrase = LazyLock::new(|| Finder::new("IfName"));
static KEY_POD_NAMESPACE: Phrase = LazyLock::new(|| Finder::new("PodNamespace"));
static KEY_POD_NAME: Phrase = LazyLock::new(|| Finder::new("PodName"));
static KEY_ARGS: Phrase = LazyLock::new(|| Finder::new("Args"));
static KEY_STDIN_DATA: Phrase = LazyLock::new(|| Finder::new("argsStdinData"));

/// `s` split around the first `phrase`, as `str::split_once` would.
fn split_at_phrase<'a>(s: &'a str, phrase: &Finder<'_>) -> Option<(&'a str, &'a str)> {
    let at = phrase.find(s.as_bytes())?;
    Some((s.get(..at)?, s.get(at + phrase.needle().len()..)?))
}

/// Which program of the AWS VPC CNI wrote the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The `aws-cni` binary the runtime executes (`routed-eni-cni-plugin`, its `driver`).
    Plugin,
    /// The L-IPAMD daemon of the `aws-node` pod, which hands out the addresses.
    Ipamd,
    /// Another helper of the project, named by its component.
    Helper(&'static str),
}

pub(crate) fn parse(env: &Envelope<'_>) -> Option<Facts> {
    let body = env.body.trim_fast();
    match body.as_bytes().first()? {
        b'{' => parse_zap(body),
        b'[' => parse_seelog(body),
        b'"' => parse_quoted_failure(body),
        _ => None,
    }
}

/// zap JSON: `{"level":..,"ts":..,"caller":"dir/file.go:N","msg":..}`, claimed by its caller.
fn parse_zap(body: &str) -> Option<Facts> {
    let role = match caller_in(body).and_then(role_of_caller) {
        Some(role) => Some(role),
        // A line without a known caller is ours only when its text is unmistakably AWS.
        None if has_aws_words(body) => None,
        None => return None,
    };
    let members = json_members(body)?;
    let msg = member(&members, "msg").unwrap_or_default();
    let role = role.unwrap_or_else(|| role_of_message(msg.trim_fast()));
    let mut f = Facts::new(Format::AwsVpcCni);
    f.level = member(&members, "level").and_then(Severity::from_level);
    f.time = member(&members, "ts").and_then(parse_iso).map(|(t, _)| t);
    if let Some(caller) = member(&members, "caller") {
        f.attr("caller", caller);
    }
    read_message(&mut f, msg);
    apply_role(&mut f, role);
    Some(f)
}

/// The `caller` value, read without decoding the line.
fn caller_in(body: &str) -> Option<&str> {
    let at = CALLER_KEY.find(body.as_bytes())? + CALLER_KEY.needle().len();
    let rest = body.get(at..)?;
    Some(rest.before_byte(b'"'))
}

fn role_of_caller(caller: &str) -> Option<Role> {
    let (dir, file) = caller.split_once_byte(b'/')?;
    let file = file.before_byte(b':');
    Some(match (dir, file) {
        ("routed-eni-cni-plugin", _) | ("driver", "driver.go") => Role::Plugin,
        ("ipamd" | "awsutils" | "networkutils" | "eniconfig" | "aws-k8s-agent", _)
        | ("datastore", "data_store.go")
        | ("rpc", "rpc.pb.go") => Role::Ipamd,
        ("cni-metrics-helper", _) => Role::Helper("cni-metrics-helper"),
        (d, _) if d.starts_with("egress") => Role::Helper("egress-cni-plugin"),
        _ => return None,
    })
}

/// Words only the AWS VPC CNI writes, for lines that name no caller (seelog, zap without caller).
fn has_aws_words(text: &str) -> bool {
    // Not bare `DelNetwork`: Multus and libcni say "DelNetwork" too.
    static WORDS: Words = Words::new(&[
        "Received CNI ",
        "ContainerID(",
        "L-IPAMD",
        "ipamd",
        "IPAMD",
        "AddNetworkRe",
        "DelNetworkRe",
        "Network gRPC",
        "Network grpc",
        "Received DelNetwork",
        "aws-cni",
        "PodNetwork:",
        "SetupNS",
        "TeardownNS",
        "AssignPodIP",
        "IP address pool",
        "network response",
    ]);
    WORDS.any_in(text)
}

/// Which program wrote a line that names no caller, from what it says.
fn role_of_message(msg: &str) -> Role {
    const PLUGIN: [&str; 15] = [
        "Received CNI ",
        "Handled CNI ",
        "Handled pod teardown",
        "Could not teardown",
        "Setup",
        "Teardown",
        "Received add network response",
        "Received del network response",
        "Error received from",
        "Failed to assign an IP address",
        "Failed SetupPodNetwork",
        "Failed on TeardownPodNetwork",
        "Failed to connect to backend",
        "Failed to process delete request",
        "Constructed new logger",
    ];
    if PLUGIN.iter().any(|p| msg.starts_with(p)) {
        Role::Plugin
    } else {
        Role::Ipamd
    }
}

fn apply_role(f: &mut Facts, role: Role) {
    f.plugin = Some(FAMILY);
    match role {
        Role::Plugin => Facts::set(&mut f.plugin_type, PLUGIN_TYPE),
        Role::Ipamd => f.attr("component", "ipamd"),
        Role::Helper(name) => f.attr("component", name),
    }
}

/// seelog text, `[INFO] message` once the time is stripped; ours only with AWS words.
fn parse_seelog(body: &str) -> Option<Facts> {
    // At the first `]`, which must end the level: a later `] ` would leave a `]` in the level,
    // which no level word has. Every bracketed line of other plugins passes here.
    let (level, msg) = body.strip_prefix('[')?.split_once_byte(b']')?;
    let msg = msg.strip_prefix(' ')?;
    let level = Severity::from_level(level)?;
    if !has_aws_words(msg) {
        return None;
    }
    let mut f = Facts::new(Format::AwsVpcCni);
    f.level = Some(level);
    read_message(&mut f, msg);
    apply_role(&mut f, role_of_message(msg.trim_fast()));
    Some(f)
}

/// `"aws-cni" failed (add): add cmd: failed to assign an IP address to container`: the plugin's
/// error as a pod event quotes it, cut before the `plugin type=` the runtime put in front.
fn parse_quoted_failure(body: &str) -> Option<Facts> {
    let (name, rest) = body.strip_prefix('"')?.split_once_byte(b'"')?;
    let (op, err) = rest.strip_prefix(" failed (")?.split_once_str("): ")?;
    let aws_error = err.contains_str("ipamd")
        || err.contains_str("failed to assign an IP address to container");
    if !(name.starts_with("aws") || aws_error) {
        return None;
    }
    let mut f = Facts::new(Format::AwsVpcCni);
    f.plugin = Some(FAMILY);
    // Only the network name (or the error wording) says it is AWS: the family is inferred.
    f.confidence = Some(0.7);
    f.operation = Operation::from_word(op);
    f.success = Some(false);
    Facts::set(&mut f.network_name, name);
    set_plugin_error(&mut f, err);
    if err.contains_str("assign an IP address") {
        f.category = Some(Category::IpAllocation);
    }
    f.message = Some(body.to_owned());
    Some(f)
}

/// Reads the facts of one message of the plugin or of ipamd (zap `msg` or seelog text).
/// ipamd's wording of an exhausted address pool (searchers built once: most messages reach
/// this test).
static NO_ADDRESSES: Words = Words::new(&[
    "no available IP/Prefix addresses",
    "does not have available addresses",
    "DataStore has no available",
]);

fn read_message(f: &mut Facts, msg: &str) {
    let msg = msg.trim_fast();
    Facts::set(&mut f.message, msg);
    if let Some(rest) = msg.strip_prefix("Received CNI ") {
        let (op, groups) = rest.split_once_str(" request: ").unwrap_or((rest, ""));
        f.operation = Operation::from_word(op);
        read_groups(f, groups);
    } else if let Some(groups) = msg.strip_prefix("Handled CNI del request with prevResult: ") {
        f.operation = Some(Operation::Del);
        f.success = Some(true);
        read_groups(f, groups);
    } else if let Some(groups) = [
        "Handled pod teardown using prevResult: ",
        "Could not teardown pod using prevResult: ",
    ]
    .iter()
    .find_map(|p| msg.strip_prefix(p))
    {
        f.operation = Some(Operation::Del);
        read_groups(f, groups);
    } else if let Some((name, list)) =
        split_at_phrase(msg, &COLON_SPACE).filter(|(n, _)| is_driver_step(n))
    {
        let setup = name.starts_with("Setup") || name.starts_with("setup");
        f.operation = Some(if setup {
            Operation::Add
        } else {
            Operation::Del
        });
        f.category = Some(if setup {
            Category::InterfaceSetup
        } else {
            Category::InterfaceTeardown
        });
        read_driver_list(f, list);
    } else if let Some(rest) = msg.strip_prefix("Received add network response") {
        f.operation = Some(Operation::Add);
        f.category = Some(Category::IpAllocation);
        let (head, reply) = rest.split_once_str(": ").unwrap_or((rest, ""));
        read_pod_words(f, head);
        if let Some(id) = word_after(head, &CONTAINER) {
            Facts::set(&mut f.container_id, id);
        }
        if let Some(ifname) = word_after(head, &INTERFACE) {
            Facts::set(&mut f.if_name, ifname);
        }
        if !read_old_add_reply(f, reply) {
            read_reply(f, reply);
        }
    } else if let Some(rest) = msg.strip_prefix("Received del network response") {
        f.operation = Some(Operation::Del);
        f.category = Some(Category::IpDeallocation);
        let (head, reply) = rest.split_once_str(": ").unwrap_or((rest, ""));
        read_pod_words(f, head);
        read_reply(f, reply);
    } else if let Some(rest) = msg.strip_prefix("Error received from ") {
        // `AddNetwork grpc call for containerID X: err` / `DelNetwork gRPC call for container X: err`
        f.operation = if rest.starts_with("Add") {
            Some(Operation::Add)
        } else if rest.starts_with("Del") {
            Some(Operation::Del)
        } else {
            None
        };
        f.success = Some(false);
        let (head, err) = rest.split_once_str(": ").unwrap_or((rest, ""));
        if let Some(id) =
            word_after(head, &CONTAINER).or_else(|| word_after(head, &CONTAINER_ID_WORD))
        {
            Facts::set(&mut f.container_id, id);
        }
        set_plugin_error(f, err);
    } else if NO_ADDRESSES.any_in(msg) && !msg.starts_with("Send ") {
        f.category = Some(Category::IpAllocation);
        f.success = Some(false);
        let inner = msg.rsplit_once(": ").map_or(msg, |(_, e)| e);
        f.set_error(inner);
    } else if let Some(rest) = msg.strip_prefix("Failed ") {
        read_plugin_failure(f, msg, rest);
    } else if let Some(rest) = ["AddNetworkRequest: ", "DelNetworkRequest: "]
        .iter()
        .find_map(|p| msg.strip_prefix(p))
    {
        let add = msg.starts_with("Add");
        ipam_op(f, add);
        read_request(f, rest);
    } else if let Some(rest) = msg.strip_prefix("Received AddNetwork for ") {
        // `NS <netns>, Sandbox <id>, ifname <if>`
        ipam_op(f, true);
        for part in rest.split(", ") {
            match part.split_once_byte(b' ') {
                Some(("NS", v)) => Facts::set(&mut f.netns, v),
                Some(("Sandbox", v)) => Facts::set(&mut f.container_id, v),
                Some(("ifname", v)) => Facts::set(&mut f.if_name, v),
                _ => {}
            }
        }
    } else if let Some(id) = msg.strip_prefix("Received DelNetwork for Sandbox ") {
        ipam_op(f, false);
        Facts::set(&mut f.container_id, id);
    } else if let Some(reply) = msg.strip_prefix("Send AddNetworkReply: ") {
        // ipamd's answer is the outcome of its IPAM step, not of the CNI command: the plugin
        // decides that (it treats a DEL's `unknown pod` as done), so no operation is claimed.
        f.category = Some(Category::IpAllocation);
        read_reply(f, reply);
    } else if let Some(reply) = msg.strip_prefix("Send DelNetworkReply: ") {
        f.category = Some(Category::IpDeallocation);
        read_reply(f, reply);
    } else if let Some((_, rest)) = split_at_phrase(msg, &ASSIGN_IP) {
        // `assignPodIPAddressUnsafe: Assign IP 10.4.128.118 to sandbox aws-cni/<id>/eth0`
        f.category = Some(Category::IpAllocation);
        f.success = Some(true);
        let (ip, key) = rest.split_once_str(" to sandbox ").unwrap_or((rest, ""));
        add_ip_checked(f, ip);
        read_ipam_key(f, key);
    } else if let Some((_, rest)) = split_at_phrase(msg, &UNASSIGN) {
        // `UnassignPodIPAddress: sandbox aws-cni/<id>/eth0's ipAddr 192.168.1.5, DeviceNumber 0`
        f.category = Some(Category::IpDeallocation);
        f.success = Some(true);
        let (key, tail) = rest.split_once_str("'s ").unwrap_or((rest, ""));
        read_ipam_key(f, key);
        if let Some(ip) = word_after(tail, &IP_ADDR) {
            add_ip_checked(f, ip.trim_end_matches(','));
        }
    } else if let Some((_, tail)) = split_at_phrase(msg, &NO_FREE_IP) {
        // ipamd notes one exhausted prefix and goes on to the next: a step of the search, not a
        // failed allocation. The prefix (Go's hex netmask: `10.50.62.224/fffffff0`) is one
        // of the node's delegated blocks, not the pod's network.
        f.category = Some(Category::IpAllocation);
        let prefix = tail.split_whitespace().next().unwrap_or_default();
        if let Some(cidr) = cidr_with_hex_mask(prefix) {
            f.attr("ipam_block", &cidr);
        }
    } else if let Some((_, stats)) = split_at_phrase(msg, &POOL_STATS) {
        // `total 14, assigned 13` (before v1.7 `total: 10, assigned 10`)
        for (key, name) in [("total", "ip_pool_total"), ("assigned", "ip_pool_assigned")] {
            let n = stats.split(", ").find_map(|part| {
                let v = part.trim_fast().strip_prefix(key)?;
                v.trim_start_matches(':').trim_fast().parse::<f64>().ok()
            });
            if let Some(n) = n {
                f.metrics.insert(name.to_owned(), n);
            }
        }
    } else if let Some(rest) = msg.strip_prefix("Starting L-IPAMD") {
        if let Some(v) = rest
            .split_whitespace()
            .next()
            .filter(|v| v.starts_with('v'))
        {
            f.attr("version", v);
        }
    }
    if let Some(card) =
        word_after(msg, &NETWORK_CARD).filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
    {
        f.attr("network_card", card);
    }
}

/// The plugin's reply line before v1.6, `<ip>, table N, external-SNAT: false, vpcCIDR: [..]`,
/// printed only once ipamd answered with success. Returns false for any other reply form.
fn read_old_add_reply(f: &mut Facts, reply: &str) -> bool {
    let mut parts = reply.split(", ");
    let Some(ip) = parts.next().map(str::trim).filter(|ip| looks_like_ip(ip)) else {
        return false;
    };
    f.add_ip(ip);
    f.success = Some(true);
    for part in parts {
        let Some((key, value)) = part
            .split_once_str(": ")
            .or_else(|| part.split_once_byte(b' '))
        else {
            continue;
        };
        let value = value.trim_fast();
        match key.trim_fast() {
            "table" => f.attr("route_table", value),
            "external-SNAT" => f.attr("external_snat", value),
            "vpcCIDR" => f.attr(
                "vpc_cidr",
                value.trim_start_matches('[').trim_end_matches(']'),
            ),
            _ => {}
        }
    }
    true
}

fn ipam_op(f: &mut Facts, add: bool) {
    f.operation = Some(if add { Operation::Add } else { Operation::Del });
    f.category = Some(if add {
        Category::IpAllocation
    } else {
        Category::IpDeallocation
    });
}

/// The driver's step lines: `SetupPodNetwork`, `TeardownBranchENIPodNetwork`, `SetupNS`, ...
fn is_driver_step(name: &str) -> bool {
    let step = name
        .strip_prefix("Setup")
        .or_else(|| name.strip_prefix("Teardown"));
    matches!(
        step,
        Some("PodNetwork" | "BranchENIPodNetwork" | "NS" | "PodENI")
    )
}

/// `Failed ...` lines of the plugin.
fn read_plugin_failure(f: &mut Facts, msg: &str, rest: &str) {
    let (head, err) = rest.split_once_str(": ").unwrap_or((rest, ""));
    let container = word_after(head, &CONTAINER_ID_PHRASE).or_else(|| word_after(head, &CONTAINER));
    if let Some(id) = container {
        Facts::set(&mut f.container_id, id);
    }
    if head.starts_with("to assign an IP address") {
        f.operation = Some(Operation::Add);
        f.category = Some(Category::IpAllocation);
        f.set_error(msg);
    } else if head.starts_with("to process delete request") {
        f.operation = Some(Operation::Del);
        f.category = Some(Category::IpDeallocation);
        f.set_error(msg);
    } else if head.starts_with("SetupPodNetwork") {
        f.operation = Some(Operation::Add);
        f.category = Some(Category::InterfaceSetup);
        f.set_error(err);
    } else if head.starts_with("on TeardownPodNetwork") {
        f.operation = Some(Operation::Del);
        f.category = Some(Category::InterfaceTeardown);
        f.set_error(err);
    } else if head.starts_with("to connect to backend server") {
        set_plugin_error(f, err);
    } else {
        f.set_error(if err.is_empty() { msg } else { err });
        return;
    }
    f.success = Some(false);
}

/// `ContainerID(..) Netns(..) IfName(..) Args(..) Path(..) argsStdinData(..)` and the
/// `PodNamespace(..) PodName(..)` of the prevResult lines.
fn read_groups(f: &mut Facts, s: &str) {
    if let Some((v, _)) = paren_value(s, &KEY_CONTAINER_ID) {
        Facts::set(&mut f.container_id, v);
    }
    if let Some((v, _)) = paren_value(s, &KEY_NETNS) {
        Facts::set(&mut f.netns, v);
    }
    if let Some((v, _)) = paren_value(s, &KEY_IF_NAME) {
        Facts::set(&mut f.if_name, v);
    }
    if let Some((v, _)) = paren_value(s, &KEY_POD_NAMESPACE) {
        Facts::set(&mut f.namespace, v);
    }
    if let Some((v, _)) = paren_value(s, &KEY_POD_NAME) {
        Facts::set(&mut f.pod_name, v);
    }
    if let Some((v, closed)) = paren_value(s, &KEY_ARGS) {
        // A cut-off Args may end inside its last value: keep only the complete ones.
        let v = if closed {
            v
        } else {
            v.rsplit_once_byte(b';').map_or("", |(done, _)| done)
        };
        f.read_cni_args(v);
    }
    if let Some((v, _)) = paren_value(s, &KEY_STDIN_DATA) {
        read_net_conf(f, v);
    }
}

/// The network config the plugin got on stdin (possibly cut off): name, version, type, MTU.
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
    if let Some(mtu) = member(&members, "mtu") {
        f.attr("mtu", mtu);
    }
}

/// The value of `Key(value)` in `s`, with nested parentheses matched (quoted JSON strings inside
/// are skipped). The flag says whether the closing parenthesis was found: a value cut off by
/// truncation runs to the end of the text.
fn paren_value<'a>(s: &'a str, key: &Finder<'_>) -> Option<(&'a str, bool)> {
    let b = s.as_bytes();
    // The key's searcher is built once, and serves every occurrence.
    for pos in key.find_iter(b) {
        let from = pos + key.needle().len();
        let boundary = pos == 0 || b[pos - 1] == b' ';
        if !boundary || b.get(from) != Some(&b'(') {
            continue;
        }
        let start = from + 1;
        let mut depth = 1usize;
        let mut in_str = false;
        let mut i = start;
        // Only quotes, parentheses and (inside a string) backslashes matter: jump between them.
        while let Some(k) = b.get(i..).and_then(|rest| {
            if in_str {
                memchr::memchr2(b'\\', b'"', rest)
            } else {
                memchr::memchr3(b'"', b'(', b')', rest)
            }
        }) {
            i += k;
            match (in_str, b[i]) {
                (true, b'\\') => i += 1,
                (true, b'"') => in_str = false,
                (false, b'"') => in_str = true,
                (false, b'(') => depth += 1,
                (false, b')') => {
                    depth -= 1;
                    if depth == 0 {
                        return Some((s.get(start..i)?, true));
                    }
                }
                _ => {}
            }
            i += 1;
        }
        return Some((s.get(start..)?, false));
    }
    None
}

/// `hostVethName=eni4a5c3305307, contVethName=eth0, netnsPath=/var/run/netns/cni-..,
/// v4Addr=192.168.54.253/32, v6Addr=<nil>, deviceNumber=2, mtu=9001` (also the older
/// `addr 192.168.1.5/32, table 0` form).
fn read_driver_list(f: &mut Facts, list: &str) {
    for part in list.split(", ") {
        let Some((k, v)) = part
            .split_once_byte(b'=')
            .or_else(|| part.split_once_byte(b' '))
        else {
            continue;
        };
        let v = v.trim_fast();
        if v.is_empty() || v == "<nil>" {
            continue;
        }
        match k.trim_fast() {
            "hostVethName" => Facts::set(&mut f.host_interface, v),
            "contVethName" => Facts::set(&mut f.if_name, v),
            "netnsPath" => Facts::set(&mut f.netns, v),
            "v4Addr" | "v6Addr" | "ipAddr" | "containerAddr" | "addr" => add_ip_checked(f, v),
            "subnetGW" => Facts::set(&mut f.gateway, v),
            "eniMAC" => f.attr("eni_mac", v),
            "podSGEnforcingMode" => f.attr("pod_sg_enforcing_mode", v),
            // Numbers that configure the interface, not measurements: attributes.
            "deviceNumber" => f.attr("device_number", v),
            "routeTableNumber" | "routeTable" | "table" => f.attr("route_table", v),
            "mtu" => f.attr("mtu", v),
            "vlanID" => f.attr("vlan_id", v),
            "parentIfIndex" => f.attr("parent_if_index", v),
            _ => {}
        }
    }
}

/// ipamd's `AddNetworkRequest` / `DelNetworkRequest` in protobuf text.
fn read_request(f: &mut Facts, s: &str) {
    if let Some(v) = proto_field(s, "ContainerID") {
        Facts::set(&mut f.container_id, &v);
    }
    // The plugin copies its CNI_ARGS into these fields: they are the args it was given.
    for key in [
        "K8S_POD_NAME",
        "K8S_POD_NAMESPACE",
        "K8S_POD_INFRA_CONTAINER_ID",
        "K8S_POD_UID",
    ] {
        if let Some(v) = proto_field(s, key) {
            f.args.entry(key.to_owned()).or_insert(v.into_owned());
        }
    }
    f.identity_from_args();
    if let Some(v) = proto_field(s, "IfName") {
        Facts::set(&mut f.if_name, &v);
    }
    if let Some(v) = proto_field(s, "NetworkName") {
        Facts::set(&mut f.network_name, &v);
    }
    if let Some(v) = proto_field(s, "Netns") {
        Facts::set(&mut f.netns, &v);
    }
    if let Some(v) = proto_field(s, "Reason") {
        f.attr("reason", &v);
    }
    if let Some(v) = proto_field(s, "ClientVersion") {
        f.attr("client_version", &v);
    }
}

/// An AddNetwork/DelNetwork reply, as the plugin prints it (`Success:true IPv4Addr:"..."`) or as
/// ipamd does (`IPv4Addr: 10.4.128.118, IPv6Addr: , DeviceNumber: 0, err: <nil>`, newer
/// `Success: true IPAddr: [IPv4Addr:"..." ...], err: <nil>`, or `Failed to get pod: ..`).
fn read_reply(f: &mut Facts, reply: &str) {
    let (fields, err) = match reply.split_once_str("err: ") {
        Some((fields, err)) => (fields, Some(err.trim_fast())),
        None => (reply, None),
    };
    for key in ["IPv4Addr", "IPv6Addr"] {
        for v in proto_fields(fields, key) {
            add_ip_checked(f, &v);
        }
    }
    if let Some(v) = proto_field(fields, "DeviceNumber") {
        f.attr("device_number", &v);
    }
    if let Some(v) = proto_field(fields, "RouteTableId") {
        f.attr("route_table", &v);
    }
    for key in ["VPCcidrs", "VPCv4CIDRs", "VPCv6CIDRs"] {
        if let Some(v) = proto_field(fields, key) {
            f.attr("vpc_cidr", &v);
        }
    }
    let stated = proto_field(fields, "Success").map(|v| v == "true");
    let failed_text = ["Failed", "failed", "No trunk"]
        .iter()
        .any(|p| fields.trim_start().starts_with(p));
    let err = err.filter(|e| !e.is_empty() && *e != "<nil>");
    f.success = match (stated, err, failed_text) {
        (Some(false), _, _) | (_, Some(_), _) | (_, _, true) => Some(false),
        (Some(true), None, false) => Some(true),
        // ipamd's older reply states no Success but an `err:`; `<nil>` means it succeeded.
        (None, None, false) => reply.contains_str("err: <nil>").then_some(true),
    };
    if let Some(e) = err {
        f.set_error(e);
    } else if failed_text {
        let text = fields.trim_fast();
        let inner = text.split_once_str(": ").map_or(text, |(_, e)| e);
        f.set_error(inner);
    }
}

/// `pod <name> namespace <ns> sandbox <id>`
fn read_pod_words(f: &mut Facts, s: &str) {
    if let Some(v) = word_after(s, &POD) {
        Facts::set(&mut f.pod_name, v);
    }
    if let Some(v) = word_after(s, &NAMESPACE) {
        Facts::set(&mut f.namespace, v);
    }
    if let Some(v) = word_after(s, &SANDBOX) {
        Facts::set(&mut f.container_id, v);
    }
}

/// ipamd's key of an assignment: `<network name>/<container id>/<ifname>`.
fn read_ipam_key(f: &mut Facts, key: &str) {
    let mut parts = key.trim_fast().splitn(3, '/');
    let (Some(net), Some(id), Some(ifname)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    Facts::set(&mut f.network_name, net);
    Facts::set(&mut f.container_id, id);
    Facts::set(&mut f.if_name, ifname);
}

/// The plugin's error: its innermost message is the error, the whole chain its details.
fn set_plugin_error(f: &mut Facts, err: &str) {
    let err = err.trim_fast();
    if err.is_empty() {
        return;
    }
    let (inner, code) = inner_error(err);
    if let Some(code) = code {
        f.attr("grpc_code", code);
    }
    if f.error.is_none() {
        f.error = Some(CniError {
            code: None,
            msg: inner.to_owned(),
            details: (inner != err).then(|| err.to_owned()),
        });
    }
}

/// Removes the wrappers around the plugin's own message: the `add cmd: ` / `del cmd: ` it puts
/// before the error it returns, `Error received from AddNetwork gRPC call: `, and the gRPC
/// status wrappers (`rpc error: code = X desc = `, `connection error: desc = "..."`). Returns
/// the message and the gRPC code.
fn inner_error(err: &str) -> (&str, Option<&str>) {
    let mut s = err.trim_fast();
    let mut code = None;
    for _ in 0..8 {
        let before = s;
        for prefix in ["add cmd: ", "del cmd: ", "add command: ", "del command: "] {
            s = s.strip_prefix(prefix).unwrap_or(s);
        }
        if let Some((_, rest)) = s
            .strip_prefix("Error received from ")
            .and_then(|r| r.split_once_str(" call: "))
        {
            s = rest;
        }
        if let Some(rest) = s.strip_prefix("rpc error: code = ") {
            let (c, desc) = rest.split_once_str(" desc = ").unwrap_or((rest, ""));
            code = code.or(Some(c.trim_fast()));
            s = desc.trim_fast();
        } else if let Some(rest) = s.strip_prefix("connection error: desc = ") {
            s = rest.trim_fast();
        }
        s = s.strip_prefix('"').unwrap_or(s);
        s = s.strip_suffix('"').unwrap_or(s);
        if s == before || s.is_empty() {
            break;
        }
    }
    if s.is_empty() {
        (err.trim_fast(), code)
    } else {
        (s, code)
    }
}

/// The first value of `Key:"value"`, `Key:value`, `Key: value` or `Key value` (protobuf text,
/// Go `%+v`, ipamd's prose); an empty value states nothing.
fn proto_field<'a>(s: &'a str, key: &str) -> Option<Cow<'a, str>> {
    proto_fields(s, key).next()
}

/// Every non-empty value of `key`, in order, read only as far as the caller asks.
fn proto_fields<'a, 'k>(
    s: &'a str,
    key: &'k str,
) -> impl Iterator<Item = Cow<'a, str>> + use<'a, 'k> {
    let b = s.as_bytes();
    phrase_positions(s, key).filter_map(move |pos| {
        let from = pos + key.len();
        let boundary = pos == 0 || matches!(b[pos - 1], b' ' | b'{' | b'[' | b',');
        let mut i = from;
        match b.get(i) {
            Some(b':') => i += 1,
            Some(b' ') => {}
            _ => return None,
        }
        if !boundary {
            return None;
        }
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        let value = if b.get(i) == Some(&b'"') {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            s.get(start..j.min(b.len())).map(unescape)
        } else {
            // The delimiters are ASCII: a byte scan finds the same end as a character scan.
            let end = b
                .get(i..)
                .and_then(|r| {
                    r.iter()
                        .position(|c| matches!(c, b' ' | b',' | b'}' | b']'))
                })
                .map_or(b.len(), |e| e + i);
            s.get(i..end).map(Cow::Borrowed)
        };
        value.filter(|v| !v.trim_fast().is_empty())
    })
}

/// The word after `marker` (up to a space, comma or colon).
fn word_after<'a>(s: &'a str, marker: &Finder<'_>) -> Option<&'a str> {
    let pos = marker.find(s.as_bytes())? + marker.needle().len();
    let rest = s.get(pos..)?;
    let word = rest.before_any_byte(b" ,:");
    (!word.is_empty()).then_some(word)
}

fn add_ip_checked(f: &mut Facts, ip: &str) {
    let ip = ip.trim_fast();
    if looks_like_ip(ip) {
        f.add_ip(ip);
    }
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
        container: Option<&'static str>,
        pod: Option<&'static str>,
        namespace: Option<&'static str>,
        netns: Option<&'static str>,
        if_name: Option<&'static str>,
        host_interface: Option<&'static str>,
        ips: &'static [&'static str],
        subnet: Option<&'static str>,
        network: Option<&'static str>,
        cni_version: Option<&'static str>,
        plugin_type: Option<&'static str>,
        error: Option<&'static str>,
        attrs: &'static [(&'static str, &'static str)],
        metrics: &'static [(&'static str, f64)],
    }

    fn check(line: &str, w: Want) {
        let f = parse_record(line, None).unwrap_or_else(|| panic!("not claimed: {line}"));
        let s = |o: &Option<String>| o.clone();
        let o = |v: Option<&str>| v.map(str::to_owned);
        assert_eq!(f.format, Some(Format::AwsVpcCni), "{line}");
        assert_eq!(f.plugin, Some(FAMILY), "{line}");
        assert_eq!(f.operation, w.op, "operation: {line}");
        assert_eq!(f.category, w.category, "category: {line}");
        assert_eq!(f.success, w.success, "success: {line}");
        assert_eq!(f.level, w.level, "level: {line}");
        assert_eq!(s(&f.container_id), o(w.container), "container: {line}");
        assert_eq!(s(&f.pod_name), o(w.pod), "pod: {line}");
        assert_eq!(s(&f.namespace), o(w.namespace), "namespace: {line}");
        assert_eq!(s(&f.netns), o(w.netns), "netns: {line}");
        assert_eq!(s(&f.if_name), o(w.if_name), "if_name: {line}");
        assert_eq!(s(&f.host_interface), o(w.host_interface), "host if: {line}");
        assert_eq!(f.ips, w.ips.to_vec(), "ips: {line}");
        assert_eq!(s(&f.subnet), o(w.subnet), "subnet: {line}");
        assert_eq!(s(&f.network_name), o(w.network), "network: {line}");
        assert_eq!(s(&f.cni_version), o(w.cni_version), "cni_version: {line}");
        assert_eq!(s(&f.plugin_type), o(w.plugin_type), "plugin_type: {line}");
        assert_eq!(
            f.error.as_ref().map(|e| e.msg.as_str()),
            w.error,
            "error: {line}"
        );
        for (k, v) in w.attrs {
            assert_eq!(
                f.attributes.get(*k).map(String::as_str),
                Some(*v),
                "{k}: {line}"
            );
        }
        for (k, v) in w.metrics {
            assert_eq!(f.metrics.get(*k), Some(v), "{k}: {line}");
        }
        assert!(f.message.is_some(), "message: {line}");
    }

    const ID1: &str = "6397e269c6b847d56d8d99b0a423bb50444f861fe68fff9a6773f70467dc1cdc";

    #[test]
    fn corpus_plugin_add_request_with_json_in_json() {
        check(
            r#"{"level":"info","ts":"2024-03-10T17:25:08.487Z","caller":"routed-eni-cni-plugin/cni.go:125","msg":"Received CNI add request: ContainerID(6397e269c6b847d56d8d99b0a423bb50444f861fe68fff9a6773f70467dc1cdc) Netns(/var/run/netns/cni-eaf6f3e4-8a0a-71dc-38e2-5d56fa02e019) IfName(eth0) Args(IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-6799fbcd5-ss7tc;K8S_POD_INFRA_CONTAINER_ID=6397e269c6b847d56d8d99b0a423bb50444f861fe68fff9a6773f70467dc1cdc;K8S_POD_UID=085e52e2-8e99-4fd6-a20f-78cb8d01c4dc) Path(/opt/cni/bin) argsStdinData({\"cniVersion\":\"0.4.0\",\"mtu\":\"9001\",\"name\":\"aws-cni\",\"pluginLogFile\":\"/var/log/aws-routed-eni/plugin.log\",\"pluginLogLevel\":\"DEBUG\",\"podSGEnforcingMode\":\"strict\",\"type\":\"aws-cni\",\"vethPrefix\":\"eni\"})"}"#,
            Want {
                op: Some(Operation::Add),
                level: Some(Severity::Info),
                container: Some(ID1),
                pod: Some("coredns-6799fbcd5-ss7tc"),
                namespace: Some("kube-system"),
                netns: Some("/var/run/netns/cni-eaf6f3e4-8a0a-71dc-38e2-5d56fa02e019"),
                if_name: Some("eth0"),
                network: Some("aws-cni"),
                cni_version: Some("0.4.0"),
                plugin_type: Some("aws-cni"),
                attrs: &[
                    ("caller", "routed-eni-cni-plugin/cni.go:125"),
                    ("mtu", "9001"),
                ],
                ..Want::default()
            },
        );
        let f = parse_record(
            r#"{"level":"info","ts":"2024-03-10T17:25:08.487Z","caller":"routed-eni-cni-plugin/cni.go:125","msg":"Received CNI add request: ContainerID(a) Args(K8S_POD_UID=085e52e2;SECRET=x;K8S_POD_NAME=p)"}"#,
            None,
        )
        .unwrap();
        assert_eq!(f.pod_uid.as_deref(), Some("085e52e2"));
        assert!(!f.args.contains_key("SECRET"));
        assert!(f.time.is_some());
    }

    #[test]
    fn corpus_plugin_logger_and_driver_lines() {
        check(
            r#"{"level":"info","ts":"2024-10-10T21:51:34.993Z","caller":"routed-eni-cni-plugin/cni.go:119","msg":"Constructed new logger instance"}"#,
            Want {
                level: Some(Severity::Info),
                plugin_type: Some("aws-cni"),
                ..Want::default()
            },
        );
        check(
            r#"{"level":"debug","ts":"2024-02-14T17:28:56.972Z","caller":"routed-eni-cni-plugin/cni.go:296","msg":"SetupPodNetwork: hostVethName=eni4a5c3305307, contVethName=eth0, netnsPath=/var/run/netns/cni-2a7be20f-ffff-d303-9ea0-783cdf93c4c9, v4Addr=192.168.54.253/32, v6Addr=<nil>, deviceNumber=2, mtu=9001"}"#,
            Want {
                op: Some(Operation::Add),
                category: Some(Category::InterfaceSetup),
                level: Some(Severity::Debug),
                netns: Some("/var/run/netns/cni-2a7be20f-ffff-d303-9ea0-783cdf93c4c9"),
                if_name: Some("eth0"),
                host_interface: Some("eni4a5c3305307"),
                ips: &["192.168.54.253/32"],
                plugin_type: Some("aws-cni"),
                attrs: &[("device_number", "2"), ("mtu", "9001")],
                ..Want::default()
            },
        );
        // Configuration numbers are attributes: nothing here is a measurement.
        let f = parse_record(
            r#"{"level":"debug","ts":"2024-02-14T17:28:56.972Z","caller":"routed-eni-cni-plugin/cni.go:296","msg":"SetupPodNetwork: hostVethName=eni4a5c3305307, contVethName=eth0, deviceNumber=2, mtu=9001"}"#,
            None,
        )
        .unwrap();
        assert!(f.metrics.is_empty());
    }

    #[test]
    fn corpus_del_response_and_grpc_error() {
        check(
            r#"{"level":"info","ts":"2021-08-25T16:03:49.603Z","caller":"routed-eni-cni-plugin/cni.go:240","msg":"Received del network response for pod md-conqueror-satellite-pl-03-cron-27165117-mrcpg namespace staging-md-conqueror-satellite-3674 sandbox 881db247ff8912d789852925501854632162de4d144cf6534dc12a76ce0f0c8a: Success:true IPv4Addr:\"172.16.2.160\" "}"#,
            Want {
                op: Some(Operation::Del),
                category: Some(Category::IpDeallocation),
                success: Some(true),
                level: Some(Severity::Info),
                container: Some("881db247ff8912d789852925501854632162de4d144cf6534dc12a76ce0f0c8a"),
                pod: Some("md-conqueror-satellite-pl-03-cron-27165117-mrcpg"),
                namespace: Some("staging-md-conqueror-satellite-3674"),
                ips: &["172.16.2.160"],
                plugin_type: Some("aws-cni"),
                ..Want::default()
            },
        );
        let line = r#"{"level":"error","ts":"2021-08-25T16:57:52.632Z","caller":"routed-eni-cni-plugin/cni.go:240","msg":"Error received from DelNetwork gRPC call for container b85a01e25479f7c87024a621ed5d05c56780c37886fe47e841f58e6a7b0da527: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing dial tcp 127.0.0.1:50051: connect: connection refused\""}"#;
        check(
            line,
            Want {
                op: Some(Operation::Del),
                success: Some(false),
                level: Some(Severity::Error),
                container: Some("b85a01e25479f7c87024a621ed5d05c56780c37886fe47e841f58e6a7b0da527"),
                plugin_type: Some("aws-cni"),
                error: Some("transport: Error while dialing dial tcp 127.0.0.1:50051: connect: connection refused"),
                attrs: &[("grpc_code", "Unavailable")],
                ..Want::default()
            },
        );
        let f = parse_record(line, None).unwrap();
        let details = f.error.clone().and_then(|e| e.details).unwrap();
        assert!(details.starts_with("rpc error: code = Unavailable"));
        assert_eq!(f.error.as_ref().and_then(|e| e.code), None);
    }

    #[test]
    fn corpus_ipamd_request_and_prefix_exhaustion() {
        let id = "23296d3b8d9673814fd2039c316826aa531272bccb6d04a4ef6d910e20640b23";
        check(
            r#"{"level":"debug","ts":"2025-07-15T09:32:42.904Z","caller":"rpc/rpc.pb.go:1105","msg":"AddNetworkRequest: K8S_POD_NAME:\"myapp-7dbfd86df4-gsnsn\" K8S_POD_NAMESPACE:\"streamnative\" K8S_POD_INFRA_CONTAINER_ID:\"23296d3b8d9673814fd2039c316826aa531272bccb6d04a4ef6d910e20640b23\" ContainerID:\"23296d3b8d9673814fd2039c316826aa531272bccb6d04a4ef6d910e20640b23\" IfName:\"eth0\" NetworkName:\"aws-cni\" Netns:\"/var/run/netns/cni-b7d93dd1-57f9-6c58-4f56-f70ae8b09678\""}"#,
            Want {
                op: Some(Operation::Add),
                category: Some(Category::IpAllocation),
                level: Some(Severity::Debug),
                container: Some(id),
                pod: Some("myapp-7dbfd86df4-gsnsn"),
                namespace: Some("streamnative"),
                netns: Some("/var/run/netns/cni-b7d93dd1-57f9-6c58-4f56-f70ae8b09678"),
                if_name: Some("eth0"),
                network: Some("aws-cni"),
                attrs: &[("component", "ipamd"), ("caller", "rpc/rpc.pb.go:1105")],
                ..Want::default()
            },
        );
        let f = parse_record(
            r#"{"level":"debug","ts":"2025-07-15T09:32:42.904Z","caller":"rpc/rpc.pb.go:1105","msg":"AddNetworkRequest: K8S_POD_NAME:\"myapp-7dbfd86df4-gsnsn\" K8S_POD_NAMESPACE:\"streamnative\" K8S_POD_INFRA_CONTAINER_ID:\"23296d3b8d9673814fd2039c316826aa531272bccb6d04a4ef6d910e20640b23\" ContainerID:\"23296d3b8d9673814fd2039c316826aa531272bccb6d04a4ef6d910e20640b23\""}"#,
            None,
        )
        .unwrap();
        assert_eq!(
            f.args.get("K8S_POD_INFRA_CONTAINER_ID").map(String::as_str),
            Some(id)
        );
        assert_eq!(f.args.len(), 3);
        check(
            r#"{"level":"debug","ts":"2025-07-15T09:32:42.904Z","caller":"datastore/data_store.go:687","msg":"Get free IP from prefix failed no free IP available in the prefix - 10.50.62.224/fffffff0"}"#,
            // One exhausted prefix of many: ipamd goes on to the next, nothing failed yet.
            Want {
                category: Some(Category::IpAllocation),
                level: Some(Severity::Debug),
                attrs: &[("component", "ipamd"), ("ipam_block", "10.50.62.224/28")],
                ..Want::default()
            },
        );
    }

    #[test]
    fn corpus_quoted_event_fragment() {
        let line =
            r#"  "aws-cni" failed (add): add cmd: failed to assign an IP address to container"#;
        check(
            line,
            Want {
                op: Some(Operation::Add),
                category: Some(Category::IpAllocation),
                success: Some(false),
                network: Some("aws-cni"),
                error: Some("failed to assign an IP address to container"),
                ..Want::default()
            },
        );
        let f = parse_record(line, None).unwrap();
        assert_eq!(f.confidence, Some(0.7));
        assert_eq!(
            f.error.and_then(|e| e.details).as_deref(),
            Some("add cmd: failed to assign an IP address to container")
        );
    }

    #[test]
    fn corpus_seelog_lines() {
        check(
            r#"2019-03-12T20:40:42Z [INFO] Received CNI del request: ContainerID(401bc7b65225585f61faa3c078f45c5abc7479f4f3fa442e74214a30c4f8a0e4) Netns() IfName(eth0) Args(IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-ingress;K8S_POD_NAME=ingress-nginx-75dc9cb46b-bzrmv;K8S_POD_INFRA_CONTAINER_ID=401bc7b65225585f61faa3c078f45c5abc7479f4f3fa442e74214a30c4f8a0e4) Path(/opt/cni/bin/) argsStdinData({"cniVersion":"","name":"aws-cni","type":"aws-cni","vethPrefix":"eni"})"#,
            Want {
                op: Some(Operation::Del),
                level: Some(Severity::Info),
                container: Some("401bc7b65225585f61faa3c078f45c5abc7479f4f3fa442e74214a30c4f8a0e4"),
                pod: Some("ingress-nginx-75dc9cb46b-bzrmv"),
                namespace: Some("kube-ingress"),
                if_name: Some("eth0"),
                network: Some("aws-cni"),
                plugin_type: Some("aws-cni"),
                ..Want::default()
            },
        );
        let add = r#"2019-03-12T20:40:43Z [INFO] Received CNI add request: ContainerID(4537a11399ab7a775d9714dc00674e8957f82cf78399db1fb3994c128a71811f) Netns(/proc/1361/ns/net) IfName(eth0) Args(IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-ingress;K8S_POD_NAME=ingress-nginx-75dc9cb46b-bzrmv;K8S_POD_INFRA_CONTAINER_ID=4537a11399ab7a775d9714dc00674e8957f82cf78399db1fb3994c128a71811f) Path(/opt/cni/bin/) argsStdinData({"cniVersion":"","name":"aws-cni","type":"aws-cni","vethPrefix":"eni"})"#;
        check(
            add,
            Want {
                op: Some(Operation::Add),
                level: Some(Severity::Info),
                container: Some("4537a11399ab7a775d9714dc00674e8957f82cf78399db1fb3994c128a71811f"),
                pod: Some("ingress-nginx-75dc9cb46b-bzrmv"),
                namespace: Some("kube-ingress"),
                netns: Some("/proc/1361/ns/net"),
                if_name: Some("eth0"),
                network: Some("aws-cni"),
                plugin_type: Some("aws-cni"),
                ..Want::default()
            },
        );
        assert!(parse_record(add, None).unwrap().time.is_some());
        check(
            "2019-01-15T10:19:46Z [INFO] Starting L-IPAMD v1.3.0  ...",
            Want {
                level: Some(Severity::Info),
                attrs: &[("component", "ipamd"), ("version", "v1.3.0")],
                ..Want::default()
            },
        );
    }

    #[test]
    fn extra_fixture_lines() {
        let id = "5b0e8f1c9a6d4e2b8c7a1f3e9d5b2c4a6e8f0a1b3c5d7e9f1a2b4c6d8e0f2a4b";
        let lines: Vec<&str> = include_str!("../../../fixtures/logs/extra/aws-vpc-cni.log")
            .lines()
            .collect();
        for line in &lines {
            assert!(parse_record(line, None).is_some(), "not claimed: {line}");
        }
        check(
            lines[0],
            Want {
                op: Some(Operation::Add),
                category: Some(Category::IpAllocation),
                success: Some(true),
                level: Some(Severity::Info),
                container: Some(id),
                if_name: Some("eth0"),
                ips: &["10.0.12.47"],
                plugin_type: Some("aws-cni"),
                attrs: &[
                    ("vpc_cidr", "10.0.0.0/16"),
                    ("device_number", "1"),
                    ("route_table", "2"),
                ],
                ..Want::default()
            },
        );
        check(
            lines[3],
            Want {
                op: Some(Operation::Del),
                success: Some(true),
                level: Some(Severity::Info),
                container: Some(id),
                pod: Some("api-7c9d5b8f6-x2kqz"),
                namespace: Some("payments"),
                netns: Some("/var/run/netns/cni-1f6d2c3a-77b0-4e1c-9a55-0c2b8e4d9f13"),
                if_name: Some("eth0"),
                plugin_type: Some("aws-cni"),
                ..Want::default()
            },
        );
        check(
            lines[5],
            Want {
                category: Some(Category::IpAllocation),
                success: Some(true),
                level: Some(Severity::Info),
                container: Some(id),
                if_name: Some("eth0"),
                network: Some("aws-cni"),
                ips: &["10.0.12.47"],
                attrs: &[("component", "ipamd")],
                ..Want::default()
            },
        );
        check(
            lines[7],
            Want {
                op: Some(Operation::Del),
                category: Some(Category::IpDeallocation),
                level: Some(Severity::Debug),
                container: Some(id),
                pod: Some("api-7c9d5b8f6-x2kqz"),
                namespace: Some("payments"),
                if_name: Some("eth0"),
                network: Some("aws-cni"),
                attrs: &[("reason", "PodDeleted"), ("client_version", "v1.18.1")],
                ..Want::default()
            },
        );
        // ipamd's reply: its release failed, which the plugin's DEL tolerates.
        check(
            lines[8],
            Want {
                category: Some(Category::IpDeallocation),
                success: Some(false),
                level: Some(Severity::Info),
                error: Some("datastore: unknown pod"),
                attrs: &[("component", "ipamd"), ("device_number", "0")],
                ..Want::default()
            },
        );
        check(
            lines[9],
            Want {
                category: Some(Category::IpAllocation),
                success: Some(false),
                level: Some(Severity::Warning),
                error: Some("no available IP/Prefix addresses"),
                attrs: &[("component", "ipamd"), ("network_card", "0")],
                ..Want::default()
            },
        );
        check(
            lines[10],
            Want {
                category: Some(Category::IpAllocation),
                level: Some(Severity::Debug),
                attrs: &[("ipam_block", "10.0.12.200/32")],
                ..Want::default()
            },
        );
        check(
            lines[11],
            Want {
                level: Some(Severity::Debug),
                metrics: &[("ip_pool_total", 14.0), ("ip_pool_assigned", 13.0)],
                ..Want::default()
            },
        );
        check(
            lines[13],
            Want {
                op: Some(Operation::Add),
                category: Some(Category::InterfaceSetup),
                level: Some(Severity::Debug),
                netns: Some("/var/run/netns/cni-8e2a4c6b-1d3f-4b5a-9c7e-2f4a6c8e0b1d"),
                if_name: Some("eth0"),
                host_interface: Some("vlan2f9b0c1d4e5"),
                ips: &["10.0.33.9/32"],
                plugin_type: Some("aws-cni"),
                attrs: &[
                    ("eni_mac", "0a:5b:7c:9d:1e:2f"),
                    ("vlan_id", "3"),
                    ("mtu", "9001"),
                ],
                ..Want::default()
            },
        );
        check(
            lines[15],
            Want {
                op: Some(Operation::Add),
                category: Some(Category::IpAllocation),
                level: Some(Severity::Info),
                container: Some("9f2c4e6a8b0d1f3e5a7c9b2d4f6e8a0c1b3d5f7e9a2c4b6d8f0e1a3c5b7d9f2e"),
                pod: Some("web-5d8f9c7b4-qk2lm"),
                namespace: Some("default"),
                ips: &["192.168.77.15"],
                plugin_type: Some("aws-cni"),
                success: Some(true),
                attrs: &[
                    ("route_table", "0"),
                    ("external_snat", "false"),
                    ("vpc_cidr", "192.168.0.0/16"),
                ],
                ..Want::default()
            },
        );
        check(
            lines[16],
            Want {
                level: Some(Severity::Debug),
                metrics: &[("ip_pool_total", 10.0), ("ip_pool_assigned", 10.0)],
                ..Want::default()
            },
        );
        check(
            lines[17],
            Want {
                category: Some(Category::IpAllocation),
                success: Some(true),
                level: Some(Severity::Info),
                ips: &["192.168.77.15"],
                attrs: &[("component", "ipamd")],
                ..Want::default()
            },
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(
            paren_value("A(x) Netns() B(f(1) \")\" g)", &Finder::new("B")),
            Some(("f(1) \")\" g", true))
        );
        assert_eq!(
            paren_value("A(x) Netns() B(x)", &Finder::new("Netns")),
            Some(("", true))
        );
        assert_eq!(
            paren_value("xA(1) A(2)", &Finder::new("A")),
            Some(("2", true))
        );
        assert_eq!(
            paren_value("Args(K8S_POD_NAME=a;K8S_PO", &Finder::new("Args")),
            Some(("K8S_POD_NAME=a;K8S_PO", false))
        );
        assert_eq!(
            proto_field(r#"Success:true IPv4Addr:"1.2.3.4""#, "IPv4Addr").as_deref(),
            Some("1.2.3.4")
        );
        assert_eq!(proto_field("IPv4Addr: , DeviceNumber: 0", "IPv4Addr"), None);
        assert_eq!(proto_field("XIPv4Addr:1.2.3.4", "IPv4Addr"), None);
        assert_eq!(
            inner_error("del cmd: rpc error: code = Unknown desc = datastore: unknown pod"),
            ("datastore: unknown pod", Some("Unknown"))
        );
    }

    #[test]
    fn truncated_args_drop_the_cut_value() {
        let f = parse_record(
            r#"2019-03-12T20:40:42Z [INFO] Received CNI del request: ContainerID(401bc7b652) Netns() IfName(eth0) Args(IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-ingress;K8S_POD_NAME=ingress-ng"#,
            None,
        )
        .unwrap();
        assert_eq!(f.namespace.as_deref(), Some("kube-ingress"));
        assert_eq!(f.pod_name, None);
        assert_eq!(f.netns, None);
    }

    #[test]
    fn other_formats_are_not_claimed() {
        for line in [
            r#"level=warning msg="Unable to enter namespace \"\", will not delete interface" error="failed to Statfs \"\": no such file or directory" subsys=cilium-cni"#,
            "2022-03-07 14:38:53.555 [INFO][20999] k8s.go 73: Extracted identifiers for CmdAddK8s ContainerID=\"x\"",
            r#"  Warning  FailedCreatePodSandBox  22m                 kubelet                  Failed to create pod sandbox: rpc error: code = Unknown desc = failed to set up sandbox container "1fbd04a78009306752329adc6462562b85c473dc6b3358f39d234f898d6c1f79" network for pod "wesql-6lss5-replicasets-0": networkPlugin cni failed to set up pod "wesql-6lss5-replicasets-0_default" network: add cmd: failed to assign an IP address to container"#,
            "2017/09/30 14:34:58 [cni-net] Processing DEL command with args {ContainerID:f363 Netns: IfName:eth0}.",
            r#"{"level":"info","ts":"2023-08-15T20:44:48.780Z","msg":"[cni-net] Found network with subnet","pid":3139991,"component":"cni","network":"azure","subnet":"10.244.0.0/16"}"#,
            r#"{"level":"info","ts":"2023-08-15T20:44:48.780Z","caller":"server/main.go:12","msg":"started"}"#,
            r#"{"cniVersion":"0.4.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.1.0.5/24"}]}"#,
            r#"Oct 02 23:27:34 ip-10-0-60-95.us-west-2.compute.internal containerd[2639]: time="2019-10-02T23:27:34.439359450Z" level=error msg="StopPodSandbox for "cae5" failed" error="failed to destroy network for sandbox "cae5": del cmd: failed to process delete request""#,
            "[INFO] server started",
            r#""calico" failed (add): error getting ClusterInformation"#,
        ] {
            assert_eq!(parse(&Envelope::strip(line)), None, "{line}");
        }
    }

    #[test]
    fn garbage_and_cut_lines_do_not_panic() {
        let corpus = include_str!("../../../fixtures/logs/aws-vpc-cni.log");
        let extra = include_str!("../../../fixtures/logs/extra/aws-vpc-cni.log");
        for line in corpus.lines().chain(extra.lines()) {
            for (cut, _) in line.char_indices() {
                let _ = parse(&Envelope::strip(&line[..cut]));
                let _ = parse(&Envelope::strip(&line[cut..]));
            }
        }
        for s in [
            "{",
            "{\"",
            "[",
            "[INFO]",
            "[INFO] ",
            "\"",
            "\"aws",
            "\"aws-cni\" failed (",
            "[INFO] ContainerID(",
            "[INFO] ContainerID((((",
            "[INFO] Received CNI add request: Args(",
            r#"{"caller":"ipamd/"#,
            r#"{"caller":"ipamd/x","msg":"Assign IP  to sandbox ///"}"#,
            r#"{"caller":"ipamd/x","msg":"no free IP available in the prefix - /"}"#,
            r#"{"caller":"ipamd/x","msg":"Send AddNetworkReply: err: "}"#,
            "[ERROR] Error received from DelNetwork gRPC call for container : rpc error: code = ",
            "[INFO] é ContainerID(é) Netns(é",
        ] {
            let _ = parse(&Envelope::strip(s));
        }
    }
}
