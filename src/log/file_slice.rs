//! A byte range of a segment file: what a read of the log returns. Fetch hands it to the
//! socket with sendfile(2), so the records go from the page cache to the client without
//! passing through the broker's memory; other readers (the cleaner, the group
//! coordinator's load) copy it out with [`FileSlice::to_bytes`].

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

#[derive(Clone)]
pub struct FileSlice {
    file: Option<Arc<File>>,
    position: u64,
    len: usize,
}

impl FileSlice {
    pub fn empty() -> Self {
        FileSlice { file: None, position: 0, len: 0 }
    }

    pub fn new(file: Arc<File>, position: u64, len: usize) -> Self {
        FileSlice { file: Some(file), position, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The open file and the range, for sendfile.
    pub fn parts(&self) -> Option<(&File, u64, usize)> {
        self.file.as_deref().map(|f| (f, self.position, self.len))
    }

    /// Drops the first `n` bytes (after they were sent).
    pub fn advance(&mut self, n: usize) {
        let n = n.min(self.len);
        self.position += n as u64;
        self.len -= n;
    }

    /// Copies the range into memory (off the hot path).
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        let Some(file) = &self.file else {
            return Ok(Bytes::new());
        };
        let mut buf = BytesMut::zeroed(self.len);
        file.read_exact_at(&mut buf, self.position)?;
        Ok(buf.freeze())
    }
}

impl std::fmt::Debug for FileSlice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileSlice({}+{})", self.position, self.len)
    }
}
