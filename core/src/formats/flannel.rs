//! flanneld's klog lines, and the flannel CNI plugin's own errors when they appear bare.
//!
//! flanneld logs through klog with generic source files (`main.go`), so a record is taken as
//! flannel's by the process that wrote it, a flannel-only source file, or flannel-only wording.
//! The same failure quoted by kubelet or containerd belongs to the runtime parsers.

use crate::envelope::Envelope;
use crate::event::{Category, Operation, Route};
use crate::facts::Facts;
use crate::text::{looks_like_ip, quoted_after, ByteSearch, PhraseSearch, TrimFast, Words};

/// Process or container names flanneld runs under.
const PROCESSES: [&str; 4] = ["kube-flannel", "flanneld", "flannel", "sdnotify-proxy"];

/// Processes whose lines quote flannel without being flannel's.
const RUNTIMES: [&str; 5] = ["kubelet", "containerd", "crio", "dockerd", "kubectl"];

/// klog source files only flannel has (`file.go` without the line).
const SOURCES: [&str; 9] = [
    "vxlan.go",
    "vxlan_network.go",
    "route_network.go",
    "hostgw.go",
    "ipmasq.go",
    "udp_network.go",
    "local_manager.go",
    "trafficmngr.go",
    "ipsec_network.go",
];

/// flanneld's source files whose names other Go programs use too: their lines are flannel's
/// only with flannel's wording.
const SHARED_SOURCES: [&str; 12] = [
    "main.go",
    "match.go",
    "network.go",
    "kube.go",
    "iptables.go",
    "nftables.go",
    "config.go",
    "device.go",
    "watch.go",
    "registry.go",
    "subnet.go",
    "lease.go",
];

/// Wording of flanneld's own log statements (searchers built once: this runs on every klog
/// line of a shared source file such as `main.go`).
static HINTS: Words = Words::new(&[
    "valid interface",
    "FORWARD chain policy",
    "subnet lease",
    "Found network config - Backend type",
    "Determining IP address of default interface",
    "Running backend.",
    "Subnet removed:",
    "Subnet added:",
    "failed to register network",
    "pod cidr not assigned",
    "Using interface with name",
    "Defaulting external address",
    "Defaulting external v6 address",
    "/run/flannel/subnet.env",
    "Wrote subnet file",
    "Installing signal handlers",
    "is not equal to previous one",
    "Setting up masking rules",
    "Setting up masking ip6 rules",
    "Created subnet manager",
    "Lease acquired",
    "Lease renewed",
    "for node controller to sync",
    "Node controller sync successful",
    "Creating the node lease",
    "VXLAN config:",
    "Ignoring non-vxlan subnet",
    "kube-subnet-mgr",
    "FLANNEL",
    "flannel.1",
]);

/// Text of a runtime quoting a plugin failure: another parser's record, whoever wrote it. Three
/// of its phrases hold `failed` and one holds `=`: see [`quotes_plugin_failure`].
static FAILED: Words = Words::new(&["failed"]);
static FAILED_WRAPPERS: Words = Words::new(&[
    "failed to setup network for sandbox",
    "failed to set up sandbox container",
    "NetworkPlugin cni failed",
]);
static PLUGIN_TYPE: Words = Words::new(&["plugin type="]);
static ERROR_ADDING_POD: Words = Words::new(&["error adding pod"]);

/// Does `body` hold a runtime's wrapper phrase? Every flannel line is asked: a phrase is looked
/// for only where its cheaper part (`failed`, a `=` byte) is present, so a line without them
/// costs two searches and a byte scan, where a search per phrase made five.
fn quotes_plugin_failure(body: &str) -> bool {
    (FAILED.any_in(body) && FAILED_WRAPPERS.any_in(body))
        || (body.contains_byte(b'=') && PLUGIN_TYPE.any_in(body))
        || ERROR_ADDING_POD.any_in(body)
}

/// flanneld's statements of a failure it exits on (`main.go` returns them as fatal errors).
const FATAL: [&str; 3] = [
    "failed to register network: ",
    "Error registering network: ",
    "Failed to find any valid interface to use",
];

/// The flannel CNI plugin's own error wording (`loadFlannelSubnetEnv`).
const PLUGIN_ERRORS: [&str; 2] = [
    "failed to load flannel 'subnet.env' file",
    "loadFlannelSubnetEnv failed",
];

