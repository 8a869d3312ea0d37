//! Scenario fixtures replayed through the core on virtual time, one snapshot each.

use tapio_cni_tests::{fixtures, replay};

#[test]
fn scenario_fixtures() {
    insta::glob!(fixtures(), "scenarios/*.jsonl", |path| {
        let text = std::fs::read_to_string(path).expect("fixture readable");
        let events = replay(&text);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("scenario");
        insta::with_settings!({ description => format!("events of replaying fixtures/scenarios/{name}"), omit_expression => true }, {
            insta::assert_yaml_snapshot!(events);
        });
    });
}

/// The same inputs in the same order give the same events, and the log lines that name the
/// bridge ADD's container (one read while the plugin runs, others after its exit; in full and
/// as a truncated prefix) share its trace id, while a line about another container and a DEL
/// line do not.
#[test]
fn correlated_add_is_deterministic_and_shares_one_trace() {
    let text = std::fs::read_to_string(fixtures().join("scenarios/correlated-add.jsonl"))
        .expect("fixture readable");
    let events = replay(&text);
    assert_eq!(events, replay(&text));

    let txn = events
        .iter()
        .find(|e| e.origin.monitor == proto::event::Monitor::Ebpf)
        .expect("the bridge ADD");
    let trace = txn
        .trace_context
        .as_ref()
        .expect("a trace id")
        .trace_id
        .clone();
    let traced: Vec<_> = events
        .iter()
        .filter(|e| {
            e.trace_context
                .as_ref()
                .is_some_and(|t| t.trace_id == trace)
        })
        .collect();
    assert_eq!(traced.len(), 5, "{events:#?}");
    for e in traced
        .iter()
        .filter(|e| e.origin.monitor == proto::event::Monitor::Log)
    {
        assert_eq!(e.category, proto::Category::PluginLog);
        assert_eq!(e.attributes["transaction_event_id"], txn.id);
    }
    let untraced = events.iter().filter(|e| e.trace_context.is_none()).count();
    assert_eq!(untraced, 2, "the other container's line and the DEL line");
    assert_eq!(txn.attributes["workload_endpoint"], "node1-k8s-web--0-eth0");
    assert_eq!(txn.attributes["ipam_block"], "192.0.2.0/24");
}

/// The config-change scenario: the active config of the directory follows the writes (lost to
/// an invalid write, back after the atomic replace, taken by a file that sorts first, back
/// after its deletion), and the replaced plugin names the config that uses it.
#[test]
fn config_change_follows_the_active_config() {
    let text = std::fs::read_to_string(fixtures().join("scenarios/config-change.jsonl"))
        .expect("fixture readable");
    let events = replay(&text);
    assert_eq!(events, replay(&text));
    let active: Vec<Option<&str>> = events
        .iter()
        .filter(|e| e.id.starts_with("cni_config_ACTIVE_"))
        .map(|e| e.attributes.get("active_config").map(String::as_str))
        .collect();
    let mynet = Some("/etc/cni/net.d/10-mynet.conflist");
    let cilium = Some("/etc/cni/net.d/05-cilium.conflist");
    assert_eq!(active, [mynet, None, mynet, cilium, mynet]);
    let invalid = events
        .iter()
        .find(|e| e.id.starts_with("cni_config_INVALID_"))
        .expect("the invalid write");
    assert_eq!(invalid.severity, proto::Severity::Error);
    assert_eq!(invalid.attributes["kept_state"], "true");
    let modified: Vec<_> = events
        .iter()
        .filter(|e| e.id.starts_with("cni_config_MODIFIED_"))
        .collect();
    assert_eq!(modified.len(), 2, "{events:#?}");
    assert_eq!(modified[0].attributes["plugins_added"], "portmap");
    assert_eq!(modified[0].attributes["ipam_ranges_before"], "10.22.0.0/16");
    assert_eq!(modified[0].attributes["ipam_ranges"], "10.23.0.0/16");
    let plugin = events.last().expect("events");
    assert!(plugin.id.starts_with("cni_config_PLUGIN_REPLACED_"));
    assert_eq!(
        plugin.attributes["used_by"],
        "/etc/cni/net.d/10-mynet.conflist"
    );
}
