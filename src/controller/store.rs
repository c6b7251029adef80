//! Durable storage of the metadata quorum, in `<log.dirs>/__cluster_metadata-0/` (the
//! directory Kafka's KRaft uses): the raft log as JSON lines of operations (append,
//! truncate, purge) fsynced before openraft is told they are durable, the vote and the
//! committed log id as small atomically replaced files, and the latest snapshot of the
//! metadata image. The state machine applies committed records to the image and
//! publishes every new image on a watch channel.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{self, Cursor};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership, Vote,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::command::CommandResult;
use super::image::MetadataImage;
use super::TypeConfig;
use crate::storage::{self, OpenMode, SharedStorage, StorageFile};

pub const METADATA_DIR: &str = "__cluster_metadata-0";
const LOG_FILE: &str = "metadata.log";
const VOTE_FILE: &str = "quorum-vote.json";
const COMMITTED_FILE: &str = "quorum-committed.json";
const SNAPSHOT_FILE: &str = "snapshot.json";

type NodeId = u64;
type SErr = StorageError<NodeId>;

#[derive(Serialize, Deserialize)]
enum LogOp {
    Append(Entry<TypeConfig>),
    /// Remove entries from this index on.
    Truncate(u64),
    /// Remove entries up to this log id (inclusive): they are in a snapshot.
    Purge(LogId<NodeId>),
}

struct LogInner {
    files: SharedStorage,
    dir: PathBuf,
    file: StorageFile,
    /// Bytes in the file: where the next operation is written.
    file_len: u64,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    /// Operations in the file: it is rewritten when purges leave it mostly dead.
    ops_in_file: usize,
}

/// The raft log of the metadata quorum.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogInner>>,
}

