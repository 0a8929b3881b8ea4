//! A map tile URL template (`console_map_tiles`): an XYZ template such as
//! `https://tiles.example.gov.cn/{z}/{x}/{y}.png`, checked before the server
//! starts, and its origin (the one place the console's page may load images
//! from besides itself).

/// Longest template accepted, in bytes.
const TEMPLATE_BYTES_MAX: usize = 500;

/// The template's origin (`https://tiles.example.gov.cn:8443`), or why the
/// template is refused: it must be an absolute HTTPS URL (HTTP only to a
/// loopback host), hold `{z}`, `{x}` and `{y}`, and nothing that could
/// break out of a Content-Security-Policy source or an attribute.
pub fn origin(template: &str) -> Result<String, String> {
    if template.len() > TEMPLATE_BYTES_MAX {
        return Err(format!("must be at most {TEMPLATE_BYTES_MAX} bytes"));
    }
    if let Some(bad) = template.chars().find(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, ';' | ',' | '\'' | '"' | '<' | '>' | '\\')
    }) {
        return Err(format!("must not contain {bad:?}"));
    }
    for part in ["{z}", "{x}", "{y}"] {
        if !template.contains(part) {
            return Err(format!("must contain {part}"));
        }
    }
    let (scheme, rest) = template
        .split_once("://")
        .ok_or("must be an absolute URL (https://…)")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('{') || authority.contains('@') {
        return Err("must name its host plainly (no template parts or user in it)".into());
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("must be https:// (http:// only to a loopback host)".into()),
    }
    Ok(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_https_template_gives_its_origin() {
        assert_eq!(
            origin("https://tiles.example.gov.cn:8443/map/{z}/{x}/{y}.png").unwrap(),
            "https://tiles.example.gov.cn:8443"
        );
        assert_eq!(
            origin("http://127.0.0.1:9000/{z}/{x}/{y}.png").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            origin("http://[::1]:9000/t?z={z}&x={x}&y={y}").unwrap(),
            "http://[::1]:9000"
        );
    }

    #[test]
    fn templates_that_could_break_the_policy_or_leak_are_refused() {
        for bad in [
            "http://tiles.example.gov.cn/{z}/{x}/{y}.png",
            "https://tiles.example.gov.cn/{z}/{x}.png",
            "https://tiles.example.gov.cn/{z}/{x}/{y}.png; script-src *",
            "https://tiles.example.gov.cn/{z}/{x}/{y}.png 'unsafe-inline'",
            "https://{s}.tiles.example.gov.cn/{z}/{x}/{y}.png",
            "https://user@tiles.example.gov.cn/{z}/{x}/{y}.png",
            "ftp://tiles.example.gov.cn/{z}/{x}/{y}.png",
            "//tiles.example.gov.cn/{z}/{x}/{y}.png",
            "https:///{z}/{x}/{y}",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
        assert!(origin(&format!(
            "https://t.example/{}/{{z}}/{{x}}/{{y}}",
            "a".repeat(600)
        ))
        .is_err());
    }
}
