//! Email channels (the pure part): the settings a channel keeps, checked
//! strictly when it is created (hostile input: newlines, NUL, bidi marks,
//! header injection), the digest as an email, and what an SMTP failure
//! tells the channel's owners and whether it is worth another try.
//!
//! The worker's dispatcher (`engine/maintenance/notifier.rs`) connects:
//! always over TLS (STARTTLS required, or implicit TLS), so the password
//! never crosses in clear; there is no plain mode.

use serde::{Deserialize, Serialize};

use super::{summary, Event};

/// Recipients per channel at most.
pub const MAX_RECIPIENTS: usize = 20;
/// Events listed in one email's body; the rest are counted.
const LISTED: usize = 200;

/// How the connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connect, then STARTTLS before anything else (required: a
    /// server that does not offer it gets nothing, credentials included).
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl Security {
    pub fn parse(s: &str) -> Option<Security> {
        match s {
            "starttls" => Some(Security::Starttls),
            "tls" => Some(Security::Tls),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Security::Starttls => "starttls",
            Security::Tls => "tls",
        }
    }

    /// The usual port: 587 (submission) or 465 (submissions).
    pub fn default_port(self) -> u16 {
        match self {
            Security::Starttls => 587,
            Security::Tls => 465,
        }
    }
}

/// An email channel's settings as stored (`notification_channels.email`):
/// nothing secret. The password is stored apart, encrypted
/// (`encrypted_secret`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// None: the server takes mail without AUTH (an internal relay).
    pub username: Option<String>,
    pub from: String,
    pub to: Vec<String>,
}

impl EmailSettings {
    /// Where it connects, as its encrypted URL holds it:
    /// `smtp://host:port` (STARTTLS) or `smtps://host:port` (TLS).
    pub fn server_url(&self) -> String {
        let scheme = match self.security {
            Security::Starttls => "smtp",
            Security::Tls => "smtps",
        };
        match self.host.parse::<std::net::Ipv6Addr>() {
            Ok(v6) => format!("{scheme}://[{v6}]:{}", self.port),
            Err(_) => format!("{scheme}://{}:{}", self.host, self.port),
        }
    }

    /// What is stored in clear (`notification_channels.email`).
    pub fn stored(&self) -> StoredEmail {
        StoredEmail {
            username: self.username.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
        }
    }

    /// The settings from the decrypted server URL and the stored part.
    pub fn from_parts(server_url: &str, stored: StoredEmail) -> Option<EmailSettings> {
        let (security, rest) = match server_url.split_once("://")? {
            ("smtp", rest) => (Security::Starttls, rest),
            ("smtps", rest) => (Security::Tls, rest),
            _ => return None,
        };
        let (host, port) = rest.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        check_host(host).ok()?;
        Some(EmailSettings {
            host: host.to_string(),
            port: port.parse().ok().filter(|p| *p != 0)?,
            security,
            username: stored.username,
            from: stored.from,
            to: stored.to,
        })
    }
}

/// The part of an email channel's settings stored in clear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEmail {
    pub username: Option<String>,
    pub from: String,
    pub to: Vec<String>,
}

/// Why an email setting is refused: names the field, never echoes the
/// value (it may be hostile, or a password).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct SettingError {
    pub field: &'static str,
    pub problem: String,
}

fn refuse(field: &'static str, problem: impl Into<String>) -> SettingError {
    SettingError {
        field,
        problem: problem.into(),
    }
}

/// Characters no setting may hold: controls (CR, LF, NUL, tab, …), and
/// the invisible formatting marks that make text read other than it is
/// (bidi overrides and isolates, zero-width characters, BOM).
fn sneaky(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}

/// A host name (letters, digits, hyphens; dot-separated labels of at most
/// 63; at most 253) or an IPv4/IPv6 address literal (IPv6 without
/// brackets).
pub fn check_host(host: &str) -> Result<(), SettingError> {
    const FIELD: &str = "email.host";
    if host.is_empty() || host.len() > 253 {
        return Err(refuse(FIELD, "must be 1 to 253 characters"));
    }
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(refuse(
            FIELD,
            "must be a host name (letters, digits, hyphens and dots; a punycode \
             `xn--` form for other scripts) or an IP address",
        ))
    }
}

