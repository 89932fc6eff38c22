//! The contract: every request the test helpers send and every response they
//! receive is checked against `openapi/openapi.json` — the operation exists,
//! path and query parameters and the body match their schemas, the status is
//! one the operation documents, the content type is the documented one, and
//! the body matches the documented schema. A violation fails the test that
//! caused it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Value};

/// The checked-in spec, parsed once.
fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("openapi/openapi.json"))
            .expect("the spec is JSON")
    })
}

type Validator = Arc<jsonschema::Validator>;

/// A validator for `schema` (which may `$ref` the spec's components),
/// compiled once per distinct schema.
fn validator(schema: &Value) -> Validator {
    static CACHE: OnceLock<Mutex<HashMap<String, Validator>>> = OnceLock::new();
    let key = schema.to_string();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(&key) {
        return v.clone();
    }
    // The spec is the root document, so `#/components/schemas/…` resolves.
    let mut root = json!({ "components": spec()["components"].clone() });
    root["allOf"] = json!([schema]);
    let v = Arc::new(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .should_ignore_unknown_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema does not compile: {e}: {schema}")),
    );
    cache.lock().unwrap().insert(key, v.clone());
    v
}

fn errors(schema: &Value, instance: &Value) -> Vec<String> {
    validator(schema)
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The operation of the spec that `method path` calls, with its path
/// parameters (`None`: no such operation).
fn operation(
    method: &str,
    path: &str,
) -> Option<(String, &'static Value, HashMap<String, String>)> {
    let method = method.to_ascii_lowercase();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let paths = spec()["paths"].as_object()?;
    // Literal segments win over templated ones (`/cases/{id}` vs `/cases/export`).
    let mut best: Option<(usize, String, &Value, HashMap<String, String>)> = None;
    for (template, item) in paths {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut params = HashMap::new();
        let mut literal = 0;
        let matched = parts.iter().zip(&segments).all(|(t, s)| {
            if t.starts_with('{') && t.ends_with('}') {
                params.insert(t[1..t.len() - 1].to_owned(), (*s).to_owned());
                true
            } else {
                literal += 1;
                t == s
            }
        });
        if matched && best.as_ref().is_none_or(|b| literal > b.0) {
            best = Some((literal, template.clone(), item, params));
        }
    }
    let (_, template, item, params) = best?;
    let op = item.get(&method)?;
    Some((template, op, params))
}

/// The value of a query or path parameter as its schema expects (numbers
/// and booleans parse, everything else stays a string).
fn typed(raw: &str, schema: &Value) -> Value {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"integer") {
        if let Ok(i) = raw.parse::<i64>() {
            return json!(i);
        }
    }
    if types.contains(&"number") {
        if let Ok(f) = raw.parse::<f64>() {
            return json!(f);
        }
    }
    if types.contains(&"boolean") {
        if let Ok(b) = raw.parse::<bool>() {
            return json!(b);
        }
    }
    json!(raw)
}

fn resolve(schema: &Value) -> &Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &spec()["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// What a test sent.
pub struct SentRequest<'a> {
    pub method: &'a str,
    pub url: &'a reqwest::Url,
    pub content_type: Option<&'a str>,
    pub body: Option<&'a [u8]>,
}

