//! The language of a request, from its `Accept-Language` header (RFC 9110
//! §12.5.4): the preferred one of the two the API speaks. Total: any input,
//! however malformed or long, yields a language and never panics; it does
//! not allocate and runs in time linear in the header.

use crate::domain::i18n::Lang;

/// Picks the language from an HTTP `Accept-Language` header value
/// (RFC 9110 §12.5.4).
///
/// The result is the language of the highest-quality language range
/// among those matching `en` or `fr`:
///
/// * a range matches by its primary subtag, case-insensitively
///   (`fr-NE`, `FR`, `fr-ne;q=0.8` all match French);
/// * `*` matches English, unless English is named by another range of the
///   header, in which case it matches French if French is not named
///   (RFC 9110: `*` stands for languages not matched by other ranges);
/// * a weight of `q=0` means "not acceptable": the range is never chosen;
/// * a missing weight means `q=1`; ties go to the earlier entry;
/// * malformed entries (bad range syntax, bad or repeated `q`, other
///   parameters) are ignored;
/// * nothing usable → English.
///
/// Never panics on any input.
pub fn preferred(header: &str) -> Lang {
    let mut named_en = false;
    let mut named_fr = false;
    for (range, _) in header.split(',').filter_map(parse_entry) {
        match range {
            Range::Lang(Lang::En) => named_en = true,
            Range::Lang(Lang::Fr) => named_fr = true,
            Range::Wildcard | Range::Other => {}
        }
    }
    let wildcard = if !named_en {
        Some(Lang::En)
    } else if !named_fr {
        Some(Lang::Fr)
    } else {
        None
    };

    let mut best: Option<(u16, Lang)> = None;
    for (range, q) in header.split(',').filter_map(parse_entry) {
        if q == 0 {
            continue;
        }
        let lang = match range {
            Range::Lang(lang) => lang,
            Range::Wildcard => match wildcard {
                Some(lang) => lang,
                None => continue,
            },
            Range::Other => continue,
        };
        if best.is_none_or(|(best_q, _)| q > best_q) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::En, |(_, lang)| lang)
}

/// What a well-formed language range of `Accept-Language` designates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    /// A range whose primary subtag is `en` or `fr`.
    Lang(Lang),
    /// The wildcard `*`.
    Wildcard,
    /// A well-formed range of another language.
    Other,
}

/// Optional whitespace (RFC 9110 §5.6.3).
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Parses one comma-separated entry `range *( OWS ";" OWS "q=" qvalue )` into
/// its range and weight in thousandths; `None` if malformed or empty.
fn parse_entry(entry: &str) -> Option<(Range, u16)> {
    let mut pieces = entry.split(';');
    let range = parse_range(pieces.next()?.trim_matches(is_ows))?;
    let mut weight = None;
    for param in pieces {
        let (name, value) = param.split_once('=')?;
        if weight.is_some() || !name.trim_matches(is_ows).eq_ignore_ascii_case("q") {
            return None;
        }
        weight = Some(parse_qvalue(value.trim_matches(is_ows))?);
    }
    Some((range, weight.unwrap_or(1000)))
}

/// Parses `language-range = (1*8ALPHA *("-" 1*8alphanum)) / "*"` (RFC 4647 §2.1).
fn parse_range(range: &str) -> Option<Range> {
    if range == "*" {
        return Some(Range::Wildcard);
    }
    let mut subtags = range.split('-');
    let primary = subtags.next()?;
    let subtag_ok = |s: &str, alpha_only: bool| {
        (1..=8).contains(&s.len())
            && s.bytes().all(|b| {
                if alpha_only {
                    b.is_ascii_alphabetic()
                } else {
                    b.is_ascii_alphanumeric()
                }
            })
    };
    if !subtag_ok(primary, true) || !subtags.all(|s| subtag_ok(s, false)) {
        return None;
    }
    Some(if primary.eq_ignore_ascii_case("en") {
        Range::Lang(Lang::En)
    } else if primary.eq_ignore_ascii_case("fr") {
        Range::Lang(Lang::Fr)
    } else {
        Range::Other
    })
}

