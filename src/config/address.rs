//! Network addresses in the configuration: HTTP API addresses in HashiCorp's forms
//! (`127.0.0.1:8500`, `http://…`, `https://…`) and syslog receivers (`tcp://`, `tls://`).

use std::fmt;

use reqwest::Url;

/// An HTTP(S) address: a Consul or Nomad API base, or a log sink's URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiAddress(Url);

impl ApiAddress {
    /// Parses an address as HashiCorp's clients take it: a bare `host:port` means `http://`,
    /// as in Consul's `CONSUL_HTTP_ADDR` and Nomad's `NOMAD_ADDR`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        let (scheme, rest, explicit) = match text.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest, true),
            None => ("http".to_string(), text, false),
        };
        match scheme.as_str() {
            "http" | "https" => {}
            "unix" => {
                return Err(format!(
                    "unix sockets are not supported ({text:?}); give the agent's HTTP address, \
                     such as http://127.0.0.1:8500"
                ));
            }
            other => {
                return Err(format!(
                    "unsupported scheme {other:?} in {text:?}: use http:// or https://"
                ));
            }
        }
        let url = Url::parse(&format!("{scheme}://{rest}"))
            .map_err(|e| format!("invalid address {text:?}: {e}"))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("invalid address {text:?}: no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "credentials in the address are not supported ({}); use the token options",
                url.host_str().unwrap_or_default()
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "invalid address {text:?}: a query or fragment is not allowed"
            ));
        }
        if !explicit && url.port().is_none() {
            return Err(format!(
                "invalid address {text:?}: give host:port, or a URL with http:// or https://"
            ));
        }
        Ok(Self(url))
    }

    /// This address as an API base: its path ends with `/`, so `url().join("v1/…")` keeps a
    /// reverse-proxy path prefix (Consul's client keeps it too).
    pub fn into_base(mut self) -> Self {
        if !self.0.path().ends_with('/') {
            let path = format!("{}/", self.0.path());
            self.0.set_path(&path);
        }
        self
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }
}

impl fmt::Display for ApiAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for ApiAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.as_str())
    }
}

/// A syslog receiver reached over TCP, optionally with TLS (RFC 5425).
#[derive(Clone, PartialEq, Eq)]
pub struct SyslogAddress {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl SyslogAddress {
    /// Parses `host:port` (plain TCP), `tcp://host:port` or `tls://host:port`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (tls, rest) = match text.split_once("://") {
            None => (false, text),
            Some(("tcp", rest)) => (false, rest),
            Some(("tls", rest)) => (true, rest),
            Some((other, _)) => {
                return Err(format!(
                    "unsupported scheme {other:?} in {text:?}: use tcp:// or tls:// (syslog over UDP \
                     loses lines)"
                ));
            }
        };
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("invalid address {text:?}: give host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("invalid address {text:?}: bad port {port:?}"))?;
        if host.is_empty() {
            return Err(format!("invalid address {text:?}: no host"));
        }
        Ok(Self {
            host: host.to_string(),
            port,
            tls,
        })
    }
}

impl fmt::Display for SyslogAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "tls" } else { "tcp" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for SyslogAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> Result<String, String> {
        ApiAddress::parse(s).map(|a| a.into_base().to_string())
    }

    #[test]
    fn hashicorp_address_forms() {
        assert_eq!(base("127.0.0.1:8500").unwrap(), "http://127.0.0.1:8500/");
        assert_eq!(base("http://consul:8500").unwrap(), "http://consul:8500/");
        assert_eq!(base("HTTPS://consul").unwrap(), "https://consul/");
        assert_eq!(base("https://lb/consul").unwrap(), "https://lb/consul/");
        assert_eq!(base("[::1]:4646").unwrap(), "http://[::1]:4646/");
        assert!(
            base("unix:///var/run/consul.sock")
                .unwrap_err()
                .contains("unix sockets")
        );
        assert!(base("ftp://x").unwrap_err().contains("unsupported scheme"));
        assert!(base("consul").unwrap_err().contains("host:port"));
        assert!(
            base("http://u:p@consul:8500")
                .unwrap_err()
                .contains("credentials")
        );
        assert!(
            base("http://consul:8500/?x=1")
                .unwrap_err()
                .contains("query")
        );
        assert!(base("").is_err());
        assert!(base("http://:8500").is_err());
    }

    #[test]
    fn syslog_forms() {
        let a = SyslogAddress::parse("tls://logs:6514").unwrap();
        assert!(a.tls);
        assert_eq!(a.to_string(), "tls://logs:6514");
        assert_eq!(
            SyslogAddress::parse("127.0.0.1:514").unwrap().to_string(),
            "tcp://127.0.0.1:514"
        );
        assert_eq!(
            SyslogAddress::parse("[::1]:514").unwrap().to_string(),
            "tcp://[::1]:514"
        );
        assert!(SyslogAddress::parse("udp://x:514").is_err());
        assert!(SyslogAddress::parse("x").is_err());
        assert!(SyslogAddress::parse("x:0").is_err());
    }
}
