//! A finished transaction → its [`Facts`] → one [`UnifiedEvent`], through the same
//! [`crate::build::event`] as every other source, plus what only the kernel knows: latency, the
//! parent pid and the chain of delegated plugins.
//!
//! What leaves: the `CNI_*` request (`CNI_ARGS` reduced to its `K8S_*` keys), the config's
//! `name`, `cniVersion`, `type` and `ipam.type` (never any other config value, so no secret in a
//! config can leak), the result's network facts and the error JSON. Never the rest of the
//! environment, the raw config, stderr, or a child's streams.

use serde_json::{Map, Value};

use crate::bpf::record::ExitStatus;
use crate::bpf::transaction::{End, Finished, Proc, Stream};
use crate::event::{CniError, Format, Monitor, Origin, PerformanceInfo, Severity, UnifiedEvent};
use crate::facts::Facts;
use crate::formats::parse_record;

/// The kernel saw the process: nothing about the execution is inferred.
const EBPF_CONFIDENCE: f64 = 1.0;

pub(crate) fn event(
    finished: Finished,
    node_name: Option<&str>,
    timeout_ms: u64,
    seq: u64,
) -> UnifiedEvent {
    let Finished { mut proc, end } = finished;
    let mut facts = facts_of(&proc, node_name);
    let status = match end {
        End::Exited { status, .. } => Some(status),
        End::Expired | End::Stopped => None,
    };
    match status {
        Some(status) => read_exit(&mut facts, status),
        None => {
            facts.level = Some(Severity::Warning);
            facts.success = None;
            facts.message = Some(unknown_exit(end, timeout_ms));
        }
    }
    let success = facts.success;
    let has_error = facts.error.is_some();
    let origin = Origin {
        monitor: Monitor::Ebpf,
        file: None,
        line: None,
        format: None,
    };
    let mut event = crate::build::event(facts, origin, None, proc.exec_at, seq);

    if let (Some(status), Some(false), false) = (status, success, has_error) {
        explain_failure(&mut event, status);
    }
    if let End::Exited { ts_ns, .. } = end {
        let latency_ms = ts_ns.saturating_sub(proc.exec_ns) as f64 / 1e6;
        let perf = event
            .performance
            .get_or_insert_with(PerformanceInfo::default);
        perf.latency_ms = Some(latency_ms);
        perf.metrics
            .insert("execution_time_ms".to_owned(), latency_ms);
    }
    if let Some(system) = event.system.as_mut() {
        system.ppid = Some(proc.ppid);
    }
    if let Some(cni) = event.cni.as_mut() {
        cni.chain = std::mem::take(&mut proc.chain);
    }
    event
}

/// Why a transaction's exit is unknown.
fn unknown_exit(end: End, timeout_ms: u64) -> String {
    if end == End::Stopped {
        return "still running when the collector stopped, exit unknown".to_owned();
    }
    format!(
        "exit not seen within {}, the process vanished or its records were lost",
        duration_words(timeout_ms)
    )
}

/// `timeout_ms` as a sentence says it: whole seconds as `30 s`, anything else in ms.
pub(crate) fn duration_words(timeout_ms: u64) -> String {
    match (timeout_ms / 1000, timeout_ms % 1000) {
        (s, 0) => format!("{s} s"),
        _ => format!("{timeout_ms} ms"),
    }
}

/// What an exit status says: the exit code and whether the execution succeeded (a plugin's
/// error on stdout fails it whatever its code), or the signal that killed it.
pub(crate) fn read_exit(facts: &mut Facts, status: ExitStatus) {
    match status {
        ExitStatus::Exited(code) => {
            facts.exit_code = Some(code);
            facts.success = Some(code == 0 && facts.error.is_none());
        }
        ExitStatus::Signaled(signal) => {
            facts.success = Some(false);
            facts.attr("exit_signal", &signal.to_string());
        }
    }
}

/// Completes the sentence of a failed execution whose plugin gave no error of its own: the
/// plugin's error says why it failed; without one, its exit does.
pub(crate) fn explain_failure(event: &mut UnifiedEvent, status: ExitStatus) {
    match status {
        ExitStatus::Exited(code) => event.message.push_str(&format!(": exit status {code}")),
        ExitStatus::Signaled(signal) => event
            .message
            .push_str(&format!(": killed by signal {signal}")),
    }
}

