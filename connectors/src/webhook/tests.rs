//! The webhook connector against the center simulator on loopback.

use std::sync::Arc;

use lienthong_certs::httpsig::{HmacSecret, SigningKey, VerifyingKey};
use lienthong_tests::center_sim::CenterSim;
use serde_json::json;

use super::*;
use crate::Notice;
use crate::http::RequestSigner;

fn connector(url: &str, signer: Option<Arc<RequestSigner>>) -> WebhookConnector {
    let config: WebhookConfig =
        toml::from_str(&format!("url = \"{url}\"\ntimeout = \"3s\"\n")).unwrap();
    WebhookConnector::new(
        &config,
        &OutboundSecurity {
            signer,
            ..Default::default()
        },
    )
    .unwrap()
}

fn notice(id: &str) -> OutboundMessage {
    OutboundMessage {
        id: id.into(),
        body: MessageBody::Notice(Notice {
            event: "exchange.dossier".into(),
            dossier_code: "000.00.12.H37-261129-0001".into(),
            data: json!({ "from": "000.02.01.H37", "subject": "Cấp giấy phép xây dựng" }),
        }),
        attempt: 1,
    }
}

#[tokio::test]
async fn notices_arrive_with_their_id_and_data() {
    let center = CenterSim::start().await.unwrap();
    let c = connector(&center.url(), None);
    let outcome = c.deliver(&[notice("m-1")]).await;
    assert!(
        matches!(
            outcome,
            Outcome::Delivered {
                http_status: Some(204),
                ..
            }
        ),
        "{outcome:?}"
    );
    let got = center.notices();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, "m-1");
    assert_eq!(got[0].event, "exchange.dossier");
    assert_eq!(got[0].dossier_code, "000.00.12.H37-261129-0001");
    assert_eq!(got[0].data["subject"], "Cấp giấy phép xây dựng");
}

#[tokio::test]
async fn a_center_outage_is_retried_and_a_refusal_is_permanent() {
    let center = CenterSim::start().await.unwrap();
    let c = connector(&center.url(), None);
    center.set_down(true);
    let outcome = c.deliver(&[notice("m-2")]).await;
    assert!(
        matches!(
            outcome,
            Outcome::Retry {
                http_status: Some(503),
                ..
            }
        ),
        "{outcome:?}"
    );
    center.set_down(false);
    // A URL the center does not serve: 404 is not retried.
    let wrong = connector(&center.url().replace("/notices", "/nowhere"), None);
    let outcome = wrong.deliver(&[notice("m-3")]).await;
    assert!(
        matches!(
            outcome,
            Outcome::Reject {
                http_status: Some(404),
                ..
            }
        ),
        "{outcome:?}"
    );
    // Nothing listening at all: a transport failure, retried.
    let closed = connector("http://127.0.0.1:9/notices", None);
    assert!(matches!(
        closed.deliver(&[notice("m-4")]).await,
        Outcome::Retry { .. }
    ));
    assert!(center.notices().is_empty());
}

#[tokio::test]
async fn signed_notices_verify_and_unsigned_ones_are_refused() {
    let center = CenterSim::start().await.unwrap();
    let secret = b"a shared secret of the center and the gateway!".to_vec();
    center.require_signatures(VerifyingKey::Hmac(HmacSecret::new(secret.clone())));
    let unsigned = connector(&center.url(), None);
    let outcome = unsigned.deliver(&[notice("m-5")]).await;
    assert!(
        matches!(
            outcome,
            Outcome::Reject {
                http_status: Some(401),
                ..
            }
        ),
        "{outcome:?}"
    );
    let signer = Arc::new(RequestSigner::new(
        SigningKey::Hmac(HmacSecret::new(secret)),
        "center-hmac",
    ));
    let signed = connector(&center.url(), Some(signer));
    let outcome = signed.deliver(&[notice("m-6")]).await;
    assert!(matches!(outcome, Outcome::Delivered { .. }), "{outcome:?}");
    let got = center.notices();
    assert_eq!(got.len(), 1);
    assert!(got[0].signed);
}

#[test]
fn every_message_kind_renders_and_a_bad_url_is_refused() {
    let c = connector("http://127.0.0.1:1/notices", None);
    let v = c.render(&notice("x").body).unwrap();
    assert_eq!(v["event"], "exchange.dossier");
    let bad: WebhookConfig = toml::from_str("url = \"ftp://x\"").unwrap();
    assert_eq!(bad.validate()[0].key, "url");
}
