//! kube-router: klog lines from its routing, policy and service controllers, and any line of
//! its container (multi-line `ipset restore` input comes through one continuation per line).

use std::sync::LazyLock;

use memchr::memmem::Finder;

use crate::envelope::Envelope;
use crate::event::{Category, Route, SecurityInfo};
use crate::facts::Facts;
use crate::text::{looks_like_ip, pod_slash, ByteSearch, PhraseSearch, TrimFast};

/// klog source files of kube-router's controllers (`file.go` without the line).
const SOURCES: [&str; 10] = [
    "network_routes_controller.go",
    "network_policy_controller.go",
    "network_services_controller.go",
    "ecmp_vip.go",
    "bgp_peers.go",
    "bgp_policies.go",
    "pod_cidr.go",
    "kube-router.go",
    "health_controller.go",
    "service_endpoints_sync.go",
];

/// Prefixes of the controller files split over several sources in later releases.
const SOURCE_PREFIXES: [&str; 3] = [
    "network_routes_controller",
    "network_policy_controller",
    "network_services_controller",
];

/// A phrase looked for in every claimed line. Building a substring searcher costs more than
/// searching one line, so each phrase's searcher is built once.
type Phrase = LazyLock<Finder<'static>>;

static VERSION: Phrase = LazyLock::new(|| Finder::new(" version v"));
static TOOK: Phrase = LazyLock::new(|| Finder::new(" took "));
static SYNC: Phrase = LazyLock::new(|| Finder::new("sync"));
static SYNC_UPPER: Phrase = LazyLock::new(|| Finder::new("Sync"));

/// The text after the first `phrase` in `s`.
fn after<'a>(s: &'a str, phrase: &Finder<'_>) -> Option<&'a str> {
    let at = phrase.find(s.as_bytes())? + phrase.needle().len();
    s.get(at..)
}

/// The text after the first of each phrase that ends in a colon (`namspace:`, `pod name:`,
/// `listen on node IP: `, ...). Each holds one `:`, so all are found in one pass over the
/// line's colons, told apart by the text before (and after) each: a substring search per
/// phrase made seven.
#[derive(Default)]
struct AfterColon<'a> {
    namspace: Option<&'a str>,
    namespace: Option<&'a str>,
    policy_name: Option<&'a str>,
    pod_name: Option<&'a str>,
    update_to_pod: Option<&'a str>,
    delete_for_pod: Option<&'a str>,
    node_ip: Option<&'a str>,
}

