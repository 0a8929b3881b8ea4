//! EXIF capture time and GPS, compared with what the terminal declared.
//!
//! A disagreement is a flag for review, never a rejection: clocks drift and
//! GPS fixes wander, and a supervisor decides.

use std::io::Cursor;

use exif::{In, Reader, Tag, Value};
use fieldlink_protocol::inspection::Place;
use fieldlink_protocol::pb::EvidenceFlag;

/// What EXIF says.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ExifFacts {
    /// Whether EXIF data was found and parsed.
    pub readable: bool,
    /// DateTimeOriginal as ms since the Unix epoch.
    pub captured_at_ms: Option<i64>,
    /// GPS position (latitude, longitude) in degrees.
    pub position: Option<(f64, f64)>,
}

/// Thresholds beyond which a disagreement is flagged.
#[derive(Debug, Clone, Copy)]
pub struct Tolerances {
    /// Capture-time difference, ms (default 10 minutes).
    pub time_ms: i64,
    /// Distance, metres (default 500).
    pub distance_m: f64,
    /// UTC offset assumed for EXIF times without OffsetTimeOriginal, minutes
    /// (default +480, China Standard Time).
    pub default_utc_offset_minutes: i32,
}

/// Reads EXIF from a whole JPEG or PNG. Never fails: unreadable EXIF is a fact.
pub fn read(bytes: &[u8], default_utc_offset_minutes: i32) -> ExifFacts {
    match Reader::new().read_from_container(&mut Cursor::new(bytes)) {
        Ok(exif) => facts_of(&exif, default_utc_offset_minutes),
        Err(_) => ExifFacts::default(),
    }
}

/// Reads an EXIF block (TIFF structure) as the upload's validator kept it
/// from a JPEG's APP1 or a PNG's eXIf chunk.
pub fn read_tiff(tiff: &[u8], default_utc_offset_minutes: i32) -> ExifFacts {
    match Reader::new().read_raw(tiff.to_vec()) {
        Ok(exif) => facts_of(&exif, default_utc_offset_minutes),
        Err(_) => ExifFacts::default(),
    }
}

fn facts_of(exif: &exif::Exif, default_utc_offset_minutes: i32) -> ExifFacts {
    let captured_at_ms = exif
        .get_field(Tag::DateTimeOriginal, In::PRIMARY)
        .and_then(|field| match &field.value {
            Value::Ascii(parts) => parts.first().and_then(|p| exif::DateTime::from_ascii(p).ok()),
            _ => None,
        })
        .and_then(|mut time| {
            if let Some(Value::Ascii(parts)) = exif
                .get_field(Tag::OffsetTimeOriginal, In::PRIMARY)
                .map(|f| &f.value)
            {
                if let Some(offset) = parts.first() {
                    let _ = time.parse_offset(offset);
                }
            }
            let offset = time.offset.map(i32::from).unwrap_or(default_utc_offset_minutes);
            epoch_ms(&time, offset)
        });
    let coordinate = |value_tag: Tag, ref_tag: Tag, negative: &[u8]| -> Option<f64> {
        let Value::Rational(parts) = &exif.get_field(value_tag, In::PRIMARY)?.value else {
            return None;
        };
        if parts.len() < 3 || parts.iter().any(|r| r.denom == 0) {
            return None;
        }
        let degrees = parts[0].to_f64() + parts[1].to_f64() / 60.0 + parts[2].to_f64() / 3600.0;
        let sign = match &exif.get_field(ref_tag, In::PRIMARY)?.value {
            Value::Ascii(refs) if refs.first().is_some_and(|r| r.starts_with(negative)) => -1.0,
            _ => 1.0,
        };
        Some(sign * degrees).filter(|d| d.is_finite())
    };
    let position = coordinate(Tag::GPSLatitude, Tag::GPSLatitudeRef, b"S")
        .zip(coordinate(Tag::GPSLongitude, Tag::GPSLongitudeRef, b"W"))
        .filter(|(lat, lon)| lat.abs() <= 90.0 && lon.abs() <= 180.0);
    ExifFacts {
        readable: true,
        captured_at_ms,
        position,
    }
}

