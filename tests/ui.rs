//! Every misuse of the macros is a compile error that points at the token and says what to
//! write instead.

#[test]
fn macro_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
