//! Where a channel may send, and the only way the product reaches it.
//!
//! A target is an `http`/`https` URL (a `slack` channel's only
//! `https://hooks.slack.com/…`) whose host is **resolved once per
//! connection** by [`PinnedResolver`], the delivery client's own reqwest
//! resolver: every address the lookup answers is checked against
//! [`refused_address`], and the client connects only to the addresses that
//! passed. There is no second lookup between the check and the connection,
//! so a name that answers a public address to the check and
//! `169.254.169.254` to the connection (DNS rebinding) reaches nothing. An
//! IP literal in the URL is never handed to a resolver (reqwest connects to
//! it directly), so [`DeliveryClient::post`] checks it before any request is
//! built. The lookup has a deadline (`NOTIFY_DNS_TIMEOUT`).
//!
//! Errors say what class of problem stopped the send, never an address the
//! name resolved to (that would make the service a DNS oracle for internal
//! names) and never the URL (a Slack URL is a secret). An operator may allow
//! internal targets (`NOTIFY_ALLOW_PRIVATE_TARGETS`, e.g. an internal relay;
//! the tests' receivers on 127.0.0.1): names are still resolved once and
//! pinned, but no address is refused.

use std::error::Error as _;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// The only host a `slack` channel may send to.
pub const SLACK_HOST: &str = "hooks.slack.com";

/// Why a target is not used. The text is shown to tenants (create errors,
/// `/deliveries`, the channel's `lastError`): it never holds a resolved
/// address, the URL or an underlying error's text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the URL does not parse ({0})")]
    BadUrl(String),
    #[error("the URL must be http or https, not `{0}`")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("a slack channel's URL must start with https://{SLACK_HOST}/")]
    NotSlack,
    /// An IP literal written in the URL: its class may be named (the caller
    /// typed it).
    #[error(
        "the URL's address is {0}; only public addresses are allowed unless the \
         operator sets NOTIFY_ALLOW_PRIVATE_TARGETS=true"
    )]
    RefusedAddress(&'static str),
    /// A name: which address, or which class, is not said.
    #[error(
        "the host resolves to an address that is not public (loopback, private, \
         link-local, reserved or translated); only public addresses are allowed unless \
         the operator sets NOTIFY_ALLOW_PRIVATE_TARGETS=true"
    )]
    RefusedName,
    #[error("the host does not resolve")]
    DoesNotResolve,
    #[error("the host's DNS lookup took longer than {0} ms")]
    DnsTimeout(u128),
}

/// Why an address is not allowed (its class), or None for a public one.
pub fn refused_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(v4: Ipv4Addr) -> Option<&'static str> {
    let o = v4.octets();
    let bits = u32::from(v4);
    let within = |net: u32, len: u32| bits >> (32 - len) == net >> (32 - len);
    if v4.is_loopback() {
        Some("loopback")
    } else if v4.is_private() {
        Some("private")
    } else if v4.is_link_local() {
        Some("link-local (cloud metadata)")
    } else if o[0] == 0 {
        Some("not a host (0.0.0.0/8)")
    } else if within(0x6440_0000, 10) {
        Some("shared (carrier-grade NAT)")
    } else if within(0xc612_0000, 15) {
        Some("reserved for benchmarking (198.18.0.0/15)")
    } else if within(0xc000_0000, 24) {
        Some("reserved for protocol assignments (192.0.0.0/24)")
    } else if within(0xc000_0200, 24) || within(0xc633_6400, 24) || within(0xcb00_7100, 24) {
        Some("reserved for documentation")
    } else if v4.is_multicast() {
        Some("multicast")
    } else if o[0] >= 240 {
        // 240.0.0.0/4, 255.255.255.255 (broadcast) included.
        Some("reserved (240.0.0.0/4, broadcast)")
    } else {
        None
    }
}

