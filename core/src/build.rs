//! [`Facts`] → [`UnifiedEvent`]: category, severity, the one-sentence message, tags and id are
//! decided here, once, for every format.

use std::borrow::Cow;

use crate::event::{
    Category, CniInfo, EventType, Format, KubernetesInfo, NetworkInfo, Operation, Origin,
    PerformanceInfo, Severity, SystemInfo, Tags, UnifiedEvent,
};
use crate::facts::Facts;
use crate::text::{bounded, family_of_type, network_of, split_cidr, ByteSearch, PhraseSearch};
use crate::time::Timestamp;

/// Longest `raw` kept; the rest is cut and the cut is marked.
pub const MAX_RAW_BYTES: usize = 4096;
/// Longest message sentence.
const MAX_MESSAGE_BYTES: usize = 512;

/// Prefix of the tag naming the pod's namespace.
const NAMESPACE_TAG: &str = "namespace:";

/// Confidence of a record parsed from a log that states what it reports.
const LOG_CONFIDENCE: f64 = 0.9;

/// Builds the event for `facts`. `seq` makes the id unique within a run; `now` dates a record
/// that states no time of its own.
pub fn event(
    mut facts: Facts,
    origin: Origin,
    raw: Option<&str>,
    now: Timestamp,
    seq: u64,
) -> UnifiedEvent {
    event_from(&mut facts, origin, raw, now, seq)
}

