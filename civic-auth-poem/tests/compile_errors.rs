//! Misplaced `#[civic_auth_required]` is a compile error that points at the
//! user's code and says what to do; `tests/ui/*.stderr` pins each message.

#[test]
fn misuse_is_a_clear_compile_error() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
