use super::parse::{kind_of_name, parse};
use super::*;
use crate::{Collector, Config};

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("../../../fixtures/conf/", $name)).as_slice(),
        )
    };
}

const FIXTURES: [(&str, &[u8]); 10] = [
    fixture!("00-multus.conf"),
    fixture!("05-cilium.conflist"),
    fixture!("10-aws.conflist"),
    fixture!("10-calico-etcd.conf"),
    fixture!("10-calico.conflist"),
    fixture!("10-containerd-net.conflist"),
    fixture!("10-flannel.conflist"),
    fixture!("10-mynet.conf"),
    fixture!("20-list-in-conf.conf"),
    fixture!("99-trailing-comma.conflist"),
];

fn fixture(name: &str) -> &'static [u8] {
    FIXTURES.iter().find(|(n, _)| *n == name).unwrap().1
}

const DIR: &str = "/etc/cni/net.d";
const T0: Timestamp = Timestamp(1_700_000_000_000_000_000);

fn at(s: i64) -> Timestamp {
    T0.add_nanos(s * 1_000_000_000)
}

fn conf_change(name: &str, kind: ChangeKind, bytes: &[u8]) -> FileChange {
    FileChange {
        path: format!("{DIR}/{name}"),
        role: Role::Config,
        kind,
        body: Body::Bytes {
            bytes: bytes.to_vec(),
            cut: false,
        },
    }
}

fn feed(c: &mut Collector, s: i64, change: FileChange) -> Vec<UnifiedEvent> {
    c.handle_file_change(at(s), change);
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn attr<'e>(e: &'e UnifiedEvent, k: &str) -> Option<&'e str> {
    e.attributes.get(k).map(String::as_str)
}

/// (id kind, file name, severity) of each event: the shape of a sequence at a glance.
fn shape(events: &[UnifiedEvent]) -> Vec<(String, String, Severity)> {
    events
        .iter()
        .map(|e| {
            let kind = e.id.split('_').nth(2).unwrap_or("").to_owned();
            let file = e.origin.file.as_deref().unwrap_or("");
            (kind, file_name(file).to_owned(), e.severity)
        })
        .collect()
}

#[test]
fn real_world_configs_parse_to_their_facts() {
    // (file, network, cniVersion, plugin types, ipam types, ranges, delegates)
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    );
    let rows: [Row; 8] = [
        (
            "00-multus.conf",
            "multus-cni-network",
            "0.3.1",
            "multus",
            "",
            "calico+portmap",
        ),
        (
            "05-cilium.conflist",
            "cilium",
            "0.3.1",
            "cilium-cni",
            "",
            "",
        ),
        (
            "10-aws.conflist",
            "aws-cni",
            "0.4.0",
            "aws-cni,egress-cni,portmap",
            "fd00::ac:00/118",
            "",
        ),
        (
            "10-calico-etcd.conf",
            "calico-k8s-network",
            "0.3.1",
            "calico",
            "10.244.0.0/16",
            "",
        ),
        (
            "10-calico.conflist",
            "k8s-pod-network",
            "0.3.1",
            "calico,portmap,bandwidth",
            "",
            "",
        ),
        (
            "10-containerd-net.conflist",
            "containerd-net",
            "1.0.0",
            "bridge,portmap",
            "10.88.0.0/16,2001:4860:4860::/64",
            "",
        ),
        (
            "10-flannel.conflist",
            "cbr0",
            "0.3.1",
            "flannel,portmap",
            "",
            "",
        ),
        (
            "10-mynet.conf",
            "mynet",
            "0.3.1",
            "bridge",
            "10.10.0.0/16",
            "",
        ),
    ];
    for (name, net, version, types, ranges, delegates) in rows {
        let kind = kind_of_name(name).unwrap();
        let c = parse(kind, fixture(name), false, 1024).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.name.as_deref(), Some(net), "{name}");
        assert_eq!(c.cni_version.as_deref(), Some(version), "{name}");
        assert_eq!(c.types().join(","), types, "{name}");
        assert_eq!(c.ranges().join(","), ranges, "{name}");
        let ds: Vec<String> = c.plugins.iter().flat_map(|p| p.delegates.clone()).collect();
        assert_eq!(ds.join(","), delegates, "{name}");
    }
    let c = parse(
        kind_of_name("10-containerd-net.conflist").unwrap(),
        fixture("10-containerd-net.conflist"),
        false,
        1024,
    )
    .unwrap();
    let bridge = &c.plugins[0];
    assert_eq!(bridge.bridge.as_deref(), Some("cni0"));
    assert_eq!(bridge.is_gateway, Some(true));
    assert_eq!(bridge.ipam_type.as_deref(), Some("host-local"));
    assert_eq!(bridge.routes, ["0.0.0.0/0", "::/0"]);
    assert_eq!(c.plugins[1].capabilities, ["portMappings"]);
    let aws = parse(
        parse::FileKind::List,
        fixture("10-aws.conflist"),
        false,
        1024,
    )
    .unwrap();
    assert_eq!(aws.plugins[0].mtu.as_deref(), Some("9001"));
}

