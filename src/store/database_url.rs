//! `DATABASE_URL` as libpq reads it, TLS included: `sslmode` (`disable`,
//! `allow`/`prefer`, `require`, `verify-ca`, `verify-full`; libpq's default
//! `prefer`) and `sslrootcert` (a PEM file of CAs, or `system` for the
//! public authorities this build carries). tokio-postgres knows neither
//! the `verify-*` modes nor `sslrootcert`, so they are taken out here and
//! turned into a rustls connector; the rest of the URL is tokio-postgres'.
//! Every command (`run`, `api`, `migrate`, `rotate-key`, `status`) and the
//! PgBouncer path connect through this.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::tls::{self, Verify};

/// A parsed `DATABASE_URL`: tokio-postgres' settings and how to trust the server.
#[derive(Clone)]
pub struct DatabaseUrl {
    config: tokio_postgres::Config,
    verify: Verify,
}

impl std::fmt::Debug for DatabaseUrl {
    // No password: the config's own Debug redacts it, but be explicit.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("ssl_mode", &self.config.get_ssl_mode())
            .field("verify", &self.verify)
            .finish()
    }
}

/// The TLS settings libpq reads that this build takes out of the URL.
#[derive(Default)]
struct TlsParams {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

impl DatabaseUrl {
    /// Parses `url`; reads `sslrootcert`'s file. The error is the reason,
    /// naming the setting (never the password).
    pub fn parse(url: &str) -> Result<DatabaseUrl, String> {
        let (rest, params) = take_tls_params(url)?;
        let mut config = tokio_postgres::Config::from_str(&rest).map_err(|e| e.to_string())?;
        let mode = params.sslmode.as_deref().unwrap_or("prefer");
        let roots = || -> Result<Arc<rustls::RootCertStore>, String> {
            match params.sslrootcert.as_deref() {
                Some("system") => Ok(Arc::new(tls::public_roots())),
                Some(path) => tls::roots_from_file("sslrootcert (in DATABASE_URL)", Path::new(path))
                    .map(Arc::new)
                    .map_err(|e| e.to_string()),
                None => Err(format!(
                    "sslmode={mode} checks the server's certificate, so DATABASE_URL needs sslrootcert=<path of the CA's PEM file> (or sslrootcert=system for a publicly signed server)"
                )),
            }
        };
        let (ssl_mode, verify) = match mode {
            "disable" => (SslMode::Disable, Verify::Nothing),
            // tokio-postgres has no `allow` (plain first, TLS if demanded): `prefer` is the closer safe choice.
            "allow" | "prefer" => (SslMode::Prefer, Verify::Nothing),
            // As libpq: `require` with a root certificate checks the chain.
            "require" if params.sslrootcert.is_some() => (SslMode::Require, Verify::Chain(roots()?)),
            "require" => (SslMode::Require, Verify::Nothing),
            "verify-ca" => (SslMode::Require, Verify::Chain(roots()?)),
            "verify-full" => (SslMode::Require, Verify::Full(roots()?)),
            other => {
                return Err(format!(
                    "sslmode `{}` is not one of disable, allow, prefer, require, verify-ca, verify-full",
                    other.escape_debug()
                ))
            }
        };
        config.ssl_mode(ssl_mode);
        Ok(DatabaseUrl { config, verify })
    }

    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Whether the server's certificate is checked (and how much).
    pub fn verify(&self) -> &Verify {
        &self.verify
    }

    /// The TLS connector for this URL (used only when `sslmode` is not
    /// `disable` and the server offers TLS).
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        tls::client_config(&self.verify)
            .map(MakeRustlsConnect::new)
            .map_err(|e| format!("TLS setup: {e}"))
    }
}

/// Takes `sslmode` and `sslrootcert` out of a URL (`postgres://...?a=b`) or
/// a libpq key/value string (`host=... sslmode=...`); the rest is returned
/// for tokio-postgres. Client certificates are refused by name, since this
/// build does not present one.
fn take_tls_params(url: &str) -> Result<(String, TlsParams), String> {
    let mut params = TlsParams::default();
    let mut keep = |key: &str, value: String| -> Result<bool, String> {
        match key {
            "sslmode" => params.sslmode = Some(value),
            "sslrootcert" => params.sslrootcert = Some(value),
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" => {
                return Err(format!(
                    "{key} in DATABASE_URL is not supported (no client certificates or revocation lists); authenticate with a password"
                ))
            }
            _ => return Ok(true),
        }
        Ok(false)
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_string(), params));
        };
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode_str(key).decode_utf8_lossy();
            let value = percent_decode_str(value).decode_utf8_lossy().into_owned();
            if keep(&key, value)? {
                rest.push(pair);
            }
        }
        let rest = match rest.is_empty() {
            true => base.to_string(),
            false => format!("{base}?{}", rest.join("&")),
        };
        return Ok((rest, params));
    }
    let mut rest = Vec::new();
    for (key, value, text) in key_values(url)? {
        if keep(&key, value)? {
            rest.push(text);
        }
    }
    Ok((rest.join(" "), params))
}

