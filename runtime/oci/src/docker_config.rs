//! Registry credentials the way users already have them: the `auths` of a Docker config file
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), as `docker login` and
//! `skopeo login --authfile` write them. Credential helpers (`credsStore`, `credHelpers`) are
//! not run: cordon executes no program a config file names; a registry that only has a helper is
//! reported so the user can pass the credentials another way.

use crate::error::OciError;
use crate::registry::Credentials;
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The Docker config file this user has, if any.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker/config.json"))
}

/// `https://host:port/v1/` and `host:port` name the same registry.
fn registry_of(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// The credentials `text` (a Docker config file) holds for `registry` (`host` or `host:port`).
pub fn credentials_from(text: &str, registry: &str) -> Result<Option<Credentials>, String> {
    let config: DockerConfig =
        serde_json::from_str(text).map_err(|e| format!("it is not a Docker config file: {e}"))?;
    let entry = config
        .auths
        .iter()
        .find(|(key, _)| registry_of(key) == registry)
        .map(|(_, entry)| entry);
    let Some(entry) = entry else {
        let helper = config
            .cred_helpers
            .get(registry)
            .or(config.creds_store.as_ref());
        return match helper {
            Some(helper) => Err(format!(
                "its credentials for {registry} are kept by the credential helper docker-credential-{helper}, which cordon does not run; give them with --username and CORDON_REGISTRY_PASSWORD"
            )),
            None => Ok(None),
        };
    };
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Some(Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        }));
    }
    let Some(auth) = &entry.auth else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| format!("its auth for {registry} is not base64"))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| format!("its auth for {registry} is not text"))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| format!("its auth for {registry} is not user:password"))?;
    Ok(Some(Credentials::Basic {
        username: username.to_owned(),
        password: password.to_owned(),
    }))
}

/// The credentials the user's Docker config file holds for `registry`, if it has any.
pub fn docker_credentials(registry: &str) -> Result<Option<Credentials>, OciError> {
    let Some(path) = docker_config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(OciError::Reference(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    credentials_from(&text, registry)
        .map_err(|e| OciError::Reference(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(c: Option<Credentials>) -> (String, String) {
        match c {
            Some(Credentials::Basic { username, password }) => (username, password),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auths_are_found_by_registry_whatever_the_key_form() {
        // base64("tester:s3cret:with:colons")
        let text = r#"{"auths":{
            "https://registry.example.com/v1/":{"auth":"dGVzdGVyOnMzY3JldDp3aXRoOmNvbG9ucw=="},
            "127.0.0.1:5000":{"username":"u","password":"p"}},
            "credHelpers":{"ecr.example.com":"ecr-login"}}"#;
        assert_eq!(
            basic(credentials_from(text, "registry.example.com").unwrap()),
            ("tester".into(), "s3cret:with:colons".into())
        );
        assert_eq!(
            basic(credentials_from(text, "127.0.0.1:5000").unwrap()),
            ("u".into(), "p".into())
        );
        assert!(
            credentials_from(text, "other.example.com")
                .unwrap()
                .is_none()
        );
        let helper = credentials_from(text, "ecr.example.com").unwrap_err();
        assert!(helper.contains("docker-credential-ecr-login"), "{helper}");
        assert!(helper.contains("CORDON_REGISTRY_PASSWORD"), "{helper}");
        let store = credentials_from(r#"{"credsStore":"desktop"}"#, "x.example.com").unwrap_err();
        assert!(store.contains("docker-credential-desktop"), "{store}");
        assert!(credentials_from("not json", "x").is_err());
        let bad = credentials_from(
            r#"{"auths":{"x.example.com":{"auth":"!!"}}}"#,
            "x.example.com",
        );
        assert!(bad.unwrap_err().contains("not base64"));
    }
}
