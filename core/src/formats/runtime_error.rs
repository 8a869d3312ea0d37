//! The error messages container runtimes and kubelet wrap around a CNI plugin's error.
//!
//! A plugin's error reaches the logs inside several layers of prose, each added by one caller:
//! kubelet (`Failed to create pod sandbox: `), gRPC (`rpc error: code = Unknown desc = `), the
//! runtime (containerd `failed to setup network for sandbox "ID": `, dockershim `NetworkPlugin
//! cni failed to set up pod "name_ns" network: `, CRI-O `error adding pod ns_name to CNI network
//! "cbr0": `) and libcni (`plugin type="bridge" name="x" failed (add): `). [`read`] peels them
//! from the outside in, keeping what each layer states (operation, sandbox id, pod, network,
//! plugin type), and keeps what is left — the plugin's own words — as the error.

use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::{packed, Span};
use memchr::memmem;

use crate::event::{Category, Operation};
use crate::facts::Facts;
use crate::text::{
    family_of_type, infer_family_lower, is_container_id, is_uuid, phrase_positions, pod_underscore,
    unescape, words_of, ByteSearch, PhraseSearch, TrimFast, Words, FAMILY_NAMING_WORDS,
};

/// Confidence of an event whose plugin family was read from the wording of its error.
const INFERRED: f64 = 0.7;

/// Layers nest a handful deep in practice; the bound keeps a hostile line cheap.
const MAX_LAYERS: usize = 16;

/// Reads a runtime/kubelet CNI error message into `facts`; returns whether it was one.
///
/// `facts` is left untouched when `text` is not about pod networking (a sandbox failure over
/// a pause-image pull is a runtime error, but not a CNI one). Facts already in `facts` win.
pub(crate) fn read(text: &str, facts: &mut Facts) -> bool {
    if !mentions_network(text) {
        return false;
    }
    let text = if has_escaped_quote(text) {
        unescape(text)
    } else {
        Cow::Borrowed(text)
    };
    let mut got = Facts::default();
    if !interpret(&text, &mut got, true) {
        return false;
    }
    merge(facts, got);
    true
}

/// Does `s` hold an escaped quote (`\"`)? Backslashes are rare: each is found with `memchr`
/// and the next byte looked at, where a substring search costs more than most texts.
fn has_escaped_quote(s: &str) -> bool {
    let b = s.as_bytes();
    memchr::memchr_iter(b'\\', b).any(|at| b.get(at + 1) == Some(&b'"'))
}

/// A fixed list of words looked for in many texts, all at once: one vectorized pass of a
/// packed multi-word searcher (Teddy), built on first use, where a search per word costs more
/// than most texts.
struct AnyOf {
    words: &'static [&'static str],
    searcher: OnceLock<Option<packed::Searcher>>,
}

impl AnyOf {
    const fn new(words: &'static [&'static str]) -> AnyOf {
        AnyOf {
            words,
            searcher: OnceLock::new(),
        }
    }

    fn searcher(&self) -> Option<&packed::Searcher> {
        self.searcher
            .get_or_init(|| packed::Searcher::new(self.words.iter().copied()))
            .as_ref()
    }

    /// Does `text` contain any of the words?
    fn any_in(&self, text: &str) -> bool {
        match self.searcher() {
            Some(searcher) => searcher.find(text).is_some(),
            // No packed searcher for this list or machine: a search per word.
            None => self.words.iter().any(|w| text.contains_str(w)),
        }
    }

    /// The earliest position of any of the words in `text`.
    fn earliest_in(&self, text: &str) -> Option<usize> {
        match self.searcher() {
            // Leftmost-first: the match that starts first.
            Some(searcher) => searcher.find(text).map(|m| m.start()),
            None => self.words.iter().filter_map(|w| text.find_str(w)).min(),
        }
    }

    /// The first position of each word in `text`, in the order of the words. No word of the
    /// list may start another: then at most one starts at any byte, and a search resumed after
    /// each match's first byte finds the first of every word.
    fn first_of_each<const N: usize>(&self, text: &str) -> [Option<usize>; N] {
        let mut first = [None; N];
        match self.searcher() {
            Some(searcher) => {
                let mut from = 0;
                while let Some(m) = searcher.find_in(text, Span::from(from..text.len())) {
                    first[m.pattern().as_usize()].get_or_insert(m.start());
                    from = m.start() + 1;
                }
            }
            None => {
                for (slot, w) in first.iter_mut().zip(self.words) {
                    *slot = text.find_str(w);
                }
            }
        }
        first
    }
}

/// A cheap test that `s` could be about pod networking, before any parsing.
pub(crate) fn mentions_network(s: &str) -> bool {
    static WORDS: Words = Words::new(&["andbox", "etwork", "lugin", "cni", "CNI"]);
    WORDS.any_in(s)
}

/// How specific a layer is to pod networking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// Any sandbox failure says this (`rpc error: ...`, `Failed to create pod sandbox: `).
    Generic,
    /// Only a network failure says this.
    Cni,
    /// The runtime's network is not ready (no config, plugin not initialized).
    NotReady,
}

/// Prose layers that state at most an operation. Matched ignoring ASCII case.
const PROSE: &[(&str, Option<Operation>, Mark)] = &[
    ("(combined from similar events): ", None, Mark::Generic),
    (
        "Failed to create pod sandbox: ",
        Some(Operation::Add),
        Mark::Generic,
    ),
    (
        "Failed create pod sandbox: ",
        Some(Operation::Add),
        Mark::Generic,
    ),
    (
        "RunPodSandbox from runtime service failed: ",
        Some(Operation::Add),
        Mark::Generic,
    ),
    (
        "StopPodSandbox from runtime service failed: ",
        Some(Operation::Del),
        Mark::Generic,
    ),
    (
        "RemovePodSandbox from runtime service failed: ",
        Some(Operation::Del),
        Mark::Generic,
    ),
    ("error killing pod: ", Some(Operation::Del), Mark::Generic),
    (
        "Container runtime network not ready: ",
        None,
        Mark::NotReady,
    ),
    ("Container runtime network not ready", None, Mark::NotReady),
    ("network is not ready: ", None, Mark::NotReady),
    ("Unable to update cni config: ", None, Mark::NotReady),
    ("cni config load failed: ", None, Mark::NotReady),
    ("Network plugin returns error: ", None, Mark::NotReady),
    ("network plugin is not ready: ", None, Mark::NotReady),
    // Kubelet's own CNI driver (dockershim era, pkg/kubelet/network/cni).
    ("Error adding network: ", Some(Operation::Add), Mark::Cni),
    (
        "Error while adding to cni network: ",
        Some(Operation::Add),
        Mark::Cni,
    ),
    ("Error deleting network: ", Some(Operation::Del), Mark::Cni),
    (
        "Error while removing pod from cni network: ",
        Some(Operation::Del),
        Mark::Cni,
    ),
    (
        "CNI failed to retrieve network namespace path: ",
        None,
        Mark::Cni,
    ),
];

/// Where a runtime CNI error can start inside a longer text (a kubelet line with its own
/// prose in front, a fragment cut mid-message).
static ANCHORS: AnyOf = AnyOf::new(&[
    "Failed to create pod sandbox",
    "Failed create pod sandbox",
    "failed to \"",
    "rpc error: code =",
    "failed to setup network for sandbox",
    "failed to destroy network for sandbox",
    "failed to set up sandbox container",
    "failed to clean up sandbox container",
    "NetworkPlugin cni",
    "networkPlugin cni",
    "failed to create pod network sandbox",
    "failed to destroy network for pod sandbox",
    "error adding pod ",
    "error removing pod ",
    "plugin type=",
    "NetworkReady=false",
    "Container runtime network not ready",
    "CNI failed to retrieve network namespace path",
    "Unable to update cni config",
    "failed to find plugin \"",
]);

/// What a layer states beyond its operation.
struct Layer<'a> {
    rest: &'a str,
    mark: Mark,
}

