//! Absolute URLs for Bundle links and fullUrls.

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
            let info = req.connection_info();
            format!("{}://{}{base_path}", info.scheme(), info.host())
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