/// Whether the request is one the spec describes as valid (a test may send
/// invalid requests on purpose: they must then be refused, as documented).
pub fn request_conforms(r: &SentRequest<'_>) -> Result<(), Vec<String>> {
    let Some((template, op, params)) = operation(r.method, r.url.path()) else {
        return Err(vec![format!("no operation {} {}", r.method, r.url.path())]);
    };
    let mut problems = Vec::new();
    let declared = op["parameters"].as_array().cloned().unwrap_or_default();
    let query: Vec<(String, String)> = r
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for p in &declared {
        let name = p["name"].as_str().unwrap_or_default();
        let schema = resolve(&p["schema"]);
        let value = match p["in"].as_str() {
            Some("path") => params.get(name).cloned(),
            Some("query") => query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone()),
            _ => continue,
        };
        match value {
            Some(v) => {
                for e in errors(schema, &typed(&v, schema)) {
                    problems.push(format!("{template}: parameter `{name}`: {e}"));
                }
            }
            None if p["required"] == true => {
                problems.push(format!("{template}: parameter `{name}` missing"))
            }
            None => {}
        }
    }
    for (k, _) in &query {
        if !declared
            .iter()
            .any(|p| p["in"] == "query" && p["name"] == k.as_str())
        {
            problems.push(format!("{template}: undeclared query parameter `{k}`"));
        }
    }
    if let Some(body) = r.body {
        let content = &op["requestBody"]["content"];
        let ct = r
            .content_type
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        match content.get(ct) {
            None => problems.push(format!(
                "{template}: undocumented request content type `{ct}`"
            )),
            Some(media) => match serde_json::from_slice::<Value>(body) {
                Ok(v) => {
                    for e in errors(&media["schema"], &v) {
                        problems.push(format!("{template}: request body: {e}"));
                    }
                }
                Err(e) => problems.push(format!("{template}: request body is not JSON: {e}")),
            },
        }
    } else if op["requestBody"]["required"] == true {
        problems.push(format!("{template}: request body missing"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Checks a response against the operation's documented responses. Returns
/// the violations (none: it conforms).
pub fn response_violations(
    r: &SentRequest<'_>,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Vec<String> {
    let Some((template, op, _)) = operation(r.method, r.url.path()) else {
        // No such operation: a 401 (not authenticated) or 404/405 problem.
        return problem_violations(
            status,
            content_type,
            body,
            &format!("{} {}", r.method, r.url.path()),
        );
    };
    let responses = &op["responses"];
    let documented = responses
        .get(status.to_string())
        .or_else(|| responses.get(format!("{}XX", status / 100)))
        .or_else(|| responses.get("default"));
    let Some(documented) = documented else {
        return vec![format!(
            "{} {template}: status {status} is not documented (documented: {:?})",
            r.method,
            responses.as_object().map(|o| o.keys().collect::<Vec<_>>())
        )];
    };
    let documented = match documented.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            &spec()["components"]["responses"][r.trim_start_matches("#/components/responses/")]
        }
        None => documented,
    };
    let Some(content) = documented["content"].as_object() else {
        if !body.is_empty() {
            return vec![format!(
                "{} {template} {status}: a body where none is documented",
                r.method
            )];
        }
        return vec![];
    };
    let base = |t: &str| {
        t.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let ct = base(content_type.unwrap_or(""));
    let Some(media) = content.iter().find(|(k, _)| base(k) == ct).map(|(_, v)| v) else {
        return vec![format!(
            "{} {template} {status}: content type `{ct}` not documented ({:?})",
            r.method,
            content.keys().collect::<Vec<_>>()
        )];
    };
    if !(ct.ends_with("json")) {
        return vec![];
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => errors(&media["schema"], &v)
            .into_iter()
            .map(|e| format!("{} {template} {status}: {e}", r.method))
            .collect(),
        Err(e) => vec![format!(
            "{} {template} {status}: body is not JSON: {e}",
            r.method
        )],
    }
}

fn problem_violations(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    what: &str,
) -> Vec<String> {
    if !(400..600).contains(&status) {
        return vec![format!("{what}: undocumented operation answered {status}")];
    }
    if content_type != Some("application/problem+json") {
        return vec![format!("{what}: {status} is not a problem document")];
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    errors(&json!({ "$ref": "#/components/schemas/Problem" }), &v)
        .into_iter()
        .map(|e| format!("{what} {status}: {e}"))
        .collect()
}

/// Checks one exchange; panics with every violation found.
pub fn check(r: &SentRequest<'_>, status: u16, content_type: Option<&str>, body: &[u8]) {
    let mut problems = response_violations(r, status, content_type, body);
    if let Err(request) = request_conforms(r) {
        if (200..300).contains(&status) {
            problems.push(format!(
                "the server accepted ({status}) a request the spec says is invalid: {request:?}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} {} broke the contract:\n  {}\nbody: {}",
        r.method,
        r.url.path(),
        problems.join("\n  "),
        String::from_utf8_lossy(&body[..body.len().min(2000)])
    );
}
