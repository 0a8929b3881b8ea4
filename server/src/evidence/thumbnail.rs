//! The thumbnail supervisors see: longest side at most 320 px, JPEG. Stored
//! beside the original in the blob store, never instead of it.

use fieldlink_protocol::limits::THUMBNAIL_SIDE_PIXELS_MAX;
use image::DynamicImage;

/// A JPEG thumbnail of `image` and its dimensions.
pub fn make(image: &DynamicImage) -> Result<(Vec<u8>, u32, u32), image::ImageError> {
    let small = image
        .thumbnail(THUMBNAIL_SIDE_PIXELS_MAX, THUMBNAIL_SIDE_PIXELS_MAX)
        .to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&small)?;
    Ok((out, small.width(), small.height()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_fit_in_320_pixels_keeping_the_aspect() {
        let image = DynamicImage::ImageRgb8(image::RgbImage::new(1600, 900));
        let (jpeg, width, height) = make(&image).unwrap();
        assert_eq!((width, height), (320, 180));
        assert!(jpeg.starts_with(&[0xFF, 0xD8]));
    }
}
