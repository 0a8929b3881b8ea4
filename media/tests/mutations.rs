//! The short, deterministic version of the `media_validate` fuzz target:
//! mutated copies of every fixture (bytes flipped, cut, duplicated, sizes
//! rewritten), fed to each validator whole and in chunks. No panic, and the
//! chunking never changes the answer.

use fieldlink_media::{validate, Format, Limits, Validator};

/// xorshift64*: a fixed sequence, so a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..=rng.below(3) {
        match rng.below(5) {
            0 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            1 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                bytes[at] = [0x00, 0xFF, 0x7F, 0x80][rng.below(4)];
            }
            2 => {
                let at = rng.below(bytes.len() + 1);
                bytes.truncate(at);
            }
            3 if bytes.len() > 8 => {
                // Copy a run elsewhere: repeated boxes, chunks, frames.
                let from = rng.below(bytes.len() - 8);
                let length = rng.below((bytes.len() - from).min(64)) + 1;
                let run = bytes[from..from + length].to_vec();
                let at = rng.below(bytes.len());
                bytes.splice(at..at, run);
            }
            _ if bytes.len() > 4 => {
                // A size-like field rewritten.
                let at = rng.below(bytes.len() - 4);
                bytes[at..at + 4].copy_from_slice(&(rng.next() as u32 >> rng.below(32)).to_be_bytes());
            }
            _ => {}
        }
    }
}

#[test]
fn mutated_files_get_the_same_answer_in_any_chunking() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        if let Some(format) = Format::sniff(&bytes) {
            files.push((format, bytes));
        }
    }
    assert!(files.len() >= 10, "fixtures found: {}", files.len());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let limits = Limits::default();
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..4000 {
        let (format, original) = &files[round % files.len()];
        // Sometimes declared as another format.
        let format = if rng.below(8) == 0 {
            Format::ALL[rng.below(Format::ALL.len())]
        } else {
            *format
        };
        let mut bytes = original.clone();
        mutate(&mut rng, &mut bytes);
        let whole = validate(format, &bytes, limits);
        let chunk = rng.below(300) + 1;
        let mut validator = Validator::new(format, bytes.len() as u64, limits);
        let fed = bytes.chunks(chunk).try_for_each(|piece| validator.feed(piece));
        let chunked = fed.and_then(|()| validator.finish());
        assert_eq!(whole, chunked, "round {round}: {format:?}, {chunk}-byte chunks");
        if whole.is_ok() {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    // The mutations reach both answers often.
    assert!(
        accepted > 200 && refused > 2000,
        "accepted {accepted}, refused {refused}"
    );
}
