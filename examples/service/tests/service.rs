//! The service driven in-process: events, a checkout whose order and
//! rewards land together, the JSON reads, the referrer's page in headless
//! Chromium, and 64 concurrent tasks sending 10,000 events with duplicates.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;

/// `DATABASE_URL`, or `None` with a notice; with `CI` set, its absence fails.
fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(std::env::var_os("CI").is_none(), "CI is set but DATABASE_URL is not");
            eprintln!("notice: DATABASE_URL is not set; skipping a service test");
            None
        }
    }
}

/// The service on a fresh schema named after the test.
async fn service(name: &str) -> Option<(Router, PgPool, String)> {
    let url = database_url()?;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(&url).await.unwrap();
    let schema = format!("svc_{name}_{}", std::process::id());
    for s in [schema.clone(), format!("{schema}_app")] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {s} CASCADE"))).execute(&pool).await.unwrap();
    }
    let app = referral_service::app(pool.clone(), &schema).await.unwrap();
    Some((app, pool, schema))
}

async fn drop_schemas(pool: &PgPool, schema: &str) {
    for s in [schema.to_owned(), format!("{schema}_app")] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {s} CASCADE"))).execute(pool).await.unwrap();
    }
}

async fn call(app: &Router, method: &str, path: &str, body: Option<Value>) -> (StatusCode, String) {
    let request = Request::builder().method(method).uri(path).header("content-type", "application/json");
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn post(app: &Router, path: &str, body: Value) -> (StatusCode, Value) {
    let (status, text) = call(app, "POST", path, Some(body)).await;
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}")))
}

async fn get_json(app: &Router, path: &str) -> (StatusCode, Value) {
    let (status, text) = call(app, "GET", path, None).await;
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}")))
}

fn enroll(key: &str, who: &str, code: &str) -> Value {
    json!({"key": key, "program": "shop", "kind": {"type": "enroll", "participant": who, "vanity_code": code}})
}

fn sign_up(key: &str, who: &str, code: &str) -> Value {
    json!({"key": key, "program": "shop", "kind": {"type": "sign_up", "referee": who, "code": code}})
}

async fn count(pool: &PgPool, sql: String) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await.unwrap()
}

