//! The Storage seam: every file the broker writes — segments and their indexes, producer
//! snapshots, checkpoints, topic metadata, the metadata quorum's store — is opened,
//! written, synced, truncated, renamed and removed through one narrow interface, so that
//! tests can put a [`FaultyStorage`] underneath and inject torn writes, lost unsynced
//! data and full disks.
//!
//! Reads keep the raw descriptor: a [`StorageFile`] hands out its `File` for `pread`,
//! `mmap` and `sendfile`, so the fetch path is untouched by the seam.

pub mod faulty;
pub mod local;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use faulty::FaultyStorage;
pub use local::LocalStorage;

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read-only; the file must exist.
    Read,
    /// Read and write an existing file.
    ReadWrite,
    /// Read and write, created if missing, emptied if present.
    CreateTruncate,
    /// Read and write, created if missing, kept if present.
    Create,
}

/// The file operations of the broker. Paths are full paths; implementations must be
/// usable from any thread.
pub trait Storage: Send + Sync + std::fmt::Debug {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<File>;
    /// Writes all of `buf` at `offset` of `file` (opened from `path`).
    fn write_at(&self, file: &File, path: &Path, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes what was written to `file` durable (fdatasync).
    fn sync(&self, file: &File, path: &Path) -> io::Result<()>;
    fn set_len(&self, file: &File, path: &Path, len: u64) -> io::Result<()>;
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    fn len(&self, path: &Path) -> io::Result<u64>;
    /// Last modification, in milliseconds since the epoch.
    fn modified_ms(&self, path: &Path) -> io::Result<i64>;
    /// The paths of a directory's entries.
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn remove_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Makes a directory's entries (creations, renames) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

pub type SharedStorage = Arc<dyn Storage>;

/// The local file system, shared.
pub fn local() -> SharedStorage {
    static LOCAL: std::sync::OnceLock<SharedStorage> = std::sync::OnceLock::new();
    LOCAL.get_or_init(|| Arc::new(LocalStorage)).clone()
}

/// An open file and the storage it goes through.
#[derive(Debug, Clone)]
pub struct StorageFile {
    file: Arc<File>,
    path: PathBuf,
    storage: SharedStorage,
}

impl StorageFile {
    pub fn open(storage: &SharedStorage, path: &Path, mode: OpenMode) -> io::Result<Self> {
        let file = storage.open(path, mode)?;
        Ok(StorageFile { file: Arc::new(file), path: path.to_path_buf(), storage: storage.clone() })
    }

    /// The descriptor, for reads: `pread`, `mmap`, `sendfile`.
    pub fn raw(&self) -> &Arc<File> {
        &self.file
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.storage.write_at(&self.file, &self.path, buf, offset)
    }

    pub fn sync(&self) -> io::Result<()> {
        self.storage.sync(&self.file, &self.path)
    }

    pub fn set_len(&self, len: u64) -> io::Result<()> {
        self.storage.set_len(&self.file, &self.path, len)
    }

    pub fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Writes a whole file (not atomically: for a temporary file renamed afterwards).
pub fn write_file(storage: &SharedStorage, path: &Path, content: &[u8], sync: bool) -> io::Result<()> {
    let f = StorageFile::open(storage, path, OpenMode::CreateTruncate)?;
    f.write_at(content, 0)?;
    if sync {
        f.sync()?;
    }
    Ok(())
}

/// Writes a small file so that readers see either the old or the new content: temp
/// file, fsync, rename, fsync of the directory.
pub fn write_atomically(storage: &SharedStorage, path: &Path, content: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    write_file(storage, &tmp, content, true)?;
    storage.rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        storage.sync_dir(parent)?;
    }
    Ok(())
}

/// Reads a file as UTF-8 text.
pub fn read_to_string(storage: &SharedStorage, path: &Path) -> io::Result<String> {
    String::from_utf8(storage.read(path)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Removes a file; a file that is already gone is not an error.
pub fn remove_if_exists(storage: &SharedStorage, path: &Path) -> io::Result<()> {
    match storage.remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Sequential writes into a [`StorageFile`] from its start (wrap in a `BufWriter`).
#[derive(Debug)]
pub struct StorageWriter {
    file: StorageFile,
    position: u64,
}

impl StorageWriter {
    pub fn new(file: StorageFile) -> Self {
        StorageWriter { file, position: 0 }
    }

    pub fn file(&self) -> &StorageFile {
        &self.file
    }
}

impl io::Write for StorageWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write_at(buf, self.position)?;
        self.position += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
