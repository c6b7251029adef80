//! A response frame as it goes to the socket: encoded bytes interleaved with ranges of
//! segment files. Fetch responses carry their records as file ranges, so records are
//! never copied into a per-request buffer: the connection sends them with sendfile(2).
//!
//! kafka-protocol encodes the whole response (no hand-written Fetch encoder). Each file
//! range stands in the message as a placeholder `Bytes` of the same length, pointing
//! into a reserved, never-touched, read-only memory region; [`SpliceBuf`] recognizes the
//! placeholder by its address when the encoder copies it in, and records a file chunk
//! there instead of copying.

use std::ops::Range;
use std::sync::OnceLock;

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::protocol::buf::ByteBufMut;

use crate::log::FileSlice;

/// One piece of a response frame.
#[derive(Debug, Clone)]
pub enum Chunk {
    Bytes(Bytes),
    File(FileSlice),
}

/// A whole response frame (length prefix included), in order.
#[derive(Debug, Default)]
pub struct ResponseFrame {
    pub chunks: Vec<Chunk>,
}

impl ResponseFrame {
    pub fn len(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| match c {
                Chunk::Bytes(b) => b.len(),
                Chunk::File(f) => f.len(),
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame as one buffer, reading file ranges into memory (tests and tools).
    pub fn to_bytes(&self) -> std::io::Result<Bytes> {
        let mut out = BytesMut::with_capacity(self.len());
        for c in &self.chunks {
            match c {
                Chunk::Bytes(b) => out.extend_from_slice(b),
                Chunk::File(f) => out.extend_from_slice(&f.to_bytes()?),
            }
        }
        Ok(out.freeze())
    }
}

impl From<BytesMut> for ResponseFrame {
    fn from(b: BytesMut) -> Self {
        ResponseFrame { chunks: vec![Chunk::Bytes(b.freeze())] }
    }
}

/// Address space for placeholders: reserved read-only and never read, so it costs no
/// memory. A response whose file ranges exceed it falls back to copying.
const PLACEHOLDER_SPACE: usize = 1 << 32;

struct Region(&'static [u8]);

fn placeholder_region() -> Option<&'static [u8]> {
    static REGION: OnceLock<Option<Region>> = OnceLock::new();
    REGION
        .get_or_init(|| {
            // SAFETY: a fresh private anonymous mapping; PROT_READ with MAP_NORESERVE
            // commits no memory. It is never unmapped, so the slice lives for 'static.
            unsafe {
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    PLACEHOLDER_SPACE,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                );
                if p == libc::MAP_FAILED {
                    tracing::warn!("could not reserve placeholder space; fetch will copy records");
                    None
                } else {
                    Some(Region(std::slice::from_raw_parts(p as *const u8, PLACEHOLDER_SPACE)))
                }
            }
        })
        .as_ref()
        .map(|r| r.0)
}

/// Placeholders for the file ranges of one response, handed out in order.
#[derive(Default)]
pub struct Placeholders {
    used: usize,
    slices: Vec<(usize, FileSlice)>,
}

impl Placeholders {
    /// Bytes to put in the message where `slice` goes: a placeholder when there is room,
    /// else the slice's contents (copied).
    pub fn stand_in(&mut self, slice: FileSlice) -> std::io::Result<Bytes> {
        if slice.is_empty() {
            return Ok(Bytes::new());
        }
        match placeholder_region() {
            Some(region) if self.used + slice.len() <= region.len() => {
                let at = self.used;
                self.used += slice.len();
                let len = slice.len();
                self.slices.push((at, slice));
                Ok(Bytes::from_static(&region[at..at + len]))
            }
            _ => slice.to_bytes(),
        }
    }

    fn take(&mut self, src: &[u8]) -> Option<FileSlice> {
        let region = placeholder_region()?;
        let at = (src.as_ptr() as usize).checked_sub(region.as_ptr() as usize)?;
        let i = self.slices.iter().position(|(start, s)| *start == at && s.len() == src.len())?;
        Some(self.slices.swap_remove(i).1)
    }
}

/// The buffer the response is encoded into: owned bytes plus file chunks spliced in
/// where the encoder wrote a placeholder.
pub struct SpliceBuf {
    owned: BytesMut,
    placeholders: Placeholders,
    /// Position in `owned` where each file chunk goes.
    spliced: Vec<(usize, FileSlice)>,
    spliced_len: usize,
}

impl SpliceBuf {
    pub fn new(capacity: usize, placeholders: Placeholders) -> Self {
        SpliceBuf { owned: BytesMut::with_capacity(capacity), placeholders, spliced: Vec::new(), spliced_len: 0 }
    }