pub(crate) fn parse(env: &Envelope<'_>) -> Option<Facts> {
    let body = env.body.trim_fast();
    if PLUGIN_ERRORS.iter().any(|p| body.starts_with(p)) {
        return Some(plugin_error(body));
    }
    // Cheap gates first: most records reaching this parser are other components' klog.
    let by_process = env.process.is_some_and(|p| PROCESSES.contains(&p));
    let file = env.klog.as_ref().map_or("", |k| k.source.before_byte(b':'));
    let by_source = SOURCES.contains(&file);
    if !(by_process || by_source || SHARED_SOURCES.contains(&file)) {
        return None;
    }
    if body.is_empty() || env.process.is_some_and(|p| RUNTIMES.contains(&p)) {
        return None;
    }
    // A shared source's line without flannel's wording is rejected by one automaton pass,
    // before the runtime wrappers' searches.
    if !(by_process || by_source || HINTS.any_in(body)) || quotes_plugin_failure(body) {
        return None;
    }
    let failed = env
        .klog
        .as_ref()
        .is_some_and(|k| matches!(k.level, 'E' | 'F'));
    Some(daemon_line(body, failed))
}

/// The plugin's stderr: it could not read what flanneld writes, so the ADD failed.
fn plugin_error(body: &str) -> Facts {
    let mut f = Facts {
        plugin: Some("flannel"),
        plugin_type: Some("flannel".to_owned()),
        operation: Some(Operation::Add),
        success: Some(false),
        ..Facts::default()
    };
    f.set_error(body);
    f
}

/// One flanneld statement; `logged_as_error` when klog's level is E or F.
fn daemon_line(body: &str, logged_as_error: bool) -> Facts {
    let mut f = Facts {
        plugin: Some("flannel"),
        message: Some(body.to_owned()),
        ..Facts::default()
    };

    if let Some(rest) = body.strip_prefix("Subnet added: ") {
        lease_event(&mut f, rest, "added");
    } else if let Some(rest) = body.strip_prefix("Subnet removed: ") {
        lease_event(&mut f, rest, "removed");
    } else if FATAL.iter().any(|p| body.starts_with(p)) {
        // flanneld cannot get its lease or its interface and exits: no pod on this node gets
        // networking. Its own statement ("failed to register network: ...") is the error.
        f.category = Some(Category::HealthCheck);
        f.success = Some(false);
        f.set_error(body);
        if let Some(node) = quoted_after(body, "node ") {
            Facts::set(&mut f.node_name, node);
        }
    } else if let Some(node) =
        body.strip_prefix("Created subnet manager: Kubernetes Subnet Manager - ")
    {
        Facts::set(&mut f.node_name, node);
    } else if let Some(rest) = body.split_once_str("n.Spec.PodCIDRs: [").map(|(_, r)| r) {
        // `Creating the node lease for IPv4. This is the n.Spec.PodCIDRs: [10.244.1.0/24]`
        let cidr = rest.before_any_byte(b"] ");
        if looks_like_ip(cidr) {
            Facts::set(&mut f.subnet, cidr);
        }
    } else if let Some(rest) = body.strip_prefix("Found network config - Backend type: ") {
        f.attr("backend_type", rest);
    } else if let Some(rest) = body.strip_prefix("Using interface with name ") {
        // `eth0 and address 10.0.0.5`: the node's external interface, not a pod's.
        let mut words = rest.split_whitespace();
        f.attr("external_interface", words.next().unwrap_or(""));
        if let Some(ip) = words.last().filter(|w| looks_like_ip(w)) {
            f.attr("public_ip", ip);
        }
    } else if let Some(rest) = body.strip_prefix("Wrote subnet file to ") {
        f.attr("subnet_file", rest);
    } else if let Some(rest) = body.strip_prefix("Lease acquired: ") {
        Facts::set(&mut f.subnet, rest.split_whitespace().next().unwrap_or(""));
    } else if let Some(rest) = body.strip_prefix("Current network or subnet (") {
        // `(net, subnet) is not equal to previous one (net, subnet)`: the node's lease moved.
        f.category = Some(Category::ConfigChange);
        if let Some((net, subnet)) = rest
            .split_once_byte(b')')
            .and_then(|(p, _)| p.split_once_byte(b','))
        {
            f.attr("network", net.trim_fast());
            Facts::set(&mut f.subnet, subnet);
        }
    } else if logged_as_error {
        f.set_error(body);
    }
    f
}

