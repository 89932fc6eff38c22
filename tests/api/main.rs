//! One integration-test binary: real servers on port 0, a fresh database per
//! test (SQLite by default; PostgreSQL with `PASSERELLE_TEST_BACKEND=postgres`).

mod audit;
mod audit_watch;
mod backup;
mod browser;
mod certs;
mod cli;
mod concurrency;
mod console;
mod contract;
mod convergence;
mod erasure_files;
mod exchange;
mod fake_peer;
mod helpers;
mod keys;
mod layers;
mod lifecycle;
mod malformed;
mod migrations;
mod name_search;
mod node_lock;
mod openapi;
mod operations;
mod peer_port;
mod pipelined;
mod privacy;
mod properties;
mod review_at_scale;
mod roles;
mod session;
mod sop;
mod spec;
mod statistics;
mod users;
mod vectors;
