//! The Wasm OCI artifact layout (CNCF TAG Runtime, "Wasm OCI Artifact layout", version v0, the
//! layout `wkg` of wasm-pkg-tools writes): an OCI image manifest whose config has the media type
//! `application/vnd.wasm.config.v0+json` and whose one layer, `application/wasm`, is the
//! component. cordon pushes the signed component as that layer, unchanged: the signature is a
//! custom section inside it, so any OCI tool can copy the artifact without breaking it, and the
//! registry is only transport. No `artifactType` (registries without OCI 1.1 accept it).

use crate::error::OciError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";

/// `sha256:` and the hex digest of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmConfig<'a> {
    created: &'a str,
    architecture: &'static str,
    os: &'static str,
    layer_digests: Vec<&'a str>,
    component: ComponentWorld,
}

/// The component's top-level imports and exports, as the config lists them.
#[derive(Debug, Default, Serialize)]
struct ComponentWorld {
    exports: Vec<String>,
    imports: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// What is pushed for one signed component: the manifest, the config and the layer, each with
/// its digest.
#[derive(Debug)]
pub struct Artifact {
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub layer_digest: String,
}

/// The top-level imports and exports of a component; `Err` when the bytes are not a component.
fn world(component: &[u8]) -> Result<ComponentWorld, String> {
    use wasmparser::{Encoding, Parser, Payload};
    let mut world = ComponentWorld::default();
    // Nested modules and components are walked by the parser too; only depth 0 is the
    // component's own world.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(component) {
        match payload.map_err(|e| e.to_string())? {
            Payload::Version { encoding, .. } if depth == 0 && encoding != Encoding::Component => {
                return Err("it is a core module, not a component".into());
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    world
                        .imports
                        .push(import.map_err(|e| e.to_string())?.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    world
                        .exports
                        .push(export.map_err(|e| e.to_string())?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(world)
}

/// The artifact for a signed component named `name` at `version`, created at `created` (RFC
/// 3339; the signing time, so the same signed file always makes the same artifact).
pub fn build(
    component: &[u8],
    name: &str,
    version: &str,
    created: &str,
) -> Result<Artifact, OciError> {
    let world = world(component)
        .map_err(|e| OciError::Layout(format!("the file is not a WebAssembly component: {e}")))?;
    let layer_digest = digest_of(component);
    let config = serde_json::to_vec(&WasmConfig {
        created,
        architecture: "wasm",
        os: "wasip2",
        layer_digests: vec![&layer_digest],
        component: world,
    })
    .map_err(|e| OciError::Layout(e.to_string()))?;
    let config_digest = digest_of(&config);
    let annotations = |pairs: &[(&str, &str)]| {
        Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        )
    };
    let manifest = serde_json::to_vec(&Manifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.into()),
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE.into(),
            digest: config_digest.clone(),
            size: config.len() as u64,
            annotations: None,
        },
        layers: vec![Descriptor {
            media_type: LAYER_MEDIA_TYPE.into(),
            digest: layer_digest.clone(),
            size: component.len() as u64,
            annotations: annotations(&[(
                "org.opencontainers.image.title",
                &format!("{name}.wasm"),
            )]),
        }],
        annotations: annotations(&[
            ("org.opencontainers.image.created", created),
            ("org.opencontainers.image.title", name),
            ("org.opencontainers.image.version", version),
        ]),
    })
    .map_err(|e| OciError::Layout(e.to_string()))?;
    Ok(Artifact {
        manifest_digest: digest_of(&manifest),
        manifest,
        config,
        config_digest,
        layer_digest,
    })
}

/// The component layer a pulled manifest names, after checking it is the layout above: an OCI
/// image manifest, the Wasm config media type, exactly one `application/wasm` layer with a
/// sha256 digest.
pub(crate) fn component_layer(reference: &str, manifest: &[u8]) -> Result<Descriptor, OciError> {
    let layout = |why: &str| {
        OciError::Layout(format!(
            "{reference} is not a Wasm component artifact ({why}); push one with `cordon push`"
        ))
    };
    let manifest: Manifest = serde_json::from_slice(manifest)
        .map_err(|e| layout(&format!("its manifest is not an OCI image manifest: {e}")))?;
    if manifest.schema_version != 2
        || manifest
            .media_type
            .as_deref()
            .is_some_and(|m| m != MANIFEST_MEDIA_TYPE)
    {
        return Err(layout("its manifest is not an OCI image manifest"));
    }
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(layout(&format!(
            "its config is {}, not {CONFIG_MEDIA_TYPE}",
            manifest.config.media_type
        )));
    }
    let mut layers = manifest.layers.into_iter();
    let (Some(layer), None) = (layers.next(), layers.next()) else {
        return Err(layout("it must have exactly one layer"));
    };
    if layer.media_type != LAYER_MEDIA_TYPE {
        return Err(layout(&format!(
            "its layer is {}, not {LAYER_MEDIA_TYPE}",
            layer.media_type
        )));
    }
    let hex_ok = layer.digest.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|x| x.is_ascii_digit() || (b'a'..=b'f').contains(&x))
    });
    if !hex_ok {
        return Err(layout("its layer digest is not sha256"));
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the preamble of the component encoding.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";
    const CORE_MODULE: &[u8] = b"\0asm\x01\x00\x00\x00";

    #[test]
    fn an_artifact_is_the_v0_layout_and_reads_back() {
        let a = build(EMPTY_COMPONENT, "echo", "1.2.0", "2026-12-04T10:00:00Z").unwrap();
        let config: serde_json::Value = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(config["architecture"], "wasm");
        assert_eq!(config["os"], "wasip2");
        assert_eq!(config["layerDigests"][0], a.layer_digest.as_str());
        assert_eq!(config["component"]["exports"], serde_json::json!([]));
        let manifest: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(manifest["mediaType"], MANIFEST_MEDIA_TYPE);
        assert!(manifest.get("artifactType").is_none());
        assert_eq!(manifest["config"]["mediaType"], CONFIG_MEDIA_TYPE);
        assert_eq!(manifest["config"]["digest"], a.config_digest.as_str());
        assert_eq!(manifest["layers"][0]["size"], EMPTY_COMPONENT.len());
        assert_eq!(
            manifest["layers"][0]["annotations"]["org.opencontainers.image.title"],
            "echo.wasm"
        );
        assert_eq!(
            manifest["annotations"]["org.opencontainers.image.version"],
            "1.2.0"
        );
        assert_eq!(a.manifest_digest, digest_of(&a.manifest));
        // The same input makes the same artifact.
        let again = build(EMPTY_COMPONENT, "echo", "1.2.0", "2026-12-04T10:00:00Z").unwrap();
        assert_eq!(again.manifest_digest, a.manifest_digest);
        let layer = component_layer("r", &a.manifest).unwrap();
        assert_eq!((layer.digest, layer.size), (a.layer_digest, 8));
    }

    #[test]
    fn a_core_module_or_garbage_is_not_pushed() {
        for bytes in [CORE_MODULE, b"not wasm".as_slice()] {
            let e = build(bytes, "x", "1", "2026-12-04T10:00:00Z").unwrap_err();
            assert!(e.to_string().contains("not a WebAssembly component"), "{e}");
        }
    }

    #[test]
    fn manifests_of_other_layouts_are_refused_and_say_why() {
        let a = build(EMPTY_COMPONENT, "echo", "1", "2026-12-04T10:00:00Z").unwrap();
        let mut m: serde_json::Value = serde_json::from_slice(&a.manifest).unwrap();
        let check = |m: &serde_json::Value| {
            component_layer("oci://r/x:1", &serde_json::to_vec(m).unwrap())
                .unwrap_err()
                .to_string()
        };
        let mut image = m.clone();
        image["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
        assert!(check(&image).contains("its config is application/vnd.oci.image.config"));
        let mut two = m.clone();
        let layer = two["layers"][0].clone();
        two["layers"].as_array_mut().unwrap().push(layer);
        assert!(check(&two).contains("exactly one layer"));
        let mut tar = m.clone();
        tar["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
        assert!(check(&tar).contains("its layer is application/vnd.oci.image.layer"));
        m["layers"][0]["digest"] = "md5:abc".into();
        assert!(check(&m).contains("not sha256"));
        assert!(
            component_layer("oci://r/x:1", b"{}")
                .unwrap_err()
                .to_string()
                .contains("push one with `cordon push`")
        );
    }
}
