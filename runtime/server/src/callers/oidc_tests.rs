//! Tokens signed here (Ed25519 and P-256 keys made for the test) against a JWKS file: what is
//! accepted, and every way a token is refused.

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

const ISS: &str = "https://id.example.com";

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

struct Keys {
    ed: EncodingKey,
    ed_public: [u8; 32],
    ec: EncodingKey,
    jwks: std::path::PathBuf,
}

fn keys(name: &str) -> Keys {
    let dir = std::env::temp_dir().join(format!("cordon-oidc-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ed = cordon_trust::PrivateKey::generate().unwrap();
    ed.write_new(&dir.join("ed.pem")).unwrap();
    let ed_public = *ed.key_id().as_bytes();
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let point = ec.public_key_raw();
    let jwks = dir.join("jwks.json");
    std::fs::write(
        &jwks,
        json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "alg": "EdDSA", "use": "sig",
             "x": B64.encode(ed_public)},
            {"kty": "EC", "crv": "P-256", "kid": "ec-1", "alg": "ES256", "use": "sig",
             "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])},
        ]})
        .to_string(),
    )
    .unwrap();
    Keys {
        ed: EncodingKey::from_ed_der(&pem_body(&dir.join("ed.pem"))),
        ed_public,
        ec: EncodingKey::from_ec_der(&ec.serialize_der()),
        jwks,
    }
}

/// The DER inside a one-block PEM file.
fn pem_body(path: &std::path::Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn config(k: &Keys) -> IssuerConfig {
    IssuerConfig {
        issuer: ISS.into(),
        audiences: vec!["cordon".into()],
        jwks: k.jwks.to_str().unwrap().into(),
        jwks_ca: None,
        algorithms: default_algorithms(),
        clock_skew_secs: 60,
        role_claim: "groups".into(),
        roles: [
            ("tool-users".to_owned(), Role::Invoker),
            ("auditors".to_owned(), Role::Auditor),
            ("platform-admins".to_owned(), Role::Admin),
        ]
        .into(),
        client_id: None,
        authorization_endpoint: None,
        token_endpoint: None,
        scopes: None,
    }
}

fn issuer(k: &Keys) -> Issuer {
    Issuer::new(config(k)).unwrap()
}

fn claims(change: impl FnOnce(&mut Value)) -> Value {
    let mut c = json!({
        "iss": ISS, "sub": "alice", "aud": "cordon",
        "iat": now(), "nbf": now() - 10, "exp": now() + 600,
        "groups": ["tool-users"],
    });
    change(&mut c);
    c
}

fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

#[test]
fn valid_tokens_give_the_subject_and_its_mapped_roles() {
    let k = keys("valid");
    let iss = issuer(&k);
    let id = iss
        .verify(
            &sign(Algorithm::EdDSA, "ed-1", &k.ed, &claims(|_| {})),
            now(),
        )
        .unwrap();
    assert_eq!((id.issuer.as_str(), id.subject.as_str()), (ISS, "alice"));
    assert_eq!(id.roles, [Role::Invoker].into());
    // ES256, the claim an array naming two mapped groups and one that is not.
    let token = sign(
        Algorithm::ES256,
        "ec-1",
        &k.ec,
        &claims(|c| c["groups"] = json!(["auditors", "platform-admins", "cafeteria"])),
    );
    let id = iss.verify(&token, now()).unwrap();
    assert_eq!(id.roles, [Role::Admin, Role::Auditor].into());
    // A single string claim, and an audience list containing ours.
    let token = sign(
        Algorithm::EdDSA,
        "ed-1",
        &k.ed,
        &claims(|c| {
            c["groups"] = json!("auditors");
            c["aud"] = json!(["other", "cordon"]);
        }),
    );
    assert_eq!(
        iss.verify(&token, now()).unwrap().roles,
        [Role::Auditor].into()
    );
    assert_eq!(claimed_issuer(&token).as_deref(), Some(ISS));
}

#[test]
fn every_kind_of_bad_token_is_refused() {
    let k = keys("bad");
    let iss = issuer(&k);
    let refused = |token: &str| match iss.verify(token, now()) {
        Err(TokenError::Invalid(why)) => why,
        other => panic!("accepted or wrongly classified: {other:?}"),
    };
    let ed = |c: Value| sign(Algorithm::EdDSA, "ed-1", &k.ed, &c);
    let t = now();
    refused(&ed(claims(|c| c["exp"] = json!(t - 3600))));
    refused(&ed(claims(|c| c["nbf"] = json!(t + 3600))));
    assert!(refused(&ed(claims(|c| c["iat"] = json!(t + 3600)))).contains("iat"));
    refused(&ed(claims(|c| {
        c["iss"] = json!("https://evil.example.com")
    })));
    refused(&ed(claims(|c| c["aud"] = json!("another-service"))));
    refused(&ed(claims(|c| {
        c.as_object_mut().unwrap().remove("aud");
    })));
    // Within the clock skew, accepted.
    assert!(
        iss.verify(&ed(claims(|c| c["exp"] = json!(t - 30))), now())
            .is_ok()
    );
    // An unknown key id (after one refresh of the key set).
    assert!(
        refused(&sign(Algorithm::EdDSA, "ed-9", &k.ed, &claims(|_| {})))
            .contains("no key \"ed-9\"")
    );
    // A key of the set but the wrong algorithm for it.
    refused(&sign(Algorithm::ES256, "ed-1", &k.ec, &claims(|_| {})));
    // alg: none, with no signature.
    let none = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","typ":"JWT","kid":"ed-1"}"#),
        B64.encode(claims(|_| {}).to_string())
    );
    refused(&none);
    // HS256 "signed" with the issuer's public key as the secret: algorithm confusion.
    let confused = sign(
        Algorithm::HS256,
        "ed-1",
        &EncodingKey::from_secret(&k.ed_public),
        &claims(|_| {}),
    );
    assert!(refused(&confused).contains("HS256"));
    // A payload changed after signing.
    let good = ed(claims(|_| {}));
    let parts: Vec<&str> = good.split('.').collect();
    let forged = claims(|c| c["groups"] = json!(["platform-admins"]));
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(forged.to_string()),
        parts[2]
    );
    refused(&tampered);
    // Valid, but no mapped role: its own error (403, not 401).
    assert_eq!(
        iss.verify(&ed(claims(|c| c["groups"] = json!(["cafeteria"]))), now()),
        Err(TokenError::NoRole {
            claim: "groups".into()
        })
    );
}

