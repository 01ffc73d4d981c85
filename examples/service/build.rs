// The same check as the library's: without DATABASE_URL the tests build as ignored.
include!("../../build/database_url.rs");

fn main() {
    database_url_cfg();
}
