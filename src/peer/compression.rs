//! gzip between the nodes (`Content-Encoding: gzip`): bodies to the other
//! node are compressed once it has shown that it understands gzip (by
//! answering a request of this node's in gzip); its answers are
//! decompressed here with a limit, so a small body cannot expand without
//! bound.

use std::io::{Read, Write};

/// Bodies smaller than this go uncompressed (gzip's framing would eat the gain).
pub const MIN_BYTES: usize = 256;

/// Largest answer accepted once decompressed.
pub const MAX_INFLATED: u64 = 256 * 1024 * 1024;

/// `bytes`, gzip-compressed.
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::new(6),
    );
    gz.write_all(bytes)?;
    gz.finish()
}

/// `bytes` decompressed, refused past `limit` bytes.
pub fn gunzip(bytes: &[u8], limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() * 3);
    flate2::read::GzDecoder::new(bytes)
        .take(limit + 1)
        .read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the answer inflates past {limit} bytes"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limit() {
        let body = br#"{"messages":[]}"#.repeat(1000);
        let packed = gzip(&body).unwrap();
        assert!(packed.len() < body.len() / 10);
        assert_eq!(gunzip(&packed, 1 << 20).unwrap(), body);
        assert!(gunzip(&packed, 100).is_err());
        assert!(gunzip(b"not gzip", 100).is_err());
    }
}