/// An address `local@domain`, ASCII, as a mailbox in a header may carry
/// it without quoting: the local part of RFC 5322 atoms joined by single
/// dots (at most 64), the domain a host name with at least one dot (at most
/// 254 in all). No display names, no quoted local parts, no comments: what
/// could carry a header or a second address is refused.
pub fn check_address(field: &'static str, address: &str) -> Result<(), SettingError> {
    if address.is_empty() || address.len() > 254 {
        return Err(refuse(
            field,
            "must be an email address of 3 to 254 characters",
        ));
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(refuse(field, "must be an email address (name@example.com)"));
    };
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&b);
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .split('.')
            .all(|a| !a.is_empty() && a.bytes().all(atext));
    if !local_ok {
        return Err(refuse(
            field,
            "must be an email address whose part before @ is letters, digits, dots (not \
             doubled, not first or last) and !#$%&'*+/=?^_`{|}~-",
        ));
    }
    let domain_ok = domain.contains('.')
        && domain.parse::<std::net::IpAddr>().is_err()
        && check_host(domain).is_ok();
    if !domain_ok {
        return Err(refuse(
            field,
            "must be an email address whose part after @ is a domain name (example.com)",
        ));
    }
    Ok(())
}

/// A username or password: present, at most `max` bytes, no control
/// character (NUL would cut AUTH PLAIN short; CR/LF would end the command).
pub fn check_credential(field: &'static str, value: &str, max: usize) -> Result<(), SettingError> {
    if value.is_empty() || value.len() > max {
        return Err(refuse(field, format!("must be 1 to {max} characters")));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(refuse(
            field,
            "must not hold control characters (newlines, tabs, NUL)",
        ));
    }
    Ok(())
}

/// What a create request gives for an email channel, checked.
pub struct EmailInput<'a> {
    pub host: &'a str,
    pub port: Option<u16>,
    pub security: Option<&'a str>,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub from: &'a str,
    pub to: &'a [String],
}

/// Checks every field; the settings to store (the password apart).
pub fn check_settings(input: &EmailInput<'_>) -> Result<EmailSettings, SettingError> {
    check_host(input.host)?;
    let security = match input.security {
        None => Security::Starttls,
        Some(s) => Security::parse(s).ok_or_else(|| {
            refuse(
                "email.security",
                "must be `starttls` (port 587, the default) or `tls` (port 465)",
            )
        })?,
    };
    let port = input.port.unwrap_or(security.default_port());
    if port == 0 {
        return Err(refuse("email.port", "must be 1 to 65535"));
    }
    match (input.username, input.password) {
        (Some(u), Some(p)) => {
            check_credential("email.username", u, 256)?;
            check_credential("email.password", p, 1024)?;
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(refuse(
                "email.password",
                "is missing: a username needs its password",
            ))
        }
        (None, Some(_)) => {
            return Err(refuse(
                "email.username",
                "is missing: a password needs its username",
            ))
        }
    }
    check_address("email.from", input.from)?;
    if input.to.is_empty() || input.to.len() > MAX_RECIPIENTS {
        return Err(refuse(
            "email.to",
            format!("must list 1 to {MAX_RECIPIENTS} addresses"),
        ));
    }
    for to in input.to {
        check_address("email.to", to)?;
    }
    let mut seen = std::collections::HashSet::new();
    if !input.to.iter().all(|a| seen.insert(a.to_ascii_lowercase())) {
        return Err(refuse("email.to", "lists an address twice"));
    }
    Ok(EmailSettings {
        host: input.host.to_ascii_lowercase(),
        port,
        security,
        username: input.username.map(str::to_string),
        from: input.from.to_string(),
        to: input.to.to_vec(),
    })
}

