//! The product binary holds the product only: no test hook, no fake, no
//! demo, whatever is built beside it (Cargo unifies features across a
//! workspace, so a test-only feature would leak into `cargo build
//! --workspace`; there is none). This reads the very binary the other
//! tests run, built with the workspace's features.

const TEST_ONLY: &[&str] = &[
    "test hook",
    "test-hook",
    "humanitec-sandbox",
    "secret_sync_testkit",
    "secret-sync demo",
    // Only the test kit drops databases.
    "DROP DATABASE",
];

#[test]
fn the_secret_sync_binary_contains_no_test_hook_fake_or_demo() {
    let path = env!("CARGO_BIN_EXE_secret-sync");
    let binary = std::fs::read(path).expect("the secret-sync binary is readable");
    // Lossy text: std's (optimised) substring search, not a byte loop.
    let text = String::from_utf8_lossy(&binary);
    let found: Vec<&str> = TEST_ONLY
        .iter()
        .copied()
        .filter(|needle| text.contains(needle))
        .collect();
    assert!(found.is_empty(), "{path} contains {found:?}");
}
