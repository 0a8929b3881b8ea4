//! Is this really the image it claims to be? Magic bytes, the dimensions in
//! the header against the pixel limits, and the structure — JPEG segments
//! up to EOI (ITU T.81 Annex B), PNG chunks with their CRCs up to IEND
//! (ISO/IEC 15948 §5) — and where the image ends. Nothing is decoded before
//! the receipt: pixels are decoded after it, by the media worker
//! ([`decode`]), under the decode memory budget.

use std::io::Cursor;

use fieldlink_protocol::limits::{IMAGE_PIXELS_MAX, IMAGE_SIDE_PIXELS_MAX};
use fieldlink_protocol::photo::ContentType;
use image::{DynamicImage, ImageFormat, ImageReader};

/// Most memory one decode may allocate.
pub const DECODE_ALLOC_BYTES_MAX: u64 = 512 * 1024 * 1024;

/// What a valid image turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFacts {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes follow the end marker (JPEG EOI, PNG IEND).
    pub trailing_bytes: bool,
}

/// Why an image was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// The magic bytes are not those of the declared type.
    #[error("the bytes are not {0}")]
    ContentTypeMismatch(&'static str),
    /// Dimensions or pixel count over the limits.
    #[error("image too large: {0}")]
    TooLarge(String),
    /// Truncated or corrupt.
    #[error("image is truncated or corrupt: {0}")]
    Corrupt(String),
}