/// Peels `text` into `f`; returns whether it is about pod networking. `top` allows one
/// nested read of the teardown half of an aggregated `[ADD error, teardown error]` list.
fn interpret(text: &str, f: &mut Facts, top: bool) -> bool {
    let mut rest = text.trim_fast();
    let mut cni = false;
    let mut not_ready = false;
    let mut listed = false;
    let mut quoted = false;
    for step in 0..MAX_LAYERS {
        let t = rest.trim_start_matches([' ', ':', '\t', '\n']);
        // An aggregated error list or a quoted inner error opens with `[` / `"`; they count
        // only when a known layer follows (a Multus `[ns/pod:net]` key also starts with `[`).
        let opened = match t.as_bytes().first() {
            Some(&c @ (b'[' | b'"')) => layer(&t[1..], f).map(|l| (l, Some(c))),
            _ => None,
        };
        if let Some((l, opener)) = opened.or_else(|| layer(t, f).map(|l| (l, None))) {
            match opener {
                Some(b'[') => listed = true,
                Some(_) => quoted = true,
                None => {}
            }
            cni |= l.mark == Mark::Cni;
            not_ready |= l.mark == Mark::NotReady;
            rest = l.rest;
            continue;
        }
        rest = t;
        if step == 0 {
            if let Some(at) = first_anchor(t).filter(|&at| at > 0) {
                rest = &t[at..];
                continue;
            }
        }
        break;
    }
    // A wrapper this reader does not know may sit between two it does: libcni's layer is
    // distinctive enough to be looked for further in.
    if f.plugin_type.is_none() {
        static LIBCNI: Words = Words::new(&["plugin type=\""]);
        if let Some((at, _)) = LIBCNI.earliest_in(rest) {
            if let Some(l) = layer(&rest[at..], f) {
                cni = true;
                rest = l.rest;
            }
        }
    }

    let mut err = rest.trim_fast();
    if listed && top {
        if let Some((first, second)) = split_list(err) {
            let mut teardown = Facts::default();
            if interpret(second, &mut teardown, false) {
                if let Some(e) = teardown.error {
                    f.attr("teardown_error", &e.msg);
                }
            }
            err = first.trim_fast();
        }
    }
    if quoted {
        err = err.strip_suffix('"').unwrap_or(err).trim_end();
    }
    if err.ends_with(']') && err.matches(']').count() > err.matches('[').count() {
        err = err[..err.len() - 1].trim_end();
    }

    if f.container_id.is_none() {
        // Some plugin errors name the sandbox the wrappers did not (`for container <id>`,
        // `/ip/<id>`, `terminated container "<id>"`).
        if let Some(id) = full_container_id(err) {
            Facts::set(&mut f.container_id, id);
        }
    }
    let found = classify(err, f);
    cni |= found.cni;
    not_ready |= found.not_ready;
    if !(cni || not_ready) {
        return false;
    }
    if not_ready && f.operation.is_none() && f.category.is_none() {
        f.category = Some(Category::HealthCheck);
    }
    if f.operation.is_some() || f.category.is_some() {
        f.success = Some(false);
    }
    f.set_error(err);
    true
}

/// [`crate::text::find_container_id`] without reading every byte: a full id is a word (a run
/// of ASCII letters and digits) of exactly 64 lower-case hex digits, so it covers exactly one
/// position `63 + 64k` of the text, and only the words at those positions are looked at. No
/// word is read further than 64 bytes from one: a longer word is no id.
fn full_container_id(text: &str) -> Option<&str> {
    const LEN: usize = 64;
    let b = text.as_bytes();
    let word_byte = |c: &u8| c.is_ascii_alphanumeric();
    let mut at = LEN - 1;
    while at < b.len() {
        if word_byte(&b[at]) {
            let from = at.saturating_sub(LEN);
            let start = b[from..at]
                .iter()
                .rposition(|c| !word_byte(c))
                .map_or(from, |i| from + i + 1);
            let to = (at + LEN + 1).min(b.len());
            let end = b[at..to]
                .iter()
                .position(|c| !word_byte(c))
                .map_or(to, |i| at + i);
            // A word reaching either window's edge is longer than an id, unless the edge is
            // the text's.
            let whole = (start > from || from == 0) && (end < to || to == b.len());
            if whole && end - start == LEN && is_container_id(&text[start..end]) {
                return Some(&text[start..end]);
            }
        }
        at += LEN;
    }
    None
}

/// The earliest position of an anchor in `s`.
fn first_anchor(s: &str) -> Option<usize> {
    ANCHORS.earliest_in(s)
}

/// The earliest position of any of `words` in `s`.
fn find(words: &Words, s: &str) -> Option<usize> {
    words.earliest_in(s).map(|(at, _)| at)
}

/// Splits a dockershim `[setup error, teardown error]` list at the teardown half.
fn split_list(s: &str) -> Option<(&str, &str)> {
    let at = [
        ", failed to clean up sandbox container",
        ", NetworkPlugin cni failed to teardown",
        ", failed to destroy network for sandbox",
    ]
    .iter()
    .filter_map(|m| s.find_str(m))
    .min()?;
    Some((&s[..at], &s[at + 2..]))
}

/// `s` without `prefix`, compared ignoring ASCII case.
fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// A `"quoted"` argument at the start of `s`: (inside, after the closing quote). A text cut
/// off inside the quotes yields what is there.
fn quoted_arg(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix('"')?;
    Some(match s.find_byte(b'"') {
        Some(end) => (&s[..end], &s[end + 1..]),
        None => (s, ""),
    })
}

/// `tail` at the start of `s`, or the end of a cut-off text.
fn then<'a>(s: &'a str, tail: &str) -> Option<&'a str> {
    if s.trim_fast().is_empty() {
        return Some("");
    }
    s.strip_prefix(tail)
}

fn set_op(f: &mut Facts, op: Option<Operation>) {
    if f.operation.is_none() {
        f.operation = op;
    }
}

/// A pod as kubelet writes it: `name_ns`, `name_ns(uid)`, a bare `name`, or a bare uid.
fn pod_ref(s: &str, f: &mut Facts) {
    let s = s.trim_fast();
    let (base, uid) = match s.split_once_byte(b'(') {
        Some((b, u)) => (b, Some(u.trim_end_matches(')'))),
        None => (s, None),
    };
    if let Some((name, ns)) = pod_underscore(base) {
        Facts::set(&mut f.pod_name, name);
        Facts::set(&mut f.namespace, ns);
    } else if is_uuid(base) {
        Facts::set(&mut f.pod_uid, base);
    } else if !base.bytes().any(|c| c == b' ' || c == b'/') {
        Facts::set(&mut f.pod_name, base);
    }
    if let Some(uid) = uid {
        Facts::set(&mut f.pod_uid, uid);
    }
}

/// The name of a numeric gRPC status code: old kubelets print `code = 2` where newer ones print
/// `code = Unknown`, and one name keeps the two comparable.
fn grpc_code_name(code: &str) -> Option<&'static str> {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES.get(code.parse::<usize>().ok()?).copied()
}

/// Kubelet's own statements of a not-ready network, which open its message when it logs or
/// reports the state; the runtime's status dump and the cause follow them.
const NOT_READY_STATEMENTS: &[&str] = &[
    "network is not ready",
    "Container runtime network not ready",
    "Unable to update cni config",
];

/// The not-ready statement that opens `text` (`Container runtime network not ready`), without
/// the status dump and the cause that follow it.
pub(crate) fn not_ready_statement(text: &str) -> Option<&str> {
    let text = text.trim_start();
    let mut end = 0;
    'outer: loop {
        let rest = &text[end..];
        for st in NOT_READY_STATEMENTS {
            if let Some(after) = strip_ci(rest, st) {
                end = text.len() - after.trim_start_matches([':', ' ']).len();
                continue 'outer;
            }
        }
        break;
    }
    let statement = text[..end].trim_end_matches([':', ' ']);
    (!statement.is_empty()).then_some(statement)
}