/// [`event`], taking what it keeps out of `facts` where the caller holds them: a `Facts` passed
/// by value was copied whole (744 bytes) on the way in.
#[inline(always)]
pub(crate) fn event_from(
    facts: &mut Facts,
    origin: Origin,
    raw: Option<&str>,
    now: Timestamp,
    seq: u64,
) -> UnifiedEvent {
    let timestamp = facts.time.map_or(now, |t| t.resolve(now));
    let plugin = facts
        .plugin
        .or_else(|| facts.plugin_type.as_deref().and_then(family_of_type));
    let category = category(facts);
    let severity = severity(facts);
    let event_type = match (category, facts.format) {
        (Category::ConfigChange, _) => EventType::Config,
        (Category::Collector, _) => EventType::System,
        (_, Some(Format::KubeletEvent)) => EventType::Kubernetes,
        _ => EventType::Network,
    };
    let message = sentence(facts, plugin, category);
    let message = if message.len() <= MAX_MESSAGE_BYTES {
        message
    } else {
        bounded(&message, MAX_MESSAGE_BYTES)
    };

    let mut tags = Tags::default();
    tags.push(Cow::Borrowed("cni"));
    if let Some(p) = plugin {
        tags.push(Cow::Borrowed(p));
    }
    if let Some(op) = facts.operation {
        tags.push(Cow::Borrowed(op.as_str()));
    }
    if let Some(ns) = &facts.namespace {
        // Written in two pushes: `concat` sized and copied its pieces in a generic loop.
        let mut tag = String::with_capacity(NAMESPACE_TAG.len() + ns.len());
        tag.push_str(NAMESPACE_TAG);
        tag.push_str(ns);
        tags.push(Cow::Owned(tag));
    }
    if facts.success == Some(false) {
        tags.push(Cow::Borrowed("failed"));
    }

    let id = event_id(plugin, facts.operation, timestamp, seq);

    // Everything above only reads `facts`; below, its fields are taken into the blocks, and only
    // the facts two blocks share are cloned. A block is left out when it would equal its
    // default. Only the fields set here can differ from it, so they are tested directly:
    // building and dropping a default block (and its empty maps) for every event cost more
    // than the test. Each block is built once, in the event: the network block built apart
    // and then completed with its plugin name was copied a second time.
    let has_network = plugin.is_some()
        || facts.if_name.is_some()
        || !facts.ips.is_empty()
        || facts.subnet.is_some()
        || facts.gateway.is_some()
        || facts.mac.is_some()
        || facts.cni_version.is_some()
        || !facts.routes.is_empty()
        || facts.dns.is_some()
        || facts.host_interface.is_some();
    let has_kubernetes = facts.pod_uid.is_some()
        || facts.pod_name.is_some()
        || facts.namespace.is_some()
        || facts.container_id.is_some()
        || facts.node_name.is_some()
        || facts.event_reason.is_some();
    let has_cni = facts.operation.is_some()
        || facts.container_id.is_some()
        || facts.plugin_type.is_some()
        || facts.network_name.is_some()
        || facts.cni_version.is_some()
        || facts.if_name.is_some()
        || !facts.args.is_empty()
        || facts.exit_code.is_some()
        || facts.error.is_some();
    let has_performance = facts.success.is_some() || !facts.metrics.is_empty();
    let has_system = facts.hostname.is_some()
        || facts.node_name.is_some()
        || facts.netns.is_some()
        || facts.pid.is_some()
        || facts.comm.is_some();

    // Fields are evaluated in the order written: the blocks that clone a fact (`network`,
    // `kubernetes`) must stay before those that take it (`cni`, `system`).
    UnifiedEvent {
        id,
        timestamp,
        source: Cow::Borrowed("cni"),
        event_type,
        category,
        severity,
        confidence: facts.confidence.unwrap_or(LOG_CONFIDENCE),
        message,
        tags,
        origin,
        network: has_network.then(|| network(facts, plugin)),
        kubernetes: has_kubernetes.then(|| KubernetesInfo {
            pod_uid: facts.pod_uid.take(),
            pod_name: facts.pod_name.take(),
            namespace: facts.namespace.take(),
            container_id: facts.container_id.clone(),
            node_name: facts.node_name.clone(),
            event_reason: facts.event_reason.take(),
            ..KubernetesInfo::default()
        }),
        cni: has_cni.then(|| CniInfo {
            operation: facts.operation,
            container_id: facts.container_id.take(),
            plugin_type: facts.plugin_type.take(),
            network_name: facts.network_name.take(),
            cni_version: facts.cni_version.take(),
            if_name: facts.if_name.take(),
            args: std::mem::take(&mut facts.args),
            exit_code: facts.exit_code,
            error: facts.error.take(),
            chain: Vec::new(),
        }),
        performance: has_performance.then(|| PerformanceInfo {
            latency_ms: None,
            success: facts.success,
            metrics: std::mem::take(&mut facts.metrics),
        }),
        security: facts.security.take(),
        system: has_system.then(|| SystemInfo {
            hostname: facts.hostname.take(),
            node_name: facts.node_name.take(),
            network_ns: facts.netns.take(),
            pid: facts.pid,
            ppid: None,
            comm: facts.comm.take(),
        }),
        trace_context: None,
        attributes: std::mem::take(&mut facts.attributes),
        raw: raw.map(|r| bounded(r, MAX_RAW_BYTES)),
    }
}

/// The `network` block: the addresses, routes and dns move out of `facts`; the interface and
/// CNI version, which the `cni` block also states, are cloned.
fn network(facts: &mut Facts, plugin: Option<&'static str>) -> NetworkInfo {
    let subnet = facts
        .subnet
        .take()
        .or_else(|| facts.ips.first().and_then(|ip| network_of(ip)));
    let first_ip = match facts.ips.as_slice() {
        // A lone address without a prefix length moves into the block instead of being copied.
        [ip] if !ip.contains_byte(b'/') => facts.ips.pop(),
        ips => ips.first().map(|ip| split_cidr(ip).0.to_owned()),
    };
    NetworkInfo {
        plugin_name: plugin.map(Cow::Borrowed),
        interface_name: facts.if_name.clone(),
        ip_address: first_ip,
        subnet,
        gateway: facts.gateway.take(),
        mac: facts.mac.take(),
        cni_version: facts.cni_version.clone(),
        routes: std::mem::take(&mut facts.routes),
        dns: facts.dns.take(),
        ips: if facts.ips.len() > 1 {
            std::mem::take(&mut facts.ips)
        } else {
            Vec::new()
        },
        host_interface: facts.host_interface.take(),
    }
}

