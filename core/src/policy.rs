//! Per-location authorisation: `authentik_require_group` and `authentik_require`.

/// NGINX Plus `auth_jwt_require` semantics: every value non-empty and not `0`.
pub fn require_values_pass<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> bool {
    values.into_iter().all(|v| !v.is_empty() && v != b"0")
}

/// True when `required` is empty, or the user is in at least one of its groups.
pub fn group_requirement_met<S: AsRef<str>>(user_groups: &[String], required: &[S]) -> bool {
    required.is_empty()
        || required
            .iter()
            .any(|want| user_groups.iter().any(|have| have == want.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_values() {
        assert!(require_values_pass([b"1".as_slice(), b"yes"]));
        assert!(require_values_pass(std::iter::empty()));
        assert!(!require_values_pass([b"1".as_slice(), b""]));
        assert!(!require_values_pass([b"0".as_slice()]));
        assert!(require_values_pass([b"00".as_slice()]));
    }

    #[test]
    fn groups() {
        let mine = vec!["authentik Admins".to_string(), "users".to_string()];
        assert!(group_requirement_met::<&str>(&mine, &[]));
        assert!(group_requirement_met(&mine, &["ops", "users"]));
        assert!(!group_requirement_met(&mine, &["authentik admins"]));
        assert!(!group_requirement_met(&[], &["users"]));
    }
}
