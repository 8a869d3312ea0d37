//! One snapshot per fixture log: every event `parse` makes of it, reviewed line by line.

use tapio_cni_tests::{fixtures, parse_text};

#[test]
fn log_fixtures() {
    insta::glob!(fixtures(), "logs/**/*.log", |path| {
        let text = std::fs::read(path).expect("fixture readable");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("fixture");
        let events = parse_text(name, &text);
        insta::with_settings!({ description => format!("events of fixtures/logs/{name}"), omit_expression => true }, {
            insta::assert_yaml_snapshot!(events);
        });
    });
}
