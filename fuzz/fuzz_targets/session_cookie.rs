//! Any `Cookie` header, opened as a session: never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|cookie: &str| {
    civic_auth_poem::fuzzing::session_cookie(cookie);
});
