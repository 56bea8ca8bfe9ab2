//! Per-location authorisation: `authentik_require_group` and `authentik_require`.

/// `authentik_require`: every value passes only if it is non-empty and not a false value.
/// False values are `0`, `false` and `null` (what `$authentik_claim_*` renders for JSON
/// `false` and `null`), and any number equal to zero (`0.0`, `-0`, `0e3`).
pub fn require_values_pass<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> bool {
    values.into_iter().all(|v| !is_false(v))
}

fn is_false(value: &[u8]) -> bool {
    if value.is_empty() || value == b"false" || value == b"null" {
        return true;
    }
    let numeric = value
        .iter()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    numeric
        && std::str::from_utf8(value)
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .is_some_and(|n| n == 0.0)
}

/// True when `required` is empty, or the user is in at least one of its groups.
pub fn group_requirement_met<'g, S: AsRef<str>>(
    user_groups: impl Iterator<Item = &'g str> + Clone,
    required: &[S],
) -> bool {
    required.is_empty()
        || required
            .iter()
            .any(|want| user_groups.clone().any(|have| have == want.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_values() {
        assert!(require_values_pass([b"1".as_slice(), b"yes"]));
        assert!(require_values_pass(std::iter::empty()));
        assert!(require_values_pass([b"true".as_slice()]));
        assert!(require_values_pass([b"00x".as_slice()]));
        assert!(require_values_pass([b"0.5".as_slice()]));
        assert!(
            require_values_pass([b"False".as_slice()]),
            "only JSON's spelling is false"
        );
        for falsy in [
            &b""[..],
            b"0",
            b"false",
            b"null",
            b"0.0",
            b"00",
            b"-0",
            b"0e3",
            b"+0.000",
        ] {
            assert!(
                !require_values_pass([falsy]),
                "{:?}",
                String::from_utf8_lossy(falsy)
            );
        }
        assert!(!require_values_pass([b"1".as_slice(), b""]));
    }

    #[test]
    fn groups() {
        let mine = ["authentik Admins", "users"];
        assert!(group_requirement_met::<&str>(mine.into_iter(), &[]));
        assert!(group_requirement_met(mine.into_iter(), &["ops", "users"]));
        assert!(!group_requirement_met(
            mine.into_iter(),
            &["authentik admins"]
        ));
        assert!(!group_requirement_met(std::iter::empty(), &["users"]));
    }
}