fn category(f: &Facts) -> Category {
    if let Some(c) = f.category {
        return c;
    }
    match f.operation {
        Some(Operation::Add) => Category::NetworkSetup,
        Some(Operation::Del) => Category::NetworkTeardown,
        Some(Operation::Check) => Category::NetworkCheck,
        Some(Operation::Status) | Some(Operation::Version) => Category::HealthCheck,
        _ => Category::PluginLog,
    }
}

fn severity(f: &Facts) -> Severity {
    let failed = f.success == Some(false);
    match (f.level, failed) {
        // A failed CNI operation is an error whatever level its line was logged at (a plugin
        // logs "Unable to create endpoint" at warning, kubectl shows every event as Warning).
        (Some(s), true) => s.max(Severity::Error),
        (Some(s), false) => s,
        (None, true) => Severity::Error,
        // An error the operation went on past (a DEL that tolerates a missing netns).
        (None, false) if f.error.is_some() => Severity::Warning,
        (None, false) => Severity::Info,
    }
}

/// Bytes reserved for a sentence: most fit, so it is written without growing.
const SENTENCE_CAPACITY: usize = 128;

/// A piece of a sentence, written straight into it. `format!` goes through `fmt::write`, which
/// cost more than all the rest of building an event.
trait Put {
    fn put(&self, out: &mut String);
}

impl Put for str {
    fn put(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Put for String {
    fn put(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl<T: Put + ?Sized> Put for &T {
    fn put(&self, out: &mut String) {
        (**self).put(out);
    }
}

/// Appends each piece to `out`, in order.
macro_rules! cat {
    ($out:expr; $($piece:expr),+ $(,)?) => {{
        $(Put::put(&$piece, $out);)+
    }};
}

/// `cni_<plugin>_<operation>_<unix nanos>_<seq>`, written as bytes and checked as text once:
/// checking each number's digits on their own cost more than writing them.
fn event_id(plugin: Option<&str>, op: Option<Operation>, at: Timestamp, seq: u64) -> String {
    let mut id = Vec::with_capacity(64);
    for part in [
        "cni_",
        plugin.unwrap_or("unknown"),
        "_",
        op.map_or("EVENT", Operation::as_str),
        "_",
    ] {
        id.extend_from_slice(part.as_bytes());
    }
    push_int(&mut id, at.unix_nanos());
    id.push(b'_');
    push_uint(&mut id, seq);
    // Every part is text and digits are ASCII, so this never takes the lossy path.
    String::from_utf8(id).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Appends the decimal digits of `n`, as `{n}` would write them.
fn push_int(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_uint(out, n.unsigned_abs());
}

fn push_uint(out: &mut Vec<u8>, mut n: u64) {
    // Two digits per division: an id's nanosecond time has 19 of them.
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    // Four digits per division while there are more than four: an id's 19 take 4 of them.
    while n >= 10_000 {
        // `n % 10_000` is below 10,000, so the cast keeps it whole.
        let four = (n % 10_000) as usize;
        n /= 10_000;
        at -= 4;
        digits[at..at + 2].copy_from_slice(&PAIRS[2 * (four / 100)..2 * (four / 100) + 2]);
        digits[at + 2..at + 4].copy_from_slice(&PAIRS[2 * (four % 100)..2 * (four % 100) + 2]);
    }
    while n >= 100 {
        // `n % 100` is below 100, so the cast keeps it whole.
        let pair = 2 * (n % 100) as usize;
        n /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = 2 * n as usize;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        // `n` is below 10 here.
        digits[at] = b'0' + n as u8;
    }
    out.extend_from_slice(&digits[at..]);
}

/// How the sentence names the pod: `pod ns/name`, `pod name` or `container <id prefix>`.
#[derive(Clone, Copy)]
enum Pod<'a> {
    Named(Option<&'a str>, &'a str),
    Container(&'a str),
}

impl Put for Pod<'_> {
    fn put(&self, out: &mut String) {
        match *self {
            Pod::Named(Some(ns), p) => cat!(out; "pod ", ns, "/", p),
            Pod::Named(None, p) => cat!(out; "pod ", p),
            Pod::Container(c) => cat!(out; "container ", c),
        }
    }
}

fn pod_phrase(f: &Facts) -> Option<Pod<'_>> {
    match (&f.namespace, &f.pod_name) {
        (ns, Some(p)) => Some(Pod::Named(ns.as_deref(), p)),
        _ => f.container_id.as_deref().map(|c| {
            // Ids come from untrusted text: cut by characters, not bytes.
            Pod::Container(c.char_indices().nth(12).map_or(c, |(i, _)| &c[..i]))
        }),
    }
}

/// `value` after `lead` (" via calico", " for pod ns/x"), or nothing when there is no value:
/// the optional phrases of a sentence, written without building strings for them.
struct Opt<'a, T>(&'a str, Option<T>);

impl<T: Put> Put for Opt<'_, T> {
    fn put(&self, out: &mut String) {
        if let Some(v) = &self.1 {
            out.push_str(self.0);
            v.put(out);
        }
    }
}

/// What a sentence is about: fixed words around an optional name (`CNI ADD`, `IP 10.0.0.5
/// allocation`, `interface setup`).
#[derive(Clone, Copy)]
struct What<'a>(&'static str, Option<&'a str>, &'static str);

