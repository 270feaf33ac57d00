//! Components that do not fit the contract are refused at load with a clear error, never a panic.

use crate::common::SANDBOX;
use cordon_sandbox::LoadError;

fn load_err(bytes: &[u8]) -> LoadError {
    SANDBOX.load(bytes).expect_err("must be refused")
}

#[test]
fn random_bytes_are_not_wasm() {
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(matches!(load_err(&noise), LoadError::NotWasm));
    assert!(matches!(load_err(b""), LoadError::NotWasm));
}

#[test]
fn a_core_module_is_refused_as_not_a_component() {
    let module = wat::parse_str("(module (func (export \"call\")))").unwrap();
    let err = load_err(&module);
    assert!(matches!(err, LoadError::CoreModule));
    assert!(err.to_string().contains("not a component"));
}

#[test]
fn a_component_without_the_tool_export_is_refused() {
    let component = wat::parse_str("(component)").unwrap();
    let err = load_err(&component);
    assert!(matches!(err, LoadError::MissingExport(_)), "{err}");
    assert!(err.to_string().contains("cordon:tool/tool@0.2.0"), "{err}");
    assert!(err.to_string().contains("cordon:tool/tool@0.1.0"), "{err}");
}

#[test]
fn a_component_importing_an_unknown_interface_is_refused() {
    let component = wat::parse_str(
        r#"(component (import "evil:backdoor/open@1.0.0" (instance (export "run" (func)))))"#,
    )
    .unwrap();
    let err = load_err(&component);
    assert!(matches!(err, LoadError::UnsupportedImport(_)), "{err}");
    assert!(err.to_string().contains("evil:backdoor/open"), "{err}");
}

#[test]
fn a_truncated_component_is_invalid() {
    let bytes = cordon_test_artifacts::bytes(cordon_test_artifacts::ECHO);
    let err = load_err(&bytes[..bytes.len() / 2]);
    assert!(matches!(err, LoadError::Invalid(_)), "{err}");
}
