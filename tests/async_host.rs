//! The async pattern: one shared engine, calls on tokio's blocking pool.
#![cfg(feature = "sqlite")]

#[path = "../examples/async_host.rs"]
mod async_host;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_from_async_tasks_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    let referrals = async_host::referrals(&dir.path().join("app.db")).unwrap();
    let report = async_host::serve(referrals).await.unwrap();
    assert_eq!(report, "ada has 10000 points from 100 friends (200 requests)\n");
}