/// One layer at the start of `s`, with what it states written into `f`.
fn layer<'a>(s: &'a str, f: &mut Facts) -> Option<Layer<'a>> {
    // No layer is empty.
    let first = *s.as_bytes().first()?;
    if let Some(l) = prose(s, f) {
        return Some(l);
    }
    // The other layers are compared with case, and their first byte tells which can open
    // `s`: a text is compared with those alone. One that opens `s` but does not go on as the
    // layer does ends the search, as the runtime's statement cannot open such a text either.
    let found = match first {
        b'r' => grpc(s, f),
        b'f' => failed_to(s, f),
        b'S' => stop_pod_sandbox(s, f),
        b'N' | b'n' => network_plugin(s, f),
        b'e' => ocicni(s, f),
        b'p' => libcni(s, f),
        b'C' | b'F' => kubelet_sandbox(s, f),
        b'E' => syncing(s, f),
        _ => None,
    };
    found.or_else(|| runtime_not_ready(s, f))
}

/// The first eight bytes of `s` in ASCII lower case, as one number (zeros past its end).
const fn head(s: &[u8]) -> u64 {
    let mut h = [0u8; 8];
    let mut i = 0;
    while i < 8 && i < s.len() {
        h[i] = s[i].to_ascii_lowercase();
        i += 1;
    }
    u64::from_le_bytes(h)
}

/// The [`head`] of each [`PROSE`] layer: most texts differ from most prose in those eight
/// bytes, compared at once before the full comparison call.
const PROSE_HEADS: [u64; PROSE.len()] = {
    let mut heads = [0; PROSE.len()];
    let mut i = 0;
    while i < PROSE.len() {
        heads[i] = head(PROSE[i].0.as_bytes());
        i += 1;
    }
    heads
};

/// The [`PROSE`] layer opening `s`.
fn prose<'a>(s: &'a str, f: &mut Facts) -> Option<Layer<'a>> {
    // Every prose layer is longer than eight bytes. Most texts open no prose: one pass over
    // the heads alone tells.
    let h = head(s.as_bytes());
    if !PROSE_HEADS.contains(&h) {
        return None;
    }
    for (i, &(prefix, op, mark)) in PROSE.iter().enumerate() {
        if PROSE_HEADS[i] != h {
            continue;
        }
        if let Some(rest) = strip_ci(s, prefix) {
            set_op(f, op);
            return Some(Layer { rest, mark });
        }
    }
    None
}

/// gRPC's `rpc error: code = <code> desc = `.
fn grpc<'a>(s: &'a str, f: &mut Facts) -> Option<Layer<'a>> {
    let rest = s.strip_prefix("rpc error: code = ")?;
    // The code is one word: ` desc = ` follows it at its first space, or the layer is not there.
    let at = rest.find_byte(b' ')?;
    let (code, rest) = (&rest[..at], rest[at..].strip_prefix(" desc = ")?);
    f.attr("grpc_code", grpc_code_name(code).unwrap_or(code));
    Some(Layer {
        rest,
        mark: Mark::Generic,
    })
}

/// The runtimes' `failed to ...` layers: containerd's and dockershim's sandbox with its id,
/// CRI-O's, and kubelet's sync result.
fn failed_to<'a>(s: &'a str, f: &mut Facts) -> Option<Layer<'a>> {
    let s = s.strip_prefix("failed to ")?;
    for (prefix, op, mark) in [
        ("setup network for sandbox ", Operation::Add, Mark::Cni),
        ("destroy network for sandbox ", Operation::Del, Mark::Cni),
        ("forcibly stop sandbox ", Operation::Del, Mark::Generic),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return sandbox_id_layer(rest, op, ": ", mark, f);
        }
    }
    for (prefix, op) in [
        ("set up sandbox container ", Operation::Add),
        ("clean up sandbox container ", Operation::Del),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let (id, rest) = quoted_arg(rest)?;
            let rest = then(rest, " network for pod ")?;
            let (pod, rest) = match quoted_arg(rest) {
                Some((pod, rest)) => (Some(pod), then(rest, ": ")?),
                None => (None, rest),
            };
            set_op(f, Some(op));
            Facts::set(&mut f.container_id, id);
            if let Some(pod) = pod {
                pod_ref(pod, f);
            }
            return Some(Layer {
                rest,
                mark: Mark::Cni,
            });
        }
    }
    let crio = s
        .strip_prefix("create pod network sandbox ")
        .map(|r| (r, Operation::Add))
        .or_else(|| {
            s.strip_prefix("destroy network for pod sandbox ")
                .map(|r| (r, Operation::Del))
        });
    if let Some((rest, op)) = crio {
        // CRI-O names the sandbox `k8s_<pod>_<ns>_<uid>_<attempt>(<id>)`.
        let (name, rest) = rest.split_once_byte(b'(')?;
        let (id, rest) = rest.split_once_byte(b')')?;
        let rest = then(rest, ": ")?;
        let mut parts = name.split('_');
        if parts.next() == Some("k8s") {
            if let (Some(pod), Some(ns), Some(uid)) = (parts.next(), parts.next(), parts.next()) {
                Facts::set(&mut f.pod_name, pod);
                Facts::set(&mut f.namespace, ns);
                Facts::set(&mut f.pod_uid, uid);
            }
        }
        set_op(f, Some(op));
        Facts::set(&mut f.container_id, id);
        return Some(Layer {
            rest,
            mark: Mark::Cni,
        });
    }
    // Kubelet's sync result: `failed to "KillPodSandbox" for "<uid>" with KillPodSandboxError: `.
    let (verb, rest) = quoted_arg(s)?;
    let rest = rest.strip_prefix(" for ")?;
    let (who, rest) = quoted_arg(rest)?;
    let (_, rest) = rest.strip_prefix(" with ")?.split_once_str("Error: ")?;
    let (op, mark) = match verb {
        "CreatePodSandbox" => (Some(Operation::Add), Mark::Generic),
        "KillPodSandbox" => (Some(Operation::Del), Mark::Generic),
        "SetupNetwork" => (Some(Operation::Add), Mark::Cni),
        "TeardownNetwork" => (Some(Operation::Del), Mark::Cni),
        _ => (None, Mark::Generic),
    };
    set_op(f, op);
    pod_ref(who, f);
    Some(Layer { rest, mark })
}

/// A layer naming the sandbox by its quoted id at the start of `rest`, then `tail`.
fn sandbox_id_layer<'a>(
    rest: &'a str,
    op: Operation,
    tail: &str,
    mark: Mark,
    f: &mut Facts,
) -> Option<Layer<'a>> {
    let (id, rest) = quoted_arg(rest)?;
    let rest = then(rest, tail)?;
    set_op(f, Some(op));
    Facts::set(&mut f.container_id, id);
    Some(Layer { rest, mark })
}

/// Kubelet's `StopPodSandbox "<id>" from runtime service failed: `.
fn stop_pod_sandbox<'a>(s: &'a str, f: &mut Facts) -> Option<Layer<'a>> {
    let rest = s.strip_prefix("StopPodSandbox ")?;
    sandbox_id_layer(
        rest,
        Operation::Del,
        " from runtime service failed: ",
        Mark::Generic,
        f,
    )
}

/// dockershim's `NetworkPlugin cni failed ...` and the runtime status `NetworkReady=false`.
fn network_plugin<'a>(s: &'a str, f: &mut Facts) -> Option<Layer<'a>> {
    if let Some(rest) = strip_ci(s, "NetworkPlugin cni failed ") {
        let (op, rest, tail) = if let Some(r) = rest.strip_prefix("to set up pod ") {
            (Some(Operation::Add), r, " network: ")
        } else if let Some(r) = rest.strip_prefix("to teardown pod ") {
            (Some(Operation::Del), r, " network: ")
        } else if let Some(r) = rest.strip_prefix("on the status hook for pod ") {
            (None, r, ": ")
        } else {
            return None;
        };
        let (pod, rest) = quoted_arg(rest)?;
        let rest = then(rest, tail)?;
        set_op(f, op);
        pod_ref(pod, f);
        return Some(Layer {
            rest,
            mark: Mark::Cni,
        });
    }
    let rest = s.strip_prefix("NetworkReady=false")?;
    let rest = rest.trim_start();
    let rest = match rest.strip_prefix("reason:") {
        Some(r) => {
            let (reason, r) = r.split_once_byte(b' ').unwrap_or((r, ""));
            f.attr("reason", reason);
            r
        }
        None => rest,
    };
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("message:").unwrap_or(rest);
    Some(Layer {
        rest,
        mark: Mark::NotReady,
    })
}

