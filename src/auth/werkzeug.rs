//! Werkzeug's password hashes, which MLflow's basic-auth app stores
//! (`generate_password_hash`): `scrypt:<N>:<r>:<p>$<salt>$<hex>` (werkzeug ≥ 2.3's default) and
//! `pbkdf2:<sha256|sha512>[:<iterations>]$<salt>$<hex>`. Users imported from MLflow
//! (`weir auth import`) keep them until their first sign-in, which replaces them with argon2id.
//!
//! The salt is used as its UTF-8 text, as werkzeug does; the digest is compared in constant time.
//! The cost parameters come from a database and are bounded, so a crafted row cannot make one
//! sign-in allocate gigabytes or spin for minutes.

use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Werkzeug's iterations when a pbkdf2 method names none (werkzeug 3.1; it always writes them).
const DEFAULT_PBKDF2_ITERATIONS: u32 = 1_000_000;
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// scrypt needs 128·N·r bytes: N·r is bounded to eight times werkzeug's default (2^15 · 8, 32 MiB).
const MAX_SCRYPT_NR: u64 = (1 << 15) * 8 * 8;
const MAX_SCRYPT_P: u32 = 16;

enum Method {
    Scrypt { log_n: u8, r: u32, p: u32 },
    Pbkdf2Sha256(u32),
    Pbkdf2Sha512(u32),
}

/// A parsed hash: the method, the salt and the expected digest.
struct Parsed<'a> {
    method: Method,
    salt: &'a str,
    digest: Vec<u8>,
}

fn parse(hash: &str) -> Option<Parsed<'_>> {
    let mut parts = hash.splitn(3, '$');
    let (method, salt, hexval) = (parts.next()?, parts.next()?, parts.next()?);
    let digest = hex::decode(hexval).ok()?;
    if digest.is_empty() {
        return None;
    }
    let mut args = method.split(':');
    let method = match args.next()? {
        "scrypt" => {
            let rest: Vec<&str> = args.collect();
            let (n, r, p) = match rest.as_slice() {
                [] => (1u64 << 15, 8u32, 1u32),
                [n, r, p] => (n.parse().ok()?, r.parse().ok()?, p.parse().ok()?),
                _ => return None,
            };
            if !n.is_power_of_two()
                || n < 2
                || r == 0
                || p == 0
                || p > MAX_SCRYPT_P
                || n.checked_mul(u64::from(r))? > MAX_SCRYPT_NR
            {
                return None;
            }
            Method::Scrypt {
                log_n: n.trailing_zeros() as u8,
                r,
                p,
            }
        }
        "pbkdf2" => {
            let name = args.next().unwrap_or("sha256");
            let iterations = match args.next() {
                Some(i) => i.parse().ok()?,
                None => DEFAULT_PBKDF2_ITERATIONS,
            };
            if args.next().is_some() || iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
                return None;
            }
            match name {
                "sha256" => Method::Pbkdf2Sha256(iterations),
                "sha512" => Method::Pbkdf2Sha512(iterations),
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(Parsed {
        method,
        salt,
        digest,
    })
}

/// Whether `hash` is a werkzeug hash Weir can verify.
pub fn is_werkzeug(hash: &str) -> bool {
    parse(hash).is_some()
}

/// Whether `password` matches the werkzeug hash `hash` (false for any hash not understood).
/// Slow by design: call it off the async executor.
pub fn verify(password: &str, hash: &str) -> bool {
    let Some(p) = parse(hash) else {
        return false;
    };
    let mut out = vec![0u8; p.digest.len()];
    let pw = password.as_bytes();
    let salt = p.salt.as_bytes();
    let computed = match p.method {
        Method::Scrypt { log_n, r, p: par } => {
            match scrypt::Params::new(log_n, r, par, out.len()) {
                Ok(params) => scrypt::scrypt(pw, salt, &params, &mut out).is_ok(),
                Err(_) => false,
            }
        }
        Method::Pbkdf2Sha256(i) => {
            pbkdf2::pbkdf2::<hmac::Hmac<Sha256>>(pw, salt, i, &mut out).is_ok()
        }
        Method::Pbkdf2Sha512(i) => {
            pbkdf2::pbkdf2::<hmac::Hmac<Sha512>>(pw, salt, i, &mut out).is_ok()
        }
    };
    computed && bool::from(out.ct_eq(&p.digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with werkzeug 3.1.9's `generate_password_hash` (the mlflow 3.17.2 venv), each for the
    // password "correct horse battery" but the last.
    const VECTORS: &[&str] = &[
        "scrypt:32768:8:1$HlFHLNefNtsQ5ipj$db0f77a2de445bc090a0a87f6bfe059e53db19c183e1a814b2dd7e4219699bca8bd0467f18d4987adf968b21b6e60ac2f100970cd4045db5d05e36bac276edd3",
        "scrypt:16384:8:2$or9pc1mdcOgvQJcg$f982a2e09f0a2929145aff19a4ca494b70576ed8a8a2f9de49e853c8c7e6b252ff7646c53ef4003e024b9a44f26ec3ba9de3449be18aaaf87dffb65df925cd1f",
        "pbkdf2:sha256:1000$xsGHGT1gg5Q7xgYU$0998dfe1edc2d35084efdcd32920d3c18f24bf5702da72d7ddd2a09be6e0fed3",
        "pbkdf2:sha512:2000$pzcHE9hyWWC7tQkl$fa2a537b07606859e21313dec79bda7d6ab942e03a4ff01078eeb46371ece5443ae15782a4e0c03a760a16a8e8f4b62da99602c7d00fb5155d0fdc25254a0b57",
        "pbkdf2:sha256:1000000$q2JzO81bFPeuiFJt$1202590ea98c7467a71d7e5093985bb2da02809cefee884b17039b261951074a",
    ];
    const UNICODE: &str = "pbkdf2:sha256:1000$GPnmpiZLH3uQ18zU$d6e221e9f40a5f04af760f8ad68632d43b71f9be649ef9a6ea835b917b93694d";

    #[test]
    fn werkzeug_hashes_verify() {
        for h in VECTORS {
            assert!(is_werkzeug(h), "{h}");
            assert!(verify("correct horse battery", h), "{h}");
            assert!(!verify("correct horse batterY", h), "{h}");
            assert!(!verify("", h), "{h}");
        }
        assert!(verify("pässwörd ünïcode 12", UNICODE));
        assert!(!verify("passwort unicode 12", UNICODE));
        // A changed digest or salt fails.
        let h = VECTORS[2].replace("$0998", "$1998");
        assert!(!verify("correct horse battery", &h));
        let h = VECTORS[2].replace("xsGH", "xsGh");
        assert!(!verify("correct horse battery", &h));
    }

    #[test]
    fn malformed_hashes_never_verify() {
        for h in [
            "",
            "scrypt",
            "scrypt:32768:8:1$salt",
            "scrypt:32768:8:1$salt$zz",
            "scrypt:32768:8:1$salt$",
            "scrypt:1000:8:1$salt$00",
            "scrypt:1073741824:8:1$salt$00",
            "scrypt:32768:8:1000$salt$00",
            "pbkdf2:md5:1000$salt$00",
            "pbkdf2:sha256:0$salt$00",
            "pbkdf2:sha256:99999999999$salt$00",
            "pbkdf2:sha256:1000:9$salt$00",
            "$argon2id$v=19$m=19456,t=2,p=1$abc$def",
        ] {
            assert!(!is_werkzeug(h), "{h}");
            assert!(!verify("x", h), "{h}");
        }
    }
}
