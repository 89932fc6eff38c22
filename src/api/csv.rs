//! CSV answers of the JTWG's review: the format asked for, fields made
//! safe for spreadsheets, and the link to the next page.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};

use super::error::ApiError;
use crate::domain::problem::ProblemCode;

pub(super) fn wants_csv(req: &HttpRequest, format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(ApiError::Refused(
            ProblemCode::InvalidQuery,
            format!("format must be `json` or `csv`, not `{other}`"),
        )),
        None => Ok(req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"))),
    }
}

fn csv_field(s: &str) -> String {
    // A leading formula character is neutralised for spreadsheet users.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub(super) fn csv_response(
    name: &str,
    header_row: &[&str],
    rows: Vec<Vec<String>>,
) -> HttpResponse {
    let mut out = header_row.join(",");
    out.push_str("\r\n");
    for r in rows {
        out.push_str(&r.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .body(out)
}

pub(super) fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// `Link` to the next page (RFC 8288): this request with `cursor` set.
fn next_link(req: &HttpRequest, cursor: &str) -> String {
    let mut query: Vec<&str> = req
        .query_string()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("cursor="))
        .collect();
    let pair = format!("cursor={cursor}");
    query.push(&pair);
    format!("<{}?{}>; rel=\"next\"", req.path(), query.join("&"))
}

/// Adds the `Link` to the next page, if there is one, to a CSV answer.
pub(super) fn link_next(
    mut res: HttpResponse,
    req: &HttpRequest,
    next: Option<&str>,
) -> HttpResponse {
    if let Some(next) = next {
        if let Ok(v) = header::HeaderValue::from_str(&next_link(req, next)) {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    res
}