#[test]
fn mistakes_are_refused_like_libcni_does() {
    let e = parse(
        parse::FileKind::Single,
        fixture("20-list-in-conf.conf"),
        false,
        1024,
    )
    .unwrap_err();
    assert_eq!(e, parse::Error::MissingType(true));
    let e = parse(
        parse::FileKind::List,
        fixture("99-trailing-comma.conflist"),
        false,
        1024,
    )
    .unwrap_err();
    assert_eq!(
        e,
        parse::Error::Json("trailing comma at line 5 column 43".to_owned())
    );
}

#[test]
fn create_modify_dedup_invalid_keeps_last_good() {
    let mut c = Collector::new(Config::default());
    let v1 = fixture("10-containerd-net.conflist");
    let events = feed(
        &mut c,
        0,
        conf_change("10-containerd-net.conflist", ChangeKind::Created, v1),
    );
    assert_eq!(
        shape(&events),
        [
            (
                "CREATED".to_owned(),
                "10-containerd-net.conflist".to_owned(),
                Severity::Info
            ),
            (
                "ACTIVE".to_owned(),
                "10-containerd-net.conflist".to_owned(),
                Severity::Info
            ),
        ]
    );
    let e = &events[0];
    assert_eq!(e.event_type, crate::event::EventType::Config);
    assert_eq!(e.category, Category::ConfigChange);
    assert_eq!(e.origin.monitor, Monitor::File);
    assert_eq!(e.id, format!("cni_config_CREATED_{}_1", T0.unix_nanos()));
    assert_eq!(
        e.message,
        "CNI config 10-containerd-net.conflist created in /etc/cni/net.d: network containerd-net, cniVersion 1.0.0, plugins bridge → portmap"
    );
    let cni = e.cni.as_ref().unwrap();
    assert_eq!(cni.network_name.as_deref(), Some("containerd-net"));
    assert_eq!(cni.cni_version.as_deref(), Some("1.0.0"));
    assert_eq!(cni.plugin_type.as_deref(), Some("bridge"));
    assert_eq!(attr(e, "plugins"), Some("bridge,portmap"));
    assert_eq!(
        attr(e, "ipam_ranges"),
        Some("10.88.0.0/16,2001:4860:4860::/64")
    );
    assert_eq!(attr(e, "bridge"), Some("cni0"));
    assert_eq!(attr(e, "capabilities"), Some("portMappings"));
    assert_eq!(
        attr(&events[1], "active_config"),
        Some("/etc/cni/net.d/10-containerd-net.conflist")
    );
    assert_eq!(
        c.active_config(DIR),
        Some("/etc/cni/net.d/10-containerd-net.conflist")
    );

    // The same bytes again (a write that changed nothing, a rescan): no event.
    assert!(feed(
        &mut c,
        1,
        conf_change("10-containerd-net.conflist", ChangeKind::Modified, v1)
    )
    .is_empty());
    assert_eq!(c.stats().files.unchanged, 1);

    // The range and the chain change.
    let v2 = String::from_utf8(v1.to_vec())
        .unwrap()
        .replace("10.88.0.0/16", "10.99.0.0/16")
        .replace("\"portmap\"", "\"tuning\"");
    let events = feed(
        &mut c,
        2,
        conf_change(
            "10-containerd-net.conflist",
            ChangeKind::Modified,
            v2.as_bytes(),
        ),
    );
    assert_eq!(
        shape(&events),
        [(
            "MODIFIED".to_owned(),
            "10-containerd-net.conflist".to_owned(),
            Severity::Warning
        )]
    );
    let e = &events[0];
    assert_eq!(attr(e, "plugins_added"), Some("tuning"));
    assert_eq!(attr(e, "plugins_removed"), Some("portmap"));
    assert_eq!(
        attr(e, "ipam_ranges_before"),
        Some("10.88.0.0/16,2001:4860:4860::/64")
    );
    assert_eq!(
        attr(e, "ipam_ranges"),
        Some("10.99.0.0/16,2001:4860:4860::/64")
    );
    assert_eq!(attr(e, "plugins_changed"), Some("bridge"));
    assert_eq!(attr(e, "active"), Some("true"));
    assert!(e.message.ends_with("plugins added: tuning; plugins removed: portmap; IPAM ranges 10.88.0.0/16, 2001:4860:4860::/64 → 10.99.0.0/16, 2001:4860:4860::/64; settings of bridge changed"), "{}", e.message);

    // A broken edit: an error event, the last good version kept, and with no other file the
    // directory has no loadable config any more.
    let events = feed(
        &mut c,
        3,
        conf_change(
            "10-containerd-net.conflist",
            ChangeKind::Modified,
            b"{\"name\": ",
        ),
    );
    assert_eq!(
        shape(&events),
        [
            (
                "INVALID".to_owned(),
                "10-containerd-net.conflist".to_owned(),
                Severity::Error
            ),
            (
                "ACTIVE".to_owned(),
                "10-containerd-net.conflist".to_owned(),
                Severity::Error
            ),
        ]
    );
    assert_eq!(attr(&events[0], "kept_state"), Some("true"));
    assert_eq!(
        attr(&events[0], "error"),
        Some("invalid JSON: EOF while parsing a value at line 1 column 9")
    );
    assert_eq!(
        events[0].cni.as_ref().unwrap().error.as_ref().unwrap().msg,
        "invalid JSON: EOF while parsing a value at line 1 column 9"
    );
    assert!(
        events[0]
            .message
            .contains("keeping its last good version (network containerd-net"),
        "{}",
        events[0].message
    );
    assert_eq!(c.active_config(DIR), None);
    // The same broken bytes again: nothing new to say.
    assert!(feed(
        &mut c,
        4,
        conf_change(
            "10-containerd-net.conflist",
            ChangeKind::Modified,
            b"{\"name\": "
        )
    )
    .is_empty());

    // Fixed: the diff is against the last good version (v2), not the broken one.
    let events = feed(
        &mut c,
        5,
        conf_change("10-containerd-net.conflist", ChangeKind::Modified, v1),
    );
    assert_eq!(shape(&events)[0].0, "MODIFIED");
    assert_eq!(attr(&events[0], "plugins_added"), Some("portmap"));
    assert_eq!(
        attr(&events[0], "ipam_ranges_before"),
        Some("10.99.0.0/16,2001:4860:4860::/64")
    );
    assert_eq!(
        shape(&events)[1],
        (
            "ACTIVE".to_owned(),
            "10-containerd-net.conflist".to_owned(),
            Severity::Info
        )
    );
    assert_eq!(c.stats().files.invalid, 1);
}