impl Put for What<'_> {
    fn put(&self, out: &mut String) {
        out.push_str(self.0);
        if let Some(name) = self.1 {
            out.push_str(name);
        }
        out.push_str(self.2);
    }
}

fn sentence(f: &Facts, plugin: Option<&str>, category: Category) -> String {
    let mut out = String::with_capacity(SENTENCE_CAPACITY);
    write_sentence(&mut out, f, plugin, category);
    out
}

fn write_sentence(out: &mut String, f: &Facts, plugin: Option<&str>, category: Category) {
    let via = Opt(" via ", plugin);
    let pod = pod_phrase(f);
    let to_pod = Opt(" to ", pod);
    let from_pod = Opt(" from ", pod);
    let for_pod = Opt(" for ", pod);
    let ip = f.ips.first().map(|ip| split_cidr(ip).0);
    // A short `details` completes the error ("try again later (the IPAM daemon is
    // restarting)"); a long one is a dump and stays in the cni block.
    let err_text = f.error.as_ref().map(|e| match &e.details {
        Some(d) if d.len() <= 160 && !e.msg.contains_str(d) && !d.contains_str(&e.msg) => {
            Cow::Owned([e.msg.as_str(), " (", d, ")"].concat())
        }
        _ => Cow::Borrowed(e.msg.as_str()),
    });
    let err = err_text.as_deref();
    // The message's gist is read only where the sentence uses it: finding a dump in it scans
    // the whole message.
    let own = || f.message.as_deref().map(gist);
    match category {
        // "allocated" / "released" only where the record reports it done; otherwise the
        // record's own words say what stage it is at ("Releasing address using workloadID").
        Category::IpAllocation if f.success == Some(true) => match ip {
            Some(ip) => cat!(out; "IP ", ip, " allocated", to_pod, via),
            None => cat!(out; "IP allocated", to_pod, via),
        },
        Category::IpDeallocation if f.success == Some(true) => match ip {
            Some(ip) => cat!(out; "IP ", ip, " released", from_pod, via),
            None => cat!(out; "IP address released", from_pod, via),
        },
        Category::IpAllocation | Category::IpDeallocation
            if f.success.is_none() && err.is_none() =>
        {
            let what = match (category, ip) {
                (Category::IpAllocation, Some(ip)) => What("IP ", Some(ip), ""),
                (Category::IpAllocation, None) => What("IP allocation", None, ""),
                (_, Some(ip)) => What("IP ", Some(ip), " release"),
                (_, None) => What("IP release", None, ""),
            };
            match own() {
                Some(m) => cat!(out; what, for_pod, via, ": ", m),
                None => cat!(out; what, for_pod, via),
            }
        }
        Category::NetworkSetup
        | Category::NetworkTeardown
        | Category::NetworkCheck
        | Category::IpAllocation
        | Category::IpDeallocation
        | Category::InterfaceSetup
        | Category::InterfaceTeardown => {
            let what = match (category, f.operation) {
                (_, Some(op)) => What("CNI ", Some(op.as_str()), ""),
                (Category::IpAllocation, None) => match ip {
                    Some(ip) => What("IP ", Some(ip), " allocation"),
                    None => What("IP allocation", None, ""),
                },
                (Category::IpDeallocation, None) => match ip {
                    Some(ip) => What("IP ", Some(ip), " release"),
                    None => What("IP release", None, ""),
                },
                (Category::InterfaceSetup, None) => match &f.if_name {
                    Some(i) => What("interface ", Some(i), " setup"),
                    None => What("interface setup", None, ""),
                },
                (Category::InterfaceTeardown, None) => match &f.if_name {
                    Some(i) => What("interface ", Some(i), " teardown"),
                    None => What("interface teardown", None, ""),
                },
                (Category::NetworkTeardown, None) => What("network teardown", None, ""),
                (Category::NetworkCheck, None) => What("network check", None, ""),
                _ => What("network setup", None, ""),
            };
            match (f.success, err) {
                (Some(false), Some(e)) => cat!(out; what, " failed", for_pod, via, ": ", e),
                (None, Some(e)) => match own() {
                    Some(m) => cat!(out; what, for_pod, via, ": ", m, ": ", e),
                    None => cat!(out; what, for_pod, via, ": ", e),
                },
                (Some(false), None) => match own() {
                    Some(m) => cat!(out; what, " failed", for_pod, via, ": ", m),
                    None => cat!(out; what, " failed", for_pod, via),
                },
                (Some(true), _) => match ip {
                    Some(ip) => cat!(out; what, " succeeded", for_pod, via, " with IP ", ip),
                    None => cat!(out; what, " succeeded", for_pod, via),
                },
                (None, None) => match own() {
                    Some(m) => cat!(out; what, for_pod, via, ": ", m),
                    None => cat!(out; what, for_pod, via),
                },
            }
        }
        Category::HealthCheck => {
            let what = match f.operation {
                Some(op) => What("CNI ", Some(op.as_str()), ""),
                None => What("CNI health", None, ""),
            };
            let versions = f.attributes.get("supported_versions");
            let own = own();
            match (err.or(own), versions) {
                // The statement and its cause: "Container runtime network not ready: cni plugin
                // not initialized".
                (Some(e), _) if err.is_some() && own.is_some_and(|m| !e.contains_str(m)) => {
                    cat!(out; what, via, ": ", own.unwrap_or_default(), ": ", e)
                }
                (Some(m), _) => cat!(out; what, via, ": ", m),
                (None, Some(v)) => cat!(out; what, via, ": supports CNI versions ", v),
                (None, None) if f.success == Some(true) => cat!(out; what, via, ": ok"),
                (None, None) => cat!(out; what, via),
            }
        }
        _ => {
            let who = plugin
                .or(f.plugin_type.as_deref())
                .or(f.comm.as_deref())
                .unwrap_or("CNI");
            let text = err.or_else(own).unwrap_or("log record");
            match &pod {
                Some(p) => cat!(out; who, " (", p, "): ", text),
                None => cat!(out; who, ": ", text),
            }
        }
    }
}

