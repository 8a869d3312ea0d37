//! A finished execution seen by /proc scans → one [`UnifiedEvent`], through the same
//! [`crate::build::event`] as every other source, with the request read from the `CNI_*`
//! environment as the eBPF input reads it ([`Facts::read_cni_env`]) and the exit told the same
//! way ([`crate::bpf::build::read_exit`]).

use crate::bpf::build::{duration_words, explain_failure, read_exit};
use crate::event::{Monitor, Origin, Severity, UnifiedEvent};
use crate::facts::Facts;
use crate::proc::track::{End, Finished};
use crate::proc::PROC_CONFIDENCE;

pub(crate) fn event(
    finished: Finished,
    node_name: Option<&str>,
    timeout_ms: u64,
    seq: u64,
) -> UnifiedEvent {
    let Finished { mut proc, end } = finished;
    let mut f = Facts {
        pid: Some(proc.pid),
        comm: Some(proc.comm.clone()).filter(|c| !c.is_empty()),
        node_name: node_name.map(str::to_owned),
        confidence: Some(PROC_CONFIDENCE),
        ..Facts::default()
    };
    f.read_cni_env(&proc.env);
    Facts::set(&mut f.plugin_type, proc.binary());
    f.attr("plugin_path", proc.path.as_deref().unwrap_or(""));
    if let Some(ino) = proc.entered_netns_ino {
        f.attr("netns_inode", &ino.to_string());
    }
    if proc.env_truncated {
        f.attr("capture_incomplete", "environment cut");
    }
    if proc.operation().is_none() {
        f.attr("capture_incomplete", "environment not read");
    }
    f.metrics.insert(
        "seen_for_ms".to_owned(),
        proc.last_seen.millis_since(proc.first_seen),
    );
    match (end, proc.exit) {
        (End::Vanished(at), exit) => {
            f.metrics.insert(
                "lifetime_max_ms".to_owned(),
                at.millis_since(proc.started_at),
            );
            match exit {
                Some(status) => read_exit(&mut f, status),
                None => {
                    f.message = Some("seen by a /proc scan; its exit status was not seen".into())
                }
            }
        }
        (End::Expired, _) => {
            f.level = Some(Severity::Warning);
            f.message = Some(format!(
                "still running {} after it started",
                duration_words(timeout_ms)
            ));
        }
    }
    let success = f.success;
    let origin = Origin {
        monitor: Monitor::Proc,
        file: None,
        line: None,
        format: None,
    };
    let mut event = crate::build::event(f, origin, None, proc.started_at, seq);
    if let (Some(status), Some(false)) = (proc.exit, success) {
        explain_failure(&mut event, status);
    }
    if let Some(system) = event.system.as_mut() {
        system.ppid = Some(proc.ppid);
    }
    if let Some(cni) = event.cni.as_mut() {
        cni.chain = std::mem::take(&mut proc.chain);
    }
    event
}
