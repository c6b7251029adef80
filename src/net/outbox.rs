//! The write side of a connection: response frames queued in order and written with
//! writev(2) for encoded bytes and sendfile(2) for segment-file ranges, so fetched
//! records go from the page cache to the socket without a copy in the broker.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;

use bytes::Buf;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::response::{Chunk, ResponseFrame};

/// Most iovecs handed to one writev.
const MAX_IOVECS: usize = 64;

#[derive(Default)]
pub struct Outbox {
    queue: VecDeque<Chunk>,
    /// Encoded (in-memory) bytes queued: what the queue costs in memory.
    buffered: usize,
}

impl Outbox {
    pub fn push(&mut self, frame: ResponseFrame) {
        for c in frame.chunks {
            // An empty chunk would make a write of zero bytes look like a failure.
            match &c {
                Chunk::Bytes(b) if b.is_empty() => continue,
                Chunk::File(f) if f.is_empty() => continue,
                Chunk::Bytes(b) => self.buffered += b.len(),
                Chunk::File(_) => {}
            }
            self.queue.push_back(c);
        }
    }

    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Writes everything queued. While file ranges are among it, the socket is corked,
    /// so that the small encoded pieces between them ride in full segments instead of
    /// going out (and being received) as packets of their own.
    pub async fn flush(&mut self, stream: &TcpStream) -> io::Result<()> {
        let cork = self.queue.iter().any(|c| matches!(c, Chunk::File(_)));
        if cork {
            set_cork(stream, true)?;
        }
        let result = self.write_all(stream).await;
        if cork {
            // Uncorking sends what is still held back.
            set_cork(stream, false)?;
        }
        result
    }

    async fn write_all(&mut self, stream: &TcpStream) -> io::Result<()> {
        while let Some(front) = self.queue.front() {
            let written = match front {
                Chunk::Bytes(_) => {
                    let slices: Vec<IoSlice<'_>> = self
                        .queue
                        .iter()
                        .map_while(|c| match c {
                            Chunk::Bytes(b) => Some(IoSlice::new(b)),
                            Chunk::File(_) => None,
                        })
                        .take(MAX_IOVECS)
                        .collect();
                    stream.try_write_vectored(&slices)
                }
                Chunk::File(slice) => {
                    let Some((file, position, len)) = slice.parts() else {
                        self.queue.pop_front();
                        continue;
                    };
                    stream.try_io(Interest::WRITABLE, || send_file(stream.as_raw_fd(), file.as_raw_fd(), position, len))
                }
            };
            match written {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote nothing: the segment file shrank or the peer is gone")),
                Ok(n) => self.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Takes everything queued as bytes, file ranges read into memory: for transports
    /// that cannot send from a file descriptor (TLS).
    pub fn drain_copied(&mut self) -> io::Result<Vec<bytes::Bytes>> {
        self.buffered = 0;
        self.queue
            .drain(..)
            .map(|c| match c {
                Chunk::Bytes(b) => Ok(b),
                Chunk::File(f) => f.to_bytes(),
            })
            .collect()
    }

    /// Drops `n` written bytes from the front of the queue.
    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.queue.front_mut() else { return };
            let (len, advance) = match front {
                Chunk::Bytes(b) => (b.len(), n.min(b.len())),
                Chunk::File(f) => (f.len(), n.min(f.len())),
            };
            match front {
                Chunk::Bytes(b) => {
                    b.advance(advance);
                    self.buffered -= advance;
                }
                Chunk::File(f) => f.advance(advance),
            }
            n -= advance;
            if advance == len {
                self.queue.pop_front();
            }
        }
    }
}

fn set_cork(stream: &TcpStream, on: bool) -> io::Result<()> {
    let value: libc::c_int = on.into();
    // SAFETY: a valid socket descriptor and a c_int option value of the size given.
    let r = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn send_file(socket: i32, file: i32, position: u64, len: usize) -> io::Result<usize> {
    let mut offset = position as libc::off_t;
    // SAFETY: both descriptors are open for the duration of the call (the caller holds
    // the socket and an Arc of the file); sendfile only reads `offset`.
    let n = unsafe { libc::sendfile(socket, file, &mut offset, len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
