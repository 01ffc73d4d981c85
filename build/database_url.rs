// Whether a PostgreSQL server was named at build time: with `DATABASE_URL`
// unset, the PostgreSQL tests are built as ignored, so the summary a person
// reads says they did not run. (Shared by the library's build script and the
// example service's; the library itself does not use it.)

fn database_url_cfg() {
    println!("cargo::rustc-check-cfg=cfg(database_url)");
    println!("cargo::rerun-if-env-changed=DATABASE_URL");
    if std::env::var_os("DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=database_url");
    }
}