/// CRI-O's ocicni: `error adding pod <ns>_<name> to CNI network "<net>": `.
fn ocicni<'a>(s: &'a str, f: &mut Facts) -> Option<Layer<'a>> {
    for (prefix, op, joint) in [
        ("error adding pod ", Operation::Add, " to CNI network "),
        ("error removing pod ", Operation::Del, " from CNI network "),
        ("error checking pod ", Operation::Check, " for CNI network "),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let (pod, rest) = rest.split_once_str(joint)?;
            let (net, rest) = quoted_arg(rest)?;
            let rest = then(rest, ": ")?;
            // ocicni writes `<namespace>_<name>`.
            if let Some((ns, name)) = pod.split_once_byte(b'_') {
                Facts::set(&mut f.namespace, ns);
                Facts::set(&mut f.pod_name, name);
            }
            set_op(f, Some(op));
            Facts::set(&mut f.network_name, net);
            return Some(Layer {
                rest,
                mark: Mark::Cni,
            });
        }
    }
    None
}

/// libcni's `plugin type="<type>" [name="<net>"] failed (<op>): `.
fn libcni<'a>(s: &'a str, f: &mut Facts) -> Option<Layer<'a>> {
    let rest = s.strip_prefix("plugin type=")?;
    let (ty, mut rest) = quoted_arg(rest)?;
    if let Some(r) = rest.strip_prefix(" name=") {
        let (name, r) = quoted_arg(r)?;
        Facts::set(&mut f.network_name, name);
        rest = r;
    }
    let r = rest.strip_prefix(" failed (")?;
    let (word, r) = r.split_once_byte(b')')?;
    let rest = then(r, ": ")?;
    set_op(f, Operation::from_word(word));
    Facts::set(&mut f.plugin_type, ty);
    Some(Layer {
        rest,
        mark: Mark::Cni,
    })
}

/// Kubelet's sandbox creation for a quoted pod.
fn kubelet_sandbox<'a>(s: &'a str, f: &mut Facts) -> Option<Layer<'a>> {
    for (prefix, tail) in [
        ("CreatePodSandbox for pod ", " failed: "),
        ("Failed to create sandbox for pod ", ": "),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let (pod, rest) = quoted_arg(rest)?;
            let rest = then(rest, tail)?;
            set_op(f, Some(Operation::Add));
            pod_ref(pod, f);
            return Some(Layer {
                rest,
                mark: Mark::Generic,
            });
        }
    }
    None
}

/// Kubelet's `Error syncing pod <uid> (...), skipping: `.
fn syncing<'a>(s: &'a str, _: &mut Facts) -> Option<Layer<'a>> {
    let rest = s.strip_prefix("Error syncing pod ")?;
    let (_, rest) = rest.split_once_str(", skipping: ")?;
    Some(Layer {
        rest,
        mark: Mark::Generic,
    })
}

/// dockershim names the runtime first: `docker: network plugin is not ready: ...`.
fn runtime_not_ready<'a>(s: &'a str, f: &mut Facts) -> Option<Layer<'a>> {
    // A lower case word up to the first `: ` is a byte scan, not a substring search.
    let word = s.bytes().take_while(u8::is_ascii_lowercase).count();
    let rest = s[word..].strip_prefix(": ").filter(|_| word > 0)?;
    strip_ci(rest, "network plugin is not ready: ")?;
    f.attr("runtime", &s[..word]);
    Some(Layer {
        rest,
        mark: Mark::NotReady,
    })
}

/// What the plugin's own error says about itself.
#[derive(Default)]
struct Found {
    cni: bool,
    not_ready: bool,
}

/// Reads the plugin error `err`: plugin family, IPAM exhaustion, missing binaries, Multus
/// delegates, not-ready states.
fn classify(err: &str, f: &mut Facts) -> Found {
    let mut found = Found::default();
    let lower = err.to_ascii_lowercase();
    let seen = Seen::in_text(err, &lower);

    // Three words looked for below are rare in plugin errors: the pass for all words tells
    // whether any is worth looking for.
    let rare = seen.rare;

    let mut missing = Vec::new();
    if rare {
        let mut tail = err;
        static NOT_FOUND_AT: Words = Words::new(&[NOT_FOUND]);
        while let Some(at) = find(&NOT_FOUND_AT, tail) {
            let Some((name, rest)) = quoted_arg(&tail[at + NOT_FOUND.len()..]) else {
                break;
            };
            missing.push(name);
            tail = rest;
        }
    }
    if let Some(first) = missing.first() {
        Facts::set(&mut f.plugin_type, first);
        f.attr("missing_plugins", &missing.join(","));
        found.cni = true;
        found.not_ready = true;
    }

    // Word lists below are searched only when a word every one of their entries contains is
    // there, which rules out most plugin errors.
    let addr = seen.addr;
    if seen.not_ready {
        found.cni = true;
        found.not_ready = true;
    }

    const EXHAUSTED: &str = "no IP addresses available in range set: ";
    static EXHAUSTED_AT: Words = Words::new(&[EXHAUSTED]);
    if let Some(at) = addr.then(|| find(&EXHAUSTED_AT, err)).flatten() {
        let range = &err[at + EXHAUSTED.len()..];
        let range = range.split_whitespace().next().unwrap_or("");
        f.attr("ip_range", range);
    }
    static IPAM_FAILED: Words = Words::new(&[
        "failed to allocate for range",
        "unable to allocate ip",
        "failed to allocate ip",
        "no ip addresses available",
        "failed to assign an ip address",
        "no available address pools",
        "no available addresses",
    ]);
    let ipam_failed = addr && IPAM_FAILED.any_in(&lower);
    if ipam_failed {
        f.category.get_or_insert(Category::IpAllocation);
    }

    let multus = read_multus(err, seen.multus, f);
    if multus {
        found.cni = true;
    }

    let aws = err.starts_with("add cmd: ") || err.starts_with("del cmd: ");
    if aws {
        found.cni = true;
        if let Some(word) = err.split(' ').next() {
            set_op(f, Operation::from_word(word));
        }
    }
    static NETPLUGIN: Words = Words::new(&[NETPLUGIN_FAILED]);
    if rare && NETPLUGIN.any_in(err) {
        found.cni = true;
    }

    if let Some(ty) = f.plugin_type.as_deref() {
        f.plugin = f.plugin.or_else(|| family_of_type(ty));
    } else if f.plugin.is_none() {
        static CILIUM: Words = Words::new(&[
            "unable to create endpoint",
            "cilium api",
            "cilium daemon",
            "cilium agent",
            "putendpointidfailed",
        ]);
        static AZURE: Words =
            Words::new(&["failed to allocate pool", "no available address pools"]);
        static HOST_LOCAL: Words = Words::new(&["no ip addresses available in range set"]);
        let cilium = seen.cilium && CILIUM.any_in(&lower);
        // A text holding none of `infer_family_lower`'s words is named no family, which one
        // pass tells where it searches word by word.
        static FAMILY: AnyOf = AnyOf::new(&FAMILY_NAMING_WORDS);
        let family = if aws {
            Some("aws-vpc-cni")
        } else if multus {
            Some("multus")
        } else if cilium {
            Some("cilium")
        } else if addr && AZURE.any_in(&lower) {
            Some("azure-cni")
        } else if addr && HOST_LOCAL.any_in(&lower) {
            Some("host-local")
        } else {
            reference_family(&lower).or_else(|| {
                Some(&lower)
                    .filter(|l| FAMILY.any_in(l))
                    .and_then(|l| infer_family_lower(l))
            })
        };
        if family.is_some() {
            f.plugin = family;
            f.confidence = Some(INFERRED);
        }
    }
    if f.host_interface.is_none() && rare {
        if let Some(name) = host_interface(err) {
            f.host_interface = Some(name.to_owned());
        }
    }
    if f.plugin == Some("cilium") {
        // `endpoint 16569 did not synchronously regenerate after timeout`.
        if let Some(id) = endpoint_id(err) {
            f.attr("endpoint_id", id);
        }
    }
    found
}

