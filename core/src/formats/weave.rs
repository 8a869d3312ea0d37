//! Weave Net: the router's and weave-npc's own lines (`INFO: 2017/06/06 15:47:48.503688 ...`),
//! and the weave CNI plugin's IPAM failures as kubelet logs them, recognised by the router's
//! IPAM URL (`127.0.0.1:6784/ip/<container id>`).

use std::sync::LazyLock;

use memchr::memmem::{self, Finder};

use crate::envelope::Envelope;
use crate::event::{Category, Operation, SecurityInfo, Severity};
use crate::facts::Facts;
use crate::text::{is_container_id, looks_like_ip, ByteSearch, PhraseSearch, TrimFast};
use crate::time::parse_iso;

/// The router's HTTP API, which the weave CNI plugin asks for addresses.
const IPAM_URL: &[u8] = b":6784/ip/";

/// A phrase looked for in every router line. Building a substring searcher costs more than
/// searching one line, so each phrase's searcher is built once.
type Phrase = LazyLock<Finder<'static>>;

static OUTGOING: Phrase = LazyLock::new(|| Finder::new("->["));
static INCOMING: Phrase = LazyLock::new(|| Finder::new("<-["));
static NPC_BLOCKED: Phrase = LazyLock::new(|| Finder::new(" blocked by Weave NPC"));
static DUE_TO_ERROR: Phrase = LazyLock::new(|| Finder::new("due to error: "));

/// Kubelet's prose around a CNI error (dockershim `cni.go`), and the operation it names.
const KUBELET_PREFIXES: [(&str, Operation); 6] = [
    ("Error adding network: ", Operation::Add),
    ("Error while adding to cni network: ", Operation::Add),
    ("Error deleting network: ", Operation::Del),
    ("Error while removing pod from network: ", Operation::Del),
    ("Error while deleting network: ", Operation::Del),
    ("Error tearing down network: ", Operation::Del),
];

pub(crate) fn parse(env: &Envelope<'_>) -> Option<Facts> {
    let body = env.body.trim_fast();
    if let Some(f) = router_line(body) {
        return Some(f);
    }
    let plain_error = body.starts_with("Error ") || body.starts_with("unable to ");
    if plain_error && memmem::find(body.as_bytes(), IPAM_URL).is_some() {
        return ipam_failure(body, env.process);
    }
    None
}

/// weave's formatter: a four-letter level, a colon, a `YYYY/MM/DD HH:MM:SS.micros` time.
fn router_line(body: &str) -> Option<Facts> {
    // Most records are not weave's: two bytes reject them before six-byte comparisons.
    if body.as_bytes().get(4..6) != Some(b": ") {
        return None;
    }
    let level = match body.get(..6)? {
        "DEBU: " => Severity::Debug,
        "INFO: " => Severity::Info,
        "WARN: " => Severity::Warning,
        "ERRO: " => Severity::Error,
        "FATA: " | "PANI: " => Severity::Critical,
        _ => return None,
    };
    let rest = &body[6..];
    let (time, used) = parse_iso(rest)?;
    let mut msg = rest.get(used..)?.trim_fast();

    let mut f = Facts {
        plugin: Some("weave"),
        level: Some(level),
        time: Some(time),
        ..Facts::default()
    };
    // `[allocator fa:e5:26:56:81:20] ...`, `[net] ...`: the component, and our peer name.
    if let Some(tagged) = msg.strip_prefix('[') {
        if let Some((tag, after)) = tagged.split_once_byte(b']') {
            let mut words = tag.split_whitespace();
            f.attr("component", words.next().unwrap_or(""));
            f.attr("local_peer", words.next().unwrap_or(""));
            msg = after.trim_start_matches(':').trim_fast();
        }
    }
    msg = connection_prefix(&mut f, msg);
    if !msg.is_empty() {
        f.message = Some(msg.to_owned());
    }
    if let Some(rest) = msg.strip_prefix("Discovered remote MAC ") {
        // `<mac> at <peer name>(<nickname>)`: a remote peer's MAC seen on the data plane, not
        // a pod interface's.
        let mut words = rest.split_whitespace();
        f.attr("remote_mac", words.next().unwrap_or(""));
        if let (Some("at"), Some(peer)) = (words.next(), words.next()) {
            peer_attrs(&mut f, "remote_peer", peer);
        }
    } else if let Some(rest) = msg.strip_prefix("Allocated ") {
        allocated(&mut f, rest);
    } else if let Some(rest) = msg.strip_prefix("Our name is ") {
        peer_attrs(&mut f, "local_peer", rest.trim_fast());
    } else if let Some(rest) = msg.strip_prefix("Removed unreachable peer ") {
        peer_attrs(&mut f, "remote_peer", rest.trim_fast());
    } else if let Some(rest) = msg.strip_prefix("Command line options: map[") {
        options(&mut f, rest);
    } else if let Some(rest) = msg.strip_prefix("weave ") {
        let version = rest.trim_fast();
        if version.starts_with(|c: char| c.is_ascii_digit()) && !version.contains_byte(b' ') {
            f.attr("version", version);
        }
    } else if let Some(rest) = msg.strip_prefix("Bridge type is ") {
        f.attr("bridge_type", rest.trim_fast());
    } else if let Some(at) = NPC_BLOCKED.find(msg.as_bytes()) {
        npc_block(&mut f, &msg[..at]);
    } else if let Some(at) = DUE_TO_ERROR.find(msg.as_bytes()) {
        f.set_error(&msg[at + DUE_TO_ERROR.needle().len()..]);
    } else if level >= Severity::Error {
        f.set_error(msg);
    }
    Some(f)
}