/// Parses `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`
/// (RFC 9110 §12.4.2) into thousandths (0..=1000).
fn parse_qvalue(value: &str) -> Option<u16> {
    let bytes = value.as_bytes();
    let (&first, rest) = bytes.split_first()?;
    let decimals = match rest.split_first() {
        None => &[][..],
        Some((b'.', decimals)) if decimals.len() <= 3 => decimals,
        Some(_) => return None,
    };
    match first {
        b'0' => {
            let mut thousandths = 0u16;
            for i in 0..3 {
                let digit = match decimals.get(i) {
                    Some(&d) if d.is_ascii_digit() => u16::from(d - b'0'),
                    Some(_) => return None,
                    None => 0,
                };
                thousandths = thousandths * 10 + digit;
            }
            Some(thousandths)
        }
        b'1' if decimals.iter().all(|&d| d == b'0') => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(header: &str) -> Lang {
        preferred(header)
    }

    #[test]
    fn accept_language_basic_cases() {
        assert_eq!(accept(""), Lang::En);
        assert_eq!(accept("   "), Lang::En);
        assert_eq!(accept("fr"), Lang::Fr);
        assert_eq!(accept("en"), Lang::En);
        assert_eq!(accept("fr-NE,fr;q=0.9,en;q=0.8"), Lang::Fr);
        assert_eq!(accept("en-GB,fr;q=0.9"), Lang::En);
        assert_eq!(accept("de, fr;q=0.5"), Lang::Fr);
        assert_eq!(accept("de"), Lang::En);
        assert_eq!(accept("ha-NG, en;q=0.3, fr;q=0.7"), Lang::Fr);
    }

    #[test]
    fn accept_language_case_insensitive_primary_subtag() {
        assert_eq!(accept("FR-ne"), Lang::Fr);
        assert_eq!(accept("FR"), Lang::Fr);
        assert_eq!(accept("fr-ne;q=0.8"), Lang::Fr);
        assert_eq!(accept("fr-Latn-NE"), Lang::Fr);
        assert_eq!(accept("en;q=0.2, fR-ne;Q=0.8"), Lang::Fr);
        // `fra` is another primary subtag, not `fr`.
        assert_eq!(accept("fra"), Lang::En);
    }

    #[test]
    fn accept_language_zero_quality_excludes() {
        assert_eq!(accept("fr;q=0"), Lang::En);
        assert_eq!(accept("fr;q=0.000"), Lang::En);
        assert_eq!(accept("en;q=0, fr;q=0.1"), Lang::Fr);
        assert_eq!(accept("fr;q=0, en;q=0"), Lang::En);
    }

    #[test]
    fn accept_language_wildcard() {
        assert_eq!(accept("*"), Lang::En);
        assert_eq!(accept("de, *;q=0.5"), Lang::En);
        assert_eq!(accept("fr;q=0.4, *;q=0.5"), Lang::En);
        // `*` stands for languages not named elsewhere.
        assert_eq!(accept("en;q=0, *"), Lang::Fr);
        assert_eq!(accept("en;q=0.1, *"), Lang::Fr);
        assert_eq!(accept("en;q=0.1, fr;q=0.2, *"), Lang::Fr);
        assert_eq!(accept("*;q=0"), Lang::En);
    }

    #[test]
    fn accept_language_ties_go_to_earlier_entry() {
        assert_eq!(accept("en;q=0.5, fr;q=0.5"), Lang::En);
        assert_eq!(accept("fr;q=0.5, en;q=0.5"), Lang::Fr);
        assert_eq!(accept("fr, en"), Lang::Fr);
        assert_eq!(accept("fr;q=1.0, en;q=1"), Lang::Fr);
    }

    #[test]
    fn accept_language_quality_precision() {
        assert_eq!(accept("en;q=0.001, fr;q=0.002"), Lang::Fr);
        assert_eq!(accept("en;q=0.5, fr;q=0.50"), Lang::En);
        assert_eq!(accept("en;q=0.9, fr;q=1."), Lang::Fr);
        assert_eq!(accept("en ; q = 0.5 , fr ;q=0.6"), Lang::Fr);
    }

    #[test]
    fn accept_language_malformed_parts_are_ignored() {
        assert_eq!(accept(";;;q=abc,,"), Lang::En);
        assert_eq!(accept(",,,"), Lang::En);
        assert_eq!(accept("fr;q=abc"), Lang::En);
        assert_eq!(accept("fr;q=1.5"), Lang::En);
        assert_eq!(accept("fr;q=2"), Lang::En);
        assert_eq!(accept("fr;q=0.1234"), Lang::En);
        assert_eq!(accept("fr;q=-1"), Lang::En);
        assert_eq!(accept("fr;q="), Lang::En);
        assert_eq!(accept("fr;"), Lang::En);
        assert_eq!(accept("fr;q=0.5;q=0.6"), Lang::En);
        assert_eq!(accept("fr;level=1"), Lang::En);
        assert_eq!(accept("fr-"), Lang::En);
        assert_eq!(accept("-fr"), Lang::En);
        assert_eq!(accept("fr--NE"), Lang::En);
        assert_eq!(accept("f r"), Lang::En);
        assert_eq!(accept("fr-toolongsubtag"), Lang::En);
        assert_eq!(accept("**"), Lang::En);
        // A malformed entry does not spoil the others.
        assert_eq!(accept("fr;q=abc, en;q=0.1, fr-NE;q=0.2"), Lang::Fr);
        assert_eq!(accept(";;;q=abc,, fr;q=0.3"), Lang::Fr);
    }

    #[test]
    fn accept_language_very_long_header() {
        let mut header = "de;q=0.9,".repeat(100_000);
        header.push_str("fr;q=0.1");
        assert_eq!(accept(&header), Lang::Fr);

        let junk = ";=,-*".repeat(200_000);
        assert_eq!(accept(&junk), Lang::En);
    }

    #[test]
    fn accept_language_non_ascii() {
        assert_eq!(accept("français"), Lang::En);
        assert_eq!(accept("français, fr;q=0.5"), Lang::Fr);
        assert_eq!(accept("fr;q=0.５"), Lang::En);
        assert_eq!(accept("ﬀ,é;q=é,日本語"), Lang::En);
        assert_eq!(accept("\u{0}\u{7f}\u{fffd};q=0.9,fr\u{a0}"), Lang::En);
    }

    #[test]
    fn qvalue_parsing() {
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0."), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.05"), Some(50));
        assert_eq!(parse_qvalue("0.123"), Some(123));
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("1.001"), None);
        assert_eq!(parse_qvalue(".5"), None);
        assert_eq!(parse_qvalue("0,5"), None);
        assert_eq!(parse_qvalue(""), None);
    }
}