/// The first word of digits after an `endpoint ` in `err`, each word bounded by the next
/// `endpoint ` as `str::split` would cut it.
fn endpoint_id(err: &str) -> Option<&str> {
    const WORD: &str = "endpoint ";
    let mut at = phrase_positions(err, WORD).peekable();
    while let Some(p) = at.next() {
        let end = at.peek().copied().unwrap_or(err.len());
        let piece = &err[p + WORD.len()..end];
        let id = piece.split_once_byte(b' ').map_or(piece, |(id, _)| id);
        if !id.is_empty() && id.bytes().all(|c| c.is_ascii_digit()) {
            return Some(id);
        }
    }
    None
}

/// The runtime's not-ready wordings, lower case.
const NOT_READY: [&str; 7] = [
    "cni plugin not initialized",
    "no network config found in",
    "cni config uninitialized",
    "network plugin is not ready",
    "no networks found in",
    "no cni configuration file",
    "networkpluginnotready",
];

const NOT_FOUND: &str = "failed to find plugin ";
const NETPLUGIN_FAILED: &str = "netplugin failed";

/// What a word of [`SEEN_WORDS`] tells [`classify`].
#[derive(Clone, Copy)]
enum Sign {
    /// A word every IPAM wording contains.
    Addr,
    /// A [`NOT_READY`] wording.
    NotReady,
    /// A rare word (compared with case).
    Rare,
    /// A word of Multus's errors (compared with case).
    Multus,
    /// One of the two words (`cilium`, `endpoint`) one of which every Cilium wording holds.
    Cilium,
}

/// The words [`classify`] looks for in every plugin error, found in one pass over its lower
/// case: a search per word or list read the text nine times. No word starts another, so at most
/// one starts at any byte, and a search resumed after each match's first byte finds every
/// occurrence of every word.
const SEEN_WORDS: [(&str, Sign); 17] = [
    ("alloc", Sign::Addr),
    ("address", Sign::Addr),
    (NOT_READY[0], Sign::NotReady),
    (NOT_READY[1], Sign::NotReady),
    (NOT_READY[2], Sign::NotReady),
    (NOT_READY[3], Sign::NotReady),
    (NOT_READY[4], Sign::NotReady),
    (NOT_READY[5], Sign::NotReady),
    (NOT_READY[6], Sign::NotReady),
    (NOT_FOUND, Sign::Rare),
    (NETPLUGIN_FAILED, Sign::Rare),
    (INTERFACE, Sign::Rare),
    ("ultus", Sign::Multus),
    ("elegate", Sign::Multus),
    ("onflist", Sign::Multus),
    ("cilium", Sign::Cilium),
    ("endpoint", Sign::Cilium),
];

/// What [`SEEN_WORDS`] tell of a plugin error.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    addr: bool,
    /// One of the [`NOT_READY`] wordings is there.
    not_ready: bool,
    rare: bool,
    multus: bool,
    /// A Cilium wording may be there: `cilium` or `endpoint` is.
    cilium: bool,
}

impl Seen {
    /// Reads `err` and its ASCII lower case `lower`, whose bytes are where `err`'s are.
    fn in_text(err: &str, lower: &str) -> Seen {
        static SEARCHER: OnceLock<Option<packed::Searcher>> = OnceLock::new();
        let searcher = SEARCHER.get_or_init(|| packed::Searcher::new(SEEN_WORDS.map(|(w, _)| w)));
        let mut seen = Seen::default();
        match searcher {
            Some(searcher) => {
                let mut from = 0;
                while let Some(m) = searcher.find_in(lower, Span::from(from..lower.len())) {
                    seen.note(err, m.pattern().as_usize(), m.start());
                    from = m.start() + 1;
                }
            }
            // No packed searcher on this machine: a search per word.
            None => {
                for (i, (word, _)) in SEEN_WORDS.iter().enumerate() {
                    for at in memmem::find_iter(lower.as_bytes(), word) {
                        seen.note(err, i, at);
                    }
                }
            }
        }
        seen
    }

    /// Word `i` of [`SEEN_WORDS`] is at `at` of the lower case.
    fn note(&mut self, err: &str, i: usize, at: usize) {
        let (word, sign) = SEEN_WORDS[i];
        let cased = || err.as_bytes()[at..].starts_with(word.as_bytes());
        match sign {
            Sign::Addr => self.addr = true,
            Sign::NotReady => self.not_ready = true,
            Sign::Rare => self.rare = self.rare || cased(),
            Sign::Multus => self.multus = self.multus || cased(),
            Sign::Cilium => self.cilium = true,
        }
    }
}

/// Wording only one reference plugin (containernetworking/plugins) uses in its errors, lower
/// case: its iptables chains and comments, its daemon, its link kinds. The first listed that
/// a text contains names its family.
const REFERENCE_WORDING: [(&str, &str); 6] = [
    ("cni-hostport-", "portmap"),
    ("cni portfwd", "portmap"),
    ("failed to set bridge addr", "bridge"),
    ("error dialing dhcp daemon", "dhcp"),
    ("failed to create macvlan", "macvlan"),
    ("failed to create ipvlan", "ipvlan"),
];

/// The family [`REFERENCE_WORDING`] names in `lower`. Most texts hold none of it, which one
/// search for all the words at once tells; the others are searched word by word, in order.
fn reference_family(lower: &str) -> Option<&'static str> {
    const WORDS: [&str; REFERENCE_WORDING.len()] = words_of(&REFERENCE_WORDING);
    static ANY: AnyOf = AnyOf::new(&WORDS);
    if !ANY.any_in(lower) {
        return None;
    }
    REFERENCE_WORDING
        .iter()
        .find(|(word, _)| lower.contains_str(word))
        .map(|&(_, family)| family)
}

/// Host-side names of the veths plugins create: Calico `cali*`, Cilium `lxc*`, bridge/ptp
/// `veth*`, AWS VPC CNI `eni*`, Azure CNI `azv*`.
const HOST_IFACE_PREFIXES: &[&str] = &["cali", "lxc", "veth", "eni", "azv"];

/// The word before a host-side interface's name.
const INTERFACE: &str = "interface";

/// The host-side interface a plugin error names (`for interface: calid29a1cadef5`,
/// `interface "lxc12ab"`); other interfaces (`eth0`, `cni0`, `net1`) are not host-side veths.
fn host_interface(err: &str) -> Option<&str> {
    static WORD_AT: Words = Words::new(&[INTERFACE]);
    let mut from = 0;
    while let Some(at) = find(&WORD_AT, &err[from..]) {
        from += at + INTERFACE.len();
        let after = &err[from..];
        let after = after.strip_prefix(':').unwrap_or(after);
        let Some(after) = after.strip_prefix(' ') else {
            continue;
        };
        let after = after.trim_start_matches(['"', '\'']);
        let len = after
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
            .count();
        let name = &after[..len];
        // Linux interface names are at most 15 bytes.
        if len <= 15
            && HOST_IFACE_PREFIXES
                .iter()
                .any(|p| name.len() > p.len() && name.starts_with(p))
        {
            return Some(name);
        }
    }
    None
}