/// libpq's `key = value` pairs, values optionally single-quoted with
/// backslash escapes; each with its original text.
fn key_values(s: &str) -> Result<Vec<(String, String, String)>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= chars.len() {
            return Ok(out);
        }
        let start = i;
        while i < chars.len() && chars[i] != '=' && !chars[i].is_whitespace() {
            i += 1;
        }
        let key: String = chars[start..i].iter().collect();
        skip_ws(&mut i);
        if chars.get(i) != Some(&'=') {
            return Err(format!(
                "expected `{}=value` in DATABASE_URL (or a URL like postgres://user:password@host:5432/database)",
                key.escape_debug()
            ));
        }
        i += 1;
        skip_ws(&mut i);
        let mut value = String::new();
        if chars.get(i) == Some(&'\'') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("an unterminated quoted value in DATABASE_URL".into()),
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some('\\') if i + 1 < chars.len() => {
                        value.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < chars.len() && !chars[i].is_whitespace() {
                value.push(chars[i]);
                i += 1;
            }
        }
        out.push((key, value, chars[start..i].iter().collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> Result<(SslMode, &'static str), String> {
        DatabaseUrl::parse(url).map(|u| {
            let verify = match u.verify() {
                Verify::Nothing => "nothing",
                Verify::Chain(_) => "chain",
                Verify::Full(_) => "full",
            };
            (u.config().get_ssl_mode(), verify)
        })
    }

    #[test]
    fn sslmode_reads_as_libpq_reads_it() {
        let base = "postgres://u:p@db:5432/app";
        assert_eq!(mode(base), Ok((SslMode::Prefer, "nothing")));
        assert_eq!(
            mode(&format!("{base}?sslmode=disable")),
            Ok((SslMode::Disable, "nothing"))
        );
        assert_eq!(
            mode(&format!("{base}?sslmode=require")),
            Ok((SslMode::Require, "nothing"))
        );
        assert_eq!(
            mode(&format!("{base}?sslmode=verify-full&sslrootcert=system")),
            Ok((SslMode::Require, "full"))
        );
        assert_eq!(
            mode(&format!(
                "{base}?sslrootcert=system&sslmode=verify-ca&application_name=x"
            )),
            Ok((SslMode::Require, "chain"))
        );
        assert_eq!(
            mode("host=db user=u sslmode=verify-full sslrootcert='system'"),
            Ok((SslMode::Require, "full"))
        );
        // The other parameters still reach tokio-postgres.
        let url = DatabaseUrl::parse(&format!("{base}?sslmode=require&application_name=mine"))
            .ok()
            .and_then(|u| u.config().get_application_name().map(str::to_string));
        assert_eq!(url.as_deref(), Some("mine"));
    }

    #[test]
    fn what_cannot_work_is_refused_naming_the_setting() {
        let base = "postgres://u:secret@db/app";
        let err = |url: String| DatabaseUrl::parse(&url).err().unwrap_or_default();
        let cases = [
            (format!("{base}?sslmode=verify-full"), vec!["sslrootcert"]),
            (
                format!("{base}?sslmode=verify-full&sslrootcert=/nonexistent.pem"),
                vec!["sslrootcert", "/nonexistent.pem"],
            ),
            (
                format!("{base}?sslmode=verify-everything"),
                vec!["sslmode", "verify-full"],
            ),
            (format!("{base}?sslcert=/c.pem"), vec!["sslcert"]),
            (
                format!("{base}?sslmode=verify-ca&sslrootcert=/a%0Aforged line"),
                vec!["\\n"],
            ),
            (
                "host=db sslrootcert='unterminated".into(),
                vec!["unterminated"],
            ),
        ];
        for (url, needles) in cases {
            let e = err(url);
            for needle in needles {
                assert!(e.contains(needle), "no `{needle}` in {e}");
            }
            assert!(!e.contains("secret") && !e.contains('\n'), "{e}");
        }
    }
}
