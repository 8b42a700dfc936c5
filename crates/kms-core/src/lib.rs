//! kms-core: the domain and the service. No HTTP, no database: storage and
//! time come in through the ports in [`ports`].

pub mod backup;
pub mod ciphertext;
pub mod crypto;
pub mod error;
pub mod faults;
pub mod grants;
pub mod identity;
pub mod ids;
pub mod model;
pub mod ports;
pub mod quota;
pub mod service;
pub mod time;
pub mod types;
pub mod validate;

pub use error::{Error, Result};
/// Whether this is the FIPS build (docs/FIPS.md): the AWS-LC FIPS module,
/// and only the key specs it serves.
pub const FIPS: bool = kms_crypto::FIPS;
pub use service::{Kms, RequestContext};
