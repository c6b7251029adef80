//! A storage that fails on purpose, for tests of what the broker does when the disk
//! misbehaves: a full disk (ENOSPC once a budget of bytes is spent), a torn write (only
//! a prefix of the next write reaches the file, then EIO), and a crash that loses what
//! was written but not synced (every file written through it falls back to its last
//! synced length). Not modelled: unsynced overwrites inside the synced length, and
//! unsynced renames and directory entries (they survive the crash).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use super::{LocalStorage, OpenMode, Storage};

#[derive(Debug, Default)]
struct Faults {
    /// Bytes that may still be written before writes fail with ENOSPC.
    space_left: Option<u64>,
    /// The next write stores only this many bytes of its buffer, then fails.
    tear_next_write: Option<usize>,
    /// Durable length of every file written through this storage.
    durable: HashMap<PathBuf, u64>,
}

#[derive(Debug, Default)]
pub struct FaultyStorage {
    inner: LocalStorage,
    faults: Mutex<Faults>,
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOSPC)
}

impl FaultyStorage {
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(FaultyStorage::default())
    }

    /// After `bytes` more bytes, every write fails as on a full disk.
    pub fn fill_disk_after(&self, bytes: u64) {
        self.faults.lock().space_left = Some(bytes);
    }

    /// The disk has room again.
    pub fn free_disk(&self) {
        self.faults.lock().space_left = None;
    }

    /// The next write stores only its first `bytes` bytes and fails.
    pub fn tear_next_write(&self, bytes: usize) {
        self.faults.lock().tear_next_write = Some(bytes);
    }

    /// A power loss: every file written through this storage is cut back to the length
    /// it had at its last sync (or when it was first written, if never synced). Files
    /// must not be used afterwards; reopen them, as a restarted broker would.
    pub fn lose_unsynced_data(&self) -> io::Result<()> {
        let durable = std::mem::take(&mut self.faults.lock().durable);
        for (path, len) in durable {
            match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(f) if f.metadata()?.len() > len => f.set_len(len)?,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Storage for FaultyStorage {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<File> {
        let f = self.inner.open(path, mode)?;
        if mode == OpenMode::CreateTruncate {
            self.faults.lock().durable.insert(path.to_path_buf(), 0);
        }
        Ok(f)
    }

    fn write_at(&self, file: &File, path: &Path, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut faults = self.faults.lock();
        if !faults.durable.contains_key(path) {
            // Until this write, the file held what it had when opened: that is durable.
            let len = file.metadata()?.len();
            faults.durable.insert(path.to_path_buf(), len);
        }
        if let Some(left) = faults.space_left.as_mut() {
            if (buf.len() as u64) > *left {
                return Err(enospc());
            }
            *left -= buf.len() as u64;
        }
        if let Some(keep) = faults.tear_next_write.take() {
            self.inner.write_at(file, path, &buf[..keep.min(buf.len())], offset)?;
            return Err(io::Error::other("injected torn write"));
        }
        self.inner.write_at(file, path, buf, offset)
    }

    fn sync(&self, file: &File, path: &Path) -> io::Result<()> {
        self.inner.sync(file, path)?;
        let len = file.metadata()?.len();
        self.faults.lock().durable.insert(path.to_path_buf(), len);
        Ok(())
    }

    fn set_len(&self, file: &File, path: &Path, len: u64) -> io::Result<()> {
        self.inner.set_len(file, path, len)?;
        // A truncation below the durable length is itself a change that can be lost;
        // treating the shorter length as durable is the conservative choice for tests.
        if let Some(d) = self.faults.lock().durable.get_mut(path) {
            *d = (*d).min(len);
        }
        Ok(())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        self.inner.len(path)
    }

    fn modified_ms(&self, path: &Path) -> io::Result<i64> {
        self.inner.modified_ms(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        self.inner.list(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)?;
        // A file, or a directory and every file below it.
        let mut faults = self.faults.lock();
        let moved: Vec<PathBuf> = faults.durable.keys().filter(|p| p.starts_with(from)).cloned().collect();
        for old in moved {
            let len = faults.durable.remove(&old).expect("listed above");
            let rest = old.strip_prefix(from).expect("filtered above");
            faults.durable.insert(if rest.as_os_str().is_empty() { to.to_path_buf() } else { to.join(rest) }, len);
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)?;
        self.faults.lock().durable.remove(path);
        Ok(())
    }

    fn remove_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.remove_dir_all(dir)?;
        self.faults.lock().durable.retain(|p, _| !p.starts_with(dir));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{SharedStorage, StorageFile};

    #[test]
    fn unsynced_bytes_are_lost_wherever_their_directory_moved() {
        let dir = tempfile::tempdir().unwrap();
        let faulty = FaultyStorage::new();
        let files: SharedStorage = faulty.clone();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        files.create_dir_all(&a).unwrap();
        let f = StorageFile::open(&files, &a.join("seg"), OpenMode::CreateTruncate).unwrap();
        f.write_at(b"synced", 0).unwrap();
        f.sync().unwrap();
        f.write_at(b"+lost", 6).unwrap();
        drop(f);
        files.rename(&a, &b).unwrap();
        faulty.lose_unsynced_data().unwrap();
        assert_eq!(std::fs::read(b.join("seg")).unwrap(), b"synced");
    }

    #[test]
    fn a_full_disk_refuses_the_write_that_does_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        let faulty = FaultyStorage::new();
        let files: SharedStorage = faulty.clone();
        let f = StorageFile::open(&files, &dir.path().join("x"), OpenMode::CreateTruncate).unwrap();
        faulty.fill_disk_after(4);
        f.write_at(b"1234", 0).unwrap();
        assert_eq!(f.write_at(b"5", 4).unwrap_err().raw_os_error(), Some(libc::ENOSPC));
        faulty.free_disk();
        f.write_at(b"5", 4).unwrap();
        assert_eq!(std::fs::read(dir.path().join("x")).unwrap(), b"12345");
    }
}