    pub fn finish(self) -> ResponseFrame {
        let owned = self.owned.freeze();
        let mut chunks = Vec::with_capacity(2 * self.spliced.len() + 1);
        let mut from = 0;
        for (at, slice) in self.spliced {
            if at > from {
                chunks.push(Chunk::Bytes(owned.slice(from..at)));
            }
            chunks.push(Chunk::File(slice));
            from = at;
        }
        if owned.len() > from {
            chunks.push(Chunk::Bytes(owned.slice(from..)));
        }
        ResponseFrame { chunks }
    }

    /// Position in `owned` of a position in the encoded stream: less the file chunks
    /// that lie wholly before it.
    fn owned_position(&self, logical: usize) -> usize {
        let mut before = 0;
        for (at, s) in &self.spliced {
            if at + before + s.len() > logical {
                break;
            }
            before += s.len();
        }
        logical - before
    }
}

// SAFETY: every method delegates to the inner BytesMut, which upholds BufMut's contract.
unsafe impl BufMut for SpliceBuf {
    fn remaining_mut(&self) -> usize {
        self.owned.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        self.owned.advance_mut(cnt)
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.owned.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        match self.placeholders.take(src) {
            Some(slice) => {
                self.spliced_len += slice.len();
                self.spliced.push((self.owned.len(), slice));
            }
            None => self.owned.extend_from_slice(src),
        }
    }
}

impl ByteBufMut for SpliceBuf {
    fn offset(&self) -> usize {
        self.owned.len() + self.spliced_len
    }

    fn seek(&mut self, offset: usize) {
        let at = self.owned_position(offset);
        self.owned.resize(at, 0);
    }

    fn range(&mut self, r: Range<usize>) -> &mut [u8] {
        let start = self.owned_position(r.start);
        &mut self.owned[start..start + r.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::FetchResponse;
    use kafka_protocol::protocol::{Decodable, Encodable};

    fn file_with(contents: &[u8]) -> Arc<std::fs::File> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(contents).unwrap();
        Arc::new(f)
    }

    /// The spliced encoding is byte for byte the plain encoding, for every version.
    #[test]
    fn spliced_fetch_response_matches_plain_encoding() {
        let file = file_with(&(0..=255u8).cycle().take(10_000).collect::<Vec<_>>());
        let ranges = [(0u64, 1000usize), (5000, 0), (1234, 4321)];
        for version in 4..=18i16 {
            let mut placeholders = Placeholders::default();
            let mut spliced = FetchResponse::default();
            let mut plain = FetchResponse::default();
            for (i, &(pos, len)) in ranges.iter().enumerate() {
                let slice = FileSlice::new(file.clone(), pos, len);
                let mut pd = PartitionData::default();
                pd.partition_index = i as i32;
                pd.records = Some(placeholders.stand_in(slice.clone()).unwrap());
                let mut t = FetchableTopicResponse::default();
                t.topic = kafka_protocol::messages::TopicName(format!("t{i}").into());
                t.partitions.push(pd.clone());
                spliced.responses.push(t.clone());
                t.partitions[0].records = Some(slice.to_bytes().unwrap());
                plain.responses.push(t);
            }
            let mut buf = SpliceBuf::new(64, placeholders);
            spliced.encode(&mut buf, version).unwrap();
            let frame = buf.finish();
            assert_eq!(frame.chunks.iter().filter(|c| matches!(c, Chunk::File(_))).count(), 2, "v{version}");
            let mut expected = BytesMut::new();
            plain.encode(&mut expected, version).unwrap();
            let got = frame.to_bytes().unwrap();
            assert_eq!(got, expected.freeze(), "v{version}");
            let mut got = got;
            let decoded = FetchResponse::decode(&mut got, version).unwrap();
            assert_eq!(decoded.responses[2].partitions[0].records.as_ref().unwrap().len(), 4321);
        }
    }

    #[test]
    fn seek_and_range_address_the_encoded_stream() {
        let file = file_with(&[7u8; 100]);
        let mut placeholders = Placeholders::default();
        let stand_in = placeholders.stand_in(FileSlice::new(file, 0, 100)).unwrap();
        let mut buf = SpliceBuf::new(16, placeholders);
        buf.put_slice(b"ab");
        buf.put_slice(&stand_in);
        buf.put_slice(b"cd");
        assert_eq!(buf.offset(), 104);
        buf.range(102..104).copy_from_slice(b"xy");
        buf.range(0..1).copy_from_slice(b"z");
        let frame = buf.finish().to_bytes().unwrap();
        assert_eq!(&frame[..2], b"zb");
        assert_eq!(&frame[102..], b"xy");
    }
}
