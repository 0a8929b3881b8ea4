//! Real JPEG and PNG files with EXIF written the way cameras do: for the
//! fleet simulator, demos and tests.

use std::io::Cursor;

/// What to write into a photo's EXIF.
#[derive(Debug, Clone, Copy)]
pub struct Exif {
    /// Capture instant, ms since the Unix epoch; written as local time in UTC+8.
    pub captured_at_ms: i64,
    /// GPS position, if any.
    pub position: Option<(f64, f64)>,
}

/// A noisy (poorly compressible) JPEG of `width`×`height`, seeded.
pub fn jpeg(width: u32, height: u32, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state & 0x3f) as u8;
        image::Rgb([
            (x as u8).wrapping_add(noise),
            (y as u8).wrapping_add(noise),
            noise.wrapping_mul(3),
        ])
    });
    let mut out = Vec::new();
    // Encoding an in-memory RGB image into a Vec cannot fail.
    #[allow(clippy::expect_used)]
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(&image)
        .expect("encode JPEG");
    out
}

/// A PNG of `width`×`height`.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let mut out = Vec::new();
    // Encoding an in-memory RGB image into a Vec cannot fail.
    #[allow(clippy::expect_used)]
    image
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encode PNG");
    out
}

/// A JPEG with EXIF capture time and GPS.
pub fn jpeg_with_exif(width: u32, height: u32, seed: u64, exif: Exif) -> Vec<u8> {
    insert_after_soi(&jpeg(width, height, seed), &app1_exif(exif))
}

/// Pads a JPEG to exactly `size_bytes` with comment (COM) segments after SOI:
/// still a valid JPEG, of a realistic size.
pub fn pad_jpeg(jpeg: Vec<u8>, size_bytes: usize) -> Vec<u8> {
    let mut missing = size_bytes.saturating_sub(jpeg.len());
    let mut segments = Vec::new();
    while missing > 0 {
        // A segment costs 4 bytes of marker and length; at least 5 in all.
        let total = missing.min(65_535 + 2);
        let total = if missing - total > 0 && missing - total < 5 {
            total - 5
        } else {
            total
        };
        let payload = total.max(4) - 4;
        segments.extend_from_slice(&[0xFF, 0xFE]);
        segments.extend_from_slice(&((payload + 2) as u16).to_be_bytes());
        segments.extend(std::iter::repeat_n(b'.', payload));
        missing -= payload + 4;
    }
    insert_after_soi(&jpeg, &segments)
}

fn insert_after_soi(jpeg: &[u8], segment: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(jpeg.len() + segment.len());
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// An APP1 EXIF segment: IFD0 → Exif IFD (DateTimeOriginal) and GPS IFD.
fn app1_exif(exif: Exif) -> Vec<u8> {
    // Little-endian TIFF.
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"II\x2a\x00");
    tiff.extend_from_slice(&8u32.to_le_bytes());
    let entry = |tag: u16, kind: u16, count: u32, value: u32| {
        let mut e = Vec::new();
        e.extend_from_slice(&tag.to_le_bytes());
        e.extend_from_slice(&kind.to_le_bytes());
        e.extend_from_slice(&count.to_le_bytes());
        e.extend_from_slice(&value.to_le_bytes());
        e
    };
    const ASCII: u16 = 2;
    const LONG: u16 = 4;
    const RATIONAL: u16 = 5;
    // Layout: IFD0 at 8 (2 entries) = 2 + 24 + 4 = 30 bytes → Exif IFD at 38.
    let ifd0_len = 2 + 2 * 12 + 4;
    let exif_ifd_at = 8 + ifd0_len as u32;
    let exif_ifd_len = 2 + 12 + 4;
    let datetime_at = exif_ifd_at + exif_ifd_len as u32;
    let gps_ifd_at = datetime_at + 20;
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend(entry(0x8769, LONG, 1, exif_ifd_at));
    tiff.extend(entry(0x8825, LONG, 1, gps_ifd_at));
    tiff.extend_from_slice(&0u32.to_le_bytes());
    // Exif IFD: DateTimeOriginal.
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend(entry(0x9003, ASCII, 20, datetime_at));
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(local_time_text(exif.captured_at_ms, 8 * 60).as_bytes());
    tiff.push(0);
    // GPS IFD.
    match exif.position {
        None => {
            tiff.extend_from_slice(&0u16.to_le_bytes());
            tiff.extend_from_slice(&0u32.to_le_bytes());
        }
        Some((latitude, longitude)) => {
            let gps_ifd_len = 2 + 4 * 12 + 4;
            let lat_at = gps_ifd_at + gps_ifd_len as u32;
            let lon_at = lat_at + 24;
            let reference = |text: &[u8; 2]| u32::from(text[0]) | (u32::from(text[1]) << 8);
            tiff.extend_from_slice(&4u16.to_le_bytes());
            tiff.extend(entry(
                1,
                ASCII,
                2,
                reference(if latitude < 0.0 { b"S\0" } else { b"N\0" }),
            ));
            tiff.extend(entry(2, RATIONAL, 3, lat_at));
            tiff.extend(entry(
                3,
                ASCII,
                2,
                reference(if longitude < 0.0 { b"W\0" } else { b"E\0" }),
            ));
            tiff.extend(entry(4, RATIONAL, 3, lon_at));
            tiff.extend_from_slice(&0u32.to_le_bytes());
            for degrees in [latitude.abs(), longitude.abs()] {
                let whole = degrees.trunc();
                let minutes = ((degrees - whole) * 60.0).trunc();
                let seconds_x1000 = ((degrees - whole - minutes / 60.0) * 3600.0 * 1000.0).round();
                for (numerator, denominator) in [
                    (whole as u32, 1u32),
                    (minutes as u32, 1),
                    (seconds_x1000 as u32, 1000),
                ] {
                    tiff.extend_from_slice(&numerator.to_le_bytes());
                    tiff.extend_from_slice(&denominator.to_le_bytes());
                }
            }
        }
    }
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    segment.extend_from_slice(b"Exif\0\0");
    segment.extend_from_slice(&tiff);
    segment
}

/// `YYYY:MM:DD HH:MM:SS` of an instant in a UTC offset (EXIF's format).
fn local_time_text(epoch_ms: i64, offset_minutes: i64) -> String {
    let seconds = epoch_ms.div_euclid(1000) + offset_minutes * 60;
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}:{month:02}:{day:02} {:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The civil date of days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_787), (2026, 11, 30));
        assert_eq!(local_time_text(0, 480), "1970:01:01 08:00:00");
    }

    #[test]
    fn padding_reaches_the_size_and_stays_a_jpeg() {
        let padded = pad_jpeg(jpeg(64, 64, 1), 300_000);
        assert_eq!(padded.len(), 300_000);
        assert!(image::load_from_memory_with_format(&padded, image::ImageFormat::Jpeg).is_ok());
    }
}
