//! `parse` and `replay`: the core over files, for offline analysis and bug reports.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use proto::scenario::Scenario;
use proto::{Collector, Config, Format, LogLine, Stats, Timestamp, UnifiedEvent};

use crate::lines::BoundedLines;
use crate::runloop::is_broken_pipe;

/// The subcommands both binaries share.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Parse plugin, kubelet and runtime log text into UnifiedEvent JSON lines.
    Parse {
        /// `auto` detects the format of each line; or one of: cilium, calico, flannel,
        /// aws-vpc-cni, azure-cni, multus, weave, kube-router, klog, logrus, kubelet-event,
        /// cni-result, text.
        #[arg(long, default_value = "auto", value_parser = parse_format)]
        format: FormatArg,
        /// Files to read; standard input when none is given.
        files: Vec<PathBuf>,
    },
    /// Run the core over a recorded scenario (JSON Lines) and print its events.
    Replay {
        /// The scenario file.
        file: PathBuf,
    },
    /// Preflight: kernel, BTF, tracefs, privileges, the eBPF probes (really loaded), plugin
    /// directories, inotify limits, Kubernetes. Exits non-zero when `run` cannot work here.
    Check {
        /// The configuration `run` would use (its plugin directories and sizes).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// `--format`: auto-detection or one format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatArg(pub Option<Format>);

fn parse_format(s: &str) -> Result<FormatArg, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(FormatArg(None));
    }
    Format::from_name(s)
        .map(|f| FormatArg(Some(f)))
        .ok_or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
            format!(
                "unknown format {s:?}; expected auto or one of: {}",
                names.join(", ")
            )
        })
}

/// The wall clock, read here at the edge: the core only ever receives it.
pub fn now() -> Timestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    Timestamp::from_unix_nanos(nanos)
}

/// Runs a shared subcommand, writing events to standard output.
///
/// # Errors
/// An input that cannot be read, or an output that cannot be written.
pub fn run(command: Command) -> anyhow::Result<()> {
    let stdout = io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    let result = match command {
        Command::Parse { format, files } => parse(&files, format.0, &mut out).map(|stats| {
            eprintln!(
                "parsed {} lines: {} events, {} records ignored, {} invalid UTF-8, {} oversize, {} multi-line cut",
                stats.lines,
                stats.events,
                stats.ignored,
                stats.invalid_utf8_lines,
                stats.oversize_lines,
                stats.multiline_cut
            );
        }),
        Command::Replay { file } => replay(&file, &mut out),
        Command::Check { config } => check(config.as_deref(), &mut out),
    };
    match result.and_then(|()| out.flush().context("writing events")) {
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

/// Parses each file (or standard input) as one log source and writes one JSON line per event.
///
/// # Errors
/// A file that cannot be opened or read, or an output that cannot be written.
pub fn parse(
    files: &[PathBuf],
    format: Option<Format>,
    out: &mut impl Write,
) -> anyhow::Result<Stats> {
    let config = Config::default();
    let max_line = config.max_line_bytes;
    let mut collector = Collector::new(config);
    let now = now();
    if files.is_empty() {
        parse_source(
            &mut collector,
            "-",
            io::stdin().lock(),
            max_line,
            format,
            now,
            out,
        )?;
    }
    for path in files {
        let name = path.display().to_string();
        let file = File::open(path).with_context(|| format!("opening {name}"))?;
        parse_source(&mut collector, &name, file, max_line, format, now, out)?;
    }
    Ok(collector.stats().clone())
}

fn parse_source(
    collector: &mut Collector,
    source: &str,
    input: impl Read,
    max_line: usize,
    format: Option<Format>,
    now: Timestamp,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    // One byte over the core's limit, so that the core sees the line is oversize and counts it.
    let mut lines = BoundedLines::new(BufReader::with_capacity(64 << 10, input), max_line + 1);
    let mut line_no = 0;
    while let Some(line) = lines
        .next_line()
        .with_context(|| format!("reading {source}"))?
    {
        line_no += 1;
        collector.handle_log_line(
            now,
            LogLine {
                source,
                line_no,
                offset: line.offset,
                bytes: &line.bytes,
                format,
            },
        );
        write_events(collector, out)?;
    }
    collector.handle_log_end(source);
    write_events(collector, out)
}

fn write_events(collector: &mut Collector, out: &mut impl Write) -> anyhow::Result<()> {
    while let Some(event) = collector.poll_event() {
        write_event(&event, out)?;
    }
    // Offsets matter to the tailing daemon only.
    while collector.poll_request().is_some() {}
    Ok(())
}

fn write_event(event: &UnifiedEvent, out: &mut impl Write) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, event).context("writing events")?;
    out.write_all(b"\n").context("writing events")?;
    Ok(())
}

/// Runs the preflight checks and writes the report.
///
/// # Errors
/// A bad configuration, an output that cannot be written, or a host where `run` cannot work.
pub fn check(config: Option<&std::path::Path>, out: &mut impl Write) -> anyhow::Result<()> {
    let config = crate::config::Config::load_from_env(config)?;
    let findings = crate::check::run_checks(&config);
    let ok = crate::check::report(&findings, out).context("writing the report")?;
    out.flush().context("writing the report")?;
    if !ok {
        bail!("preflight failed: see the FAILED lines");
    }
    Ok(())
}

/// Replays a scenario file and writes its events.
///
/// # Errors
/// A file that cannot be read or is not a valid scenario.
pub fn replay(path: &PathBuf, out: &mut impl Write) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let scenario = match Scenario::parse(&text) {
        Ok(s) => s,
        Err(e) => bail!("{}: {e}", path.display()),
    };
    for event in scenario.replay(&mut Collector::new(Config::default())) {
        write_event(&event, out)?;
    }
    Ok(())
}
