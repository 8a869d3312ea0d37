//! Inputs that once crashed or misled a parser, kept byte for byte (fuzz/regressions/): each
//! must still parse without a panic, through every format and through auto-detection, and its
//! events must read back from JSON unchanged.

use std::path::Path;

use proto::{parse_record, Format, UnifiedEvent};
use tapio_cni_tests::parse_text;

#[test]
fn fuzz_regression_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut count = 0;
    for target in std::fs::read_dir(&root).expect("fuzz/regressions exists") {
        let dir = target.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).expect("readable") {
            let path = file.expect("entry").path();
            let bytes = std::fs::read(&path).expect("readable");
            for event in parse_text("regression", &bytes) {
                let json = serde_json::to_string(&event).expect("serializes");
                let back: UnifiedEvent = serde_json::from_str(&json).expect("deserializes");
                assert_eq!(back, event, "{}", path.display());
            }
            let text = String::from_utf8_lossy(&bytes);
            for f in Format::ALL {
                let _ = parse_record(&text, Some(f));
            }
            count += 1;
        }
    }
    assert!(count > 0, "no regression inputs under {}", root.display());
}
