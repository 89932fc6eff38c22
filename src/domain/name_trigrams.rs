//! Which trigrams of a person's names a name search compares: the rule
//! behind the blind index (the store keys and hashes them).

/// The trigrams of a name's words, lower-cased, each word padded as
/// PostgreSQL's pg_trgm does (two spaces before, one after), so that one or
/// two letters match the start of a word.
pub fn name_trigrams(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in name.to_lowercase().split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let chars: Vec<char> = format!("  {word} ").chars().collect();
        for w in chars.windows(3) {
            out.push(w.iter().collect());
        }
    }
    out
}

/// The trigrams a search term must all be among a name's: those inside
/// each word of the term, or for a word of one or two letters the padded
/// one that starts a word.
pub fn term_trigrams(term: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in term.to_lowercase().split(|c: char| !c.is_alphanumeric()) {
        let chars: Vec<char> = word.chars().collect();
        match chars.len() {
            0 => {}
            1 | 2 => out.push(format!("{}{word}", " ".repeat(3 - chars.len()))),
            _ => out.extend(chars.windows(3).map(|w| w.iter().collect::<String>())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_term_trigram_of_a_contained_term_is_a_name_trigram() {
        let name: std::collections::BTreeSet<String> =
            name_trigrams("Qwertyson Adaeze").into_iter().collect();
        for term in ["ertys", "QWE", "q", "ad", "adaeze qwerty", "son"] {
            for g in term_trigrams(term) {
                assert!(name.contains(&g), "{term}: {g:?}");
            }
        }
        assert!(term_trigrams("xyz").iter().any(|g| !name.contains(g)));
    }
}
