//! An axum + sqlx service with referral-engine on the host's own pool: it
//! records events, sells (its own `orders` row and the purchase event in one
//! transaction), and shows a referrer's dashboard and the program's report,
//! as JSON and as two HTML pages.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /events` | any event, as the engine's JSON form; the outcome, or the refusal (422) |
//! | `POST /checkout` | `{"order", "customer", "total"}`: the order row and its purchase event, committed together |
//! | `GET /referrers/{id}` | the referrer's dashboard (JSON; 404 if unknown) |
//! | `GET /report` | the program's report for the last 30 days (JSON) |
//! | `GET /referrers/{id}/page` | the referrer's page: share link, referrals, earnings, pending rewards |
//! | `GET /program` | the program's page: the report and a chart |

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgPool;

use referral_engine::domain::code::{Channel, ShareLink};
use referral_engine::domain::id::{OrderId, ProgramId};
use referral_engine::engine::AsyncEngine;
use referral_engine::event::Purchase;
use referral_engine::store::pg::PgStore;
use referral_engine::{Error, Event, Outcome, ParticipantId, ProgramSpec, Refusal};

/// The service's state: the engine on the host's pool, the pool, the page
/// templates.
#[derive(Clone)]
pub struct App(Arc<Inner>);

struct Inner {
    engine: AsyncEngine<PgStore>,
    pool: PgPool,
    orders: String,
    program: ProgramId,
    link: ShareLink,
    pages: minijinja::Environment<'static>,
}

/// What can go wrong while starting.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The service on `pool`: the engine's tables in `schema`, the service's own
/// `orders` table in `<schema>_app` (both created if missing).
pub async fn app(pool: PgPool, schema: &str) -> Result<Router, BoxError> {
    let store = PgStore::new(pool.clone()).with_schema(schema)?;
    store.migrate().await?;
    let orders = format!("{schema}_app.orders");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}_app;
         CREATE TABLE IF NOT EXISTS {orders} (id TEXT PRIMARY KEY, customer TEXT NOT NULL, total NUMERIC NOT NULL)"
    )))
    .execute(&pool)
    .await?;
    let spec: ProgramSpec = serde_json::from_str(include_str!("../program.json"))?;
    let program = spec.build()?;
    let id = program.id().clone();
    let mut pages = minijinja::Environment::new();
    pages.add_template("referrer.html", include_str!("../templates/referrer.html"))?;
    pages.add_template("program.html", include_str!("../templates/program.html"))?;
    let app = App(Arc::new(Inner {
        engine: AsyncEngine::new(store).with_program(program),
        pool,
        orders,
        program: id,
        link: ShareLink::new("https://shop.example/join"),
        pages,
    }));
    Ok(Router::new()
        .route("/events", post(record))
        .route("/checkout", post(checkout))
        .route("/referrers/{id}", get(dashboard))
        .route("/referrers/{id}/page", get(referrer_page))
        .route("/report", get(report))
        .route("/program", get(program_page))
        .with_state(app))
}

/// The answer to a call: the engine's two layers mapped once, here.
enum Answer {
    Done(serde_json::Value),
    Refused(Refusal),
    NotFound(String),
    Failed(Error),
}

impl From<Error> for Answer {
    fn from(e: Error) -> Self {
        Answer::Failed(e)
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self {
            Answer::Done(body) => Json(body).into_response(),
            Answer::Refused(refusal) => {
                (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "refusal": refusal }))).into_response()
            }
            Answer::NotFound(what) => (StatusCode::NOT_FOUND, Json(json!({"error": what}))).into_response(),
            Answer::Failed(e) => {
                let status =
                    if e.is_retryable() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
                let mut message = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    message.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                (status, Json(json!({"error": {"code": e.code(), "message": message}}))).into_response()
            }
        }
    }
}

fn outcome(answer: Result<Outcome, Refusal>) -> Answer {
    match answer {
        Ok(outcome) => Answer::Done(json!({ "outcome": outcome })),
        Err(refusal) => Answer::Refused(refusal),
    }
}

async fn record(State(app): State<App>, Json(event): Json<Event>) -> Answer {
    match app.0.engine.handle(&event).await {
        Ok(answer) => outcome(answer),
        Err(e) => e.into(),
    }
}

/// A sale: what the shop sends when a customer pays.
#[derive(Debug, Deserialize)]
pub struct Checkout {
    /// The order's id.
    pub order: String,
    /// Who bought.
    pub customer: String,
    /// The total, in USD (`"50.00"`).
    pub total: rust_decimal::Decimal,
}

/// How many times a checkout's transaction is tried again after a passing
/// failure (a serialization failure dooms the whole transaction).
const CHECKOUT_TRIES: u32 = 3;

async fn checkout(State(app): State<App>, Json(sale): Json<Checkout>) -> Answer {
    let event = match purchase_event(&app.0.program, &sale) {
        Ok(event) => event,
        Err(refusal) => return Answer::Refused(refusal),
    };
    let mut tries = 0;
    loop {
        match checkout_once(&app, &sale, &event).await {
            Err(CheckoutError::Engine(e)) if e.is_retryable() && tries < CHECKOUT_TRIES => tries += 1,
            Err(CheckoutError::Engine(e)) => return e.into(),
            Err(CheckoutError::Database(e)) => return Answer::Failed(Error::Store(store_error(e))),
            Ok(answer) => return outcome(answer),
        }
    }
}