/// Multus's own error forms; returns whether `err` is one.
/// `words`: whether `err` holds one of the words of Multus's errors (`ultus`, `elegate`,
/// `onflist`).
fn read_multus(err: &str, words: bool, f: &mut Facts) -> bool {
    if !err.starts_with('[') && !words {
        return false;
    }
    let mut seen = false;
    // `[ns/pod:net]: ` or, since Multus 4, `[ns/pod/uid:net]: `.
    if let Some(key) = err.strip_prefix('[') {
        if let Some((key, rest)) = key.split_once_str("]: ") {
            if rest.starts_with("error ") {
                if let Some((who, net)) = key.split_once_byte(b':') {
                    let mut parts = who.splitn(3, '/');
                    if let (Some(ns), Some(pod)) = (parts.next(), parts.next()) {
                        Facts::set(&mut f.namespace, ns);
                        Facts::set(&mut f.pod_name, pod);
                    }
                    if let Some(uid) = parts.next() {
                        Facts::set(&mut f.pod_uid, uid);
                    }
                    f.attr("delegate_network", net);
                }
                seen = true;
            }
        }
    }
    if let Some(name) = delegate_if_name(err) {
        Facts::set(&mut f.if_name, name);
    }
    // (marker, attribute key).
    const MARKERS: [(&str, &str); 8] = [
        ("error adding container to network ", "delegate_network"),
        ("Err adding pod to network ", "delegate_network"),
        ("error invoking ConflistAdd - ", "delegate_network"),
        ("error invoking ConflistDel - ", "delegate_network"),
        ("error invoking DelegateAdd - ", "delegate_type"),
        ("error invoking DelegateDel - ", "delegate_type"),
        ("error in invoke Delegate add - ", "delegate_type"),
        ("error in invoke Delegate del - ", "delegate_type"),
    ];
    const MARKER_WORDS: [&str; MARKERS.len()] = words_of(&MARKERS);
    // Each marker's first place, all found in one pass (no marker starts another).
    static MARKERS_AT: AnyOf = AnyOf::new(&MARKER_WORDS);
    let places: [Option<usize>; MARKERS.len()] = MARKERS_AT.first_of_each(err);
    for (&(marker, key), at) in MARKERS.iter().zip(places) {
        if let Some(at) = at {
            if let Some((name, _)) = quoted_arg(&err[at + marker.len()..]) {
                f.attr(key, name);
            }
            seen = true;
        }
    }
    static OWN: Words = Words::new(&["Multus: ", "delegateAdd: ", "delegateDel: "]);
    seen || OWN.any_in(err)
}

/// The interface a Multus delegate was to get: `cannot set "<type>" interface name to
/// "<ifname>"`.
/// A value cut off by truncation gives what is there.
pub(crate) fn delegate_if_name(err: &str) -> Option<&str> {
    const IF_NAME: &str = " interface name to ";
    static IF_NAME_AT: Words = Words::new(&[IF_NAME]);
    let at = find(&IF_NAME_AT, err)?;
    quoted_arg(&err[at + IF_NAME.len()..]).map(|(name, _)| name)
}