#[test]
fn active_config_follows_libcni_order() {
    let mut c = Collector::new(Config::default());
    let calico = fixture("10-calico.conflist");
    feed(
        &mut c,
        0,
        conf_change("10-calico.conflist", ChangeKind::Present, calico),
    );
    // A later name does not take over.
    let events = feed(
        &mut c,
        1,
        conf_change(
            "20-mynet.conf",
            ChangeKind::Created,
            fixture("10-mynet.conf"),
        ),
    );
    assert_eq!(shape(&events).len(), 1);
    // An earlier name that does not load does not take over either.
    let events = feed(
        &mut c,
        2,
        conf_change(
            "00-broken.conflist",
            ChangeKind::Created,
            fixture("99-trailing-comma.conflist"),
        ),
    );
    assert_eq!(
        shape(&events),
        [(
            "INVALID".to_owned(),
            "00-broken.conflist".to_owned(),
            Severity::Error
        )]
    );
    assert_eq!(attr(&events[0], "kept_state"), None);
    // An earlier name that loads does: Cilium installed next to Calico.
    let events = feed(
        &mut c,
        3,
        conf_change(
            "05-cilium.conflist",
            ChangeKind::Created,
            fixture("05-cilium.conflist"),
        ),
    );
    assert_eq!(
        shape(&events)[1],
        (
            "ACTIVE".to_owned(),
            "05-cilium.conflist".to_owned(),
            Severity::Warning
        )
    );
    assert_eq!(events[1].message, "Active CNI config of /etc/cni/net.d is now 05-cilium.conflist (network cilium, cniVersion 0.3.1, plugin cilium-cni), was 10-calico.conflist");
    assert_eq!(
        attr(&events[1], "previous_active_config"),
        Some("/etc/cni/net.d/10-calico.conflist")
    );
    assert_eq!(
        events[1].network.as_ref().unwrap().plugin_name.as_deref(),
        Some("cilium")
    );
    // It is deleted: Calico's is active again.
    let events = feed(
        &mut c,
        4,
        FileChange {
            body: Body::None,
            ..conf_change("05-cilium.conflist", ChangeKind::Deleted, b"")
        },
    );
    assert_eq!(
        shape(&events),
        [
            (
                "DELETED".to_owned(),
                "05-cilium.conflist".to_owned(),
                Severity::Warning
            ),
            (
                "ACTIVE".to_owned(),
                "10-calico.conflist".to_owned(),
                Severity::Warning
            ),
        ]
    );
    assert_eq!(
        c.active_config(DIR),
        Some("/etc/cni/net.d/10-calico.conflist")
    );
    // Other directories have their own active config; names libcni ignores are ignored.
    let other = FileChange {
        path: "/opt/cni/conf/99-x.conf".to_owned(),
        ..conf_change("", ChangeKind::Created, fixture("10-mynet.conf"))
    };
    assert_eq!(shape(&feed(&mut c, 5, other)).len(), 2);
    assert!(feed(
        &mut c,
        6,
        conf_change("10-calico.conflist.tmp", ChangeKind::Created, calico)
    )
    .is_empty());
    assert_eq!(c.stats().files.ignored_names, 1);
    assert_eq!(
        c.active_config(DIR),
        Some("/etc/cni/net.d/10-calico.conflist")
    );
}