/// Shortest head [`gist`] keeps: a cut before it would leave too little to read.
const MIN_GIST: usize = 8;

/// Where a request dump starts in `msg` (at or after [`MIN_GIST`]): a `{`, `[` or `=`; a `"`
/// after a colon (protobuf text, `K8S_POD_NAME:"x"`); or a `(` glued to a word that is not a
/// plural suffix (a parenthesis after a space opens an aside: "labels (blocking)").
fn dump_start(msg: &str) -> Option<usize> {
    let b = msg.as_bytes();
    let from = MIN_GIST.min(b.len());
    // The marks are ASCII, so the positions found are character boundaries. The marks that
    // always cut are found in one scan; the conditional ones only before it.
    let always = memchr::memchr3(b'{', b'[', b'=', &b[from..]).map(|k| from + k);
    let end = always.unwrap_or(b.len());
    let mut at = from;
    while let Some(k) = memchr::memchr2(b'"', b'(', &b[at..end]) {
        let i = at + k;
        // `i` is at least MIN_GIST, so it has a byte before it.
        let before = b[i - 1];
        let cut = if b[i] == b'"' {
            before == b':'
        } else {
            before != b' ' && !msg[i..].starts_with("(es)") && !msg[i..].starts_with("(s)")
        };
        if cut {
            return Some(i);
        }
        at = i + 1;
    }
    always
}

