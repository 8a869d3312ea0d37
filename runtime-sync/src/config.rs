//! The daemon's configuration: the keys of the original Tapio `cni_collector` block, a preset
//! underneath, a YAML file over it, and `TAPIO_CNI_<KEY>` environment variables over that.
//!
//! Every key is typed and checked at start-up: an unknown key or a bad value is an error that
//! names the key (`unknown field \`x\``, `poll_interval: invalid duration "5 parsecs"`).
//!
//! Environment variables: `TAPIO_CNI_<KEY>` with the key upper-cased sets that key, its value
//! read as a YAML scalar (`TAPIO_CNI_POLL_INTERVAL=5s`, `TAPIO_CNI_IN_CLUSTER=true`). Short
//! aliases of the original design: `TAPIO_CNI_BIN_PATH` = `cni_bin_path`, `TAPIO_CNI_CONF_PATH`
//! = `cni_conf_path`. The plugin sections, `log_paths` and `outputs` are set in the file only.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Deserializer};

/// Environment variables that set a key, besides `TAPIO_CNI_<KEY>`.
pub const ENV_ALIASES: [(&str, &str); 2] = [
    ("TAPIO_CNI_BIN_PATH", "cni_bin_path"),
    ("TAPIO_CNI_CONF_PATH", "cni_conf_path"),
];

const ENV_PREFIX: &str = "TAPIO_CNI_";

/// A named set of defaults under the file's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Verbose logs, short timeouts, small buffers.
    Development,
    /// The defaults of `run` without a config.
    #[default]
    Production,
    /// Large buffers for nodes with heavy pod churn.
    HighPerformance,
    /// Only the eBPF process monitor, small buffers.
    Minimal,
}

/// A duration written as `500ms`, `5s`, `2m`, `1h` (or a bare number of seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Parses `<number><unit>` with unit `ns`, `us`, `ms`, `s`, `m` or `h`.
    pub fn parse(text: &str) -> Option<HumanDuration> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().ok()?;
        let nanos_per = match unit.trim() {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "" | "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let nanos = number.checked_mul(nanos_per)?;
        Some(HumanDuration(Duration::from_nanos(nanos)))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Seconds(s) => Ok(HumanDuration(Duration::from_secs(s))),
            Raw::Text(t) => HumanDuration::parse(&t).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid duration {t:?}: expected a number with a unit (ns, us, ms, s, m, h), e.g. \"5s\""
                ))
            }),
        }
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// `cni_bin_path`: one directory, several separated by `:`, or a list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PathList {
    One(String),
    Many(Vec<PathBuf>),
}

impl PathList {
    pub fn dirs(&self) -> Vec<PathBuf> {
        match self {
            PathList::One(s) => s
                .split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect(),
            PathList::Many(v) => v.clone(),
        }
    }
}

/// Log verbosity of the daemon's own logs (stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    #[serde(alias = "warning")]
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_tracing(self) -> tracing::Level {
        match self {
            LogLevel::Trace => tracing::Level::TRACE,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        }
    }
}

/// `cilium_config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiliumConfig {
    pub hubble_endpoint: Option<String>,
    pub enable_flow_monitor: Option<bool>,
    pub enable_policy_audit: Option<bool>,
}

/// `calico_config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalicoConfig {
    pub felix_metrics_port: Option<u16>,
    pub enable_bgp_monitor: Option<bool>,
    pub policy_log_level: Option<LogLevel>,
}

/// `aws_vpc_config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsVpcConfig {
    pub enable_eni_monitor: Option<bool>,
    pub region: Option<String>,
    pub cluster_name: Option<String>,
    pub enable_ipam_metrics: Option<bool>,
}

/// One entry of `log_paths`: a path, or a path with its format.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum LogPath {
    Path(PathBuf),
    WithFormat {
        path: PathBuf,
        #[serde(deserialize_with = "format_name")]
        format: Option<proto::Format>,
    },
}

fn format_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<proto::Format>, D::Error> {
    let name = String::deserialize(d)?;
    if name.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    proto::Format::from_name(&name)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown log format {name:?}")))
}

/// One entry of `outputs`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Output {
    /// JSON Lines on standard output.
    Stdout,
    /// JSON Lines appended to a file.
    File { path: PathBuf },
}

