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
