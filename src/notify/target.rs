//! Where a channel may send: http or https URLs whose host resolves only to
//! public addresses, so a tenant cannot make the service call loopback,
//! link-local (cloud metadata) or private endpoints; an operator may allow
//! those (`NOTIFY_ALLOW_PRIVATE_TARGETS`). Checked when a channel is created
//! and again before every send (a name may resolve elsewhere later).

use std::net::IpAddr;

/// Why an address is not allowed, or None.
pub fn refused_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() {
                Some("not a host")
            } else if o[0] == 100 && (64..128).contains(&o[1]) {
                Some("shared (carrier-grade NAT)")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_address(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("not a host")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else {
                None
            }
        }
    }
}

/// Checks `url` (scheme, host, every address it resolves to).
pub async fn check_target(url: &str, allow_private: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("the URL does not parse ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "the URL must be http or https, not `{}`",
            parsed.scheme()
        ));
    }
    let host = parsed
        .host_str()
        .ok_or("the URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if allow_private {
        return Ok(());
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("the host `{host}` does not resolve ({e})"))?
            .map(|a| a.ip())
            .collect(),
    };
    for ip in addrs {
        if let Some(why) = refused_address(ip) {
            return Err(format!(
                "the host `{host}` resolves to a {why} address ({ip}); only public \
                 addresses are allowed unless the operator sets NOTIFY_ALLOW_PRIVATE_TARGETS=true"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_and_public_ones_allowed() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(refused_address(bad.parse().expect("ip")).is_some(), "{bad}");
        }
        for good in ["93.184.216.34", "2606:4700::1111"] {
            assert!(
                refused_address(good.parse().expect("ip")).is_none(),
                "{good}"
            );
        }
    }

    #[tokio::test]
    async fn urls_are_checked_before_any_connection() {
        assert!(check_target("ftp://example.com/x", false).await.is_err());
        assert!(check_target("http://127.0.0.1:9/hook", false)
            .await
            .is_err());
        assert!(check_target("http://[::1]:9/hook", false).await.is_err());
        assert!(check_target("http://127.0.0.1:9/hook", true).await.is_ok());
    }
}
