//! Command parameters (CP, HJ 212-2017 §6.3.3): fields `key=value`, in
//! groups split by `;`, within a group split by `,`. Real-time data
//! (CN=2011) carries `DataTime` and, per pollutant code, `{code}-Rtd` (the
//! value) and `{code}-Flag` (the data flag, 表 B.3 数据标记).

use crate::time::{parse_local_time, TimeFormat};

/// Readings one packet may carry at most (a 1024-byte segment holds fewer).
pub const READINGS_MAX: usize = 64;

/// Why command parameters are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpError {
    /// A field is not `key=value` with a key of letters, digits and `-`.
    #[error("malformed field {0:?}")]
    MalformedField(String),
    /// `DataTime` is missing or not `YYYYMMDDhhmmss`.
    #[error("DataTime is missing or not YYYYMMDDhhmmss")]
    BadDataTime,
    /// A reading's value is not a finite number.
    #[error("{0}-Rtd is not a number")]
    BadValue(String),
    /// A data flag is not one of the standard's letters.
    #[error("{0}-Flag is not one of N F M S D C T B")]
    BadFlag(String),
    /// A field appears twice.
    #[error("{0} appears twice")]
    Duplicate(String),
    /// More readings than [`READINGS_MAX`].
    #[error("more than {READINGS_MAX} readings")]
    TooMany,
}

/// A data flag (表 B.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFlag {
    /// N: normal.
    Normal,
    /// F: the monitored source is stopped.
    Stopped,
    /// M: maintenance.
    Maintenance,
    /// S: entered by hand.
    Manual,
    /// D: instrument fault.
    Fault,
    /// C: calibration.
    Calibration,
    /// T: over the instrument's limit.
    OverRange,
    /// B: communication fault.
    CommunicationFault,
}

impl DataFlag {
    fn from_text(text: &str) -> Option<Self> {
        Some(match text {
            "N" => Self::Normal,
            "F" => Self::Stopped,
            "M" => Self::Maintenance,
            "S" => Self::Manual,
            "D" => Self::Fault,
            "C" => Self::Calibration,
            "T" => Self::OverRange,
            "B" => Self::CommunicationFault,
            _ => return None,
        })
    }

    /// Whether a value with this flag measures the source as it runs (only
    /// such values count towards an exceedance).
    pub fn is_valid_measurement(self) -> bool {
        matches!(self, Self::Normal | Self::OverRange)
    }
}

/// One pollutant's real-time reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Pollutant code (表 B.1/B.2, e.g. `a34041`), as the monitor sends it.
    pub code: String,
    /// The value (`-Rtd`), if sent.
    pub value: Option<f64>,
    /// The data flag (`-Flag`), if sent.
    pub flag: Option<DataFlag>,
}

/// The readings of one real-time data packet.
#[derive(Debug, Clone, PartialEq)]
pub struct RealTimeData {
    /// When measured (DataTime), ms since the Unix epoch.
    pub data_time_ms: i64,
    /// The readings, in the packet's order.
    pub readings: Vec<Reading>,
}

/// Splits CP into its fields, in order.
pub fn fields(cp: &str) -> Result<Vec<(&str, &str)>, CpError> {
    if cp.is_empty() {
        return Ok(Vec::new());
    }
    cp.split([';', ','])
        .map(|field| {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| CpError::MalformedField(field.to_owned()))?;
            let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !key_ok || value.contains(['=', '&']) {
                return Err(CpError::MalformedField(field.to_owned()));
            }
            Ok((key, value))
        })
        .collect()
}

/// Reads real-time data (CN=2011) parameters.
pub fn real_time_data(cp: &str) -> Result<RealTimeData, CpError> {
    let mut data_time_ms = None;
    let mut readings: Vec<Reading> = Vec::new();
    for (key, value) in fields(cp)? {
        if key == "DataTime" {
            if data_time_ms.is_some() {
                return Err(CpError::Duplicate(key.to_owned()));
            }
            data_time_ms =
                Some(parse_local_time(value, TimeFormat::Seconds).map_err(|_| CpError::BadDataTime)?);
            continue;
        }
        let Some((code, part)) = key.rsplit_once('-') else {
            continue; // other parameters (e.g. a monitor's own) are kept in the stored bytes only
        };
        let at = match readings.iter().position(|reading| reading.code == code) {
            Some(at) => at,
            None => {
                if readings.len() == READINGS_MAX {
                    return Err(CpError::TooMany);
                }
                readings.push(Reading {
                    code: code.to_owned(),
                    value: None,
                    flag: None,
                });
                readings.len() - 1
            }
        };
        let reading = &mut readings[at];
        match part {
            "Rtd" => {
                if reading.value.is_some() {
                    return Err(CpError::Duplicate(key.to_owned()));
                }
                let number = value
                    .parse::<f64>()
                    .ok()
                    .filter(|number| number.is_finite())
                    .ok_or_else(|| CpError::BadValue(code.to_owned()))?;
                reading.value = Some(number);
            }
            "Flag" => {
                if reading.flag.is_some() {
                    return Err(CpError::Duplicate(key.to_owned()));
                }
                reading.flag =
                    Some(DataFlag::from_text(value).ok_or_else(|| CpError::BadFlag(code.to_owned()))?);
            }
            _ => {}
        }
    }
    Ok(RealTimeData {
        data_time_ms: data_time_ms.ok_or(CpError::BadDataTime)?,
        readings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_time_data_as_the_standard_writes_it() {
        let data = real_time_data("DataTime=20160801084000;w01018-Rtd=166.9,w01018-Flag=N;a34041-Rtd=2.6,a34041-Flag=T;a01011-Rtd=1.2")
            .unwrap();
        assert_eq!(data.readings.len(), 3);
        assert_eq!(data.readings[0].code, "w01018");
        assert_eq!(data.readings[0].value, Some(166.9));
        assert_eq!(data.readings[1].flag, Some(DataFlag::OverRange));
        assert_eq!(data.readings[2].flag, None);
    }

    #[test]
    fn malformed_parameters_are_refused() {
        assert_eq!(real_time_data("w01018-Rtd=1"), Err(CpError::BadDataTime));
        assert_eq!(real_time_data("DataTime=2016"), Err(CpError::BadDataTime));
        assert!(matches!(
            real_time_data("DataTime=20160801084000;a-Rtd=x"),
            Err(CpError::BadValue(_))
        ));
        assert!(matches!(
            real_time_data("DataTime=20160801084000;a-Rtd=NaN"),
            Err(CpError::BadValue(_))
        ));
        assert!(matches!(
            real_time_data("DataTime=20160801084000;a-Flag=Q"),
            Err(CpError::BadFlag(_))
        ));
        assert!(matches!(
            real_time_data("DataTime=20160801084000;a-Rtd=1;a-Rtd=2"),
            Err(CpError::Duplicate(_))
        ));
        assert!(matches!(
            real_time_data("DataTime=20160801084000;junk"),
            Err(CpError::MalformedField(_))
        ));
    }
}
