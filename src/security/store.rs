//! Where a broker finds the security image: on a cluster node, the metadata log's (the
//! replication side replaces it as records are applied); on a single broker, a file
//! beside the logs, `<log.dirs>/riffle-security.json`, rewritten atomically on change.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::bootstrap;
use super::image::{SecurityImage, SecurityOutcome, SecurityRecord};
use crate::storage::{read_to_string, write_atomically, SharedStorage};

const FILE: &str = "riffle-security.json";

pub struct SecurityStore {
    image: RwLock<Arc<SecurityImage>>,
    /// A single broker's file; `None` on a cluster node.
    file: Option<(SharedStorage, PathBuf)>,
    /// Serialises local changes, so that each is persisted before the next is applied.
    writing: Mutex<()>,
    secret: [u8; 32],
}

impl SecurityStore {
    /// A store fed by the metadata log.
    pub fn replicated() -> Arc<Self> {
        Arc::new(SecurityStore { image: RwLock::default(), file: None, writing: Mutex::new(()), secret: rand::random() })
    }

    /// A single broker's store, loaded from its file; without one, the bootstrap users
    /// `riffle format` wrote (if any), persisted at once.
    pub fn open(files: &SharedStorage, log_dir: &Path) -> io::Result<Arc<Self>> {
        let path = log_dir.join(FILE);
        let (image, bootstrap) = match read_to_string(files, &path) {
            Ok(text) => (serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?, None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (SecurityImage::default(), bootstrap::read(files, log_dir)?),
            Err(e) => return Err(e),
        };
        let store = Arc::new(SecurityStore { image: RwLock::new(Arc::new(image)), file: Some((files.clone(), path)), writing: Mutex::new(()), secret: rand::random() });
        let bootstrap = bootstrap.unwrap_or_default();
        for record in &bootstrap {
            store.apply_locally(record)?;
        }
        if !bootstrap.is_empty() {
            tracing::info!(records = bootstrap.len(), "applied the SCRAM users of riffle format --add-scram");
        }
        Ok(store)
    }

    pub fn image(&self) -> Arc<SecurityImage> {
        self.image.read().clone()
    }

    /// Whether any client quota is set (request times are measured only then).
    pub fn has_quotas(&self) -> bool {
        !self.image.read().quotas.is_empty()
    }

    /// Whether changes are made here (a single broker) rather than through the
    /// metadata log.
    pub fn is_local(&self) -> bool {
        self.file.is_some()
    }

    /// A cluster node: the metadata image's security part.
    pub fn replace(&self, image: &SecurityImage) {
        if **self.image.read() != *image {
            *self.image.write() = Arc::new(image.clone());
        }
    }

    /// A single broker: applies a record, persists the result, then makes it visible.
    pub fn apply_locally(&self, record: &SecurityRecord) -> io::Result<SecurityOutcome> {
        let _writing = self.writing.lock();
        let mut next = (*self.image()).clone();
        let results = next.apply(record);
        if let Some((files, path)) = &self.file {
            let text = serde_json::to_vec_pretty(&next).map_err(io::Error::other)?;
            write_atomically(files, path, &text)?;
        }
        *self.image.write() = Arc::new(next);
        Ok(results)
    }

    /// The per-process secret unknown users' made-up SCRAM salts derive from.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }
}