#[test]
fn rename_carries_state_and_moves_the_active_config() {
    let mut c = Collector::new(Config::default());
    let flannel = fixture("10-flannel.conflist");
    feed(
        &mut c,
        0,
        conf_change("10-flannel.conflist", ChangeKind::Present, flannel),
    );
    let renamed = conf_change(
        "30-flannel.conflist",
        ChangeKind::Renamed {
            from: format!("{DIR}/10-flannel.conflist"),
        },
        flannel,
    );
    let events = feed(&mut c, 1, renamed);
    assert_eq!(
        shape(&events),
        [
            (
                "RENAMED".to_owned(),
                "30-flannel.conflist".to_owned(),
                Severity::Warning
            ),
            (
                "ACTIVE".to_owned(),
                "30-flannel.conflist".to_owned(),
                Severity::Warning
            ),
        ]
    );
    assert_eq!(events[0].message, "CNI config renamed from 10-flannel.conflist to 30-flannel.conflist: network cbr0, cniVersion 0.3.1, plugins flannel → portmap");
    // Same content: no diff attributes.
    assert_eq!(attr(&events[0], "changed_keys"), None);
    assert_eq!(
        attr(&events[0], "renamed_from"),
        Some("/etc/cni/net.d/10-flannel.conflist")
    );
    // The old name's state is gone: writing it again is a creation.
    let events = feed(
        &mut c,
        2,
        conf_change("10-flannel.conflist", ChangeKind::Created, flannel),
    );
    assert_eq!(shape(&events)[0].0, "CREATED");
}

#[test]
fn a_rescan_of_a_known_file_reports_a_modification() {
    let mut c = Collector::new(Config::default());
    feed(
        &mut c,
        0,
        conf_change(
            "10-mynet.conf",
            ChangeKind::Present,
            fixture("10-mynet.conf"),
        ),
    );
    let v2 = String::from_utf8(fixture("10-mynet.conf").to_vec())
        .unwrap()
        .replace("mynet0", "br1");
    let events = feed(
        &mut c,
        1,
        conf_change("10-mynet.conf", ChangeKind::Present, v2.as_bytes()),
    );
    assert_eq!(shape(&events)[0].0, "MODIFIED");
    assert_eq!(
        attr(&events[0], "changed_keys"),
        Some("bridge: mynet0 → br1")
    );
    assert_eq!(attr(&events[0], "bridge"), Some("br1"));
}