impl<'a> AfterColon<'a> {
    fn read(body: &'a str) -> AfterColon<'a> {
        let mut found = AfterColon::default();
        for at in memchr::memchr_iter(b':', body.as_bytes()) {
            // A colon is ASCII: the text splits around it on character boundaries.
            let (head, tail) = (&body[..at], &body[at + 1..]);
            let first = |slot: &mut Option<&'a str>, rest: &'a str| {
                slot.get_or_insert(rest);
            };
            match head.as_bytes().last() {
                Some(b'e') if head.ends_with("namspace") => first(&mut found.namspace, tail),
                Some(b'e') if head.ends_with("namespace") => first(&mut found.namespace, tail),
                Some(b'e') if head.ends_with("policy name") => {
                    first(&mut found.policy_name, tail);
                }
                Some(b'e') if head.ends_with("pod name") => first(&mut found.pod_name, tail),
                Some(b'd' | b'P') => {
                    let Some(rest) = tail.strip_prefix(' ') else {
                        continue;
                    };
                    if head.ends_with("update to pod") {
                        first(&mut found.update_to_pod, rest);
                    } else if head.ends_with("delete for pod") {
                        first(&mut found.delete_for_pod, rest);
                    } else if head.ends_with("listen on node IP") {
                        first(&mut found.node_ip, rest);
                    }
                }
                _ => {}
            }
        }
        found
    }
}

/// `ipset restore` commands kube-router logs line by line when a restore fails.
const IPSET_COMMANDS: [&str; 6] = ["flush", "create", "add", "del", "swap", "destroy"];

pub(crate) fn parse(env: &Envelope<'_>) -> Option<Facts> {
    let by_process = env.process == Some("kube-router");
    let by_source = env.klog.as_ref().is_some_and(|k| {
        let file = k.source.before_byte(b':');
        SOURCES.contains(&file) || SOURCE_PREFIXES.iter().any(|p| file.starts_with(p))
    });
    if !(by_process || by_source) {
        return None;
    }
    let body = env.body.trim_fast();
    if body.is_empty() {
        return None;
    }
    let mut f = Facts {
        plugin: Some("kube-router"),
        message: Some(body.to_owned()),
        ..Facts::default()
    };
    let colon = AfterColon::read(body);
    pod_facts(&mut f, &colon);
    if let Some(rest) = body.strip_prefix("Inject route: '") {
        // `Inject route: '10.244.2.0/24 via 192.168.1.12' from peer to routing table`
        let route = rest.before_byte(b'\'');
        if let Some((dst, gw)) = route.split_once_str(" via ") {
            f.routes.push(Route {
                destination: dst.trim_fast().to_owned(),
                gateway: Some(gw.trim_fast().to_owned()).filter(|g| looks_like_ip(g)),
            });
        }
    }
    if let Some(rest) = after(body, &VERSION) {
        // `Running /usr/local/bin/kube-router version v1.5.3, built on ...`
        let version = rest.before_any_byte(b", ");
        if !version.is_empty() {
            f.attr("version", &format!("v{version}"));
        }
    }
    if let Some(rest) = colon.node_ip {
        let ip = rest.split_whitespace().next().unwrap_or("");
        if looks_like_ip(ip) {
            f.attr("node_ip", ip);
        }
    }
    if let Some(ms) =
        after(body, &TOOK).and_then(|r| go_duration_ms(r.split_whitespace().next().unwrap_or("")))
    {
        f.metrics.insert("duration_ms".to_owned(), ms);
    }
    let policy_controller = env
        .klog
        .as_ref()
        .is_some_and(|k| k.source.starts_with("network_policy_controller"));
    let logged_as_error = env
        .klog
        .as_ref()
        .is_some_and(|k| matches!(k.level, 'E' | 'F'));
    if policy_controller
        && (SYNC.find(body.as_bytes()).is_some() || SYNC_UPPER.find(body.as_bytes()).is_some())
    {
        // The policy controller's full sync renders every network policy into iptables.
        f.category = Some(Category::PolicyApply);
        if logged_as_error {
            f.success = Some(false);
        }
    }
    if env.klog.is_none() {
        ipset_line(&mut f, body);
    }
    if logged_as_error {
        f.set_error(body);
    }
    Some(f)
}

/// One line of the `ipset restore` input: `create <set> hash:ip timeout 0`, `add <set>
/// 10.244.1.17 timeout 0`, `swap <set> <target>`.
fn ipset_line(f: &mut Facts, body: &str) {
    let mut words = body.split_whitespace();
    let (Some(cmd), Some(set)) = (words.next(), words.next()) else {
        return;
    };
    if !IPSET_COMMANDS.contains(&cmd) {
        return;
    }
    f.attr("ipset_command", cmd);
    f.attr("ipset", set);
    let third = words.next().unwrap_or("");
    match cmd {
        "create" => f.attr("ipset_type", third),
        // A set member is any address a policy or service matches, not this pod's.
        "add" | "del" => f.attr("ipset_member", third),
        "swap" => f.attr("ipset_swap_target", third),
        _ => {}
    }
}

/// A Go `time.Duration` string (`101.183ms`, `1.5s`, `2m3.5s`, `850µs`) in milliseconds.
fn go_duration_ms(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = s.trim_end_matches(['.', ',']);
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest.get(..num_end)?.parse().ok()?;
        let after = rest.get(num_end..)?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let factor = match after.get(..unit_end)? {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1_000.0,
            "ms" => 1.0,
            "us" | "µs" => 0.001,
            "ns" => 0.000_001,
            _ => return None,
        };
        total += value * factor;
        rest = after.get(unit_end..)?;
    }
    Some(total)
}

