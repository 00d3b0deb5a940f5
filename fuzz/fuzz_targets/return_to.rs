//! Any `returnTo`: never a panic, and nothing accepted that leaves the app.
#![no_main]

libfuzzer_sys::fuzz_target!(|path: &str| {
    if civic_auth_poem::fuzzing::return_to(path) {
        assert!(path.starts_with('/') && !path.starts_with("//") && !path.contains('\\'));
    }
});
