//! Media files for tests and benchmarks, built from the real files in
//! `media/tests/fixtures` (made by ffmpeg, heif-enc, qpdf).

/// A fixture's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../media/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// An H.264 MP4 of about `mebibytes` MiB (up to 4 GiB): the fixture's
/// `ftyp` and `moov`, then one large `mdat` of varied bytes (the validator
/// checks boxes and codecs, not the samples' offsets).
pub fn large_video(mebibytes: usize) -> Vec<u8> {
    let small = fixture("video-h264.mp4");
    // faststart: ftyp, moov, (free), mdat — keep everything before mdat.
    let mdat = small
        .windows(4)
        .position(|w| w == b"mdat")
        .expect("the fixture has an mdat")
        - 4;
    let mut video = small[..mdat].to_vec();
    let payload = mebibytes << 20;
    let size = u32::try_from(payload + 8).expect("under 4 GiB");
    video.reserve(payload + 8);
    video.extend_from_slice(&size.to_be_bytes());
    video.extend_from_slice(b"mdat");
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut word = [0u8; 8];
    for index in 0..payload {
        if index % 8 == 0 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word = state.to_le_bytes();
        }
        video.push(word[index % 8]);
    }
    video
}
