#![allow(clippy::unwrap_used, clippy::expect_used)]

//! End-to-end tests: the official `aws-sdk-kms` client (and raw signed
//! requests for what the SDK cannot send) against a real server on an
//! ephemeral port.

mod asymmetric;
mod audit;
mod authz;
mod backup;
mod console;
mod faults;
mod fips;
mod harness;
mod hsmroot;
mod hsmstore;
mod lifecycle;
mod mlkem;
mod model;
mod nodes;
mod postgres;
mod protocol;
mod quotas;
mod regions;
mod replication;
mod rootkey;
mod seeds;
mod sigv4;
mod slice;
mod storage;
mod sts;
mod symmetric;
mod wire;
mod xksproxy;
mod xksstore;
