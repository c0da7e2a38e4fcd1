//! The client host names allowed to connect: configured names plus, optionally, the MedMij
//! Whitelist XML file (`xmlns://afsprakenstelsel.medmij.nl/whitelist/release2/`), validated
//! and reloaded when it changes. A newer list never gives way to an older one (`Volgnummer`),
//! not even across a restart: the newest list seen is kept in the state folder.

use arc_swap::ArcSwap;
use rustls::pki_types::ServerName;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

const NAMESPACE: &str = "xmlns://afsprakenstelsel.medmij.nl/whitelist/release2/";
/// How often a handshake looks whether the file changed.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// One version of the MedMij Whitelist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whitelist {
    pub sequence: u64,
    pub hosts: Vec<String>,
}

impl Whitelist {
    /// Parses and checks the XML: the root, its namespace, `Volgnummer`, and that every
    /// `MedMijNode` names a valid host (as `<Hostname>` or as its text).
    pub fn parse(xml: &str) -> Result<Whitelist, String> {
        let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
        let root = doc.root_element();
        if root.tag_name().name() != "Whitelist" || root.tag_name().namespace() != Some(NAMESPACE) {
            return Err(format!("the root is not <Whitelist xmlns=\"{NAMESPACE}\">"));
        }
        let child = |name: &str| root.children().find(|n| n.is_element() && n.tag_name().name() == name);
        let sequence = child("Volgnummer")
            .and_then(|n| n.text())
            .and_then(|t| t.trim().parse().ok())
            .ok_or("no <Volgnummer> with a number")?;
        let nodes = child("MedMijNodes").ok_or("no <MedMijNodes>")?;
        let mut hosts = Vec::new();
        for node in nodes.children().filter(|n| n.is_element()) {
            if node.tag_name().name() != "MedMijNode" {
                return Err(format!("unexpected <{}> in <MedMijNodes>", node.tag_name().name()));
            }
            let host = node
                .children()
                .find(|n| n.is_element() && n.tag_name().name() == "Hostname")
                .and_then(|n| n.text())
                .or_else(|| node.text())
                .map(|t| t.trim().to_ascii_lowercase())
                .unwrap_or_default();
            if !matches!(ServerName::try_from(host.as_str()), Ok(ServerName::DnsName(_))) {
                return Err(format!("<MedMijNode> `{host}` is not a host name"));
            }
            hosts.push(host);
        }
        Ok(Whitelist { sequence, hosts })
    }
}

/// The names a client certificate may be for.
#[derive(Debug)]
pub struct ClientAllowList {
    configured: Vec<String>,
    file: Option<PathBuf>,
    /// Where the newest list seen is kept.
    kept: PathBuf,
    list: ArcSwap<Option<Whitelist>>,
    checked: Mutex<(Instant, Option<SystemTime>)>,
}

impl ClientAllowList {
    /// The configured names, and the Whitelist `file` or the kept copy of a newer one.
    pub fn load(configured: &[String], file: Option<&Path>, kept: &Path) -> Result<ClientAllowList, String> {
        let mut list = file.map(read).transpose()?;
        if let Some(current) = &list {
            match read(kept).ok() {
                Some(newer) if newer.sequence > current.sequence => {
                    tracing::warn!(
                        file = %kept.display(),
                        "the MedMij Whitelist file has Volgnummer {}, below the {} seen before; serving the newer one kept",
                        current.sequence,
                        newer.sequence
                    );
                    list = Some(newer);
                }
                Some(same) if same.sequence == current.sequence => {}
                _ => keep(file, kept),
            }
        }
        Ok(ClientAllowList {
            configured: configured.to_vec(),
            file: file.map(Path::to_path_buf),
            kept: kept.to_path_buf(),
            list: ArcSwap::from_pointee(list),
            checked: Mutex::new((Instant::now(), file.and_then(modified))),
        })
    }

    /// Whether names are checked at all (an empty configuration allows any verified client).
    pub fn is_restricted(&self) -> bool {
        !self.configured.is_empty() || self.file.is_some()
    }

    /// The allowed names now, after picking up a changed file.
    pub fn names(&self) -> Vec<String> {
        self.refresh();
        let mut names = self.configured.clone();
        if let Some(list) = self.list.load().as_ref() {
            names.extend(list.hosts.iter().cloned());
        }
        names
    }

    fn refresh(&self) {
        let Some(file) = &self.file else { return };
        let mut checked = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        if checked.0.elapsed() < CHECK_EVERY {
            return;
        }
        let now = (Instant::now(), modified(file));
        let changed = now.1 != checked.1;
        *checked = now;
        drop(checked);
        if !changed {
            return;
        }
        let current = self.list.load().as_ref().as_ref().map_or(0, |l| l.sequence);
        match read(file) {
            Ok(new) if new.sequence < current => tracing::warn!(
                file = %file.display(),
                "MedMij Whitelist has Volgnummer {} below the running {current}; keeping the running one",
                new.sequence
            ),
            Ok(new) => {
                tracing::info!(file = %file.display(), volgnummer = new.sequence, hosts = new.hosts.len(), "MedMij Whitelist reloaded");
                self.list.store(Arc::new(Some(new)));
                keep(Some(file), &self.kept);
            }
            Err(e) => tracing::warn!(error = %e, "MedMij Whitelist changed but is not valid; keeping the running one"),
        }
    }
}

/// Copies the accepted Whitelist to the state folder (written whole, then renamed into place).
fn keep(file: Option<&Path>, kept: &Path) {
    let Some(file) = file else { return };
    let partial = kept.with_extension("xml.partial");
    let result = std::fs::copy(file, &partial).and_then(|_| std::fs::rename(&partial, kept));
    if let Err(e) = result {
        tracing::error!(error = %e, file = %kept.display(), "cannot keep the MedMij Whitelist: after a restart an older one would be accepted");
    }
}

fn read(path: &Path) -> Result<Whitelist, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("MedMij Whitelist {}: {e}", path.display()))?;
    Whitelist::parse(&text).map_err(|e| format!("MedMij Whitelist {}: {e}", path.display()))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(nodes: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><Whitelist xmlns=\"{NAMESPACE}\"><Tijdstempel>2026-11-23T10:00:00+01:00</Tijdstempel>\
             <Volgnummer>7</Volgnummer><MedMijNodes>{nodes}</MedMijNodes></Whitelist>"
        )
    }

    #[test]
    fn both_node_forms_are_read() {
        let list = Whitelist::parse(&xml(
            "<MedMijNode><Hostname>PGO.example.nl</Hostname></MedMijNode><MedMijNode>rcf-rso.nl</MedMijNode>",
        ))
        .expect("valid");
        assert_eq!(list, Whitelist { sequence: 7, hosts: vec!["pgo.example.nl".into(), "rcf-rso.nl".into()] });
    }

    #[test]
    fn invalid_lists_are_refused() {
        assert!(Whitelist::parse(&xml("<MedMijNode><Hostname>not a host</Hostname></MedMijNode>")).is_err());
        assert!(Whitelist::parse(&xml("<Other/>")).is_err());
        assert!(
            Whitelist::parse("<Whitelist><Volgnummer>1</Volgnummer><MedMijNodes/></Whitelist>").is_err(),
            "namespace"
        );
        assert!(Whitelist::parse("<Whitelist").is_err());
    }
}
