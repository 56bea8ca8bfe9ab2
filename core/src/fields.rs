//! The one table of identity fields: each field's `$authentik_*` variable and `X-authentik-*`
//! header. The variables and the upstream headers are both derived from it.

use crate::headers::HeaderName;

/// A value the module exposes for an authenticated request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Username,
    Groups,
    Entitlements,
    Email,
    Name,
    Uid,
    Jwt,
    MetaJwks,
    MetaOutpost,
    MetaProvider,
    MetaApp,
    MetaVersion,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct FieldSpec {
    pub field: Field,
    /// The variable name, without `$`.
    pub variable: &'static str,
    pub header: HeaderName,
}

macro_rules! row {
    ($field:ident, $variable:literal, $header:literal) => {
        FieldSpec {
            field: Field::$field,
            variable: $variable,
            header: HeaderName::new($header),
        }
    };
}

/// Every identity field, in authentik's header order.
pub static FIELDS: [FieldSpec; 12] = [
    row!(Username, "authentik_username", "X-authentik-username"),
    row!(Groups, "authentik_groups", "X-authentik-groups"),
    row!(
        Entitlements,
        "authentik_entitlements",
        "X-authentik-entitlements"
    ),
    row!(Email, "authentik_email", "X-authentik-email"),
    row!(Name, "authentik_name", "X-authentik-name"),
    row!(Uid, "authentik_uid", "X-authentik-uid"),
    row!(Jwt, "authentik_jwt", "X-authentik-jwt"),
    row!(MetaJwks, "authentik_meta_jwks", "X-authentik-meta-jwks"),
    row!(
        MetaOutpost,
        "authentik_meta_outpost",
        "X-authentik-meta-outpost"
    ),
    row!(
        MetaProvider,
        "authentik_meta_provider",
        "X-authentik-meta-provider"
    ),
    row!(MetaApp, "authentik_meta_app", "X-authentik-meta-app"),
    row!(
        MetaVersion,
        "authentik_meta_version",
        "X-authentik-meta-version"
    ),
];

/// The prefix of `$authentik_claim_NAME`.
pub const CLAIM_VARIABLE_PREFIX: &str = "authentik_claim_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_and_headers_name_the_same_field() {
        for spec in FIELDS {
            let from_variable = spec
                .variable
                .trim_start_matches("authentik_")
                .replace('_', "-");
            let from_header = spec.header.name().trim_start_matches("X-authentik-");
            assert_eq!(from_variable, from_header);
        }
    }
}
