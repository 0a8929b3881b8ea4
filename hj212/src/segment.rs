//! The data segment (HJ 212-2017 §6.3.2, 表 3): `QN=…;ST=…;CN=…;PW=…;MN=…;
//! Flag=…;[PNUM=…;PNO=…;]CP=&&…&&`, CP always last.

use crate::reply::QnRtn;
use crate::time::{parse_local_time, TimeFormat};

/// The standard version bits of Flag (V5–V0) for HJ 212-2017.
pub const VERSION_2017: u8 = 1;

/// Why a data segment is refused, with the request number when it could
/// be read, so that the refusal can name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SegmentError {
    /// The field at fault (`QN`, `ST`, `CN`, `PW`, `MN`, `Flag`, `PNUM`, `PNO`, `CP`, or `segment`).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
    /// The packet's QN, if it was readable.
    pub qn: Option<String>,
    /// The packet's MN, if it was readable.
    pub mn: Option<String>,
}

impl SegmentError {
    /// The standard's refusal code for this fault (表 B.4 QnRtn).
    pub fn qn_rtn(&self) -> QnRtn {
        match self.field {
            "QN" => QnRtn::QnError,
            "ST" => QnRtn::StError,
            "CN" => QnRtn::CnError,
            "PW" => QnRtn::PwError,
            "MN" => QnRtn::MnError,
            "Flag" | "PNUM" | "PNO" => QnRtn::FlagError,
            _ => QnRtn::Rejected,
        }
    }
}

/// Flag (§6.3.2): the standard version, whether the packet is one of
/// several (D) and whether it wants an answer (A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub u8);

impl Flag {
    /// A: the sender wants an answer.
    pub fn wants_answer(self) -> bool {
        self.0 & 0b01 != 0
    }

    /// D: the packet carries PNUM and PNO.
    pub fn is_split(self) -> bool {
        self.0 & 0b10 != 0
    }

    /// V5–V0: 0 for HJ/T 212-2005, 1 for HJ 212-2017.
    pub fn version(self) -> u8 {
        self.0 >> 2
    }
}

/// A parsed data segment, borrowing nothing: what the server keeps in
/// memory after the packet's bytes are stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSegment {
    /// Request number: its time, `YYYYMMDDhhmmsszzz` (empty when absent).
    pub qn: String,
    /// System code (two digits: 22 air quality, 31 air pollution source, …).
    pub st: String,
    /// Command code (2011 real-time data, 9014 data answer, …).
    pub cn: String,
    /// Access password.
    pub pw: String,
    /// The monitor's unique code.
    pub mn: String,
    /// Flag.
    pub flag: Flag,
    /// Total packets and this packet's number, when split.
    pub split: Option<(u16, u16)>,
    /// The command parameters between `CP=&&` and the closing `&&`.
    pub cp: String,
}

impl DataSegment {
    /// Reads a data segment. The fields must come in the standard's order;
    /// QN may be left out (uploads that want no answer need none), PNUM and
    /// PNO appear exactly when Flag says the packet is split.
    pub fn parse(segment: &[u8]) -> Result<Self, SegmentError> {
        Self::parse_strict(segment).map_err(|mut error| {
            // The refusal must name the monitor: find its MN even in a
            // segment whose fields are out of place.
            if error.mn.is_none() {
                error.mn = std::str::from_utf8(segment).ok().and_then(find_mn);
            }
            error
        })
    }