/// The keys a YAML file (or the environment) may set; absent keys keep the preset's value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub preset: Option<Preset>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub event_buffer_size: Option<usize>,
    pub enable_log_monitoring: Option<bool>,
    pub enable_process_monitoring: Option<bool>,
    pub enable_event_monitoring: Option<bool>,
    pub enable_file_monitoring: Option<bool>,
    pub use_ebpf: Option<bool>,
    pub use_inotify: Option<bool>,
    pub use_k8s_informer: Option<bool>,
    pub cni_bin_path: Option<PathList>,
    pub cni_conf_path: Option<PathBuf>,
    pub poll_interval: Option<HumanDuration>,
    pub event_rate_limit: Option<u32>,
    pub max_concurrent_watch: Option<u32>,
    pub in_cluster: Option<bool>,
    pub namespace: Option<String>,
    pub kubeconfig: Option<PathBuf>,
    pub enable_trace_correlation: Option<bool>,
    pub correlation_timeout: Option<HumanDuration>,
    pub log_level: Option<LogLevel>,
    pub cilium_config: Option<CiliumConfig>,
    pub calico_config: Option<CalicoConfig>,
    pub aws_vpc_config: Option<AwsVpcConfig>,
    pub log_paths: Option<Vec<LogPath>>,
    pub state_dir: Option<PathBuf>,
    pub outputs: Option<Vec<Output>>,
    pub metrics_address: Option<String>,
    // Keys of this daemon.
    /// The node name stamped into events (`TAPIO_CNI_NODE_NAME`).
    pub node_name: Option<String>,
    /// Bytes of the BPF ring buffer: a power of two, at least 4096.
    pub ring_buffer_size: Option<usize>,
    /// Ring-buffer records waiting between the poller thread and the core.
    pub record_channel_capacity: Option<usize>,
    /// A plugin execution without an exit this long after its exec is emitted without it.
    pub transaction_timeout: Option<HumanDuration>,
    /// Plugin processes assembled at once.
    pub max_open_transactions: Option<usize>,
    /// Bytes of stdin, stdout, stderr and environment kept over all plugin processes being
    /// assembled; beyond it their streams are cut and their events say so
    /// (`TAPIO_CNI_MAX_BUFFERED_BYTES`).
    pub max_buffered_bytes: Option<usize>,
    /// How long a finished plugin execution's event waits for the log lines about it before
    /// it is written (`TAPIO_CNI_CORRELATION_HOLD`): lines read later still join its trace,
    /// but no longer add their facts to it.
    pub correlation_hold: Option<HumanDuration>,
}

/// The resolved configuration of `run`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub preset: Preset,
    pub name: String,
    pub enabled: bool,
    pub event_buffer_size: usize,
    pub enable_log_monitoring: bool,
    pub enable_process_monitoring: bool,
    pub enable_event_monitoring: bool,
    pub enable_file_monitoring: bool,
    pub use_ebpf: bool,
    pub use_inotify: bool,
    pub use_k8s_informer: bool,
    pub cni_bin_path: Vec<PathBuf>,
    pub cni_conf_path: PathBuf,
    pub poll_interval: Duration,
    pub event_rate_limit: u32,
    pub max_concurrent_watch: u32,
    pub in_cluster: bool,
    pub namespace: String,
    pub kubeconfig: Option<PathBuf>,
    pub enable_trace_correlation: bool,
    pub correlation_timeout: Duration,
    pub log_level: LogLevel,
    pub cilium_config: CiliumConfig,
    pub calico_config: CalicoConfig,
    pub aws_vpc_config: AwsVpcConfig,
    pub log_paths: Vec<LogPath>,
    pub state_dir: PathBuf,
    pub outputs: Vec<Output>,
    pub metrics_address: String,
    pub node_name: Option<String>,
    pub ring_buffer_size: usize,
    pub record_channel_capacity: usize,
    pub transaction_timeout: Duration,
    pub max_open_transactions: usize,
    pub max_buffered_bytes: usize,
    pub correlation_hold: Duration,
}

/// Well-known plugin log files, tailed when `log_paths` is not given.
pub const DEFAULT_LOG_PATHS: [&str; 5] = [
    "/var/log/calico/cni/cni.log",
    "/var/log/aws-routed-eni/plugin.log",
    "/var/log/azure-vnet.log",
    "/var/run/cilium/cilium-cni.log",
    "/var/log/multus.log",
];

