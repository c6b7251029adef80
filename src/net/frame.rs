//! Length-prefixed frames: a big-endian i32 size, then that many bytes.

use bytes::{Bytes, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

#[derive(Debug, Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame length {0} is negative")]
    NegativeLength(i32),
    #[error("frame length {len} exceeds socket.request.max.bytes ({max})")]
    TooLarge { len: usize, max: usize },
    #[error("connection closed {got} bytes into a {len}-byte frame")]
    Truncated { len: usize, got: usize },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Growth step when reading a frame body: memory follows the bytes actually received,
/// not the size a peer claims.
const READ_CHUNK: usize = 1 << 20;

/// Reads one frame body. The length is checked before anything is allocated for it.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> Result<Bytes, FrameError> {
    let len = read_length(r, max).await?;
    read_body(r, len).await
}

/// Reads a frame's length prefix and checks it against `max`.
pub async fn read_length<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> Result<usize, FrameError> {
    let len = match r.read_i32().await {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    };
    if len < 0 {
        return Err(FrameError::NegativeLength(len));
    }
    let len = len as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len)
}

/// Reads a frame body of `len` bytes (already checked), growing memory only as bytes
/// arrive.
pub async fn read_body<R: AsyncRead + Unpin>(r: &mut R, len: usize) -> Result<Bytes, FrameError> {
    let mut buf = BytesMut::with_capacity(len.min(READ_CHUNK));
    while buf.len() < len {
        if buf.capacity() == buf.len() {
            buf.reserve((len - buf.len()).min(READ_CHUNK));
        }
        let want = len - buf.len();
        let n = (&mut *r).take(want as u64).read_buf(&mut buf).await?;
        if n == 0 {
            return Err(FrameError::Truncated { len, got: buf.len() });
        }
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_checks_and_rejects() {
        let mut ok: &[u8] = &[0, 0, 0, 3, 1, 2, 3];
        assert_eq!(&read_frame(&mut ok, 10).await.unwrap()[..], &[1, 2, 3]);
        let mut big: &[u8] = &[0, 0, 1, 0];
        assert!(matches!(read_frame(&mut big, 10).await, Err(FrameError::TooLarge { len: 256, .. })));
        let mut neg: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(matches!(read_frame(&mut neg, 10).await, Err(FrameError::NegativeLength(-1))));
        let mut short: &[u8] = &[0, 0, 0, 5, 1];
        assert!(matches!(read_frame(&mut short, 10).await, Err(FrameError::Truncated { len: 5, got: 1 })));
        let mut empty: &[u8] = &[];
        assert!(matches!(read_frame(&mut empty, 10).await, Err(FrameError::Closed)));
    }
}
