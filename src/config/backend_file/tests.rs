//! Tests of reading, validating and writing backend files.

use super::*;
use crate::config::home::mode_of;

fn p() -> PathBuf {
    PathBuf::from("/x/backends/groq.json")
}

#[test]
fn reads_our_format() {
    let text = r#"{
  "name": "groq",
  "protocol": "openai",
  "base_url": "https://api.groq.com/openai/v1/",
  "key_env": "GROQ_API_KEY",
  "models": ["llama-*"],
  "headers": {"x-org": "o1"},
  "deployments": [{"alias": "east", "base_url": "https://e.example/v1", "key": "k-east"}]
}"#;
    let b = parse_backend_json(&p(), "groq", text).unwrap();
    assert_eq!(b.base_url, "https://api.groq.com/openai/v1");
    assert_eq!(b.credential, FileCredential::KeyEnv("GROQ_API_KEY".into()));
    assert_eq!(b.models, vec!["llama-*"]);
    assert_eq!(b.deployments[0].alias, "east");
    assert_eq!(
        b.deployments[0].credential,
        Some(FileCredential::Key(Secret::new("k-east")))
    );
    let c = b.to_config(BackendSource::BuiltIn, &|k| {
        (k == "GROQ_API_KEY").then(|| "v".to_string())
    });
    assert_eq!(c.credential.secret().unwrap().expose(), "v");
}

#[test]
fn reads_node_dario_format() {
    let text = r#"{"provider":"openai","name":"groq","apiKey":"gsk_canary","baseUrl":"https://api.groq.com/openai/v1/","createdAt":1}"#;
    let b = parse_backend_json(&p(), "groq", text).unwrap();
    assert_eq!(b.protocol, Protocol::OpenAi);
    assert_eq!(b.base_url, "https://api.groq.com/openai/v1");
    assert_eq!(b.credential, FileCredential::Key(Secret::new("gsk_canary")));
    let a = parse_backend_json(
        &p(),
        "corp",
        r#"{"provider":"anthropic","name":"corp","apiKey":"","baseUrl":"http://127.0.0.1:9/v1"}"#,
    )
    .unwrap();
    assert_eq!(a.protocol, Protocol::Anthropic);
    assert_eq!(a.base_url, "http://127.0.0.1:9");
    assert_eq!(a.credential, FileCredential::None);
}

#[test]
fn errors_name_file_line_and_problem() {
    let e = parse_backend_json(
        &p(),
        "groq",
        "{\n  \"name\": \"groq\",\n  \"bas_url\": 1\n}",
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("/x/backends/groq.json:3:"), "{e}");
    assert!(e.contains("unknown field `bas_url` — valid fields:"), "{e}");
    let e = parse_backend_json(&p(), "groq", "{\n  \"name\": \"groq\",\n  oops\n}")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/x/backends/groq.json:3:3:"), "{e}");
    let e = parse_backend_json(&p(), "groq", r#"{"name":"other","base_url":"http://h/v1"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`other`"), "{e}");
    let e = parse_backend_json(
        &p(),
        "x",
        r#"{"base_url":"http://h/v1","key":"a","key_env":"B"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("at most one"), "{e}");
    let e = parse_backend_json(&p(), "x", r#"{"protocol":"openai"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no `base_url`"), "{e}");
    assert!(parse_backend_json(&p(), "x", "[]").is_err());
}

#[test]
fn misplaced_keys_are_not_echoed() {
    let e = parse_backend_json(
        &p(),
        "x",
        r#"{"base_url":"http://h/v1","passthrough":"sk-ant-canary-123"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(!e.contains("canary"), "{e}");
    let e = parse_backend_json(
        &p(),
        "x",
        r#"{"base_url":"http://h/v1","key_env":"sk-ant-canary"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(!e.contains("canary"), "{e}");
    let e = parse_backend_json(
        &p(),
        "x",
        r#"{"base_url":"http://h/v1","protocol":"sk-ant-canary"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(!e.contains("canary"), "{e}");
}

#[test]
fn write_read_remove_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path().join("home"));
    let mut b = BackendFile::new(
        "groq",
        Protocol::OpenAi,
        "https://api.groq.com/openai/v1/",
        FileCredential::Key(Secret::new("gsk_canary")),
    )
    .unwrap();
    b.models.push("llama-*".into());
    b.upsert_deployment(DeploymentFile {
        alias: "east".into(),
        base_url: Some("https://e.example/v1".into()),
        credential: Some(FileCredential::KeyEnv("EAST".into())),
    })
    .unwrap();
    let path = write_backend(&home, &b).unwrap();
    #[cfg(unix)]
    {
        assert_eq!(mode_of(&path), Some(0o600));
        assert_eq!(mode_of(home.dir()), Some(0o700));
        assert_eq!(mode_of(&home.backends_dir()), Some(0o700));
    }
    let back = read_backend_file(&home, "groq").unwrap().unwrap();
    assert_eq!(back, b);
    // Replacing a deployment keeps one entry.
    b.upsert_deployment(DeploymentFile {
        alias: "east".into(),
        base_url: None,
        credential: None,
    })
    .unwrap();
    assert_eq!(b.deployments.len(), 1);
    // No temp files are left behind.
    let names: Vec<_> = std::fs::read_dir(home.backends_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("groq.json")]);
    remove_backend(&home, "groq").unwrap();
    assert!(read_backend_file(&home, "groq").unwrap().is_none());
    let e = remove_backend(&home, "groq").unwrap_err();
    assert!(matches!(e, ConfigError::BackendNotFound { .. }));
    assert!(remove_backend(&home, "../etc").is_err());
}

#[test]
fn debug_never_shows_keys() {
    let b = BackendFile::new(
        "x",
        Protocol::OpenAi,
        "http://h/v1",
        FileCredential::Key(Secret::new("sk-canary")),
    )
    .unwrap();
    assert!(!format!("{b:?}").contains("canary"));
}
