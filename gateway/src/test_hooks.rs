//! Fault injection for the end-to-end tests, kept out of the modules that do the work and out
//! of release builds: it exists only with the `test-hooks` feature, which only the test
//! command enables (`scripts/test`, `.ci/run`: `--features lienthong/test-hooks`). Without it,
//! [`crash_point`] is an empty function the compiler removes.
//!
//! With the feature, it does nothing unless the process was started with
//! `LIENTHONG_TEST_CRASH_AFTER_COMMIT` (the `LIENTHONG_TEST_` prefix is reserved: no
//! configuration key can be set through it), and it reads that variable only after a commit the
//! tests name. The call sites are the commits whose loss a crash test checks: an edXML receipt
//! (`exchange`), a push (`callback`), a follow-up's decision (`followup`).

/// Whether this build carries the test hooks (shown by `lienthong --version`, so that a crash
/// test can tell a binary built without them).
pub const ENABLED: bool = cfg!(feature = "test-hooks");

/// Test-only fault injection: with `LIENTHONG_TEST_CRASH_AFTER_COMMIT=<point>` in the
/// environment, the process aborts (like `kill -9`: no answer, no cleanup) right after the
/// commit at that point, so tests can prove that what was committed is not lost and that the
/// sender's resend is deduplicated. Never set in production.
#[cfg(feature = "test-hooks")]
pub fn crash_point(point: &str) {
    if std::env::var("LIENTHONG_TEST_CRASH_AFTER_COMMIT").is_ok_and(|p| p == point) {
        tracing::error!(
            point,
            "LIENTHONG_TEST_CRASH_AFTER_COMMIT: aborting after the commit"
        );
        std::process::abort();
    }
}

/// Without the `test-hooks` feature: nothing.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn crash_point(_point: &str) {}
