//! Runs the example service: `DATABASE_URL=postgres://... cargo run -p referral-service`,
//! then open http://127.0.0.1:3000/program.

#[tokio::main]
async fn main() -> Result<(), referral_service::BoxError> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to a PostgreSQL database")?;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(&url).await?;
    let app = referral_service::app(pool, "referrals").await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