/// `Received pod update namspace:kube-system pod name:kube-router-xmhbb` (kube-router's own
/// spelling), `Received update to pod: ns/name`, and the same forms for network policies,
/// whose namespace is the policy's, not a pod's.
fn pod_facts<'a>(f: &mut Facts, colon: &AfterColon<'a>) {
    let value_after =
        |rest: Option<&'a str>| rest.map(|r| r.split_whitespace().next().unwrap_or(""));
    let ns = value_after(colon.namspace).or_else(|| value_after(colon.namespace));
    if let Some(policy) = value_after(colon.policy_name) {
        let present = |v: &str| Some(v.to_owned()).filter(|v| !v.is_empty());
        f.security = Some(Box::new(SecurityInfo {
            policy_name: present(policy),
            policy_namespace: ns.and_then(present),
            ..SecurityInfo::default()
        }));
    } else {
        if let Some(ns) = ns {
            Facts::set(&mut f.namespace, ns);
        }
        if let Some(pod) = value_after(colon.pod_name) {
            Facts::set(&mut f.pod_name, pod);
        }
    }
    if let Some(rest) = colon.update_to_pod.or(colon.delete_for_pod) {
        if let Some((ns, name)) = pod_slash(rest.split_whitespace().next().unwrap_or("")) {
            Facts::set(&mut f.namespace, ns);
            Facts::set(&mut f.pod_name, name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Format, Severity};
    use crate::formats::cni_json::tests::{survives_truncation, FOREIGN, SIBLINGS};
    use crate::formats::parse_record;

    const CORPUS: [&str; 3] = [
        r#"E0328 04:41:20.151591    8770 network_routes_controller.go:190] Failed to enable netfilter for bridge. Network policies and service proxy may not work: exit status 1"#,
        r#"{"log":"I1119 11:11:38.756161       1 network_policy_controller.go:138] Received pod update namspace:kube-system pod name:kube-router-xmhbb\n","stream":"stderr","time":"#,
        r#"kube-router-qx29r kube-router 2024-05-12T19:28:56.850191696-05:00 flush TMP-PRBJ7ASFQM5DJR3Q"#,
    ];

    fn claimed(line: &str) -> Facts {
        let f = parse_record(line, None).expect("claimed");
        assert_eq!(f.format, Some(Format::KubeRouter), "{line}");
        assert_eq!(f.plugin, Some("kube-router"));
        f
    }

    fn attr<'a>(f: &'a Facts, key: &str) -> Option<&'a str> {
        f.attributes.get(key).map(String::as_str)
    }

    #[test]
    fn corpus_lines() {
        let f = claimed(CORPUS[0]);
        assert_eq!(f.level, Some(Severity::Error));
        assert_eq!(f.pid, Some(8770));
        assert_eq!(
            f.error.map(|e| e.msg).as_deref(),
            Some("Failed to enable netfilter for bridge. Network policies and service proxy may not work: exit status 1")
        );
        assert_eq!((f.operation, f.category, f.success), (None, None, None));

        let f = claimed(CORPUS[1]);
        assert_eq!(f.namespace.as_deref(), Some("kube-system"));
        assert_eq!(f.pod_name.as_deref(), Some("kube-router-xmhbb"));
        assert_eq!(f.level, Some(Severity::Info));
        assert_eq!(f.error, None);
        assert_eq!(
            f.message.as_deref(),
            Some("Received pod update namspace:kube-system pod name:kube-router-xmhbb")
        );

        let f = claimed(CORPUS[2]);
        assert_eq!(f.comm.as_deref(), Some("kube-router"));
        assert_eq!(f.message.as_deref(), Some("flush TMP-PRBJ7ASFQM5DJR3Q"));
        assert_eq!(attr(&f, "ipset_command"), Some("flush"));
        assert_eq!(attr(&f, "ipset"), Some("TMP-PRBJ7ASFQM5DJR3Q"));
        assert_eq!((f.error, f.category), (None, None));
        assert!(f.time.is_some());
    }

    #[test]
    fn other_messages() {
        let f = claimed("I0412 09:15:02.331208       1 network_routes_controller.go:1012] Inject route: '10.244.2.0/24 via 192.168.56.12' from peer to routing table");
        assert_eq!(f.routes[0].destination, "10.244.2.0/24");
        assert_eq!(f.routes[0].gateway.as_deref(), Some("192.168.56.12"));

        let f = claimed("I0412 09:15:03.000001       1 network_policy_controller.go:1598] Received update to pod: default/web-6d4cf56db6-x2k8p");
        assert_eq!(f.namespace.as_deref(), Some("default"));
        assert_eq!(f.pod_name.as_deref(), Some("web-6d4cf56db6-x2k8p"));

        // The policy's namespace, not a pod's; receiving an update is not applying it yet.
        let f = claimed("I0412 09:15:04.000001       1 network_policy_controller.go:201] Received network policy update namspace:default policy name:deny-all");
        assert_eq!(f.namespace, None);
        assert_eq!(f.pod_name, None);
        let security = f.security.expect("policy facts");
        assert_eq!(security.policy_name.as_deref(), Some("deny-all"));
        assert_eq!(security.policy_namespace.as_deref(), Some("default"));
        assert_eq!(f.category, None);

        let f = claimed("I0412 09:15:05.100020       1 network_policy_controller.go:285] Starting sync of iptables with version: 1681290905100009511");
        assert_eq!(f.category, Some(Category::PolicyApply));
        let f = claimed("I0412 09:15:05.201202       1 network_policy_controller.go:297] sync iptables took 101.183ms");
        assert_eq!(f.category, Some(Category::PolicyApply));
        assert_eq!(f.metrics.get("duration_ms"), Some(&101.183));
        assert_eq!(f.success, None);
        let f = claimed("E0412 09:17:00.120442       1 network_policy_controller.go:259] Aborting sync. Failed to run iptables-restore: exit status 1 (iptables-restore: line 57 failed)");
        assert_eq!(f.category, Some(Category::PolicyApply));
        assert_eq!(f.success, Some(false));

        let f = claimed("I0412 09:14:58.100201       1 kube-router.go:231] Running /usr/local/bin/kube-router version v1.5.3, built on 2022-11-01T17:11:02+0000, go1.19.2");
        assert_eq!(attr(&f, "version"), Some("v1.5.3"));
        let f = claimed("I0412 09:14:58.301922       1 network_routes_controller.go:1257] Could not find annotation `kube-router.io/bgp-local-addresses` on node object so BGP will listen on node IP: 192.168.56.11 address.");
        assert_eq!(attr(&f, "node_ip"), Some("192.168.56.11"));
        assert!(f.ips.is_empty());
        assert_eq!(f.category, None);
    }

    #[test]
    fn ipset_restore_lines() {
        let f = claimed("kube-router-qx29r kube-router 2024-05-12T19:28:56.850191696-05:00 create TMP-PRBJ7ASFQM5DJR3Q hash:ip timeout 0");
        assert_eq!(attr(&f, "ipset_type"), Some("hash:ip"));
        let f = claimed("kube-router-qx29r kube-router 2024-05-12T19:28:56.850201696-05:00 add TMP-PRBJ7ASFQM5DJR3Q 10.244.1.17 timeout 0");
        assert_eq!(attr(&f, "ipset_member"), Some("10.244.1.17"));
        assert!(f.ips.is_empty());
        let f = claimed("kube-router-qx29r kube-router 2024-05-12T19:28:56.850211696-05:00 swap TMP-PRBJ7ASFQM5DJR3Q KUBE-DST-MBX4KOLU5SLVM7SO");
        assert_eq!(attr(&f, "ipset"), Some("TMP-PRBJ7ASFQM5DJR3Q"));
        assert_eq!(
            attr(&f, "ipset_swap_target"),
            Some("KUBE-DST-MBX4KOLU5SLVM7SO")
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_ms("101.183ms"), Some(101.183));
        assert_eq!(go_duration_ms("1.5s"), Some(1500.0));
        assert_eq!(go_duration_ms("2m3s"), Some(123_000.0));
        assert_eq!(go_duration_ms("850µs"), Some(0.85));
        assert_eq!(go_duration_ms("soon"), None);
        assert_eq!(go_duration_ms(""), None);
        assert_eq!(go_duration_ms("12"), None);
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
    }

    #[test]
    fn garbage_does_not_panic() {
        for line in CORPUS {
            survives_truncation(line);
        }
        survives_truncation(
            "I0412 09:15:02.331208       1 network_routes_controller.go:1] Inject route: '",
        );
    }

    #[test]
    fn extra_fixture_lines_are_claimed() {
        for line in include_str!("../../../fixtures/logs/extra/kube-router.log").lines() {
            claimed(line);
        }
    }
}