impl Config {
    /// The values of a preset.
    pub fn preset(preset: Preset) -> Config {
        let mut c = Config {
            preset,
            name: "tapio-cni-collector".to_owned(),
            enabled: true,
            event_buffer_size: 10_000,
            enable_log_monitoring: true,
            enable_process_monitoring: true,
            enable_event_monitoring: true,
            enable_file_monitoring: true,
            use_ebpf: true,
            use_inotify: true,
            use_k8s_informer: true,
            cni_bin_path: tapio_cni_bpf::DEFAULT_PLUGIN_DIRS
                .iter()
                .map(PathBuf::from)
                .collect(),
            cni_conf_path: PathBuf::from("/etc/cni/net.d"),
            poll_interval: Duration::from_secs(5),
            event_rate_limit: 1000,
            max_concurrent_watch: 10,
            in_cluster: std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
            namespace: String::new(),
            kubeconfig: None,
            enable_trace_correlation: true,
            correlation_timeout: Duration::from_secs(30),
            correlation_hold: Duration::from_secs(1),
            log_level: LogLevel::Info,
            cilium_config: CiliumConfig::default(),
            calico_config: CalicoConfig::default(),
            aws_vpc_config: AwsVpcConfig::default(),
            log_paths: DEFAULT_LOG_PATHS
                .iter()
                .map(|p| LogPath::Path(p.into()))
                .collect(),
            state_dir: PathBuf::from("/var/lib/tapio-cni-collector"),
            outputs: vec![Output::Stdout],
            metrics_address: "127.0.0.1:9464".to_owned(),
            node_name: None,
            ring_buffer_size: tapio_cni_bpf::DEFAULT_RING_BUFFER_BYTES,
            record_channel_capacity: 1 << 16,
            transaction_timeout: Duration::from_secs(300),
            max_open_transactions: 1024,
            max_buffered_bytes: proto::Config::default().max_buffered_bytes,
        };
        match preset {
            Preset::Production => {}
            Preset::Development => {
                c.log_level = LogLevel::Debug;
                c.event_buffer_size = 1000;
                c.ring_buffer_size = 1 << 20;
                c.record_channel_capacity = 4096;
                c.transaction_timeout = Duration::from_secs(60);
                c.poll_interval = Duration::from_secs(1);
            }
            Preset::HighPerformance => {
                c.event_buffer_size = 100_000;
                c.ring_buffer_size = 32 << 20;
                c.record_channel_capacity = 1 << 18;
                c.max_open_transactions = 8192;
                c.event_rate_limit = 10_000;
                c.max_concurrent_watch = 20;
                c.poll_interval = Duration::from_secs(2);
            }
            Preset::Minimal => {
                c.enable_log_monitoring = false;
                c.enable_event_monitoring = false;
                c.enable_file_monitoring = false;
                c.use_k8s_informer = false;
                c.use_inotify = false;
                c.enable_trace_correlation = false;
                c.event_buffer_size = 1000;
                c.ring_buffer_size = 1 << 20;
                c.record_channel_capacity = 4096;
                c.max_open_transactions = 256;
                c.log_level = LogLevel::Warn;
            }
        }
        c
    }

