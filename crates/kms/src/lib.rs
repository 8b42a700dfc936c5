//! The kms binary's library: configuration, the server wiring, the
//! operator CLI and its client. `main.rs` only parses arguments.

pub mod backup;
pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod peer;
pub mod root;
pub mod seed;
pub mod server;
pub mod xks;
