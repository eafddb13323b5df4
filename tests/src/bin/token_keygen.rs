//! Test helper: generates a key pair on a PKCS#11 token (the private half non-extractable) and
//! prints its DER `SubjectPublicKeyInfo` in hex, so a test can have the test PKI certify it.
//! Run with `SOFTHSM2_CONF` set (SoftHSM reads it when the module loads).
//!
//! ```sh
//! token_keygen MODULE TOKEN_LABEL PIN KEY_LABEL KEY_ID_HEX rsa|ec
//! ```

use anyhow::{Context, bail};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use lienthong_certs::pkcs11::{TokenKey, TokenKeyConfig};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [module, token, pin, label, id, kind] = args.as_slice() else {
        bail!("usage: token_keygen MODULE TOKEN_LABEL PIN KEY_LABEL KEY_ID_HEX rsa|ec");
    };
    let id_bytes = hex::decode(id).context("KEY_ID_HEX")?;
    let ctx = Pkcs11::new(module).context("module")?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    let slot = ctx
        .get_slots_with_token()?
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .is_ok_and(|i| i.label().trim_end() == token)
        })
        .context("no such token")?;
    let session = ctx.open_rw_session(slot)?;
    session.login(UserType::User, Some(&AuthPin::new(pin.clone().into())))?;
    let private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id_bytes.clone()),
    ];
    let mut public = vec![
        Attribute::Token(true),
        Attribute::Verify(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id_bytes),
    ];
    let mechanism = match kind.as_str() {
        "rsa" => {
            public.push(Attribute::ModulusBits(2048.into()));
            public.push(Attribute::PublicExponent(vec![1, 0, 1]));
            Mechanism::RsaPkcsKeyPairGen
        }
        "ec" => {
            // prime256v1
            public.push(Attribute::EcParams(vec![
                0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
            ]));
            Mechanism::EccKeyPairGen
        }
        other => bail!("kind must be rsa or ec, not {other}"),
    };
    session.generate_key_pair(&mechanism, &public, &private)?;
    drop(session);
    let pin_file = tempfile::NamedTempFile::new()?;
    std::fs::write(pin_file.path(), pin)?;
    let key = TokenKey::open(&TokenKeyConfig {
        module: module.into(),
        token_label: Some(token.clone()),
        token_serial: None,
        key_label: Some(label.clone()),
        key_id: None,
        pin_file: pin_file.path().to_path_buf(),
    })?;
    println!("{}", hex::encode(key.subject_public_key_info()));
    Ok(())
}
