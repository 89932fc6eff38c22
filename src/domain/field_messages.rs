//! Field-level validation messages in French, one per stable field error
//! code (the English message is written where the rule is checked, with its
//! particulars; the French one names the field and what is wrong with it).

/// French message for a field error, by its code (`None`: no translation,
/// the English message stays).
pub fn french(code: &str, field: &str) -> Option<String> {
    let f = format!("`{field}`");
    Some(match code {
        "required" => format!("Le champ {f} est obligatoire."),
        "invalid" => format!("La valeur du champ {f} n'est pas valide."),
        "invalid_value" => format!("La valeur du champ {f} n'est pas admise."),
        "invalid_payload" => format!("Le contenu du champ {f} n'est pas valide."),
        "unknown_code" => format!(
            "La valeur du champ {f} n'est pas un code de la liste de référence (GET /api/v1/code-lists)."
        ),
        "not_applicable" => format!("Le champ {f} ne s'applique pas ici."),
        "out_of_range" => format!("La valeur du champ {f} est hors des limites admises."),
        "in_future" => format!("La date du champ {f} est dans le futur."),
        "in_past" => format!("La date du champ {f} est dans le passé."),
        "too_many" => format!("Le champ {f} contient trop d'éléments."),
        "too_long" => format!("Le champ {f} est trop long."),
        "invalid_length" => format!(
            "Le champ {f} n'a pas la longueur admise (un mot de passe compte 12 à 128 caractères)."
        ),
        "unknown" => format!("Le champ {f} ne désigne rien de connu."),
        "duplicate" => format!("Le champ {f} contient un doublon."),
        "taken" => format!("La valeur du champ {f} est déjà prise."),
        "own_account" => format!(
            "Le champ {f} ne peut pas être changé sur son propre compte (un autre administrateur le fera)."
        ),
        "control_characters" => format!("Le champ {f} contient des caractères de contrôle."),
        "unknown_crossing_point" => format!(
            "Le champ {f} ne désigne pas un point de passage actif (GET /api/v1/crossing-points)."
        ),
        "invalid_window" => format!(
            "La fenêtre de dates du champ {f} n'est pas valide (31 jours au plus, la fin après le début)."
        ),
        "invalid_reference" => format!(
            "Le champ {f} n'est pas une référence de dossier (par exemple `NE-2026-KNEH33`)."
        ),
        "invalid_country" => format!("Le champ {f} n'est pas un code pays ISO 3166-1."),
        "invalid_language" => format!("Le champ {f} n'est pas un code de langue ISO 639-3."),
        "contradicts_age_band" => {
            format!("Le champ {f} contredit la tranche d'âge indiquée.")
        }
        "before_given_on" => format!(
            "La date du champ {f} précède la date à laquelle le consentement a été donné."
        ),
        "referral_not_covered" => format!(
            "Le consentement du champ {f} ne couvre pas l'orientation (`referral`)."
        ),
        "consent_withdrawn" => format!("Le consentement du champ {f} a été retiré."),
        "guardian_required" => format!(
            "Pour un mineur, le champ {f} doit être le consentement d'un parent ou tuteur, ou une décision dans l'intérêt supérieur de l'enfant."
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field error code the code base uses has a French message.
    #[test]
    fn every_field_error_code_is_translated() {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut missing = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(src)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                for part in text.split("FieldError::new(").skip(1) {
                    // The code is the second argument, a string literal.
                    let args: Vec<&str> = part.splitn(3, ',').collect();
                    let Some(code) = args.get(1).map(|a| a.trim()) else {
                        continue;
                    };
                    if let Some(code) = code.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
                        if french(code, "x").is_none() {
                            missing.push(format!("{}: {code}", path.display()));
                        }
                    }
                }
            }
        }
        assert!(missing.is_empty(), "{missing:#?}");
    }
}