/// A connection's prefix `->[<address>|<peer>(<nick>)]: `, `->[<address>] `, or `<component>
/// ->[<peer>(<nick>)] `: the remote end goes to attributes and the message is what follows.
fn connection_prefix<'m>(f: &mut Facts, msg: &'m str) -> &'m str {
    let bytes = msg.as_bytes();
    let Some(at) = OUTGOING.find(bytes).or_else(|| INCOMING.find(bytes)) else {
        return msg;
    };
    let head = msg.get(..at).unwrap_or("").trim_fast();
    if head.contains_byte(b' ') {
        return msg;
    }
    let Some((inside, after)) = msg.get(at + 3..).and_then(|r| r.split_once_byte(b']')) else {
        return msg;
    };
    f.attr("component", head);
    for part in inside.split_byte(b'|') {
        if part.contains_byte(b'(') || is_peer_name(part) {
            peer_attrs(f, "remote_peer", part);
        } else {
            f.attr("remote_address", part);
        }
    }
    after.trim_start_matches(':').trim_fast()
}

/// weave peer names are MAC-like: six colon-separated hex pairs.
fn is_peer_name(s: &str) -> bool {
    s.len() == 17
        && s.split_byte(b':')
            .all(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// `f2:8e:b2:d2:34:1b(worker2)`: a peer's name and its nickname, under `key` and
/// `<key>_nickname`.
fn peer_attrs(f: &mut Facts, key: &'static str, peer: &str) {
    match peer.split_once_byte(b'(') {
        Some((name, nick)) => {
            f.attr(key, name);
            f.attr(format!("{key}_nickname"), nick.trim_end_matches(')'));
        }
        None => f.attr(key, peer),
    }
}

/// The router's `Command line options: map[k:v k:v ...]`: the allocation range and this
/// peer's name.
fn options(f: &mut Facts, map: &str) {
    let map = map.trim_end().trim_end_matches(']');
    for pair in map.split_whitespace() {
        let Some((k, v)) = pair.split_once_byte(b':') else {
            continue;
        };
        match k {
            "ipalloc-range" => f.attr("ipalloc_range", v),
            "name" => f.attr("local_peer", v),
            "nickname" => f.attr("local_peer_nickname", v),
            _ => {}
        }
    }
}

/// weave-npc's `TCP connection from 10.32.0.9:54356 to 10.96.0.1:443` (ports only for TCP and
/// UDP): a packet a network policy dropped.
fn npc_block(f: &mut Facts, head: &str) {
    f.category = Some(Category::SecurityViolation);
    f.security = Some(Box::new(SecurityInfo {
        action: Some("blocked".to_owned()),
        ..SecurityInfo::default()
    }));
    let Some((proto, rest)) = head.split_once_str(" connection from ") else {
        return;
    };
    f.attr("protocol", proto.trim_fast());
    let Some((src, dst)) = rest.split_once_str(" to ") else {
        return;
    };
    for (end, addr) in [("src", src.trim_fast()), ("dst", dst.trim_fast())] {
        let (ip, port) = if looks_like_ip(addr) {
            (addr, "")
        } else {
            addr.rsplit_once_byte(b':')
                .filter(|(ip, port)| looks_like_ip(ip) && port.bytes().all(|c| c.is_ascii_digit()))
                .unwrap_or(("", ""))
        };
        f.attr(format!("{end}_ip"), ip);
        f.attr(format!("{end}_port"), port);
    }
}

/// The allocator's debug line `Allocated 10.32.0.7 for <ident> in 10.32.0.0/12`.
fn allocated(f: &mut Facts, rest: &str) {
    let mut words = rest.split_whitespace();
    let Some(ip) = words.next().filter(|w| looks_like_ip(w)) else {
        return;
    };
    f.category = Some(Category::IpAllocation);
    f.success = Some(true);
    f.add_ip(ip);
    if words.next() == Some("for") {
        if let Some(ident) = words.next() {
            if is_container_id(ident) {
                Facts::set(&mut f.container_id, ident);
            } else {
                f.attr("ipam_handle", ident);
            }
        }
    }
    if words.next() == Some("in") {
        if let Some(range) = words.next().filter(|w| looks_like_ip(w)) {
            Facts::set(&mut f.subnet, range);
        }
    }
}

/// `Error adding network: unable to allocate IP address: Post http://127.0.0.1:6784/ip/<id>:
/// dial tcp 127.0.0.1:6784: ...`: only kubelet's bare sentence or the plugin's own error; an
/// event row or a containerd line that quotes it is the runtime parsers' record.
fn ipam_failure(body: &str, process: Option<&str>) -> Option<Facts> {
    let kubelet = KUBELET_PREFIXES
        .iter()
        .find_map(|(p, op)| body.strip_prefix(p).map(|rest| (*op, rest)));
    let (op, err) = match kubelet {
        Some(found) => found,
        None if body.starts_with("unable to allocate IP address") => (Operation::Add, body),
        None if body.starts_with("unable to release IP address") => (Operation::Del, body),
        None => return None,
    };
    let mut f = Facts {
        plugin: Some("weave"),
        ..Facts::default()
    };
    if kubelet.is_some() {
        // Kubelet's own prose (`cni.go`): the klog pid is kubelet's, not the plugin's.
        f.comm = Some(process.unwrap_or("kubelet").to_owned());
    }
    // The family is read from the router's well-known port, not stated.
    f.confidence = Some(0.7);
    f.operation = Some(op);
    f.success = Some(false);
    f.set_error(err);
    f.message = Some(body.to_owned());
    if err.starts_with("unable to allocate IP address") {
        f.category = Some(Category::IpAllocation);
    } else if err.starts_with("unable to release IP address") {
        f.category = Some(Category::IpDeallocation);
    }
    if let Some(at) = memmem::find(body.as_bytes(), IPAM_URL) {
        let tail = &body[at + IPAM_URL.len()..];
        let end = tail
            .bytes()
            .position(|c| !c.is_ascii_hexdigit())
            .unwrap_or(tail.len());
        let id = &tail[..end];
        if is_container_id(id) {
            Facts::set(&mut f.container_id, id);
        }
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Format;
    use crate::formats::cni_json::tests::{survives_truncation, FOREIGN, SIBLINGS};
    use crate::formats::parse_record;

    const CORPUS: [&str; 4] = [
        r#"INFO: 2017/06/06 15:47:48.503688 Communication between peers is unencrypted."#,
        r#"INFO: 2022/08/25 18:14:52.412242 Discovered remote MAC f2:8e:b2:d2:34:1b at f2:8e:b2:d2:34:1b(worker2)"#,
        r#"INFO: 2024/08/01 05:35:26.962459 [allocator fa:e5:26:56:81:20] No valid persisted data"#,
        r#"Feb 28 14:21:50 ip-10-128-171-159 kubelet[735]: E0228 14:21:50.538102     735 cni.go:255] Error adding network: unable to allocate IP address: Post http://127.0.0.1:6784/ip/28d43bd0bc62c2043819662c6bed43737d8ea20bf3b1ab3c804e73760603474e: dial tcp 127.0.0.1:6784: getsockopt: connection refused"#,
    ];

    fn claimed(line: &str) -> Facts {
        let f = parse_record(line, None).expect("claimed");
        assert_eq!(f.format, Some(Format::Weave), "{line}");
        assert_eq!(f.plugin, Some("weave"));
        f
    }

    fn attr<'a>(f: &'a Facts, key: &str) -> Option<&'a str> {
        f.attributes.get(key).map(String::as_str)
    }

    #[test]
    fn router_lines() {
        let f = claimed(CORPUS[0]);
        assert_eq!(f.level, Some(Severity::Info));
        assert_eq!(
            f.message.as_deref(),
            Some("Communication between peers is unencrypted.")
        );
        assert_eq!(f.time, parse_iso("2017/06/06 15:47:48.503688").map(|t| t.0));
        assert_eq!((f.category, f.success, f.error), (None, None, None));

        // A remote peer's MAC on the data plane, not a pod interface's.
        let f = claimed(CORPUS[1]);
        assert_eq!(f.mac, None);
        assert_eq!(attr(&f, "remote_mac"), Some("f2:8e:b2:d2:34:1b"));
        assert_eq!(attr(&f, "remote_peer"), Some("f2:8e:b2:d2:34:1b"));
        assert_eq!(attr(&f, "remote_peer_nickname"), Some("worker2"));
        assert!(f.ips.is_empty());

        let f = claimed(CORPUS[2]);
        assert_eq!(attr(&f, "component"), Some("allocator"));
        assert_eq!(attr(&f, "local_peer"), Some("fa:e5:26:56:81:20"));
        assert_eq!(f.message.as_deref(), Some("No valid persisted data"));
        assert_eq!(f.mac, None);
    }

    #[test]
    fn start_up_and_peers() {
        let f = claimed("INFO: 2023/03/02 09:14:01.100231 Command line options: map[conn-limit:200 datapath:datapath http-addr:127.0.0.1:6784 ipalloc-init:consensus=3 ipalloc-range:10.32.0.0/12 name:4a:7c:1f:0e:9b:22 nickname:node-1 port:6783]");
        assert_eq!(attr(&f, "ipalloc_range"), Some("10.32.0.0/12"));
        assert_eq!(attr(&f, "local_peer"), Some("4a:7c:1f:0e:9b:22"));
        assert_eq!(attr(&f, "local_peer_nickname"), Some("node-1"));
        assert_eq!(f.subnet, None);

        let f = claimed("INFO: 2023/03/02 09:14:01.100467 weave  2.8.1");
        assert_eq!(attr(&f, "version"), Some("2.8.1"));
        let f = claimed("INFO: 2023/03/02 09:14:01.512190 Bridge type is bridged_fastdp");
        assert_eq!(attr(&f, "bridge_type"), Some("bridged_fastdp"));

        // The local peer under one key, whichever line names it.
        let f = claimed("INFO: 2023/03/02 09:14:01.519870 Our name is 4a:7c:1f:0e:9b:22(node-1)");
        assert_eq!(attr(&f, "local_peer"), Some("4a:7c:1f:0e:9b:22"));
        assert_eq!(attr(&f, "local_peer_nickname"), Some("node-1"));
        let f = claimed("INFO: 2023/03/02 09:14:01.530044 [allocator 4a:7c:1f:0e:9b:22] Initialising with persisted data");
        assert_eq!(attr(&f, "local_peer"), Some("4a:7c:1f:0e:9b:22"));

        let f = claimed(
            "INFO: 2023/03/02 09:14:01.548810 ->[192.168.56.12:6783] attempting connection",
        );
        assert_eq!(attr(&f, "remote_address"), Some("192.168.56.12:6783"));
        assert_eq!(f.message.as_deref(), Some("attempting connection"));

        let f = claimed("INFO: 2023/03/02 09:14:01.561822 ->[192.168.56.12:6783|d2:91:5e:3a:70:0f(node-2)]: connection ready; using protocol version 2");
        assert_eq!(attr(&f, "remote_address"), Some("192.168.56.12:6783"));
        assert_eq!(attr(&f, "remote_peer"), Some("d2:91:5e:3a:70:0f"));
        assert_eq!(attr(&f, "remote_peer_nickname"), Some("node-2"));
        assert_eq!(
            f.message.as_deref(),
            Some("connection ready; using protocol version 2")
        );
        assert_eq!(f.error, None);

        let f = claimed("INFO: 2023/03/02 09:14:01.562107 overlay_switch ->[d2:91:5e:3a:70:0f(node-2)] using fastdp");
        assert_eq!(attr(&f, "component"), Some("overlay_switch"));
        assert_eq!(attr(&f, "remote_peer"), Some("d2:91:5e:3a:70:0f"));
        assert_eq!(f.message.as_deref(), Some("using fastdp"));

        let f = claimed("INFO: 2023/03/02 09:20:44.118022 ->[192.168.56.13:6783|6e:01:aa:4c:d8:91(node-3)]: connection shutting down due to error: read tcp 192.168.56.11:6783->192.168.56.13:41234: read: connection reset by peer");
        assert_eq!(attr(&f, "remote_address"), Some("192.168.56.13:6783"));
        assert_eq!(attr(&f, "remote_peer_nickname"), Some("node-3"));
        assert_eq!(
            f.error.map(|e| e.msg).as_deref(),
            Some(
                "read tcp 192.168.56.11:6783->192.168.56.13:41234: read: connection reset by peer"
            )
        );
        assert_eq!(f.success, None);

        let f = claimed(
            "INFO: 2023/03/02 09:20:44.120550 Removed unreachable peer 6e:01:aa:4c:d8:91(node-3)",
        );
        assert_eq!(attr(&f, "remote_peer"), Some("6e:01:aa:4c:d8:91"));
        assert_eq!(attr(&f, "remote_peer_nickname"), Some("node-3"));
    }

    #[test]
    fn npc_blocks_are_security_violations() {
        let f = claimed("WARN: 2023/03/02 09:25:00.000113 TCP connection from 10.32.0.9:54356 to 10.96.0.1:443 blocked by Weave NPC.");
        assert_eq!(f.category, Some(Category::SecurityViolation));
        assert_eq!(
            f.security.as_ref().and_then(|s| s.action.as_deref()),
            Some("blocked")
        );
        assert_eq!(attr(&f, "protocol"), Some("TCP"));
        assert_eq!(attr(&f, "src_ip"), Some("10.32.0.9"));
        assert_eq!(attr(&f, "src_port"), Some("54356"));
        assert_eq!(attr(&f, "dst_ip"), Some("10.96.0.1"));
        assert_eq!(attr(&f, "dst_port"), Some("443"));
        assert!(f.ips.is_empty());

        let f = claimed("WARN: 2023/03/02 09:25:00.000113 ICMP connection from 10.32.0.9 to 10.32.0.4 blocked by Weave NPC.");
        assert_eq!(attr(&f, "dst_ip"), Some("10.32.0.4"));
        assert_eq!(attr(&f, "dst_port"), None);
    }

    #[test]
    fn allocator_and_errors() {
        let f = claimed("DEBU: 2019/04/02 10:11:12.000100 [allocator 9a:3f:51:0e:11:7c] Allocated 10.32.0.7 for 0b7e6a1c3f1f4fd2e4a9d7c8b6a5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7 in 10.32.0.0/12");
        assert_eq!(f.level, Some(Severity::Debug));
        assert_eq!(f.category, Some(Category::IpAllocation));
        assert_eq!(f.success, Some(true));
        assert_eq!(f.ips, ["10.32.0.7"]);
        assert_eq!(f.subnet.as_deref(), Some("10.32.0.0/12"));
        assert_eq!(
            f.container_id.as_deref(),
            Some("0b7e6a1c3f1f4fd2e4a9d7c8b6a5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7")
        );
        let f = claimed("DEBU: 2019/04/02 10:11:12.000100 [allocator 9a:3f:51:0e:11:7c] Allocated 10.32.0.1 for weave:expose in 10.32.0.0/12");
        assert_eq!(attr(&f, "ipam_handle"), Some("weave:expose"));
        assert_eq!(f.container_id, None);

        let f = claimed("ERRO: 2020/01/15 09:00:00.000001 [boltDB] Unable to open /weavedb/weave-netdata.db: timeout");
        assert_eq!(f.level, Some(Severity::Error));
        assert_eq!(attr(&f, "component"), Some("boltDB"));
        assert_eq!(
            f.error.map(|e| e.msg).as_deref(),
            Some("Unable to open /weavedb/weave-netdata.db: timeout")
        );
    }

    #[test]
    fn ipam_failure_via_kubelet() {
        let f = claimed(CORPUS[3]);
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.category, Some(Category::IpAllocation));
        assert_eq!(f.success, Some(false));
        assert_eq!(f.confidence, Some(0.7));
        assert_eq!(
            f.container_id.as_deref(),
            Some("28d43bd0bc62c2043819662c6bed43737d8ea20bf3b1ab3c804e73760603474e")
        );
        assert_eq!(
            f.error.map(|e| e.msg).as_deref(),
            Some("unable to allocate IP address: Post http://127.0.0.1:6784/ip/28d43bd0bc62c2043819662c6bed43737d8ea20bf3b1ab3c804e73760603474e: dial tcp 127.0.0.1:6784: getsockopt: connection refused")
        );
        assert_eq!(f.level, Some(Severity::Error));
        assert_eq!(f.pid, Some(735));
        assert_eq!(f.comm.as_deref(), Some("kubelet"));
        assert_eq!(f.hostname.as_deref(), Some("ip-10-128-171-159"));

        let f = claimed(
            r#"E0301 10:00:00.000000    2211 cni.go:273] Error deleting network: unable to release IP address: Delete "http://127.0.0.1:6784/ip/5d2b7a1c": dial tcp 127.0.0.1:6784: connect: connection refused"#,
        );
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.category, Some(Category::IpDeallocation));
        // Kubelet's `cni.go` prose: the pid is kubelet's.
        assert_eq!(f.comm.as_deref(), Some("kubelet"));
        assert_eq!(f.pid, Some(2211));
        // A short id in the URL is not taken for a container id.
        assert_eq!(f.container_id, None);
    }

    #[test]
    fn other_lines_are_not_claimed() {
        for line in FOREIGN
            .iter()
            .chain(SIBLINGS)
            .filter(|l| !CORPUS.contains(l))
        {
            assert_eq!(parse(&Envelope::strip(line)), None, "{line}");
        }
        for line in [
            "INFO: not a weave line",
            "INFO: 2017/06/06 garbage",
            "Error adding network: failed to allocate for range 0",
        ] {
            assert_eq!(parse(&Envelope::strip(line)), None, "{line}");
        }
    }

    #[test]
    fn garbage_does_not_panic() {
        for line in CORPUS {
            survives_truncation(line);
        }
        survives_truncation("INFO: 2017/06/06 15:47:48.503688 [allocator");
        survives_truncation("DEBU: 2017/06/06 15:47:48.503688 Allocated 10.0.0.1 for");
        survives_truncation("unable to allocate IP address: Post http://127.0.0.1:6784/ip/é");
    }

    #[test]
    fn extra_fixture_lines_are_claimed() {
        for line in include_str!("../../../fixtures/logs/extra/weave.log").lines() {
            claimed(line);
        }
    }
}
