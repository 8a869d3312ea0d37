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
    let mut msg = rest[used..].trim();

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