fn reader(bytes: &[u8], content_type: ContentType) -> ImageReader<Cursor<&[u8]>> {
    let format = match content_type {
        ContentType::Jpeg => ImageFormat::Jpeg,
        ContentType::Png => ImageFormat::Png,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(IMAGE_SIDE_PIXELS_MAX);
    limits.max_image_height = Some(IMAGE_SIDE_PIXELS_MAX);
    limits.max_alloc = Some(DECODE_ALLOC_BYTES_MAX);
    reader.limits(limits);
    reader
}

/// Checks `bytes` as `content_type` without decoding its pixels.
pub fn check(bytes: &[u8], content_type: ContentType) -> Result<ImageFacts, ImageError> {
    if !content_type.matches_magic(bytes) {
        return Err(ImageError::ContentTypeMismatch(content_type.as_mime()));
    }
    let (width, height) = reader(bytes, content_type).into_dimensions().map_err(classify)?;
    if u64::from(width) * u64::from(height) > IMAGE_PIXELS_MAX {
        return Err(ImageError::TooLarge(format!(
            "{width}x{height} is over {IMAGE_PIXELS_MAX} pixels"
        )));
    }
    let end = match content_type {
        ContentType::Jpeg => jpeg_end(bytes).ok_or_else(|| ImageError::Corrupt("no end marker".into()))?,
        ContentType::Png => png_end_checked(bytes)?,
    };
    Ok(ImageFacts {
        width,
        height,
        trailing_bytes: end < bytes.len(),
    })
}

/// Decodes a stored image (after its receipt) under the same limits.
pub fn decode(bytes: &[u8], content_type: ContentType) -> Result<DynamicImage, ImageError> {
    reader(bytes, content_type).decode().map_err(classify)
}

/// Memory a decode of a `width` × `height` image of `content_type` may
/// take at most, bytes: what the media worker reserves from its budget
/// before it starts (16-bit RGBA for PNG, 4 bytes a pixel for JPEG).
pub fn decode_bytes_estimate(content_type: ContentType, width: u32, height: u32) -> u64 {
    let per_pixel = match content_type {
        ContentType::Png => 8,
        ContentType::Jpeg => 4,
    };
    u64::from(width) * u64::from(height) * per_pixel
}

/// Offset just past IEND, every chunk's CRC checked on the way: a PNG
/// damaged anywhere is refused without inflating a byte of it.
fn png_end_checked(bytes: &[u8]) -> Result<usize, ImageError> {
    let corrupt = |what: String| ImageError::Corrupt(what);
    let mut pos = 8;
    loop {
        let header = bytes
            .get(pos..pos + 8)
            .ok_or_else(|| corrupt("truncated before IEND".into()))?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let end = pos
            .checked_add(12)
            .and_then(|p| p.checked_add(length))
            .filter(|end| *end <= bytes.len())
            .ok_or_else(|| corrupt("truncated before IEND".into()))?;
        let stored = u32::from_be_bytes([bytes[end - 4], bytes[end - 3], bytes[end - 2], bytes[end - 1]]);
        if crc32fast::hash(&bytes[pos + 4..end - 4]) != stored {
            let kind = String::from_utf8_lossy(&header[4..8]).into_owned();
            return Err(corrupt(format!("the CRC of chunk {kind} at byte {pos} is wrong")));
        }
        if &header[4..8] == b"IEND" {
            return Ok(end);
        }
        pos = end;
    }
}

fn classify(error: image::ImageError) -> ImageError {
    match error {
        image::ImageError::Limits(limits) => ImageError::TooLarge(limits.to_string()),
        other => ImageError::Corrupt(other.to_string()),
    }
}

/// Offset just past the JPEG's EOI marker, walking the segment structure
/// (ITU T.81 Annex B) so that an EOI inside metadata is not mistaken for it.
pub fn jpeg_end(bytes: &[u8]) -> Option<usize> {
    let mut pos = 2; // after SOI
    loop {
        // Markers may be preceded by fill bytes 0xFF (T.81 B.1.1.2).
        if *bytes.get(pos)? != 0xFF {
            return None;
        }
        while *bytes.get(pos)? == 0xFF {
            pos += 1;
        }
        let marker = *bytes.get(pos)?;
        pos += 1;
        match marker {
            0xD9 => return Some(pos),       // EOI
            0x01 | 0xD0..=0xD7 => continue, // TEM, RSTn: no length
            _ => {
                let length = u16::from_be_bytes([*bytes.get(pos)?, *bytes.get(pos + 1)?]) as usize;
                if length < 2 {
                    return None;
                }
                pos += length;
                if marker == 0xDA {
                    // SOS: entropy-coded data follows, up to the next marker
                    // that is neither a stuffed 0xFF00 nor a restart marker.
                    loop {
                        if *bytes.get(pos)? == 0xFF {
                            let next = *bytes.get(pos + 1)?;
                            if next != 0x00 && !(0xD0..=0xD7).contains(&next) && next != 0xFF {
                                break;
                            }
                            if next == 0xFF {
                                pos += 1;
                                continue;
                            }
                            pos += 2;
                        } else {
                            pos += 1;
                        }
                    }
                }
            }
        }
    }
}

/// Offset just past the PNG's IEND chunk (ISO/IEC 15948 §5.3).
pub fn png_end(bytes: &[u8]) -> Option<usize> {
    let mut pos = 8;
    loop {
        let length = u32::from_be_bytes(bytes.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let kind = bytes.get(pos + 4..pos + 8)?;
        let end = pos.checked_add(12)?.checked_add(length)?;
        if end > bytes.len() {
            return None;
        }
        if kind == b"IEND" {
            return Some(end);
        }
        pos = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .encode_image(&image)
            .unwrap();
        out
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, _| image::Rgb([x as u8, 0, 0]));
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn valid_images_check_decode_and_end_where_they_end() {
        let j = jpeg(64, 48);
        let facts = check(&j, ContentType::Jpeg).unwrap();
        assert_eq!((facts.width, facts.height, facts.trailing_bytes), (64, 48, false));
        assert_eq!(jpeg_end(&j), Some(j.len()));
        let p = png(10, 5);
        let facts = check(&p, ContentType::Png).unwrap();
        assert_eq!((facts.width, facts.height, facts.trailing_bytes), (10, 5, false));
        assert_eq!(png_end(&p), Some(p.len()));
        let decoded = decode(&j, ContentType::Jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (64, 48));
    }

    #[test]
    fn a_png_damaged_inside_is_refused_by_its_crc_without_decoding() {
        let mut p = png(32, 32);
        // Flip a byte inside the IDAT data: sizes and markers stay valid.
        let idat = p.windows(4).position(|w| w == b"IDAT").unwrap();
        p[idat + 6] ^= 0x55;
        match check(&p, ContentType::Png) {
            Err(ImageError::Corrupt(why)) => assert!(why.contains("IDAT"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decode_budgets_cover_the_widest_pixels() {
        assert_eq!(decode_bytes_estimate(ContentType::Png, 8000, 8000), 512_000_000);
        assert_eq!(decode_bytes_estimate(ContentType::Jpeg, 100, 10), 4_000);
    }

    #[test]
    fn trailing_bytes_are_noticed() {
        let mut j = jpeg(16, 16);
        j.extend_from_slice(b"PK\x03\x04 a zip file");
        assert!(check(&j, ContentType::Jpeg).unwrap().trailing_bytes);
        let mut p = png(4, 4);
        p.extend_from_slice(b"more");
        assert!(check(&p, ContentType::Png).unwrap().trailing_bytes);
    }

    #[test]
    fn the_declared_type_must_match_the_bytes() {
        assert_eq!(
            check(&png(4, 4), ContentType::Jpeg).err(),
            Some(ImageError::ContentTypeMismatch("image/jpeg"))
        );
        assert!(matches!(
            check(b"just text", ContentType::Png),
            Err(ImageError::ContentTypeMismatch(_))
        ));
    }

    #[test]
    fn truncated_images_are_corrupt() {
        let j = jpeg(64, 64);
        assert!(matches!(
            check(&j[..j.len() / 2], ContentType::Jpeg),
            Err(ImageError::Corrupt(_))
        ));
        let p = png(64, 64);
        assert!(matches!(
            check(&p[..p.len() - 20], ContentType::Png),
            Err(ImageError::Corrupt(_))
        ));
    }

    #[test]
    fn a_pixel_bomb_is_refused_before_decoding() {
        let mut j = jpeg(8, 8);
        // Patch the SOF0 dimensions to 60000 x 60000.
        let sof = j.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        j[sof + 5..sof + 7].copy_from_slice(&60000u16.to_be_bytes());
        j[sof + 7..sof + 9].copy_from_slice(&60000u16.to_be_bytes());
        assert!(matches!(
            check(&j, ContentType::Jpeg),
            Err(ImageError::TooLarge(_))
        ));
    }
}
