//! The checked-in OpenAPI document matches the code; every route is
//! documented with its errors; every schema field is described.
//! Regenerate with `PASSERELLE_REGENERATE=1 cargo test`.

use serde_json::Value;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

#[test]
fn checked_in_spec_matches_the_code() {
    let generated = passerelle::api::openapi_json();
    if std::env::var_os("PASSERELLE_REGENERATE").is_some() {
        std::fs::write(PATH, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/openapi.json is out of date: run `PASSERELLE_REGENERATE=1 cargo test` and commit the result"
    );
}

#[test]
fn every_operation_is_tagged_and_documents_its_errors() {
    let spec: Value = serde_json::from_str(&passerelle::api::openapi_json()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 10);
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{method} {path}");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{name} has no tag"
            );
            assert!(
                op["description"].is_string() || op["summary"].is_string(),
                "{name} is not described"
            );
            let responses = op["responses"].as_object().unwrap();
            if path.starts_with("/api/") {
                for code in ["400", "401", "403", "500", "503"] {
                    let r = &responses[code];
                    assert!(
                        r["content"]["application/problem+json"].is_object(),
                        "{name} does not document {code} as a problem"
                    );
                }
                assert!(
                    !op["security"].is_null(),
                    "{name} has no security requirement"
                );
            }
        }
    }
}

#[test]
fn every_schema_field_is_described() {
    let spec: Value = serde_json::from_str(&passerelle::api::openapi_json()).unwrap();
    let mut undocumented = Vec::new();
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        if let Some(props) = schema["properties"].as_object() {
            for (field, p) in props {
                let described = p["description"].is_string()
                    || p["allOf"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x["description"].is_string()))
                    || p["oneOf"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x["description"].is_string()));
                if !described {
                    undocumented.push(format!("{name}.{field}"));
                }
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "fields without a description: {undocumented:?}"
    );
}
