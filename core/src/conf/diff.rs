//! What changed between two versions of a config file.

use std::collections::BTreeSet;

use super::parse::NetConf;

/// Changed keys listed in one event at most; the rest are counted.
const MAX_LISTED_KEYS: usize = 16;

/// The difference between the previous good version of a config and the new one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diff {
    pub plugins_added: Vec<String>,
    pub plugins_removed: Vec<String>,
    /// Plugins present in both whose settings changed.
    pub plugins_changed: Vec<String>,
    /// Both chains hold the same plugins in another order.
    pub reordered: bool,
    pub ranges_before: Option<Vec<String>>,
    pub cni_version_before: Option<Option<String>>,
    pub name_before: Option<Option<String>>,
    /// `key: old → new` lines, at most 16, values already redacted.
    pub changed_keys: Vec<String>,
    /// Changed keys beyond those listed.
    pub more_keys: usize,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self == &Diff::default()
    }

    /// Short clauses for the event's sentence, most telling first.
    pub fn clauses(&self, new: &NetConf) -> Vec<String> {
        let mut out = Vec::new();
        if !self.plugins_added.is_empty() {
            out.push(format!("plugins added: {}", self.plugins_added.join(", ")));
        }
        if !self.plugins_removed.is_empty() {
            out.push(format!(
                "plugins removed: {}",
                self.plugins_removed.join(", ")
            ));
        }
        if let Some(before) = &self.ranges_before {
            out.push(format!(
                "IPAM ranges {} → {}",
                list_or_none(before),
                list_or_none(&new.ranges())
            ));
        }
        if let Some(before) = &self.cni_version_before {
            out.push(format!(
                "cniVersion {} → {}",
                before.as_deref().unwrap_or("(none)"),
                new.cni_version.as_deref().unwrap_or("(none)")
            ));
        }
        if let Some(before) = &self.name_before {
            out.push(format!(
                "network name {} → {}",
                before.as_deref().unwrap_or("(none)"),
                new.name.as_deref().unwrap_or("(none)")
            ));
        }
        if !self.plugins_changed.is_empty() {
            out.push(format!(
                "settings of {} changed",
                self.plugins_changed.join(", ")
            ));
        }
        if self.reordered {
            out.push("plugin order changed".to_owned());
        }
        if out.is_empty() && !self.changed_keys.is_empty() {
            out.push(format!(
                "{} key(s) changed",
                self.changed_keys.len() + self.more_keys
            ));
        }
        out
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}

impl NetConf {
    /// The chain's plugin types in order.
    pub fn types(&self) -> Vec<String> {
        self.plugins.iter().map(|p| p.plugin_type.clone()).collect()
    }

    /// Every IPAM range of the chain, in order.
    pub fn ranges(&self) -> Vec<String> {
        self.plugins.iter().flat_map(|p| p.ranges.clone()).collect()
    }
}