fn read_json<T: for<'de> Deserialize<'de>>(files: &SharedStorage, path: &Path) -> io::Result<Option<T>> {
    match files.read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(io::Error::other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn write_json<T: Serialize>(files: &SharedStorage, path: &Path, v: &T) -> io::Result<()> {
    storage::write_atomically(files, path, &serde_json::to_vec(v).map_err(io::Error::other)?)
}

impl LogStore {
    pub fn open(files: &SharedStorage, log_dir: &Path) -> io::Result<LogStore> {
        let dir = log_dir.join(METADATA_DIR);
        files.create_dir_all(&dir)?;
        let path = dir.join(LOG_FILE);
        let mut entries = BTreeMap::new();
        let mut last_purged = None;
        let mut ops = 0;
        let mut good_len = 0u64;
        let bytes = match files.read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            // Anything else is not a torn tail: never truncate acknowledged entries.
            Err(e) => return Err(e),
        };
        {
            // A torn last line (crash mid-append) was never acknowledged: drop it.
            for line in bytes.split_inclusive(|b| *b == b'\n').take_while(|l| l.ends_with(b"\n")) {
                let text = std::str::from_utf8(&line[..line.len() - 1]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                let Ok(op) = serde_json::from_str::<LogOp>(text) else { break };
                good_len += line.len() as u64;
                ops += 1;
                match op {
                    LogOp::Append(e) => {
                        entries.insert(e.log_id.index, e);
                    }
                    LogOp::Truncate(from) => {
                        entries.split_off(&from);
                    }
                    LogOp::Purge(id) => {
                        entries = entries.split_off(&(id.index + 1));
                        last_purged = Some(id);
                    }
                }
            }
        }
        let file = StorageFile::open(files, &path, OpenMode::Create)?;
        if file.len()? != good_len {
            tracing::warn!(path = %path.display(), kept = good_len, "truncating a torn tail of the metadata log");
            file.set_len(good_len)?;
        }
        let vote = read_json(files, &dir.join(VOTE_FILE))?;
        let committed = read_json(files, &dir.join(COMMITTED_FILE))?;
        let inner = LogInner { files: files.clone(), dir, file, file_len: good_len, entries, last_purged, vote, committed, ops_in_file: ops };
        Ok(LogStore { inner: Arc::new(Mutex::new(inner)) })
    }
}

impl LogStore {
    /// The committed log index recorded before the last stop.
    pub fn committed_index(&self) -> Option<u64> {
        self.inner.lock().committed.map(|c| c.index)
    }
}

impl LogInner {
    fn write_ops(&mut self, ops: &[LogOp]) -> io::Result<()> {
        let mut buf = Vec::new();
        for op in ops {
            serde_json::to_writer(&mut buf, op).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        self.file.write_at(&buf, self.file_len)?;
        self.file.sync()?;
        self.file_len += buf.len() as u64;
        self.ops_in_file += ops.len();
        Ok(())
    }

    /// Rewrites the file with only what is live, when purges have left it mostly dead.
    fn compact_file(&mut self) -> io::Result<()> {
        if self.ops_in_file < 2 * self.entries.len() + 1000 {
            return Ok(());
        }
        let path = self.dir.join(LOG_FILE);
        let mut buf = Vec::new();
        let mut ops = 0;
        if let Some(p) = self.last_purged {
            serde_json::to_writer(&mut buf, &LogOp::Purge(p)).map_err(io::Error::other)?;
            buf.push(b'\n');
            ops += 1;
        }
        for e in self.entries.values() {
            serde_json::to_writer(&mut buf, &LogOp::Append(e.clone())).map_err(io::Error::other)?;
            buf.push(b'\n');
            ops += 1;
        }
        storage::write_atomically(&self.files, &path, &buf)?;
        self.file = StorageFile::open(&self.files, &path, OpenMode::ReadWrite)?;
        self.file_len = buf.len() as u64;
        self.ops_in_file = ops;
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(&mut self, range: RB) -> Result<Vec<Entry<TypeConfig>>, SErr> {
        Ok(self.inner.lock().entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, SErr> {
        let inner = self.inner.lock();
        let last = inner.entries.values().next_back().map(|e| e.log_id).or(inner.last_purged);
        Ok(LogState { last_purged_log_id: inner.last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), SErr> {
        let mut inner = self.inner.lock();
        write_json(&inner.files, &inner.dir.join(VOTE_FILE), vote).map_err(|e| StorageIOError::write_vote(&e))?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, SErr> {
        Ok(self.inner.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), SErr> {
        let mut inner = self.inner.lock();
        write_json(&inner.files, &inner.dir.join(COMMITTED_FILE), &committed).map_err(|e| StorageIOError::write(&e))?;
        inner.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, SErr> {
        Ok(self.inner.lock().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.inner.lock();
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let ops: Vec<LogOp> = entries.iter().cloned().map(LogOp::Append).collect();
        let result = inner.write_ops(&ops);
        if result.is_ok() {
            for e in entries {
                inner.entries.insert(e.log_id.index, e);
            }
        }
        let err = result.as_ref().err().map(|e| StorageIOError::write_logs(e).into());
        callback.log_io_completed(result);
        match err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), SErr> {
        let mut inner = self.inner.lock();
        inner.write_ops(&[LogOp::Truncate(log_id.index)]).map_err(|e| StorageIOError::write_logs(&e))?;
        inner.entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), SErr> {
        let mut inner = self.inner.lock();
        inner.write_ops(&[LogOp::Purge(log_id)]).map_err(|e| StorageIOError::write_logs(&e))?;
        inner.entries = inner.entries.split_off(&(log_id.index + 1));
        inner.last_purged = Some(log_id);
        inner.compact_file().map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}

/// What a snapshot holds: the image and where it was taken.
#[derive(Serialize, Deserialize, Clone)]
struct SnapshotData {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    image: MetadataImage,
}

#[derive(Serialize, Deserialize, Clone)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

struct SmState {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    image: MetadataImage,
    snapshot: Option<StoredSnapshot>,
}

/// The metadata state machine: applies committed records to the image.
#[derive(Clone)]
pub struct StateMachine {
    files: SharedStorage,
    dir: PathBuf,
    state: Arc<Mutex<SmState>>,
    image_tx: Arc<watch::Sender<Arc<MetadataImage>>>,
}

impl StateMachine {
    /// Opens the state machine from its last snapshot (records after it are applied
    /// again by openraft from the log).
    pub fn open(files: &SharedStorage, log_dir: &Path) -> io::Result<(StateMachine, watch::Receiver<Arc<MetadataImage>>)> {
        let dir = log_dir.join(METADATA_DIR);
        files.create_dir_all(&dir)?;
        let snapshot: Option<StoredSnapshot> = read_json(files, &dir.join(SNAPSHOT_FILE))?;
        let mut state = SmState { last_applied: None, membership: StoredMembership::default(), image: MetadataImage::default(), snapshot: None };
        if let Some(s) = snapshot {
            let data: SnapshotData = serde_json::from_slice(&s.data).map_err(io::Error::other)?;
            state.last_applied = data.last_applied;
            state.membership = data.membership;
            state.image = data.image;
            state.snapshot = Some(s);
        }
        let (tx, rx) = watch::channel(Arc::new(state.image.clone()));
        Ok((StateMachine { files: files.clone(), dir, state: Arc::new(Mutex::new(state)), image_tx: Arc::new(tx) }, rx))
    }

    /// The index of the last record applied to the image.
    pub fn last_applied_index(&self) -> Option<u64> {
        self.state.lock().last_applied.map(|l| l.index)
    }

    fn publish(&self, image: &MetadataImage) {
        self.image_tx.send_replace(Arc::new(image.clone()));
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SErr> {
        let mut st = self.state.lock();
        let data = SnapshotData { last_applied: st.last_applied, membership: st.membership.clone(), image: st.image.clone() };
        let bytes = serde_json::to_vec(&data).map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let id = st.last_applied.map_or("0-0".to_string(), |l| format!("{}-{}", l.leader_id.term, l.index));
        let meta = SnapshotMeta { last_log_id: st.last_applied, last_membership: st.membership.clone(), snapshot_id: id };
        let stored = StoredSnapshot { meta: meta.clone(), data: bytes.clone() };
        write_json(&self.files, &self.dir.join(SNAPSHOT_FILE), &stored).map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        st.snapshot = Some(stored);
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), SErr> {
        let st = self.state.lock();
        Ok((st.last_applied, st.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut st = self.state.lock();
        let mut out = Vec::new();
        let mut changed = false;
        for e in entries {
            st.last_applied = Some(e.log_id);
            match e.payload {
                EntryPayload::Blank => out.push(CommandResult::ok()),
                EntryPayload::Normal(cmd) => {
                    let r = st.image.apply(&cmd);
                    if !r.is_ok() {
                        tracing::debug!(?cmd, code = r.error_code, message = ?r.message, "metadata record refused");
                    }
                    changed = true;
                    out.push(r);
                }
                EntryPayload::Membership(m) => {
                    st.membership = StoredMembership::new(Some(e.log_id), m);
                    out.push(CommandResult::ok());
                }
            }
        }
        if changed {
            self.publish(&st.image);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, SErr> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta<NodeId, BasicNode>, snapshot: Box<Cursor<Vec<u8>>>) -> Result<(), SErr> {
        let bytes = snapshot.into_inner();
        let data: SnapshotData = serde_json::from_slice(&bytes).map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let stored = StoredSnapshot { meta: meta.clone(), data: bytes };
        write_json(&self.files, &self.dir.join(SNAPSHOT_FILE), &stored).map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        let mut st = self.state.lock();
        st.last_applied = meta.last_log_id;
        st.membership = meta.last_membership.clone();
        st.image = data.image;
        st.snapshot = Some(stored);
        self.publish(&st.image);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, SErr> {
        let st = self.state.lock();
        Ok(st.snapshot.as_ref().map(|s| Snapshot { meta: s.meta.clone(), snapshot: Box::new(Cursor::new(s.data.clone())) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_file(dir: &Path) -> PathBuf {
        dir.join(METADATA_DIR).join(LOG_FILE)
    }

    /// Only a torn last line is dropped; a file that cannot be read, or that is not text,
    /// is an error and is left as it is (its entries were acknowledged to the quorum).
    #[test]
    fn only_a_torn_tail_of_the_raft_log_is_ever_cut() {
        let files = crate::storage::local();
        let dir = tempfile::tempdir().unwrap();
        let path = log_file(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();

        std::fs::write(&path, b"{\"Truncate\":5}\n{\"Trunc").unwrap();
        drop(LogStore::open(&files, dir.path()).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"Truncate\":5}\n", "the torn line is dropped");

        let not_text = b"{\"Truncate\":5}\n\xff\xfe\n".to_vec();
        std::fs::write(&path, &not_text).unwrap();
        assert!(LogStore::open(&files, dir.path()).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), not_text, "left untouched");

        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(LogStore::open(&files, dir.path()).is_err(), "an unreadable log is an error, not an empty one");
    }
}