#[test]
fn secrets_never_leave() {
    let mut c = Collector::new(Config::default());
    let etcd = fixture("10-calico-etcd.conf");
    feed(
        &mut c,
        0,
        conf_change("10-calico.conf", ChangeKind::Created, etcd),
    );
    let v2 = String::from_utf8(etcd.to_vec())
        .unwrap()
        .replace("FAKE-TOKEN-FOR-THE-REDACTION-TEST", "ANOTHER-FAKE-TOKEN");
    let events = feed(
        &mut c,
        1,
        conf_change("10-calico.conf", ChangeKind::Modified, v2.as_bytes()),
    );
    // The change is reported, but not what the token was or is.
    assert_eq!(shape(&events)[0].0, "MODIFIED");
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("FAKE-TOKEN"), "{text}");
    // Equal redacted values: the key-by-key diff cannot tell, the event still says the file
    // changed (its content hash did).
    assert_eq!(attr(&events[0], "changed_keys"), None);
    let v3 = v2.replace("\"k8s_auth_token\"", "\"k8s_auth_token_v2\"");
    let events = feed(
        &mut c,
        2,
        conf_change("10-calico.conf", ChangeKind::Modified, v3.as_bytes()),
    );
    assert_eq!(
        attr(&events[0], "changed_keys"),
        Some("policy.k8s_auth_token: <redacted> → (absent); policy.k8s_auth_token_v2: (absent) → <redacted>")
    );
    assert!(!serde_json::to_string(&events)
        .unwrap()
        .contains("FAKE-TOKEN"));
}

#[test]
fn unreadable_cut_and_binary_files_are_clear_errors() {
    let mut c = Collector::new(Config::default());
    let unreadable = FileChange {
        body: Body::Unreadable("Permission denied (os error 13)".to_owned()),
        ..conf_change("10-a.conf", ChangeKind::Created, b"")
    };
    let events = feed(&mut c, 0, unreadable.clone());
    assert_eq!(
        shape(&events),
        [(
            "INVALID".to_owned(),
            "10-a.conf".to_owned(),
            Severity::Error
        )]
    );
    assert_eq!(
        attr(&events[0], "error"),
        Some("cannot be read: Permission denied (os error 13)")
    );
    // The same reason again: nothing new (and not counted twice).
    assert!(feed(&mut c, 1, unreadable).is_empty());
    let cut = FileChange {
        body: Body::Bytes {
            bytes: vec![b' '; 64],
            cut: true,
        },
        ..conf_change("10-b.conf", ChangeKind::Created, b"")
    };
    assert_eq!(
        attr(&feed(&mut c, 2, cut)[0], "error"),
        Some("larger than 64 bytes, only that much was read")
    );
    let elf = conf_change(
        "10-c.conf",
        ChangeKind::Created,
        b"\x7fELF\x02\x01\x01\0\0\0",
    );
    assert_eq!(
        attr(&feed(&mut c, 3, elf)[0], "error"),
        Some("binary content (not UTF-8 text), not a JSON config")
    );
    assert_eq!(
        (c.stats().files.unreadable, c.stats().files.invalid),
        (1, 3)
    );
}

#[test]
fn tracked_files_are_bounded() {
    let mut c = Collector::new(Config {
        max_config_files: 2,
        ..Config::default()
    });
    for (i, name) in ["10-a.conf", "10-b.conf", "10-c.conf"]
        .into_iter()
        .enumerate()
    {
        feed(
            &mut c,
            i as i64,
            conf_change(name, ChangeKind::Created, fixture("10-mynet.conf")),
        );
    }
    assert_eq!(c.stats().files.untracked, 1);
    // A known file still updates.
    let events = feed(
        &mut c,
        9,
        conf_change(
            "10-a.conf",
            ChangeKind::Modified,
            fixture("05-cilium.conflist"),
        ),
    );
    assert_eq!(shape(&events)[0].0, "INVALID");
}