/// The prose head of a plugin's message, without the request dump that often follows it
/// (`Processing ADD command with args {ContainerID:...}`, `Received CNI add request:
/// ContainerID(...)`, `SetupPodNetwork: hostVethName=...`): those facts are in the event's
/// fields and `raw`, and a sentence stays readable.
fn gist(msg: &str) -> &str {
    let cut = dump_start(msg);
    let head = match cut {
        // A dump glued to a name (`ContainerID(`, `types.ArgsSpec{`, `key=`): drop the name too.
        Some(i) if !msg[..i].ends_with(' ') => {
            let before = &msg[..i];
            before.rfind([' ', ',']).map_or(before, |k| &before[..k])
        }
        Some(i) => &msg[..i],
        None => msg,
    };
    let head = head.trim_end_matches([' ', ':', ',', '&', '-']);
    if head.len() < MIN_GIST {
        msg
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::{gist, push_int, push_uint};

    #[test]
    fn integers_are_written_as_format_writes_them() {
        for n in [
            0,
            7,
            -7,
            10,
            99,
            100,
            101,
            1_000_000,
            1_768_478_400_000_000_000,
            i64::MIN,
            i64::MAX,
        ] {
            let mut out = Vec::new();
            push_int(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
        let mut out = Vec::new();
        push_uint(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn gist_drops_request_dumps() {
        let cases = [
            (
                "Processing ADD command with args {ContainerID:f363 Netns: IfName:eth0}.",
                "Processing ADD command with args",
            ),
            (
                "Received CNI add request: ContainerID(6397) Netns(/var/run/netns/x)",
                "Received CNI add request",
            ),
            (
                "SetupPodNetwork: hostVethName=eni4a5c3305307, contVethName=eth0",
                "SetupPodNetwork",
            ),
            (
                "Calico CNI using IPs: [172.29.168.137/32]",
                "Calico CNI using IPs",
            ),
            (
                "Subnet removed: 10.1.88.0/24",
                "Subnet removed: 10.1.88.0/24",
            ),
            ("a=b", "a=b"),
            ("Releasing IP address(es)", "Releasing IP address(es)"),
            (
                "DelNetworkRequest: ClientVersion:\"v1.18.1\" K8S_POD_NAME:\"x\"",
                "DelNetworkRequest",
            ),
            (
                "Resolving identity labels (blocking)",
                "Resolving identity labels (blocking)",
            ),
            ("CNI Args: types.ArgsSpec{CommonArgs:x}", "CNI Args"),
        ];
        for (input, want) in cases {
            assert_eq!(gist(input), want, "{input}");
        }
    }
}
