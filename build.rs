// The crate's build script: the tests' `database_url` cfg, and the README's
// forecast chart as a `data:` URI, so that the crate's documentation (the
// README) shows it on docs.rs, where a file of the repository has no address
// an image can load.

include!("build/database_url.rs");

fn main() {
    database_url_cfg();
    println!("cargo::rerun-if-changed=docs/forecast-dropbox.svg");
    let svg = std::fs::read_to_string("docs/forecast-dropbox.svg").unwrap_or_default();
    let uri = format!(
        "data:image/svg+xml,{}",
        percent_encoding::utf8_percent_encode(&svg, percent_encoding::NON_ALPHANUMERIC)
    );
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::write(out.join("forecast-chart.uri"), uri) {
        println!("cargo::warning=the forecast chart for the docs was not written: {e}");
    }
}
