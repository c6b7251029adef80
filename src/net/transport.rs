//! The byte stream under a connection. The request loop works over any transport: a
//! plain TCP socket sends fetched file ranges with sendfile(2); any other stream (TLS
//! later, an in-memory pipe in tests) gets them copied through memory.

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::outbox::Outbox;

/// A connection's byte stream, split into the half requests are read from and the half
/// responses are written to.
pub trait Transport: Send + 'static {
    type Reader: AsyncRead + Unpin + Send + 'static;
    type Writer: ResponseWriter;
    fn split(self) -> (Self::Reader, Self::Writer);
}

/// Writes queued responses.
pub trait ResponseWriter: Send + 'static {
    fn flush<'a>(&'a mut self, outbox: &'a mut Outbox) -> impl Future<Output = io::Result<()>> + Send + 'a;
}

impl Transport for TcpStream {
    type Reader = OwnedReadHalf;
    type Writer = OwnedWriteHalf;

    fn split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let _ = self.set_nodelay(true);
        self.into_split()
    }
}

impl ResponseWriter for OwnedWriteHalf {
    fn flush<'a>(&'a mut self, outbox: &'a mut Outbox) -> impl Future<Output = io::Result<()>> + Send + 'a {
        let stream: &'a TcpStream = (*self).as_ref();
        outbox.flush(stream)
    }
}

/// Any other stream: file ranges are read into memory and written like the rest.
pub struct Copying<S>(pub S);

impl<S: AsyncRead + AsyncWrite + Send + 'static> Transport for Copying<S> {
    type Reader = ReadHalf<S>;
    type Writer = Copying<WriteHalf<S>>;

    fn split(self) -> (ReadHalf<S>, Copying<WriteHalf<S>>) {
        let (r, w) = tokio::io::split(self.0);
        (r, Copying(w))
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> ResponseWriter for Copying<W> {
    fn flush<'a>(&'a mut self, outbox: &'a mut Outbox) -> impl Future<Output = io::Result<()>> + Send + 'a {
        async move {
            for chunk in outbox.drain_copied()? {
                self.0.write_all(&chunk).await?;
            }
            self.0.flush().await
        }
    }
}
