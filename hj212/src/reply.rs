//! What a server sends back (HJ 212-2017 §6.6, 表 B.4): the data answer
//! (CN=9014) to an upload whose Flag asks for one, and the request answer
//! (CN=9011) with a QnRtn code when a packet is refused.

use crate::frame::encode_frame;
use crate::segment::{DataSegment, Flag};

/// The system code of interaction packets (91: 系统交互).
pub const ST_SYSTEM: &str = "91";

/// Request answer codes (QnRtn, 表 B.4 请求命令返回).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QnRtn {
    /// 1: ready to execute.
    Ready = 1,
    /// 2: request refused.
    Rejected = 2,
    /// 3: wrong PW.
    PwError = 3,
    /// 4: wrong MN.
    MnError = 4,
    /// 5: wrong ST.
    StError = 5,
    /// 6: wrong Flag.
    FlagError = 6,
    /// 7: wrong QN.
    QnError = 7,
    /// 8: wrong CN.
    CnError = 8,
    /// 9: CRC check failed.
    CrcError = 9,
    /// 100: unknown error.
    Unknown = 100,
}

/// The data answer (9014) to an upload: same QN, PW and MN.
pub fn data_answer(upload: &DataSegment) -> Vec<u8> {
    answer(&upload.qn, &upload.pw, &upload.mn, "9014", String::new())
}

/// The request answer (9011) refusing a packet with `code`.
pub fn request_answer(qn: &str, pw: &str, mn: &str, code: QnRtn) -> Vec<u8> {
    answer(qn, pw, mn, "9011", format!("QnRtn={}", code as u16))
}

fn answer(qn: &str, pw: &str, mn: &str, cn: &str, cp: String) -> Vec<u8> {
    let segment = DataSegment {
        qn: qn.to_owned(),
        st: ST_SYSTEM.to_owned(),
        cn: cn.to_owned(),
        pw: pw.to_owned(),
        mn: mn.to_owned(),
        flag: Flag(crate::segment::VERSION_2017 << 2),
        split: None,
        cp,
    };
    // A segment built from checked fields is far below the frame limit.
    encode_frame(&segment.render()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{split_frame, Framed, SEGMENT_LEN_MAX};

    #[test]
    fn answers_are_well_formed_packets() {
        let upload = DataSegment::parse(
            b"QN=20160801085857223;ST=22;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&DataTime=20160801085857;a34004-Rtd=12.3,a34004-Flag=N&&",
        )
        .unwrap();
        let bytes = data_answer(&upload);
        let Ok(Framed::Packet(packet)) = split_frame(&bytes, SEGMENT_LEN_MAX) else {
            panic!("answer is not a packet");
        };
        assert!(packet.crc_matches());
        assert_eq!(
            packet.segment,
            b"QN=20160801085857223;ST=91;CN=9014;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&"
        );
        let refusal = request_answer("20160801085857223", "123456", "A1", QnRtn::PwError);
        assert!(String::from_utf8(refusal)
            .unwrap()
            .contains(";CN=9011;PW=123456;MN=A1;Flag=4;CP=&&QnRtn=3&&"));
    }
}
