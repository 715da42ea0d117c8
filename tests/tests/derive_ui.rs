//! Every misuse of the derives is a compile error pointing at the offending token, with a hint;
//! the `.stderr` files are the messages users see.

#[test]
fn derive_misuse_is_a_helpful_compile_error() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
