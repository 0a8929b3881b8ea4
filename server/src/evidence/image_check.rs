//! Pictures after their receipt: the media worker decodes stored JPEG and
//! PNG photos ([`decode`]) for thumbnails, under the decode memory budget
//! ([`decode_bytes_estimate`]) and the pixel limits. Before the receipt
//! nothing is decoded: uploads are checked by their structure only
//! ([`fieldlink_media::Validator`], fed while the bytes arrive).

use std::io::Cursor;

use fieldlink_protocol::limits::IMAGE_SIDE_PIXELS_MAX;
use fieldlink_protocol::photo::ContentType;
use image::{DynamicImage, ImageFormat, ImageReader};

/// Most memory one decode may allocate.
pub const DECODE_ALLOC_BYTES_MAX: u64 = 512 * 1024 * 1024;

/// Why a stored image could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// Not a format with a decoder here (HEIC, video, audio, documents).
    #[error("no decoder for {0}")]
    NoDecoder(&'static str),
    /// Dimensions or pixel count over the limits.
    #[error("image too large: {0}")]
    TooLarge(String),
    /// Truncated or corrupt.
    #[error("image is truncated or corrupt: {0}")]
    Corrupt(String),
}

/// Whether stored media of this type can be decoded here (and so gets a
/// thumbnail): JPEG and PNG.
pub fn has_decoder(content_type: ContentType) -> bool {
    matches!(content_type, ContentType::Jpeg | ContentType::Png)
}

/// Decodes a stored image (after its receipt) under the pixel and memory limits.
pub fn decode(bytes: &[u8], content_type: ContentType) -> Result<DynamicImage, ImageError> {
    let format = match content_type {
        ContentType::Jpeg => ImageFormat::Jpeg,
        ContentType::Png => ImageFormat::Png,
        other => return Err(ImageError::NoDecoder(other.as_mime())),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits_for_decode());
    reader.decode().map_err(classify)
}

fn limits_for_decode() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(IMAGE_SIDE_PIXELS_MAX);
    limits.max_image_height = Some(IMAGE_SIDE_PIXELS_MAX);
    limits.max_alloc = Some(DECODE_ALLOC_BYTES_MAX);
    limits
}

/// Memory a decode of a `width` × `height` image of `content_type` may
/// take at most, bytes: what the media worker reserves from its budget
/// before it starts (16-bit RGBA for PNG, 4 bytes a pixel for JPEG).
pub fn decode_bytes_estimate(content_type: ContentType, width: u32, height: u32) -> u64 {
    let per_pixel = match content_type {
        ContentType::Png => 8,
        _ => 4,
    };
    u64::from(width) * u64::from(height) * per_pixel
}

fn classify(error: image::ImageError) -> ImageError {
    match error {
        image::ImageError::Limits(limits) => ImageError::TooLarge(limits.to_string()),
        other => ImageError::Corrupt(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldlink_media::{validate, Facts, Limits, MediaError};

    /// The upload validator, on images the `image` crate encodes.
    fn check(bytes: &[u8], content_type: ContentType) -> Result<Facts, MediaError> {
        validate(content_type, bytes, Limits::default())
    }

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
    fn valid_images_check_and_decode() {
        let j = jpeg(64, 48);
        let facts = check(&j, ContentType::Jpeg).unwrap();
        assert_eq!((facts.width, facts.height, facts.trailing_bytes), (64, 48, false));
        let p = png(10, 5);
        let facts = check(&p, ContentType::Png).unwrap();
        assert_eq!((facts.width, facts.height, facts.trailing_bytes), (10, 5, false));
        let decoded = decode(&j, ContentType::Jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (64, 48));
        assert_eq!(
            decode(&j, ContentType::Mp4).err(),
            Some(ImageError::NoDecoder("video/mp4"))
        );
    }

    #[test]
    fn a_png_damaged_inside_is_refused_by_its_crc_without_decoding() {
        let mut p = png(32, 32);
        // Flip a byte inside the IDAT data: sizes and markers stay valid.
        let idat = p.windows(4).position(|w| w == b"IDAT").unwrap();
        p[idat + 6] ^= 0x55;
        match check(&p, ContentType::Png) {
            Err(MediaError::Corrupt(why)) => assert!(why.contains("IDAT"), "{why}"),
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
            Some(MediaError::NotThisFormat(ContentType::Jpeg))
        );
        assert!(matches!(
            check(b"just text", ContentType::Png),
            Err(MediaError::NotThisFormat(_))
        ));
    }

    #[test]
    fn truncated_images_are_corrupt() {
        let j = jpeg(64, 64);
        assert!(matches!(
            check(&j[..j.len() / 2], ContentType::Jpeg),
            Err(MediaError::Corrupt(_))
        ));
        let p = png(64, 64);
        assert!(matches!(
            check(&p[..p.len() - 20], ContentType::Png),
            Err(MediaError::Corrupt(_))
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
            Err(MediaError::TooLarge(_))
        ));
    }
}
