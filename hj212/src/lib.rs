//! HJ 212-2017 packets, as online monitors in China send them over TCP
//! (《污染物在线监控（监测）系统数据传输标准》): framing and CRC
//! ([`frame`], [`crc`]), the data segment ([`segment`]), command
//! parameters and real-time readings ([`cp`]), the server's answers
//! ([`reply`]) and monitors' uploads ([`upload`]). Implemented from the
//! standard's text and tested against its worked examples. No I/O.

// No panics on what a monitor sent (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cp;
pub mod crc;
pub mod frame;
pub mod reply;
pub mod segment;
pub mod time;
pub mod upload;

pub use cp::{real_time_data, CpError, DataFlag, Reading, RealTimeData};
pub use frame::{encode_frame, split_frame, FrameError, Framed, RawPacket, SEGMENT_LEN_MAX};
pub use reply::{data_answer, request_answer, QnRtn};
pub use segment::{DataSegment, Flag, SegmentError};
pub use upload::{real_time_packet, MonitorIdentity};

/// Command codes this crate gives meaning to (表 B.5).
pub mod cn {
    /// Real-time data upload.
    pub const REAL_TIME_DATA: &str = "2011";
    /// Request answer.
    pub const REQUEST_ANSWER: &str = "9011";
    /// Data answer.
    pub const DATA_ANSWER: &str = "9014";
}

/// Why a framed packet is refused. Unlike a [`FrameError`], the stream is
/// still in step after one of these: the server answers and reads on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The declared CRC is not the data segment's.
    #[error("CRC {declared:04X} declared, {computed:04X} computed")]
    CrcMismatch {
        /// What the packet declared.
        declared: u16,
        /// What its data segment hashes to.
        computed: u16,
        /// The packet's QN, when its segment could be read.
        qn: Option<String>,
        /// The packet's MN, when its segment could be read.
        mn: Option<String>,
    },
    /// The data segment is malformed.
    #[error("data segment: {0}")]
    Segment(#[from] SegmentError),
}

impl PacketError {
    /// The standard's refusal code.
    pub fn qn_rtn(&self) -> QnRtn {
        match self {
            Self::CrcMismatch { .. } => QnRtn::CrcError,
            Self::Segment(error) => error.qn_rtn(),
        }
    }

    /// The QN and MN to name in the refusal, when they were readable.
    pub fn qn_and_mn(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Self::CrcMismatch { qn, mn, .. } => (qn.as_deref(), mn.as_deref()),
            Self::Segment(error) => (error.qn.as_deref(), error.mn.as_deref()),
        }
    }
}

/// Checks a framed packet's CRC and reads its data segment.
pub fn decode(packet: &RawPacket<'_>) -> Result<DataSegment, PacketError> {
    let parsed = DataSegment::parse(packet.segment);
    if !packet.crc_matches() {
        let (qn, mn) = match &parsed {
            Ok(segment) => (
                (!segment.qn.is_empty()).then(|| segment.qn.clone()),
                Some(segment.mn.clone()),
            ),
            Err(error) => (error.qn.clone(), error.mn.clone()),
        };
        return Err(PacketError::CrcMismatch {
            declared: packet.declared_crc,
            computed: crc::crc16(packet.segment),
            qn,
            mn,
        });
    }
    Ok(parsed?)
}