fn facts_of(p: &Proc, node_name: Option<&str>) -> Facts {
    let mut f = Facts {
        pid: Some(p.pid),
        comm: Some(p.comm.clone()).filter(|c| !c.is_empty()),
        node_name: node_name.map(str::to_owned),
        confidence: Some(EBPF_CONFIDENCE),
        ..Facts::default()
    };
    f.read_cni_env(&p.env.vars);
    f.attr("plugin_path", &p.path);
    if f.operation.is_none() {
        // A command no CNI version defines: the event still says what the runtime asked.
        f.attr(
            "cni_command",
            p.env.vars.get("CNI_COMMAND").map_or("", String::as_str),
        );
    }

    let config = json_object(&p.stdin.bytes);
    let config_type = config.as_ref().and_then(|c| str_of(c, "type"));
    Facts::set(&mut f.plugin_type, p.binary());
    Facts::set(&mut f.plugin_type, config_type.unwrap_or(""));
    if let Some(c) = &config {
        Facts::set(&mut f.network_name, str_of(c, "name").unwrap_or(""));
        Facts::set(&mut f.cni_version, str_of(c, "cniVersion").unwrap_or(""));
        if config_type.is_some_and(|t| Some(t) != f.plugin_type.as_deref()) {
            f.attr("config_type", config_type.unwrap_or(""));
        }
        let ipam = c.get("ipam").and_then(Value::as_object);
        f.attr(
            "ipam_type",
            ipam.and_then(|i| str_of(i, "type")).unwrap_or(""),
        );
    }

    read_stdout(&mut f, &p.stdout.bytes);
    if p.operation().is_none() && f.message.is_none() {
        f.message = Some("ran without CNI_COMMAND".to_owned());
    }
    if let Some(ino) = p.netns.entered_ino {
        f.attr("netns_inode", &ino.to_string());
    }
    let mut incomplete = Vec::new();
    for (name, s) in [
        ("stdin", &p.stdin),
        ("stdout", &p.stdout),
        ("stderr", &p.stderr),
    ] {
        incomplete.extend(stream_loss(name, s));
    }
    if p.env.incomplete {
        incomplete.push("environment incomplete".to_owned());
    }
    if p.env.over_budget
        || [&p.stdin, &p.stdout, &p.stderr]
            .iter()
            .any(|s| s.over_budget)
    {
        incomplete.push("memory budget full".to_owned());
    }
    if p.path_truncated {
        incomplete.push("path cut".to_owned());
    }
    f.attr("capture_incomplete", &incomplete.join(", "));
    f
}

fn stream_loss(name: &str, s: &Stream) -> Option<String> {
    match (s.gaps, s.cut) {
        (0, false) => None,
        (0, true) => Some(format!("{name} cut")),
        (n, _) => Some(format!("{name} missing {n} piece(s)")),
    }
}

fn str_of<'m>(m: &'m Map<String, Value>, key: &str) -> Option<&'m str> {
    m.get(key).and_then(Value::as_str)
}

/// A JSON object, when `bytes` are one.
fn json_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// The plugin's answer: an error JSON, or a result (or VERSION answer) whose network facts join
/// the request's.
fn read_stdout(f: &mut Facts, stdout: &[u8]) {
    let text = String::from_utf8_lossy(stdout);
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    if let Some(m) = json_object(text.as_bytes()).filter(|m| m.contains_key("code")) {
        let msg = m.get("msg").and_then(Value::as_str).unwrap_or("").trim();
        f.error = Some(CniError {
            code: m.get("code").and_then(Value::as_i64),
            msg: msg.to_owned(),
            details: m
                .get("details")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
        });
        return;
    }
    // The CNI result reader, leniently: a result cut at the stream limit still gives what
    // precedes the cut.
    let Some(result) = parse_record(text, Some(Format::CniResult)) else {
        return;
    };
    for ip in &result.ips {
        f.add_ip(ip);
    }
    Facts::set(&mut f.if_name, result.if_name.as_deref().unwrap_or(""));
    Facts::set(&mut f.gateway, result.gateway.as_deref().unwrap_or(""));
    Facts::set(&mut f.mac, result.mac.as_deref().unwrap_or(""));
    Facts::set(&mut f.subnet, result.subnet.as_deref().unwrap_or(""));
    Facts::set(
        &mut f.host_interface,
        result.host_interface.as_deref().unwrap_or(""),
    );
    Facts::set(
        &mut f.cni_version,
        result.cni_version.as_deref().unwrap_or(""),
    );
    if f.routes.is_empty() {
        f.routes = result.routes;
    }
    if f.dns.is_none() {
        f.dns = result.dns;
    }
    if f.error.is_none() {
        f.error = result.error;
    }
    for (k, v) in result.attributes {
        f.attributes.entry(k).or_insert(v);
    }
}
