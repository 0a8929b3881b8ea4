//! Is this really the image it claims to be? Magic bytes, a full decode under
//! explicit limits, and where the image ends.
//!
//! Runs on a blocking thread. The limits come first: the decoder reads the
//! dimensions from the header and refuses a decompression bomb (a small file
//! claiming huge dimensions) before allocating its pixels.

use std::io::Cursor;

use fieldlink_protocol::limits::{IMAGE_PIXELS_MAX, IMAGE_SIDE_PIXELS_MAX};
use fieldlink_protocol::photo::ContentType;
use image::{DynamicImage, ImageFormat, ImageReader};

/// Most memory one decode may allocate.
pub const DECODE_ALLOC_BYTES_MAX: u64 = 512 * 1024 * 1024;

/// What a valid image turned out to be.
pub struct ImageFacts {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes follow the end marker (JPEG EOI, PNG IEND).
    pub trailing_bytes: bool,
    /// The decoded pixels (for the thumbnail).
    pub decoded: DynamicImage,
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

/// Checks and decodes `bytes` as `content_type`.
pub fn check(bytes: &[u8], content_type: ContentType) -> Result<ImageFacts, ImageError> {
    if !content_type.matches_magic(bytes) {
        return Err(ImageError::ContentTypeMismatch(content_type.as_mime()));
    }
    let format = match content_type {
        ContentType::Jpeg => ImageFormat::Jpeg,
        ContentType::Png => ImageFormat::Png,
    };
    let reader = || {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(IMAGE_SIDE_PIXELS_MAX);
        limits.max_image_height = Some(IMAGE_SIDE_PIXELS_MAX);
        limits.max_alloc = Some(DECODE_ALLOC_BYTES_MAX);
        reader.limits(limits);
        reader
    };
    let (width, height) = reader().into_dimensions().map_err(classify)?;
    if u64::from(width) * u64::from(height) > IMAGE_PIXELS_MAX {
        return Err(ImageError::TooLarge(format!(
            "{width}x{height} is over {IMAGE_PIXELS_MAX} pixels"
        )));
    }
    let decoded = reader().decode().map_err(classify)?;
    let end = match content_type {
        ContentType::Jpeg => jpeg_end(bytes),
        ContentType::Png => png_end(bytes),
    }
    .ok_or_else(|| ImageError::Corrupt("no end marker".into()))?;
    Ok(ImageFacts {
        width,
        height,
        trailing_bytes: end < bytes.len(),
        decoded,
    })
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
    fn valid_images_decode_and_end_where_they_end() {
        let j = jpeg(64, 48);
        let facts = check(&j, ContentType::Jpeg).unwrap();
        assert_eq!((facts.width, facts.height, facts.trailing_bytes), (64, 48, false));
        assert_eq!(jpeg_end(&j), Some(j.len()));
        let p = png(10, 5);
        let facts = check(&p, ContentType::Png).unwrap();
        assert_eq!((facts.width, facts.height, facts.trailing_bytes), (10, 5, false));
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
