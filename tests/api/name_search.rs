//! A caseworker finds a person's case by part of a name, through the blind
//! index of the names' trigrams: newest first, case-insensitive, the start
//! of a word for two letters, and nothing for names no case holds (or
//! holds any longer).

use passerelle::domain::roles::Role::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

fn person(given: &str, family: &str, other: Option<&str>) -> Value {
    let mut body = ready_case();
    body["identity"] =
        json!({ "given_name": given, "family_name": family, "phone": "+2348012345678" });
    if let Some(other) = other {
        body["identity"]["other_names"] = json!(other);
    }
    body
}

async fn found(n: &TestNode, term: &str) -> Vec<String> {
    n.get_ok(&format!("/api/v1/cases?name={term}"), Caseworker)
        .await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Replaces the draft's data and names; returns its new `ETag`.
async fn rename(n: &TestNode, id: &str, tag: &str, body: &Value) -> String {
    let res = n
        .request(Method::PUT, &format!("/api/v1/cases/{id}"), Caseworker)
        .header("If-Match", tag)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_case_is_found_by_part_of_any_of_its_names_newest_first() {
    let n = spawn_node(passerelle::domain::ids::NodeId::NeAnltp).await;
    let (amina, _) = n.draft(&person("Amina", "Bello", None)).await;
    let (aminu, _) = n.draft(&person("Aminu", "Bellamy", Some("Sani"))).await;
    let (zainab, tag) = n.draft(&person("Zainab", "Qwertyson", None)).await;

    // Newest first; any of the names; case does not matter.
    assert_eq!(found(&n, "BELL").await, vec![aminu.clone(), amina.clone()]);
    assert_eq!(found(&n, "amin").await, vec![aminu.clone(), amina.clone()]);
    assert_eq!(found(&n, "llam").await, vec![aminu.clone()]);
    assert_eq!(found(&n, "sani").await, vec![aminu.clone()]);
    // Two letters match the start of a word.
    assert_eq!(found(&n, "qw").await, vec![zainab.clone()]);
    assert_eq!(found(&n, "be").await, vec![aminu.clone(), amina.clone()]);
    assert_eq!(found(&n, "ll").await, Vec::<String>::new());
    assert_eq!(found(&n, "nobody").await, Vec::<String>::new());

    // A new name replaces the old in the index.
    let tag = rename(&n, &zainab, &tag, &person("Zainab", "Okonkwo", None)).await;
    assert_eq!(found(&n, "qwerty").await, Vec::<String>::new());
    assert_eq!(found(&n, "konkw").await, vec![zainab.clone()]);

    // A name two cases hold stays found when one of them lets it go (the
    // index counts each gram's holders to rank them).
    let (fatima, _) = n.draft(&person("Fatima", "Okonkwo", None)).await;
    assert_eq!(
        found(&n, "konkw").await,
        vec![fatima.clone(), zainab.clone()]
    );
    rename(&n, &zainab, &tag, &person("Zainab", "Musa", None)).await;
    assert_eq!(found(&n, "konkw").await, vec![fatima.clone()]);
    assert_eq!(found(&n, "okonkwo").await, vec![fatima]);
    assert_eq!(found(&n, "musa").await, vec![zainab]);
}
