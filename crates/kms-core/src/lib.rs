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
pub use service::{Kms, RequestContext};
