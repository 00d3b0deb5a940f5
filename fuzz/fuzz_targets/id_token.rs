//! Any token, through ID token verification: never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|token: &str| {
    civic_auth_poem::fuzzing::id_token(token);
});