/// One line of text safe in a header or a list item: controls and
/// invisible marks become spaces, runs of spaces one, at most `max`
/// characters. Names and messages come from rows other services write.
pub fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    let mut last_space = false;
    for c in s.chars() {
        let c = if sneaky(c) || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
    }
    let trimmed = out.trim();
    match trimmed.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_string(),
    }
}

/// The digest as an email: its subject (one line) and plain-text body.
/// Secret values never reach a notification (events carry names and the
/// job's message only).
pub fn message(channel: &str, events: &[Event]) -> (String, String) {
    let subject = format!("[secret-sync] {}", one_line(&summary(events), 200));
    let mut body = format!(
        "{}\n\nSent to the notification channel \"{}\".\n\n",
        one_line(&summary(events), 1000),
        one_line(channel, 100)
    );
    for e in events.iter().take(LISTED) {
        body.push_str(&format!(
            "* {} {} {} ({}, {})\n  {}\n",
            one_line(&e.sync_name, 200),
            one_line(&e.job_type, 20),
            one_line(&e.event, 20),
            one_line(&e.project_id, 100),
            one_line(&e.destination, 300),
            one_line(&e.message, 1024),
        ));
        if let Some(link) = &e.link {
            body.push_str(&format!("  {}\n", one_line(link, 500)));
        }
    }
    if events.len() > LISTED {
        body.push_str(&format!("… and {} more\n", events.len() - LISTED));
    }
    (subject, body)
}

/// How a send ended, as far as the channel's owners need to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpFailure {
    /// The server answered with this reply code (4xx or 5xx).
    Reply(u16),
    /// The TLS handshake failed (certificate, name, protocol).
    Tls,
    /// No answer within the send's deadline.
    Timeout,
    /// No connection (refused, unreachable, reset).
    Connect,
    /// The server does not offer what is required (STARTTLS, AUTH) or
    /// answered what is not SMTP.
    Protocol,
}

