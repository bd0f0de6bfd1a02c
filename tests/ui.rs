//! Compile-time behaviour of the macros: every misuse is an error at the
//! mistake, with the message pinned in the `.stderr` file next to the case.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/signal/*.rs");
    t.compile_fail("tests/ui/receiver/*.rs");
    t.compile_fail("tests/ui/namespace/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
