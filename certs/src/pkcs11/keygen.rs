//! Test support: key pairs generated on a token, as an agency's CA officer would make them
//! (the private half sensitive and non-extractable), for the SoftHSM2 tests and the
//! `token_keygen` helper.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

use super::{TokenError, TokenKeyConfig, module};

/// The kind of key pair to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeygenKind {
    /// RSA-2048, e = 65537.
    Rsa2048,
    /// ECDSA on prime256v1.
    EcdsaP256,
}

/// Generates a key pair labelled `key_label` with id `key_id` on the token of `config`
/// (`config.key_*` are ignored), logging in with the PIN of `config.pin_file`.
///
/// Errors: the module, token or PIN cannot be had, or the token refuses the generation.
pub fn generate_key_pair(
    config: &TokenKeyConfig,
    key_label: &str,
    key_id: &[u8],
    kind: KeygenKind,
) -> Result<(), TokenError> {
    let module = module::module(&config.module)?;
    let in_use = module.use_now();
    let ctx = in_use.context;
    let wanted = config
        .token_label
        .as_deref()
        .or(config.token_serial.as_deref())
        .unwrap_or_default();
    let slot = ctx
        .get_slots_with_token()
        .map_err(|e| TokenError::Key(e.to_string()))?
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s).is_ok_and(|i| {
                i.label().trim_end() == wanted || i.serial_number().trim_end() == wanted
            })
        })
        .ok_or_else(|| TokenError::NoToken(wanted.to_owned()))?;
    let pin = std::fs::read_to_string(&config.pin_file)
        .map_err(|e| TokenError::Config(format!("pin_file {}: {e}", config.pin_file.display())))?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| TokenError::Key(e.to_string()))?;
    session
        .login(
            UserType::User,
            Some(&AuthPin::new(pin.trim_end().to_owned().into())),
        )
        .map_err(|_| TokenError::Pin(config.describe()))?;
    let private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(key_label.as_bytes().to_vec()),
        Attribute::Id(key_id.to_vec()),
    ];
    let mut public = vec![
        Attribute::Token(true),
        Attribute::Verify(true),
        Attribute::Label(key_label.as_bytes().to_vec()),
        Attribute::Id(key_id.to_vec()),
    ];
    let mechanism = match kind {
        KeygenKind::Rsa2048 => {
            public.push(Attribute::ModulusBits(2048.into()));
            public.push(Attribute::PublicExponent(vec![1, 0, 1]));
            Mechanism::RsaPkcsKeyPairGen
        }
        KeygenKind::EcdsaP256 => {
            // The DER OID of prime256v1.
            public.push(Attribute::EcParams(vec![
                0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
            ]));
            Mechanism::EccKeyPairGen
        }
    };
    session
        .generate_key_pair(&mechanism, &public, &private)
        .map_err(|e| TokenError::Key(format!("generating {key_label}: {e}")))?;
    Ok(())
}
