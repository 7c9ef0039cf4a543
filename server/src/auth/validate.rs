//! Username and password rules of `docs/protocol.md` (`POST /api/register`):
//! username 3-32 of `A-Za-z0-9_-`, password 8-128 characters (Unicode scalar
//! values, not bytes). Pure functions; the error messages are meant for the
//! client's `{"error": ...}` body. Must not hash or touch storage.

use super::AuthError;

/// Shortest allowed username.
pub const USERNAME_MIN: usize = 3;
/// Longest allowed username.
pub const USERNAME_MAX: usize = 32;
/// Shortest allowed password, in characters.
pub const PASSWORD_MIN: usize = 8;
/// Longest allowed password, in characters. Checked before hashing so a huge
/// password cannot cost more than a normal one.
pub const PASSWORD_MAX: usize = 128;

/// Checks a username: 3-32 characters, each one of `A-Z a-z 0-9 _ -`.
pub fn username(name: &str) -> Result<(), AuthError> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(AuthError::InvalidUsername(
            "username may only contain letters A-Z and a-z, digits, '_' and '-'",
        ));
    }
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&name.len()) {
        return Err(AuthError::InvalidUsername(
            "username must be 3 to 32 characters long",
        ));
    }
    Ok(())
}

/// Checks a password's length: 8-128 characters (not bytes).
pub fn password(password: &str) -> Result<(), AuthError> {
    // A char is at most 4 bytes: anything longer than this is too long
    // without counting.
    let too_long = password.len() > 4 * PASSWORD_MAX || password.chars().count() > PASSWORD_MAX;
    if too_long {
        return Err(AuthError::InvalidPassword(
            "password must be at most 128 characters long",
        ));
    }
    if password.chars().count() < PASSWORD_MIN {
        return Err(AuthError::InvalidPassword(
            "password must be at least 8 characters long",
        ));
    }
    Ok(())
}

/// Checks both fields of a registration, username first.
pub fn credentials(name: &str, pass: &str) -> Result<(), AuthError> {
    username(name)?;
    password(pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usernames_within_the_rules() {
        for ok in ["abc", "Alice_01", "a-b_c", &"x".repeat(32), "___", "0-9"] {
            assert_eq!(username(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_short_and_long_usernames() {
        for bad in ["", "ab", &"x".repeat(33)] {
            let err = username(bad).unwrap_err();
            assert!(err.to_string().contains("3 to 32"), "{bad}: {err}");
        }
    }

    #[test]
    fn rejects_usernames_with_other_characters() {
        for bad in [
            "with space",
            "dot.name",
            "émile",
            "tab\tname",
            "nul\0x",
            "semi;colon",
            "../etc",
        ] {
            let err = username(bad).unwrap_err();
            assert!(matches!(err, AuthError::InvalidUsername(_)), "{bad}");
            assert!(err.to_string().contains("may only contain"), "{bad}: {err}");
        }
    }

    #[test]
    fn accepts_passwords_of_8_to_128_chars() {
        assert_eq!(password("12345678"), Ok(()));
        assert_eq!(password(&"p".repeat(128)), Ok(()));
        // 128 four-byte characters: 512 bytes, still 128 chars.
        assert_eq!(password(&"😀".repeat(128)), Ok(()));
        // 8 chars of 2 bytes each.
        assert_eq!(password("éééééééé"), Ok(()));
    }

    #[test]
    fn rejects_short_passwords_counting_chars_not_bytes() {
        // 7 characters but 14 bytes.
        let err = password("ééééééé").unwrap_err();
        assert!(err.to_string().contains("at least 8"), "{err}");
        assert!(password("").is_err());
    }

    #[test]
    fn rejects_long_passwords() {
        assert!(password(&"p".repeat(129))
            .unwrap_err()
            .to_string()
            .contains("at most 128"));
        assert!(password(&"😀".repeat(129)).is_err());
        assert!(password(&"p".repeat(1 << 20)).is_err());
    }

    #[test]
    fn credentials_checks_username_first() {
        assert!(matches!(
            credentials("a", "short"),
            Err(AuthError::InvalidUsername(_))
        ));
        assert!(matches!(
            credentials("alice", "short"),
            Err(AuthError::InvalidPassword(_))
        ));
        assert_eq!(credentials("alice", "long enough"), Ok(()));
    }
}
