//! What both benchmarks share: the bench provider, as scripts/bench configures it.

use authentik_core::conf::{PlainUnits, ProviderSettings};
use authentik_core::provider::Provider;

pub const ISSUER: &str = "https://authentik.company/application/o/app/";
pub const CLIENT_ID: &str = "vMA9a8ZpHxerNIEzVACsbDMToHVSM9Qle10XqxWl";
pub const CLIENT_SECRET: &str = "ZhcPOCahRS4HjUpr2D0JpSHHZzvLtTCfA2ZipuPTtxInyPvCW1s3wfbrGuNUMwLmA6cI73EGgAu34J3GPOJsoSpLREeb3xISTlVQfQiUS2lks5E3gkpsnO2ig6y9owZN";
pub const COOKIE_SECRET: &str = "KCC6C5C86LNKyJZQS5L9UlSbirUrqhnSywAqBxqfUxsikVpd";

/// The bench provider, with `jwks` (JSON text) as its `jwks_file` when given.
pub fn provider(cookie_name: &str, jwks: Option<&str>) -> Provider {
    let mut settings = ProviderSettings::new("bench").unwrap();
    let mut lines = vec![
        ("issuer", ISSUER.to_string()),
        ("client_id", CLIENT_ID.to_string()),
        ("client_secret", CLIENT_SECRET.to_string()),
        ("cookie_secret", COOKIE_SECRET.to_string()),
        ("external_host", "http://app.company".to_string()),
        ("cookie_name", cookie_name.to_string()),
        ("token_request", "/_t".to_string()),
    ];
    if let Some(jwks) = jwks {
        let path =
            std::env::temp_dir().join(format!("authentik-bench-{}.jwks", std::process::id()));
        std::fs::write(&path, jwks).unwrap();
        lines.push(("jwks_file", path.display().to_string()));
    }
    for (name, value) in &lines {
        settings.set(name, &[value.as_str()], &PlainUnits).unwrap();
    }
    settings.build(0).unwrap().0
}