/// The review flags for a photo, given its EXIF and the declaration.
pub fn flags(
    facts: &ExifFacts,
    declared_at_ms: i64,
    declared_place: Option<&Place>,
    tolerances: &Tolerances,
) -> Vec<EvidenceFlag> {
    if !facts.readable {
        return vec![EvidenceFlag::ExifUnreadable];
    }
    let mut flags = Vec::new();
    match facts.captured_at_ms {
        None => flags.push(EvidenceFlag::ExifTimeMissing),
        Some(exif_ms) if (exif_ms - declared_at_ms).abs() > tolerances.time_ms => {
            flags.push(EvidenceFlag::ExifTimeMismatch)
        }
        Some(_) => {}
    }
    if let Some(place) = declared_place {
        match facts.position {
            None => flags.push(EvidenceFlag::ExifGpsMissing),
            Some((lat, lon))
                if distance_m(lat, lon, place.latitude, place.longitude) > tolerances.distance_m =>
            {
                flags.push(EvidenceFlag::ExifGpsMismatch)
            }
            Some(_) => {}
        }
    }
    flags
}

/// Great-circle distance in metres (haversine, mean Earth radius).
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const EARTH_RADIUS_M: f64 = 6_371_008.8;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().atan2((1.0 - a).sqrt())
}

fn epoch_ms(time: &exif::DateTime, offset_minutes: i32) -> Option<i64> {
    if !(1..=12).contains(&time.month)
        || !(1..=31).contains(&time.day)
        || time.hour > 23
        || time.minute > 59
        || time.second > 60
    {
        return None;
    }
    let days = days_from_civil(i64::from(time.year), i64::from(time.month), i64::from(time.day));
    let seconds =
        days * 86_400 + i64::from(time.hour) * 3600 + i64::from(time.minute) * 60 + i64::from(time.second)
            - i64::from(offset_minutes) * 60;
    Some(seconds * 1000 + i64::from(time.nanosecond.unwrap_or(0) / 1_000_000))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_convert_to_epoch_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 30), 20_787);
    }

    #[test]
    fn distances_are_in_metres() {
        let d = distance_m(29.8683, 121.5440, 29.8683, 121.5540);
        assert!((960.0..970.0).contains(&d), "{d}");
        assert!(distance_m(10.0, 10.0, 10.0, 10.0) < 0.001);
        // About a kilometre north (the console's nearest officers use it too).
        let north = distance_m(29.8683, 121.5440, 29.8773, 121.5440);
        assert!((990.0..1_010.0).contains(&north), "{north}");
    }

    #[test]
    fn flags_follow_the_tolerances() {
        let tolerances = Tolerances {
            time_ms: 600_000,
            distance_m: 500.0,
            default_utc_offset_minutes: 480,
        };
        let place = Place {
            latitude: 29.0,
            longitude: 121.0,
            address: String::new(),
            accuracy_m: None,
        };
        let good = ExifFacts {
            readable: true,
            captured_at_ms: Some(1_000_000),
            position: Some((29.001, 121.0)),
        };
        assert!(flags(&good, 1_000_000 + 600_000, Some(&place), &tolerances).is_empty());
        assert_eq!(
            flags(&good, 1_000_000 + 600_001, Some(&place), &tolerances),
            vec![EvidenceFlag::ExifTimeMismatch]
        );
        let far = ExifFacts {
            position: Some((29.01, 121.0)),
            ..good
        };
        assert_eq!(
            flags(&far, 1_000_000, Some(&place), &tolerances),
            vec![EvidenceFlag::ExifGpsMismatch]
        );
        assert_eq!(
            flags(&ExifFacts::default(), 0, None, &tolerances),
            vec![EvidenceFlag::ExifUnreadable]
        );
        let bare = ExifFacts {
            readable: true,
            ..Default::default()
        };
        assert_eq!(
            flags(&bare, 0, Some(&place), &tolerances),
            vec![EvidenceFlag::ExifTimeMissing, EvidenceFlag::ExifGpsMissing]
        );
    }
}
