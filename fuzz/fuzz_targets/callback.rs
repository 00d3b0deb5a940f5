//! Any callback query and login-transaction cookie: never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: (&str, &str)| {
    civic_auth_poem::fuzzing::callback(input.0, input.1);
});
