//! Any text as CNI result / error / VERSION JSON (the format forced), and the lenient JSON
//! member reader under it: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::text::json_members;
use proto::{parse_record, Format};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_record(&text, Some(Format::CniResult));
    let _ = json_members(&text);
});
