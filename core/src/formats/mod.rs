//! Per-format record parsers and the dispatcher that auto-detects the format of each record.
//!
//! Every parser has the same shape, `fn parse(env: &Envelope) -> Option<Facts>`: it looks at
//! the body (and at what the wrapping layers stated), returns `None` quickly when the record is
//! not its format or not CNI-relevant, and otherwise the facts the record states. Auto-detection
//! tries them in [`ORDER`]: plugin formats before the generic klog/logrus/text readers that
//! would also accept their lines.

mod aws;
mod azure;
mod calico;
mod cilium;
mod cni_json;
mod events;
mod flannel;
mod kube_router;
mod multus;
mod runtime;
mod runtime_error;
mod weave;

use crate::envelope::Envelope;
use crate::event::{Format, Severity};
use crate::facts::Facts;
use crate::text::TrimFast;

/// Auto-detection order.
pub const ORDER: [Format; 13] = [
    Format::CniResult,
    Format::AwsVpcCni,
    Format::AzureCni,
    Format::Cilium,
    Format::Calico,
    Format::Multus,
    Format::Weave,
    Format::KubeRouter,
    Format::Flannel,
    Format::KubeletEvent,
    Format::Klog,
    Format::Logrus,
    Format::Text,
];

fn parse_as(format: Format, env: &Envelope<'_>) -> Option<Facts> {
    match format {
        Format::Cilium => cilium::parse(env),
        Format::Calico => calico::parse(env),
        Format::Flannel => flannel::parse(env),
        Format::AwsVpcCni => aws::parse(env),
        Format::AzureCni => azure::parse(env),
        Format::Multus => multus::parse(env),
        Format::Weave => weave::parse(env),
        Format::KubeRouter => kube_router::parse(env),
        Format::Klog => runtime::parse_klog(env),
        Format::Logrus => runtime::parse_logrus(env),
        Format::KubeletEvent => events::parse(env),
        Format::CniResult => cni_json::parse(env),
        Format::Text => runtime::parse_text(env),
    }
}

/// Parses one record (one line, or the lines of a multi-line record joined by `\n`).
/// `only` restricts detection to one format (`parse --format X`).
pub fn parse_record(record: &str, only: Option<Format>) -> Option<Facts> {
    let env = Envelope::strip(record);
    if env.body.trim_fast().is_empty() {
        return None;
    }
    // A `Facts` is large: it is returned as the parser wrote it and completed in place, not
    // moved through adapters (each move copied it).
    let mut format = Format::Text;
    let mut facts = match only {
        Some(f) => {
            format = f;
            parse_as(f, &env)
        }
        None => ORDER.iter().find_map(|&f| {
            format = f;
            parse_as(f, &env)
        }),
    };
    if let Some(facts) = &mut facts {
        complete(facts, format, &env);
    }
    facts
}

/// Adds what the wrapping layers stated, where the body did not state it itself.
fn complete(facts: &mut Facts, format: Format, env: &Envelope<'_>) {
    facts.format.get_or_insert(format);
    facts.time = facts.time.or(env.time);
    if facts.hostname.is_none() {
        facts.hostname = env.hostname.map(str::to_owned);
    }
    // The wrapper's process and pid describe the record's process only when the record names
    // no other: a Calico line states the plugin's pid inside a containerd journal, a klog header
    // states flanneld's pid inside a syslog prefix written by a supervisor.
    if facts.pid.is_none() {
        let inner = env.klog.as_ref().and_then(|k| k.pid);
        let same = inner.is_none() || env.pid.is_none() || inner == env.pid;
        if facts.comm.is_none() && same {
            facts.comm = env.process.map(str::to_owned);
        }
        facts.pid = inner.or(env.pid);
    }
    if facts.level.is_none() {
        facts.level = env
            .klog
            .as_ref()
            // The level letter is read in place, without a String for it.
            .and_then(|k| Severity::from_level(k.level.encode_utf8(&mut [0; 4])))
            .or_else(|| env.level_word.and_then(Severity::from_level));
    }
}