    /// [`load`](Self::load) with this process's environment (variables that are not valid
    /// UTF-8 cannot be `TAPIO_CNI_*` overrides and are passed over).
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_from_env(file: Option<&Path>) -> anyhow::Result<Config> {
        Config::load(
            file,
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Loads the configuration: the preset (from the file's `preset`, else `TAPIO_CNI_PRESET`,
    /// else production), then the file, then the environment.
    ///
    /// # Errors
    /// A file that cannot be read; an unknown key or a bad value (the error names the key or
    /// the environment variable).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config {}", path.display()))?;
                parse_file(&text).with_context(|| format!("config {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let from_env = parse_env(env)?;
        let preset = from_env
            .preset
            .or(from_file.preset)
            .unwrap_or(Preset::Production);
        let mut config = Config::preset(preset);
        config.apply(from_file);
        config.apply(from_env);
        config.validate()?;
        Ok(config)
    }

    fn apply(&mut self, f: FileConfig) {
        macro_rules! set {
            ($($key:ident),*) => { $( if let Some(v) = f.$key { self.$key = v; } )* };
        }
        set!(
            name,
            enabled,
            event_buffer_size,
            enable_log_monitoring,
            enable_process_monitoring,
            enable_event_monitoring,
            enable_file_monitoring,
            use_ebpf,
            use_inotify,
            use_k8s_informer,
            cni_conf_path,
            event_rate_limit,
            max_concurrent_watch,
            in_cluster,
            namespace,
            log_level,
            cilium_config,
            calico_config,
            aws_vpc_config,
            log_paths,
            state_dir,
            outputs,
            metrics_address,
            ring_buffer_size,
            record_channel_capacity,
            max_open_transactions,
            max_buffered_bytes
        );
        if let Some(v) = f.cni_bin_path {
            self.cni_bin_path = v.dirs();
        }
        if let Some(v) = f.poll_interval {
            self.poll_interval = v.0;
        }
        if let Some(v) = f.correlation_timeout {
            self.correlation_timeout = v.0;
        }
        if let Some(v) = f.correlation_hold {
            self.correlation_hold = v.0;
        }
        if let Some(v) = f.transaction_timeout {
            self.transaction_timeout = v.0;
        }
        if f.kubeconfig.is_some() {
            self.kubeconfig = f.kubeconfig;
        }
        if f.node_name.is_some() {
            self.node_name = f.node_name;
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        let ring = self.ring_buffer_size;
        if !(ring.is_power_of_two() && (4096..=1 << 30).contains(&ring)) {
            bail!("ring_buffer_size: {ring} is not a power of two between 4096 and 1 GiB");
        }
        if self.cni_bin_path.is_empty() {
            bail!("cni_bin_path: no directory given");
        }
        if self.cni_bin_path.len() > tapio_cni_bpf::record::MAX_DIRS {
            bail!(
                "cni_bin_path: {} directories given, at most {} are supported",
                self.cni_bin_path.len(),
                tapio_cni_bpf::record::MAX_DIRS
            );
        }
        if let Some(dir) = self.cni_bin_path.iter().find(|d| !d.is_absolute()) {
            bail!("cni_bin_path: {} is not an absolute path", dir.display());
        }
        for (key, value) in [
            ("event_buffer_size", self.event_buffer_size),
            ("record_channel_capacity", self.record_channel_capacity),
            ("max_open_transactions", self.max_open_transactions),
        ] {
            if value == 0 {
                bail!("{key}: must be at least 1");
            }
        }
        if self.transaction_timeout.is_zero() {
            bail!("transaction_timeout: must be longer than 0s");
        }
        Ok(())
    }

    /// The core's settings.
    pub fn core(&self) -> proto::Config {
        proto::Config {
            max_queued_events: self.event_buffer_size,
            node_name: self.node_name.clone(),
            // The file monitor runs changed plugins with `CNI_COMMAND=VERSION` from this
            // process; the core drops those executions instead of reporting them.
            own_pid: Some(std::process::id()),
            transaction_timeout_ms: u64::try_from(self.transaction_timeout.as_millis())
                .unwrap_or(u64::MAX),
            max_open_transactions: self.max_open_transactions,
            max_buffered_bytes: self.max_buffered_bytes,
            enable_trace_correlation: self.enable_trace_correlation,
            correlation_timeout_ms: u64::try_from(self.correlation_timeout.as_millis())
                .unwrap_or(u64::MAX),
            correlation_hold_ms: u64::try_from(self.correlation_hold.as_millis())
                .unwrap_or(u64::MAX),
            ..proto::Config::default()
        }
    }

    /// The loader's settings.
    pub fn probes(&self) -> tapio_cni_bpf::Options {
        tapio_cni_bpf::Options {
            plugin_dirs: self.cni_bin_path.clone(),
            ring_buffer_bytes: self.ring_buffer_size,
        }
    }

    /// Features this configuration turns on that this daemon does not run yet.
    pub fn inactive(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        for (key, on) in [
            ("enable_log_monitoring (log_paths, state_dir)", self.enable_log_monitoring),
            ("enable_file_monitoring (cni_conf_path, use_inotify, poll_interval)", self.enable_file_monitoring),
            ("enable_event_monitoring (in_cluster, namespace, kubeconfig, use_k8s_informer: Kubernetes is the tokio runtime's)", self.enable_event_monitoring),
            ("metrics_address (no metrics endpoint yet)", !self.metrics_address.is_empty()),
            ("event_rate_limit", true),
            ("max_concurrent_watch", true),
            ("cilium_config", self.cilium_config != CiliumConfig::default()),
            ("calico_config", self.calico_config != CalicoConfig::default()),
            ("aws_vpc_config", self.aws_vpc_config != AwsVpcConfig::default()),
            ("outputs of type file", self.outputs.iter().any(|o| matches!(o, Output::File { .. }))),
        ] {
            if on {
                keys.push(key);
            }
        }
        keys
    }
}

/// Parses a YAML file's keys. An empty file sets nothing.
///
/// # Errors
/// An unknown key or a bad value; the message names it.
pub fn parse_file(text: &str) -> anyhow::Result<FileConfig> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    let value: serde_norway::Value = serde_norway::from_str(text)?;
    let mapping = match value {
        serde_norway::Value::Null => return Ok(FileConfig::default()),
        serde_norway::Value::Mapping(m) => m,
        _ => bail!("expected a mapping of keys at the top level"),
    };
    // The original design nests the keys under `cni_collector:`; accept both shapes.
    let (prefix, mapping) = match mapping.get("cni_collector") {
        Some(inner) if mapping.len() == 1 => match inner {
            serde_norway::Value::Mapping(m) => ("cni_collector.", m.clone()),
            serde_norway::Value::Null => return Ok(FileConfig::default()),
            _ => bail!("cni_collector: expected a mapping of keys"),
        },
        _ => ("", mapping),
    };
    from_mapping(mapping, |key| format!("{prefix}{key}"))
}

/// Deserializes the keys one at a time first, so that an error names its key (serde's own
/// messages do not say which field a bad value belongs to).
fn from_mapping(
    mapping: serde_norway::Mapping,
    name: impl Fn(&str) -> String,
) -> anyhow::Result<FileConfig> {
    for (key, value) in &mapping {
        let key_text = key
            .as_str()
            .map_or_else(|| format!("{key:?}"), str::to_owned);
        let one: serde_norway::Mapping = [(key.clone(), value.clone())].into_iter().collect();
        if let Err(e) = FileConfig::deserialize(serde_norway::Value::Mapping(one)) {
            bail!("{}: {e}", name(&key_text));
        }
    }
    FileConfig::deserialize(serde_norway::Value::Mapping(mapping))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// The keys set by `TAPIO_CNI_*` variables of `env`.
///
/// # Errors
/// A `TAPIO_CNI_*` variable naming no key, or with a bad value; the message names it.
pub fn parse_env(env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<FileConfig> {
    let mut keys = serde_norway::Mapping::new();
    let mut names: Vec<(String, String)> = Vec::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let key = ENV_ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or_else(|| rest.to_ascii_lowercase(), |(_, key)| (*key).to_owned());
        let scalar: serde_norway::Value = if value.is_empty() {
            serde_norway::Value::String(String::new())
        } else {
            serde_norway::from_str(&value).unwrap_or(serde_norway::Value::String(value.clone()))
        };
        if keys
            .insert(serde_norway::Value::String(key.clone()), scalar)
            .is_some()
        {
            bail!("environment variable {name}: key {key} is already set by another variable");
        }
        names.push((key, name));
    }
    from_mapping(keys, |key| {
        let var = names
            .iter()
            .find(|(k, _)| k == key)
            .map_or("?", |(_, n)| n.as_str());
        format!("environment variable {var} (key {key})")
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_original_block_loads() {
        let text = r#"
cni_collector:
  name: "production-cni-collector"
  enabled: true
  event_buffer_size: 1000
  enable_log_monitoring: true
  enable_process_monitoring: true
  enable_event_monitoring: true
  enable_file_monitoring: true
  use_ebpf: true
  use_inotify: true
  use_k8s_informer: false
  cni_bin_path: "/opt/cni/bin"
  cni_conf_path: "/etc/cni/net.d"
  poll_interval: "5s"
  event_rate_limit: 100
  max_concurrent_watch: 10
  in_cluster: true
  namespace: ""
  kubeconfig: /etc/kubernetes/admin.conf
  enable_trace_correlation: true
  correlation_timeout: "30s"
  log_level: info
  cilium_config:
    hubble_endpoint: "localhost:4245"
    enable_flow_monitor: true
    enable_policy_audit: true
  calico_config:
    felix_metrics_port: 9091
    enable_bgp_monitor: true
    policy_log_level: "info"
  aws_vpc_config:
    enable_eni_monitor: true
    region: "us-west-2"
    cluster_name: "production-cluster"
    enable_ipam_metrics: true
  log_paths:
    - /var/log/calico/cni/cni.log
    - { path: /var/log/aws-routed-eni/plugin.log, format: aws-vpc-cni }
  state_dir: /var/lib/tapio
  outputs: [{ type: stdout }, { type: file, path: /tmp/events.jsonl }]
  metrics_address: "0.0.0.0:9464"
"#;
        let file = parse_file(text).unwrap();
        assert_eq!(file.name.as_deref(), Some("production-cni-collector"));
        assert_eq!(
            file.poll_interval,
            Some(HumanDuration(Duration::from_secs(5)))
        );
        let mut config = Config::preset(Preset::Production);
        config.apply(file);
        config.validate().unwrap();
        assert_eq!(config.cni_bin_path, [PathBuf::from("/opt/cni/bin")]);
        assert_eq!(config.event_buffer_size, 1000);
        assert_eq!(config.calico_config.felix_metrics_port, Some(9091));
        assert_eq!(
            config.log_paths[1],
            LogPath::WithFormat {
                path: "/var/log/aws-routed-eni/plugin.log".into(),
                format: Some(proto::Format::AwsVpcCni)
            }
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = parse_file("name: x\nevent_bufer_size: 3\n").unwrap_err();
        assert!(format!("{e:#}").contains("event_bufer_size"), "{e:#}");
        let e = parse_file("cilium_config:\n  hubble: x\n").unwrap_err();
        assert!(format!("{e:#}").contains("hubble"), "{e:#}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = parse_file("poll_interval: 5 parsecs\n").unwrap_err();
        let e = format!("{e:#}");
        assert!(
            e.contains("poll_interval") && e.contains("5 parsecs"),
            "{e}"
        );
        let e = format!("{:#}", parse_file("event_buffer_size: lots\n").unwrap_err());
        assert!(e.contains("event_buffer_size"), "{e}");
        let e = format!(
            "{:#}",
            parse_file("log_paths: [{path: /x, format: nope}]\n").unwrap_err()
        );
        assert!(e.contains("log_paths"), "{e}");
        let e = Config::load(None, env(&[("TAPIO_CNI_RING_BUFFER_SIZE", "5000")])).unwrap_err();
        assert!(format!("{e:#}").contains("ring_buffer_size"), "{e:#}");
    }

    #[test]
    fn durations() {
        let d = |s: &str| HumanDuration::parse(s).map(|d| d.0);
        assert_eq!(d("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(d("2m"), Some(Duration::from_secs(120)));
        assert_eq!(d("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(d("7"), Some(Duration::from_secs(7)));
        assert_eq!(d("5x"), None);
        assert_eq!(d("s"), None);
        assert_eq!(d("99999999999999h"), None);
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = Config::load(
            None,
            env(&[
                ("TAPIO_CNI_CONF_PATH", "/etc/cni/other"),
                ("TAPIO_CNI_BIN_PATH", "/opt/cni/bin:/usr/lib/cni"),
                ("TAPIO_CNI_NODE_NAME", "worker-1"),
                ("TAPIO_CNI_POLL_INTERVAL", "3s"),
                ("TAPIO_CNI_IN_CLUSTER", "true"),
                ("TAPIO_CNI_EVENT_BUFFER_SIZE", "77"),
                ("TAPIO_CNI_PRESET", "minimal"),
                ("TAPIO_CNI_MAX_BUFFERED_BYTES", "1048576"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(config.preset, Preset::Minimal);
        assert_eq!(config.cni_conf_path, PathBuf::from("/etc/cni/other"));
        assert_eq!(
            config.cni_bin_path,
            [PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")]
        );
        assert_eq!(config.node_name.as_deref(), Some("worker-1"));
        assert_eq!(config.poll_interval, Duration::from_secs(3));
        assert!(config.in_cluster);
        assert_eq!(config.event_buffer_size, 77);
        assert_eq!(config.core().max_buffered_bytes, 1 << 20);
        let e = Config::load(None, env(&[("TAPIO_CNI_NO_SUCH", "1")])).unwrap_err();
        assert!(format!("{e:#}").contains("TAPIO_CNI_NO_SUCH"), "{e:#}");
    }

    #[test]
    fn the_example_loads_and_matches_the_production_preset() {
        let file = parse_file(include_str!("../config.example.yaml")).unwrap();
        let mut config = Config::preset(Preset::Production);
        config.in_cluster = false;
        let mut loaded = config.clone();
        loaded.apply(file);
        loaded.validate().unwrap();
        assert_eq!(loaded.log_paths.len(), 2);
        loaded.log_paths.clone_from(&config.log_paths);
        loaded.cilium_config = CiliumConfig::default();
        loaded.calico_config = CalicoConfig::default();
        loaded.aws_vpc_config = AwsVpcConfig::default();
        assert_eq!(loaded, config);
    }

    #[test]
    fn presets_are_valid() {
        for preset in [
            Preset::Development,
            Preset::Production,
            Preset::HighPerformance,
            Preset::Minimal,
        ] {
            Config::preset(preset).validate().unwrap();
        }
        let file = parse_file("preset: high-performance\n").unwrap();
        assert_eq!(file.preset, Some(Preset::HighPerformance));
    }
}
