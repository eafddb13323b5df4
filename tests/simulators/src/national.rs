//! Every national system a provincial center deals with, simulated on loopback, with the
//! configuration of a gateway that talks to all of them: DVCQG (session), NBRS (followed by
//! polling), EMC (every status change), the investment system (signed XML both ways), the payment
//! platform and DVCQG pushing to `/v1/callbacks/…`, and the center's webhook receiving what comes
//! back. Used by the end-to-end test of a dossier's whole life and by `lienthong demo`.

use std::path::{Path, PathBuf};

use lienthong_certs::testpki::Pki;

use crate::center_sim::CenterSim;
use crate::dvcqg_sim::DvcqgSim;
use crate::emc_sim::EmcSim;
use crate::gateway_process::TestConfig;
use crate::investment_sim::{InvestmentSim, SIGNER_CN};
use crate::nbrs_sim::NbrsSim;
use crate::pushers::{DVCQG_KEY, PAYMENT_SECRET};

/// The simulators and the center's signing identity.
pub struct National {
    /// National Public Service Portal.
    pub dvcqg: DvcqgSim,
    /// National Business Registration System.
    pub nbrs: NbrsSim,
    /// National e-monitoring system.
    pub emc: EmcSim,
    /// National Investment Information System.
    pub investment: InvestmentSim,
    /// The center's one-stop software (webhook).
    pub center: CenterSim,
    /// The center's signing certificate and key, and its CA (for `xmlsec1`).
    pub signing: (PathBuf, PathBuf),
    /// The center's CA certificate file.
    pub center_ca: PathBuf,
    investment_ca: PathBuf,
}

impl National {
    /// Starts every simulator; certificates are written into `dir`.
    ///
    /// Errors: a port cannot be bound or a file written.
    pub async fn start(dir: &Path) -> std::io::Result<Self> {
        let pki = Pki::new("Trung tam PVHCC Ninh Binh - Test CA");
        let leaf = pki.leaf("000.02.01.H37", &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
        let signing = leaf.write(dir, "center-signing");
        let center_ca = pki.write_ca(dir);
        let investment = InvestmentSim::start(&pki.ca_pem).await?;
        let investment_ca = dir.join("investment-ca.pem");
        std::fs::write(&investment_ca, investment.ca_pem())?;
        Ok(Self {
            dvcqg: DvcqgSim::start().await?,
            nbrs: NbrsSim::start().await?,
            emc: EmcSim::start().await?,
            investment,
            center: CenterSim::start().await?,
            signing,
            center_ca,
            investment_ca,
        })
    }

    /// The configuration of a gateway on `port` with its store in `dir`: every procedure goes to
    /// DVCQG and EMC, business registrations (field DKKD) also to NBRS (polled every
    /// `poll_interval`), investment (field DTVN) also to the investment system; pushes and
    /// results are forwarded to the center's webhook.
    pub fn config(&self, dir: &Path, port: u16, poll_interval: &str) -> String {
        let mut c = TestConfig::default().render(dir, port, &self.dvcqg);
        c = c.replace(
            "destinations = [\"dvcqg\"]",
            "destinations = [\"dvcqg\", \"emc\"]",
        );
        c.push_str(&self.nbrs.config_toml("nbrs", poll_interval, 10.0));
        c.push_str(&self.emc.config_toml("emc", "H37"));
        c.push_str(&format!(
            r#"
[destinations.investment]
kind = "investment"
url = "{investment}"
timeout = "5s"
[destinations.investment.retry]
initial = "100ms"
max_delay = "1s"

[destinations.center]
kind = "webhook"
url = "{center}"
timeout = "3s"
[destinations.center.retry]
initial = "100ms"
max_delay = "1s"
max_attempts = 1000
max_age = "1h"
[destinations.center.circuit_breaker]
failures = 1000

[signing]
cert = "{cert}"
key = "{key}"

[trust.investment]
anchors = ["{investment_ca}"]

[callbacks]
forward_to = ["center"]
[callbacks.dvcqg]
secret = "{DVCQG_KEY}"
[callbacks.payment]
secret = "{PAYMENT_SECRET}"
[callbacks.investment]
trust = "investment"
signers = ["{SIGNER_CN}"]

[[routes]]
field_code = "DKKD"
destinations = ["nbrs"]

[[routes]]
field_code = "DTVN"
destinations = ["investment"]
"#,
            investment = self.investment.url(),
            center = self.center.url(),
            cert = self.signing.0.display(),
            key = self.signing.1.display(),
            investment_ca = self.investment_ca.display(),
        ));
        c
    }
}