/// `Subnet added: 10.244.1.0/24 via 192.168.1.2`: another node's lease, routed over the
/// backend; its CIDR is that node's pod range and its address that node's, neither this node's
/// pod network nor its public IP, so both stay lease attributes.
fn lease_event(f: &mut Facts, rest: &str, what: &str) {
    let mut words = rest.split_whitespace();
    let subnet = words.next().unwrap_or("");
    f.attr("lease_subnet", subnet);
    f.attr("lease_event", what);
    let via = (words.next() == Some("via"))
        .then(|| words.next())
        .flatten()
        .filter(|w| looks_like_ip(w));
    if let Some(via) = via {
        f.attr("lease_public_ip", via);
        if what == "added" && !subnet.is_empty() {
            f.routes.push(Route {
                destination: subnet.to_owned(),
                gateway: Some(via.to_owned()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Format, Severity};
    use crate::formats::cni_json::tests::{survives_truncation, FOREIGN, SIBLINGS};
    use crate::formats::parse_record;

    const CORPUS: [&str; 6] = [
        r#"I0518 19:28:39.956871       1 main.go:475] Determining IP address of default interface"#,
        r#"I0518 19:28:41.001884       1 main.go:353] Found network config - Backend type: vxlan"#,
        r#"I0307 20:20:26.687374       1 main.go:303] Running backend."#,
        r#"E0519 00:37:28.550351       1 network.go:102] failed to register network: failed to acquire lease: node "k8s-test-2.novalocal" pod cidr not assigned"#,
        r#"Aug 12 10:41:51 core-02 sdnotify-proxy[940]: I0812 10:41:51.779339 00001 vxlan.go:226] Subnet removed: 10.1.88.0/24"#,
        r#"│ kube-flannel I0111 17:09:04.933346       1 route_network.go:56] Watching for new subnet leases                                                                                    │"#,
    ];

    fn claimed(line: &str) -> Facts {
        let f = parse_record(line, None).expect("claimed");
        assert_eq!(f.format, Some(Format::Flannel), "{line}");
        assert_eq!(f.plugin, Some("flannel"));
        f
    }

    #[test]
    fn start_up_lines_are_plugin_logs() {
        for (line, message) in [
            (CORPUS[0], "Determining IP address of default interface"),
            (CORPUS[1], "Found network config - Backend type: vxlan"),
            (CORPUS[2], "Running backend."),
            (CORPUS[5], "Watching for new subnet leases"),
        ] {
            let f = claimed(line);
            assert_eq!(f.message.as_deref(), Some(message));
            assert_eq!(f.level, Some(Severity::Info));
            assert_eq!(f.pid, Some(1));
            assert_eq!((f.category, f.operation, f.success), (None, None, None));
            assert_eq!(f.error, None);
        }
        let f = claimed(CORPUS[1]);
        assert_eq!(
            f.attributes.get("backend_type").map(String::as_str),
            Some("vxlan")
        );
        assert_eq!(claimed(CORPUS[5]).comm.as_deref(), Some("kube-flannel"));
    }

    #[test]
    fn lease_failure() {
        let f = claimed(CORPUS[3]);
        assert!(f
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("failed to register network: failed to acquire")));
        assert_eq!(f.level, Some(Severity::Error));
        assert_eq!(f.category, Some(Category::HealthCheck));
        assert_eq!(f.success, Some(false));
        assert_eq!(
            f.error.map(|e| e.msg).as_deref(),
            Some(
                r#"failed to register network: failed to acquire lease: node "k8s-test-2.novalocal" pod cidr not assigned"#
            )
        );
        assert_eq!(f.node_name.as_deref(), Some("k8s-test-2.novalocal"));
        assert_eq!(f.operation, None);

        // Without an interface flanneld exits too.
        let line = "E0620 09:30:00.000001       1 main.go:385] Failed to find any valid interface to use: failed to get default interface: Unable to find default route";
        let f = claimed(line);
        assert_eq!(f.category, Some(Category::HealthCheck));
        assert_eq!(f.success, Some(false));
        assert_eq!(
            f.error.map(|e| e.msg).as_deref(),
            Some("Failed to find any valid interface to use: failed to get default interface: Unable to find default route")
        );
    }

    #[test]
    fn subnet_manager_names_the_node() {
        let f = claimed("I0620 08:11:59.813001       1 main.go:231] Created subnet manager: Kubernetes Subnet Manager - node-2");
        assert_eq!(f.node_name.as_deref(), Some("node-2"));
        assert_eq!(f.category, None);
    }

    #[test]
    fn subnet_events() {
        let f = claimed(CORPUS[4]);
        // Another node's lease: not this node's pod network.
        assert_eq!(f.subnet, None);
        assert_eq!(
            f.attributes.get("lease_subnet").map(String::as_str),
            Some("10.1.88.0/24")
        );
        assert!(f.ips.is_empty());
        assert!(f.routes.is_empty());
        assert_eq!(
            f.attributes.get("lease_event").map(String::as_str),
            Some("removed")
        );
        // flanneld's own pid (klog's `00001`), not the supervisor's that wrote the syslog line.
        assert_eq!(f.pid, Some(1));
        assert_eq!(f.hostname.as_deref(), Some("core-02"));
        assert_eq!(f.comm, None);

        let f = claimed("I0620 08:12:01.118403       1 vxlan_network.go:155] Subnet added: 10.244.2.0/24 via 192.168.56.12");
        assert_eq!(f.subnet, None);
        assert_eq!(
            f.attributes.get("lease_subnet").map(String::as_str),
            Some("10.244.2.0/24")
        );
        assert_eq!(f.routes[0].destination, "10.244.2.0/24");
        assert_eq!(f.routes[0].gateway.as_deref(), Some("192.168.56.12"));
        assert_eq!(
            f.attributes.get("lease_public_ip").map(String::as_str),
            Some("192.168.56.12")
        );
        assert_eq!(f.attributes.get("public_ip"), None);

        // The local node's own interface keeps `public_ip`.
        let f = claimed("I0620 08:11:59.815402       1 match.go:259] Using interface with name eth0 and address 192.168.56.11");
        assert_eq!(
            f.attributes.get("public_ip").map(String::as_str),
            Some("192.168.56.11")
        );

        let f = claimed("I0620 08:12:00.118403       1 main.go:368] Current network or subnet (10.244.0.0/16, 10.244.3.0/24) is not equal to previous one (0.0.0.0/0, 0.0.0.0/0), trying to recycle old iptables rules");
        assert_eq!(f.category, Some(Category::ConfigChange));
        assert_eq!(f.subnet.as_deref(), Some("10.244.3.0/24"));
        assert_eq!(
            f.attributes.get("network").map(String::as_str),
            Some("10.244.0.0/16")
        );
    }

    #[test]
    fn bare_plugin_errors() {
        for line in [
            "failed to load flannel 'subnet.env' file: open /run/flannel/subnet.env: no such file or directory. Check the flannel pod log for this node.",
            "loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory",
        ] {
            let f = claimed(line);
            assert_eq!(f.operation, Some(crate::event::Operation::Add));
            assert_eq!(f.plugin_type.as_deref(), Some("flannel"));
            assert_eq!(f.success, Some(false));
            assert_eq!(f.error.map(|e| e.msg).as_deref(), Some(line));
        }
    }

    #[test]
    fn other_lines_are_not_claimed() {
        let siblings = SIBLINGS
            .iter()
            .filter(|l| !CORPUS.contains(l) && !l.contains("flannel") && !l.contains("vxlan.go"));
        for line in FOREIGN.iter().chain(siblings) {
            assert_eq!(parse(&Envelope::strip(line)), None, "{line}");
        }
        // kubelet's own klog, even from a file name flannel shares.
        for line in [
            "I0101 00:00:00.000000    1234 main.go:12] Installing things",
            "Oct 26 14:08:18 node kubelet[1]: I1026 14:08:18.459398 1 main.go:1] Installing signal handlers",
        ] {
            assert_eq!(parse(&Envelope::strip(line)), None, "{line}");
        }
    }

    #[test]
    fn garbage_does_not_panic() {
        for line in CORPUS {
            survives_truncation(line);
        }
        survives_truncation(
            "I0620 08:12:00.118403       1 main.go:368] Current network or subnet (",
        );
        survives_truncation(
            "I0620 08:12:01.118403       1 vxlan_network.go:155] Subnet added: via",
        );
    }

    #[test]
    fn extra_fixture_lines_are_claimed() {
        for line in include_str!("../../../fixtures/logs/extra/flannel.log").lines() {
            claimed(line);
        }
    }
}
