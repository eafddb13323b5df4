//! What a token holds, for `lienthong certs inspect pkcs11:…`: its slot and token details and
//! its keys and certificates (label, id, type), never key material. Private keys are listed only
//! when a PIN file is given (a token shows them only to a logged-in user).
//!
//! Tokens are named with an RFC 7512 PKCS#11 URI, the form `p11tool` and OpenSC print:
//! `pkcs11:token=TTHCC;object=ky-so?module-path=/usr/lib/x.so&pin-source=/etc/lienthong/pin`
//! (`token`, `serial`, `object`, `id` in the path; `module-path`, `pin-source` in the query).

use std::fmt;
use std::path::PathBuf;

use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

use super::{TokenError, TokenKeyConfig, module};

/// A PKCS#11 URI as Lienthong reads it (RFC 7512, the attributes it uses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `module-path`.
    pub module: Option<PathBuf>,
    /// `token` (label).
    pub token: Option<String>,
    /// `serial`.
    pub serial: Option<String>,
    /// `object` (key label).
    pub object: Option<String>,
    /// `id`, as hex.
    pub id: Option<String>,
    /// `pin-source` (a file; `file:` prefix allowed).
    pub pin_source: Option<PathBuf>,
}

impl Pkcs11Uri {
    /// Parses `pkcs11:…`.
    ///
    /// Errors: not a `pkcs11:` URI, an attribute Lienthong does not know, a value that is not
    /// UTF-8, a PIN given in the URI itself.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let bad = |why: String| TokenError::Config(format!("{text}: {why}"));
        let rest = text
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad("not a pkcs11: URI".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = Self::default();
        let decode = |v: &str| -> Vec<u8> { percent_encoding::percent_decode_str(v).collect() };
        let text_of = |v: &str| -> Result<String, TokenError> {
            String::from_utf8(decode(v)).map_err(|_| bad(format!("{v} is not UTF-8")))
        };
        for pair in path.split(';').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("{pair}: expected name=value")))?;
            match k {
                "token" => uri.token = Some(text_of(v)?),
                "serial" => uri.serial = Some(text_of(v)?),
                "object" => uri.object = Some(text_of(v)?),
                "id" => uri.id = Some(hex::encode(decode(v))),
                // Attributes that only narrow the search further are accepted and not needed.
                "manufacturer"
                | "model"
                | "type"
                | "library-manufacturer"
                | "library-description"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer"
                | "slot-id" => {}
                other => return Err(bad(format!("unknown attribute {other}"))),
            }
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("{pair}: expected name=value")))?;
            match k {
                "module-path" => uri.module = Some(PathBuf::from(text_of(v)?)),
                "pin-source" => {
                    let v = text_of(v)?;
                    uri.pin_source = Some(PathBuf::from(v.strip_prefix("file:").unwrap_or(&v)));
                }
                "pin-value" => {
                    return Err(bad(
                        "pin-value puts the PIN on the command line; use pin-source=FILE".into(),
                    ));
                }
                other => return Err(bad(format!("unknown query attribute {other}"))),
            }
        }
        Ok(uri)
    }
}