/// Found by fuzzing (fuzz/regressions/conf/rename-over-active-at-limit): at the file limit, a
/// rename from an untracked name over the active config left the old content active.
#[test]
fn a_rename_from_an_untracked_name_replaces_the_target_at_the_limit() {
    let mut c = Collector::new(Config {
        max_config_files: 2,
        ..Config::default()
    });
    feed(
        &mut c,
        0,
        conf_change("10-a.conf", ChangeKind::Created, fixture("10-mynet.conf")),
    );
    feed(
        &mut c,
        1,
        conf_change("20-b.conf", ChangeKind::Created, b"{"),
    );
    let mut change = conf_change("10-a.conf", ChangeKind::Modified, b"not json");
    change.kind = ChangeKind::Renamed {
        from: "/tmp/elsewhere.conf".to_owned(),
    };
    let events = feed(&mut c, 2, change);
    assert_eq!(c.active_config(DIR), None);
    assert_eq!(
        shape(&events),
        [
            (
                "INVALID".to_owned(),
                "10-a.conf".to_owned(),
                Severity::Error
            ),
            ("ACTIVE".to_owned(), "10-a.conf".to_owned(), Severity::Error),
        ]
    );
    assert_eq!(attr(&events[0], "kept_state"), Some("true"));
    assert_eq!(c.stats().files.untracked, 0);
}

fn plugin_change(kind: ChangeKind, sha: &str, size: u64, version: Option<&str>) -> FileChange {
    FileChange {
        path: "/opt/cni/bin/bridge".to_owned(),
        role: Role::Plugin,
        kind,
        body: Body::Plugin(PluginInfo {
            size,
            mtime: T0,
            mode: 0o755,
            sha256: Ok(sha.to_owned()),
            version: version.map(|v| Ok(v.as_bytes().to_vec())),
        }),
    }
}

#[test]
fn plugin_binaries_added_replaced_removed() {
    let mut c = Collector::new(Config::default());
    feed(
        &mut c,
        0,
        conf_change(
            "10-mynet.conf",
            ChangeKind::Present,
            fixture("10-mynet.conf"),
        ),
    );
    let v1 = r#"{"cniVersion":"1.0.0","supportedVersions":["0.3.1","0.4.0","1.0.0"]}"#;
    let events = feed(
        &mut c,
        1,
        plugin_change(ChangeKind::Present, "aaaa", 100, Some(v1)),
    );
    assert_eq!(
        events[0].id,
        format!("cni_config_PLUGIN_PRESENT_{}_3", at(1).unix_nanos())
    );
    assert_eq!(
        events[0].message,
        "CNI plugin bridge found in /opt/cni/bin (100 bytes, supports CNI 0.3.1,0.4.0,1.0.0)"
    );
    assert_eq!(
        attr(&events[0], "used_by"),
        Some("/etc/cni/net.d/10-mynet.conf")
    );
    assert_eq!(attr(&events[0], "sha256"), Some("aaaa"));
    assert_eq!(
        events[0].cni.as_ref().unwrap().plugin_type.as_deref(),
        Some("bridge")
    );
    assert_eq!(
        c.plugins_detected().collect::<Vec<_>>(),
        ["/opt/cni/bin/bridge"]
    );
    // Touched: same hash, VERSION not asked again: nothing.
    assert!(feed(
        &mut c,
        2,
        plugin_change(ChangeKind::Modified, "aaaa", 100, None)
    )
    .is_empty());
    // Replaced by a build that dropped 1.0.0.
    let v2 = r#"{"cniVersion":"0.4.0","supportedVersions":["0.3.1","0.4.0"]}"#;
    let events = feed(
        &mut c,
        3,
        plugin_change(ChangeKind::Modified, "bbbb", 90, Some(v2)),
    );
    assert_eq!(events[0].severity, Severity::Warning);
    assert_eq!(events[0].message, "CNI plugin bridge replaced in /opt/cni/bin: sha256 aaaa → bbbb; size 100 → 90 bytes; supported CNI versions 0.3.1,0.4.0,1.0.0 → 0.3.1,0.4.0");
    assert_eq!(attr(&events[0], "sha256_before"), Some("aaaa"));
    assert_eq!(
        attr(&events[0], "supported_versions_before"),
        Some("0.3.1,0.4.0,1.0.0")
    );
    // Removed while a config still uses it.
    let gone = FileChange {
        body: Body::None,
        ..plugin_change(ChangeKind::Deleted, "", 0, None)
    };
    let events = feed(&mut c, 4, gone);
    assert_eq!(events[0].severity, Severity::Error);
    assert_eq!(
        events[0].message,
        "CNI plugin bridge removed from /opt/cni/bin, still used by /etc/cni/net.d/10-mynet.conf"
    );
    assert_eq!(c.plugins_detected().count(), 0);
    // A VERSION that fails is said.
    let mut broken = plugin_change(ChangeKind::Created, "cccc", 5, None);
    if let Body::Plugin(info) = &mut broken.body {
        info.version = Some(Err("timed out after 2 s".to_owned()));
    }
    let events = feed(&mut c, 5, broken);
    assert_eq!(
        attr(&events[0], "version_error"),
        Some("timed out after 2 s")
    );
    assert!(
        events[0]
            .message
            .ends_with("; VERSION: timed out after 2 s"),
        "{}",
        events[0].message
    );
}

