//! The `tapio-cni-collector` binary runs the same offline commands as the threaded one.

use std::path::Path;
use std::process::Command;

#[test]
fn parse_prints_one_event_per_relevant_record() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/logs/calico.log");
    let out = Command::new(env!("CARGO_BIN_EXE_tapio-cni-collector"))
        .arg("parse")
        .arg(&fixture)
        .output()
        .expect("binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(lines.len() >= 10, "{} events", lines.len());
    assert!(lines
        .iter()
        .all(|e| e["source"] == "cni" && e["origin"]["monitor"] == "log"));
}
