//! The web console in a real browser (Debian's Chromium, driven by
//! Playwright; the scenarios are in `tests/browser`).

use passerelle::domain::roles::Role;
use serde_json::json;

use crate::browser::{run_scenario, with_console_passwords};
use crate::helpers::*;

#[tokio::test]
async fn the_whole_sop_is_clicked_through_in_two_consoles() {
    let (ne, ng) = spawn_pair().await;
    with_console_passwords(&ne);
    with_console_passwords(&ng);
    run_scenario("sop.mjs", &[("niamey", &ne), ("abuja", &ng)], json!({})).await;
    // Both nodes end with the case closed, and agree on it.
    for n in [&ne, &ng] {
        let page = n.get_ok("/api/v1/cases?state=closed", Role::Supervisor).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    }
}
