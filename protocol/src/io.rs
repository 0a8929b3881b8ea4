//! Reading and writing frames on async byte streams (QUIC streams in
//! practice). The only I/O in this crate, behind the `tokio-io` feature: a
//! thin driver over [`crate::frame`].

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::frame::{self, FrameError, VARINT_BYTES_MAX};

/// Why reading a frame failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadFrameError {
    /// The frame itself was refused.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The stream failed underneath.
    #[error("stream error: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame body from `stream`, refusing a length over `limit_bytes`
/// before allocating anything for it.
pub async fn read_frame<R: AsyncRead + Unpin>(
    stream: &mut R,
    limit_bytes: u32,
) -> Result<Vec<u8>, ReadFrameError> {
    let mut prefix = [0u8; VARINT_BYTES_MAX];
    let mut prefix_len = 0;
    let header = loop {
        let mut byte = [0u8; 1];
        let read = stream.read(&mut byte).await?;
        if read == 0 {
            return Err(if prefix_len == 0 {
                FrameError::Empty
            } else {
                FrameError::Truncated {
                    received_bytes: prefix_len as u64,
                    expected_bytes: prefix_len as u64 + 1,
                }
            }
            .into());
        }
        prefix[prefix_len] = byte[0];
        prefix_len += 1;
        if let Some(header) = frame::decode_header(&prefix[..prefix_len], limit_bytes)? {
            break header;
        }
    };
    let mut body = vec![0u8; header.body_bytes as usize];
    let mut filled = 0;
    while filled < body.len() {
        let read = stream.read(&mut body[filled..]).await?;
        if read == 0 {
            return Err(FrameError::Truncated {
                received_bytes: filled as u64,
                expected_bytes: u64::from(header.body_bytes),
            }
            .into());
        }
        filled += read;
    }
    Ok(body)
}

/// Writes `message` as one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    stream: &mut W,
    message: &impl prost::Message,
) -> std::io::Result<()> {
    stream.write_all(&frame::encode(message)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;

    #[tokio::test]
    async fn reads_a_frame_and_refuses_oversize_and_truncated_ones() {
        let status = pb::Status {
            message: "hi".into(),
            ..Default::default()
        };
        let bytes = frame::encode(&status);
        let body = read_frame(&mut bytes.as_slice(), 100).await.unwrap();
        assert_eq!(body, bytes[1..]);

        let big = frame::encode_raw(&[0u8; 200]);
        assert!(matches!(
            read_frame(&mut big.as_slice(), 100).await,
            Err(ReadFrameError::Frame(FrameError::TooLarge { .. }))
        ));
        assert!(matches!(
            read_frame(&mut &bytes[..3], 100).await,
            Err(ReadFrameError::Frame(FrameError::Truncated { .. }))
        ));
        assert!(matches!(
            read_frame(&mut &[][..], 100).await,
            Err(ReadFrameError::Frame(FrameError::Empty))
        ));
    }
}