/// One object on a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenObject {
    /// `private key`, `public key` or `certificate`.
    pub class: &'static str,
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID` in hex.
    pub id: String,
    /// E.g. `RSA-2048`, `EC`, `X.509`.
    pub kind: String,
}

/// What a token holds.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// Token label.
    pub label: String,
    /// Token serial number.
    pub serial: String,
    /// Manufacturer and model.
    pub made_by: String,
    /// Whether private objects were listed (a PIN was given).
    pub logged_in: bool,
    /// Its objects.
    pub objects: Vec<TokenObject>,
}

impl fmt::Display for Inventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "token:              {}", self.label)?;
        writeln!(f, "serial:             {}", self.serial)?;
        writeln!(f, "made by:            {}", self.made_by)?;
        if !self.logged_in {
            writeln!(f, "(no pin-source: private keys are not listed)")?;
        }
        writeln!(f, "{:<12} {:<10} {:<10} LABEL", "CLASS", "TYPE", "ID")?;
        for o in &self.objects {
            writeln!(f, "{:<12} {:<10} {:<10} {}", o.class, o.kind, o.id, o.label)?;
        }
        Ok(())
    }
}

/// Lists the token `uri` names (its module, token label or serial; a PIN file to see private
/// keys).
///
/// Errors: no module-path, the module or token cannot be had, the PIN was refused.
pub fn inventory(uri: &Pkcs11Uri) -> Result<Inventory, TokenError> {
    let module_path = uri.module.clone().ok_or_else(|| {
        TokenError::Config(
            "the URI needs module-path=… (the token vendor's PKCS#11 library)".into(),
        )
    })?;
    let config = TokenKeyConfig {
        module: module_path.clone(),
        token_label: uri.token.clone(),
        token_serial: uri.serial.clone(),
        key_label: uri.object.clone(),
        key_id: uri.id.clone(),
        pin_file: uri.pin_source.clone().unwrap_or_default(),
    };
    let module = module::module(&module_path)?;
    let in_use = module.use_now();
    let ctx = in_use.context;
    let failed = |e: cryptoki::error::Error| TokenError::Module {
        module: module_path.display().to_string(),
        reason: e.to_string(),
    };
    let mut found = None;
    for slot in ctx.get_slots_with_token().map_err(failed)? {
        let info = ctx.get_token_info(slot).map_err(failed)?;
        let label_ok = uri
            .token
            .as_deref()
            .is_none_or(|l| info.label().trim_end() == l);
        let serial_ok = uri
            .serial
            .as_deref()
            .is_none_or(|s| info.serial_number().trim_end() == s);
        if label_ok && serial_ok {
            found = Some((slot, info));
            break;
        }
    }
    let (slot, info) = found.ok_or_else(|| TokenError::NoToken(config.describe()))?;
    let session = ctx.open_ro_session(slot).map_err(failed)?;
    let logged_in = match &uri.pin_source {
        Some(file) => {
            let pin = std::fs::read_to_string(file)
                .map_err(|e| TokenError::Config(format!("pin-source {}: {e}", file.display())))?;
            session
                .login(
                    UserType::User,
                    Some(&AuthPin::new(
                        pin.trim_end_matches(['\r', '\n']).to_owned().into(),
                    )),
                )
                .map_err(|_| TokenError::Pin(config.describe()))?;
            true
        }
        None => false,
    };
    let mut objects = Vec::new();
    for (class, name) in [
        (ObjectClass::PRIVATE_KEY, "private key"),
        (ObjectClass::PUBLIC_KEY, "public key"),
        (ObjectClass::CERTIFICATE, "certificate"),
    ] {
        for handle in session
            .find_objects(&[Attribute::Class(class)])
            .map_err(failed)?
        {
            let attrs = session
                .get_attributes(
                    handle,
                    &[
                        AttributeType::Label,
                        AttributeType::Id,
                        AttributeType::KeyType,
                        AttributeType::ModulusBits,
                    ],
                )
                .map_err(failed)?;
            let mut object = TokenObject {
                class: name,
                label: String::new(),
                id: String::new(),
                kind: if class == ObjectClass::CERTIFICATE {
                    "X.509".into()
                } else {
                    "?".into()
                },
            };
            for a in attrs {
                match a {
                    Attribute::Label(l) => object.label = String::from_utf8_lossy(&l).into_owned(),
                    Attribute::Id(i) => object.id = hex::encode(i),
                    Attribute::KeyType(k) => object.kind = k.to_string(),
                    Attribute::ModulusBits(bits) => {
                        object.kind = format!("RSA-{}", u64::from(bits));
                    }
                    _ => {}
                }
            }
            objects.push(object);
        }
    }
    Ok(Inventory {
        label: info.label().trim_end().to_owned(),
        serial: info.serial_number().trim_end().to_owned(),
        made_by: format!(
            "{} {}",
            info.manufacturer_id().trim_end(),
            info.model().trim_end()
        ),
        logged_in,
        objects,
    })
}

#[cfg(test)]
mod tests {
    use super::Pkcs11Uri;

    #[test]
    fn uris_are_read_as_rfc_7512_writes_them() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=TTHCC%20Ninh%20Binh;object=ky-so;id=%01%0a?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/lienthong/pin",
        )
        .expect("parses");
        assert_eq!(uri.token.as_deref(), Some("TTHCC Ninh Binh"));
        assert_eq!(uri.object.as_deref(), Some("ky-so"));
        assert_eq!(uri.id.as_deref(), Some("010a"));
        assert_eq!(
            uri.module.as_deref(),
            Some(std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(
            uri.pin_source.as_deref(),
            Some(std::path::Path::new("/etc/lienthong/pin"))
        );
        for bad in [
            "file:/x",
            "pkcs11:token=a;colour=blue",
            "pkcs11:token=a?pin-value=1234",
        ] {
            assert!(Pkcs11Uri::parse(bad).is_err(), "{bad} was taken");
        }
    }
}
