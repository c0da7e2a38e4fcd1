//! Absolute URLs for Bundle links and fullUrls.

use super::Connection;
use crate::runtime::Snapshot;
use actix_web::HttpRequest;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Characters escaped in echoed parameters; `|`, `,`, `:` and `/` stay readable.
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^');

/// `https://host/fhir/stu3/gp-data`: from `public_url` when configured, else from the request.
pub fn base_url(req: &HttpRequest, snapshot: &Snapshot, base_path: &str) -> String {
    match &snapshot.settings.public_url {
        Some(public) => format!("{public}{base_path}"),
        None => {
            let connection = req.conn_data::<Connection>();
            let info = req.connection_info();
            // Over TLS the scheme is ours to know; behind a proxy it is what the proxy says.
            let scheme = if connection.is_some_and(|c| c.tls) { "https" } else { info.scheme() };
            // A request without a Host header (HTTP/1.0) gets the address it came in on.
            let host = match connection.and_then(|c| c.local) {
                Some(local) if !req.headers().contains_key(actix_web::http::header::HOST) => local.to_string(),
                _ => info.host().to_owned(),
            };
            format!("{scheme}://{host}{base_path}")
        }
    }
}

/// `base/Type?a=1&b=2`, with the parameters in request order.
pub fn search_link(base: &str, resource_type: &str, params: &[(String, String)]) -> String {
    let mut url = format!("{base}/{resource_type}");
    for (i, (k, v)) in params.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.extend(utf8_percent_encode(k, QUERY_VALUE));
        url.push('=');
        url.extend(utf8_percent_encode(v, QUERY_VALUE));
    }
    url
}
