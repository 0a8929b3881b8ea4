//! The sending half of a stream.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;

/// Why a write failed.
#[derive(Debug)]
pub enum WriteError {
    /// The peer asked us to stop sending (QUIC STOP_SENDING, or an HTTP/2
    /// RST_STREAM, which a server sends after answering early): its answer,
    /// if any, can still be read.
    Stopped(u64),
    /// The stream or the connection is gone.
    Lost(String),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Stopped(code) => write!(f, "the peer stopped the stream (code {code})"),
            WriteError::Lost(detail) => write!(f, "stream lost: {detail}"),
        }
    }
}

impl std::error::Error for WriteError {}

/// The sending half of a fieldlink stream.
#[derive(Debug)]
pub enum SendStream {
    /// A QUIC stream.
    Quic(quinn::SendStream),
    /// An HTTP/2 stream: a request body (terminal) or a response body (server).
    H2(h2::SendStream<Bytes>),
}

impl SendStream {
    /// Writes all of `bytes`, waiting for flow-control credit.
    pub async fn write_chunk(&mut self, bytes: Bytes) -> Result<(), WriteError> {
        match self {
            SendStream::Quic(stream) => stream.write_chunk(bytes).await.map_err(|error| match error {
                quinn::WriteError::Stopped(code) => WriteError::Stopped(code.into_inner()),
                other => WriteError::Lost(other.to_string()),
            }),
            SendStream::H2(stream) => {
                let mut rest = bytes;
                while !rest.is_empty() {
                    let credit = std::future::poll_fn(|cx| poll_credit(stream, rest.len(), cx)).await?;
                    let piece = rest.split_to(credit.min(rest.len()));
                    stream.send_data(piece, false).map_err(h2_write_error)?;
                }
                Ok(())
            }
        }
    }

    /// Ends the stream after what was written.
    pub fn finish(&mut self) -> Result<(), WriteError> {
        match self {
            SendStream::Quic(stream) => stream.finish().map_err(|e| WriteError::Lost(e.to_string())),
            SendStream::H2(stream) => stream.send_data(Bytes::new(), true).map_err(h2_write_error),
        }
    }

    /// Abandons the stream with `code`.
    pub fn reset(&mut self, code: u32) {
        match self {
            SendStream::Quic(stream) => {
                let _ = stream.reset(code.into());
            }
            SendStream::H2(stream) => stream.send_reset(h2::Reason::from(code)),
        }
    }

    /// Sets the stream's send priority (higher goes first). QUIC only:
    /// HTTP/2's priorities are deprecated (RFC 9113 §5.3) and h2 ignores them.
    pub fn set_priority(&self, priority: i32) {
        if let SendStream::Quic(stream) = self {
            let _ = stream.set_priority(priority);
        }
    }

    /// Waits until the peer has read the stream to its end or stopped it.
    /// Over HTTP/2 the connection's graceful close delivers what was
    /// written, so this returns at once.
    pub async fn stopped(&mut self) {
        if let SendStream::Quic(stream) = self {
            let _ = stream.stopped().await;
        }
    }
}

/// Send credit for up to `wanted` bytes on an HTTP/2 stream: at least one.
fn poll_credit(
    stream: &mut h2::SendStream<Bytes>,
    wanted: usize,
    cx: &mut Context<'_>,
) -> Poll<Result<usize, WriteError>> {
    loop {
        let credit = stream.capacity();
        if credit > 0 {
            return Poll::Ready(Ok(credit));
        }
        stream.reserve_capacity(wanted);
        match ready!(stream.poll_capacity(cx)) {
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Poll::Ready(Err(h2_write_error(error))),
            // No more credit will come: reset by the peer (it stopped us),
            // or gone with the connection.
            None => {
                return Poll::Ready(Err(match stream.poll_reset(cx) {
                    Poll::Ready(Ok(reason)) => WriteError::Stopped(u64::from(u32::from(reason))),
                    _ => WriteError::Lost("the stream is closed".into()),
                }))
            }
        }
    }
}

fn h2_write_error(error: h2::Error) -> WriteError {
    match error.reason() {
        // A reset of this stream (not of the connection): the peer stopped it.
        Some(reason) if error.is_reset() && !error.is_go_away() => {
            WriteError::Stopped(u64::from(u32::from(reason)))
        }
        _ => WriteError::Lost(error.to_string()),
    }
}

fn io_error(error: WriteError) -> io::Error {
    match error {
        WriteError::Stopped(_) => io::Error::new(io::ErrorKind::ConnectionReset, error.to_string()),
        WriteError::Lost(_) => io::Error::new(io::ErrorKind::BrokenPipe, error.to_string()),
    }
}

impl AsyncWrite for SendStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            SendStream::Quic(stream) => AsyncWrite::poll_write(Pin::new(stream), cx, buf),
            SendStream::H2(stream) => {
                if buf.is_empty() {
                    return Poll::Ready(Ok(0));
                }
                let credit = ready!(poll_credit(stream, buf.len(), cx)).map_err(io_error)?;
                let take = credit.min(buf.len());
                stream
                    .send_data(Bytes::copy_from_slice(&buf[..take]), false)
                    .map_err(|e| io_error(h2_write_error(e)))?;
                Poll::Ready(Ok(take))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SendStream::Quic(stream) => AsyncWrite::poll_flush(Pin::new(stream), cx),
            SendStream::H2(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SendStream::Quic(stream) => AsyncWrite::poll_shutdown(Pin::new(stream), cx),
            SendStream::H2(stream) => Poll::Ready(
                stream
                    .send_data(Bytes::new(), true)
                    .map_err(|e| io_error(h2_write_error(e))),
            ),
        }
    }
}