#[test]
fn an_issuer_configured_unsafely_is_refused_at_start() {
    let k = keys("config");
    let base = config(&k);
    let hs = Issuer::new(IssuerConfig {
        algorithms: vec!["HS256".into()],
        ..base.clone()
    })
    .unwrap_err();
    assert!(hs.contains("public-key signatures only"), "{hs}");
    let none = Issuer::new(IssuerConfig {
        algorithms: vec!["none".into()],
        ..base.clone()
    })
    .unwrap_err();
    assert!(none.contains("\"none\" is not accepted"), "{none}");
    let http = Issuer::new(IssuerConfig {
        jwks: "http://id.example.com/jwks.json".into(),
        ..base.clone()
    })
    .unwrap_err();
    assert!(http.contains("plain HTTP"), "{http}");
    let anyone = Issuer::new(IssuerConfig {
        audiences: vec![],
        ..base
    })
    .unwrap_err();
    assert!(anyone.contains("audiences is empty"), "{anyone}");
}

#[test]
fn malformed_tokens_are_refused_without_a_panic() {
    let k = keys("malformed");
    let verifier = Verifier::new(vec![config(&k)]).unwrap();
    let good = sign(Algorithm::EdDSA, "ed-1", &k.ed, &claims(|_| {}));
    let parts: Vec<&str> = good.split('.').collect();
    let header = B64.encode(r#"{"alg":"EdDSA","kid":"ed-1"}"#);
    let mut hostile = vec![
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "a.b.c".into(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{}..{}", parts[0], parts[2]),
        format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[2]),
        format!("{header}.{}.", B64.encode("null")),
        format!("{header}.{}.", B64.encode("[]")),
        format!("{header}.{}.x", B64.encode(r#"{"iss":7}"#)),
        format!("{header}.{}.x", B64.encode(format!(r#"{{"iss":"{ISS}"}}"#))),
        format!("{}.{}.{}", B64.encode("{"), parts[1], parts[2]),
        format!(
            "{}.{}.{}",
            B64.encode(r#"{"alg":"EdDSA","kid":7}"#),
            parts[1],
            parts[2]
        ),
        format!("{}.{}.{}", parts[0], "!!!", parts[2]),
        "é.ü.ß".into(),
        "\0.\0.\0".into(),
        format!("{}.{}.{}", "A".repeat(100_000), parts[1], parts[2]),
    ];
    // Every one-byte change of a valid token.
    for i in 0..good.len() {
        let mut bytes = good.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        if let Ok(s) = String::from_utf8(bytes) {
            hostile.push(s);
        }
    }
    for token in &hostile {
        // The non-blocking check refuses it too (or asks for the blocking one).
        assert!(
            verifier.verify_cached(token, now()).is_err()
                || token.starts_with(&format!("{}.{}.", parts[0], parts[1])),
            "{token:?}"
        );
        match verifier.verify(token, now()) {
            Err(TokenError::Invalid(_)) => {}
            other => {
                // A change inside the signature's base64 padding bits may still decode to the
                // same signature; nothing else may pass.
                let same = other.as_ref().is_ok_and(|id| id.subject == "alice");
                assert!(
                    same && token.starts_with(&format!("{}.{}.", parts[0], parts[1])),
                    "{token:?}: {other:?}"
                );
            }
        }
    }
}

#[test]
fn a_nested_role_claim_is_read_by_its_dotted_path_and_a_dotted_name_first() {
    let k = keys("nested");
    let nested = Issuer::new(IssuerConfig {
        role_claim: "realm_access.roles".into(),
        ..config(&k)
    })
    .unwrap();
    let token = sign(
        Algorithm::EdDSA,
        "ed-1",
        &k.ed,
        &claims(|c| c["realm_access"] = json!({"roles": ["auditors", "offline_access"]})),
    );
    let id = nested.verify(&token, now()).unwrap();
    assert_eq!(id.roles, [Role::Auditor].into());
    assert_eq!(id.groups, ["auditors", "offline_access"]);
    // A namespaced claim whose name has dots is read as that name.
    let namespaced = Issuer::new(IssuerConfig {
        role_claim: "https://cordon.test/roles".into(),
        ..config(&k)
    })
    .unwrap();
    let token = sign(
        Algorithm::EdDSA,
        "ed-1",
        &k.ed,
        &claims(|c| c["https://cordon.test/roles"] = json!("platform-admins")),
    );
    assert_eq!(
        namespaced.verify(&token, now()).unwrap().roles,
        [Role::Admin].into()
    );
    // A path that leads nowhere maps to no role.
    let token = sign(
        Algorithm::EdDSA,
        "ed-1",
        &k.ed,
        &claims(|c| c["realm_access"] = json!("x")),
    );
    assert_eq!(
        nested.verify(&token, now()),
        Err(TokenError::NoRole {
            claim: "realm_access.roles".into()
        })
    );
}

#[test]
fn console_endpoints_are_https_or_loopback() {
    for ok in [
        "https://idp.example.com/authorize",
        "http://127.0.0.1:8080/token",
        "http://localhost/authorize",
        "http://[::1]:9000/token",
    ] {
        assert!(console_endpoint_ok(ok), "{ok}");
    }
    for bad in [
        "http://idp.example.com/authorize",
        "http://127.0.0.1.example.com/token",
        "http://10.0.0.1/token",
        "javascript:alert(1)",
        "ftp://localhost/x",
        "",
    ] {
        assert!(!console_endpoint_ok(bad), "{bad}");
    }
}

#[test]
fn a_console_client_is_configured_or_refused() {
    let k = keys("console");
    let mut c = config(&k);
    assert!(Issuer::new(c.clone()).unwrap().console_client().is_none());
    c.client_id = Some("cordon-console".into());
    c.authorization_endpoint = Some("http://idp.example.com/authorize".into());
    c.token_endpoint = Some("https://idp.example.com/token".into());
    let refused = Issuer::new(c.clone()).unwrap_err();
    assert!(refused.contains("authorization_endpoint"), "{refused}");
    c.authorization_endpoint = Some("https://idp.example.com/authorize".into());
    let client = Issuer::new(c.clone())
        .unwrap()
        .console_client()
        .unwrap()
        .unwrap();
    assert_eq!(client.client_id, "cordon-console");
    assert_eq!(client.token_endpoint, "https://idp.example.com/token");
    assert_eq!(client.scopes, vec!["openid".to_owned()]);
    // No endpoints and an issuer that is not HTTPS: nothing to discover from, and it says so.
    c.authorization_endpoint = None;
    c.issuer = "http://id.example.com".into();
    let err = Issuer::new(c)
        .unwrap()
        .console_client()
        .unwrap()
        .unwrap_err();
    assert!(err.contains("configure authorization_endpoint"), "{err}");
}
