//! Password hashing under a crowd: memory stays bounded however many sign in at once.

use crate::helpers::spawn_app;
use reqwest::StatusCode;

/// The process's peak resident memory since [`reset_peak`], in MiB. The service runs in
/// this process, so this is its memory (plus the test's little).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib / 1024
}

/// Starts measuring the peak afresh (Linux: `5` to `clear_refs` resets VmHWM).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("the peak RSS can be reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_sign_ins_keep_memory_bounded() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    reset_peak();
    let before = peak_rss_mib();

    let logins = (0..100).map(|_| app.login(&user.email, &user.password));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(logins)
        .await
        .iter()
        .map(|r| r.status())
        .collect();

    let peak = peak_rss_mib();
    assert!(
        peak <= 200,
        "identity's memory peaked at {peak} MiB (from {before} MiB) under 100 sign-ins"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::SERVICE_UNAVAILABLE),
        "each sign-in succeeds or is told to come back: {statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
}