/// What a failure shows on the channel (`lastError`, `/deliveries`), and
/// whether it is permanent (5xx: the same delivery would fail the same way,
/// so it is not tried again; the channel's settings need fixing). Names the
/// channel's own host, never an address it resolved to.
pub fn describe(failure: SmtpFailure, host: &str) -> (String, bool) {
    let host = one_line(host, 253);
    match failure {
        SmtpFailure::Reply(code @ (530 | 534 | 535 | 538)) => (
            format!(
                "SMTP server {host} refused the credentials ({code}) — check the channel's \
                 username and password"
            ),
            true,
        ),
        SmtpFailure::Reply(code @ (550 | 551 | 553)) => (
            format!(
                "SMTP server {host} refused the sender or a recipient ({code}) — check the \
                 channel's from address and recipients"
            ),
            true,
        ),
        SmtpFailure::Reply(code @ 500..=599) => (
            format!(
                "SMTP server {host} refused the message ({code}) — check the channel's \
                 settings with the mail server's administrator"
            ),
            true,
        ),
        SmtpFailure::Reply(code) => (
            format!("SMTP server {host} answered {code} (try again later); will retry"),
            false,
        ),
        SmtpFailure::Tls => (
            format!(
                "TLS with SMTP server {host} failed — its certificate must name {host} and \
                 be signed by a public CA (or the CA of NOTIFY_SMTP_CA_FILE); will retry"
            ),
            false,
        ),
        SmtpFailure::Timeout => (
            format!("SMTP server {host} did not answer in time; will retry"),
            false,
        ),
        SmtpFailure::Connect => (
            format!(
                "could not connect to SMTP server {host} — check the host and port; will retry"
            ),
            false,
        ),
        SmtpFailure::Protocol => (
            format!(
                "SMTP server {host} does not offer what the channel needs (STARTTLS before \
                 anything else, then AUTH when a username is set) — check the security and \
                 port; will retry"
            ),
            false,
        ),
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn input<'a>(to: &'a [String]) -> EmailInput<'a> {
        EmailInput {
            host: "smtp.example.com",
            port: None,
            security: None,
            username: Some("alerts"),
            password: Some("p4ss"),
            from: "secret-sync@example.com",
            to,
        }
    }

    #[test]
    fn good_settings_default_to_starttls_on_587() {
        let to = vec!["oncall@example.com".to_string()];
        let s = check_settings(&input(&to)).expect("valid");
        assert_eq!((s.security, s.port), (Security::Starttls, 587));
        let tls = check_settings(&EmailInput {
            security: Some("tls"),
            ..input(&to)
        })
        .expect("valid");
        assert_eq!((tls.security, tls.port), (Security::Tls, 465));
    }

    #[test]
    fn hostile_hosts_are_refused_by_field() {
        for bad in [
            "",
            "smtp.example.com\r\nRCPT TO:<x@y.z>",
            "smtp\0.example.com",
            "smtp.exam\u{202E}ple.com",
            "-smtp.example.com",
            "smtp..example.com",
            "smtp example.com",
            "smtp.example.com:25",
            "user@smtp.example.com",
            "[::1]",
            &"a".repeat(10 * 1024 * 1024),
            &format!("{}.com", "a".repeat(64)),
        ] {
            let err = check_host(bad).expect_err(&bad.chars().take(40).collect::<String>());
            assert_eq!(err.field, "email.host");
            assert!(
                !err.to_string().contains("example"),
                "echoes the value: {err}"
            );
        }
        for good in [
            "smtp.example.com",
            "localhost",
            "127.0.0.1",
            "::1",
            "xn--bcher-kva.example",
        ] {
            check_host(good).expect(good);
        }
    }

    #[test]
    fn addresses_that_could_carry_a_header_or_a_second_address_are_refused() {
        for bad in [
            "",
            "oncall",
            "@example.com",
            "oncall@",
            "oncall@localhost",
            "oncall@127.0.0.1",
            "on call@example.com",
            "oncall@example.com\r\nBcc: evil@example.net",
            "oncall@example.com\nSubject: x",
            "oncall\0@example.com",
            "\"on call\"@example.com",
            "Oncall <oncall@example.com>",
            "oncall@example.com, evil@example.net",
            "on..call@example.com",
            ".oncall@example.com",
            "oncall.@example.com",
            "oncall@exam\u{202E}ple.com",
            "önc@example.com",
            "oncall@example.com(comment)",
            &format!("{}@example.com", "a".repeat(65)),
            &format!("a@{}.com", "b".repeat(10 * 1024 * 1024)),
        ] {
            let err = check_address("email.to", bad)
                .expect_err(&bad.chars().take(60).collect::<String>());
            assert_eq!(err.field, "email.to");
            assert!(!err.to_string().contains("evil"), "{err}");
        }
        for good in [
            "oncall@example.com",
            "a.b+alerts@mail.example.co.uk",
            "o'neil@x.io",
        ] {
            check_address("email.to", good).expect(good);
        }
    }

    #[test]
    fn credentials_and_recipient_lists_are_checked() {
        let to = vec!["a@example.com".to_string()];
        let err = |i: EmailInput<'_>| check_settings(&i).expect_err("refused").field;
        assert_eq!(
            err(EmailInput {
                password: Some("pa\r\nss"),
                ..input(&to)
            }),
            "email.password"
        );
        assert_eq!(
            err(EmailInput {
                password: Some("pa\0ss"),
                ..input(&to)
            }),
            "email.password"
        );
        assert_eq!(
            err(EmailInput {
                password: None,
                ..input(&to)
            }),
            "email.password"
        );
        assert_eq!(
            err(EmailInput {
                username: Some("al\nerts"),
                ..input(&to)
            }),
            "email.username"
        );
        assert_eq!(
            err(EmailInput {
                security: Some("none"),
                ..input(&to)
            }),
            "email.security"
        );
        assert_eq!(
            err(EmailInput {
                port: Some(0),
                ..input(&to)
            }),
            "email.port"
        );
        assert_eq!(err(input(&[])), "email.to");
        let many: Vec<String> = (0..21).map(|i| format!("a{i}@example.com")).collect();
        assert_eq!(err(input(&many)), "email.to");
        let twice = vec!["a@example.com".to_string(), "A@example.com".to_string()];
        assert_eq!(err(input(&twice)), "email.to");
        // Without AUTH (an internal relay): both left out.
        let relay = EmailInput {
            username: None,
            password: None,
            ..input(&to)
        };
        assert_eq!(check_settings(&relay).expect("valid").username, None);
    }

    fn event(name: &str, message: &str) -> Event {
        Event {
            sync_id: Uuid::nil(),
            sync_name: name.into(),
            project_id: "shop".into(),
            destination: "org/app".into(),
            job_id: Uuid::nil(),
            job_type: "sync".into(),
            event: "failed".into(),
            message: message.into(),
            link: Some("https://dash.example/syncs/x".into()),
        }
    }

    #[test]
    fn a_digest_is_one_email_listing_every_sync_on_single_lines() {
        let events: Vec<Event> = (0..20)
            .map(|i| event(&format!("sync-{i:02}"), "the token was rejected (401)"))
            .collect();
        let (subject, body) = message("oncall", &events);
        assert_eq!(
            subject,
            "[secret-sync] 20 secret sync changes: 20 failed, 0 recovered"
        );
        for i in 0..20 {
            assert!(body.contains(&format!("* sync-{i:02} sync failed (shop, org/app)")));
        }
        assert!(body.contains("notification channel \"oncall\""));
        // Hostile text from rows stays on its line: no header, no fake item.
        let (subject, body) = message(
            "c",
            &[event(
                "evil\r\nBcc: x@example.net\u{202E}",
                "line\n* fake-sync failed\r\n.\r\nQUIT",
            )],
        );
        assert!(!subject.contains(['\r', '\n', '\u{202E}']), "{subject}");
        assert!(subject.contains("evil Bcc: x@example.net"), "{subject}");
        assert!(
            !body.contains("\n* fake-sync") && !body.contains("\n.\n"),
            "{body}"
        );
        let many: Vec<Event> = (0..250).map(|i| event(&format!("s{i}"), "m")).collect();
        assert!(message("c", &many).1.contains("… and 50 more"));
    }

    #[test]
    fn the_server_url_and_the_stored_part_make_the_settings_again() {
        let to = vec!["oncall@example.com".to_string()];
        for (host, security) in [("smtp.example.com", None), ("::1", Some("tls"))] {
            let s = check_settings(&EmailInput {
                host,
                security,
                ..input(&to)
            })
            .expect("valid");
            let again = EmailSettings::from_parts(&s.server_url(), s.stored());
            assert_eq!(again.as_ref(), Some(&s), "{}", s.server_url());
        }
        assert_eq!(
            EmailSettings::from_parts(
                "http://x:1",
                StoredEmail {
                    username: None,
                    from: "a@b.c".into(),
                    to: vec![],
                }
            ),
            None
        );
    }

    #[test]
    fn long_text_is_cut_on_a_character() {
        assert_eq!(one_line("ééé", 2), "éé…");
        assert_eq!(one_line("  a \t\n b  ", 10), "a b");
    }

    #[test]
    fn credential_and_recipient_refusals_are_permanent_and_the_rest_retried() {
        let (text, permanent) = describe(SmtpFailure::Reply(535), "smtp.example.com");
        assert!(permanent);
        assert!(
            text.contains("refused the credentials (535)")
                && text.contains("username and password")
                && text.contains("smtp.example.com"),
            "{text}"
        );
        assert!(describe(SmtpFailure::Reply(550), "h").1);
        assert!(describe(SmtpFailure::Reply(554), "h").1);
        for transient in [
            SmtpFailure::Reply(421),
            SmtpFailure::Reply(454),
            SmtpFailure::Tls,
            SmtpFailure::Timeout,
            SmtpFailure::Connect,
            SmtpFailure::Protocol,
        ] {
            let (text, permanent) = describe(transient, "h");
            assert!(!permanent && text.contains("will retry"), "{text}");
        }
    }
}