/// Compares the previous good version `old` with `new`.
pub fn diff(old: &NetConf, new: &NetConf) -> Diff {
    let old_types = old.types();
    let new_types = new.types();
    let old_set: BTreeSet<&String> = old_types.iter().collect();
    let new_set: BTreeSet<&String> = new_types.iter().collect();
    let mut d = Diff {
        plugins_added: new_types
            .iter()
            .filter(|t| !old_set.contains(t))
            .cloned()
            .collect(),
        plugins_removed: old_types
            .iter()
            .filter(|t| !new_set.contains(t))
            .cloned()
            .collect(),
        reordered: old_set == new_set && old_types != new_types,
        ..Diff::default()
    };
    d.plugins_changed = new
        .plugins
        .iter()
        .filter(|p| {
            old.plugins
                .iter()
                .find(|o| o.plugin_type == p.plugin_type)
                .is_some_and(|o| o != *p)
        })
        .map(|p| p.plugin_type.clone())
        .collect();
    let (old_ranges, new_ranges) = (old.ranges(), new.ranges());
    if old_ranges != new_ranges {
        d.ranges_before = Some(old_ranges);
    }
    if old.cni_version != new.cni_version {
        d.cni_version_before = Some(old.cni_version.clone());
    }
    if old.name != new.name {
        d.name_before = Some(old.name.clone());
    }
    // The keys of a plugin added or removed whole are said by `plugins_added` / `_removed`.
    let whole: Vec<String> = d
        .plugins_added
        .iter()
        .chain(&d.plugins_removed)
        .map(|t| format!("plugins[{t}]"))
        .collect();
    let keys: BTreeSet<&String> = old.leaves.keys().chain(new.leaves.keys()).collect();
    for key in keys {
        let (a, b) = (old.leaves.get(key), new.leaves.get(key));
        if a == b || whole.iter().any(|w| key.starts_with(w.as_str())) {
            continue;
        }
        if d.changed_keys.len() >= MAX_LISTED_KEYS {
            d.more_keys += 1;
            continue;
        }
        let show = |v: Option<&String>| v.map_or_else(|| "(absent)".to_owned(), Clone::clone);
        d.changed_keys
            .push(format!("{key}: {} → {}", show(a), show(b)));
    }
    // Leaves lost to the limit may hide a change: say so rather than claim none.
    if old.leaves_cut != new.leaves_cut {
        d.more_keys += 1;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::parse::{parse, FileKind};

    fn conf(text: &str) -> NetConf {
        parse(FileKind::List, text.as_bytes(), false, 1024).unwrap()
    }

    #[test]
    fn plugins_added_removed_and_range_changed() {
        let old = conf(
            r#"{"cniVersion":"0.4.0","name":"n","plugins":[
                {"type":"bridge","bridge":"cni0","ipam":{"type":"host-local","subnet":"10.1.0.0/16"}},
                {"type":"portmap","capabilities":{"portMappings":true}}]}"#,
        );
        let new = conf(
            r#"{"cniVersion":"1.0.0","name":"n","plugins":[
                {"type":"bridge","bridge":"cni0","ipam":{"type":"host-local","ranges":[[{"subnet":"10.2.0.0/16"}]]}},
                {"type":"tuning"}]}"#,
        );
        let d = diff(&old, &new);
        assert_eq!(d.plugins_added, ["tuning"]);
        assert_eq!(d.plugins_removed, ["portmap"]);
        assert_eq!(d.plugins_changed, ["bridge"]);
        assert_eq!(d.ranges_before, Some(vec!["10.1.0.0/16".to_owned()]));
        assert_eq!(d.cni_version_before, Some(Some("0.4.0".to_owned())));
        assert!(!d.reordered);
        assert!(d
            .changed_keys
            .contains(&"plugins[bridge].ipam.subnet: 10.1.0.0/16 → (absent)".to_owned()));
        assert!(
            d.changed_keys
                .iter()
                .all(|k| !k.starts_with("plugins[tuning]") && !k.starts_with("plugins[portmap]")),
            "{:?}",
            d.changed_keys
        );
        assert_eq!(
            d.clauses(&new),
            [
                "plugins added: tuning",
                "plugins removed: portmap",
                "IPAM ranges 10.1.0.0/16 → 10.2.0.0/16",
                "cniVersion 0.4.0 → 1.0.0",
                "settings of bridge changed",
            ]
        );
    }

    #[test]
    fn reorder_and_single_key() {
        let old = conf(r#"{"name":"n","plugins":[{"type":"a","mtu":1450},{"type":"b"}]}"#);
        let new = conf(r#"{"name":"n","plugins":[{"type":"b"},{"type":"a","mtu":1500}]}"#);
        let d = diff(&old, &new);
        assert!(d.reordered);
        assert_eq!(d.changed_keys, ["plugins[a].mtu: 1450 → 1500"]);
        assert_eq!(d.plugins_changed, ["a"]);
        assert!(diff(&new, &new).is_empty());
    }

    #[test]
    fn listed_keys_are_bounded() {
        let many = |v: u32| {
            let keys: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{v}")).collect();
            conf(&format!(
                r#"{{"name":"n","plugins":[{{"type":"a",{}}}]}}"#,
                keys.join(",")
            ))
        };
        let d = diff(&many(1), &many(2));
        assert_eq!(
            (d.changed_keys.len(), d.more_keys),
            (MAX_LISTED_KEYS, 40 - MAX_LISTED_KEYS)
        );
    }
}
