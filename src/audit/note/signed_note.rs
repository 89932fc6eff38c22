//! The signed-note text format (C2SP signed-note): a note's body and its
//! signature lines, parsed strictly and written back byte for byte, with the
//! checks on key names and canonical base64 that the format requires. The
//! format is described in [`super`].

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::{malformed, NoteError, MAX_SIGNATURES};

/// Prefix of a signature line: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signer's key name.
    pub name: String,
    /// The 4-byte key ID (first four bytes of the decoded base64).
    pub key_id: [u8; 4],
    /// The signature bytes following the key ID (for cosignatures, including
    /// the 8-byte timestamp).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, including the final newline.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, BASE64.encode(raw))
    }

    /// Parses one signature line (with or without its final newline).
    pub fn parse_line(line: &str) -> Result<NoteSignature, NoteError> {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
            malformed("signature line does not start with an em dash and a space")
        })?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| malformed("signature line has no space after the key name"))?;
        check_key_name(name)?;
        let raw = decode_base64(b64).map_err(|e| malformed(format!("signature of {name}: {e}")))?;
        if raw.len() < 5 {
            return Err(malformed(format!(
                "signature of {name} is {} bytes, expected a 4-byte key ID and a signature",
                raw.len()
            )));
        }
        let mut key_id = [0u8; 4];
        key_id.copy_from_slice(&raw[..4]);
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id,
            signature: raw[4..].to_vec(),
        })
    }

    pub(super) fn check(&self) -> Result<(), NoteError> {
        check_key_name(&self.name)?;
        if self.signature.is_empty() {
            return Err(malformed(format!("empty signature for {}", self.name)));
        }
        Ok(())
    }
}

/// A parsed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in `\n` (without the blank separator line).
    pub body: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note, strictly per signed-note: UTF-8 without control
    /// characters other than `\n`, split at the last blank line, 1 to
    /// [`MAX_SIGNATURES`] well-formed signature lines with canonical base64.
    /// Signatures are not verified.
    pub fn parse(text: &str) -> Result<Note, NoteError> {
        if let Some(c) = text.chars().find(|&c| c < ' ' && c != '\n') {
            return Err(malformed(format!(
                "note contains control character U+{:04X}",
                u32::from(c)
            )));
        }
        if !text.ends_with('\n') {
            return Err(malformed("note does not end with a newline"));
        }
        let split = text
            .rfind("\n\n")
            .ok_or_else(|| malformed("note has no blank line before the signatures"))?;
        let body = &text[..split + 1];
        let sigs = &text[split + 2..];
        if sigs.is_empty() {
            return Err(malformed("note has no signatures"));
        }
        let mut signatures = Vec::new();
        // `sigs` ends with '\n' and contains no "\n\n", so no line is empty.
        for line in sigs[..sigs.len() - 1].split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(malformed(format!(
                    "note has more than {MAX_SIGNATURES} signatures"
                )));
            }
            signatures.push(NoteSignature::parse_line(line)?);
        }
        Ok(Note {
            body: body.to_owned(),
            signatures,
        })
    }

    /// Serializes the note: body, blank line, signature lines. For a note
    /// returned by [`Note::parse`] this gives back the parsed text exactly.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.body.len() + 1 + 128 * self.signatures.len());
        out.push_str(&self.body);
        out.push('\n');
        for sig in &self.signatures {
            out.push_str(&sig.to_line());
        }
        out
    }
}

/// Key names: non-empty, no (Unicode) whitespace, no '+', no control character.
pub(super) fn check_key_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() {
        return Err(malformed("empty key name"));
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '+')
    {
        return Err(malformed(format!(
            "invalid key name {name:?}: contains whitespace, a control character or '+'"
        )));
    }
    Ok(())
}

/// Standard padded base64, canonical (re-encodes to the same text).
pub(super) fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    let bytes = BASE64
        .decode(s)
        .map_err(|e| format!("invalid base64 {s:?}: {e}"))?;
    if BASE64.encode(&bytes) != s {
        return Err(format!("non-canonical base64 {s:?}"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_parse_spec_example_and_rejects_malformed() {
        // Example from c2sp.org/signed-note (Ed25519; body contains a blank line).
        let text = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u{e8} subito sera.\n\n\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
        let note = Note::parse(text).unwrap();
        assert!(note.body.ends_with("\n\ned \u{e8} subito sera.\n"));
        assert_eq!(note.signatures.len(), 1);
        assert_eq!(note.signatures[0].name, "quasimodo.example/salvatore");
        assert_eq!(note.signatures[0].key_id, [0x36, 0x7b, 0xa0, 0x4b]);
        assert_eq!(note.signatures[0].signature.len(), 64);
        assert_eq!(note.to_text(), text);

        let good = "— a/b AQIDBAU=\n";
        let mut many = String::from("x\n\n");
        for _ in 0..=MAX_SIGNATURES {
            many.push_str(good);
        }
        let bad = [
            "x\n".to_owned(),                    // no blank line
            "x\n\n".to_owned(),                  // no signatures
            format!("x\n\n{}", good.trim_end()), // no final newline
            "x\n\n-- a/b AQIDBAU=\n".to_owned(), // not an em dash
            "x\n\n—a/b AQIDBAU=\n".to_owned(),   // no space after dash
            "x\n\n— a/b\n".to_owned(),           // no signature
            "x\n\n—  AQIDBAU=\n".to_owned(),     // empty name
            "x\n\n— a+b AQIDBAU=\n".to_owned(),  // '+' in name
            "x\n\n— a/b AQIDBAU= \n".to_owned(), // trailing space
            "x\n\n— a/b AQIDBA==\n".to_owned(),  // only a key ID
            "x\n\n— a/b AQIDBAU\n".to_owned(),   // unpadded base64
            "x\n\n— a/b AQIDBAV=\n".to_owned(),  // non-canonical base64
            "x\n\n— a/b AQ*DBAU=\n".to_owned(),  // bad base64
            format!("x\r\n\n{good}"),            // control character
            format!("x\t\n\n{good}"),            // control character
            format!("x\n\n{good}x\n"),           // junk line
            many,
        ];
        for b in &bad {
            assert!(
                matches!(Note::parse(b), Err(NoteError::Malformed(_))),
                "accepted {b:?}"
            );
        }
        let ok = Note::parse(&format!("x\n\n{good}")).unwrap();
        assert_eq!(ok.signatures[0].key_id, [1, 2, 3, 4]);
        assert_eq!(ok.signatures[0].signature, vec![5]);
    }
}
