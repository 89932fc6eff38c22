//! ISO 3166-1 alpha-2 country codes and the ISO 639-3 language code shape.

/// All 249 officially assigned ISO 3166-1 alpha-2 codes.
const ISO_3166_ALPHA2: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether `code` is an assigned ISO 3166-1 alpha-2 code (upper case).
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && ISO_3166_ALPHA2.split(' ').any(|c| c == code)
}

/// Whether `code` has the shape of an ISO 639-3 code (three lower-case
/// letters). The full register has some 7,900 entries and changes yearly, so
/// only the shape is checked here.
pub fn is_language(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries() {
        assert_eq!(ISO_3166_ALPHA2.split(' ').count(), 249);
        for c in ["NE", "NG", "BJ", "TD", "CM", "ML", "BF", "LY", "DZ"] {
            assert!(is_country(c), "{c}");
        }
        for c in ["ng", "XX", "N", "NGA", ""] {
            assert!(!is_country(c), "{c}");
        }
    }

    #[test]
    fn languages() {
        for l in [
            "hau", "yor", "ibo", "fra", "eng", "dje", "fuv", "kau", "tmh",
        ] {
            assert!(is_language(l));
        }
        for l in ["ha", "HAU", "hau1", ""] {
            assert!(!is_language(l));
        }
    }
}
