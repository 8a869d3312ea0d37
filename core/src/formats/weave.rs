//! Weave Net: the router's and weave-npc's own lines (`INFO: 2017/06/06 15:47:48.503688 ...`),
//! and the weave CNI plugin's IPAM failures as kubelet logs them, recognised by the router's
//! IPAM URL (`127.0.0.1:6784/ip/<container id>`).

use memchr::memmem;

use crate::envelope::Envelope;
use crate::event::{Category, Operation, Severity};
use crate::facts::Facts;
use crate::text::{is_container_id, looks_like_ip};
use crate::time::parse_iso;

/// The router's HTTP API, which the weave CNI plugin asks for addresses.
const IPAM_URL: &[u8] = b":6784/ip/";

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
    let body = env.body.trim();
    if let Some(f) = router_line(body) {
        return Some(f);
    }
    let plain_error = body.starts_with("Error ") || body.starts_with("unable to ");
    if plain_error && memmem::find(body.as_bytes(), IPAM_URL).is_some() {
        return ipam_failure(body);
    }
    None
}

/// weave's formatter: a four-letter level, a colon, a `YYYY/MM/DD HH:MM:SS.micros` time.
fn router_line(body: &str) -> Option<Facts> {
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
    let mut msg = rest.get(used..)?.trim();

    let mut f = Facts {
        plugin: Some("weave"),
        level: Some(level),
        time: Some(time),
        ..Facts::default()
    };
    // `[allocator fa:e5:26:56:81:20] ...`, `[net] ...`: the component, and our peer name.
    if let Some(tagged) = msg.strip_prefix('[') {
        if let Some((tag, after)) = tagged.split_once(']') {
            let mut words = tag.split_whitespace();
            f.attr("component", words.next().unwrap_or(""));
            f.attr("local_peer", words.next().unwrap_or(""));
            msg = after.trim_start_matches(':').trim();
        }
    }
    if !msg.is_empty() {
        f.message = Some(msg.to_owned());
    }
    if let Some(rest) = msg.strip_prefix("Discovered remote MAC ") {
        // `<mac> at <peer name>(<nickname>)`
        let mut words = rest.split_whitespace();
        Facts::set(&mut f.mac, words.next().unwrap_or(""));
        if let (Some("at"), Some(peer)) = (words.next(), words.next()) {
            peer_attrs(&mut f, peer);
        }
    } else if let Some(rest) = msg.strip_prefix("Allocated ") {
        allocated(&mut f, rest);
    } else if let Some(rest) = msg.strip_prefix("Our name is ") {
        peer_attrs(&mut f, rest.trim());
    } else if level >= Severity::Error {
        f.set_error(msg);
    }
    Some(f)
}

/// `f2:8e:b2:d2:34:1b(worker2)`: a peer's name and its nickname.
fn peer_attrs(f: &mut Facts, peer: &str) {
    match peer.split_once('(') {
        Some((name, nick)) => {
            f.attr("peer", name);
            f.attr("peer_nickname", nick.trim_end_matches(')'));
        }
        None => f.attr("peer", peer),
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
fn ipam_failure(body: &str) -> Option<Facts> {
    let (op, err) = match KUBELET_PREFIXES
        .iter()
        .find_map(|(p, op)| body.strip_prefix(p).map(|rest| (*op, rest)))
    {
        Some(found) => found,
        None if body.starts_with("unable to allocate IP address") => (Operation::Add, body),
        None if body.starts_with("unable to release IP address") => (Operation::Del, body),
        None => return None,
    };
    let mut f = Facts {
        plugin: Some("weave"),
        ..Facts::default()
    };
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

        let f = claimed(CORPUS[1]);
        assert_eq!(f.mac.as_deref(), Some("f2:8e:b2:d2:34:1b"));
        assert_eq!(attr(&f, "peer"), Some("f2:8e:b2:d2:34:1b"));
        assert_eq!(attr(&f, "peer_nickname"), Some("worker2"));
        assert!(f.ips.is_empty());

        let f = claimed(CORPUS[2]);
        assert_eq!(attr(&f, "component"), Some("allocator"));
        assert_eq!(attr(&f, "local_peer"), Some("fa:e5:26:56:81:20"));
        assert_eq!(f.message.as_deref(), Some("No valid persisted data"));
        assert_eq!(f.mac, None);
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
