//! Throughput of log parsing on a large mixed corpus built from every fixture log: the core
//! alone (lines → events), and with JSON serialization as `parse` prints them.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tapio_cni_core::{Collector, Config, LogLine, Timestamp};

/// How many times the fixture lines are repeated: large enough that per-run setup vanishes.
const TARGET_LINES: usize = 100_000;

fn corpus() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/logs");
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("extra")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        files.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "log")),
        );
    }
    files.sort();
    let lines: Vec<Vec<u8>> = files
        .iter()
        .flat_map(|p| {
            let text = std::fs::read(p).expect("fixture readable");
            text.split(|&b| b == b'\n')
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.iter().cycle().take(TARGET_LINES).cloned().collect()
}

fn run(lines: &[Vec<u8>], serialize: bool) -> usize {
    let now = Timestamp::from_unix_nanos(1_768_478_400_000_000_000);
    let mut c = Collector::new(Config::default());
    let mut out = Vec::with_capacity(1 << 20);
    let mut events = 0;
    let mut offset = 0;
    for (i, l) in lines.iter().enumerate() {
        c.handle_log_line(
            now,
            LogLine {
                source: "bench.log",
                line_no: i as u64 + 1,
                offset,
                bytes: l,
                format: None,
            },
        );
        offset += l.len() as u64 + 1;
        while let Some(e) = c.poll_event() {
            events += 1;
            if serialize {
                out.clear();
                serde_json::to_writer(&mut out, &e).expect("serializes");
            }
            black_box(&e);
        }
        while c.poll_request().is_some() {}
    }
    c.handle_log_end("bench.log");
    events
}

fn bench(c: &mut Criterion) {
    let lines = corpus();
    let bytes: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();
    for (name, serialize) in [("events", false), ("events+json", true)] {
        let mut g = c.benchmark_group(format!("parse/{name}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(lines.len() as u64));
        g.bench_function("lines", |b| b.iter(|| run(black_box(&lines), serialize)));
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function("bytes", |b| b.iter(|| run(black_box(&lines), serialize)));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
