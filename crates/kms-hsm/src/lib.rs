//! PKCS#11 tokens (an HSM, or SoftHSM2), through the `cryptoki` crate:
//! - `clusters`: the HSM "clusters" of `AWS_CLOUDHSM` custom key stores,
//!   implementing kms-core's `Hsm` port (docs/HSM.md);
//! - `root`: the token key that wraps the root key (docs/ROOT-KEY.md).
//!
//! Every call blocks; callers run them off the async runtime.

mod clusters;
mod root;
mod token;

pub use clusters::{ClusterConfig, Pkcs11Clusters};
pub use root::{unwrap, wrap, TokenConfig};
