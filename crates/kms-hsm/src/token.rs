//! What both uses of a token share: loading the module, finding the token
//! by label, the template of the AES keys made in it.

use std::path::Path;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::Attribute;
use cryptoki::slot::Slot;

pub(crate) fn err(what: &str) -> impl Fn(cryptoki::error::Error) -> String + '_ {
    move |e| format!("PKCS#11 {what}: {e}")
}

/// Load and initialize a PKCS#11 module (finalized when the last clone of
/// the context is dropped).
pub(crate) fn load(module: &Path) -> Result<Pkcs11, String> {
    let ctx = Pkcs11::new(module).map_err(|e| format!("cannot load the PKCS#11 module {}: {e}", module.display()))?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).map_err(err("C_Initialize"))?;
    Ok(ctx)
}

/// The slot holding the token labelled `label`, if any.
pub(crate) fn slot(ctx: &Pkcs11, label: &str) -> Result<Option<Slot>, String> {
    for s in ctx.get_slots_with_token().map_err(err("C_GetSlotList"))? {
        if ctx.get_token_info(s).map_err(err("C_GetTokenInfo"))?.label() == label {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// An AES-256 key kept in the token, private, sensitive and never
/// extractable, for AES-GCM.
pub(crate) fn aes_key_template(label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::ValueLen(32.into()),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}
