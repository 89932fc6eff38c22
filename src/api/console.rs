//! The web console: a single page served at `/`, same origin as the API it
//! calls. Its files (`src/console/`) are embedded in the binary and served
//! under `/console/<hash>/`, where the hash covers every file: a page names
//! the current set, browsers keep the files for a year (immutable), and a
//! new build changes the hash. There is no build step: the files are the
//! plain ES modules and CSS the browser runs.
//!
//! Every response carries a strict Content-Security-Policy: scripts,
//! styles, fetches and images from this origin only (and `data:` images),
//! no inline script or style, no framing.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

/// The console's files, as embedded: name and bytes. A test checks that
/// this list and `src/console/` hold the same files.
pub const FILES: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("../console/index.html")),
    ("app.css", include_bytes!("../console/app.css")),
    ("app.js", include_bytes!("../console/app.js")),
    ("api.js", include_bytes!("../console/api.js")),
    ("dom.js", include_bytes!("../console/dom.js")),
    ("i18n.js", include_bytes!("../console/i18n.js")),
    ("texts_en.js", include_bytes!("../console/texts_en.js")),
    ("texts_fr.js", include_bytes!("../console/texts_fr.js")),
    ("cases.js", include_bytes!("../console/cases.js")),
    ("case_form.js", include_bytes!("../console/case_form.js")),
    ("case_page.js", include_bytes!("../console/case_page.js")),
    ("handovers.js", include_bytes!("../console/handovers.js")),
    ("review.js", include_bytes!("../console/review.js")),
    ("admin.js", include_bytes!("../console/admin.js")),
];

/// What the page may load: only this origin, no inline code.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// A file ready to serve: its type, bytes and gzip-compressed bytes.
struct Served {
    content_type: &'static str,
    plain: web::Bytes,
    gzip: web::Bytes,
}

struct Bundle {
    /// Hex digest of every file's name and bytes (16 characters).
    hash: String,
    /// The page, naming the files under `/console/<hash>/`.
    index: Served,
    files: HashMap<&'static str, Served>,
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn served(name: &str, plain: Vec<u8>) -> Served {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to memory cannot fail.
    let gzip = gz
        .write_all(&plain)
        .and_then(|()| gz.finish())
        .unwrap_or_default();
    Served {
        content_type: content_type(name),
        plain: plain.into(),
        gzip: gzip.into(),
    }
}

fn bundle() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let mut sha = openssl::sha::Sha256::new();
        for (name, bytes) in FILES {
            sha.update(name.as_bytes());
            sha.update(&(bytes.len() as u64).to_be_bytes());
            sha.update(bytes);
        }
        let hash = crate::domain::envelope::hex(&sha.finish())[..16].to_owned();
        let base = format!("/console/{hash}/");
        let page = FILES
            .iter()
            .find(|(n, _)| *n == "index.html")
            .map(|(_, b)| String::from_utf8_lossy(b).replace("/console/ASSETS/", &base))
            .unwrap_or_default();
        Bundle {
            index: served("index.html", page.into_bytes()),
            files: FILES
                .iter()
                .filter(|(n, _)| *n != "index.html")
                .map(|(n, b)| (*n, served(n, b.to_vec())))
                .collect(),
            hash,
        }
    })
}

/// The hash naming the current set of files.
pub fn assets_hash() -> &'static str {
    &bundle().hash
}

fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            (name == "gzip" || name == "*") && !refused
        })
}

fn respond(req: &HttpRequest, file: &Served, cache: &'static str) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, file.content_type))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    if accepts_gzip(req) {
        res.insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(file.gzip.clone())
    } else {
        res.body(file.plain.clone())
    }
}

/// `GET /`: the console's page (never cached: it names the current files).
pub async fn page(req: HttpRequest) -> HttpResponse {
    respond(&req, &bundle().index, "no-cache")
}

/// `GET /console/{hash}/{file}`: one of the console's files, cached for a
/// year; 404 for a file or a hash this build does not have.
pub async fn asset(req: HttpRequest, path: web::Path<(String, String)>) -> HttpResponse {
    let (hash, name) = path.into_inner();
    let b = bundle();
    match b.files.get(name.as_str()) {
        Some(file) if hash == b.hash => respond(&req, file, "public, max-age=31536000, immutable"),
        _ => HttpResponse::NotFound()
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("not found"),
    }
}

/// Registers the console's two routes (outside the API and its spec).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(page))
        .route("/console/{hash}/{file}", web::get().to(asset));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of `src/console/` is embedded, and nothing else.
    #[test]
    fn every_console_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/console");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(n, _)| (*n).to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "list the files of src/console in FILES");
    }

    #[test]
    fn the_page_names_the_hashed_files() {
        let b = bundle();
        let page = String::from_utf8(b.index.plain.to_vec()).unwrap();
        assert!(!page.contains("/console/ASSETS/"));
        assert!(page.contains(&format!("/console/{}/app.js", b.hash)));
        // No inline script or style: the CSP would refuse them.
        assert!(!page.contains("<script>") && !page.contains("style="));
    }
}