fn refused_v6(v6: Ipv6Addr) -> Option<&'static str> {
    let s = v6.segments();
    if v6.is_unspecified() {
        return Some("not a host (::)");
    }
    if v6.is_loopback() {
        return Some("loopback");
    }
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible) reach the IPv4
    // address: they are judged by it.
    if let Some(v4) = v6.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    if s[..6] == [0; 6] {
        return refused_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0 {
        return Some("translated (::ffff:0:0:0/96)");
    }
    if s[0] == 0x0064 && s[1] == 0xff9b {
        // 64:ff9b::/96 (well-known NAT64) and 64:ff9b:1::/48 (local NAT64):
        // a translator would reach the embedded IPv4 address.
        return Some("NAT64 (64:ff9b::/96)");
    }
    if s[0] == 0x2002 {
        return Some("6to4 (2002::/16)");
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return Some("Teredo (2001::/32)");
    }
    if s[0] == 0x2001 && s[1] == 0x0db8 {
        return Some("reserved for documentation");
    }
    if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
        return Some("discard-only (100::/64)");
    }
    if s[0] & 0xfe00 == 0xfc00 {
        return Some("private (unique local, fc00::/7)");
    }
    if s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
        return Some("link-local");
    }
    if s[0] & 0xff00 == 0xff00 {
        return Some("multicast");
    }
    None
}

/// Which addresses a resolver lets through.
#[derive(Clone, Copy, Debug)]
pub enum Filter {
    /// Only public addresses (the default).
    PublicOnly,
    /// Everything (`NOTIFY_ALLOW_PRIVATE_TARGETS=true`).
    Any,
    /// Refuses what the function refuses (tests: stands in for the real
    /// list so that a refused and an allowed address can both be local).
    Custom(fn(IpAddr) -> Option<&'static str>),
}

impl Filter {
    pub fn new(allow_private: bool) -> Filter {
        if allow_private {
            Filter::Any
        } else {
            Filter::PublicOnly
        }
    }

    pub fn refuses(&self, ip: IpAddr) -> Option<&'static str> {
        match self {
            Filter::PublicOnly => refused_address(ip),
            Filter::Any => None,
            Filter::Custom(f) => f(ip),
        }
    }
}

/// A DNS lookup's answer.
pub type LookupFuture = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Looks a name up (the system's resolver; tests answer what they like).
pub trait Lookup: Send + Sync + 'static {
    fn lookup(&self, host: &str) -> LookupFuture;
}

/// The system resolver (getaddrinfo, through tokio).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let host = host.to_string();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// Resolves a name once, under a deadline, and keeps only the addresses the
/// filter lets through: the delivery client's resolver, so what it connects
/// to is exactly what was checked.
#[derive(Clone)]
pub struct PinnedResolver {
    lookup: Arc<dyn Lookup>,
    filter: Filter,
    timeout: Duration,
}

impl PinnedResolver {
    /// The system resolver; `allow_private` from `NOTIFY_ALLOW_PRIVATE_TARGETS`.
    pub fn new(allow_private: bool, timeout: Duration) -> PinnedResolver {
        PinnedResolver::with_lookup(Arc::new(SystemLookup), Filter::new(allow_private), timeout)
    }

    pub fn with_lookup(
        lookup: Arc<dyn Lookup>,
        filter: Filter,
        timeout: Duration,
    ) -> PinnedResolver {
        PinnedResolver {
            lookup,
            filter,
            timeout,
        }
    }

    /// One lookup of `host`: the addresses that pass. `strict` (a channel
    /// being created): one refused address refuses the name; otherwise (a
    /// connection) the refused ones are dropped and the rest used.
    pub async fn resolve_host(&self, host: &str, strict: bool) -> Result<Vec<IpAddr>, TargetError> {
        let answered = tokio::time::timeout(self.timeout, self.lookup.lookup(host))
            .await
            .map_err(|_| TargetError::DnsTimeout(self.timeout.as_millis()))?
            .map_err(|_| TargetError::DoesNotResolve)?;
        if answered.is_empty() {
            return Err(TargetError::DoesNotResolve);
        }
        let total = answered.len();
        let passed: Vec<IpAddr> = answered
            .into_iter()
            .filter(|ip| self.filter.refuses(*ip).is_none())
            .collect();
        if passed.is_empty() || (strict && passed.len() < total) {
            return Err(TargetError::RefusedName);
        }
        Ok(passed)
    }

    /// Checks `url` for a channel of `kind` (`webhook` or `slack`) as it is
    /// created: scheme, host, and every address it resolves to now.
    pub async fn check(&self, url: &str, kind: &str) -> Result<(), TargetError> {
        let parsed = parse_target(url, kind)?;
        match literal(&parsed) {
            Some(ip) => match self.filter.refuses(ip) {
                Some(why) => Err(TargetError::RefusedAddress(why)),
                None => Ok(()),
            },
            None => {
                let host = parsed.host_str().ok_or(TargetError::NoHost)?;
                self.resolve_host(host, true).await.map(|_| ())
            }
        }
    }
}

