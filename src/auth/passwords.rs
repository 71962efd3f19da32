//! Password hashing with argon2id (PHC strings), and the rules a new password must meet.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::AppError;

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longer inputs are refused before hashing (hashing cost must not be attacker-sized).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// argon2id with OWASP's 19 MiB / 2 passes / 1 lane.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| AppError::internal(anyhow::anyhow!("hashing a password: {err}")))
}

/// True when `password` matches the stored PHC string.
pub fn verify(password: &str, stored: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    PasswordHash::new(stored)
        .map(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so that unknown e-mails
/// cost the same time as wrong passwords.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password that matches nothing").unwrap_or_default())
}

/// The rules for a new password, reported on `field`.
pub fn check_new(field: &str, password: &str) -> Result<(), AppError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::invalid(
            field,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::invalid(
            field,
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let first = hash("correct horse").unwrap();
        let second = hash("correct horse").unwrap();
        assert_ne!(first, second, "salted");
        assert!(first.starts_with("$argon2id$"));
        assert!(verify("correct horse", &first));
        assert!(!verify("wrong horse", &first));
        assert!(!verify("correct horse", "not a phc string"));
        assert!(!verify("anything", decoy_hash()));
    }

    #[test]
    fn new_password_rules() {
        assert!(check_new("password", "short").is_err());
        assert!(check_new("password", "long enough").is_ok());
        assert!(check_new("password", &"x".repeat(2000)).is_err());
    }
}