#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referral_from_sign_up_to_checkout_through_the_json_api() {
    let Some((app, pool, schema)) = service("api").await else { return };
    let (status, _) = post(&app, "/events", enroll("e-ann", "ann", "ANN-2026")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = post(&app, "/events", sign_up("s-bob", "bob", "NO-SUCH-CODE")).await;
    assert_eq!((status, body["refusal"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_code")));
    // The refusal as the crate serializes it: its message and the code it names (as normalized).
    let named = body["refusal"]["referral_code"].as_str().unwrap();
    assert_eq!(body["refusal"]["message"].as_str(), Some(format!("unknown referral code {named}").as_str()), "{body}");
    assert_eq!(post(&app, "/events", sign_up("s-bob", "bob", "ANN-2026")).await.0, StatusCode::OK);

    let sale = json!({"order": "o-1", "customer": "bob", "total": "50.00"});
    let (status, body) = post(&app, "/checkout", sale.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"]["rewards"].as_array().map(Vec::len), Some(2));
    // The same checkout again (a retried request): the first answer, once.
    assert_eq!(post(&app, "/checkout", sale).await.1, body);
    assert_eq!(count(&pool, format!("SELECT count(*) FROM {schema}_app.orders")).await, 1);
    assert_eq!(count(&pool, format!("SELECT count(*) FROM {schema}.re_reward")).await, 2);

    let (status, dashboard) = get_json(&app, "/referrers/ann").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((dashboard["signups"].as_u64(), dashboard["qualified"].as_u64()), (Some(1), Some(1)));
    assert_eq!(get_json(&app, "/referrers/nobody").await.0, StatusCode::NOT_FOUND);
    let (status, report) = get_json(&app, "/report").await;
    assert_eq!((status, report["counters"]["signups"].as_u64()), (StatusCode::OK, Some(1)));
    let (status, page) = call(&app, "GET", "/program", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<svg id=\"chart\"") && page.contains("sign-ups 1"), "{page}");
    drop_schemas(&pool, &schema).await;
}

/// The referrer's page, served on a real port and loaded in headless
/// Chromium (Debian's `chromium`): it shows the share link, the referrals,
/// the earnings and what is pending, after its script ran.
#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_referrers_page_in_a_browser_shows_link_referrals_and_earnings() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| std::process::Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
    else {
        assert!(std::env::var_os("CI").is_none(), "CI is set but no chromium is installed");
        eprintln!("notice: no chromium; skipping the browser check");
        return;
    };
    let Some((app, pool, schema)) = service("browser").await else { return };
    post(&app, "/events", enroll("e-ann", "ann", "ANN-2026")).await;
    for who in ["bob", "cy"] {
        post(&app, "/events", sign_up(&format!("s-{who}"), who, "ANN-2026")).await;
    }
    post(&app, "/checkout", json!({"order": "o-1", "customer": "bob", "total": "50.00"})).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{address}/referrers/ann/page");
    let dom = tokio::task::spawn_blocking(move || {
        std::process::Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    server.abort();
    let dom = String::from_utf8_lossy(&dom.stdout);
    for shown in [
        "https://shop.example/join?ref=ANN2026&amp;channel=link",
        "2 signed up, 1 qualified",
        "bob: rewarded",
        "cy: attributed",
        "<td class=\"pending\">10.00</td>",
        "<p id=\"rendered\">page ready</p>",
    ] {
        assert!(dom.contains(shown), "the page does not show {shown:?}:\n{dom}");
    }
    drop_schemas(&pool, &schema).await;
}

/// 64 tasks send 10,000 events through the service, duplicates among them
/// (the same sign-up or checkout sent again, as a client retrying would):
/// every duplicate gets the first answer, no reward is granted twice, and
/// no referrer's cap (25 rewarded referrals) or the budget is crossed.
#[cfg_attr(not(database_url), ignore = "needs DATABASE_URL: a PostgreSQL server")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_tasks_ten_thousand_events_no_reward_doubled_and_limits_held() {
    let Some((app, pool, schema)) = service("load").await else { return };
    const REFERRERS: usize = 40;
    const REFEREES: usize = 2_480;
    for r in 0..REFERRERS {
        post(&app, "/events", enroll(&format!("e-r{r}"), &format!("r{r}"), &format!("CODE-R{r}"))).await;
    }
    // Each referee signs up, then buys; every third request is sent twice.
    let mut requests: Vec<(String, Value)> = Vec::new();
    for i in 0..REFEREES {
        let code = format!("CODE-R{}", i % REFERRERS);
        requests.push(("/events".into(), sign_up(&format!("s-{i}"), &format!("f{i}"), &code)));
    }
    for i in 0..REFEREES {
        requests.push((
            "/checkout".into(),
            json!({"order": format!("o-{i}"), "customer": format!("f{i}"), "total": "30.00"}),
        ));
    }
    let originals = requests.len();
    let duplicates: Vec<_> = requests.iter().cycle().take(10_000 - REFERRERS - originals).cloned().collect();
    let sign_ups = requests.len() / 2;
    // Sign-ups first (a referee must sign up before buying), each half with its duplicates spread through it.
    let (mut first, mut second): (Vec<_>, Vec<_>) = (requests[..sign_ups].to_vec(), requests[sign_ups..].to_vec());
    for d in duplicates {
        if d.0 == "/events" { first.push(d) } else { second.push(d) }
    }
    assert_eq!(REFERRERS + first.len() + second.len(), 10_000);
    let answers: Arc<std::sync::Mutex<HashMap<String, Vec<Value>>>> = Arc::default();
    for phase in [first, second] {
        let chunks: Vec<Vec<(String, Value)>> = phase.chunks(phase.len().div_ceil(64)).map(<[_]>::to_vec).collect();
        assert_eq!(chunks.len(), 64);
        let tasks: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let (app, answers) = (app.clone(), Arc::clone(&answers));
                tokio::spawn(async move {
                    for (path, body) in chunk {
                        let (status, answer) = post(&app, &path, body.clone()).await;
                        assert_eq!(status, StatusCode::OK, "{path} {body}: {answer}");
                        let key = body.get("key").or_else(|| body.get("order")).unwrap().to_string();
                        answers.lock().unwrap().entry(key).or_default().push(answer);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    }
    {
        let answers = answers.lock().unwrap();
        assert_eq!(answers.len(), 2 * REFEREES);
        for (key, seen) in answers.iter() {
            assert!(seen.windows(2).all(|w| w[0] == w[1]), "{key}: a duplicate got another answer: {seen:?}");
        }
    }
    let rewards = count(&pool, format!("SELECT count(*) FROM {schema}.re_reward")).await;
    let per_referral =
        count(&pool, format!("SELECT count(*) FROM (SELECT referral FROM {schema}.re_reward GROUP BY referral, role HAVING count(*) > 1) d")).await;
    assert_eq!(per_referral, 0, "a referral rewarded twice for one side");
    let capped = count(
        &pool,
        format!(
            "SELECT count(*) FROM (SELECT beneficiary FROM {schema}.re_reward WHERE role = 'referrer'
             GROUP BY beneficiary HAVING count(*) > 25) x"
        ),
    )
    .await;
    assert_eq!(capped, 0, "a referrer past the cap");
    let referrer_side = count(&pool, format!("SELECT count(*) FROM {schema}.re_reward WHERE role = 'referrer'")).await;
    assert_eq!(referrer_side, 25 * REFERRERS as i64, "every referrer reached the cap of 25, and no more");
    assert!(rewards > referrer_side, "friends were rewarded too, until the budget ran out");
    let granted: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COALESCE(sum(amount), 0)::text FROM {schema}.re_reward"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    let granted: rust_decimal::Decimal = granted.parse().unwrap();
    assert!(granted <= rust_decimal::Decimal::from(20_000), "the budget was crossed: {granted}");
    assert_eq!(count(&pool, format!("SELECT count(*) FROM {schema}_app.orders")).await, REFEREES as i64);
    drop_schemas(&pool, &schema).await;
}

/// In CI the service's tests must run: built there without `DATABASE_URL`,
/// they would all show as ignored and CI would pass on nothing.
#[test]
fn ci_runs_the_service_tests() {
    if std::env::var_os("CI").is_some() {
        let built_with_a_database = cfg!(database_url);
        assert!(built_with_a_database, "CI is set but the tests were built without DATABASE_URL");
    }
}