impl Resolve for PinnedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let ips = this
                .resolve_host(&host, false)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs: Addrs = Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Parses `url` for a channel of `kind`: http(s) with a host; a `slack`
/// channel's only `https://hooks.slack.com/…` on port 443.
pub fn parse_target(url: &str, kind: &str) -> Result<Url, TargetError> {
    let parsed = Url::parse(url).map_err(|e| TargetError::BadUrl(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        let scheme: String = parsed.scheme().chars().take(20).collect();
        return Err(TargetError::Scheme(scheme));
    }
    if parsed.host().is_none() {
        return Err(TargetError::NoHost);
    }
    if kind == "slack"
        && (parsed.scheme() != "https"
            || parsed.host_str() != Some(SLACK_HOST)
            || parsed.port_or_known_default() != Some(443))
    {
        return Err(TargetError::NotSlack);
    }
    Ok(parsed)
}

/// The URL's host when it is an IP literal (reqwest connects to it without
/// a lookup).
fn literal(url: &Url) -> Option<IpAddr> {
    // The parser has already turned every IPv4 spelling (`2130706433`,
    // `0x7f.1`) into dotted form; IPv6 comes in brackets. A domain never
    // parses as an address.
    url.host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The delivery client: reqwest with the pinned resolver, no proxy (a proxy
/// would resolve the name itself), no redirects, and a deadline per send.
#[derive(Clone)]
pub struct DeliveryClient {
    http: reqwest::Client,
    filter: Filter,
    send_timeout: Duration,
}

impl DeliveryClient {
    pub fn new(resolver: PinnedResolver, send_timeout: Duration) -> reqwest::Result<Self> {
        let filter = resolver.filter;
        let http = reqwest::Client::builder()
            .timeout(send_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .user_agent("secret-sync notifications")
            .build()?;
        Ok(DeliveryClient {
            http,
            filter,
            send_timeout,
        })
    }

    /// A POST to `url`, or why not. A name is resolved (once, filtered) by
    /// the pinned resolver when the request connects; an IP literal is
    /// checked here, since reqwest connects to it without a lookup.
    pub fn post(&self, url: &str, kind: &str) -> Result<reqwest::RequestBuilder, TargetError> {
        let parsed = parse_target(url, kind)?;
        if let Some(why) = literal(&parsed).and_then(|ip| self.filter.refuses(ip)) {
            return Err(TargetError::RefusedAddress(why));
        }
        Ok(self.http.post(parsed))
    }

    /// What a failed send shows (`/deliveries`, `lastError`, logs): its
    /// class, never the address, the URL or the connect error's text.
    pub fn failure(&self, e: &reqwest::Error) -> String {
        let mut source = e.source();
        while let Some(s) = source {
            if let Some(t) = s.downcast_ref::<TargetError>() {
                return format!("refused to connect: {t}");
            }
            source = s.source();
        }
        if e.is_timeout() {
            format!(
                "timed out: no answer within {} ms",
                self.send_timeout.as_millis()
            )
        } else if e.is_connect() {
            "could not connect to the receiver".to_string()
        } else {
            "the request failed before an answer".to_string()
        }
    }
}

/// What a non-2xx answer shows: its class (`answered 5xx`).
pub fn answer_class(code: u16) -> String {
    match code / 100 {
        3 => "the receiver answered 3xx (redirects are not followed)".to_string(),
        c => format!("the receiver answered {c}xx"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn internal_and_reserved_addresses_are_refused_and_public_ones_allowed() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "198.18.0.1",
            "198.19.255.1",
            "192.0.0.170",
            "192.0.2.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::808:808",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:808:808::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "100::1",
        ] {
            let ip: IpAddr = bad.parse().expect("ip");
            assert!(refused_address(ip).is_some(), "{bad} should be refused");
        }
        for good in [
            "93.184.216.34",
            "8.8.8.8",
            "100.128.0.1",
            "198.20.0.1",
            "223.255.255.1",
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = good.parse().expect("ip");
            assert!(refused_address(ip).is_none(), "{good} should be allowed");
        }
    }

    /// Answers each lookup with the next answer of its list (the last one
    /// repeats); counts the lookups.
    struct Scripted {
        answers: Mutex<Vec<Vec<IpAddr>>>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(answers: &[&[&str]]) -> Arc<Scripted> {
            Arc::new(Scripted {
                answers: Mutex::new(
                    answers
                        .iter()
                        .map(|a| a.iter().map(|s| s.parse().expect("ip")).collect())
                        .collect(),
                ),
                calls: AtomicUsize::new(0),
            })
        }
    }

    impl Lookup for Scripted {
        fn lookup(&self, _host: &str) -> LookupFuture {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let answers = self.answers.lock().expect("lock");
            let answer = answers
                .get(n)
                .or(answers.last())
                .cloned()
                .unwrap_or_default();
            Box::pin(async move { Ok(answer) })
        }
    }

    struct Never;

    impl Lookup for Never {
        fn lookup(&self, _host: &str) -> LookupFuture {
            Box::pin(std::future::pending())
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    /// A listener that must see no connection: the request has ended when
    /// this is asked, so a connection made would be waiting in its backlog.
    fn untouched(listener: &std::net::TcpListener) -> bool {
        listener.set_nonblocking(true).expect("nonblocking");
        matches!(listener.accept(), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    #[tokio::test]
    async fn a_name_that_rebinds_to_loopback_after_the_check_is_never_connected_to() {
        let trap = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = trap.local_addr().expect("addr").port();
        // The check sees a public address; the connection's lookup gets
        // loopback, where a service listens.
        let lookup = Scripted::new(&[&["93.184.216.34"], &["127.0.0.1"]]);
        let resolver = PinnedResolver::with_lookup(lookup.clone(), Filter::PublicOnly, SECOND);
        let url = format!("http://rebind.example:{port}/hook");
        resolver
            .check(&url, "webhook")
            .await
            .expect("public at check time");
        let client = DeliveryClient::new(resolver, SECOND).expect("client");
        let err = client
            .post(&url, "webhook")
            .expect("a name is resolved when connecting")
            .body("{}")
            .send()
            .await
            .expect_err("refused");
        let shown = client.failure(&err);
        assert!(shown.starts_with("refused to connect"), "{shown}");
        assert!(
            !shown.contains("127.0.0.1") && !shown.contains("93.184"),
            "{shown}"
        );
        assert_eq!(lookup.calls.load(Ordering::SeqCst), 2, "one lookup each");
        assert!(
            untouched(&trap),
            "a connection reached the loopback listener"
        );
    }

    #[tokio::test]
    async fn only_the_addresses_that_passed_are_connected_to() {
        // 127.0.0.1 stands in for a refused address (the metadata service)
        // and 127.0.0.2 for a public one, so both can listen here.
        let allowed = std::net::TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
        let port = allowed.local_addr().expect("addr").port();
        let Ok(trap) = std::net::TcpListener::bind(("127.0.0.1", port)) else {
            panic!("port {port} is taken on 127.0.0.1; run again");
        };
        fn stand_in(ip: IpAddr) -> Option<&'static str> {
            (ip == IpAddr::from([127, 0, 0, 1])).then_some("the stand-in for metadata")
        }
        // The refused address first: a client that tried the answers in
        // order would connect to it.
        let lookup = Scripted::new(&[&["127.0.0.1", "127.0.0.2"]]);
        let resolver = PinnedResolver::with_lookup(lookup, Filter::Custom(stand_in), SECOND);
        let client = DeliveryClient::new(resolver, SECOND).expect("client");
        allowed.set_nonblocking(true).expect("nonblocking");
        let allowed = tokio::net::TcpListener::from_std(allowed).expect("tokio listener");
        let served = tokio::spawn(async move {
            let (mut socket, _) = allowed.accept().await.expect("accept");
            let mut buf = vec![0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
            let answer = b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n";
            let _ = tokio::io::AsyncWriteExt::write_all(&mut socket, answer).await;
        });
        let resp = client
            .post(&format!("http://both.example:{port}/hook"), "webhook")
            .expect("request")
            .body("{}")
            .send()
            .await
            .expect("the allowed address answers");
        assert_eq!(resp.status().as_u16(), 204);
        served.await.expect("served");
        assert!(untouched(&trap), "a connection reached the refused address");
    }

    #[tokio::test]
    async fn every_blocked_range_is_refused_by_name_and_by_literal_without_naming_it() {
        for bad in [
            "169.254.169.254",
            "0.1.2.3",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "100.64.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "fc00::1",
            "fe80::1",
            "ff02::1",
        ] {
            let lookup = Scripted::new(&[&[bad]]);
            let resolver = PinnedResolver::with_lookup(lookup, Filter::PublicOnly, SECOND);
            let err = resolver
                .check("https://internal.example/hook", "webhook")
                .await
                .expect_err(bad);
            assert_eq!(err, TargetError::RefusedName, "{bad}");
            let text = err.to_string();
            assert!(!text.contains(bad) && !text.contains("127."), "{text}");
            // Mixed with a public address: refused at creation, and at
            // connection time only the public one is kept.
            let lookup = Scripted::new(&[&["8.8.8.8", bad]]);
            let resolver = PinnedResolver::with_lookup(lookup, Filter::PublicOnly, SECOND);
            assert!(resolver
                .check("https://mixed.example/x", "webhook")
                .await
                .is_err());
            let kept = resolver
                .resolve_host("mixed.example", false)
                .await
                .expect("public kept");
            assert_eq!(kept, vec![IpAddr::from([8, 8, 8, 8])]);
            // Written in the URL: refused before any request is built.
            let ip: IpAddr = bad.parse().expect("ip");
            let host = match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            };
            let lookup = Scripted::new(&[&[]]);
            let resolver = PinnedResolver::with_lookup(lookup, Filter::PublicOnly, SECOND);
            let literal_url = format!("http://{host}/hook");
            assert!(
                matches!(
                    resolver.check(&literal_url, "webhook").await,
                    Err(TargetError::RefusedAddress(_))
                ),
                "{literal_url}"
            );
            let client = DeliveryClient::new(resolver, SECOND).expect("client");
            assert!(
                client.post(&literal_url, "webhook").is_err(),
                "{literal_url}"
            );
        }
    }

    #[tokio::test]
    async fn a_lookup_that_never_answers_is_cut_off() {
        let resolver = PinnedResolver::with_lookup(
            Arc::new(Never),
            Filter::PublicOnly,
            Duration::from_millis(50),
        );
        let err = resolver
            .check("https://slow.example/x", "webhook")
            .await
            .expect_err("deadline");
        assert_eq!(err, TargetError::DnsTimeout(50));
        let nothing =
            PinnedResolver::with_lookup(Scripted::new(&[&[]]), Filter::PublicOnly, SECOND);
        assert_eq!(
            nothing.check("https://gone.example/x", "webhook").await,
            Err(TargetError::DoesNotResolve)
        );
    }

    #[tokio::test]
    async fn urls_are_checked_before_any_connection() {
        let public =
            PinnedResolver::with_lookup(Scripted::new(&[&["8.8.8.8"]]), Filter::PublicOnly, SECOND);
        let any =
            PinnedResolver::with_lookup(Scripted::new(&[&["127.0.0.1"]]), Filter::Any, SECOND);
        assert!(public
            .check("ftp://example.com/x", "webhook")
            .await
            .is_err());
        assert!(public
            .check("http://127.0.0.1:9/hook", "webhook")
            .await
            .is_err());
        assert!(public
            .check("http://[::1]:9/hook", "webhook")
            .await
            .is_err());
        assert!(public
            .check("http://2130706433/hook", "webhook")
            .await
            .is_err());
        assert!(any
            .check("http://127.0.0.1:9/hook", "webhook")
            .await
            .is_ok());
        assert!(any
            .check("http://localhost:9/hook", "webhook")
            .await
            .is_ok());
        assert!(public
            .check("https://hooks.example/x", "webhook")
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn slack_channels_only_reach_slack() {
        let any = PinnedResolver::with_lookup(Scripted::new(&[&["8.8.8.8"]]), Filter::Any, SECOND);
        assert!(any
            .check("https://hooks.slack.com/services/T/B/x", "slack")
            .await
            .is_ok());
        for bad in [
            "http://hooks.slack.com/services/T/B/x",
            "https://hooks.slack.com:8443/services/T/B/x",
            "https://hooks.slack.com.evil.example/services",
            "https://hooks.slack.com@evil.example/services",
            "https://evil.example/hooks.slack.com/",
            "https://127.0.0.1/services",
        ] {
            assert_eq!(
                any.check(bad, "slack").await,
                Err(TargetError::NotSlack),
                "{bad}"
            );
        }
    }
}
