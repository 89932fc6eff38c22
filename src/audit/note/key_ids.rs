//! Key IDs of signed-note signature lines: the generic one, the one of the
//! log's ECDSA (`0x02`) checkpoint signatures and the one of ECDSA
//! cosignatures, and the canonical SPKI DER of a P-256 key they hash. The
//! formulas are explained in [`super`].

use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey, EcPoint, PointConversionForm};
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, Id, PKey, PKeyRef};

use super::{NoteError, COSIGNATURE_ALGORITHM_ID, SIG_TYPE_UNASSIGNED};

/// Key id per signed-note for (name, type byte, SPKI DER):
/// `SHA-256(name || "\n" || type_byte || spki_der)[:4]`.
///
/// Used for cosignatures (see [`cosignature_key_id`]). Log signatures of type
/// `0x02` use [`ecdsa_key_id`] instead, as signed-note requires for that type.
pub fn key_id(name: &str, type_byte: u8, spki_der: &[u8]) -> [u8; 4] {
    let mut pre = Vec::with_capacity(name.len() + 2 + spki_der.len());
    pre.extend_from_slice(name.as_bytes());
    pre.push(b'\n');
    pre.push(type_byte);
    pre.extend_from_slice(spki_der);
    sha256_prefix(&pre)
}

/// Key ID of a log's ECDSA (`0x02`) checkpoint signature:
/// `SHA-256(spki_der)[:4]`, as signed-note specifies for type `0x02` and
/// transparency-dev/formats computes it.
pub fn ecdsa_key_id(spki_der: &[u8]) -> [u8; 4] {
    sha256_prefix(spki_der)
}

/// Key ID of an ECDSA cosignature by `witness`:
/// `key_id(witness, 0xff, COSIGNATURE_ALGORITHM_ID || spki_der)`.
pub fn cosignature_key_id(witness: &str, spki_der: &[u8]) -> [u8; 4] {
    let mut material = Vec::with_capacity(COSIGNATURE_ALGORITHM_ID.len() + spki_der.len());
    material.extend_from_slice(COSIGNATURE_ALGORITHM_ID);
    material.extend_from_slice(spki_der);
    key_id(witness, SIG_TYPE_UNASSIGNED, &material)
}

/// The canonical SPKI DER (named curve, uncompressed point, 91 bytes) of a
/// P-256 key, as hashed into key IDs. Errors if the key is not EC P-256.
pub fn p256_spki_der<T: HasPublic>(key: &PKeyRef<T>) -> Result<Vec<u8>, NoteError> {
    if key.id() != Id::EC {
        return Err(NoteError::UnsupportedKey(format!(
            "expected an EC key, got {:?}",
            key.id()
        )));
    }
    let ec = key.ec_key()?;
    if ec.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
        return Err(NoteError::UnsupportedKey(
            "EC key is not on curve P-256 (prime256v1)".to_owned(),
        ));
    }
    // Re-encode from the point so that the encoding does not depend on how the
    // key was loaded (compressed point, explicit curve parameters).
    let mut ctx = BigNumContext::new()?;
    let point =
        ec.public_key()
            .to_bytes(ec.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)?;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let point = EcPoint::from_bytes(&group, &point, &mut ctx)?;
    let canonical = PKey::from_ec_key(EcKey::from_public_key(&group, &point)?)?;
    Ok(canonical.public_key_to_der()?)
}

fn sha256_prefix(data: &[u8]) -> [u8; 4] {
    let digest = openssl::sha::sha256(data);
    [digest[0], digest[1], digest[2], digest[3]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine as _;

    #[test]
    fn key_id_matches_hand_computed_value() {
        // python3: hashlib.sha256(b"example.com/log\n\x02" + bytes([0x30,3,2,1,7])).hexdigest()[:8]
        assert_eq!(
            key_id("example.com/log", 0x02, &[0x30, 0x03, 0x02, 0x01, 0x07]),
            [0xf3, 0x9c, 0x71, 0x41]
        );
        // Sigstore Rekor's production key: its published ECDSA key ID is c0d23d6a.
        let spki = BASE64
            .decode("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==")
            .unwrap();
        assert_eq!(ecdsa_key_id(&spki), [0xc0, 0xd2, 0x3d, 0x6a]);
        let key = PKey::public_key_from_der(&spki).unwrap();
        assert_eq!(p256_spki_der(&key).unwrap(), spki);
        // Cosignature key ID is key_id() with 0xff and the identifier.
        let mut material = COSIGNATURE_ALGORITHM_ID.to_vec();
        material.extend_from_slice(&spki);
        assert_eq!(cosignature_key_id("w", &spki), key_id("w", 0xff, &material));
    }
}