#[test]
fn the_collectors_own_version_probes_are_not_reported() {
    use crate::bpf::record::raw;
    use crate::MonoClock;
    let clock = MonoClock {
        realtime_minus_monotonic_ns: T0.unix_nanos() - 1_000_000_000_000,
    };
    let run = |own_pid: Option<u32>| {
        let mut c = Collector::new(Config {
            own_pid,
            ..Config::default()
        });
        let env = b"CNI_COMMAND=VERSION\0";
        let len = env.len() as u32;
        // The collector (pid 4242) runs bridge (pid 7) for its VERSION answer.
        let ts = 1_000_000_000_000;
        for record in [
            raw::exec(7, 4242, ts, ts - 1, 2, len, "bridge", "/opt/cni/bin/bridge"),
            raw::env(7, ts, len, 0, env),
            raw::exit(7, 4242, ts + 1_000_000, 0),
        ] {
            c.handle_bpf_record(T0, clock, &record).unwrap();
        }
        let events: Vec<UnifiedEvent> = std::iter::from_fn(|| c.poll_event()).collect();
        (events.len(), c.stats().own_executions)
    };
    assert_eq!(run(Some(4242)), (0, 1));
    // Another process's VERSION call is a CNI operation like any other.
    assert_eq!(run(Some(4243)), (1, 0));
    assert_eq!(run(None), (1, 0));
}