    fn parse_strict(segment: &[u8]) -> Result<Self, SegmentError> {
        let text = std::str::from_utf8(segment)
            .ok()
            .filter(|text| text.bytes().all(|b| (0x20..0x7F).contains(&b)))
            .ok_or_else(|| fail("segment", "is not printable ASCII", None, None))?;
        let (head, cp) = match text.find("CP=") {
            Some(at) => (&text[..at], &text[at + 3..]),
            None => return Err(fail("CP", "is missing", None, None)),
        };
        let mut fields = head.split(';');
        if fields.next_back() != Some("") {
            return Err(fail("segment", "fields must end with ; before CP", None, None));
        }
        let mut fields = fields.map(|field| field.split_once('=').unwrap_or((field, "")));
        let mut next = fields.next();
        let mut qn = String::new();
        if let Some(("QN", value)) = next {
            check_qn(value).map_err(|reason| fail("QN", reason, None, None))?;
            qn = value.to_owned();
            next = fields.next();
        }
        let known_qn = (!qn.is_empty()).then(|| qn.clone());
        let take = |name: &'static str, current: Option<(&str, &str)>| -> Result<String, SegmentError> {
            match current {
                Some((key, value)) if key == name => Ok(value.to_owned()),
                Some((key, _)) => Err(fail(
                    name,
                    format!("expected here, found {key:?}"),
                    known_qn.clone(),
                    None,
                )),
                None => Err(fail(name, "is missing", known_qn.clone(), None)),
            }
        };
        let st = take("ST", next)?;
        let cn = take("CN", fields.next())?;
        let pw = take("PW", fields.next())?;
        let mn = take("MN", fields.next())?;
        let flag_text = take("Flag", fields.next())?;
        let with =
            |field: &'static str, reason: &str| fail(field, reason, known_qn.clone(), Some(mn.clone()));
        if !(1..=24).contains(&mn.len()) || !mn.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(fail(
                "MN",
                "must be 1 to 24 letters or digits",
                known_qn.clone(),
                None,
            ));
        }
        if st.len() != 2 || !st.bytes().all(|b| b.is_ascii_digit()) {
            return Err(with("ST", "must be two digits"));
        }
        if !(1..=7).contains(&cn.len()) || !cn.bytes().all(|b| b.is_ascii_digit()) {
            return Err(with("CN", "must be 1 to 7 digits"));
        }
        if pw.len() > 9 || !pw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(with("PW", "must be at most 9 letters or digits"));
        }
        let flag = flag_text
            .parse::<u8>()
            .ok()
            .filter(|_| !flag_text.starts_with('+'))
            .map(Flag)
            .ok_or_else(|| with("Flag", "must be a number from 0 to 255"))?;
        if flag.version() > VERSION_2017 {
            return Err(with("Flag", "names a standard version this server does not know"));
        }
        let split = if flag.is_split() {
            let total = packet_number(fields.next(), "PNUM").map_err(|reason| with("PNUM", reason))?;
            let number = packet_number(fields.next(), "PNO").map_err(|reason| with("PNO", reason))?;
            if number == 0 || number > total {
                return Err(with("PNO", "must be from 1 to PNUM"));
            }
            Some((total, number))
        } else {
            None
        };
        if let Some((key, _)) = fields.next() {
            return Err(with("segment", &format!("unexpected field {key:?}")));
        }
        if flag.wants_answer() && qn.is_empty() {
            return Err(with("QN", "is required when Flag asks for an answer"));
        }
        let cp = cp
            .strip_prefix("&&")
            .and_then(|rest| rest.strip_suffix("&&"))
            .filter(|inner| !inner.contains("&&"))
            .ok_or_else(|| with("CP", "must be &&…&& and end the segment"))?;
        Ok(Self {
            qn,
            st,
            cn,
            pw,
            mn,
            flag,
            split,
            cp: cp.to_owned(),
        })
    }

    /// Renders the segment as the standard writes it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.qn.is_empty() {
            out.push_str(&format!("QN={};", self.qn));
        }
        out.push_str(&format!(
            "ST={};CN={};PW={};MN={};Flag={};",
            self.st, self.cn, self.pw, self.mn, self.flag.0
        ));
        if let Some((total, number)) = self.split {
            out.push_str(&format!("PNUM={total:04};PNO={number:04};"));
        }
        out.push_str(&format!("CP=&&{}&&", self.cp));
        out
    }
}

fn fail(
    field: &'static str,
    reason: impl Into<String>,
    qn: Option<String>,
    mn: Option<String>,
) -> SegmentError {
    SegmentError {
        field,
        reason: reason.into(),
        qn,
        mn,
    }
}

/// A well-formed `MN=` field anywhere before CP, if there is one.
fn find_mn(text: &str) -> Option<String> {
    let head = &text[..text.find("CP=").unwrap_or(text.len())];
    head.split(';')
        .filter_map(|field| field.strip_prefix("MN="))
        .find(|mn| (1..=24).contains(&mn.len()) && mn.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(str::to_owned)
}

fn check_qn(value: &str) -> Result<(), &'static str> {
    parse_local_time(value, TimeFormat::WithMillis)
        .map(|_| ())
        .map_err(|_| "must be a time YYYYMMDDhhmmsszzz")
}

fn packet_number(field: Option<(&str, &str)>, name: &str) -> Result<u16, &'static str> {
    match field {
        Some((key, value)) if key == name => {
            if value.is_empty() || value.len() > 4 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err("must be up to four digits");
            }
            value.parse().map_err(|_| "must be up to four digits")
        }
        _ => Err("is required when Flag says the packet is split"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standards_example_segment() {
        let segment = DataSegment::parse(
            b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&",
        )
        .unwrap();
        assert_eq!(segment.qn, "20160801085857223");
        assert_eq!(segment.st, "32");
        assert_eq!(segment.cn, "1062");
        assert_eq!(segment.pw, "100000");
        assert_eq!(segment.mn, "010000A8900016F000169DC0");
        assert!(segment.flag.wants_answer());
        assert!(!segment.flag.is_split());
        assert_eq!(segment.flag.version(), 1);
        assert_eq!(segment.cp, "RtdInterval=30");
        assert_eq!(
            segment.render(),
            "QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"
        );
    }

    #[test]
    fn split_packets_carry_their_numbers() {
        let segment = DataSegment::parse(
            b"QN=20160801085857223;ST=31;CN=2011;PW=123456;MN=A1;Flag=7;PNUM=0002;PNO=0001;CP=&&&&",
        )
        .unwrap();
        assert_eq!(segment.split, Some((2, 1)));
        assert_eq!(segment.cp, "");
    }

    #[test]
    fn a_refusal_names_the_field_and_keeps_the_qn() {
        let error = DataSegment::parse(b"QN=20160801085857223;ST=3X;CN=2011;PW=123456;MN=A1;Flag=5;CP=&&&&")
            .unwrap_err();
        assert_eq!(error.field, "ST");
        assert_eq!(error.qn.as_deref(), Some("20160801085857223"));
        assert_eq!(error.mn.as_deref(), Some("A1"));
        assert_eq!(error.qn_rtn(), QnRtn::StError);
        let error = DataSegment::parse(b"QN=20160801085857223;CN=2011;ST=31;PW=123456;MN=A1;Flag=5;CP=&&&&")
            .unwrap_err();
        assert_eq!((error.field, error.mn.as_deref()), ("ST", Some("A1")));
    }
}
