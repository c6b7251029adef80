//! Hands out producer ids that are unique across restarts.
//!
//! Ids are reserved in blocks: before the first id of a block is handed out, the end of
//! the block is written (and fsynced) to `producer-id-block`. After a restart allocation
//! resumes past the last reserved block, so no id is ever handed out twice.

use std::io;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::storage::{self, SharedStorage};

const BLOCK_SIZE: i64 = 1000;
const FILE_NAME: &str = "producer-id-block";

pub struct ProducerIdManager {
    files: SharedStorage,
    path: PathBuf,
    /// (next id to hand out, end of the reserved block)
    state: Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    pub fn open(files: &SharedStorage, log_dir: &Path) -> io::Result<Self> {
        let path = log_dir.join(FILE_NAME);
        let reserved = match storage::read_to_string(files, &path) {
            Ok(s) => s.trim().parse::<i64>().map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(ProducerIdManager { files: files.clone(), path, state: Mutex::new((reserved, reserved)) })
    }

    pub fn next_id(&self) -> io::Result<i64> {
        let mut st = self.state.lock();
        if st.0 >= st.1 {
            let end = st.0 + BLOCK_SIZE;
            let tmp = self.path.with_extension("tmp");
            storage::write_file(&self.files, &tmp, format!("{end}\n").as_bytes(), true)?;
            self.files.rename(&tmp, &self.path)?;
            st.1 = end;
        }
        let id = st.0;
        st.0 += 1;
        Ok(id)
    }
}

/// A cluster node's producer ids: blocks reserved through the controller (unique across
/// the cluster), handed out until used up.
#[derive(Default)]
pub struct ClusterProducerIds {
    /// (next id, end of the block)
    block: Mutex<(i64, i64)>,
}

impl ClusterProducerIds {
    /// The next id of the current block, if any is left.
    pub fn take(&self) -> Option<i64> {
        let mut b = self.block.lock();
        (b.0 < b.1).then(|| {
            b.0 += 1;
            b.0 - 1
        })
    }

    pub fn install(&self, start: i64, len: i64) {
        *self.block.lock() = (start, start + len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_unique_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let m = ProducerIdManager::open(&crate::storage::local(), dir.path()).unwrap();
        let a: Vec<i64> = (0..3).map(|_| m.next_id().unwrap()).collect();
        assert_eq!(a, vec![0, 1, 2]);
        drop(m);
        let m = ProducerIdManager::open(&crate::storage::local(), dir.path()).unwrap();
        assert!(m.next_id().unwrap() >= BLOCK_SIZE);
    }
}
