//! Passerelle: the referral exchange between Niger (ANLTP/TIM) and Nigeria
//! (NAPTIP) for victims of trafficking in persons and stranded migrants.
//!
//! Layout: [`domain`] holds the pure rules (no I/O); [`store`] keeps them on
//! SQLite or PostgreSQL; [`api`] is the caseworker HTTP API; [`startup`]
//! assembles a node; [`cli`] is the command line.

pub mod api;
pub mod app;
pub mod audit;
pub mod bench;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod meter;
pub mod peer;
pub mod replica;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
