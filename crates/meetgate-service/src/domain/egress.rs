//! Where webhooks to host apps may go. An endpoint URL comes from a tenant (an API key or an
//! admin page), so unchecked it would let a tenant make meetgate post into the network it runs
//! in: loopback services, the cloud's metadata address, private ranges. Unless
//! `outbound.allow_private_webhooks` is set, only public addresses are reached: checked when an
//! endpoint is saved (a clear error) and again at every connection (names resolve at send
//! time, so a name that later points inside is refused too).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10, carrier-grade NAT
    let benchmarking = a == 198 && (b == 18 || b == 19); // 198.18.0.0/15
    let reserved = a >= 240; // 240.0.0.0/4 and broadcast
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || shared
        || benchmarking
        || reserved)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let first = s[0];
    // 64:ff9b::/96, and 64:ff9b:1::/48 for local use (RFC 8215)
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..3] == [0x64, 0xff9b, 1];
    let documentation = first == 0x2001 && s[1] == 0x0db8; // 2001:db8::/32
    let site_local = first & 0xffc0 == 0xfec0; // fec0::/10, deprecated but still routed here and there
    // 6to4 (2002::/16) and IPv4-compatible (::/96, deprecated) addresses carry an IPv4 address
    // that a relay or a dual stack may deliver to: as public as that address.
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    let embedded = if first == 0x2002 {
        Some(v4(s[1], s[2]))
    } else if s[..6] == [0; 6] {
        Some(v4(s[6], s[7]))
    } else {
        None
    };
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || nat64
        || documentation
        || site_local
        || embedded.is_some_and(|v4| !is_public_v4(v4)))
}

/// Why `url` may not receive webhooks, if it may not: its host is an address that is not
/// public, or a name that resolves only to such addresses. A name that does not resolve
/// (yet) passes: the resolver checks it again at every delivery.
pub async fn refuse_private_target(url: &Url) -> Option<String> {
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match url.host()? {
        Host::Ipv4(ip) => vec![SocketAddr::new(ip.into(), port)],
        Host::Ipv6(ip) => vec![SocketAddr::new(ip.into(), port)],
        Host::Domain(name) => match tokio::net::lookup_host((name, port)).await {
            Ok(found) => found.collect(),
            Err(_) => return None,
        },
    };
    if addrs.is_empty() || addrs.iter().any(|a| is_public(a.ip())) {
        return None;
    }
    // The address is for the operator's log only: told to a tenant, it would answer questions
    // about meetgate's private network one name at a time.
    tracing::info!(host = %url.host_str().unwrap_or_default(), address = %addrs[0].ip(), "refused a webhook endpoint on a private or reserved address");
    Some(
        "points to a private or reserved address; webhooks go only to public addresses unless the operator sets outbound.allow_private_webhooks"
            .into(),
    )
}

/// The system resolver, keeping only public addresses: what the webhook client connects with.
/// The egress proxy's own name (from `HTTPS_PROXY` and the like, which reqwest honours) is
/// resolved as it is: a proxy usually sits on a private address, and through it the proxy
/// decides what is reachable.
#[derive(Debug, Default)]
pub struct PublicOnlyResolver {
    proxies: Vec<String>,
}

impl PublicOnlyResolver {
    pub fn new(proxies: Vec<String>) -> Self {
        Self { proxies }
    }
}

/// The host names of the proxies reqwest takes from the environment.
pub fn proxy_hosts_from_env() -> Vec<String> {
    [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .filter_map(|var| std::env::var(var).ok())
    .filter_map(|value| {
        let with_scheme = if value.contains("://") {
            value
        } else {
            format!("http://{value}")
        };
        Url::parse(&with_scheme).ok()?.host_str().map(str::to_owned)
    })
    .collect()
}

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let is_proxy = self.proxies.iter().any(|p| p.eq_ignore_ascii_case(&host));
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_proxy || is_public(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!(
                    "{host} resolves only to private or reserved addresses (outbound.allow_private_webhooks)"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_reserved_and_special_addresses_are_not_public() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::808:808",
            "2001:db8::1",
            "2002:a00:1::1",
            "2002:7f00:1::",
            "::10.0.0.1",
            "fec0::1",
        ] {
            assert!(!is_public(inside.parse().unwrap()), "{inside}");
        }
        for outside in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
        ] {
            assert!(is_public(outside.parse().unwrap()), "{outside}");
        }
    }

    #[tokio::test]
    async fn saved_endpoints_inside_are_refused_with_the_setting_named() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost:8080/hook",
        ] {
            let why = refuse_private_target(&Url::parse(url).unwrap()).await;
            assert!(
                why.as_deref()
                    .is_some_and(|w| w.contains("outbound.allow_private_webhooks")),
                "{url}: {why:?}"
            );
        }
        let public = Url::parse("https://93.184.215.14/hook").unwrap();
        assert_eq!(refuse_private_target(&public).await, None);
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_point_inside() {
        let refused = PublicOnlyResolver::default()
            .resolve("localhost".parse().unwrap())
            .await;
        let error = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("outbound.allow_private_webhooks"), "{error}");
        // The egress proxy itself may be private: through it, the proxy decides.
        let proxy = PublicOnlyResolver::new(vec!["LOCALHOST".into()])
            .resolve("localhost".parse().unwrap())
            .await;
        assert!(proxy.is_ok_and(|mut addrs| addrs.next().is_some()));
    }
}