/// Copies what `from` states into `into`, where `into` does not state it already.
fn merge(into: &mut Facts, from: Facts) {
    into.operation = into.operation.or(from.operation);
    into.category = into.category.or(from.category);
    into.success = into.success.or(from.success);
    into.plugin = into.plugin.or(from.plugin);
    into.confidence = into.confidence.or(from.confidence);
    for (slot, value) in [
        (&mut into.container_id, from.container_id),
        (&mut into.pod_name, from.pod_name),
        (&mut into.namespace, from.namespace),
        (&mut into.pod_uid, from.pod_uid),
        (&mut into.network_name, from.network_name),
        (&mut into.plugin_type, from.plugin_type),
        (&mut into.if_name, from.if_name),
        (&mut into.host_interface, from.host_interface),
    ] {
        if slot.is_none() {
            *slot = value;
        }
    }
    if into.error.is_none() {
        into.error = from.error;
    }
    // The facts read into are most often new, without attributes: the map is then moved
    // whole, where an insert per attribute rebuilt it.
    if into.attributes.is_empty() {
        into.attributes = from.attributes;
        return;
    }
    for (k, v) in from.attributes {
        into.attributes.entry(k).or_insert(v);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::{Format, Severity};

    /// The facts a corpus line must yield; every field is compared, so `None` asserts that
    /// the parser did not invent the fact.
    #[derive(Debug, Default)]
    pub(crate) struct Case {
        pub line: &'static str,
        pub format: Option<Format>,
        pub op: Option<Operation>,
        pub container: Option<&'static str>,
        pub pod: Option<&'static str>,
        pub ns: Option<&'static str>,
        pub uid: Option<&'static str>,
        pub plugin: Option<&'static str>,
        pub plugin_type: Option<&'static str>,
        pub network: Option<&'static str>,
        pub category: Option<Category>,
        pub success: Option<bool>,
        pub error: Option<&'static str>,
        pub level: Option<Severity>,
        pub confidence: Option<f64>,
        pub if_name: Option<&'static str>,
        pub host: Option<&'static str>,
        /// Compared when given.
        pub message: Option<&'static str>,
        /// Compared when given.
        pub comm: Option<&'static str>,
        pub ips: &'static [&'static str],
        pub reason: Option<&'static str>,
        pub node: Option<&'static str>,
        pub count: Option<f64>,
        pub attrs: &'static [(&'static str, &'static str)],
    }

    pub(crate) fn check(c: &Case) {
        let f = crate::formats::parse_record(c.line, None)
            .unwrap_or_else(|| panic!("not parsed: {}", c.line));
        let l = c.line;
        assert_eq!(f.format, c.format, "format of {l}");
        assert_eq!(f.operation, c.op, "operation of {l}");
        assert_eq!(f.container_id.as_deref(), c.container, "container of {l}");
        assert_eq!(f.pod_name.as_deref(), c.pod, "pod of {l}");
        assert_eq!(f.namespace.as_deref(), c.ns, "namespace of {l}");
        assert_eq!(f.pod_uid.as_deref(), c.uid, "pod uid of {l}");
        assert_eq!(f.plugin, c.plugin, "plugin of {l}");
        assert_eq!(
            f.plugin_type.as_deref(),
            c.plugin_type,
            "plugin type of {l}"
        );
        assert_eq!(f.network_name.as_deref(), c.network, "network of {l}");
        assert_eq!(f.category, c.category, "category of {l}");
        assert_eq!(f.success, c.success, "success of {l}");
        assert_eq!(
            f.error.as_ref().map(|e| e.msg.as_str()),
            c.error,
            "error of {l}"
        );
        assert_eq!(f.level, c.level, "level of {l}");
        assert_eq!(f.confidence, c.confidence, "confidence of {l}");
        assert_eq!(f.if_name.as_deref(), c.if_name, "if_name of {l}");
        assert_eq!(f.host_interface.as_deref(), c.host, "host interface of {l}");
        if let Some(m) = c.message {
            assert_eq!(f.message.as_deref(), Some(m), "message of {l}");
        }
        if let Some(comm) = c.comm {
            assert_eq!(f.comm.as_deref(), Some(comm), "comm of {l}");
        }
        assert_eq!(f.ips, c.ips, "ips of {l}");
        assert_eq!(f.subnet, None, "subnet of {l}");
        assert_eq!(f.event_reason.as_deref(), c.reason, "reason of {l}");
        assert_eq!(f.node_name.as_deref(), c.node, "node of {l}");
        assert_eq!(
            f.metrics.get("event_count").copied(),
            c.count,
            "count of {l}"
        );
        for (k, v) in c.attrs {
            assert_eq!(
                f.attributes.get(*k).map(String::as_str),
                Some(*v),
                "attribute {k} of {l}"
            );
        }
    }

    fn read_str(text: &str) -> Option<Facts> {
        let mut f = Facts::default();
        read(text, &mut f).then_some(f)
    }

    #[test]
    fn containerd_forms() {
        let f = read_str(r#"failed to setup network for sandbox "abc0123456789": plugin type="bridge" name="mynet" failed (add): failed to set bridge addr: "cni0" already has an IP address different from 10.244.1.1/24"#).unwrap();
        assert_eq!(f.operation, Some(Operation::Add));
        assert_eq!(f.container_id.as_deref(), Some("abc0123456789"));
        assert_eq!(f.plugin_type.as_deref(), Some("bridge"));
        assert_eq!(f.plugin, Some("bridge"));
        assert_eq!(f.network_name.as_deref(), Some("mynet"));
        assert_eq!(
            f.error.unwrap().msg,
            r#"failed to set bridge addr: "cni0" already has an IP address different from 10.244.1.1/24"#
        );
        assert_eq!(f.success, Some(false));
        assert_eq!(f.confidence, None);

        // Escaped quotes, CHECK through CRI-O's ocicni.
        let f = read_str(r#"error checking pod default_web-0 for CNI network \"k8s-pod-network\": plugin type=\"ptp\" failed (check): expected IP 10.1.0.5"#).unwrap();
        assert_eq!(f.operation, Some(Operation::Check));
        assert_eq!(f.namespace.as_deref(), Some("default"));
        assert_eq!(f.pod_name.as_deref(), Some("web-0"));
        assert_eq!(f.network_name.as_deref(), Some("k8s-pod-network"));
        assert_eq!(f.plugin_type.as_deref(), Some("ptp"));
        assert_eq!(f.error.unwrap().msg, "expected IP 10.1.0.5");

        // No plugin named: the family is read from the wording.
        let f = read_str(r#"failed to destroy network for sandbox "abc0123456789": del cmd: error received from DelNetwork gRPC call for container abc0123456789: rpc error: code = Unavailable desc = connection error"#).unwrap();
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.plugin, Some("aws-vpc-cni"));
        assert_eq!(f.confidence, Some(INFERRED));
        assert_eq!(f.plugin_type, None);
    }

    #[test]
    fn forcibly_stop_keeps_del_with_not_ready_error() {
        let f = read_str(r#"failed to forcibly stop sandbox "0123456789ab": failed to destroy network for sandbox "0123456789ab": cni plugin not initialized"#).unwrap();
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.category, None);
        assert_eq!(f.error.unwrap().msg, "cni plugin not initialized");
    }

    #[test]
    fn not_ready_without_operation_is_a_health_check() {
        for (text, err) in [
            ("cni plugin not initialized", "cni plugin not initialized"),
            ("no network config found in /etc/cni/net.d", "no network config found in /etc/cni/net.d"),
            ("NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized", "cni plugin not initialized"),
            ("network plugin is not ready: cni config uninitialized", "cni config uninitialized"),
        ] {
            let f = read_str(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(f.category, Some(Category::HealthCheck), "{text}");
            assert_eq!(f.success, Some(false), "{text}");
            assert_eq!(f.error.unwrap().msg, err, "{text}");
        }
    }

    #[test]
    fn multus_forms() {
        let f = read_str(r#"failed to setup network for sandbox "0123456789ab": [kube-system/web-0/2f0e4b1c-5c8f-4c3e-9d0a-1b2c3d4e5f60:sriov-net]: error adding container to network "sriov-net": DelegateAdd: cannot set "sriov" interface name to "net1": validateIfName: no net namespace"#).unwrap();
        assert_eq!(f.plugin, Some("multus"));
        assert_eq!(f.confidence, Some(INFERRED));
        assert_eq!(f.namespace.as_deref(), Some("kube-system"));
        assert_eq!(f.pod_name.as_deref(), Some("web-0"));
        assert_eq!(
            f.pod_uid.as_deref(),
            Some("2f0e4b1c-5c8f-4c3e-9d0a-1b2c3d4e5f60")
        );
        assert_eq!(
            f.attributes.get("delegate_network").map(String::as_str),
            Some("sriov-net")
        );
    }

    #[test]
    fn not_cni_leaves_facts_alone() {
        for text in [
            r#"rpc error: code = Unknown desc = failed to get sandbox image "registry.k8s.io/pause:3.6": failed to pull image"#,
            "Failed to create pod sandbox: rpc error: code = DeadlineExceeded desc = context deadline exceeded",
            "the quick brown fox",
            "",
        ] {
            let mut f = Facts::default();
            assert!(!read(text, &mut f), "{text}");
            assert_eq!(f, Facts::default(), "{text}");
        }
    }

    #[test]
    fn facts_already_stated_win() {
        let mut f = Facts {
            operation: Some(Operation::Del),
            container_id: Some("feedfacecafe0".into()),
            ..Facts::default()
        };
        assert!(read(
            r#"failed to setup network for sandbox "0123456789ab": plugin type="calico" failed (add): x"#,
            &mut f
        ));
        assert_eq!(f.operation, Some(Operation::Del));
        assert_eq!(f.container_id.as_deref(), Some("feedfacecafe0"));
        assert_eq!(f.plugin, Some("calico"));
    }

    #[test]
    fn host_side_interface_from_the_error() {
        for (text, host) in [
            (
                r#"failed to setup network for sandbox "0123456789ab": plugin type="calico" failed (add): error adding host side routes for interface: calid29a1cadef5, error: route (Ifindex: 131, Dst: 172.25.136.1/32, Scope: link) already exists for an interface other than 'calid29a1cadef5': route (Ifindex: 12, Dst: 172.25.136.1/32, Scope: link, Iface: calif6cb5368383)"#,
                Some("calid29a1cadef5"),
            ),
            (
                r#"failed to setup network for sandbox "0123456789ab": plugin type="ptp" failed (add): failed to set up interface "veth1a2b3c4d" in host namespace"#,
                Some("veth1a2b3c4d"),
            ),
            // Container-side and bridge interfaces are not host-side veths.
            (
                r#"failed to setup network for sandbox "0123456789ab": plugin type="bridge" failed (add): failed to set bridge addr: could not add IP address to interface cni0"#,
                None,
            ),
            (
                r#"failed to setup network for sandbox "0123456789ab": [default/samplepod:macvlan-conf]: error adding container to network "macvlan-conf": delegateAdd: cannot set "" interface name to "net1": validateIfName: interface name net1 already exists"#,
                None,
            ),
        ] {
            let f = read_str(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(f.host_interface.as_deref(), host, "{text}");
        }
    }

    #[test]
    fn multus_delegate_interface() {
        let f = read_str(r#"failed to setup network for sandbox "0123456789ab": [default/samplepod:macvlan-conf]: error adding container to network "macvlan-conf": delegateAdd: cannot set "" interface name to "net1": validateIfName: interface name net1 already exists"#).unwrap();
        assert_eq!(f.if_name.as_deref(), Some("net1"));
        assert_eq!(
            delegate_if_name(r#"cannot set "sriov" interface name to ""#),
            Some("")
        );
        assert_eq!(delegate_if_name("interface name to net1"), None);
    }

    #[test]
    fn numeric_grpc_codes_are_named() {
        for (code, name) in [
            ("2", "Unknown"),
            ("14", "Unavailable"),
            ("4", "DeadlineExceeded"),
        ] {
            let text = format!("rpc error: code = {code} desc = NetworkPlugin cni failed to set up pod \"a_b\" network: cni config uninitialized");
            let f = read_str(&text).unwrap();
            assert_eq!(
                f.attributes.get("grpc_code").map(String::as_str),
                Some(name),
                "{code}"
            );
        }
        assert_eq!(grpc_code_name("16"), Some("Unauthenticated"));
        assert_eq!(grpc_code_name("17"), None);
        assert_eq!(grpc_code_name("Unknown"), None);
    }

    #[test]
    fn reference_plugins_from_their_wording() {
        for (err, family) in [
            ("unable to create chain CNI-HOSTPORT-SETMARK: running [/usr/sbin/iptables -t nat -N CNI-HOSTPORT-SETMARK --wait]: exit status 4", "portmap"),
            ("failed to set bridge addr: \"cni0\" already has an IP address different from 10.244.1.1/24", "bridge"),
            ("error dialing DHCP daemon: dial unix /run/cni/dhcp.sock: connect: no such file or directory", "dhcp"),
            ("failed to create macvlan: device or resource busy", "macvlan"),
        ] {
            let text = format!("failed to setup network for sandbox \"0123456789ab\": {err}");
            let f = read_str(&text).unwrap();
            assert_eq!(f.plugin, Some(family), "{err}");
            assert_eq!(f.confidence, Some(INFERRED), "{err}");
        }
        // A stated plugin type wins over the wording.
        let f = read_str(r#"failed to setup network for sandbox "0123456789ab": plugin type="flannel" failed (add): failed to set bridge addr: "cni0" already has an IP address different from 10.244.1.1/24"#).unwrap();
        assert_eq!((f.plugin, f.confidence), (Some("flannel"), None));
    }

    #[test]
    fn not_ready_statements() {
        for (text, statement) in [
            ("Container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:docker: network plugin is not ready: cni config uninitialized", Some("Container runtime network not ready")),
            ("network is not ready: container runtime network not ready: NetworkReady=false", Some("network is not ready: container runtime network not ready")),
            ("Unable to update cni config: no networks found in /etc/cni/net.d", Some("Unable to update cni config")),
            ("Container runtime network not ready", Some("Container runtime network not ready")),
            ("cni plugin not initialized", None),
            ("", None),
        ] {
            assert_eq!(not_ready_statement(text), statement, "{text}");
        }
    }

    #[test]
    fn not_ready_wordings_are_found() {
        let says_not_ready = |s: &str| Seen::in_text(s, s).not_ready;
        assert!(says_not_ready("x: no cni configuration file in /etc"));
        assert!(says_not_ready("cni cni network networkpluginnotready"));
        assert!(!says_not_ready(
            "no cni config found; network plugin is ready"
        ));
        assert!(!says_not_ready("ni networ"));
    }

    #[test]
    fn grpc_code_is_one_word_before_desc() {
        fn rest(s: &str) -> Option<&str> {
            grpc(s, &mut Facts::default()).map(|l| l.rest)
        }
        assert_eq!(rest("rpc error: code = Unknown desc = x"), Some("x"));
        assert_eq!(rest("rpc error: code = 2 desc = "), Some(""));
        assert_eq!(rest("rpc error: code = a b desc = x"), None);
        assert_eq!(rest("rpc error: code = Unknown desc= x desc = y"), None);
        assert_eq!(rest("rpc error: code = Unknown"), None);
    }

    #[test]
    fn every_prose_layer_is_longer_than_its_head() {
        for (prefix, _, _) in PROSE {
            assert!(prefix.len() > 8, "{prefix}");
        }
    }

    #[test]
    fn endpoint_id_cuts_words_as_split_does() {
        fn by_split(err: &str) -> Option<&str> {
            err.split("endpoint ")
                .skip(1)
                .filter_map(|r| r.split(' ').next())
                .find(|id| !id.is_empty() && id.bytes().all(|c| c.is_ascii_digit()))
        }
        for err in [
            "",
            "endpoint 16569 did not synchronously regenerate",
            "endpoint x endpoint 12",
            "endpoint 123endpoint 456",
            "endpoint endpoint 7",
            "endpoint ",
            "no endpoint",
        ] {
            assert_eq!(endpoint_id(err), by_split(err), "{err}");
        }
    }

    #[test]
    fn seen_words_start_no_other_and_agree_with_a_search_per_word() {
        for (i, (a, _)) in SEEN_WORDS.iter().enumerate() {
            for (j, (b, _)) in SEEN_WORDS.iter().enumerate() {
                assert!(i == j || !b.starts_with(a), "{a} starts {b}");
            }
        }
        let per_word = |err: &str, lower: &str| {
            let has = |w: &str| lower.contains(w);
            let cased = |w: &str| err.contains(w);
            Seen {
                addr: has("alloc") || has("address"),
                not_ready: NOT_READY.into_iter().any(has),
                rare: [NOT_FOUND, NETPLUGIN_FAILED, INTERFACE]
                    .into_iter()
                    .any(cased),
                multus: ["ultus", "elegate", "onflist"].into_iter().any(cased),
                cilium: has("cilium") || has("endpoint"),
            }
        };
        for err in [
            "",
            "cni",
            "CNI plugin not initialized; Multus delegate: Failed to find plugin \"x\"",
            "failed to find plugin \"bridge\" in path, netplugin failed for interface eth0",
            "allocaddress cnicni networkpluginnotready ciliumendpoint multusultus",
            "no networks found in /etc/cni/net.d: cni config uninitialized",
            "éalloc IPAMD Azure Weave ovn-k kube-router antrea ConfList onflist elegate",
            "Cilium ENDPOINT No CNI Configuration File; Interface, Netplugin Failed",
        ] {
            let lower = err.to_ascii_lowercase();
            assert_eq!(Seen::in_text(err, &lower), per_word(err, &lower), "{err}");
        }
    }

    #[test]
    fn any_of_agrees_with_a_search_per_word() {
        static WORDS: AnyOf = AnyOf::new(&["ultus", "elegate", "onflist"]);
        let long = format!("{}delegate{}", "x".repeat(100), "é".repeat(40));
        for text in [
            "",
            "ultu",
            "Multus",
            "delegateAdd",
            "conflist",
            "MULTUS",
            "onflist ultus elegate ultus onflistultus",
            &long,
        ] {
            for cut in 0..=text.len() {
                if let Some(t) = text.get(cut..) {
                    let each = WORDS.words.iter().any(|w| t.contains(w));
                    assert_eq!(WORDS.any_in(t), each, "{t}");
                    let earliest = WORDS.words.iter().filter_map(|w| t.find(w)).min();
                    assert_eq!(WORDS.earliest_in(t), earliest, "{t}");
                    let firsts: [Option<usize>; 3] = WORDS.first_of_each(t);
                    assert_eq!(
                        firsts.to_vec(),
                        WORDS.words.iter().map(|w| t.find(w)).collect::<Vec<_>>(),
                        "{t}"
                    );
                }
            }
        }
    }

    #[test]
    fn full_container_id_agrees_with_the_byte_scan() {
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let texts = [
            format!("for container {id}"),
            format!("{id}: x"),
            format!("/ip/{id}/eth0 and {id}"),
            format!("x{id} \"{id}\""),
            format!("{id}0 {id}g é{id}é"),
            format!("a{id}{id} {}", &id[1..]),
            format!("terminated container \"{}\", then {id}", id.to_uppercase()),
            format!("{} {id}", "ab".repeat(70)),
        ];
        for text in &texts {
            for cut in 0..=text.len() {
                for t in [text.get(..cut), text.get(cut..)].into_iter().flatten() {
                    assert_eq!(
                        full_container_id(t),
                        crate::text::find_container_id(t),
                        "{t}"
                    );
                }
            }
        }
    }

    #[test]
    fn garbage_does_not_panic() {
        let samples = [
            r#"failed to setup network for sandbox ""#,
            r#"failed to setup network for sandbox "abc"#,
            r#"plugin type=""#,
            r#"plugin type="x" name=""#,
            r#"plugin type="x" failed ("#,
            r#"failed to create pod network sandbox k8s_("#,
            r#"failed to create pod network sandbox k8s_a_b_c_0(abc): error adding pod "#,
            r#"error adding pod  to CNI network "#,
            r#"[failed to set up sandbox container "é" network for pod "ü": NetworkPlugin cni failed to set up pod "ö_ä" network: x, failed to clean up sandbox container "#,
            "rpc error: code = ",
            "NetworkReady=false reason:",
            "failed to \"KillPodSandbox\" for \"",
            "failed to find plugin \"",
            "[[[[[[[[ cni ]]]]]",
            "\"\"\"\"\"\" sandbox \\\\\\\"",
            "Multus: [a/b:]: error adding container to network \"",
            "no IP addresses available in range set: ",
            "plugin type=\"cilium-cni\" failed (add): endpoint ",
            "plugin type=\"calico\" failed (add): for interface: 'cali",
            "plugin type=\"calico\" failed (add): interface",
            "cannot set \"é\" interface name to \"",
            "rpc error: code = 99999999999999999999999 desc = cni",
        ];
        for s in samples {
            let _ = read_str(s);
            for cut in 0..s.len() {
                if let Some(p) = s.get(..cut) {
                    let _ = read_str(p);
                }
            }
        }
    }
}
