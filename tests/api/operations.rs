//! Health, readiness, metrics, request ids and API docs.

use passerelle::domain::ids::NodeId;
use passerelle::domain::roles::Role::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn health_readiness_metrics_and_request_ids() {
    let n = spawn_node(NodeId::NgNaptip).await;
    let res = n
        .anonymous(reqwest::Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("x-request-id"));
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["node"].as_str(), v["backend"].as_str()),
        (Some("ng-naptip"), Some(backend().as_str()))
    );
    // A node's one replica takes the dispatcher's and the timers' leases.
    let mut ready = Value::Null;
    for _ in 0..100 {
        let res = n
            .anonymous(reqwest::Method::GET, "/readyz")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        ready = res.json().await.unwrap();
        if ready["dispatcher"] == true && ready["timers"] == true {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        (&ready["dispatcher"], &ready["timers"]),
        (&json!(true), &json!(true)),
        "{ready}"
    );
    assert!(ready["replica"].as_str().is_some_and(|r| !r.is_empty()));

    n.get("/api/v1/me", Caseworker).send().await.unwrap();
    let res = n
        .anonymous(reqwest::Method::GET, "/api/v1/me")
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().contains_key("x-request-id"),
        "refusals carry a request id too"
    );
    let metrics = n.metrics().await;
    assert!(
        metrics.contains(
            "passerelle_http_requests_total{method=\"GET\",route=\"/api/v1/me\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("status=\"401\""));

    // Swagger UI is served from the binary (no CDN), with the spec beside it.
    let res = n
        .client
        .get(format!("{}/swagger-ui/", n.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui") && !html.contains("unpkg.com") && !html.contains("cdn"));
    let res = n
        .client
        .get(format!("{}/swagger-ui/swagger-ui-bundle.js", n.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let spec: Value = n
        .client
        .get(format!("{}/api-docs/openapi.json", n.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
}