fn purchase_event(program: &ProgramId, sale: &Checkout) -> Result<Event, Refusal> {
    let customer: ParticipantId = sale.customer.parse().map_err(Refusal::from)?;
    let order: OrderId = sale.order.parse().map_err(Refusal::from)?;
    let total = format!("{} USD", sale.total).parse().map_err(Refusal::from)?;
    Event::new(&format!("checkout-{}", sale.order), program.as_str(), Purchase::new(customer, order, total))
        .map_err(Refusal::from)
}

enum CheckoutError {
    Engine(Error),
    Database(sqlx::Error),
}

/// The order row and the purchase event in one transaction of the host's:
/// both land when it commits, or neither does.
async fn checkout_once(app: &App, sale: &Checkout, event: &Event) -> Result<Result<Outcome, Refusal>, CheckoutError> {
    let mut tx = app.0.pool.begin().await.map_err(CheckoutError::Database)?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {} (id, customer, total) VALUES ($1, $2, $3::numeric) ON CONFLICT (id) DO NOTHING",
        app.0.orders
    )))
    .bind(&sale.order)
    .bind(&sale.customer)
    .bind(sale.total.to_string())
    .execute(&mut *tx)
    .await
    .map_err(CheckoutError::Database)?;
    let answer = app.0.engine.handle_in(&mut tx, event).await.map_err(CheckoutError::Engine)?;
    tx.commit().await.map_err(CheckoutError::Database)?;
    Ok(answer)
}

fn store_error(e: sqlx::Error) -> referral_engine::store::StoreError {
    referral_engine::store::StoreError::Backend(Box::new(e))
}

const CHANNELS: [Channel; 2] = [Channel::Link, Channel::Email];

async fn dashboard(State(app): State<App>, Path(id): Path<String>) -> Answer {
    let Ok(who) = id.parse::<ParticipantId>() else { return Answer::NotFound(format!("no participant {id}")) };
    let read = app.0.engine.read(&app.0.program, |r| r.dashboard(&who, Some(&app.0.link), &CHANNELS)).await;
    match read {
        Ok(Some(dashboard)) => Answer::Done(json!(dashboard)),
        Ok(None) => Answer::NotFound(format!("no participant {who}")),
        Err(e) => e.into(),
    }
}

fn last_thirty_days() -> (chrono::NaiveDate, chrono::NaiveDate) {
    let today = chrono::Utc::now().date_naive();
    (today - chrono::Days::new(30), today)
}

async fn report(State(app): State<App>) -> Answer {
    let (from, to) = last_thirty_days();
    match app.0.engine.read(&app.0.program, |r| r.report(from, to)).await {
        Ok(report) => Answer::Done(json!(report)),
        Err(e) => e.into(),
    }
}

fn page(app: &App, template: &str, context: serde_json::Value) -> Response {
    match app.0.pages.get_template(template).and_then(|t| t.render(context)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn referrer_page(State(app): State<App>, Path(id): Path<String>) -> Response {
    let Ok(who) = id.parse::<ParticipantId>() else {
        return Answer::NotFound(format!("no participant {id}")).into_response();
    };
    let read = app
        .0
        .engine
        .read(&app.0.program, |r| {
            let dashboard = r.dashboard(&who, Some(&app.0.link), &CHANNELS)?;
            let referrals: Vec<_> = r.referrals().all()?.into_iter().filter(|x| x.referrer == who).collect();
            Ok((dashboard, referrals))
        })
        .await;
    match read {
        Ok((None, _)) => Answer::NotFound(format!("no participant {who}")).into_response(),
        Ok((Some(dashboard), referrals)) => {
            let referrals: Vec<_> = referrals
                .iter()
                .map(|r| json!({"referee": r.referee.as_str(), "status": format!("{:?}", r.status).to_lowercase()}))
                .collect();
            page(&app, "referrer.html", json!({"dashboard": dashboard, "referrals": referrals}))
        }
        Err(e) => Answer::from(e).into_response(),
    }
}

async fn program_page(State(app): State<App>) -> Response {
    let (from, to) = last_thirty_days();
    match app.0.engine.read(&app.0.program, |r| r.report(from, to)).await {
        Ok(report) => {
            let c = &report.counters;
            let bars =
                [("invites", c.invites), ("sign-ups", c.signups), ("qualified", c.qualified), ("rewarded", c.rewarded)];
            let top = bars.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
            let bars: Vec<_> = bars
                .iter()
                .enumerate()
                .map(|(i, (label, n))| json!({"label": label, "value": n, "x": 20 + i * 90, "height": n * 160 / top}))
                .collect();
            page(&app, "program.html", json!({"report": report, "bars": bars}))
        }
        Err(e) => Answer::from(e).into_response(),
    }
}