#[test]
fn a_rename_across_directories_updates_both_active_configs() {
    let mut c = Collector::new(Config::default());
    feed(
        &mut c,
        0,
        conf_change(
            "10-mynet.conf",
            ChangeKind::Present,
            fixture("10-mynet.conf"),
        ),
    );
    let moved = FileChange {
        path: "/etc/cni/conf.d/10-mynet.conf".to_owned(),
        ..conf_change(
            "",
            ChangeKind::Renamed {
                from: format!("{DIR}/10-mynet.conf"),
            },
            fixture("10-mynet.conf"),
        )
    };
    let events = feed(&mut c, 1, moved);
    assert_eq!(
        shape(&events),
        [
            (
                "RENAMED".to_owned(),
                "10-mynet.conf".to_owned(),
                Severity::Warning
            ),
            (
                "ACTIVE".to_owned(),
                "10-mynet.conf".to_owned(),
                Severity::Error
            ),
            (
                "ACTIVE".to_owned(),
                "10-mynet.conf".to_owned(),
                Severity::Info
            ),
        ]
    );
    assert_eq!(attr(&events[1], "conf_dir"), Some(DIR));
    assert_eq!(attr(&events[2], "conf_dir"), Some("/etc/cni/conf.d"));
    assert_eq!(c.active_config(DIR), None);
    assert_eq!(
        c.active_config("/etc/cni/conf.d"),
        Some("/etc/cni/conf.d/10-mynet.conf")
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashSet};

    const NAMES: [&str; 6] = [
        "05-a.conflist",
        "10-b.conf",
        "20-c.json",
        "30-d.conflist",
        "x.conf.tmp",
        "99-e.conf",
    ];
    const DIRS: [&str; 2] = ["/etc/cni/net.d", "/opt/cni/conf"];

    #[derive(Debug, Clone)]
    enum Content {
        Fixture(usize),
        /// A fixture with one byte changed.
        Mutated(usize, usize, u8),
        Bytes(Vec<u8>),
        Unreadable,
    }

    #[derive(Debug, Clone)]
    enum Step {
        Write {
            dir: usize,
            name: usize,
            content: Content,
            created: bool,
        },
        Delete {
            dir: usize,
            name: usize,
        },
        Rename {
            from: (usize, usize),
            to: (usize, usize),
            content: Content,
        },
    }

    fn content() -> impl Strategy<Value = Content> {
        let n = FIXTURES.len();
        prop_oneof![
            (0..n).prop_map(Content::Fixture),
            (0..n, any::<usize>(), any::<u8>()).prop_map(|(f, at, b)| Content::Mutated(f, at, b)),
            prop::collection::vec(any::<u8>(), 0..48).prop_map(Content::Bytes),
            Just(Content::Unreadable),
        ]
    }

    fn step() -> impl Strategy<Value = Step> {
        let at = (0..DIRS.len(), 0..NAMES.len());
        prop_oneof![
            4 => (at.clone(), content(), any::<bool>()).prop_map(|((dir, name), content, created)| Step::Write { dir, name, content, created }),
            1 => at.clone().prop_map(|(dir, name)| Step::Delete { dir, name }),
            1 => (at.clone(), at, content()).prop_map(|(from, to, content)| Step::Rename { from, to, content }),
        ]
    }

    fn body(c: &Content) -> Body {
        match c {
            Content::Fixture(i) => Body::Bytes {
                bytes: FIXTURES[*i].1.to_vec(),
                cut: false,
            },
            Content::Mutated(i, at, b) => {
                let mut bytes = FIXTURES[*i].1.to_vec();
                let at = at % bytes.len();
                bytes[at] = *b;
                Body::Bytes { bytes, cut: false }
            }
            Content::Bytes(b) => Body::Bytes {
                bytes: b.clone(),
                cut: false,
            },
            Content::Unreadable => Body::Unreadable("Permission denied (os error 13)".to_owned()),
        }
    }

    /// Whether libcni would load `body` under `name`.
    fn loads(name: &str, body: &Body) -> bool {
        let (Some(kind), Body::Bytes { bytes, cut }) = (kind_of_name(name), body) else {
            return false;
        };
        parse(kind, bytes, *cut, 0).is_ok()
    }

    proptest! {
        /// Whatever is written, renamed and deleted: no panic, unique ids, and the active config
        /// of each directory is always the first file by name whose current content loads.
        #[test]
        fn active_config_matches_a_model(steps in prop::collection::vec(step(), 0..60)) {
            let mut c = Collector::new(Config::default());
            let mut model: BTreeMap<String, bool> = BTreeMap::new();
            let mut ids = HashSet::new();
            for (i, step) in steps.into_iter().enumerate() {
                let path = |(d, n): (usize, usize)| format!("{}/{}", DIRS[d], NAMES[n]);
                let change = match step {
                    Step::Write { dir, name, content, created } => {
                        let p = path((dir, name));
                        let body = body(&content);
                        if kind_of_name(NAMES[name]).is_some() {
                            model.insert(p.clone(), loads(NAMES[name], &body));
                        }
                        let kind = if created { ChangeKind::Created } else { ChangeKind::Modified };
                        FileChange { path: p, role: Role::Config, kind, body }
                    }
                    Step::Delete { dir, name } => {
                        let p = path((dir, name));
                        model.remove(&p);
                        FileChange { path: p, role: Role::Config, kind: ChangeKind::Deleted, body: Body::None }
                    }
                    Step::Rename { from, to, content } => {
                        let (f, t) = (path(from), path(to));
                        let body = body(&content);
                        model.remove(&f);
                        if kind_of_name(NAMES[to.1]).is_some() {
                            model.insert(t.clone(), loads(NAMES[to.1], &body));
                        }
                        FileChange { path: t, role: Role::Config, kind: ChangeKind::Renamed { from: f }, body }
                    }
                };
                c.handle_file_change(at(i as i64), change);
                while let Some(e) = c.poll_event() {
                    prop_assert!(ids.insert(e.id.clone()), "duplicate id {}", e.id);
                    prop_assert_eq!(e.category, Category::ConfigChange);
                }
                for dir in DIRS {
                    let expected = model
                        .iter()
                        .find(|(p, ok)| **ok && dir_of(p) == dir)
                        .map(|(p, _)| p.as_str());
                    prop_assert_eq!(c.active_config(dir), expected, "{}", dir);
                }
            }
        }
    }
}
