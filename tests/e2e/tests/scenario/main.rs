//! The first-environment scenario end to end
//! (docs/sync-and-identity.md#a-first-environment-end-to-end): one scenario (`scenario.rs`), run
//! against two in-process fake n8n instances always, and against the real dev and prod instances
//! named by `N8N_DEV_URL`/`N8N_DEV_API_KEY`/`N8N_PROD_URL`/`N8N_PROD_API_KEY` (`eval
//! "$(scripts/real-n8n.sh start)"`). Without them the real run prints `SKIPPED`, unless
//! `WFOPS_REQUIRE_REAL_N8N=1` (CI), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// the API tests' in-process app helpers, shared rather than copied
#[path = "../../../../apps/api/tests/common/mod.rs"]
mod common;
mod harness;
mod promotion;
mod scenario;
mod world;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_time_setup_against_fake_n8n() {
    scenario::first_time_setup(harness::Instances::fake()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_time_setup_against_real_n8n() {
    let Some(instances) = harness::Instances::real("first_time_setup_against_real_n8n") else {
        return;
    };
    scenario::first_time_setup(instances).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_walkthrough_against_fake_n8n() {
    promotion::walkthrough(harness::Instances::fake()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promotion_walkthrough_against_real_n8n() {
    let Some(instances) =
        harness::Instances::real_scratch("promotion_walkthrough_against_real_n8n")
    else {
        return;
    };
    promotion::walkthrough(instances).await;
}
