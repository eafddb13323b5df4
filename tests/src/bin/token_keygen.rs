//! Test helper: generates a key pair on a PKCS#11 token (the private half non-extractable) and
//! prints its DER `SubjectPublicKeyInfo` in hex, so a test can have the test PKI certify it.
//! Run with `SOFTHSM2_CONF` set (SoftHSM reads it when the module loads).
//!
//! ```sh
//! token_keygen MODULE TOKEN_LABEL PIN KEY_LABEL KEY_ID_HEX rsa|ec
//! ```

use anyhow::{Context, bail};
use lienthong_certs::pkcs11::keygen::{KeygenKind, generate_key_pair};
use lienthong_certs::pkcs11::{TokenKey, TokenKeyConfig};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [module, token, pin, label, id, kind] = args.as_slice() else {
        bail!("usage: token_keygen MODULE TOKEN_LABEL PIN KEY_LABEL KEY_ID_HEX rsa|ec");
    };
    let id = hex::decode(id).context("KEY_ID_HEX")?;
    let kind = match kind.as_str() {
        "rsa" => KeygenKind::Rsa2048,
        "ec" => KeygenKind::EcdsaP256,
        other => bail!("kind must be rsa or ec, not {other}"),
    };
    let pin_file = tempfile::NamedTempFile::new()?;
    std::fs::write(pin_file.path(), pin)?;
    let config = TokenKeyConfig {
        module: module.into(),
        token_label: Some(token.clone()),
        token_serial: None,
        key_label: Some(label.clone()),
        key_id: None,
        pin_file: pin_file.path().to_path_buf(),
    };
    generate_key_pair(&config, label, &id, kind)?;
    let key = TokenKey::open(&config)?;
    println!("{}", hex::encode(key.subject_public_key_info()));
    Ok(())
}
