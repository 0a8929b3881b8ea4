//! Packets a monitor sends, built from the standard's text: what the test
//! client, the simulator and the benchmark speak.

use crate::frame::encode_frame;
use crate::segment::{DataSegment, Flag, VERSION_2017};
use crate::time::{format_local_time, TimeFormat};

/// A monitor's identity on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorIdentity {
    /// System code (e.g. `31`, air pollution source).
    pub st: String,
    /// Unique code.
    pub mn: String,
    /// Access password.
    pub pw: String,
}

/// One value to report: pollutant code, value, data flag letter.
pub type Value<'a> = (&'a str, f64, char);

/// A real-time data packet (CN=2011) measured at `data_time_ms`, sent at
/// `sent_at_ms` (its QN), asking for an answer when `wants_answer`.
pub fn real_time_packet(
    monitor: &MonitorIdentity,
    sent_at_ms: i64,
    data_time_ms: i64,
    values: &[Value<'_>],
    wants_answer: bool,
) -> Vec<u8> {
    let mut cp = format!(
        "DataTime={}",
        format_local_time(data_time_ms, TimeFormat::Seconds)
    );
    for (code, value, flag) in values {
        cp.push_str(&format!(";{code}-Rtd={value},{code}-Flag={flag}"));
    }
    packet(monitor, "2011", sent_at_ms, cp, wants_answer)
}

/// Any packet with these parameters.
pub fn packet(
    monitor: &MonitorIdentity,
    cn: &str,
    sent_at_ms: i64,
    cp: String,
    wants_answer: bool,
) -> Vec<u8> {
    let segment = DataSegment {
        qn: format_local_time(sent_at_ms, TimeFormat::WithMillis),
        st: monitor.st.clone(),
        cn: cn.to_owned(),
        pw: monitor.pw.clone(),
        mn: monitor.mn.clone(),
        flag: Flag((VERSION_2017 << 2) | u8::from(wants_answer)),
        split: None,
        cp,
    };
    encode_frame(&segment.render()).unwrap_or_default()
}
